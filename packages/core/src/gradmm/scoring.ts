/** Scores of token sequences under the LM: matching loss of the ids themselves, and perplexity. */
import * as tf from '@tensorflow/tfjs-core';
import type { KVCache, Llama } from '../model/llama.js';
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
    // Log-probabilities of each next token, gathered on the device: [B, L] comes back instead of
    // the [B, L, V] table (12M numbers for a batch of 10 at L = 25, turned into JS arrays). Each is
    // picked by (position, token) with gatherND (the wasm backend's gather with batchDims reads out
    // of bounds), not by a one-hot table times the log-softmax, summed: the same numbers, since
    // every other term of that sum is a zero, without three passes over [B, L, V].
    const at = ids.flatMap((row, b) => row.map((_, i) => [b * L + i, i + 1 < L ? row[i + 1]! : 0]));
    const logp = tf.tidy(() => {
      const { logits } = model.forward({ ids, attentionMask: mask, logits: 'all' });
      const rows = tf.reshape(tf.logSoftmax(logits!), [chunk.length * L, model.config.vocabSize]);
      return tf.reshape(tf.gatherND(rows, tf.tensor2d(at, [chunk.length * L, 2], 'int32')), [chunk.length, L]).arraySync() as number[][];
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
 * Final hidden states [B, L, d] of `seqs` read after a batch-1 cache of a context (`prefix`, left
 * unchanged): each row continues from a copy of it, left-padded to the longest row (L) with the
 * padding masked between the context and the text, so every token keeps its position and every
 * row ends at the last position. Call inside a tidy. The context runs once for any number of rows.
 */
export function hiddenAfter(model: Llama, prefix: KVCache, seqs: number[][]): tf.Tensor3D {
  const { ids, mask } = leftPad(seqs, 0);
  const cache = prefix.expand(seqs.length);
  try {
    return model.forward({ ids, attentionMask: mask, cache, logits: 'none' }).hidden;
  } finally {
    cache.dispose();
  }
}

/**
 * Per-position reductions of the LM's next-token log-probabilities, for sequences read after
 * `context`, in left-padded batches: each reducer maps the [B, L, V] log-softmax to [B, L] on the
 * device, so only [B, L] comes back, not the table. out[i][r][k] is reducer r's value after the
 * context and the first k tokens of seqs[i], k = 0..n (k = 0 reads the context's last position).
 * The shared pass of the sentence-end cut and the comma pass.
 *
 * The context runs once, alone, and every batch continues from a copy of its keys and values (the
 * padding goes between the context and each text, masked, so positions are unchanged): the comma
 * pass's context of demonstrations is several times a text's length, and running it again for
 * every row was most of the pass.
 */
export function afterEachPrefix(model: Llama, context: number[], seqs: number[][], reducers: ((logp: tf.Tensor3D) => tf.Tensor2D)[], batchSize = 8): number[][][] {
  const { dModel: d, vocabSize: V } = model.config;
  const logSoftmaxOf = (h: tf.Tensor2D, B: number, L: number) => tf.logSoftmax(tf.reshape(model.logitsOf(h), [B, L, V])) as tf.Tensor3D;
  const { cache: prefix, last } = model.prefill(context);
  try {
    // k = 0: the distribution after the context alone, the same for every sequence.
    const atContext = tf.tidy(() => {
      const logp = logSoftmaxOf(last, 1, 1);
      return reducers.map((reduce) => (reduce(logp).arraySync() as number[][])[0]![0]!);
    });
    const out: number[][][] = [];
    for (let start = 0; start < seqs.length; start += batchSize) {
      const chunk = seqs.slice(start, start + batchSize);
      const L = Math.max(...chunk.map((s) => s.length));
      if (L === 0) {
        chunk.forEach(() => out.push(atContext.map((v) => [v])));
        continue;
      }
      const B = chunk.length;
      const values = tf.tidy(() => {
        const logp = logSoftmaxOf(tf.reshape(hiddenAfter(model, prefix, chunk), [B * L, d]) as tf.Tensor2D, B, L);
        return reducers.map((reduce) => reduce(logp).arraySync() as number[][]);
      });
      // After the first k >= 1 tokens of a row padded by `pad`: text index pad + k - 1.
      chunk.forEach((row, b) => {
        const pad = L - row.length;
        out.push(values.map((v, r) => [atContext[r]!, ...row.map((_, k) => v[b]![pad + k]!)]));
      });
    }
    return out;
  } finally {
    prefix.dispose();
    last.dispose();
  }
}
