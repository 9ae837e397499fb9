/**
 * `synthgrad eval` and `synthgrad compare` as a user runs them, on a tiny model and real files:
 * JSON and the HTML report come out, bad input gets a clear error (or a warning), and on the real
 * model the prompted baseline writes readable text and zero-shot scoring runs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend, loadModel, readExamples, SENTIMENT_TASK } from '@synthgrad/core';
import { generatePrompted, labelLogProbs } from '@synthgrad/eval';
import { HAVE_REAL_MODEL, REAL_MODEL_PATH } from './helpers/real-model.js';
import { tinyConfig, tinyWeights, writeTinyLlamaGGUF } from './helpers/tiny-llama.js';

const bin = fileURLToPath(new URL('../packages/cli/bin/synthgrad.js', import.meta.url));
const built = existsSync(fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url)));
const dir = mkdtempSync(join(tmpdir(), 'synthgrad-eval-cli-'));
const tiny = join(dir, 'tiny.gguf');
writeTinyLlamaGGUF(tiny, tinyConfig(), tinyWeights(tinyConfig(), 3));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (args: string[]) => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
const file = (name: string, rows: [string, number][]) => {
  const p = join(dir, name);
  writeFileSync(p, rows.map(([text, label]) => JSON.stringify({ text, label })).join('\n') + '\n');
  return p;
};
/** Eight short real-sounding movie reviews, four a class, for the real-model scoring test. */
const REVIEWS: [string, number][] = [
  ['a moving , beautifully acted film .', 1],
  ['one of the best movies of the year .', 1],
  ['funny , smart and full of heart .', 1],
  ['a joy to watch from start to finish .', 1],
  ['a dull , lifeless mess .', 0],
  ['the plot makes no sense and the jokes fall flat .', 0],
  ['boring and far too long .', 0],
  ['a waste of a talented cast .', 0],
];
const words = ['the', 'great', 'bad', 'at', 'in', 'a', 'he'];
const rows = (n: number, seed: number): [string, number][] =>
  Array.from({ length: n }, (_, i) => [`${words[(i * 3 + seed) % 7]} ${i % 2 ? 'great' : 'bad'} ${words[(i + seed) % 7]}`, i % 2]);

describe.runIf(built)('synthgrad eval / compare', () => {
  const train = file('train.jsonl', rows(40, 1));
  const test = file('test.jsonl', rows(20, 2));

  it('eval prints accuracy over seeds as JSON, the checkpoint chosen on a carved dev split', () => {
    const r = run(['eval', '--train', train, '--test', test, '--model', tiny, '--seeds', '2', '--steps', '12', '--eval-every', '4', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.runs).toHaveLength(2);
    expect(out.accuracy.perSeed).toHaveLength(2);
    for (const run of out.runs) {
      expect(run.dev_curve.map((d: { step: number }) => d.step)).toEqual([0, 4, 8, 12]);
      expect(run.best_dev_accuracy).toBe(Math.max(...run.dev_curve.map((d: { accuracy: number }) => d.accuracy)));
    }
    expect(out.sizes).toEqual({ train: 40, test: 20 });
  });

  it('compare writes the table as JSON and a self-contained HTML report', () => {
    const gradmm = file('gradmm.jsonl', rows(10, 3));
    const out = join(dir, 'cmp');
    const r = run(['compare', '--task-data', train, '--test', test, '--model', tiny, '--n', '10', '--k', '2', '--seeds', '2', '--steps', '6', '--rows', 'zero-shot,real-all,real-random,gradmm', '--gradmm', gradmm, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8'));
    expect(rep.rows.map((x: { name: string }) => x.name)).toEqual(['zero-shot', 'real-all', 'real-random-10', 'gradmm-10']);
    expect(rep.rows[2].trainSize).toBe(10);
    expect(rep.rows[1].runs).toHaveLength(2);
    expect(r.stderr).toMatch(/gradmm\.jsonl\.meta\.json not found/);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    for (const name of ['zero-shot', 'real-random-10', 'gradmm-10']) expect(html).toContain(name);
    expect(r.stdout).toMatch(/real-all\s+40/);
    // The tiny model's context (64) cannot hold the instruction and demonstrations: a clear error.
    const few = run(['compare', '--task-data', train, '--test', test, '--model', tiny, '--rows', 'few-shot', '--k', '2', '--out', out]);
    expect(few.code).toBe(2);
    expect(few.stderr).toMatch(/few-shot prompt \(k=2\) is \d+ tokens; .* exceeds the model's context of 64: use a smaller --k/);
  });

  it('refuses differing label sets and empty training files, warns about a one-class test file', () => {
    const onlyNeg = file('neg.jsonl', rows(10, 1).filter(([, l]) => l === 0));
    const differ = run(['eval', '--train', onlyNeg, '--test', test, '--model', tiny]);
    expect(differ.code).toBe(1);
    expect(differ.stderr).toMatch(/label sets differ: .*neg\.jsonl has \{0\}, .*test\.jsonl has \{0, 1\}/);
    const empty = join(dir, 'empty.jsonl');
    writeFileSync(empty, '\n');
    const e = run(['eval', '--train', empty, '--test', test, '--model', tiny]);
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/empty\.jsonl: no examples/);
    const one = run(['eval', '--train', train, '--test', onlyNeg, '--model', tiny, '--seeds', '1', '--steps', '2']);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stderr).toMatch(/warning: .*neg\.jsonl has one class only/);
    const badMode = run(['eval', '--train', train, '--test', test, '--mode', 'adapter']);
    expect(badMode.code).toBe(2);
    expect(badMode.stderr).toMatch(/--mode must be one of head, lora, full/);
  });
});

describe.runIf(HAVE_REAL_MODEL || process.env.CI)('prompted baseline and zero-shot scoring on SmolLM2-135M', () => {
  it('writes readable texts of the asked label and scores real reviews', async () => {
    await initBackend({ backend: 'wasm' });
    const rt = await loadModel(REAL_MODEL_PATH);
    try {
      const texts = generatePrompted(rt, SENTIMENT_TASK, { label: 1, n: 3, k: 0, pool: [], domain: 'movie review', seed: 0, batchSize: 3, maxTokens: 30 });
      expect(texts).toHaveLength(3);
      for (const t of texts) {
        expect(t.split(/\s+/).length).toBeGreaterThanOrEqual(3);
        expect(t).not.toMatch(/<\|im_(start|end)\|>/);
      }
      // Real reviews from the project itself (no ../shared): a few written here, so a fresh clone runs this.
      const val = readExamples(file('reviews.jsonl', REVIEWS), SENTIMENT_TASK);
      const scores = labelLogProbs(rt, SENTIMENT_TASK, val.map((e) => e.text));
      expect(scores).toHaveLength(8);
      for (const row of scores) for (const v of row) expect(v).toBeLessThan(0);
    } finally {
      rt.dispose();
    }
  });
});
