/**
 * Statistics of the model's last hidden states on public text: text the LM itself samples after
 * the task's label-blind context, read through the task's prompt (text + sentence end + suffix),
 * exactly as real and synthetic texts are read. They touch no private data, so using them to
 * post-process a released (noisy) target costs no privacy.
 *
 * Why they are needed (METHOD.md section 8): on a small model every text's
 * final hidden state is dominated by one shared direction (SmolLM2 on rtpolarity: the two
 * classes' mean states have cosine 0.995), so a class target built from raw states barely tells
 * the classes apart. The public mean names that shared direction and the public covariance says
 * how much each direction varies anyway; together they turn the released class sums into a
 * discriminant (target-classifier.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Llama } from '../model/llama.js';
import { lastPosition } from '../model/llama.js';
import { Rng } from '../util/rng.js';
import { leftPad } from './prompt.js';
import { sampleAllowed } from './sample.js';
import type { NextTokenBan } from './copy-ban.js';

export interface PublicStats {
  /** Texts the statistics come from. */
  count: number;
  dModel: number;
  /** Mean last hidden state, [d]. */
  mean: Float64Array;
  /** Covariance of the last hidden states (divided by count - 1), [d, d] row-major. */
  covariance: Float64Array;
  /**
   * The sampled texts themselves (token ids, without the suffix) and their last hidden states
   * [count, d] row-major, when the statistics were sampled here: what mined demonstrations are
   * picked from (mined-demonstrations.ts).
   */
  draws?: { ids: number[][]; hidden: Float32Array };
}

export interface PublicStatsOptions {
  /** LM context the public texts are sampled after (label-blind). */
  context: number[];
  /** Frozen tail read after each text (sentence end + suffix). */
  suffix: number[];
  allowed: Set<number>;
  /** A rule on the next token, as the synthetic texts' LM start follows it (the stray-space ban of a task with symbols). */
  ban?: NextTokenBan;
  /** Tokens per text. */
  length: number;
  /** Texts to sample (default 256). */
  count?: number;
  seed: number;
  batchSize?: number;
  /** Texts sampled and read so far, at the start and after each batch (a minute or so on a CPU: worth showing). */
  onProgress?: (done: number, total: number) => void;
}

/** Mean and covariance (float64) of rows [N, d]. */
export function meanAndCovariance(rows: Float32Array | Float64Array, n: number, d: number): { mean: Float64Array; covariance: Float64Array } {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) mean[k] += rows[i * d + k];
  for (let k = 0; k < d; k++) mean[k] /= n;
  const covariance = new Float64Array(d * d);
  const centred = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) centred[k] = rows[i * d + k] - mean[k];
    for (let a = 0; a < d; a++) {
      const ca = centred[a];
      if (ca === 0) continue;
      const row = a * d;
      for (let b = a; b < d; b++) covariance[row + b] += ca * centred[b];
    }
  }
  const div = Math.max(1, n - 1);
  for (let a = 0; a < d; a++)
    for (let b = a; b < d; b++) {
      const v = covariance[a * d + b] / div;
      covariance[a * d + b] = v;
      covariance[b * d + a] = v;
    }
  return { mean, covariance };
}

/** Sample `count` public texts and return the statistics of their last hidden states. */
export function publicHiddenStats(model: Llama, o: PublicStatsOptions): PublicStats {
  const count = o.count ?? 256;
  const parts: PublicStatsBatch[] = [];
  o.onProgress?.(0, count);
  for (const { start, n } of publicStatsBatches(o)) {
    parts.push(publicStatsBatch(model, o, start, n));
    o.onProgress?.(start + n, count);
  }
  return publicStatsOf(parts, count, model.config.dModel);
}

/** The texts of public statistics from `start` on: their ids and last hidden states [n, d] row-major. */
export interface PublicStatsBatch {
  start: number;
  ids: number[][];
  hidden: Float32Array;
}

/** The batches (first text, texts) the statistics' texts are sampled in, in order. */
export function publicStatsBatches(o: Pick<PublicStatsOptions, 'count' | 'batchSize'>): { start: number; n: number }[] {
  const count = o.count ?? 256;
  const bs = o.batchSize ?? 32;
  const out: { start: number; n: number }[] = [];
  for (let start = 0; start < count; start += bs) out.push({ start, n: Math.min(bs, count - start) });
  return out;
}

/**
 * Texts `start` .. `start + n - 1` of the statistics, sampled and read. Each text draws exactly
 * `length` numbers of the statistics' one stream (every row one a step; nothing stops a row early),
 * so a batch starts where the texts before it left the stream, and any batch can be computed on
 * its own (a worker thread) with the numbers one thread doing them in order would draw.
 */
export function publicStatsBatch(model: Llama, o: PublicStatsOptions, start: number, n: number): PublicStatsBatch {
  const d = model.config.dModel;
  const rng = Rng.derive(o.seed, 'public-stats').skip(start * o.length);
  const texts = sampleAllowed(model, o.allowed, o.context, n, o.length, rng, { ban: o.ban });
  const { ids, mask } = leftPad(texts.map((t) => [...t, ...o.suffix]), 0);
  const h = tf.tidy(() => lastPosition(model.forward({ ids, attentionMask: mask, logits: 'none' }).hidden));
  const hidden = (h.dataSync() as Float32Array).slice(0, n * d);
  h.dispose();
  return { start, ids: texts, hidden };
}

/** The statistics of every batch of `count` texts (in any order; each is placed by its start). */
export function publicStatsOf(parts: readonly PublicStatsBatch[], count: number, d: number): PublicStats {
  const rows = new Float32Array(count * d);
  const drawn: number[][] = new Array(count);
  let seen = 0;
  for (const p of parts) {
    rows.set(p.hidden, p.start * d);
    p.ids.forEach((ids, i) => (drawn[p.start + i] = ids));
    seen += p.ids.length;
  }
  let missing = seen !== count;
  for (let i = 0; i < count && !missing; i++) missing = drawn[i] === undefined;
  if (missing) throw new Error(`public statistics: ${seen} texts in the batches, ${count} expected`);
  return { count, dModel: d, ...meanAndCovariance(rows, count, d), draws: { ids: drawn, hidden: rows } };
}
