/** Reading labelled data (JSONL and CSV, on real files) and splitting it among simulated owners. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readExamples, SENTIMENT_TASK, splitIntoShards } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'synthgrad-data-'));
const file = (name: string, content: string) => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};

describe('readExamples', () => {
  it('reads CSV with a header, quoted commas, quotes and line breaks, and a BOM', () => {
    const p = file('a.csv', '\uFEFFlabel,text\r\n1,"great, truly ""great"""\r\n0,"bad\nand long"\r\n\r\n1,fine\r\n');
    const ex = readExamples(p, SENTIMENT_TASK);
    expect(ex.map((e) => [e.text, e.label])).toEqual([
      ['great, truly "great"', 1],
      ['bad\nand long', 0],
      ['fine', 1],
    ]);
  });

  it('reads the same rows from JSONL and CSV', () => {
    const rows: [string, number][] = [['a fine film', 1], ['a dull one', 0]];
    const j = readExamples(file('b.jsonl', rows.map(([text, label]) => JSON.stringify({ text, label })).join('\n')), SENTIMENT_TASK);
    const c = readExamples(file('b.csv', 'text,label\n' + rows.map(([t, l]) => `${t},${l}`).join('\n')), SENTIMENT_TASK);
    expect(c.map((e) => [e.text, e.label])).toEqual(j.map((e) => [e.text, e.label]));
  });

  it('names the file and line of bad CSV rows', () => {
    expect(() => readExamples(file('c.csv', 'text,label\nok,1\nwhat,7\n'), SENTIMENT_TASK)).toThrow(/c\.csv:3: unknown label "7"/);
    expect(() => readExamples(file('d.csv', 'body,label\nok,1\n'), SENTIMENT_TASK)).toThrow(/d\.csv:2: missing string field "text"/);
    expect(() => readExamples(file('e.csv', 'text,label\n"unclosed,1\n'), SENTIMENT_TASK)).toThrow(/e\.csv:\d+: malformed CSV/);
    expect(() => readExamples(file('f.csv', 'text,label\na,1,extra\n'), SENTIMENT_TASK)).toThrow(/f\.csv:\d+: malformed CSV/);
  });
});

describe('splitIntoShards', () => {
  const examples = Array.from({ length: 40 }, (_, i) => ({ text: `t${i}`, label: i % 2, line: i + 1, source: 'x' }));

  it('gives every owner the same number of each class, with no example in two shards', () => {
    const shards = splitIntoShards(examples, SENTIMENT_TASK, ['a', 'b', 'c'], 5, 1);
    const all = shards.flatMap((s) => s.rows.map((r) => r.text));
    expect(new Set(all).size).toBe(30);
    for (const s of shards) {
      expect(s.rows.filter((r) => r.label === 0)).toHaveLength(5);
      expect(s.rows.filter((r) => r.label === 1)).toHaveLength(5);
    }
    expect(splitIntoShards(examples, SENTIMENT_TASK, ['a', 'b', 'c'], 5, 1)).toEqual(shards); // seeded
  });

  it('defaults to equal shares and refuses impossible splits', () => {
    expect(splitIntoShards(examples, SENTIMENT_TASK, ['a', 'b', 'c'])[0]!.rows).toHaveLength(12);
    expect(() => splitIntoShards(examples, SENTIMENT_TASK, ['a', 'b', 'c'], 7)).toThrow(/has 20 examples: not enough for 3 shards of 7/);
    expect(() => splitIntoShards(examples, SENTIMENT_TASK, ['a', 'a'])).toThrow(/must differ/);
  });
});
