/**
 * Selection after generation (METHOD.md section 4): LM label-consistency check, de-duplication,
 * per-class ranking by matching_loss + alpha * perplexity, optional class balancing.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Llama } from '../model/llama.js';
import type { Tokenizer } from '../tokenizer/gguf-tokenizer.js';
import type { Task } from '../task/task.js';
import { labelIndex } from '../task/task.js';
import { leftPad, taskTokens } from '../gradmm/prompt.js';

export interface Candidate {
  text: string;
  /** Task label index the text was generated for. */
  labelIndex: number;
  matching_loss: number;
  perplexity: number;
}

export interface SelectionOptions {
  labelCheck: boolean;
  dedup: boolean;
  /** Keep at most this many per class (all when undefined). */
  topN?: number;
  alpha: number;
  balance: boolean;
}

export interface SelectionReport {
  input: number;
  passedLabelCheck: number | null;
  afterDedup: number;
  kept: number;
  perClass: number[];
}

/** The label the LM itself predicts for each text, with the task's instruction and demonstrations. */
export function predictLabels(model: Llama, tokenizer: Tokenizer, task: Task, texts: string[], batchSize = 8): number[] {
  const toks = taskTokens(task, tokenizer);
  const { labelTokens } = toks;
  const demos = task.demonstrations
    .map((d) => `${d.text}${task.suffix}${task.labels[labelIndex(task, d.label)].verbalizer}\n`)
    .join('');
  const bodies = texts.map((t) => toks.promptIds(t));
  const longest = Math.max(0, ...bodies.map((b) => b.length));
  // The richest prompt that fits the context: instruction + demonstrations, instruction, nothing.
  const prefix =
    [task.instruction + demos, task.instruction, '']
      .map((p) => tokenizer.encode(p))
      .find((p) => p.length + longest <= model.config.contextLength) ?? [];
  const out: number[] = [];
  for (let i = 0; i < texts.length; i += batchSize) {
    const chunk = bodies.slice(i, i + batchSize).map((b) => [...prefix, ...b]);
    const { ids, mask } = leftPad(chunk, 0);
    const scores = tf.tidy(() => {
      const { logits } = model.forward({ ids, attentionMask: mask, logits: 'last' });
      return tf.gather(logits!, tf.tensor1d(labelTokens, 'int32'), 1).arraySync() as number[][];
    });
    for (const row of scores) out.push(row.indexOf(Math.max(...row)));
  }
  return out;
}

export function select<T extends Candidate>(
  candidates: T[],
  nLabels: number,
  opts: SelectionOptions,
  predicted?: number[],
): { kept: T[]; report: SelectionReport } {
  let pool = candidates.map((c, i) => ({ c, i }));
  let passed: number | null = null;
  if (opts.labelCheck) {
    if (!predicted || predicted.length !== candidates.length) throw new Error('select: label check needs one prediction per candidate');
    pool = pool.filter(({ c, i }) => predicted[i] === c.labelIndex);
    passed = pool.length;
  }
  if (opts.dedup) {
    const seen = new Set<string>();
    pool = pool.filter(({ c }) => {
      const key = c.text.trim().toLowerCase().replace(/\s+/g, ' ');
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }
  const afterDedup = pool.length;
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
  return { kept, report: { input: candidates.length, passedLabelCheck: passed, afterDedup, kept: kept.length, perClass: perClass.map((p) => p.length) } };
}
