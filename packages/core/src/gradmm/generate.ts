/**
 * `generate` as a library call: class targets from real examples, then ADMM batch by batch with a
 * checkpoint after each, then optional selection. Target computation, optimisation and output
 * stay separate so the federated coordinator can feed the same optimiser with summed targets.
 */
import type { LoadedModel } from '../model/load.js';
import type { Task } from '../task/task.js';
import { byClass, type Example } from '../task/data.js';
import { Rng } from '../util/rng.js';
import { SynthgradError } from '../util/errors.js';
import { taskTokens, type TaskTokens } from './prompt.js';
import { computeClassTarget, privacyReport, releaseRows, signalToNoise, type PrivacyOptions, type PrivacyReport } from './targets.js';
import { MatchingLoss, type MatchingDistance } from './matching.js';
import { synthesize, type ClassPlan, type SynthesisResult } from './synthesize.js';
import { matchingLossOfPrompts, perplexities } from './scoring.js';
import { Checkpoint, configHash } from './checkpoint.js';
import type { MethodSettings, Preset } from './presets.js';
import type { DomainScore } from './domain.js';

export interface GenerateConfig {
  task: Task;
  preset: string;
  settings: Preset['settings'];
  /** Synthetic examples per class before selection (rounded up to whole batches). */
  perClass: number;
  /** Real examples used per class (a seeded random sample; all when larger than the class). */
  realPerClass: number;
  seed: number;
  privacy: PrivacyOptions;
  distance: MatchingDistance;
  /** Issue 10's additions (default: the preset's, else DEFAULT_METHOD). */
  method?: Partial<MethodSettings>;
}

export interface SyntheticExample {
  text: string;
  /** Label as in the task (the data's value). */
  label: string | number;
  labelIndex: number;
  ids: number[];
  /** Objective of the chosen ids: matching loss, plus beta x the target classifier's cross-entropy when that term is on. */
  matching_loss: number;
  perplexity: number;
  batch: number;
  /** Tokens of the optimised sequence when the sentence-end cut (or the removal of stray spaces) shortened it (absent otherwise). */
  optimised_length?: number;
  /** The class the released targets' classifier assigns (absent without one). */
  target_label?: number;
  /** Its logit margin for this example's own class over the best other class (negative: off-label). */
  target_margin?: number;
  /**
   * The target classifier's logits as built, one per class (absent without one). target_label and
   * target_margin are read from them after the biases are refitted (method.targetThreshold
   * 'generated'), or as they are.
   */
  target_logits?: number[];
}

/** A class's work: its targets from the real texts ('targets') or its ADMM batches ('admm'). */
export interface ClassProgress {
  phase: 'targets' | 'admm';
  classIndex: number;
  batch: number;
  batches: number;
  done: number;
  total: number;
  /**
   * When classes run at once (worker threads): the batches done so far over every class, the
   * running batches' steps counted as fractions, out of classes x batches. Without it the classes
   * run one after the other and this event's own position says it (admmProgress).
   */
  overall?: { done: number; total: number };
}

/**
 * How far the ADMM of the whole run is, in batches (the running batch's step as a fraction) out
 * of classes x batches, from one 'admm' event: what a progress bar or an ETA should read. With
 * classes in parallel, one class's position alone would say half (or less) of what is done.
 */
export function admmProgress(p: ClassProgress, nClasses: number): { done: number; total: number } {
  return p.overall ?? { done: p.classIndex * p.batches + p.batch + p.done / p.total, total: nClasses * p.batches };
}

/**
 * The domain search of a task that names no domain (minutes before the first batch): genres
 * scored so far over both rounds (every genre, then the finalists again), and the last one scored
 * (absent when the search starts).
 */
export interface DomainSearchProgress {
  phase: 'domain-search';
  round: 'first' | 'final';
  done: number;
  total: number;
  last?: DomainScore;
}

/**
 * The public statistics (method.publicTexts LM texts sampled and read, public-stats.ts): texts
 * done so far, from 0. They run once, before the first batch (on the classes' worker threads when
 * there are several), when the target classifier or another part of the method needs them: most
 * of a minute of the default run.
 */
export interface PublicStatsProgress {
  phase: 'public-stats';
  done: number;
  total: number;
}

export type GenerateProgress = ClassProgress | DomainSearchProgress | PublicStatsProgress;

export interface GenerateIO {
  checkpointPath: string;
  resume: boolean;
  modelSha256: string;
  dataFingerprint: string;
  onProgress?: (p: GenerateProgress) => void;
  shouldStop?: () => boolean;
  log?: (msg: string) => void;
  /** Threads that run classes (SynthesisOptions.workers; default 2 on wasm, else 1). Not part of the
   * checkpoint's configuration: the output is the same either way. */
  workers?: number;
}

export interface GenerateResult {
  examples: SyntheticExample[];
  privacy: PrivacyReport;
  timings: { targets_s: number; public_s: number; init_s: number; x_step_s: number; z_step_s: number; scoring_s: number; punctuation_s: number; total_s: number };
  method: MethodSettings;
  targetClassifier: SynthesisResult['targetClassifier'];
  classes: {
    label: string | number;
    realUsed: number;
    textLength: number;
    batches: number;
    noiseStd: number;
    /** Numbers the class target released (rows x d). */
    released: number;
    /** Estimated signal/noise of the released target (signalToNoise), null without noise. */
    signalToNoise: number | null;
  }[];
  comparison: ClassComparison[];
  resumedBatches: number;
  adamSteps: number;
  /** Threads that ran classes (1: the calling thread). */
  workers: number;
  /** The domain the targets chose for a task that names none (method.domainSearch), else null. */
  domain: SynthesisResult['domain'];
  /** What each class's batches wrote about (method.topics), else null. */
  topics: SynthesisResult['topics'];
  /** Per class, the words its target points at (method.targetWords), else null. */
  targetWords: SynthesisResult['targetWords'];
  /** Public texts mined as demonstrations (method.minedDemonstrations), else null. */
  minedDemonstrations: SynthesisResult['minedDemonstrations'];
}

/** Synthetic text against random real texts of the same class: matching loss (same target) and perplexity. */
export interface ClassComparison {
  label: string | number;
  real_sample: number;
  real_matching_loss: number;
  real_perplexity: number;
  synthetic: number;
  synthetic_matching_loss: number;
  synthetic_perplexity: number;
}

/** Real examples per class: a seeded sample of `n` (in file order after sampling). */
export function sampleClasses(examples: Example[], task: Task, n: number, seed: number, where: string): Example[][] {
  return byClass(examples, task, where).map((group, c) => {
    if (group.length <= n) return group;
    const picked = new Set(Rng.derive(seed, 'real-sample', c).shuffle(group.map((_, i) => i)).slice(0, n));
    return group.filter((_, i) => picked.has(i));
  });
}

export async function generate(rt: LoadedModel, examples: Example[], cfg: GenerateConfig, io: GenerateIO): Promise<GenerateResult> {
  const t0 = performance.now();
  const log = io.log ?? (() => {});
  const { task } = cfg;
  const toks = taskTokens(task, rt.tokenizer);
  const classes = sampleClasses(examples, task, cfg.realPerClass, cfg.seed, examples[0]?.source ?? 'data');
  const allOfClass = byClass(examples, task, examples[0]?.source ?? 'data');
  const comparison: ClassComparison[] = [];
  // Every text must fit the context with the suffix; checked for the whole file before any work.
  for (const e of examples) {
    const n = toks.promptIds(e.text).length;
    if (n > rt.config.contextLength) {
      throw new SynthgradError(`${e.source}:${e.line}: text is ${n} tokens with the suffix, longer than the model's context of ${rt.config.contextLength}`, 'E_DATA');
    }
  }
  const batchSize = cfg.settings.batchSize;
  const batches = Math.ceil(cfg.perClass / batchSize);
  const checkpoint = Checkpoint.open<SyntheticExample>(
    io.checkpointPath,
    configHash({ cfg, model: io.modelSha256, data: io.dataFingerprint, v: 1 }),
    io.resume,
  );
  const resumedBatches = checkpoint.batchesDone;
  if (resumedBatches) log(`resuming: ${resumedBatches} of ${batches * classes.length} batches already done`);
  const timings = { targets_s: 0, public_s: 0, init_s: 0, x_step_s: 0, z_step_s: 0, scoring_s: 0, punctuation_s: 0, total_s: 0 };
  const classInfo: GenerateResult['classes'] = [];
  // One noise key and one set of released rows for every class (the key is the checkpoint's, for resume).
  const noiseKey = checkpoint.noiseKey;
  const rows = releaseRows(cfg.privacy.release, toks.labelTokens);
  const plans: ClassPlan[] = classes.map((real, c) => {
    const textLength = Math.max(2, Math.round(real.reduce((a, e) => a + rt.tokenizer.encode(e.text).length, 0) / real.length));
    // Always computed (seconds): the batches need it, and so does the comparison with real text.
    const ts = performance.now();
    const target = computeClassTarget(rt.model, real, c, toks.labelTokens[c], toks.promptIds, {
      ...cfg.privacy,
      rows,
      noiseKey,
      onProgress: (done, total) => io.onProgress?.({ phase: 'targets', classIndex: c, batch: 0, batches, done, total }),
    });
    timings.targets_s += (performance.now() - ts) / 1000;
    classInfo.push({ label: task.labels[c].value, realUsed: real.length, textLength, batches, noiseStd: target.noiseStd, released: target.sum.length, signalToNoise: signalToNoise(target) });
    return { target, textLength };
  });
  const res = await synthesize(rt, task, plans, { ...cfg, workers: io.workers }, {
    checkpoint,
    onProgress: io.onProgress,
    shouldStop: io.shouldStop,
    log,
    afterClass: (c, loss, examples) => comparison.push(compareWithReal(rt, loss, toks, allOfClass[c], examples, cfg.seed, c)),
  });
  Object.assign(timings, res.timings);
  timings.total_s = (performance.now() - t0) / 1000;
  return {
    examples: res.examples,
    privacy: privacyReport(cfg.privacy, classes.length),
    timings,
    classes: classInfo,
    comparison,
    resumedBatches,
    adamSteps: res.adamSteps,
    method: res.method,
    targetClassifier: res.targetClassifier,
    workers: res.workers,
    domain: res.domain,
    topics: res.topics,
    targetWords: res.targetWords,
    minedDemonstrations: res.minedDemonstrations,
  };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

function compareWithReal(
  rt: LoadedModel,
  loss: MatchingLoss,
  toks: TaskTokens,
  realOfClass: Example[],
  synthetic: SyntheticExample[],
  seed: number,
  c: number,
): ClassComparison {
  const sample = Rng.derive(seed, 'real-comparison', c).shuffle(realOfClass).slice(0, 20);
  const ids = sample.map((e) => rt.tokenizer.encode(e.text));
  const prompts = sample.map((e) => toks.promptIds(e.text));
  const lossReal: number[] = [];
  for (let i = 0; i < prompts.length; i += 10) lossReal.push(...matchingLossOfPrompts(rt.model, loss, prompts.slice(i, i + 10)));
  return {
    label: synthetic[0]?.label ?? c,
    real_sample: sample.length,
    real_matching_loss: mean(lossReal),
    real_perplexity: mean(perplexities(rt.model, ids)),
    ...syntheticSide(synthetic),
  };
}

/** The synthetic side of a ClassComparison: how many texts, their mean matching loss and perplexity. */
export function syntheticSide(synthetic: readonly SyntheticExample[]): Pick<ClassComparison, 'synthetic' | 'synthetic_matching_loss' | 'synthetic_perplexity'> {
  return {
    synthetic: synthetic.length,
    synthetic_matching_loss: mean(synthetic.map((e) => e.matching_loss)),
    synthetic_perplexity: mean(synthetic.map((e) => e.perplexity)),
  };
}
