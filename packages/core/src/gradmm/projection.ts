/**
 * The Z-step (METHOD.md section 3): project continuous embeddings Y [B, L, d] onto readable
 * token sequences. At each position the k allowed tokens closest to Y_i in cosine are the
 * candidates, and the one the LM finds most likely after a fixed context plus the tokens chosen
 * so far wins (or, with a sampler, one drawn from the LM's distribution over the candidates at
 * a temperature: text as varied as the LM's own samples rather than its single likeliest path).
 * One incremental decode with a KV cache: L forward steps of B tokens in all (the reference
 * re-ran the whole prefix at every position).
 *
 * Optionally (`noRepeatNgram` n >= 1, as no_repeat_ngram_size in Hugging Face's generate), a
 * candidate that would repeat an n-gram the sequence already holds is passed over: greedy choice
 * among near-synonyms falls into loops ("funny and funny and funny and ...") that a reader and a
 * classifier both read as noise. Only the sequence's own tokens count, not the context.
 * The context's n-grams are the other ban (`noCopyNgram` n >= 2, copy-ban.ts): a candidate that
 * would copy an n-gram of the context (its demonstrations) is passed over too, and so is one a
 * caller's own rule excludes (a whitespace-led token after the lone space: vocab.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KVCache, Llama } from '../model/llama.js';
import { SynthgradError } from '../util/errors.js';
import type { Rng } from '../util/rng.js';
import { eitherBan, NgramBan, type NextTokenBan } from './copy-ban.js';
import { drawSoftmax } from './sample.js';

/** A draw among the candidates instead of the likeliest: softmax(logit / temperature) over them. */
export interface CandidateSampler {
  rng: Rng;
  temperature: number;
}

export class Projector {
  /** Unit-norm embeddings of the allowed tokens, transposed: [d, Va]. */
  private readonly allowedT: tf.Tensor2D;
  private readonly allowedIds: Int32Array;
  /** The context's n-grams (noCopyNgram) and the caller's own rule (`ban`), as one. */
  private readonly ban: NextTokenBan | undefined;

  constructor(
    private readonly model: Llama,
    allowedIds: number[],
    readonly topK: number,
    /** Token ids of the fixed LM context in front of the projected tokens (non-empty). */
    readonly context: number[],
    /** n >= 1: pass over candidates that repeat an n-gram of the sequence (0: off). */
    readonly noRepeatNgram = 0,
    /** n >= 2: pass over candidates that copy an n-gram of the context (0: off). */
    readonly noCopyNgram = 0,
    /** Another rule on the next token (the stray-space ban of a task with symbols: vocab.ts). */
    ban?: NextTokenBan,
  ) {
    if (!(Number.isInteger(noRepeatNgram) && noRepeatNgram >= 0)) throw new SynthgradError(`projection: noRepeatNgram must be an integer >= 0, got ${noRepeatNgram}`);
    this.ban = eitherBan(noCopyNgram === 0 ? undefined : new NgramBan(context, noCopyNgram), ban);
    if (allowedIds.length === 0) throw new SynthgradError('projection: no allowed tokens');
    if (context.length === 0) throw new SynthgradError('projection: the LM context must have at least one token');
    if (!(topK >= 1)) throw new SynthgradError(`projection: top-k must be >= 1, got ${topK}`);
    this.allowedIds = Int32Array.from(allowedIds);
    this.allowedT = tf.tidy(() => {
      const cols = tf.gather(model.embeddingT, tf.tensor1d(this.allowedIds, 'int32'), 1); // [d, Va]
      return tf.div(cols, tf.maximum(tf.norm(cols, 2, 0, true), 1e-12)) as tf.Tensor2D;
    });
  }

  /** For each of the B*L rows of Y, the candidate token ids (closest first), [B][L][k]. */
  candidates(Y: tf.Tensor3D): number[][][] {
    const [B, L, d] = Y.shape;
    const k = Math.min(this.topK, this.allowedIds.length);
    const idx = tf.tidy(() => {
      const y = tf.reshape(Y, [B * L, d]) as tf.Tensor2D;
      const yn = tf.div(y, tf.maximum(tf.norm(y, 2, 1, true), 1e-12)) as tf.Tensor2D;
      return tf.topk(tf.matMul(yn, this.allowedT), k).indices;
    });
    const flat = idx.dataSync();
    idx.dispose();
    const out: number[][][] = [];
    for (let b = 0; b < B; b++) {
      const rows: number[][] = [];
      for (let i = 0; i < L; i++) {
        const o = (b * L + i) * k;
        rows.push(Array.from(flat.subarray(o, o + k), (j) => this.allowedIds[j]));
      }
      out.push(rows);
    }
    return out;
  }

  /**
   * The context's keys and values (batch 1) and its next-token logits, computed on the first
   * projection and reused by the later ones: ADMM projects the same batch several times under one
   * context, and the context can be longer than the text (demonstrations).
   */
  private prefix: { cache: KVCache; logits: tf.Tensor2D } | null = null;

  private contextPrefix(): { cache: KVCache; logits: tf.Tensor2D } {
    if (!this.prefix) {
      const { cache, last } = this.model.prefill(this.context);
      this.prefix = { cache, logits: this.model.logitsOf(last) };
      last.dispose();
    }
    return this.prefix;
  }

  /** Token ids [B][L] for Y, decoded left to right with a KV cache. */
  project(Y: tf.Tensor3D, sampler?: CandidateSampler): number[][] {
    const cands = this.candidates(Y);
    const [B, L] = Y.shape;
    const prefix = this.contextPrefix();
    const cache = prefix.cache.expand(B);
    let logits = tf.tidy(() => tf.tile(prefix.logits, [B, 1])) as tf.Tensor2D;
    const chosen: number[][] = Array.from({ length: B }, () => []);
    try {
      for (let i = 0; i < L; i++) {
        const step = pickByLogits(logits, this.allowedAt(cands, chosen, i), sampler);
        step.forEach((id, b) => chosen[b].push(id));
        logits.dispose();
        if (i === L - 1) break;
        const out = this.model.forward({ ids: step.map((id) => [id]), cache, logits: 'last' });
        out.hidden.dispose();
        logits = out.logits as tf.Tensor2D;
      }
    } finally {
      cache.dispose();
    }
    return chosen;
  }

  /** The same choice by full recomputation at every position (quadratic; the test oracle). */
  projectByRecompute(Y: tf.Tensor3D, sampler?: CandidateSampler): number[][] {
    const cands = this.candidates(Y);
    const [B, L] = Y.shape;
    const chosen: number[][] = Array.from({ length: B }, () => []);
    for (let i = 0; i < L; i++) {
      const out = this.model.forward({ ids: chosen.map((c) => [...this.context, ...c]), logits: 'last' });
      const step = pickByLogits(out.logits as tf.Tensor2D, this.allowedAt(cands, chosen, i), sampler);
      out.hidden.dispose();
      out.logits!.dispose();
      step.forEach((id, b) => chosen[b].push(id));
    }
    return chosen;
  }

  /** Position i's candidates per row, less those the bans exclude (all of them if they would exclude every one). */
  private allowedAt(cands: number[][][], chosen: number[][], i: number): number[][] {
    if (this.noRepeatNgram === 0 && !this.ban) return cands.map((c) => c[i]);
    return cands.map((c, b) => {
      const repeats = this.noRepeatNgram > 0 ? bannedNext(chosen[b], this.noRepeatNgram) : undefined;
      const banned = this.ban?.bannedAfter(chosen[b]);
      if (!repeats?.size && !banned) return c[i];
      const ok = c[i].filter((id) => !repeats?.has(id) && !banned?.has(id));
      return ok.length > 0 ? ok : c[i];
    });
  }

  dispose(): void {
    this.allowedT.dispose();
    this.prefix?.cache.dispose();
    this.prefix?.logits.dispose();
    this.prefix = null;
  }
}

/**
 * The tokens that, appended to `prefix`, would complete an n-gram already in it: those that
 * followed an earlier occurrence of its last n - 1 tokens (n = 1: every token in it). One pass
 * over the prefix: texts here are tens of tokens.
 */
export function bannedNext(prefix: readonly number[], n: number): Set<number> {
  const banned = new Set<number>();
  const tail = prefix.length - (n - 1); // start of the n-1 tokens the new n-gram begins with
  for (let s = 0; s + n <= prefix.length; s++) {
    let same = true;
    for (let j = 0; j < n - 1 && same; j++) same = prefix[s + j] === prefix[tail + j];
    if (same) banned.add(prefix[s + n - 1]);
  }
  return banned;
}

/** Whether appending `next` to `prefix` completes an n-gram that already occurs in `prefix`. */
export function repeatsNgram(prefix: readonly number[], next: number, n: number): boolean {
  return n >= 1 && bannedNext(prefix, n).has(next);
}

/**
 * Per row b, the candidate with the highest logit (ties: the closer candidate), or with a sampler
 * one drawn with probability softmax(logit / T) over the candidates (one uniform per row, rows in
 * order, so the cached and the recomputing decode draw alike).
 */
function pickByLogits(logits: tf.Tensor2D, candidates: number[][], sampler?: CandidateSampler): number[] {
  const V = logits.shape[1];
  const data = logits.dataSync();
  if (sampler) return candidates.map((cs, b) => cs[drawSoftmax(cs.map((c) => data[b * V + c] / sampler.temperature), sampler.rng)]);
  return candidates.map((cs, b) => {
    let best = cs[0];
    for (const c of cs) if (data[b * V + c] > data[b * V + best]) best = c;
    return best;
  });
}
