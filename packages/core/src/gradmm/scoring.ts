/** Scores of token sequences under the LM: matching loss of the ids themselves, and perplexity. */
import * as tf from '@tensorflow/tfjs-core';
import type { Llama } from '../model/llama.js';
import { lastPosition } from '../model/llama.js';
import type { MatchingLoss } from './matching.js';
import { leftPad } from './prompt.js';

/** Per-sequence matching loss of full prompts (real token embeddings). */
export function matchingLossOfPrompts(model: Llama, loss: MatchingLoss, prompts: number[][]): number[] {
  const { ids, mask } = leftPad(prompts, 0);
  return tf.tidy(() => {
    const { hidden } = model.forward({ ids, attentionMask: mask, logits: 'none' });
    return Array.from(loss.perExample(lastPosition(hidden)).dataSync());
  });
}

/**
 * The final hidden states (last position) of prompts, each prompt forwarded once however often it
 * is asked for: a batch's scorers read the same student prompts (the end-mark check reads the
 * texts its marks changed, with and without them; the target classifier then reads the texts as
 * kept, most of them among those), and this lets them share the forwards. Misses are forwarded
 * together, `batchSize` at a time. Holds plain arrays: nothing to dispose.
 */
export class PromptStates {
  private readonly memo = new Map<string, Float32Array>();

  constructor(
    private readonly model: Llama,
    private readonly batchSize = 16,
  ) {}

  /** The states of `prompts` as rows of one [n, d] tensor, in their order (the caller disposes it). */
  of(prompts: number[][]): tf.Tensor2D {
    const d = this.model.config.dModel;
    const keys = prompts.map(key);
    const missing = new Map<string, number[]>();
    keys.forEach((k, i) => this.memo.has(k) || missing.set(k, prompts[i]!));
    const todo = [...missing];
    for (let i = 0; i < todo.length; i += this.batchSize) {
      const chunk = todo.slice(i, i + this.batchSize);
      const { ids, mask } = leftPad(chunk.map(([, p]) => p), 0);
      const rows = tf.tidy(() => lastPosition(this.model.forward({ ids, attentionMask: mask, logits: 'none' }).hidden).dataSync() as Float32Array);
      chunk.forEach(([k], j) => this.memo.set(k, rows.slice(j * d, (j + 1) * d)));
    }
    const out = new Float32Array(prompts.length * d);
    keys.forEach((k, i) => out.set(this.memo.get(k)!, i * d));
    return tf.tensor2d(out, [prompts.length, d]);
  }

  /** Per-prompt matching loss against `loss`'s target (matchingLossOfPrompts, sharing the forwards). */
  matchingLoss(loss: MatchingLoss, prompts: number[][]): number[] {
    return tf.tidy(() => Array.from(loss.perExample(this.of(prompts)).dataSync()));
  }
}

const key = (prompt: number[]) => prompt.join(',');

/**
 * The matching loss of prompts taken together (their summed gradient against the target, as
 * GRADMM matches a batch), forwarded in chunks of `batchSize`.
 */
export function setMatchingLossOfPrompts(model: Llama, loss: MatchingLoss, prompts: number[][], batchSize = 10): number {
  const parts: tf.Tensor2D[] = [];
  try {
    for (let i = 0; i < prompts.length; i += batchSize) {
      const { ids, mask } = leftPad(prompts.slice(i, i + batchSize), 0);
      parts.push(tf.tidy(() => lastPosition(model.forward({ ids, attentionMask: mask, logits: 'none' }).hidden)));
    }
    return tf.tidy(() => loss.loss(tf.concat(parts, 0)).dataSync()[0]);
  } finally {
    for (const p of parts) p.dispose();
  }
}

/**
 * Perplexity of each sequence: exp of the mean negative log-likelihood of tokens 2..n given the
 * tokens before them (no BOS: the model's files add none, so the first token has no context).
 */
export function perplexities(model: Llama, texts: number[][], batchSize = 8): number[] {
  const out: number[] = [];
  for (let start = 0; start < texts.length; start += batchSize) {
    const chunk = texts.slice(start, start + batchSize);
    const { ids, mask } = leftPad(chunk, 0);
    const L = ids[0].length;
    // Log-probabilities of each next token, gathered on the device: [B, L-1] comes back instead of
    // the [B, L, V] table (12M numbers for a batch of 10 at L = 25, turned into JS arrays).
    const next = ids.map((row) => [...row.slice(1), 0]);
    const logp = tf.tidy(() => {
      const { logits } = model.forward({ ids, attentionMask: mask, logits: 'all' });
      const V = model.config.vocabSize;
      const picked = tf.sum(tf.mul(tf.logSoftmax(logits!), tf.oneHot(tf.tensor2d(next, [chunk.length, L], 'int32'), V)), 2);
      return picked.arraySync() as number[][];
    });
    chunk.forEach((seq, b) => {
      const pad = L - seq.length;
      let nll = 0;
      for (let i = 1; i < seq.length; i++) nll -= logp[b][pad + i - 1];
      out.push(seq.length > 1 ? Math.exp(nll / (seq.length - 1)) : NaN);
    });
  }
  return out;
}

/**
 * Per-position reductions of the LM's next-token log-probabilities, for sequences read after
 * `context`, in left-padded batches: each reducer maps the [B, L, V] log-softmax to [B, L] on the
 * device, so only [B, L] comes back, not the table. out[i][r][k] is reducer r's value after the
 * context and the first k tokens of seqs[i], k = 0..n (k = 0 reads the context's last position).
 * The shared pass of the sentence-end cut and the comma pass.
 */
export function afterEachPrefix(model: Llama, context: number[], seqs: number[][], reducers: ((logp: tf.Tensor3D) => tf.Tensor2D)[], batchSize = 8): number[][][] {
  const out: number[][][] = [];
  for (let start = 0; start < seqs.length; start += batchSize) {
    const chunk = seqs.slice(start, start + batchSize).map((s) => [...context, ...s]);
    const { ids, mask } = leftPad(chunk, 0);
    const [B, L] = [ids.length, ids[0]!.length];
    // Only the window's last `tail` positions predict a token after the context (the longest row
    // has no padding): the head and the softmax over the vocabulary run on those alone, not on
    // the context (the comma pass's context of demonstrations is several times the text's length).
    const tail = Math.min(L, L - context.length + 1);
    const values = tf.tidy(() => {
      const { hidden } = model.forward({ ids, attentionMask: mask, logits: 'none' });
      const h = tf.reshape(tf.slice(hidden, [0, L - tail, 0], [-1, tail, -1]), [B * tail, model.config.dModel]) as tf.Tensor2D;
      const logp = tf.logSoftmax(tf.reshape(model.logitsOf(h), [B, tail, model.config.vocabSize])) as tf.Tensor3D;
      return reducers.map((reduce) => reduce(logp).arraySync() as number[][]);
    });
    chunk.forEach((row, b) => {
      // The distribution after the first k text tokens sits at window index pad + context + k - 1,
      // index pad + context + k - 1 - (L - tail) of the tail.
      const first = L - row.length + context.length - 1 - (L - tail);
      const n = row.length - context.length;
      out.push(values.map((v) => Array.from({ length: n + 1 }, (_, k) => v[b]![first + k]!)));
    });
  }
  return out;
}
