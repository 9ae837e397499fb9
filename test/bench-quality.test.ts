/**
 * `synthgrad bench quality` end to end on a tiny model and small files written here: the JSON
 * has every row of the protocol, the judge, the on-label rate and the method it ran; a bad
 * --method is a usage error before anything loads. (The real protocol, on ../shared data, is a
 * benchmark, not a test.)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { qualityBars } from '@synthgrad/eval';
import { afterAll, describe, expect, it } from 'vitest';
import { tinyConfig, tinyWeights, writeTinyLlamaGGUF } from './helpers/tiny-llama.js';

const bin = fileURLToPath(new URL('../packages/cli/bin/synthgrad.js', import.meta.url));
const built = existsSync(fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url)));
const dir = mkdtempSync(join(tmpdir(), 'synthgrad-quality-'));
const model = join(dir, 'tiny.gguf');
writeTinyLlamaGGUF(model, tinyConfig(), tinyWeights(tinyConfig(), 9));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const POS = ['the great film', 'a great cast', 'great fun', 'great acting', 'a great end', 'so great', 'great plot', 'the cast was great'];
const NEG = ['a bad plot', 'bad acting', 'the end was bad', 'so bad', 'bad fun', 'a bad film', 'the cast was bad', 'bad bad'];
const write = (name: string, pos: string[], neg: string[]) => {
  const path = join(dir, name);
  writeFileSync(path, [...pos.map((text) => ({ text, label: 1 })), ...neg.map((text) => ({ text, label: 0 }))].map((r) => JSON.stringify(r)).join('\n') + '\n');
  return path;
};
const train = write('train.jsonl', POS, NEG);
const test = write('test.jsonl', POS.slice(0, 4), NEG.slice(0, 4));
const run = (args: string[]) => spawnSync(process.execPath, [bin, 'bench', 'quality', '--model', model, '--task-data', train, '--test', test, ...args], { encoding: 'utf8', timeout: 600_000 });

describe.runIf(built)('synthgrad bench quality', () => {
  it('prints the protocol as JSON: every row, the judge, on-label rate, perplexities, seconds per example', () => {
    // prompted-few is left out: its few-shot prompt does not fit the tiny model's 64-token context;
    // the target filter too (a random tiny model's classifier may reject a whole class), and k = 3
    // (when k covers all of its few allowed tokens the projection is the LM's argmax: identical texts).
    const r = run(['--real', '6', '--synthetic', '4', '--seeds', '1', '--rows', 'zero-shot,real-random-4,real-6', '--top-k', '3', '--method', '{"targetFilter":false,"classifierWeight":1}']);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.rows.map((x: { name: string }) => x.name).sort()).toEqual(['gradmm-4', 'real-6', 'real-random-4', 'zero-shot']);
    for (const row of out.rows) {
      expect(row.accuracy_mean).toBeGreaterThanOrEqual(0);
      expect(row.accuracy_mean).toBeLessThanOrEqual(1);
    }
    expect(out.rows.find((x: { name: string }) => x.name === 'real-6').texts).toBe(6);
    expect(out.judge.trained_on).toBe(16);
    expect(out.on_label.kept).toBe(out.rows.find((x: { name: string }) => x.name === 'gradmm-4').texts);
    expect(out.on_label.rate).toBeGreaterThanOrEqual(0);
    expect(out.method).toMatchObject({ labelContext: true, classifierWeight: 1, targetFilter: 'off' });
    expect(out.seconds_per_synthetic_example).toBeGreaterThan(0);
    expect(out.target_classifier.weightSums).toHaveLength(2);
    // prompted-few was not asked for, so only the real-random bar, from those two rows.
    const acc = (name: string) => out.rows.find((x: { name: string }) => x.name === name).accuracy_mean;
    expect(out.bars).toHaveLength(1);
    expect(out.bars[0]).toMatchObject({ baseline: 'real-random-4', margin: 0, standard_error: 0, met: acc('gradmm-4') >= acc('real-random-4') });
    expect(out.bars[0].difference).toBeCloseTo(acc('gradmm-4') - acc('real-random-4'), 12);
  });

  it('--synthetic-out saves the generation and --synthetic-in evaluates it again to the same numbers', () => {
    const saved = join(dir, 'gen.json');
    const args = ['--real', '6', '--synthetic', '4', '--seeds', '1', '--rows', 'none', '--top-k', '3'];
    const a = run([...args, '--method', '{"matchingSpace":"centred"}', '--synthetic-out', saved]);
    expect(a.status, a.stderr).toBe(0);
    const gen = JSON.parse(readFileSync(saved, 'utf8'));
    expect(gen.method).toMatchObject({ matchingSpace: 'centred' });
    expect(gen.examples.length).toBeGreaterThanOrEqual(4);
    const b = run([...args, '--synthetic-in', saved]);
    expect(b.status, b.stderr).toBe(0);
    const [ra, rb] = [a, b].map((r) => JSON.parse(r.stdout));
    expect(rb.rows).toEqual(ra.rows.map((row: { minutes: number }) => ({ ...row, minutes: expect.any(Number) })));
    expect(rb.on_label).toEqual(ra.on_label);
    expect(rb.method).toEqual(ra.method);
    expect(rb.seconds_per_synthetic_example).toBe(ra.seconds_per_synthetic_example);
    // Both at once, or a file that is not a generation, are usage errors.
    expect(run([...args, '--synthetic-in', saved, '--method', '{}']).stderr).toMatch(/--method, --settings and --overgenerate do not apply/);
    expect(run([...args, '--synthetic-in', saved, '--overgenerate', '2']).stderr).toMatch(/--overgenerate do not apply/);
    expect(run([...args, '--overgenerate', '0.5']).stderr).toMatch(/--overgenerate must be a number from 1 to 20/);
    expect(run([...args, '--synthetic-in', saved, '--seed', '2']).stderr).toMatch(/--seed does not apply/);
    expect(run([...args, '--method', '{"targetFilter":"loose"}']).stderr).toMatch(/--method: targetFilter must be one of off, surplus, strict, got "loose"/);
    expect(run([...args, '--method', '{"targetFilterMargin":-0.5}']).stderr).toMatch(/--method: targetFilterMargin must be a number >= 0, got -0.5/);
    expect(run([...args, '--synthetic-in', train]).status).toBe(2);
    expect(run([...args, '--checkpoint', 'last']).stderr).toMatch(/--checkpoint must be accuracy or accuracy-loss/);
  });

  it('says how many seeds kept the untrained student, and how much of the kept set it already labels right', () => {
    // A saved "generation" whose texts are the test texts themselves: all 8 are kept (4 a class),
    // so the untrained student's agreement with the kept labels is the zero-shot row's accuracy.
    const testRows = readFileSync(test, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { text: string; label: number });
    const saved = join(dir, 'test-as-generation.json');
    const examples = testRows.map((r, i) => ({ text: r.text, label: r.label, labelIndex: r.label, ids: [], matching_loss: i / 10, perplexity: 1, batch: 0 }));
    writeFileSync(saved, JSON.stringify({ method: { targetFilter: 'off' }, seed: 0, settings: {}, examples, total_s: 1, target_classifier: null }));
    const r = run(['--real', '6', '--synthetic', '8', '--seeds', '2', '--rows', 'zero-shot', '--synthetic-in', saved]);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.on_label.kept).toBe(8);
    expect(out.on_label.untrained_agrees).toBeCloseTo(out.rows.find((x: { name: string }) => x.name === 'zero-shot').accuracy_mean, 12);
    for (const row of out.rows) {
      expect(Number.isInteger(row.untrained_kept)).toBe(true);
      expect(row.untrained_kept).toBeGreaterThanOrEqual(0);
      expect(row.untrained_kept).toBeLessThanOrEqual(row.name === 'zero-shot' ? 0 : 2);
    }
  });

  it('counts the degenerate texts it generated and kept, and drops them when the generation says so', () => {
    // Four texts a class, two kept a class (the best by matching loss): class 0's best is a
    // letter mash, class 1's worst a loop that selection leaves out anyway.
    const texts = [
      [' httpsurlhttpsurlhttpsurlhttpsurlhttps', ' a slow and dull film', ' a tired story', ' a flat comedy'],
      [' a warm and funny film', ' a moving picture', ' a bright debut', ' very very very very very very very very'],
    ];
    const examples = texts.flatMap((ts, c) =>
      ts.map((text, i) => ({ text, label: c, labelIndex: c, ids: text.trim().split(' ').map((w) => (w === 'very' ? 7 : w.length)), matching_loss: i, perplexity: 1, batch: 0 })),
    );
    const degenerate = (method: object) => {
      const saved = join(dir, 'degenerate-generation.json');
      writeFileSync(saved, JSON.stringify({ method, seed: 0, settings: {}, examples, total_s: 1, target_classifier: null }));
      const r = run(['--real', '6', '--synthetic', '4', '--seeds', '1', '--rows', 'none', '--synthetic-in', saved]);
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout);
    };
    // A generation from before the setting: selected without the drop, as it was.
    expect(degenerate({ targetFilter: 'off' }).degenerate).toEqual({ kept: 1, generated: 2 });
    const on = degenerate({ targetFilter: 'off', dropDegenerate: true });
    expect(on.degenerate).toEqual({ kept: 0, generated: 2 });
    expect(on.selection).toMatchObject({ input: 8, passedDegenerateCheck: 6, kept: 4 });
    expect(run(['--method', '{"dropDegenerate":"yes"}']).stderr).toMatch(/--method: dropDegenerate must be true or false, got "yes"/);
  });

  it('--overgenerate generates that multiple of the kept count and keeps the kept count', () => {
    const r = run(['--real', '6', '--synthetic', '4', '--seeds', '1', '--rows', 'none', '--top-k', '3', '--overgenerate', '2']);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    // 2 kept a class, 2x: one batch of 4 a class.
    expect(out.on_label.generated).toBe(8);
    expect(out.overgenerate).toBe(2);
    expect(out.rows.find((x: { name: string }) => x.name === 'gradmm-4').texts).toBe(4);
    expect(out.seconds_per_kept_example).toBeCloseTo(out.seconds_per_synthetic_example * 2, 6);
    // A preset with its own overgeneration (cpu-select: 6x, no X-steps, the surplus filter).
    const sel = run(['--real', '6', '--synthetic', '4', '--seeds', '1', '--rows', 'none', '--top-k', '3', '--preset', 'cpu-select']);
    expect(sel.status, sel.stderr).toBe(0);
    const o2 = JSON.parse(sel.stdout);
    expect(o2.on_label.generated).toBe(24); // 2 x 6 = 12 a class
    expect(o2.method).toMatchObject({ targetFilter: 'surplus', discriminant: 'head' });
    expect(o2.rows.find((x: { name: string }) => x.name === 'gradmm-4').texts).toBe(4);
  });

  it('--method with an unknown key is a usage error', () => {
    const r = run(['--method', '{"clasifierWeight":0}']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown key "clasifierWeight"/);
  });
});

describe('quality bars', () => {
  const row = (name: string, per_seed: number[]) => {
    const mean = per_seed.reduce((a, b) => a + b, 0) / per_seed.length;
    const sd = Math.sqrt(per_seed.reduce((a, b) => a + (b - mean) ** 2, 0) / (per_seed.length - 1));
    return { name, accuracy_mean: mean, accuracy_std: sd, per_seed };
  };
  it('are gradmm minus each baseline (prompted-few plus 5 points), with the Welch standard error of the difference', () => {
    const rows = [row('gradmm-100', [0.75, 0.73, 0.77]), row('real-random-100', [0.8, 0.76, 0.78]), row('prompted-few-100', [0.68, 0.69, 0.7]), row('real-50', [0.7, 0.7, 0.7])];
    const [rr, pf] = qualityBars(rows, 100);
    // Each row's seed variance is 0.02^2 or 0.01^2, over 3 seeds.
    expect(rr).toMatchObject({ baseline: 'real-random-100', margin: 0, met: false });
    expect(rr!.difference).toBeCloseTo(-0.03, 12);
    expect(rr!.standard_error).toBeCloseTo(Math.sqrt(0.0004 / 3 + 0.0004 / 3), 12);
    expect(pf).toMatchObject({ baseline: 'prompted-few-100', margin: 0.05, met: true });
    expect(pf!.difference).toBeCloseTo(0.01, 12);
    expect(pf!.standard_error).toBeCloseTo(Math.sqrt(0.0004 / 3 + 0.0001 / 3), 12);
  });
  it('are empty without a gradmm row and leave out a baseline that was not run', () => {
    expect(qualityBars([row('real-random-100', [0.8, 0.7])], 100)).toEqual([]);
    expect(qualityBars([row('gradmm-4', [0.8, 0.7]), row('real-random-4', [0.7, 0.6])], 4).map((b) => b.baseline)).toEqual(['real-random-4']);
  });
});
