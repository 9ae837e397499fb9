/**
 * The fixed quality protocol behind `synthgrad bench quality` (issue 10): does GRADMM text teach
 * a classifier as well as the real text it came from?
 *
 *   - 50 real texts (balanced, seed 0) from the task data: the only private input; their class
 *     targets drive generation, and they are also a row of their own (real-50);
 *   - GRADMM generates a little more than 100 texts and selection keeps 100 (balanced);
 *   - rows: zero-shot, real-random-100, real-50, prompted-few-100, gradmm-100, each fine-tuned
 *     over `seeds` seeds (head mode by default) with a dev split carved from its own training set;
 *   - a judge, a head trained on all of the task data (its own test accuracy reported), says which
 *     synthetic texts are on-label;
 *   - perplexities of every training set and seconds per synthetic example.
 */
import {
  bestMatching,
  degeneracy,
  generate,
  overgenerated,
  sampleClasses,
  select,
  SynthgradError,
  type Example,
  type GenerateConfig,
  type GenerateResult,
  type LoadedModel,
  type PrivacyOptions,
  type PrivacyReport,
  type MethodSettings,
  type SyntheticExample,
  type Task,
  type TargetFilter,
  targetFilterOf,
  type Preset,
  resolvePreset,
  DEFAULT_PRESET,
} from '@synthgrad/core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeatureCache, headClassifier } from './finetune/classifier.js';
import { accuracy, fineTune, predict } from './finetune/trainer.js';
import { carveDev } from './data/splits.js';
import { MODE_DEFAULTS } from './defaults.js';
import { runCompare, type RowResult, type TrainingSettings } from './compare.js';

export interface QualityOptions {
  task: Task;
  taskData: Example[];
  test: Example[];
  /** Real texts behind the targets (default 50). */
  real?: number;
  /** Synthetic texts kept (default 100). */
  synthetic?: number;
  seeds?: number;
  /**
   * Seed of the generation (default 0). The real texts behind the targets are the protocol's
   * draw whatever it is, so several generation seeds measure the spread between generations.
   */
  generationSeed?: number;
  preset?: string;
  method?: Partial<MethodSettings>;
  /** Overrides of the preset's ADMM settings. */
  settings?: Partial<Preset['settings']>;
  /** Generated per class before selection, as a multiple of the kept count (default: the preset's, else 1.2). */
  overgenerate?: number;
  training: TrainingSettings;
  /** Baseline rows to run besides gradmm (default all: zero-shot, real-random, real-50, prompted-few). */
  rows?: string[];
  domain: string;
  k?: number;
  log?: (m: string) => void;
  /** A generation saved by an earlier run (onGenerated) to evaluate again instead of generating. */
  generated?: QualityGeneration;
  /** Called with the generation once it is made (to save it). */
  onGenerated?: (g: QualityGeneration) => void;
  /** Threads that run classes during generation (GenerateIO.workers). */
  workers?: number;
  /** What the targets release and their differential privacy (default: full targets, no noise). */
  privacy?: PrivacyOptions;
}

/**
 * The generation's target classifier (SynthesisResult.targetClassifier); biasShift is the refit
 * of its threshold on the generated texts (null: none; absent in generations saved before it).
 */
export type TargetClassifierReport = { separation: number; weightSums: number[]; discriminant: string; biasShift?: number[] | null };

/** One GRADMM generation of the protocol: everything the evaluation needs, as JSON. */
export interface QualityGeneration {
  method: MethodSettings;
  /** The generation's seed (absent in generations saved before it could be chosen: 0). */
  seed?: number;
  settings: Preset['settings'];
  examples: SyntheticExample[];
  /** Seconds the generation took (per example: total_s / examples.length). */
  total_s: number;
  target_classifier: TargetClassifierReport | null;
  /** The targets' release and privacy, and per class what was released and its signal/noise (absent in generations saved before issue 13). */
  privacy?: PrivacyReport;
  classes?: GenerateResult['classes'];
  /** The domain the targets chose for a task that names none (absent when the task names one, or in older files). */
  domain?: GenerateResult['domain'];
}

/**
 * One of issue 10's bars: gradmm's mean minus the bar's (a baseline's mean plus `margin`), and
 * the standard error of that difference from the two rows' seed-to-seed spreads (Welch). With
 * 3 seeds a difference within about two standard errors is not established; the real-random
 * row draws its texts anew with every seed, so its spread includes the draw's.
 */
export interface QualityBar {
  baseline: string;
  margin: number;
  difference: number;
  standard_error: number;
  met: boolean;
}

/** How many of `texts` are degenerate (core.degeneracy). */
const degenerateCount = (texts: readonly SyntheticExample[]) => texts.filter((e) => degeneracy(e.text, e.ids) !== null).length;

/** The bars of `rows` that are present: gradmm-N against real-random-N and prompted-few-N + 0.05. */
export function qualityBars(rows: { name: string; accuracy_mean: number; accuracy_std: number; per_seed: number[] }[], nSyn: number): QualityBar[] {
  const row = (name: string) => rows.find((r) => r.name === name);
  const gradmm = row(`gradmm-${nSyn}`);
  if (!gradmm) return [];
  const variance = (r: { accuracy_std: number; per_seed: number[] }) => r.accuracy_std ** 2 / Math.max(1, r.per_seed.length);
  return (
    [
      [`real-random-${nSyn}`, 0],
      [`prompted-few-${nSyn}`, 0.05],
    ] as const
  ).flatMap(([name, margin]) => {
    const b = row(name);
    if (!b) return [];
    const difference = gradmm.accuracy_mean - (b.accuracy_mean + margin);
    return [{ baseline: name, margin, difference, standard_error: Math.sqrt(variance(gradmm) + variance(b)), met: difference >= 0 }];
  });
}

export interface QualityResult {
  protocol: { real: number; synthetic: number; seeds: number; generation_seed: number; preset: string; mode: string; test: number };
  method: MethodSettings;
  /**
   * `untrained_kept`: the seeds whose dev checkpoint was the untrained student (step 0), i.e. no
   * step of training did better on the row's own dev split: a row of such seeds measures the
   * zero-shot classifier, not what its texts teach.
   */
  rows: { name: string; texts: number; accuracy_mean: number; accuracy_std: number; per_seed: number[]; untrained_kept: number; perplexity: number | null; minutes: number }[];
  /** Issue 10's accuracy bars for the rows present, each with the standard error of its difference. */
  bars: QualityBar[];
  judge: { test_accuracy: number; trained_on: number };
  /**
   * The judge's verdicts; `untrained_agrees`: the share of the kept texts the untrained student
   * (the LM's zero-shot verbaliser rows, where every mode starts) already labels as kept. Near 1,
   * the texts hold little the student does not know, and its synthetic dev split is solved
   * before training (see `untrained_kept`).
   */
  on_label: { kept: number; kept_on_label: number; rate: number; generated: number; generated_on_label_rate: number; untrained_agrees: number };
  /** Degenerate texts (core.degeneracy: one token looping, a mash of letters) among the kept and the generated ones. */
  degenerate: { kept: number; generated: number };
  selection: unknown;
  target_classifier: TargetClassifierReport | null;
  privacy: PrivacyReport | null;
  classes: GenerateResult['classes'] | null;
  /** Generation seconds per generated text (before selection). */
  seconds_per_synthetic_example: number;
  /** Generation seconds per kept text: what one text of the released set cost, overgeneration included. */
  seconds_per_kept_example: number;
  /** Texts generated a class as a multiple of the kept count. */
  overgenerate: number;
  synthetic_examples: { label: string; text: string }[];
}

export async function runQuality(rt: LoadedModel, o: QualityOptions): Promise<QualityResult> {
  const log = o.log ?? (() => {});
  const { task } = o;
  const K = task.labels.length;
  const nReal = o.real ?? 50;
  const nSyn = o.synthetic ?? 100;
  const seeds = o.seeds ?? 3;
  const presetName = o.preset ?? DEFAULT_PRESET;
  const preset = resolvePreset(presetName);
  Object.assign(preset.settings, o.settings);
  const keepPerClass = Math.floor(nSyn / K);
  const layout = overgenerated(keepPerClass, preset.settings.batchSize, o.overgenerate ?? preset.overgenerate);
  preset.settings.batchSize = layout.batchSize;
  const genPerClass = layout.perClass;

  // The private input: nReal texts, balanced, seed 0.
  const real = sampleClasses(o.taskData, task, Math.floor(nReal / K), 0, 'task data').flat();
  const method: MethodSettings = { ...preset.method, ...o.method };
  const cfg: GenerateConfig = { task, preset: presetName, settings: preset.settings, method, perClass: genPerClass, realPerClass: Math.floor(nReal / K), seed: o.generationSeed ?? 0, privacy: o.privacy ?? {}, distance: 'cosine' };
  let gen: QualityGeneration;
  if (o.generated) {
    gen = o.generated;
    if (gen.examples.length === 0) throw new SynthgradError('the saved generation has no examples', 'E_DATA');
    log(`evaluating a saved generation of ${gen.examples.length} texts (method ${JSON.stringify(gen.method)})`);
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'synthgrad-quality-'));
    try {
      log(`generating ${genPerClass} texts a class from ${real.length} real ones ...`);
      const g = await generate(rt, real, cfg, { checkpointPath: join(dir, 'cp.json'), resume: false, modelSha256: 'quality', dataFingerprint: 'quality', log, workers: o.workers });
      gen = { method, seed: cfg.seed, settings: preset.settings, examples: g.examples, total_s: g.timings.total_s, target_classifier: g.targetClassifier, privacy: g.privacy, classes: g.classes, ...(g.domain ? { domain: g.domain } : {}), ...(g.topics ? { topics: g.topics } : {}), ...(g.targetWords ? { target_words: g.targetWords } : {}), ...(g.minedDemonstrations ? { mined_demonstrations: g.minedDemonstrations } : {}) };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    o.onGenerated?.(gen);
  }
  // A saved generation from before the margin (the degenerate-text drop) existed was selected
  // with margin 0 (without it).
  const selectKept = (targetFilter: TargetFilter) => select<SyntheticExample>(gen.examples, K, bestMatching(keepPerClass, targetFilter, gen.method.targetFilterMargin ?? 0, gen.method.dropDegenerate ?? false));
  const filter = targetFilterOf(gen.method.targetFilter, 'the generation\'s method.targetFilter');
  const sel = selectKept(filter);
  const toExample = (e: SyntheticExample, i: number): Example => ({ text: e.text, label: e.labelIndex, line: i + 1, source: 'gradmm' });
  const kept = sel.kept.map(toExample);
  log(`selection kept ${kept.length} of ${gen.examples.length} (${JSON.stringify(sel.report)})`);
  // The filter is post-processing: the same generation without it is one more row, for free.
  const unfiltered = filter !== 'off' ? selectKept('off').kept.map(toExample) : null;

  // The judge: a head on all the task's real data.
  const cache = new FeatureCache(rt, task);
  const judge = headClassifier(rt, task, cache);
  let judgeAcc: number;
  let keptOn: number;
  let genOnRate: number;
  let untrainedAgrees: number;
  try {
    const { train, dev } = carveDev(o.taskData, o.training.devFraction, 0);
    // The judge is a head whatever mode the rows train in, with head mode's own settings.
    const { steps, batchSize, lr, weightDecay } = MODE_DEFAULTS.head;
    const r = fineTune(judge, train, dev, o.test, K, { steps, batchSize, lr, weightDecay, seed: 0, checkpoint: o.training.checkpoint });
    judgeAcc = r.testAccuracy;
    const all = gen.examples.map(toExample);
    genOnRate = all.length ? accuracy(judge, all) : 0;
    const pKept = predict(judge, kept);
    keptOn = pKept.filter((p, i) => p === kept[i].label).length;
    const untrained = headClassifier(rt, task, cache);
    try {
      untrainedAgrees = kept.length ? accuracy(untrained, kept) : 0;
    } finally {
      untrained.dispose();
    }
    log(`judge: ${(judgeAcc * 100).toFixed(1)}% on test; on-label ${keptOn}/${kept.length} kept, ${(genOnRate * 100).toFixed(1)}% of all generated; the untrained student agrees with ${(untrainedAgrees * 100).toFixed(1)}% of the kept labels`);
  } finally {
    judge.dispose();
  }

  const generationMinutes = gen.total_s / 60;
  const baseRows = o.rows ?? ['zero-shot', `real-random-${nSyn}`, `prompted-few-${nSyn}`];
  const res = runCompare(rt, {
    task,
    taskData: o.taskData,
    test: o.test,
    n: nSyn,
    seeds,
    k: o.k ?? 4,
    training: o.training,
    synthetic: [
      ...(o.rows === undefined || o.rows.includes(`real-${nReal}`) ? [{ name: `real-${nReal}`, examples: real.map((e) => ({ ...e })), minutes: 0 }] : []),
      { name: `gradmm-${nSyn}`, examples: kept, minutes: generationMinutes },
      ...(unfiltered ? [{ name: `gradmm-${nSyn}-unfiltered`, examples: unfiltered, minutes: generationMinutes }] : []),
    ],
    domain: o.domain,
    rows: [...baseRows, `real-${nReal}`, `gradmm-${nSyn}`, `gradmm-${nSyn}-unfiltered`],
    log,
  });
  const rows = res.rows.map((r: RowResult) => ({
    name: r.name,
    texts: r.trainSize,
    accuracy_mean: r.accuracy.mean,
    accuracy_std: r.accuracy.std,
    per_seed: r.accuracy.perSeed,
    untrained_kept: r.runs.filter((u) => u.bestStep === 0).length,
    perplexity: r.trainPerplexity,
    minutes: r.minutes,
  }));
  return {
    protocol: { real: real.length, synthetic: nSyn, seeds, generation_seed: gen.seed ?? 0, preset: presetName, mode: o.training.mode, test: o.test.length },
    method: gen.method,
    rows,
    bars: qualityBars(rows, nSyn),
    judge: { test_accuracy: judgeAcc, trained_on: o.taskData.length },
    on_label: { kept: kept.length, kept_on_label: keptOn, rate: keptOn / Math.max(1, kept.length), generated: gen.examples.length, generated_on_label_rate: genOnRate, untrained_agrees: untrainedAgrees },
    degenerate: { kept: degenerateCount(sel.kept), generated: degenerateCount(gen.examples) },
    selection: sel.report,
    target_classifier: gen.target_classifier,
    privacy: gen.privacy ?? null,
    classes: gen.classes ?? null,
    seconds_per_synthetic_example: gen.total_s / Math.max(1, gen.examples.length),
    seconds_per_kept_example: gen.total_s / Math.max(1, kept.length),
    overgenerate: gen.examples.length / Math.max(1, keepPerClass * K),
    synthetic_examples: task.labels.flatMap((l, c) => kept.filter((e) => e.label === c).slice(0, 5).map((e) => ({ label: l.name, text: e.text }))),
  };
}
