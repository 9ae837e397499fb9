/** The synthetic-set privacy audit: nearest real text by n-grams and by embedding, copies, near-duplicates, canary exposure. */
import { describe, expect, it } from 'vitest';
import { auditSynthetic, canaryExposure, longestCommonRun, words } from '@synthgrad/core';

const REAL = [
  'the film is a charming and often affecting journey',
  'a gorgeous , witty , seductive movie',
  'the plot is thin and the acting is worse',
  'an utterly predictable and boring mess from start to finish',
];

describe('audit of a synthetic set', () => {
  it('finds the nearest real text, its shared run, exact copies and near-duplicates', () => {
    const syn = [
      'The film is a charming and often affecting journey', // exact copy up to case
      'i thought the plot is thin and the acting is worse than ever', // 9-word run
      'great cast , fine story',
      'utterly predictable and boring',
    ];
    const r = auditSynthetic(syn, REAL, { n: 3, nearDuplicateRun: 8 });
    expect(r.items.map((i) => i.real)).toEqual([0, 2, -1, 3]);
    expect(r.items[0]).toMatchObject({ exact: true, longestRun: 9, overlap: 1 });
    expect(r.items[1].longestRun).toBe(9);
    expect(r.items[2]).toMatchObject({ real: -1, overlap: 0, longestRun: 0, exact: false });
    expect(r.items[3].longestRun).toBe(4);
    expect(r).toMatchObject({ synthetic: 4, real: 4, exactCopies: 1, nearDuplicates: 2, longestRun: 9 });
  });

  it('adds the nearest real text by embedding cosine when given an embedding', () => {
    // A toy embedding: counts of a few words.
    const vocab = ['film', 'plot', 'boring', 'witty'];
    const embed = (ts: string[]) => ts.map((t) => Float32Array.from(vocab, (v) => words(t).filter((w) => w === v).length + 0.01));
    const r = auditSynthetic(['so boring', 'witty witty'], REAL, { embed });
    expect(r.items.map((i) => i.nearestByEmbedding!.real)).toEqual([3, 1]);
    expect(r.maxCosine).toBeGreaterThan(0.99);
  });

  it('longest common run is the classic dynamic programme', () => {
    expect(longestCommonRun(words('a b c d e'), words('x b c d y'))).toBe(3);
    expect(longestCommonRun([], words('a'))).toBe(0);
    expect(() => auditSynthetic(['x'], [])).toThrow(/no real texts/);
  });

  it('canary exposure: log2(N) when the canary is the most present, about 1.4 bits at chance', () => {
    const candidates = Array.from({ length: 255 }, (_, i) => `code ${i}`);
    expect(canaryExposure((p) => (p === 'secret' ? 1 : 0), 'secret', candidates).exposure).toBeCloseTo(8, 6);
    expect(canaryExposure(() => 0, 'secret', candidates).exposure).toBeCloseTo(1, 1);
  });
});
