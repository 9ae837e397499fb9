/**
 * The optimisation half of GRADMM: from class targets (computed locally, or summed from several
 * data owners' contributions) to synthetic examples, batch by batch, with a checkpoint after each
 * batch. Shared by `generate` and the federated coordinator's job. On the wasm backend (one
 * thread) whole classes run in worker threads (synthesis-pool.ts) through the same class loop.
 */
import type { LoadedModel } from '../model/load.js';
import type { Task } from '../task/task.js';
import { Rng } from '../util/rng.js';
import { SynthgradError } from '../util/errors.js';
import { taskTokens, type TaskTokens } from './prompt.js';
import type { ClassTarget } from './targets.js';
import { centredMetric, MatchingLoss, sharedDirection, type MatchingDistance } from './matching.js';
import { Projector } from './projection.js';
import { allowedTokenIds, StraySpaceBan, vocabularyOf, withoutStraySpaces } from './vocab.js';
import { sentenceEndLengths } from './sentence-end.js';
import { commaStyle, withCommas } from './commas.js';
import { endMarkStyle, marksNearerTarget, withEndMarks } from './end-marks.js';
import { misplaced } from '../selection/select.js';
import { runAdmm, type AdmmResult, type AdmmSettings } from './admm.js';
import { perplexities, PromptStates } from './scoring.js';
import type { Checkpoint } from './checkpoint.js';
import { refitThreshold } from './threshold-refit.js';
import { DEFAULT_METHOD, DEMONSTRATION_LABELS, END_MARK_MODES, TARGET_THRESHOLDS, TARGET_WORD_CLASSES, TARGET_WORD_RANKINGS, everyLabelsDemonstrations, type MethodSettings, type Preset } from './presets.js';
import { classDemonstrations, labelContextText, labelledContextText, namesDomain, withDomain, type LabelledLine } from '../task/task.js';
import { sampleAllowed } from './sample.js';
import { mineDemonstrations, withMinedDemonstrations, type MinedDemonstration } from './mined-demonstrations.js';
import { DEFAULT_FINALISTS, DEFAULT_GENRES, searchDomain, searchesDomain, type DomainChoice, type DomainScore } from './domain.js';
import { batchTopic, DEFAULT_TOPIC_DRAWS, DEFAULT_TOPICS, searchTopics, type TopicChoice } from './topics.js';
import { DEFAULT_TARGET_WORD_POOL, targetWords, targetWordTopics, type TargetWord } from './target-words.js';
import { publicHiddenStats, type PublicStats, type PublicStatsOptions } from './public-stats.js';
import { buildTargetClassifier, classifyStates, targetVerdict, whitenedMetric, type TargetClassifier } from './target-classifier.js';
import type { ClassProgress, GenerateProgress, SyntheticExample } from './generate.js';
import { publicStatsInWorkers, runClassesInWorkers, startGenreScorers, type GenreScorerPool } from './synthesis-pool.js';
import { degeneracy } from './degenerate.js';
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';

export interface ClassPlan {
  target: ClassTarget;
  /** Synthetic text tokens per sequence. */
  textLength: number;
}

export interface SynthesisOptions {
  settings: Preset['settings'];
  /** Issue 10's additions; default DEFAULT_METHOD. */
  method?: Partial<MethodSettings>;
  perClass: number;
  seed: number;
  distance: MatchingDistance;
  /**
   * Threads that run classes: whole classes, each in order, in worker threads that load the model
   * from `rt.path` themselves (so `rt.model` must be that file's model, unmodified). Default 2 on
   * the wasm backend (single-threaded), 1 elsewhere; 1 runs every class here, in this thread.
   * Only wasm uses more than one. The output is the same either way.
   */
  workers?: number;
}

export interface SynthesisIO {
  checkpoint: Checkpoint<SyntheticExample>;
  onProgress?: (p: GenerateProgress) => void;
  shouldStop?: () => boolean;
  log?: (msg: string) => void;
  /** Called once per class with its loss (still alive) and examples. */
  afterClass?: (classIndex: number, loss: MatchingLoss, examples: SyntheticExample[]) => void;
}

export interface SynthesisResult {
  examples: SyntheticExample[];
  timings: { init_s: number; x_step_s: number; z_step_s: number; scoring_s: number; punctuation_s: number; public_s: number };
  adamSteps: number;
  method: MethodSettings;
  /**
   * The classifier the released targets imply (null with one class, or without a filter or
   * classifier term): how far apart it puts the classes, and biasShift, what the refit on the
   * generated texts added to its biases (null: not refitted; method.targetThreshold).
   */
  targetClassifier: { separation: number; weightSums: number[]; discriminant: string; biasShift: number[] | null } | null;
  /** Threads that ran classes (1: all in the calling thread). With more, the timings add up every thread's time. */
  workers: number;
  /** The domain the targets chose for a task that names none (method.domainSearch), else null. */
  domain: DomainChoice | null;
  /** What each class's batches wrote about (method.topics), else null. */
  topics: TopicChoice | null;
  /** Per class, the words its target points at, best first (method.targetWords), else null. */
  targetWords: TargetWord[][] | null;
  /** Public texts mined as demonstrations, per class (method.minedDemonstrations), else null; only classes short of their own use them. */
  minedDemonstrations: MinedDemonstration[][] | null;
}

/**
 * The label context for class c with as many of `demos` (public ones first, then earlier
 * synthetic output of the class) as fit before `room` more tokens in the model's context; the
 * last ones are dropped first.
 */
function fittingLabelContext(rt: LoadedModel, task: Task, c: number, demos: string[], room: number): number[] {
  return fittingSlots(rt, task, c, demos.map((text) => [{ label: c, text }]), room);
}

/**
 * The label context for class c after the demonstration lines of as many leading `slots` as fit
 * before `room` more tokens in the model's context; whole slots are dropped from the end.
 */
function fittingSlots(rt: LoadedModel, task: Task, c: number, slots: LabelledLine[][], room: number, topic?: string): number[] {
  for (let k = slots.length; k > 0; k--) {
    const ids = rt.tokenizer.encode(labelledContextText(task, c, slots.slice(0, k).flat(), topic));
    if (ids.length + room <= rt.config.contextLength) return ids;
  }
  return rt.tokenizer.encode(labelledContextText(task, c, [], topic));
}

/**
 * Class c's LM context for batch b, as the class loop builds it (the label context after the
 * batch's demonstration slots, its last line about `topic` when given), with room for a text of
 * `textLength` tokens and the suffix.
 */
export function batchContext(env: Pick<ClassLoopEnv, 'rt' | 'task' | 'toks' | 'method' | 'seed'>, c: number, b: number, earlier: SyntheticExample[], textLength: number, topic?: string): number[] {
  const room = textLength + env.toks.syntheticSuffix.length;
  return fittingSlots(env.rt, env.task, c, demonstrationSlots(env.task, c, env.method, earlier, env.seed, b), room, topic);
}

/**
 * What a guided LM start (AdmmSettings.initGuidance) contrasts class c's context with: the same
 * demonstration `slots`, each line under its own label as before, followed by each other label's
 * context instead of c's (label order, c left out). The contexts then differ only in the line the
 * LM continues, so the guidance favours what the label makes likely. Built earlier from each other
 * label's own public demonstrations, the contrast also favoured whatever c's demonstrations made
 * likely: on bbc5, whose classes' demonstrations are their own earlier texts, a class's batches
 * then copied one of them (45 of 120 texts opening alike; EXPERIMENTS.md, thirty-fifth stop).
 */
export function guidanceContexts(rt: LoadedModel, task: Task, c: number, slots: LabelledLine[][], room: number, topic?: string): number[][] {
  return task.labels.flatMap((_, o) => (o === c ? [] : [fittingSlots(rt, task, o, slots, room, topic)]));
}

/**
 * The demonstration lines before batch b of class c, in slots (the context drops whole slots from
 * the end when it runs out of room): the class's own (contextDemonstrations), one line a slot; or,
 * where everyLabelsDemonstrations says so, every label's (interleavedSlots), label o's being the
 * public ones its own batch b draws.
 */
export function demonstrationSlots(task: Task, c: number, method: MethodSettings, earlier: SyntheticExample[], seed: number, b: number): LabelledLine[][] {
  const own = contextDemonstrations(task, c, method, earlier, seed, b);
  if (!everyLabelsDemonstrations(task.labels.length, method)) return own.map((text) => [{ label: c, text }]);
  return interleavedSlots(task.labels.map((_, o) => (o === c ? own : batchPublicDemonstrations(task, o, method.demonstrations, seed, b))), c);
}

/**
 * Demonstration slots of every label for class c (demonstrationLabels 'all'): slot j holds the
 * j-th demonstration of each other label, in label order, then the class's own j-th, so the line
 * before the class's label context is always one of its own. `demos[o]` are label o's
 * demonstrations for the batch; a label with fewer simply has none in the later slots.
 */
export function interleavedSlots(demos: string[][], c: number): LabelledLine[][] {
  const order = [...demos.keys()].filter((o) => o !== c).concat(c);
  const n = Math.max(0, ...demos.map((d) => d.length));
  // Slot j < n holds at least the longest list's j-th demonstration, so no slot is empty.
  return Array.from({ length: n }, (_, j) => order.flatMap((o) => (j < demos[o].length ? [{ label: o, text: demos[o][j] }] : [])));
}

/**
 * The task's public demonstrations of class c for one batch: all of them, in the task's order,
 * when there are at most `n`; otherwise a seeded draw of `n`, new for every batch, so the
 * batches see different patterns.
 */
export function publicDemonstrations(task: Task, c: number, n: number, rng: Rng): string[] {
  const all = classDemonstrations(task, c);
  return all.length <= n ? all : rng.shuffle(all).slice(0, n);
}

/**
 * Label c's public demonstrations for batch b: the draw its own batch b makes, whichever class's
 * context reads them (its own, every label's, a shared opening).
 */
function batchPublicDemonstrations(task: Task, c: number, n: number, seed: number, b: number): string[] {
  return publicDemonstrations(task, c, n, Rng.derive(seed, 'public-demos', c, b));
}

/**
 * Tokens per text for batch b of a class whose real texts average `length` tokens: the mean,
 * or with `spread` s > 0 a linear schedule over the class's batches from (1 - s) to (1 + s)
 * times it (same mean), since real texts vary in length and a classifier trained on texts of
 * one length sees only part of what it will be tested on. At least 2.
 */
export function batchTextLength(length: number, spread: number, b: number, batches: number): number {
  if (!(spread >= 0 && spread < 1)) throw new SynthgradError(`lengthSpread must be in [0, 1), got ${spread}`, 'E_USAGE');
  const f = batches > 1 ? 1 - spread + (2 * spread * b) / (batches - 1) : 1;
  return Math.max(2, Math.round(length * f));
}

/**
 * Bootstrapped demonstrations for the next batch of a class: `n` texts drawn (seeded) from the
 * better half, by matching loss, of the class's earlier batches that the targets' classifier puts
 * in the class (`target_label`; texts without one count as on-label). Matching loss alone cannot
 * tell the classes apart (every class target is dominated by one shared direction, METHOD.md
 * section 3), so without the filter a demonstration of the other class would pull the batch
 * toward it. Synthetic text is already released output, so using it costs no privacy; drawing
 * anew each batch keeps the batches from all copying the same few texts. Degenerate texts
 * (degenerate.ts: one token looping, a mash of letters) are never drawn: the LM copies a
 * demonstration's pattern, and a loop or a URL mash spread that way from batch to batch.
 */
export function bootstrapDemonstrations(earlier: SyntheticExample[], n: number, rng: Rng): string[] {
  if (n <= 0) return [];
  const onside = earlier.filter((e) => !misplaced(e) && degeneracy(e.text, e.ids) === null);
  const pool = onside.sort((a, b) => a.matching_loss - b.matching_loss).slice(0, Math.max(n, Math.ceil(onside.length / 2)));
  return rng.shuffle(pool.map((e) => e.text.replace(/\s+/g, ' ').trim()).filter((t) => t.length > 0)).slice(0, n);
}

/**
 * The demonstrations before batch b of class c: up to method.demonstrations of the task's public
 * ones, then earlier synthetic texts of the class (bootstrapDemonstrations): the
 * method.bootstrapDemonstrations asked for, plus as many as the public ones fall short of
 * method.fillDemonstrations. A task without demonstrations of a class thus gets some once its
 * first batch is done, while a task that has enough keeps exactly its own. Measured (EXPERIMENTS.md,
 * seventeenth and nineteenth stops): they rescue a task whose context names its domain,
 * lock in the first batch's off-domain text for a task that names only its labels (hence no
 * filling under the fallback contexts: namesDomain), and, added to public ones, cost rtpolarity
 * two points.
 */
export function contextDemonstrations(task: Task, c: number, method: MethodSettings, earlier: SyntheticExample[], seed: number, b: number): string[] {
  const pub = batchPublicDemonstrations(task, c, method.demonstrations, seed, b);
  const fill = filledDemonstrations(pub.length, namesDomain(task), method);
  return [...pub, ...bootstrapDemonstrations(earlier, method.bootstrapDemonstrations + fill, Rng.derive(seed, 'demos', c, b))];
}

/**
 * Earlier synthetic texts a class with `pub` public demonstrations gets besides them: up to
 * fillDemonstrations in all, and only under contexts that name the domain (the task's, or the one
 * domainSearch found): under the fallback contexts the first batch is off-domain and filling would
 * copy it into every batch.
 */
export function filledDemonstrations(pub: number, contextsNameDomain: boolean, method: Pick<MethodSettings, 'fillDemonstrations' | 'demonstrations'>): number {
  return contextsNameDomain ? Math.max(0, Math.min(method.fillDemonstrations, method.demonstrations) - pub) : 0;
}

/** The classes' mean synthetic text length (tokens, at least 2): what class-blind LM draws use. */
const meanTextLength = (plans: ClassPlan[]) => Math.max(2, Math.round(plans.reduce((a, p) => a + p.textLength, 0) / plans.length));

/**
 * Whether synthesize builds the target classifier (and so samples the public statistics first):
 * it needs every class's target to contrast, and a use, the classifier term or the target filter.
 */
export function buildsTargetClassifier(labels: number, method: Pick<MethodSettings, 'classifierWeight' | 'targetFilter'>): boolean {
  return labels > 1 && (method.classifierWeight > 0 || method.targetFilter !== 'off');
}

/** Final-state statistics of method.publicTexts LM texts sampled after the label-blind context at the classes' mean text length. */
export function publicStatsFor(rt: LoadedModel, task: Task, plans: ClassPlan[], method: MethodSettings, seed: number, onProgress?: (done: number, total: number) => void): PublicStats {
  return publicHiddenStats(rt.model, { ...publicStatsOptions(rt, task, method, seed, meanTextLength(plans)), onProgress });
}

/** What publicStatsFor samples: method.publicTexts texts of `length` tokens after the task's label-blind context. */
export function publicStatsOptions(rt: LoadedModel, task: Task, method: MethodSettings, seed: number, length: number): PublicStatsOptions {
  const toks = taskTokens(task, rt.tokenizer);
  const allowed = allowedTokenIds(rt.tokenizer, vocabularyOf(task, method));
  const ban = StraySpaceBan.over(allowed, (id) => rt.tokenizer.tokenText(id));
  return { context: toks.contextPrefix, suffix: toks.syntheticSuffix, allowed: new Set(allowed), ban, length, count: method.publicTexts, seed };
}

/**
 * The classifier implied by the targets of every class plus public statistics (post-processing:
 * no privacy cost). Public texts are sampled after the label-blind context at the classes' mean
 * text length.
 */
export function targetClassifierFor(
  rt: LoadedModel,
  task: Task,
  plans: ClassPlan[],
  method: MethodSettings,
  seed: number,
  stats: PublicStats = publicStatsFor(rt, task, plans, method, seed),
): { classifier: TargetClassifier; stats: PublicStats } {
  const toks = taskTokens(task, rt.tokenizer);
  const headRows = tf.tidy(() => tf.transpose(rt.model.headColumns(toks.labelTokens)).arraySync() as number[][]).map((r) => Float32Array.from(r));
  const classifier = buildTargetClassifier(plans.map((p) => p.target), toks.labelTokens, stats, { discriminant: method.discriminant, headRows, shrinkage: method.shrinkage });
  return { classifier, stats };
}

/** A target-classifier prediction: label index, margin over the runner-up, and the logits. */
export interface TargetPrediction {
  label: number;
  margin: number;
  logits: number[];
}

/** Target-classifier predictions for token sequences (text ids + suffix). */
export function targetPredictions(rt: LoadedModel, classifier: TargetClassifier, prompts: number[][], batchSize = 16): TargetPrediction[] {
  return predictionsOfStates(classifier, new PromptStates(rt.model, batchSize), prompts);
}

/** targetPredictions of prompts whose final states `states` holds or forwards (shared with the batch's other scorers). */
export function predictionsOfStates(classifier: TargetClassifier, states: PromptStates, prompts: number[][]): TargetPrediction[] {
  if (prompts.length === 0) return [];
  const z = tf.tidy(() => {
    const W = tf.tensor2d(classifier.weights, [classifier.dModel, classifier.classes]);
    return tf.add(tf.matMul(states.of(prompts), W), tf.tensor1d(classifier.bias)).arraySync() as number[][];
  });
  return z.map((logits) => {
    const order = logits.map((v, k) => [v, k]).sort((x, y) => y[0] - x[0]);
    return { label: order[0][1], margin: order[0][0] - order[1][0], logits };
  });
}


export function medianAllowedNorm(rt: LoadedModel, allowed: number[]): number {
  const norms = tf.tidy(() => tf.norm(tf.gather(rt.model.embeddingT, tf.tensor1d(allowed, 'int32'), 1), 2, 0).dataSync());
  const sorted = Array.from(norms).sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * What the class loop needs besides the model and the task, decided once from every class in the
 * main thread: plain data, so a worker thread gets exactly the same (see synthesis-pool.ts).
 */
export interface ClassLoopParams {
  settings: Preset['settings'];
  method: MethodSettings;
  perClass: number;
  seed: number;
  distance: MatchingDistance;
  /** The resolved initialisation norm ('auto' already replaced by the median allowed norm). */
  initNorm: number;
  classifier: TargetClassifier | null;
  /** The matching metric M [d, d] (method.matchingSpace), or null for raw matching. */
  metric: Float32Array | null;
  /**
   * Per class, what its batches write about in turn (method.topics' chosen topics, or one phrase
   * of target words a batch with method.targetWords), or null: the plain label context.
   */
  batchTopics: string[][] | null;
}

/** The class loop's environment in one thread: the parameters plus what follows from the model and task. */
export interface ClassLoopEnv extends ClassLoopParams {
  /** The parameters as given (what a worker thread is sent). */
  params: ClassLoopParams;
  rt: LoadedModel;
  task: Task;
  toks: TaskTokens;
  batches: number;
  allowed: number[];
  allowedSet: Set<number>;
  /** No whitespace-led token after the lone space (allowed only with the task's symbols), in the LM start and the projection. */
  spaceBan: StraySpaceBan | undefined;
}

/** Batches a class runs: its texts over the batch size. */
export const batchCount = (p: Pick<ClassLoopParams, 'perClass' | 'settings'>): number => Math.ceil(p.perClass / p.settings.batchSize);

export function classLoopEnv(rt: LoadedModel, task: Task, params: ClassLoopParams, allowed = allowedTokenIds(rt.tokenizer, vocabularyOf(task, params.method))): ClassLoopEnv {
  return {
    ...params,
    params,
    rt,
    task,
    toks: taskTokens(task, rt.tokenizer),
    batches: batchCount(params),
    allowed,
    allowedSet: new Set(allowed),
    spaceBan: StraySpaceBan.over(allowed, (id) => rt.tokenizer.tokenText(id)),
  };
}

/** A batch the class loop has just finished, from whichever thread ran it. */
export interface BatchDone {
  classIndex: number;
  batch: number;
  examples: SyntheticExample[];
  timings: AdmmResult['timings'];
  /** After the ADMM: the sentence-end cut, the perplexities and the target verdicts, punctuation not included. */
  scoring_s: number;
  /** The comma and end-mark passes (a forward of context and text each). */
  punctuation_s: number;
  adamSteps: number;
}

export interface ClassLoopHooks {
  /** The examples of a batch already in the checkpoint (resume), or undefined. */
  saved: (classIndex: number, batch: number) => SyntheticExample[] | undefined;
  /** A new batch: checkpointed by the main thread (in-process) or sent to it (worker). */
  batchDone: (d: BatchDone) => void;
  onProgress?: (p: ClassProgress) => void;
  shouldStop?: () => boolean;
  log: (msg: string) => void;
  /** Called with the class's loss still alive. */
  afterClass?: (classIndex: number, loss: MatchingLoss, examples: SyntheticExample[]) => void;
}

/** The matching loss of class c (its target, with the classifier term and the matching metric the method asks for). */
export function classLoss(env: ClassLoopEnv, c: number, plan: ClassPlan): MatchingLoss {
  const term = env.classifier && env.method.classifierWeight > 0 ? { classifier: env.classifier, classIndex: c, weight: env.method.classifierWeight } : undefined;
  return new MatchingLoss(env.rt.model, plan.target, env.toks.labelTokens[c], env.distance, term, env.metric ?? undefined);
}

/**
 * Every batch of class c, in order (a batch may use the class's earlier output as
 * demonstrations), skipping those already saved. Every random stream is derived from the seed,
 * the class and the batch, so the result does not depend on which thread runs the class.
 */
export async function runClass(env: ClassLoopEnv, c: number, plan: ClassPlan, hooks: ClassLoopHooks): Promise<SyntheticExample[]> {
  const { rt, task, toks, method, classifier, batches } = env;
  const batchSize = env.settings.batchSize;
  const label = task.labels[c];
  const loss = classLoss(env, c, plan);
  // The comma pass's style, once a class (commas.ts).
  const commas = method.commas ? commaStyle(rt.tokenizer, task) : null;
  // The end-mark pass's style, once a class (end-marks.ts).
  const endMarks = method.endMarks !== 'off' ? endMarkStyle(rt.tokenizer, task) : null;
  // A written text (its ids and their decoding) as the student reads it: the text, then its tail.
  const studentPrompt = (ids: number[], text: string) => [...ids, ...toks.tailOf(text)];
  const mine: SyntheticExample[] = [];
  try {
    for (let b = 0; b < batches; b++) {
      const saved = hooks.saved(c, b);
      if (saved) {
        mine.push(...saved);
        continue;
      }
      const textLength = batchTextLength(plan.textLength, method.lengthSpread, b, batches);
      const room = textLength + toks.syntheticSuffix.length;
      const topic = batchTopic(env.batchTopics, c, b);
      const slots = method.labelContext ? demonstrationSlots(task, c, method, mine, env.seed, b) : [];
      const context = method.labelContext ? fittingSlots(rt, task, c, slots, room, topic) : toks.contextPrefix;
      // Label o's context after its own public demonstrations `demos` only (whatever
      // demonstrationLabels says), with room for a text: what the shared opening and the
      // punctuation passes read (synthesize refuses the opening with the label context off).
      const publicContext = (o: number, demos: string[]) => fittingLabelContext(rt, task, o, demos, room);
      // A guided start: the batch's own demonstration lines under each other label's context.
      const contrastContexts = (env.settings.initGuidance ?? 0) > 0 ? guidanceContexts(rt, task, c, slots, room, topic) : undefined;
      // A shared opening: every label's context from the public demonstrations its own batch b
      // draws, and a stream without the class, so batch b of every class draws the same opening.
      const opening =
        (env.settings.sharedOpening ?? 0) > 0
          ? { contexts: task.labels.map((_, o) => publicContext(o, batchPublicDemonstrations(task, o, method.demonstrations, env.seed, b))), rng: Rng.derive(env.seed, 'shared-opening', b) }
          : undefined;
      const projector = new Projector(rt.model, env.allowed, env.settings.topK, context, env.settings.noRepeatNgram, env.settings.noCopyNgram, env.spaceBan);
      const settings: AdmmSettings = { ...env.settings, textLength, initNorm: env.initNorm, batchSize };
      const ctx = { model: rt.model, loss, projector, suffix: toks.syntheticSuffix, allowed: env.allowedSet, context, contrastContexts, opening, ban: env.spaceBan };
      let res;
      try {
        res = await runAdmm(ctx, settings, Rng.derive(env.seed, 'admm', c, b), {
          onStep: (done, total) => hooks.onProgress?.({ phase: 'admm', classIndex: c, batch: b, batches, done, total }),
          shouldStop: hooks.shouldStop,
        });
      } finally {
        projector.dispose();
      }
      const ts = performance.now();
      const cut =
        method.sentenceEndCut > 0
          ? sentenceEndLengths(rt.model, toks.contextPrefix, res.ids, toks.sentenceEndToken, method.sentenceEndCut).map((k, j) => res.ids[j].slice(0, k))
          : res.ids;
      const tidy = task.symbols === undefined ? cut : cut.map((ids) => withoutStraySpaces(ids, (id) => rt.tokenizer.tokenText(id)));
      // Commas where the LM expects one, then a final mark where the LM ends the text with one,
      // reading each text after the class's label context and its own public demonstrations, so a
      // class writes them as the LM would for it (commas.ts, end-marks.ts); the perplexity and the
      // target classifier read the text as it is written out, through the student's prompt.
      const tq = performance.now();
      const punctuationContext = commas || endMarks ? (method.labelContext ? publicContext(c, classDemonstrations(task, c).slice(0, method.demonstrations)) : toks.contextPrefix) : [];
      const withC = commas ? withCommas(rt.model, punctuationContext, tidy, commas) : tidy;
      const marked = endMarks ? withEndMarks(rt.model, punctuationContext, withC, endMarks) : withC;
      // 'target': the batch keeps its marks only where they bring its texts nearer the class's target.
      // The student prompts' final states, shared by the end-mark check and the target classifier.
      const states = new PromptStates(rt.model);
      const check = endMarks && method.endMarks === 'target' ? marksNearerTarget(states, loss, withC, marked, (ids) => studentPrompt(ids, rt.tokenizer.decode(ids))) : null;
      const out = check && !check.keep ? withC : marked;
      const punctuation_s = commas || endMarks ? (performance.now() - tq) / 1000 : 0;
      const texts = out.map((ids) => rt.tokenizer.decode(ids));
      const ppl = perplexities(rt.model, out);
      const pred = classifier ? predictionsOfStates(classifier, states, out.map((ids, j) => studentPrompt(ids, texts[j]!))) : [];
      const scoring_s = (performance.now() - ts) / 1000 - punctuation_s;
      const batchExamples: SyntheticExample[] = out.map((ids, j) => ({
        text: texts[j]!,
        label: label.value,
        labelIndex: c,
        ids,
        // Of the optimised sequence: what selection ranks by, before any sentence-end cut.
        matching_loss: res.lossPerExample[j],
        perplexity: ppl[j],
        batch: b,
        ...(tidy[j]!.length < res.ids[j].length ? { optimised_length: res.ids[j].length } : {}),
        ...(pred[j] ? { ...targetVerdict(pred[j].logits, c), target_logits: pred[j].logits } : {}),
      }));
      hooks.batchDone({ classIndex: c, batch: b, examples: batchExamples, timings: res.timings, scoring_s, punctuation_s, adamSteps: res.adamSteps });
      mine.push(...batchExamples);
      const marks = check && check.compared > 0 ? `; end marks ${check.keep ? 'kept' : 'dropped'} (the ${check.compared} marked texts' matching loss ${check.keep ? 'down' : 'up'} by ${Math.abs(check.gain).toFixed(4)})` : '';
      hooks.log(`class ${JSON.stringify(label.value)} batch ${b + 1}/${batches}: batch loss ${res.lossBatch.toFixed(4)} (outputs from iterations ${res.bestIteration.join(',')})${marks}`);
    }
    hooks.afterClass?.(c, loss, mine);
    return mine;
  } finally {
    loss.dispose();
  }
}

/**
 * The hidden-side metric of method.matchingSpace, built once from every class's target (and, for
 * 'whitened', the public LM-text statistics, asked for only then); null for raw matching, or when
 * there is nothing to centre against (one class).
 */
export async function matchingMetric(
  plans: ClassPlan[],
  labelTokens: number[],
  method: MethodSettings,
  publicStats: () => Promise<PublicStats>,
  log: (m: string) => void = () => {},
): Promise<Float32Array | null> {
  if (method.matchingSpace === 'raw') return null;
  if (method.matchingSpace === 'whitened') {
    if (plans.length < 2) {
      log('whitened matching needs at least two classes: matching the raw gradients');
      return null;
    }
    return whitenedMetric(await publicStats(), method.shrinkage);
  }
  const u = sharedDirection(plans.map((p) => p.target), labelTokens);
  if (!u) log('centred matching needs at least two classes with non-zero targets: matching the raw gradients');
  return u ? centredMetric(u) : null;
}

/**
 * How to spread generation over the machine: classes are independent, so up to one worker
 * thread per class, each with its share of the cores as intra-op threads (`threads`: given, or
 * cores / workers). On 2 cores, 2 workers of 1 thread each made a synthetic example in 2.98 s
 * against 4.07 s for one thread of 2 intra-op threads (native backend, `bench generate`): the
 * model step at this size does not scale across threads as well as independent classes do.
 * The native library reads its thread count once per process, so callers decide this before
 * the backend starts (the CLI does, when --threads is not given).
 */
export function synthesisLayout(classes: number, cores = availableParallelism(), threads?: number): { workers: number; threads: number } {
  if (threads !== undefined) return { workers: Math.max(1, Math.min(classes, Math.floor(cores / threads))), threads };
  const workers = Math.max(1, Math.min(classes, cores));
  return { workers, threads: Math.max(1, Math.floor(cores / workers)) };
}

/**
 * How many threads run classes: `requested` (any backend), else 2 on wasm (single-threaded in
 * Node) and 1 on the native backends (which use every core inside one thread); never more than
 * the cores or the classes that still have work.
 */
export function synthesisWorkerCount(requested: number | undefined, classesLeft: number): number {
  if (requested !== undefined && !(Number.isInteger(requested) && requested >= 1)) throw new SynthgradError(`workers must be a positive integer, got ${requested}`, 'E_USAGE');
  const wasm = tf.getBackend() === 'wasm';
  return Math.max(1, Math.min(requested ?? (wasm ? 2 : 1), classesLeft, availableParallelism()));
}

export async function synthesize(rt: LoadedModel, givenTask: Task, plans: ClassPlan[], opts: SynthesisOptions, io: SynthesisIO): Promise<SynthesisResult> {
  const log = io.log ?? (() => {});
  const method: MethodSettings = { ...DEFAULT_METHOD, ...opts.method };
  if (!TARGET_THRESHOLDS.includes(method.targetThreshold)) throw new SynthgradError(`targetThreshold must be one of ${TARGET_THRESHOLDS.join(', ')}, got ${JSON.stringify(method.targetThreshold)}`, 'E_USAGE');
  if (!DEMONSTRATION_LABELS.includes(method.demonstrationLabels)) throw new SynthgradError(`demonstrationLabels must be one of ${DEMONSTRATION_LABELS.join(', ')}, got ${JSON.stringify(method.demonstrationLabels)}`, 'E_USAGE');
  if (!(method.sentenceEndCut >= 0 && method.sentenceEndCut <= 1)) throw new SynthgradError(`sentenceEndCut must be in [0, 1] (0: no cut), got ${method.sentenceEndCut}`, 'E_USAGE');
  if (typeof method.dropDegenerate !== 'boolean') throw new SynthgradError(`dropDegenerate must be true or false, got ${JSON.stringify(method.dropDegenerate)}`, 'E_USAGE');
  if (typeof method.commas !== 'boolean') throw new SynthgradError(`commas must be true or false, got ${JSON.stringify(method.commas)}`, 'E_USAGE');
  if (method.commas) commaStyle(rt.tokenizer, givenTask); // a model without a comma token fails here, not after a class
  if (!END_MARK_MODES.includes(method.endMarks)) throw new SynthgradError(`endMarks must be one of ${END_MARK_MODES.join(', ')}, got ${JSON.stringify(method.endMarks)}`, 'E_USAGE');
  if (method.endMarks !== 'off') endMarkStyle(rt.tokenizer, givenTask); // likewise a model without the marks' tokens
  if (!(Number.isInteger(method.topics) && method.topics >= 0 && method.topics <= DEFAULT_TOPICS.length)) throw new SynthgradError(`topics must be an integer in [0, ${DEFAULT_TOPICS.length}] (0: none), got ${JSON.stringify(method.topics)}`, 'E_USAGE');
  if (!(Number.isInteger(method.targetWords) && method.targetWords >= 0 && method.targetWords <= DEFAULT_TARGET_WORD_POOL)) throw new SynthgradError(`targetWords must be an integer in [0, ${DEFAULT_TARGET_WORD_POOL}] (0: none), got ${JSON.stringify(method.targetWords)}`, 'E_USAGE');
  if (!TARGET_WORD_RANKINGS.includes(method.targetWordRanking)) throw new SynthgradError(`targetWordRanking must be one of ${TARGET_WORD_RANKINGS.join(', ')}, got ${JSON.stringify(method.targetWordRanking)}`, 'E_USAGE');
  if (!TARGET_WORD_CLASSES.includes(method.targetWordClasses)) throw new SynthgradError(`targetWordClasses must be one of ${TARGET_WORD_CLASSES.join(', ')}, got ${JSON.stringify(method.targetWordClasses)}`, 'E_USAGE');
  // A guided start and a shared opening are drawn among the label contexts of an 'lm' start:
  // without them they would be silently ignored.
  for (const setting of ['initGuidance', 'sharedOpening'] as const) {
    if ((opts.settings[setting] ?? 0) > 0 && (opts.settings.init !== 'lm' || !method.labelContext || givenTask.labels.length < 2)) {
      throw new SynthgradError(`${setting} needs an 'lm' start, the label context on and at least two labels (got init ${opts.settings.init}, label context ${method.labelContext ? 'on' : 'off'}, ${givenTask.labels.length} labels)`, 'E_USAGE');
    }
  }
  const allowed = allowedTokenIds(rt.tokenizer, vocabularyOf(givenTask, method));
  const initNorm = opts.settings.initNorm === 'auto' ? medianAllowedNorm(rt, allowed) : opts.settings.initNorm;
  const timings = { init_s: 0, x_step_s: 0, z_step_s: 0, scoring_s: 0, punctuation_s: 0, public_s: 0 };
  // A task that names no domain gets the one its targets point to, before anything reads its
  // contexts (public statistics, every batch). Counted with the public statistics: both are LM
  // draws that read the targets with public weights.
  const td = performance.now();
  // The class loop's parameters before the classifier and the metric, which read the chosen domain's contexts.
  const searchParams: ClassLoopParams = { settings: opts.settings, method, perClass: opts.perClass, seed: opts.seed, distance: opts.distance, initNorm, classifier: null, metric: null, batchTopics: null };
  const domain = searchesDomain(givenTask, method) ? await chooseDomain(rt, givenTask, plans, searchParams, opts.workers, allowed, log, io.onProgress) : null;
  const domainTask = domain ? withDomain(givenTask, domain.domain) : givenTask;
  if (domain) log(`domain: the task names none; its targets match "${domain.domain}" best (finalists: ${domain.final.map((s) => `${s.domain} ${s.loss.toFixed(4)}`).join(', ')})`);
  const toks = taskTokens(domainTask, rt.tokenizer);
  timings.public_s += (performance.now() - td) / 1000;
  // Public statistics are sampled at most once, for whichever of the classifier, the metric, the
  // mined demonstrations and the target words needs them: on the classes' worker threads when
  // there are several (the same numbers, each batch drawing its own part of one stream; about
  // half the time on two cores), else here.
  const onStats = (done: number, total: number) => io.onProgress?.({ phase: 'public-stats', done, total });
  const statsWorkers = synthesisWorkerCount(opts.workers, plans.length);
  let stats: Promise<PublicStats> | undefined;
  const publicStats = () =>
    (stats ??= statsWorkers > 1 ? publicStatsInWorkers(rt, domainTask, searchParams, meanTextLength(plans), statsWorkers, onStats) : Promise.resolve(publicStatsFor(rt, domainTask, plans, method, opts.seed, onStats)));
  const tp = performance.now();
  // The discriminant needs every class's target; with one class there is nothing to contrast.
  let classifier: TargetClassifier | null = null;
  if (buildsTargetClassifier(plans.length, method)) {
    classifier = targetClassifierFor(rt, domainTask, plans, method, opts.seed, await publicStats()).classifier;
    log(`target classifier from public statistics (${method.publicTexts} LM texts): class separation ${classifier.separation.toFixed(2)} public std`);
  }
  const metric = await matchingMetric(plans, toks.labelTokens, method, publicStats, log);
  // Classes without public demonstrations get the public draws the targets put in them (mined-demonstrations.ts).
  const mined = minesDemonstrations(domainTask, plans.length, method) ? minedDemonstrationsFor(rt, domainTask, plans, method, opts.seed, classifier, await publicStats(), log) : null;
  const task = mined ? withMinedDemonstrations(domainTask, mined, method.demonstrations) : domainTask;
  timings.public_s += (performance.now() - tp) / 1000;
  // What each class writes about, chosen by its target before any batch (topics.ts).
  const tt = performance.now();
  const topics = method.topics > 0 && method.labelContext ? chooseTopics(rt, task, plans, searchParams, allowed, log) : null;
  if (method.topics > 0 && !method.labelContext) log('topics: none, since they name what the label context is about and it is off');
  // The words each class's target points at, named a few a batch (target-words.ts).
  const words = method.targetWords > 0 && !topics ? await chooseTargetWords(rt, task, toks, plans, method, allowed, publicStats, log) : null;
  if (method.targetWords > 0 && topics) log('target words: none, since the topics name what each batch is about');
  timings.public_s += (performance.now() - tt) / 1000;
  const batchTopics = topics ? topics.perClass : words ? words.map((w, c) => (namesTargetWords(task, c, method) ? targetWordTopics(w, method.targetWords, batchCount(searchParams), opts.seed, c) : [])) : null;
  const params: ClassLoopParams = { ...searchParams, classifier, metric, batchTopics };
  const env = classLoopEnv(rt, task, params, allowed);
  let adamSteps = 0;
  // The checkpoint is written here, in the main thread, after every batch, whichever thread ran it.
  const hooks: ClassLoopHooks = {
    saved: (c, b) => io.checkpoint.get(c, b)?.examples,
    batchDone: (d) => {
      timings.scoring_s += d.scoring_s;
      timings.punctuation_s += d.punctuation_s;
      timings.init_s += d.timings.init_s;
      timings.x_step_s += d.timings.x_step_s;
      timings.z_step_s += d.timings.z_step_s;
      adamSteps += d.adamSteps;
      io.checkpoint.add({ classIndex: d.classIndex, batch: d.batch, examples: d.examples, timings: d.timings });
    },
    onProgress: io.onProgress,
    shouldStop: io.shouldStop,
    log,
    afterClass: io.afterClass,
  };
  const hasWork = (c: number) => Array.from({ length: env.batches }, (_, b) => b).some((b) => !io.checkpoint.get(c, b));
  const workers = synthesisWorkerCount(opts.workers, plans.filter((_, c) => hasWork(c)).length);
  const byClass: SyntheticExample[][] = [];
  if (workers > 1) {
    byClass.push(...(await runClassesInWorkers(env, plans, workers, hooks)));
  } else {
    for (const [c, plan] of plans.entries()) byClass.push(await runClass(env, c, plan, hooks));
  }
  const generated = byClass.flat();
  if (generated.length === 0) throw new SynthgradError('nothing was generated');
  // The classifier's threshold refitted on what was generated (post-processing), when every
  // class has texts to place it by.
  let out = generated;
  let biasShift: number[] | null = null;
  if (classifier && method.targetThreshold === 'generated') {
    const empty = plans.findIndex((_, c) => !generated.some((e) => e.labelIndex === c));
    if (empty >= 0) log(`target classifier's threshold kept as the targets place it: class ${JSON.stringify(task.labels[empty].value)} generated no text to refit it on`);
    else {
      const refit = refitThreshold(generated, plans.length);
      out = refit.examples;
      biasShift = refit.shift;
      log(`target classifier's threshold refitted on the ${generated.length} generated texts: biases shifted by ${refit.shift.map((x) => x.toFixed(3)).join(', ')}; ${refit.changed} texts change class`);
    }
  }
  return {
    examples: out,
    timings,
    adamSteps,
    method,
    targetClassifier: classifier ? { separation: classifier.separation, weightSums: classifier.weightSums, discriminant: classifier.discriminant, biasShift } : null,
    workers,
    domain,
    topics,
    targetWords: words,
    minedDemonstrations: mined,
  };
}

/**
 * Mined demonstrations a class with `pub` public ones gets (method.minedDemonstrations): with the
 * label context, two or more classes (the classifier contrasts them) and contexts that name the
 * domain (the draws are read after the label-blind one, which is generic otherwise), as many as
 * its public ones fall short of `demonstrations`, at most minedDemonstrations.
 */
export function minedDemonstrationSlots(pub: number, classes: number, contextsNameDomain: boolean, method: Pick<MethodSettings, 'minedDemonstrations' | 'labelContext' | 'demonstrations'>): number {
  return method.minedDemonstrations > 0 && method.labelContext && classes > 1 && contextsNameDomain ? Math.max(0, Math.min(method.minedDemonstrations, method.demonstrations - pub)) : 0;
}

/** Whether synthesize mines demonstrations for `task`: some class gets minedDemonstrationSlots. */
export function minesDemonstrations(task: Task, classes: number, method: MethodSettings): boolean {
  return task.labels.some((_, c) => minedDemonstrationSlots(classDemonstrations(task, c).length, classes, namesDomain(task), method) > 0);
}

/**
 * Every class's mined demonstrations (mineDemonstrations), scored by the run's target classifier
 * (built here from the same statistics when the run has none, and used only for this). The
 * candidates are the public statistics' label-blind draws plus as many again drawn after each
 * class's bare label context ("A sport news article:"): label-blind draws leave out what the LM
 * rarely writes unprompted (on bbc5 no sport among 256 "News article:" draws, so sport's widest
 * margins were mathematics and code), and the classifier still decides which class each
 * candidate leans to, so a draw of one class's context can demonstrate another.
 */
export function minedDemonstrationsFor(
  rt: LoadedModel,
  task: Task,
  plans: ClassPlan[],
  method: MethodSettings,
  seed: number,
  classifier: TargetClassifier | null,
  stats: PublicStats,
  log: (msg: string) => void = () => {},
): MinedDemonstration[][] {
  if (!stats.draws) throw new SynthgradError("mined demonstrations need the public statistics' own draws");
  const scorer = classifier ?? targetClassifierFor(rt, task, plans, method, seed, stats).classifier;
  const toks = taskTokens(task, rt.tokenizer);
  const allowed = allowedTokenIds(rt.tokenizer, vocabularyOf(task, method));
  const allowedSet = new Set(allowed);
  const ban = StraySpaceBan.over(allowed, (id) => rt.tokenizer.tokenText(id));
  // As many again as the label-blind draws, shared among the classes; sampled 32 at a time, as the statistics are.
  const each = Math.ceil(stats.count / plans.length);
  const drawn: number[][] = [];
  plans.forEach((_, c) => {
    const context = rt.tokenizer.encode(labelContextText(task, c));
    const rng = Rng.derive(seed, 'mined-demonstrations', c);
    for (let start = 0; start < each; start += 32) drawn.push(...sampleAllowed(rt.model, allowedSet, context, Math.min(32, each - start), meanTextLength(plans), rng, { ban }));
  });
  const ids = [...stats.draws.ids, ...drawn];
  const logits = [...classifyStates(scorer, stats.draws.hidden, stats.draws.ids.length), ...targetPredictions(rt, scorer, drawn.map((t) => [...t, ...toks.syntheticSuffix])).map((p) => p.logits)];
  const mined = mineDemonstrations(ids.map((t) => rt.tokenizer.decode(t)), logits, method.minedDemonstrations);
  mined.forEach((ms, c) => {
    if (minedDemonstrationSlots(classDemonstrations(task, c).length, plans.length, namesDomain(task), method) === 0) return;
    log(`mined demonstrations of class ${JSON.stringify(task.labels[c].value)}: ${ms.length} of ${ids.length} LM draws (margins ${ms.length ? `${ms[0].margin.toFixed(2)} to ${ms.at(-1)!.margin.toFixed(2)}; widest: "${ms[0].text.slice(0, 100)}"` : 'none'})`);
  });
  return mined;
}

/** Every class's plain matching loss (no classifier term, no metric): what the searches score draws by. The caller disposes them. */
function plainLosses(rt: LoadedModel, toks: TaskTokens, plans: ClassPlan[], distance: MatchingDistance): MatchingLoss[] {
  return plans.map((p, c) => new MatchingLoss(rt.model, p.target, toks.labelTokens[c], distance));
}

/** Whether class c's batches name its target words: every class, or with 'undemonstrated' one without public demonstrations. */
export function namesTargetWords(task: Task, c: number, method: Pick<MethodSettings, 'targetWords' | 'targetWordClasses'>): boolean {
  return method.targetWords > 0 && (method.targetWordClasses === 'all' || classDemonstrations(task, c).length === 0);
}

/**
 * Each class's target words (targetWords), read after the task's label-blind context prefix (`toks`:
 * the task's tokens, which its mined demonstrations, if any, leave as they are); null
 * (logged) where they cannot be had or would name nothing: the label context off (nothing names
 * them), one class (nothing to contrast), or, with 'undemonstrated', every class with public
 * demonstrations of its own.
 */
async function chooseTargetWords(
  rt: LoadedModel,
  task: Task,
  toks: TaskTokens,
  plans: ClassPlan[],
  method: MethodSettings,
  allowed: number[],
  publicStats: () => Promise<PublicStats>,
  log: (msg: string) => void,
): Promise<TargetWord[][] | null> {
  const why = !method.labelContext
    ? 'they name what the label context is about and it is off'
    : plans.length < 2
      ? 'one class has nothing to contrast'
      : !plans.some((_, c) => namesTargetWords(task, c, method))
        ? "every class has public demonstrations (--target-word-classes all names them too)"
        : null;
  if (why) {
    log(`target words: none, since ${why}`);
    return null;
  }
  // The lift reads the class means at the scale of a real mean state: the public LM texts' (sampled once, shared with the classifier).
  const meanStateNorm = method.targetWordRanking === 'lift' ? Math.hypot(...(await publicStats()).mean) : undefined;
  const words = targetWords(rt, plans.map((p) => p.target), toks.labelTokens, { allowed, wordEndContext: toks.contextPrefix, ranking: method.targetWordRanking, meanStateNorm });
  words.forEach((ws, c) =>
    log(`target words of class ${JSON.stringify(task.labels[c].value)}: ${ws.map((w) => w.word).join(', ') || '(none beyond the release noise)'}${namesTargetWords(task, c, method) ? '' : ' (not named: the class has public demonstrations)'}`),
  );
  return words;
}

/**
 * searchTopics over every class's plain matching loss, each topic drawn under the class's batch-0
 * context at the real texts' length (as the class loop's first batch would draw its start).
 */
function chooseTopics(rt: LoadedModel, task: Task, plans: ClassPlan[], params: ClassLoopParams, allowed: number[], log: (msg: string) => void): TopicChoice {
  const env = classLoopEnv(rt, task, params, allowed);
  const losses = plainLosses(rt, env.toks, plans, params.distance);
  const t0 = performance.now();
  log(`topic search: ${DEFAULT_TOPICS.length} topics a class, ${DEFAULT_TOPIC_DRAWS} draws each, scored against each class's target (minutes; --topics 0 skips it)`);
  try {
    const choice = searchTopics(rt, task, losses, (c, topic) => batchContext(env, c, 0, [], plans[c].textLength, topic), {
      keep: params.method.topics,
      length: meanTextLength(plans),
      allowed: env.allowedSet,
      sentenceEndCut: params.method.sentenceEndCut,
      seed: params.seed,
    });
    choice.perClass.forEach((ts, c) => log(`topics of class ${JSON.stringify(task.labels[c].value)}: ${ts.join(', ')} (${choice.scores[c].slice(0, ts.length).map((s) => s.loss.toFixed(4)).join(', ')}; worst ${choice.scores[c].at(-1)!.topic} ${choice.scores[c].at(-1)!.loss.toFixed(4)})`));
    log(`topic search took ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    return choice;
  } finally {
    for (const l of losses) l.dispose();
  }
}

/**
 * searchDomain over every class's plain matching loss (no classifier term, no metric), at the
 * classes' mean text length; its jobs on as many worker threads as the classes would get.
 */
async function chooseDomain(
  rt: LoadedModel,
  task: Task,
  plans: ClassPlan[],
  params: ClassLoopParams,
  requestedWorkers: number | undefined,
  allowed: number[],
  log: (m: string) => void,
  onProgress?: (p: GenerateProgress) => void,
): Promise<DomainChoice> {
  const losses = plainLosses(rt, taskTokens(task, rt.tokenizer), plans, params.distance);
  const draw = { length: meanTextLength(plans), seed: params.seed, sentenceEndCut: params.method.sentenceEndCut };
  const workers = synthesisWorkerCount(requestedWorkers, plans.length);
  let pool: GenreScorerPool | null = null;
  log(`domain search: the task names no domain, so its targets choose one of ${DEFAULT_GENRES.length} genres (minutes, on ${workers} thread${workers > 1 ? 's' : ''}; a task file's "domain" skips it)`);
  const t0 = performance.now();
  // Progress counts the genres of both rounds; reported at once, since the first genre takes a
  // minute and until then a progress bar would still show the targets.
  const searchUnits = DEFAULT_GENRES.length + DEFAULT_FINALISTS;
  const onScore = (round: 'first' | 'final', done: number, total: number, s: DomainScore) => {
    log(`domain search, ${round} round ${done}/${total}: ${s.domain} ${s.loss.toFixed(4)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    onProgress?.({ phase: 'domain-search', round, done: round === 'first' ? done : DEFAULT_GENRES.length + done, total: searchUnits, last: s });
  };
  onProgress?.({ phase: 'domain-search', round: 'first', done: 0, total: searchUnits });
  try {
    // Inside the try: a pool that cannot start (no build of the worker) still frees the losses.
    if (workers > 1) pool = startGenreScorers(rt, task, params, plans.map((p) => p.target), draw, workers);
    return await searchDomain(rt, task, losses, { ...draw, allowed: new Set(allowed), onScore }, pool?.score);
  } finally {
    for (const l of losses) l.dispose();
    await pool?.close();
  }
}
