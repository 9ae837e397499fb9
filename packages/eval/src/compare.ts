/**
 * The comparison table for one task: zero-shot and few-shot prompting of the unmodified LM, and
 * fine-tuning on real data (all of it, a random subset of N), on LLM-prompted synthetic text
 * (zero- and few-shot, N) and on GRADMM text (N; and with DP when given), each over several seeds,
 * with checkpoints chosen on a dev split and accuracy measured once on the held-out test set.
 */
import { perplexities, SynthgradError, type Example, type LoadedModel, type SetDiagnostics, type Task } from '@synthgrad/core';
import { generatePromptedSet } from './baselines/prompted.js';
import { fewShotPrefix, promptAccuracy } from './classify/label-scores.js';
import { FeatureCache, headClassifier, makeClassifier, type FineTuneMode } from './finetune/classifier.js';
import { accuracy, fineTune, type CheckpointRule, type FineTuneResult } from './finetune/trainer.js';
import { balancedSubset, carveDev } from './data/splits.js';

export interface TrainingSettings {
  mode: FineTuneMode;
  steps: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  rank: number;
  evalEvery?: number;
  /** Examples per forward/backward (gradients accumulated to the batch); bounds memory for lora/full. */
  microBatch?: number;
  /** Share of each training set carved off as dev when no dev file is given. */
  devFraction: number;
  /** Which dev checkpoint is restored (trainer.ts; default 'accuracy'). */
  checkpoint?: CheckpointRule;
}

export interface CompareOptions {
  task: Task;
  taskData: Example[];
  test: Example[];
  dev?: Example[];
  n: number;
  seeds: number;
  k: number;
  training: TrainingSettings;
  /** Synthetic sets made beforehand (GRADMM, GRADMM with DP), with the minutes they took. */
  synthetic: SyntheticSet[];
  /** What the texts are, for the prompted baseline ("movie review"). */
  domain: string;
  /** Which rows to run (default all). */
  rows?: string[];
  log?: (msg: string) => void;
  progress?: (row: string, done: number, total: number, what: string) => void;
}

/** A synthetic training set made beforehand, with what making it cost and how good it looked. */
export interface SyntheticSet {
  name: string;
  examples: Example[];
  /** Minutes spent generating it (0 when given as a file without a sidecar). */
  minutes: number;
  /** generate's diagnostics (label check, loss against real, privacy), when known. */
  diagnostics?: SetDiagnostics;
}

export interface Stat {
  mean: number;
  std: number;
  perSeed: number[];
}

export interface RowResult {
  name: string;
  kind: 'prompt' | 'finetune';
  trainSize: number;
  accuracy: Stat;
  /** Mean perplexity of (up to 200 of) the training texts under the model; null for prompt rows. */
  trainPerplexity: number | null;
  /** Total minutes of the row: generating its texts (if any) plus training and scoring. */
  minutes: number;
  /** The part of `minutes` spent generating the training texts (GRADMM, prompted rows); 0 otherwise. */
  generationMinutes: number;
  runs: (Pick<FineTuneResult, 'loss' | 'dev' | 'bestStep' | 'bestDevAccuracy' | 'testAccuracy' | 'examplesPerSecond'> & { seed: number; devSize: number })[];
  examples: { label: string; text: string }[];
  /** For synthetic rows: the generator's own diagnostics. */
  diagnostics?: SetDiagnostics;
}

/** Whether a row is among those asked for: `rows` names rows or their prefixes ("real-random" selects "real-random-100"). */
export const rowSelected = (rows: string[] | undefined, name: string): boolean => !rows || rows.some((r) => name === r || name.startsWith(`${r}-`));

export const stat = (xs: number[]): Stat => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, std, perSeed: xs };
};

/** A few texts of each class, for the report. */
function samples(task: Task, xs: Example[], perClass = 4): RowResult['examples'] {
  return task.labels.flatMap((l, c) => xs.filter((e) => e.label === c).slice(0, perClass).map((e) => ({ label: l.name, text: e.text })));
}

function meanPerplexity(rt: LoadedModel, xs: Example[]): number {
  const ids = xs.slice(0, 200).map((e) => rt.tokenizer.encode(e.text)).filter((s) => s.length > 1);
  const p = perplexities(rt.model, ids).filter(Number.isFinite);
  return p.reduce((a, b) => a + b, 0) / p.length;
}

export function runCompare(rt: LoadedModel, o: CompareOptions): { rows: RowResult[]; warnings: string[] } {
  const log = o.log ?? (() => {});
  const progress = o.progress ?? (() => {});
  const want = (name: string) => rowSelected(o.rows, name);
  const { task } = o;
  const rows: RowResult[] = [];
  const warnings: string[] = [];
  const seeds = Array.from({ length: o.seeds }, (_, i) => i);
  const cache = new FeatureCache(rt, task);
  const t = o.training;
  if (t.mode === 'full' && rt.model.trainableWeights().length === 0) throw new SynthgradError('full mode needs the model loaded with { trainable: true }');


  const finetuneRow = (name: string, data: Example[] | ((seed: number) => Example[]), extraMinutes = 0, diagnostics?: SetDiagnostics): void => {
    if (!want(name)) return;
    const t0 = performance.now();
    const runs: RowResult['runs'] = [];
    let first: Example[] = [];
    for (const seed of seeds) {
      const all = typeof data === 'function' ? data(seed) : data;
      if (seed === 0) first = all;
      const { train, dev } = o.dev ? { train: all, dev: o.dev } : carveDev(all, t.devFraction, seed);
      const clf = makeClassifier(rt, task, t.mode, { cache, rank: t.rank, seed });
      try {
        const r = fineTune(clf, train, dev, o.test, task.labels.length, {
          steps: t.steps,
          batchSize: t.batchSize,
          lr: t.lr,
          weightDecay: t.weightDecay,
          seed,
          evalEvery: t.evalEvery,
          microBatch: t.microBatch,
          checkpoint: t.checkpoint,
          onPrepare: (d, n) => progress(name, d, n, `seed ${seed}: features`),
          onStep: (p) => progress(name, p.step, p.steps, `seed ${seed}: step ${p.step}/${p.steps} loss ${p.loss.toFixed(3)}${p.devAccuracy !== undefined ? ` dev ${(p.devAccuracy * 100).toFixed(1)}%` : ''}`),
        });
        runs.push({ seed, devSize: dev.length, loss: r.loss, dev: r.dev, bestStep: r.bestStep, bestDevAccuracy: r.bestDevAccuracy, testAccuracy: r.testAccuracy, examplesPerSecond: r.examplesPerSecond });
        log(`${name} seed ${seed}: test ${(r.testAccuracy * 100).toFixed(1)}% (best dev ${(r.bestDevAccuracy * 100).toFixed(1)}% at step ${r.bestStep})`);
      } finally {
        clf.dispose();
      }
    }
    const trainPerplexity = meanPerplexity(rt, first);
    rows.push({
      name,
      kind: 'finetune',
      trainSize: first.length,
      accuracy: stat(runs.map((r) => r.testAccuracy)),
      trainPerplexity,
      minutes: extraMinutes + (performance.now() - t0) / 60_000,
      generationMinutes: extraMinutes,
      runs,
      examples: samples(task, first),
      ...(diagnostics ? { diagnostics } : {}),
    });
  };

  // Prompting the unmodified model. Zero-shot is the head classifier before any step (the same
  // argmax over the label tokens), so it fills the feature cache the fine-tuned rows reuse.
  if (want('zero-shot')) {
    const t0 = performance.now();
    const clf = headClassifier(rt, task, cache);
    let acc: number;
    try {
      clf.prepare(o.test, (d, n) => progress('zero-shot', d, n, 'test'));
      acc = accuracy(clf, o.test);
    } finally {
      clf.dispose();
    }
    log(`zero-shot: ${(acc * 100).toFixed(1)}%`);
    rows.push({ name: 'zero-shot', kind: 'prompt', trainSize: 0, accuracy: stat([acc]), trainPerplexity: null, minutes: (performance.now() - t0) / 60_000, generationMinutes: 0, runs: [], examples: [] });
  }
  if (want('few-shot')) {
    const t0 = performance.now();
    const accs: number[] = [];
    let demos: Example[] = [];
    for (const seed of seeds) {
      const prefix = fewShotPrefix(rt, task, o.taskData, o.k, seed);
      if (seed === 0) demos = prefix.demos;
      const longest = Math.max(...o.test.map((e) => rt.tokenizer.encode(e.text).length)) + rt.tokenizer.encode(`${task.sentenceEnd ?? ''}${task.suffix}`).length;
      if (prefix.ids.length + longest > rt.config.contextLength) {
        throw new SynthgradError(`the few-shot prompt (k=${o.k}) is ${prefix.ids.length} tokens; with the longest test text (${longest}) it exceeds the model's context of ${rt.config.contextLength}: use a smaller k (flag --k)`, 'E_USAGE');
      }
      const acc = promptAccuracy(rt, task, o.test, prefix.ids, (d, n) => progress('few-shot', d, n, `seed ${seed}`));
      log(`few-shot (k=${o.k}) seed ${seed}: ${(acc * 100).toFixed(1)}%`);
      accs.push(acc);
    }
    rows.push({ name: `few-shot`, kind: 'prompt', trainSize: o.k, accuracy: stat(accs), trainPerplexity: null, minutes: (performance.now() - t0) / 60_000, generationMinutes: 0, runs: [], examples: samples(task, demos) });
  }

  // Real data.
  finetuneRow('real-all', o.taskData);
  finetuneRow(`real-random-${o.n}`, (seed) => balancedSubset(o.taskData, o.n, seed));

  // LLM-prompted synthetic data (generated once; the seeds vary training).
  for (const k of [0, o.k]) {
    const name = `prompted-${k === 0 ? 'zero' : 'few'}-${o.n}`;
    if (!want(name)) continue;
    const t0 = performance.now();
    const texts = generatePromptedSet(rt, task, { n: o.n, k, pool: o.taskData, domain: o.domain, seed: 0, source: name, onProgress: (c, d, n) => progress(name, d, n, `generating class ${c}`) });
    finetuneRow(name, texts, (performance.now() - t0) / 60_000);
  }

  // GRADMM sets.
  for (const s of o.synthetic) finetuneRow(s.name, s.examples, s.minutes, s.diagnostics);
  if (rows.length === 0) warnings.push(`no row matched ${JSON.stringify(o.rows)}`);
  return { rows, warnings };
}
