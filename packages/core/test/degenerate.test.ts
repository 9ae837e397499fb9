// Degenerate synthetic text (gradmm/degenerate.ts): the two counts against plain loops over the
// same input, the verdicts on texts the product actually wrote (thirty-seventh stop's URL mash,
// bbc5's loops) and on real reviews, and the fill-in demonstrations that never draw one.
import { describe, expect, it } from 'vitest';
import { bootstrapDemonstrations, degeneracy, DEFAULT_DEGENERACY_LIMITS, longestLetterRun, Rng, topTokenShare, type SyntheticExample } from '@synthgrad/core';

/** Word-level ids: enough for the token-share test, whose verdict depends only on which ids repeat. */
function wordIds(text: string): number[] {
  const vocab = new Map<string, number>();
  return text
    .trim()
    .split(/\s+/)
    .filter((w) => w.length > 0)
    .map((w) => vocab.get(w) ?? (vocab.set(w, vocab.size), vocab.size - 1));
}

const verdict = (text: string) => degeneracy(text, wordIds(text));

describe('degenerate text', () => {
  it('counts the top token share and the longest letter run as plain loops do', () => {
    const rng = new Rng(5);
    for (let t = 0; t < 200; t++) {
      const ids = Array.from({ length: rng.int(30) }, () => rng.int(1 + rng.int(6)));
      let top = 0;
      for (const id of ids) top = Math.max(top, ids.filter((x) => x === id).length);
      expect(topTokenShare(ids)).toBe(ids.length === 0 ? 0 : top / ids.length);
      const text = Array.from({ length: rng.int(40) }, () => 'ab Z9.-é '[rng.int(9)]).join('');
      let best = 0;
      let run = 0;
      for (const ch of text) {
        run = /[A-Za-z]/.test(ch) ? run + 1 : 0;
        best = Math.max(best, run);
      }
      expect(longestLetterRun(text)).toBe(best);
    }
  });

  it('flags the loops and mashes the product wrote, and passes real reviews', () => {
    // Written by the product (docs/EXPERIMENTS.md, thirty-seventh and thirty-eighth stops).
    expect(verdict(' https https https https https https https https https https https https')).toBe('repeated-token');
    expect(verdict(' https https https https https https https https https https https The amazing thing')).toBe('repeated-token');
    expect(verdict(' A very very very very very very very very very very very very very very unique way to make use')).toBe('repeated-token');
    expect(verdict(' httpsinarsolutionsharnpitchhereweatherchangeforsworlddominate')).toBe('letter-run');
    expect(verdict(' a wonderful blend of imagination and care httpsPUBGULLAUZADMAYIGHLIGHTS')).toBe('letter-run');
    // Real rtpolarity-style reviews and a short text that repeats by chance.
    for (const real of [
      'a gripping , beautifully acted film that stays with you .',
      "the film is , at its best , a very very funny look at the way we live now , and it 's worth the price of admission .",
      'so so',
      'an uncompromising , internationalization-proof comedy of manners .',
    ])
      expect(verdict(real)).toBeNull();
    // Scripts written without spaces are not Latin letters: a long Japanese line is not a mash.
    expect(degeneracy('これはとても面白い映画でした。もう一度見たいと思います。', [1, 2, 3, 4, 5, 6, 7, 8, 9])).toBeNull();
  });

  it('judges by its limits and refuses limits that cannot be meant', () => {
    const loop = 'good good good good good film and story here';
    expect(degeneracy(loop, wordIds(loop))).toBe('repeated-token'); // 5 of 9 = 56%
    expect(degeneracy(loop, wordIds(loop), { ...DEFAULT_DEGENERACY_LIMITS, maxTokenShare: 0.6 })).toBeNull();
    expect(degeneracy(loop, wordIds(loop), { ...DEFAULT_DEGENERACY_LIMITS, minTokensForShare: 10 })).toBeNull();
    expect(degeneracy('abcdefghij', [1], { ...DEFAULT_DEGENERACY_LIMITS, maxLetterRun: 9 })).toBe('letter-run');
    expect(() => degeneracy('x', [1], { ...DEFAULT_DEGENERACY_LIMITS, maxTokenShare: 0 })).toThrow(/maxTokenShare/);
    expect(() => degeneracy('x', [1], { ...DEFAULT_DEGENERACY_LIMITS, minTokensForShare: 1.5 })).toThrow(/minTokensForShare/);
    expect(() => degeneracy('x', [1], { ...DEFAULT_DEGENERACY_LIMITS, maxLetterRun: Number.NaN })).toThrow(/maxLetterRun/);
  });

  it('never fills a degenerate earlier text into the demonstrations, however well it matched', () => {
    const texts = [' https https https https https https https https https', ' a warm and funny film about two brothers', ' httpsurlhttpsurlhttpsurlhttpsurlhttps', ' the story is slight , but the acting is fine', ' a clever , moving picture'];
    const earlier = texts.map((text, i) => ({ text, ids: wordIds(text), matching_loss: i === 0 || i === 2 ? 0.01 : 0.5 + i, labelIndex: 0, target_label: 0 }) as SyntheticExample);
    for (let s = 0; s < 20; s++) {
      const drawn = bootstrapDemonstrations(earlier, 2, new Rng(s));
      expect(drawn).toHaveLength(2);
      for (const d of drawn) expect(verdict(d)).toBeNull();
    }
    // Only degenerate texts earlier: nothing to fill with.
    expect(bootstrapDemonstrations([earlier[0], earlier[2]], 2, new Rng(1))).toEqual([]);
  });
});
