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
  /** Texts sampled and read so far, after each batch (a minute or more on a CPU: worth showing). */
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
  const bs = o.batchSize ?? 32;
  const d = model.config.dModel;
  const rng = Rng.derive(o.seed, 'public-stats');
  const rows = new Float32Array(count * d);
  const drawn: number[][] = [];
  for (let start = 0; start < count; start += bs) {
    const n = Math.min(bs, count - start);
    const texts = sampleAllowed(model, o.allowed, o.context, n, o.length, rng, { ban: o.ban });
    drawn.push(...texts);
    const { ids, mask } = leftPad(texts.map((t) => [...t, ...o.suffix]), 0);
    const h = tf.tidy(() => lastPosition(model.forward({ ids, attentionMask: mask, logits: 'none' }).hidden));
    rows.set(h.dataSync() as Float32Array, start * d);
    h.dispose();
    o.onProgress?.(start + n, count);
  }
  return { count, dModel: d, ...meanAndCovariance(rows, count, d), draws: { ids: drawn, hidden: rows } };
}
