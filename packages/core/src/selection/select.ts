/**
 * Selection after generation (METHOD.md section 4): the target-classifier filter (texts the
 * released targets' own classifier assigns to another class are dropped, all of them or only as
 * many as the class's surplus allows: post-processing, no privacy cost), LM label-consistency
 * check, de-duplication, per-class ranking by matching_loss + alpha * perplexity, optional class
 * balancing.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Llama } from '../model/llama.js';
import type { Tokenizer } from '../tokenizer/gguf-tokenizer.js';
import type { Task } from '../task/task.js';
import { labelIndex } from '../task/task.js';
import { leftPad, taskTokens } from '../gradmm/prompt.js';
import { targetFilterMarginOf, type TargetFilter } from '../gradmm/presets.js';
import { degeneracy } from '../gradmm/degenerate.js';

export interface Candidate {
  text: string;
  /** Task label index the text was generated for. */
  labelIndex: number;
  matching_loss: number;
  perplexity: number;
  /** Class the target classifier assigns, when generation had one. */
  target_label?: number;
  /** Its logit for the text's own class over the best other (negative: placed elsewhere). */
  target_margin?: number;
  /** The text's token ids, where known: the degenerate-text check's loop test reads them (without them only its letter-run test applies). */
  ids?: readonly number[];
}

export interface SelectionOptions {
  /**
   * Candidates whose target_label differs from their label (those without one are kept):
   * 'strict' drops them all; 'surplus' drops them, lowest target_margin first, only while a class
   * keeps more than topN distinct candidates that passed the other steps (so it never shrinks
   * what is kept; without topN it drops nothing); 'off' (default) keeps them.
   */
  targetFilter?: TargetFilter;
  /**
   * With a target filter: a candidate counts as misplaced only when the classifier puts it in
   * another class by more than this margin (its logit units; default 0: every one it places
   * elsewhere). See MethodSettings.targetFilterMargin.
   */
  targetMargin?: number;
  /**
   * Drop degenerate candidates (gradmm/degenerate.ts: one token looping, a mash of letters) of a
   * class that has more than topN distinct others (any others, without topN), before every other
   * step, so the kept count never falls for it. Default false (MethodSettings.dropDegenerate
   * turns it on in the product's selection, where such texts matched the targets well enough to
   * be kept: docs/EXPERIMENTS.md, thirty-eighth stop).
   */
  dropDegenerate?: boolean;
  labelCheck: boolean;
  dedup: boolean;
  /** Keep at most this many per class (all when undefined). */
  topN?: number;
  alpha: number;
  balance: boolean;
}

/**
 * The measured protocol's selection (bench quality, README): generate OVERGENERATE times the texts
 * wanted, then keep, per class, the `perClass` best-matching distinct ones (the target filter when
 * the method has it; no LM label check, which private data cannot calibrate). Post-processing of
 * the released targets only, so free under DP. `federated` sessions and `bench quality` use it.
 */
export const OVERGENERATE = 1.2;

export function bestMatching(perClass: number, targetFilter: TargetFilter, targetMargin = 0, dropDegenerate = false): SelectionOptions {
  return { targetFilter, targetMargin, dropDegenerate, labelCheck: false, dedup: true, topN: perClass, alpha: 0, balance: true };
}

/**
 * How to generate `factor` times `perClass` texts a class in equal batches of at most
 * `maxBatch`: as few batches as that allows, each as large as needed (10 kept of batches of 10:
 * two batches of 6, not two of 10). Returns the batch size and the texts generated per class.
 */
export function overgenerated(perClass: number, maxBatch: number, factor = OVERGENERATE): { batchSize: number; perClass: number } {
  const want = Math.ceil(perClass * factor);
  const batches = Math.ceil(want / maxBatch);
  const batchSize = Math.ceil(want / batches);
  return { batchSize, perClass: batches * batchSize };
}

export interface SelectionReport {
  input: number;
  /** Candidates left when the degenerate ones are dropped (null: dropDegenerate off). */
  passedDegenerateCheck: number | null;
  /** Candidates left by the target filter ('strict': before the other steps; 'surplus': after them). */
  passedTargetFilter: number | null;
  passedLabelCheck: number | null;
  afterDedup: number;
  kept: number;
  perClass: number[];
}

/**
 * The label the LM itself predicts for each text, from the task's instruction and demonstrations.
 * Small LMs favour one verbaliser whatever the text (SmolLM2-135M says " great" for 49 of 50
 * negative rtpolarity reviews), so scores are contextually calibrated (Zhao et al., 2021): the
 * mean label log-probabilities of the content-free inputs "N/A", "" and "[MASK]" are subtracted
 * before taking the best label. On 50 + 50 real rtpolarity reviews that took the check from
 * 1/50 + 49/50 to 45/50 + 28/50 correct ("N/A" alone: 48/50 + 16/50).
 */
const CONTENT_FREE = ['N/A', '', '[MASK]'];

export function predictLabels(
  model: Llama,
  tokenizer: Tokenizer,
  task: Task,
  texts: string[],
  batchSize = 8,
  /** Called after each batch with the texts scored so far (the check takes a minute on a CPU). */
  onProgress?: (done: number, total: number) => void,
): number[] {
  const toks = taskTokens(task, tokenizer);
  const { labelTokens } = toks;
  const demos = task.demonstrations
    .map((d) => `${d.text}${task.suffix}${task.labels[labelIndex(task, d.label)].verbalizer}\n`)
    .join('');
  const bodies = texts.map((t) => toks.promptIds(t));
  const contentFree = CONTENT_FREE.map((t) => toks.promptIds(t));
  const longest = Math.max(...contentFree.map((b) => b.length), ...bodies.map((b) => b.length));
  // The richest prompt that fits the context: instruction + demonstrations, instruction, nothing.
  const prefix =
    [task.instruction + demos, task.instruction, '']
      .map((p) => tokenizer.encode(p))
      .find((p) => p.length + longest <= model.config.contextLength) ?? [];
  const score = (seqs: number[][]): number[][] => {
    const { ids, mask } = leftPad(seqs.map((b) => [...prefix, ...b]), 0);
    return tf.tidy(() => {
      const { logits } = model.forward({ ids, attentionMask: mask, logits: 'last' });
      return tf.gather(tf.logSoftmax(logits!), tf.tensor1d(labelTokens, 'int32'), 1).arraySync() as number[][];
    });
  };
  const cf = score(contentFree);
  const bias = labelTokens.map((_, l) => cf.reduce((a, r) => a + r[l], 0) / cf.length);
  const out: number[] = [];
  for (let i = 0; i < bodies.length; i += batchSize) {
    for (const row of score(bodies.slice(i, i + batchSize))) {
      const calibrated = row.map((v, l) => v - bias[l]);
      out.push(calibrated.indexOf(Math.max(...calibrated)));
    }
    onProgress?.(out.length, bodies.length);
  }
  return out;
}

/**
 * Whether the target classifier puts a candidate in another class than its own (one without a
 * target_label is not), by more than `margin` when that is positive (one without a margin then
 * counts as misplaced by any margin).
 */
export const misplaced = (c: Pick<Candidate, 'labelIndex' | 'target_label' | 'target_margin'>, margin = 0): boolean =>
  c.target_label !== undefined && c.target_label !== c.labelIndex && (margin === 0 || (c.target_margin ?? -Infinity) < -margin);

/**
 * The 'surplus' target filter on its own: per class, the candidates the target classifier puts in
 * another class (by more than `margin`) are dropped, lowest target_margin (most confidently
 * misplaced) first, ties by position, only while more than `keep` of the class remain. The rest
 * keep their order.
 */
export function dropSurplusMisplaced<T extends Candidate>(candidates: readonly T[], nLabels: number, keep: number, margin = 0): T[] {
  const drop = surplusDrops(candidates, nLabels, keep, targetFilterMarginOf(margin, "the target filter's margin"));
  return candidates.filter((_, k) => !drop.has(k));
}

/** Positions in `candidates` that the surplus filter drops. */
function surplusDrops(candidates: readonly Candidate[], nLabels: number, keep: number, margin: number): Set<number> {
  const drop = new Set<number>();
  for (let l = 0; l < nLabels; l++) {
    const mine = candidates.map((c, k) => ({ c, k })).filter(({ c }) => c.labelIndex === l);
    mine
      .filter(({ c }) => misplaced(c, margin))
      .sort((a, b) => (a.c.target_margin ?? 0) - (b.c.target_margin ?? 0) || a.k - b.k)
      .slice(0, Math.max(0, mine.length - keep))
      .forEach(({ k }) => drop.add(k));
  }
  return drop;
}

/** What de-duplication compares: the text trimmed, lower-cased, its whitespace runs made one space. */
const dedupKey = (text: string) => text.trim().toLowerCase().replace(/\s+/g, ' ');

export function select<T extends Candidate>(
  candidates: T[],
  nLabels: number,
  opts: SelectionOptions,
  predicted?: number[],
): { kept: T[]; report: SelectionReport } {
  let pool = candidates.map((c, i) => ({ c, i }));
  if (opts.dropDegenerate) {
    const bad = new Set(pool.filter(({ c }) => degeneracy(c.text, c.ids ?? []) !== null).map(({ i }) => i));
    // The class's other texts as de-duplication will count them, so the kept count never falls.
    const clean = Array.from({ length: nLabels }, (_, l) => new Set(pool.filter(({ c, i }) => c.labelIndex === l && !bad.has(i)).map(({ c, i }) => (opts.dedup ? dedupKey(c.text) : i))).size);
    pool = pool.filter(({ c, i }) => !bad.has(i) || !(clean[c.labelIndex] > (opts.topN ?? 0)));
  }
  const passedDegenerate = opts.dropDegenerate ? pool.length : null;
  let passedTarget: number | null = null;
  const margin = targetFilterMarginOf(opts.targetMargin ?? 0, "the target filter's margin");
  if (opts.targetFilter === 'strict') {
    pool = pool.filter(({ c }) => !misplaced(c, margin));
    passedTarget = pool.length;
  }
  let passed: number | null = null;
  if (opts.labelCheck) {
    if (!predicted || predicted.length !== candidates.length) throw new Error('select: label check needs one prediction per candidate');
    pool = pool.filter(({ c, i }) => predicted[i] === c.labelIndex);
    passed = pool.length;
  }
  if (opts.dedup) {
    const seen = new Set<string>();
    pool = pool.filter(({ c }) => {
      const key = dedupKey(c.text);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }
  const afterDedup = pool.length;
  if (opts.targetFilter === 'surplus') {
    const drop = surplusDrops(pool.map(({ c }) => c), nLabels, opts.topN ?? Infinity, margin);
    pool = pool.filter((_, k) => !drop.has(k));
    passedTarget = pool.length;
  }
  const score = (c: Candidate) => c.matching_loss + opts.alpha * c.perplexity;
  const perClass = Array.from({ length: nLabels }, (_, l) =>
    pool
      .filter(({ c }) => c.labelIndex === l)
      .sort((a, b) => score(a.c) - score(b.c) || a.i - b.i)
      .slice(0, opts.topN ?? Infinity),
  );
  if (opts.balance) {
    const n = Math.min(...perClass.map((p) => p.length));
    perClass.forEach((p, l) => (perClass[l] = p.slice(0, n)));
  }
  const kept = perClass.flat().sort((a, b) => a.i - b.i).map(({ c }) => c);
  return { kept, report: { input: candidates.length, passedDegenerateCheck: passedDegenerate, passedTargetFilter: passedTarget, passedLabelCheck: passed, afterDedup, kept: kept.length, perClass: perClass.map((p) => p.length) } };
}
