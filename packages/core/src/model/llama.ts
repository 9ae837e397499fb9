/**
 * The llama architecture in TensorFlow.js, in one file: RMSNorm, rotary position embeddings,
 * grouped-query attention, SwiGLU MLP, tied or untied head.
 *
 * Design choices, for speed and memory on the wasm backend without changing results:
 * - Every weight is stored once, as W^T [in, out], so the forward product x @ W^T is a plain
 *   matmul against a constant that XNNPACK packs once and caches. On wasm the input gradient
 *   dx = dy @ W is formed as (W^T @ dy^T)^T: again no transposed operand, and only the small
 *   activation-sized dy^T is packed per call (the native kernels take W transposed in place,
 *   constantMatMul). tfjs autodiff would instead transpose and clone W
 *   on every backward, and keeping a second [out, in] copy for the backward doubles memory
 *   (tensor plus packed copy) beyond the ~2 GiB the wasm backend handles reliably.
 * - The tied embedding/head matrix is kept only as E^T [d, V]; lookups gather its columns.
 * - Grouped-query attention never materialises repeated K/V heads: the query heads that share a
 *   KV head are folded into the row dimension of one batched product.
 * - By default only the gradient with respect to the input (embeddings) is formed; weights are
 *   constants to autodiff. Fine-tuning either attaches LoRA adapters (trainable variables beside
 *   the frozen weights, `attachLora`) or builds the model with `trainable: true` (every weight a
 *   variable, plain autodiff: full fine-tuning, at the memory cost of weights + gradients + Adam).
 */
import * as tf from '@tensorflow/tfjs-core';
import '../backend/gradients.js';
import type { LlamaConfig } from './config.js';
import { validateConfig } from './config.js';
import type { LlamaWeights } from './weights.js';
import { validateWeights } from './weights.js';
import { SynthgradError } from '../util/errors.js';
import { transpose2d } from '../util/transpose.js';
import { Rng } from '../util/rng.js';

/** Positions per recorded forward+backward before the batch is split on wasm (B=12 at L=32). */
const WASM_MAX_TOKENS = 384;

/** Additive mask value; large but finite so fully masked rows stay finite. */
const NEG = -1e9;

type LinearFn = (x: tf.Tensor) => tf.Tensor;

/**
 * x [..., in] @ wIO [in, out] with the input gradient dx = dy @ wIO^T. Gradients flow to x only.
 * On wasm the backward is formed as (wIO @ dy^T)^T: both products untransposed, the constant
 * always the left operand of the backward and the right operand of the forward, so XNNPACK never
 * copies the weight. The native kernels read a transposed operand in place, so there it is one
 * product with wIO transposed in the kernel: the two transposes were 13% of a forward + backward
 * (docs/EXPERIMENTS.md, fortieth stop).
 */
function constantMatMul(wIO: tf.Tensor2D, custom: boolean): LinearFn {
  if (!custom) return autodiffMatMul(wIO);
  const [inDim, outDim] = wIO.shape;
  const f = (x: tf.Tensor) => {
    const lead = x.shape.slice(0, -1);
    // A 2-D input (the one-token decode's [B, d]) needs no reshape: each is an op dispatched.
    const flat = x.rank === 2;
    const value = flat ? tf.matMul(x as tf.Tensor2D, wIO) : tf.reshape(tf.matMul(tf.reshape(x, [-1, inDim]) as tf.Tensor2D, wIO), [...lead, outDim]);
    // The engine runs the whole backward pass in one tidy; this inner one frees dy^T (and the
    // XNNPACK packing made for it) as soon as the product exists.
    const gradFunc = (dy: tf.Tensor) =>
      tf.tidy(() => {
        const dy2 = (flat ? dy : tf.reshape(dy, [-1, outDim])) as tf.Tensor2D;
        const dx = tf.getBackend() === 'wasm' ? tf.transpose(tf.matMul(wIO, tf.transpose(dy2))) : tf.matMul(dy2, wIO, false, true);
        return flat ? dx : tf.reshape(dx, [...lead, inDim]);
      });
    return { value, gradFunc };
  };
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as LinearFn;
}

/** The same product left to tfjs autodiff (dx = dy @ wIO^T, a transposed matmul): the baseline and oracle. */
function autodiffMatMul(wIO: tf.Tensor2D): LinearFn {
  const [inDim, outDim] = wIO.shape;
  return (x) => (x.rank === 2 ? tf.matMul(x as tf.Tensor2D, wIO) : tf.reshape(tf.matMul(tf.reshape(x, [-1, inDim]) as tf.Tensor2D, wIO), [...x.shape.slice(0, -1), outDim]));
}

export interface LlamaOptions {
  /**
   * 'custom' (default): linear layers and the head use the closed-form input gradient against a
   * stored W. 'autodiff': plain tfjs autodiff (less memory, transposed products in the backward);
   * kept as the oracle for the custom path and as the benchmark baseline.
   */
  gradient?: 'custom' | 'autodiff';
  /** Every weight a trainable variable (full fine-tuning); implies autodiff gradients. */
  trainable?: boolean;
}

/** The projections LoRA adapts: all of attention's and the MLP's. */
export const LORA_PROJECTIONS = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const;
export type Projection = (typeof LORA_PROJECTIONS)[number];

export interface LoraOptions {
  rank: number;
  /** Scale alpha / rank on the adapter's output (default alpha = 2 * rank). */
  alpha?: number;
  seed?: number;
  /** Which projections to adapt (default all of LORA_PROJECTIONS). */
  projections?: readonly Projection[];
}

interface Layer {
  attnNorm: tf.Tensor1D;
  q: LinearFn;
  k: LinearFn;
  v: LinearFn;
  o: LinearFn;
  ffnNorm: tf.Tensor1D;
  gate: LinearFn;
  up: LinearFn;
  down: LinearFn;
}

/** Keys and values of past positions, per layer: [B, nKvHeads, T, headDim] (keys after RoPE). */
export class KVCache {
  keys: (tf.Tensor4D | null)[];
  values: (tf.Tensor4D | null)[];
  /** Attention mask of the cached positions, per sequence. */
  mask: number[][];

  constructor(nLayers: number, readonly batch: number) {
    this.keys = new Array(nLayers).fill(null);
    this.values = new Array(nLayers).fill(null);
    this.mask = Array.from({ length: batch }, () => []);
  }

  get length(): number {
    return this.mask[0]?.length ?? 0;
  }

  /** A cache of batch `b` repeating every sequence of a batch-1 cache (e.g. a shared prompt prefix). */
  expand(b: number): KVCache {
    if (this.batch !== 1) throw new SynthgradError(`KVCache.expand needs a batch-1 cache, this one has batch ${this.batch}`);
    const out = new KVCache(this.keys.length, b);
    out.keys = this.keys.map((k) => (k ? tf.keep(tf.tidy(() => tf.tile(k, [b, 1, 1, 1]) as tf.Tensor4D)) : null));
    out.values = this.values.map((v) => (v ? tf.keep(tf.tidy(() => tf.tile(v, [b, 1, 1, 1]) as tf.Tensor4D)) : null));
    out.mask = Array.from({ length: b }, () => [...this.mask[0]]);
    return out;
  }

  dispose(): void {
    for (const t of [...this.keys, ...this.values]) t?.dispose();
    this.keys.fill(null);
    this.values.fill(null);
  }
}

export interface ForwardInput {
  /** Token ids [B][L]; give either ids or embeds. */
  ids?: number[][];
  /** Input embeddings [B, L, d]. */
  embeds?: tf.Tensor3D;
  /** 1 for real tokens, 0 for padding, [B][L] (padding on the left keeps the last position real). */
  attentionMask?: number[][];
  /** Past keys/values; updated in place with this call's positions. */
  cache?: KVCache;
  /** Which logits to compute: every position, the last one only, or none. Default 'last'. */
  logits?: 'all' | 'last' | 'none';
  /**
   * One new position after a cache takes the decode path (decodeStates) unless this is true:
   * the general layers, kept as its oracle and benchmark baseline.
   */
  generalPath?: boolean;
}

export interface ForwardOutput {
  /** Final (normed) hidden states [B, L, d]. */
  hidden: tf.Tensor3D;
  /** [B, L, V] for 'all', [B, V] for 'last'. */
  logits?: tf.Tensor;
}

export class Llama {
  readonly config: LlamaConfig;
  /** Output head, transposed: W^T [d, V]. */
  readonly headT: tf.Tensor2D;
  /** Input embeddings, transposed: E^T [d, V] (the same tensor as headT when tied). */
  readonly embeddingT: tf.Tensor2D;
  private readonly layers: Layer[];
  private readonly finalNorm: tf.Tensor1D;
  private readonly headFn: LinearFn;
  private readonly owned: tf.Tensor[] = [];
  private readonly invFreq: Float32Array;
  /** rotate_half as a product, for the decode path (rotateHalfMatrix). */
  private readonly rotateHalf: tf.Tensor2D;
  /** The layers' own projections while LoRA adapters are attached (to detach them). */
  private baseLayers: Layer[] | null = null;
  private readonly trainable: boolean;
  private loraVariables: tf.Variable[] = [];

  constructor(config: LlamaConfig, weights: LlamaWeights, options: LlamaOptions = {}) {
    this.config = validateConfig({ ...config });
    validateWeights(this.config, weights);
    const c = this.config;
    const own = <T extends tf.Tensor>(t: T): T => {
      this.owned.push(t);
      return t;
    };
    // Hugging Face layout W [out, in]; the forward product needs W^T [in, out].
    const trainable = options.trainable ?? false;
    this.trainable = trainable;
    const custom = !trainable && (options.gradient ?? 'custom') === 'custom';
    const param = <T extends tf.Tensor>(t: T): T => {
      if (!trainable) return own(t);
      const v = tf.variable(t, true) as unknown as T;
      t.dispose();
      return own(v);
    };
    const linear = (w: Float32Array, out: number, inp: number): LinearFn =>
      constantMatMul(param(tf.tensor2d(transpose2d(w, out, inp), [inp, out])), custom);
    this.embeddingT = param(tf.tensor2d(transpose2d(weights.embed, c.vocabSize, c.dModel), [c.dModel, c.vocabSize]));
    this.headT = weights.head
      ? param(tf.tensor2d(transpose2d(weights.head, c.vocabSize, c.dModel), [c.dModel, c.vocabSize]))
      : this.embeddingT;
    this.headFn = constantMatMul(this.headT, custom);
    const q = c.nHeads * c.headDim;
    const kv = c.nKvHeads * c.headDim;
    this.layers = weights.layers.map((lw) => ({
      attnNorm: param(tf.tensor1d(lw.attnNorm)),
      q: linear(lw.wq, q, c.dModel),
      k: linear(lw.wk, kv, c.dModel),
      v: linear(lw.wv, kv, c.dModel),
      o: linear(lw.wo, c.dModel, q),
      ffnNorm: param(tf.tensor1d(lw.ffnNorm)),
      gate: linear(lw.wGate, c.ffnDim, c.dModel),
      up: linear(lw.wUp, c.ffnDim, c.dModel),
      down: linear(lw.wDown, c.dModel, c.ffnDim),
    }));
    this.finalNorm = param(tf.tensor1d(weights.finalNorm));
    this.rotateHalf = own(rotateHalfMatrix(c.headDim));
    const half = c.headDim / 2;
    this.invFreq = new Float32Array(half);
    for (let i = 0; i < half; i++) this.invFreq[i] = 1 / Math.pow(c.ropeTheta, (2 * i) / c.headDim);
  }

  /** Look up input embeddings for token ids: [B, L, d]. */
  embed(ids: number[][]): tf.Tensor3D {
    const { vocabSize } = this.config;
    const L = checkRectangular(ids, 'ids');
    for (const row of ids) {
      for (const id of row) {
        if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new SynthgradError(`token id ${id} is outside the vocabulary [0, ${vocabSize})`);
      }
    }
    return tf.tidy(() => {
      const flat = ids.flat();
      const cols = this.trainable ? gatherColumnsTrainable(this.embeddingT, flat) : tf.gather(this.embeddingT, tf.tensor1d(flat, 'int32'), 1); // [d, B*L]
      return tf.reshape(tf.transpose(cols), [ids.length, L, this.config.dModel]);
    });
  }

  /** Forward pass. Caller disposes the returned tensors. */
  forward(input: ForwardInput): ForwardOutput {
    const c = this.config;
    if ((input.ids === undefined) === (input.embeds === undefined)) throw new SynthgradError('forward: give exactly one of ids or embeds');
    const embeds = input.embeds ?? this.embed(input.ids!);
    try {
      const [B, L, d] = embeds.shape;
      if (d !== c.dModel) throw new SynthgradError(`forward: embeddings have width ${d}, the model expects ${c.dModel}`, 'E_SHAPE_MISMATCH');
      const cache = input.cache;
      if (cache && cache.batch !== B) throw new SynthgradError(`forward: cache batch ${cache.batch} != input batch ${B}`, 'E_SHAPE_MISMATCH');
      const past = cache?.length ?? 0;
      if (past + L > c.contextLength) throw new SynthgradError(`forward: ${past + L} positions exceed the model's context of ${c.contextLength}`);
      const newMask = input.attentionMask ?? Array.from({ length: B }, () => new Array<number>(L).fill(1));
      if (newMask.length !== B || checkRectangular(newMask, 'attentionMask') !== L) {
        throw new SynthgradError(`forward: attentionMask must be [${B}][${L}]`, 'E_SHAPE_MISMATCH');
      }
      const fullMask = newMask.map((row, b) => [...(cache?.mask[b] ?? []), ...row]);
      const newKeys: tf.Tensor4D[] = [];
      const newValues: tf.Tensor4D[] = [];
      const out = tf.tidy(() => {
        const mode = input.logits ?? 'last';
        if (cache && L === 1 && !input.generalPath) {
          // One new token a sequence after a cache: the decode loop of the projection and the LM
          // start, where dispatching ops, not arithmetic, is most of the time.
          const h = this.decodeStates(tf.reshape(embeds, [B, d]) as tf.Tensor2D, fullMask, past, cache, newKeys, newValues);
          const hidden = tf.reshape(h, [B, 1, d]) as tf.Tensor3D;
          if (mode === 'none') return { hidden };
          return { hidden, logits: mode === 'last' ? this.logitsOf(h) : tf.reshape(this.logitsOf(h), [B, 1, c.vocabSize]) };
        }
        const hidden = this.hiddenStates(embeds, fullMask, past, cache, newKeys, newValues);
        if (mode === 'none') return { hidden };
        if (mode === 'last') return { hidden, logits: this.logitsOf(lastPosition(hidden)) };
        return { hidden, logits: tf.reshape(this.logitsOf(tf.reshape(hidden, [B * L, d]) as tf.Tensor2D), [B, L, c.vocabSize]) };
      });
      if (cache) {
        cache.dispose();
        cache.keys = newKeys;
        cache.values = newValues;
        cache.mask = fullMask;
      }
      return out;
    } finally {
      if (!input.embeds) embeds.dispose();
    }
  }

  /** Columns of the head W^T for some token ids, [d, n] (differentiable when the model is trainable). */
  headColumns(ids: number[]): tf.Tensor2D {
    return tf.tidy(() => (this.trainable ? gatherColumnsTrainable(this.headT, ids) : (tf.gather(this.headT, tf.tensor1d(ids, 'int32'), 1) as tf.Tensor2D)));
  }

  /** Logits for hidden states [N, d] -> [N, V]. */
  logitsOf(h: tf.Tensor2D): tf.Tensor2D {
    return this.headFn(h) as tf.Tensor2D;
  }

  /**
   * Value and gradient of a scalar function of the final hidden states with respect to the
   * input embeddings: one forward, one backward. Caller disposes `grad`.
   *
   * A recorded pass keeps every intermediate of every layer until the backward ends, and the wasm
   * backend is unreliable past ~2 GiB, so there batches of more than `maxTokens` positions are split:
   * hidden states are computed without a tape, the objective is differentiated with respect to
   * them, and each chunk back-propagates its share (the chain rule, exactly; one extra forward).
   * The native backends have no such heap, so they split only when `maxTokens` is given.
   */
  valueAndGradWrtEmbeddings(
    embeds: tf.Tensor3D,
    objective: (hidden: tf.Tensor3D) => tf.Scalar,
    attentionMask?: number[][],
    opts: { maxTokens?: number } = {},
  ): { value: number; grad: tf.Tensor3D } {
    const [B, L, d] = embeds.shape;
    if (d !== this.config.dModel) throw new SynthgradError(`embeddings have width ${d}, the model expects ${this.config.dModel}`, 'E_SHAPE_MISMATCH');
    const mask = attentionMask ?? Array.from({ length: B }, () => new Array<number>(L).fill(1));
    const maxTokens = opts.maxTokens ?? (tf.getBackend() === 'wasm' ? WASM_MAX_TOKENS : Infinity);
    const perChunk = Math.max(1, Math.floor(maxTokens / L));
    if (B <= perChunk) {
      const fn = tf.valueAndGrad((x: tf.Tensor) => objective(this.hiddenStates(x as tf.Tensor3D, mask, 0, undefined, [], [])));
      const { value, grad } = fn(embeds);
      const v = value.dataSync()[0];
      value.dispose();
      return { value: v, grad: grad as tf.Tensor3D };
    }
    const starts = Array.from({ length: Math.ceil(B / perChunk) }, (_, i) => i * perChunk);
    const slice = (t: tf.Tensor3D, s: number) => tf.slice(t, [s, 0, 0], [Math.min(perChunk, B - s), L, d]) as tf.Tensor3D;
    const hidden = tf.tidy(() =>
      tf.concat(starts.map((s) => tf.tidy(() => this.hiddenStates(slice(embeds, s), mask.slice(s, s + perChunk), 0, undefined, [], [])))),
    ) as tf.Tensor3D;
    const { value, grad: gHidden } = tf.valueAndGrad((h: tf.Tensor) => objective(h as tf.Tensor3D))(hidden);
    hidden.dispose();
    const v = value.dataSync()[0];
    value.dispose();
    const parts = starts.map((s) =>
      tf.tidy(() => {
        const gH = slice(gHidden as tf.Tensor3D, s);
        const vjp = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(this.hiddenStates(x as tf.Tensor3D, mask.slice(s, s + perChunk), 0, undefined, [], []), gH)));
        return vjp(slice(embeds, s));
      }),
    );
    gHidden.dispose();
    const grad = tf.concat(parts) as tf.Tensor3D;
    for (const p of parts) p.dispose();
    return { value: v, grad };
  }

  /**
   * One tiny forward+backward so the backend prepares every weight now (XNNPACK packs each
   * constant matrix on first use). Doing it before any activation exists keeps those long-lived
   * blocks together at the bottom of the 4 GiB wasm heap instead of fragmenting it, and moves
   * the packing time out of the first real step.
   */
  warmup(): void {
    const x = this.embed([[0, 0]]);
    const { grad } = this.valueAndGradWrtEmbeddings(x, (h) => tf.tidy(() => tf.sum(this.logitsOf(lastPosition(h))) as tf.Scalar));
    grad.dispose();
    x.dispose();
  }

  /** The weights as variables, when built with `trainable: true` (else empty). */
  trainableWeights(): tf.Variable[] {
    return this.owned.filter((t): t is tf.Variable => t instanceof tf.Variable);
  }

  /**
   * Attach LoRA adapters: each adapted projection computes x W^T + (alpha/r) (x A) B with A [in, r]
   * ~ N(0, 1/in) and B [r, out] = 0, so the adapted model starts exactly equal to the base model.
   * Only A and B are variables; the frozen product keeps its closed-form input gradient.
   */
  attachLora(o: LoraOptions): tf.Variable[] {
    if (this.baseLayers) throw new SynthgradError('LoRA adapters are already attached; detach them first');
    if (!Number.isInteger(o.rank) || o.rank < 1) throw new SynthgradError(`LoRA rank must be a positive integer, got ${o.rank}`);
    const c = this.config;
    const qDim = c.nHeads * c.headDim;
    const kvDim = c.nKvHeads * c.headDim;
    const dims: Record<Projection, [number, number]> = {
      q: [c.dModel, qDim],
      k: [c.dModel, kvDim],
      v: [c.dModel, kvDim],
      o: [qDim, c.dModel],
      gate: [c.dModel, c.ffnDim],
      up: [c.dModel, c.ffnDim],
      down: [c.ffnDim, c.dModel],
    };
    const scale = (o.alpha ?? 2 * o.rank) / o.rank;
    const rng = new Rng(o.seed ?? 0);
    this.baseLayers = this.layers.map((l) => ({ ...l }));
    this.layers.forEach((layer, i) => {
      for (const p of o.projections ?? LORA_PROJECTIONS) {
        const [inDim, outDim] = dims[p];
        const a = tf.variable(tf.tensor2d(rng.normals(inDim * o.rank, 1 / Math.sqrt(inDim)), [inDim, o.rank]), true, `lora.${i}.${p}.a`);
        const b = tf.variable(tf.zeros([o.rank, outDim]), true, `lora.${i}.${p}.b`);
        this.loraVariables.push(a, b);
        const base = layer[p];
        layer[p] = (x) => {
          const lead = x.shape.slice(0, -1);
          const delta = tf.matMul(tf.matMul(tf.reshape(x, [-1, inDim]) as tf.Tensor2D, a), b);
          return tf.add(base(x), tf.reshape(tf.mul(delta, scale), [...lead, outDim]));
        };
      }
    });
    return [...this.loraVariables];
  }

  /** Remove LoRA adapters (and free them): the model is the base model again. */
  detachLora(): void {
    if (!this.baseLayers) return;
    this.baseLayers.forEach((l, i) => Object.assign(this.layers[i]!, l));
    this.baseLayers = null;
    for (const v of this.loraVariables) v.dispose();
    this.loraVariables = [];
  }

  createCache(batch: number): KVCache {
    return new KVCache(this.config.nLayers, batch);
  }

  /**
   * A context run once, alone: its keys and values (batch 1), from which `expand` continues any
   * number of rows, and its final state at the last position [1, d]. The caller disposes both.
   */
  prefill(context: number[]): { cache: KVCache; last: tf.Tensor2D } {
    if (context.length === 0) throw new SynthgradError('prefill: the context must have at least one token');
    const cache = this.createCache(1);
    const { hidden } = this.forward({ ids: [context], cache, logits: 'none' });
    const last = tf.tidy(() => lastPosition(hidden));
    hidden.dispose();
    return { cache, last };
  }

  dispose(): void {
    this.detachLora();
    for (const t of this.owned) t.dispose();
    this.owned.length = 0;
  }

  // ---------------------------------------------------------------------------------------------

  private hiddenStates(
    x0: tf.Tensor3D,
    fullMask: number[][],
    past: number,
    cache: KVCache | undefined,
    newKeys: tf.Tensor4D[],
    newValues: tf.Tensor4D[],
  ): tf.Tensor3D {
    const c = this.config;
    const [B, L] = x0.shape;
    const { cos, sin } = this.rotary(fullMask, past, L);
    const bias = attentionBias(fullMask, past, L);
    let x: tf.Tensor3D = x0;
    this.layers.forEach((layer, i) => {
      // One tidy per layer: only the residual stream (and, when recording, what the gradient
      // needs, which the engine keeps) outlives the layer, so memory does not grow with depth.
      x = tf.tidy(() => {
        const h = rmsNorm(x, layer.attnNorm, c.rmsEps);
        const { out, k, v } = this.attention(layer, h, cos, sin, bias, cache?.keys[i] ?? null, cache?.values[i] ?? null);
        if (cache) {
          newKeys.push(tf.keep(k));
          newValues.push(tf.keep(v));
        }
        const x1 = tf.add(x, out);
        const h2 = rmsNorm(x1, layer.ffnNorm, c.rmsEps);
        const g = layer.gate(h2);
        const mlp = layer.down(tf.mul(tf.mul(g, tf.sigmoid(g)), layer.up(h2)));
        return tf.add(x1, mlp) as tf.Tensor3D;
      });
    });
    return rmsNorm(x, this.finalNorm, c.rmsEps);
  }

  /**
   * hiddenStates for L = 1 after a cache, with the same products and sums in the same order (so
   * the same numbers: the test compares them bit for bit), in about 44 ops a layer instead of 71.
   * With one position the residual stream stays [B, d] and a head split is a reshape, never a
   * transpose; RoPE rotates queries and keys in one pass, its rotate_half a product with a fixed
   * +-1 permutation (exact); the additive mask is skipped when it masks nothing (adding 0).
   */
  private decodeStates(
    x0: tf.Tensor2D,
    fullMask: number[][],
    past: number,
    cache: KVCache,
    newKeys: tf.Tensor4D[],
    newValues: tf.Tensor4D[],
  ): tf.Tensor2D {
    const c = this.config;
    const { nHeads, nKvHeads, headDim, dModel } = c;
    const B = x0.shape[0];
    const rep = nHeads / nKvHeads;
    const T = past + 1;
    const { cos, sin } = this.rotary(fullMask, past, 1); // [B, 1, 1, hd]
    const cos3 = tf.reshape(cos, [B, 1, headDim]);
    const sin3 = tf.reshape(sin, [B, 1, headDim]);
    const rotate = this.rotateHalf;
    const masked = fullMask.some((m) => m.some((v) => !v));
    // [B * nKvHeads, 1, T]: row (b, g) masks what sequence b masks.
    const bias = masked ? tf.reshape(tf.tile(tf.reshape(attentionBias(fullMask, past, 1), [B, 1, T]), [1, nKvHeads, 1]), [B * nKvHeads, 1, T]) : null;
    let x: tf.Tensor2D = x0;
    this.layers.forEach((layer, i) => {
      x = tf.tidy(() => {
        const h = rmsNorm(x, layer.attnNorm, c.rmsEps);
        const qk = tf.concat([tf.reshape(layer.q(h), [B, nHeads, headDim]), tf.reshape(layer.k(h), [B, nKvHeads, headDim])], 1);
        const roped = tf.add(tf.mul(qk, cos3), tf.mul(tf.matMul(qk, rotate), sin3));
        const [q, kNew] = tf.split(roped, [nHeads, nKvHeads], 1);
        const append = (past: tf.Tensor4D | null, t: tf.Tensor) => {
          const one = tf.reshape(t, [B, nKvHeads, 1, headDim]) as tf.Tensor4D;
          return past ? (tf.concat([past, one], 2) as tf.Tensor4D) : one;
        };
        const k = append(cache.keys[i], kNew);
        const v = append(cache.values[i], layer.v(h));
        newKeys.push(tf.keep(k));
        newValues.push(tf.keep(v));
        const vg = tf.reshape(v, [B * nKvHeads, T, headDim]) as tf.Tensor3D;
        const scores = tf.mul(tf.matMul(tf.reshape(q, [B * nKvHeads, rep, headDim]) as tf.Tensor3D, tf.reshape(k, [B * nKvHeads, T, headDim]) as tf.Tensor3D, false, true), 1 / Math.sqrt(headDim));
        const probs = tf.softmax(bias ? tf.add(scores, bias) : scores) as tf.Tensor3D;
        const x1 = tf.add(x, layer.o(tf.reshape(tf.matMul(probs, vg), [B, dModel])));
        const h2 = rmsNorm(x1, layer.ffnNorm, c.rmsEps);
        const g = layer.gate(h2);
        const mlp = layer.down(tf.mul(tf.mul(g, tf.sigmoid(g)), layer.up(h2)));
        return tf.add(x1, mlp) as tf.Tensor2D;
      });
    });
    return rmsNorm(x, this.finalNorm, c.rmsEps);
  }

  private attention(
    layer: Layer,
    h: tf.Tensor3D,
    cos: tf.Tensor4D,
    sin: tf.Tensor4D,
    bias: tf.Tensor4D,
    pastK: tf.Tensor4D | null,
    pastV: tf.Tensor4D | null,
  ): { out: tf.Tensor3D; k: tf.Tensor4D; v: tf.Tensor4D } {
    const { nHeads, nKvHeads, headDim, dModel } = this.config;
    const [B, L] = h.shape;
    const rep = nHeads / nKvHeads;
    const heads = (t: tf.Tensor, n: number) => tf.transpose(tf.reshape(t, [B, L, n, headDim]), [0, 2, 1, 3]) as tf.Tensor4D;
    const q = applyRope(heads(layer.q(h), nHeads), cos, sin);
    let k = applyRope(heads(layer.k(h), nKvHeads), cos, sin);
    let v = heads(layer.v(h), nKvHeads);
    if (pastK && pastV) {
      k = tf.concat([pastK, k], 2);
      v = tf.concat([pastV, v], 2);
    }
    const T = k.shape[2];
    // Query heads h = g*rep + r share KV head g: fold (r, position) into rows of one product per (b, g).
    const qg = tf.reshape(q, [B * nKvHeads, rep * L, headDim]);
    const kg = tf.reshape(k, [B * nKvHeads, T, headDim]);
    const vg = tf.reshape(v, [B * nKvHeads, T, headDim]);
    const scores = tf.reshape(tf.mul(tf.matMul(qg, kg, false, true), 1 / Math.sqrt(headDim)), [B, nHeads, L, T]);
    const probs = tf.softmax(tf.add(scores, bias));
    const ctx = tf.matMul(tf.reshape(probs, [B * nKvHeads, rep * L, T]), vg);
    const merged = tf.reshape(tf.transpose(tf.reshape(ctx, [B, nHeads, L, headDim]), [0, 2, 1, 3]), [B, L, dModel]);
    return { out: layer.o(merged) as tf.Tensor3D, k, v };
  }

  /** cos/sin tables [B, 1, L, headDim] for the positions of the new tokens (padding-aware). */
  private rotary(fullMask: number[][], past: number, L: number): { cos: tf.Tensor4D; sin: tf.Tensor4D } {
    const { headDim } = this.config;
    const half = headDim / 2;
    const B = fullMask.length;
    const cos = new Float32Array(B * L * headDim);
    const sin = new Float32Array(B * L * headDim);
    for (let b = 0; b < B; b++) {
      const positions = positionIds(fullMask[b]);
      for (let i = 0; i < L; i++) {
        const pos = positions[past + i];
        const o = (b * L + i) * headDim;
        for (let j = 0; j < half; j++) {
          // Angle computed in float32 like the reference implementation, so long positions agree.
          const angle = Math.fround(pos * this.invFreq[j]);
          cos[o + j] = cos[o + j + half] = Math.cos(angle);
          sin[o + j] = sin[o + j + half] = Math.sin(angle);
        }
      }
    }
    return { cos: tf.tensor4d(cos, [B, 1, L, headDim]), sin: tf.tensor4d(sin, [B, 1, L, headDim]) };
  }
}

/**
 * Column gather whose gradient is dY @ onehot(idx) [d, V]: the stock gradient of gather needs
 * UnsortedSegmentSum, which the wasm backend lacks. Only full fine-tuning (a trainable table) uses it.
 */
function gatherColumnsTrainable(table: tf.Tensor2D, ids: number[]): tf.Tensor2D {
  // The ids travel as a JS array: a tensor made here would be freed by the caller's tidy before the backward runs.
  const f = (t: tf.Tensor) => ({
    value: tf.gather(t, tf.tensor1d(ids, 'int32'), 1),
    gradFunc: (dy: tf.Tensor) => tf.matMul(dy as tf.Tensor2D, tf.cast(tf.oneHot(tf.tensor1d(ids, 'int32'), table.shape[1]), 'float32') as tf.Tensor2D),
  });
  return (tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (t: tf.Tensor) => tf.Tensor2D)(table);
}

/** R [hd, hd] with x @ R = rotate_half(x) = [-x2, x1]: entries 0 and +-1, so the product is exact. */
function rotateHalfMatrix(hd: number): tf.Tensor2D {
  const half = hd / 2;
  const r = new Float32Array(hd * hd);
  for (let j = 0; j < half; j++) {
    r[(j + half) * hd + j] = -1; // out[j] = -x[j + half]
    r[j * hd + j + half] = 1; // out[j + half] = x[j]
  }
  return tf.tensor2d(r, [hd, hd]);
}

/** Position of each token = number of real tokens before it (so left padding does not shift positions). */
function positionIds(mask: number[]): number[] {
  let seen = 0;
  return mask.map((m) => {
    const p = m ? seen : 1; // padding positions get a dummy position, as in transformers
    if (m) seen++;
    return p;
  });
}

/** Additive causal + padding bias [B, 1, L, T]. */
function attentionBias(fullMask: number[][], past: number, L: number): tf.Tensor4D {
  const B = fullMask.length;
  const T = past + L;
  const bias = new Float32Array(B * L * T);
  for (let b = 0; b < B; b++) {
    const m = fullMask[b];
    for (let i = 0; i < L; i++) {
      const o = (b * L + i) * T;
      for (let j = 0; j < T; j++) bias[o + j] = j <= past + i && m[j] ? 0 : NEG;
    }
  }
  return tf.tensor4d(bias, [B, 1, L, T]);
}

function rmsNorm<T extends tf.Tensor>(x: T, weight: tf.Tensor1D, eps: number): T {
  const ms = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), weight) as T;
}

/** x * cos + rotate_half(x) * sin, with rotate_half(x) = [-x2, x1] (Hugging Face layout). */
function applyRope(x: tf.Tensor4D, cos: tf.Tensor4D, sin: tf.Tensor4D): tf.Tensor4D {
  const half = x.shape[3] / 2;
  const [x1, x2] = tf.split(x, [half, half], 3);
  const rotated = tf.concat([tf.neg(x2), x1], 3);
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin)) as tf.Tensor4D;
}

/** hidden[:, L-1, :] as [B, d]. */
export function lastPosition(hidden: tf.Tensor3D): tf.Tensor2D {
  const [B, L, d] = hidden.shape;
  return tf.reshape(tf.slice(hidden, [0, L - 1, 0], [B, 1, d]), [B, d]) as tf.Tensor2D;
}

function checkRectangular(rows: number[][], what: string): number {
  if (!Array.isArray(rows) || rows.length === 0) throw new SynthgradError(`${what}: expected a non-empty batch`);
  const L = rows[0].length;
  if (L === 0) throw new SynthgradError(`${what}: sequences must not be empty`);
  if (rows.some((r) => r.length !== L)) throw new SynthgradError(`${what}: all sequences in a batch must have the same length (pad them)`);
  return L;
}
