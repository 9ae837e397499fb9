/**
 * LM sampling restricted to allowed tokens: top-k sampling after a fixed context, one KV-cached
 * decode. Used for the "initialise from LM-sampled text" option of METHOD.md section 3, which
 * starts ADMM from readable text instead of noise (far fewer steps to readable output).
 */
import type { Llama, KVCache } from '../model/llama.js';
import type { Rng } from '../util/rng.js';
import type { NextTokenBan, TokenSet } from './copy-ban.js';

export function sampleAllowed(
  model: Llama,
  allowed: Set<number>,
  context: number[],
  batch: number,
  length: number,
  rng: Rng,
  opts: { topK?: number; temperature?: number; contrast?: Contrast; opening?: SharedOpening; ban?: NextTokenBan } = {},
): number[][] {
  return sampleFromContext(model, context, batch, length, rng, { topK: opts.topK ?? 40, temperature: opts.temperature ?? 1, allowed, contrast: opts.contrast, opening: opts.opening, ban: opts.ban });
}

/**
 * Contrastive guidance of a draw: the candidates stay the context's own top-k (so the text stays
 * what the LM finds likely there), but they are drawn by
 *   (1 + weight) * log p(token | context) - weight * mean_o log p(token | contexts[o])
 * at the draw's temperature: tokens that the context makes likelier than the contrast contexts
 * do (for a label context against the other labels' contexts: tokens that carry the label) are
 * favoured. weight 0 is the plain draw. Each contrast context costs one more decode of the batch.
 */
export interface Contrast {
  contexts: number[][];
  weight: number;
}

/**
 * A label-neutral opening shared by every class: the first `length` tokens of each row are drawn
 * from the normalised geometric mean of the next-token distributions under all `contexts` (every
 * label's context, in label order), among that mean's own top-k, with `rng`, a stream that does
 * not depend on the class. Batch b of every class then opens row by row with the same words and
 * continues under its own context: meant to give pairs of texts that share their content and
 * differ where the label does, so that what separates the classes is the label, not an opening
 * shape one class's demonstrations favour. Measured (EXPERIMENTS.md, sixteenth stop): the projection
 * keeps little of a start's own tokens, so few pairs survive it, and it taught no more. Each
 * context costs one more decode of the opening.
 */
export interface SharedOpening {
  contexts: number[][];
  length: number;
  rng: Rng;
}

export interface DecodeOptions {
  topK: number;
  temperature: number;
  allowed?: Set<number>;
  /** A row ends at the first id for which this is true (the id is not kept). */
  stop?: (id: number) => boolean;
  contrast?: Contrast;
  opening?: SharedOpening;
  /**
   * Tokens this rule excludes after a row's tokens so far are not drawn (the context's n-grams,
   * copy-ban.ts; stray spaces, vocab.ts), after the shared opening (which must stay the same in
   * every class).
   */
  ban?: NextTokenBan;
}

/**
 * `batch` continuations of one context by top-k sampling: the context is run once, its KV cache
 * copied to every row, then one cached step per token. Finished rows draw no more random numbers
 * and decoding ends when every row has stopped or reached `length` tokens.
 */
export function sampleFromContext(model: Llama, context: number[], batch: number, length: number, rng: Rng, o: DecodeOptions): number[][] {
  const guided = o.contrast && o.contrast.weight > 0 && o.contrast.contexts.length > 0 ? o.contrast : undefined;
  const opening = o.opening && o.opening.length > 0 && o.opening.contexts.length > 0 ? o.opening : undefined;
  const openLength = Math.min(opening?.length ?? 0, length);
  // One decoder per context (the context's own first, then the contrast contexts), fed the same ids.
  const decoders = [context, ...(guided?.contexts ?? [])].map((c) => new BatchDecoder(model, c, batch));
  const [own, ...contrast] = decoders;
  // The opening's decoders (every label's context) live only while the opening is drawn.
  let openers = (opening?.contexts ?? []).map((c) => new BatchDecoder(model, c, batch));
  const out: number[][] = Array.from({ length: batch }, () => []);
  const done = new Array<boolean>(batch).fill(false);
  try {
    for (let i = 0; i < length; i++) {
      // A finished row still needs some input id to keep the batch rectangular; it is never read.
      const step = own!.rows.map((row, b) =>
        done[b]
          ? 0
          : i < openLength
            ? sampleTopKShared(openers.map((d) => d.rows[b]!), opening!.rng, o)
            : guided
              ? sampleTopKContrast(row, contrast.map((d) => d.rows[b]!), guided.weight, rng, withBan(o, out[b]!))
              : sampleTopK(row, rng, withBan(o, out[b]!)),
      );
      step.forEach((id, b) => {
        if (done[b]) return;
        if (o.stop?.(id)) done[b] = true;
        else out[b]!.push(id);
      });
      if (i === length - 1 || !done.includes(false)) break;
      for (const d of decoders) d.step(step);
      if (i + 1 < openLength) for (const d of openers) d.step(step);
      else if (openers.length > 0) {
        for (const d of openers) d.dispose();
        openers = [];
      }
    }
  } finally {
    for (const d of [...decoders, ...openers]) d.dispose();
  }
  return out;
}

/** The draw's options for a row whose tokens so far are `row`: with the tokens the ban excludes next. */
function withBan(o: DecodeOptions, row: readonly number[]): TopKOptions {
  const banned = o.ban?.bannedAfter(row);
  return banned ? { ...o, banned } : o;
}

/** A KV-cached batch decode after one context: the context runs once and its cache is copied to every row. */
class BatchDecoder {
  /** Next-token logits, per row. */
  rows: Float32Array[];
  private readonly cache: KVCache;
  constructor(
    private readonly model: Llama,
    context: number[],
    private readonly batch: number,
  ) {
    const { cache: prefix, last } = model.prefill(context);
    this.cache = prefix.expand(batch);
    prefix.dispose();
    const logits = model.logitsOf(last);
    last.dispose();
    const firstRow = (logits.dataSync() as Float32Array).slice();
    logits.dispose();
    this.rows = Array.from({ length: batch }, () => firstRow);
  }

  step(ids: number[]): void {
    const V = this.model.config.vocabSize;
    const next = this.model.forward({ ids: ids.map((id) => [id]), cache: this.cache, logits: 'last' });
    next.hidden.dispose();
    const flat = next.logits!.dataSync() as Float32Array;
    next.logits!.dispose();
    this.rows = Array.from({ length: this.batch }, (_, b) => flat.subarray(b * V, (b + 1) * V));
  }

  dispose(): void {
    this.cache.dispose();
  }
}

/** Allowed-id sets as byte masks, built once per set: an indexed load per id instead of a hash lookup. */
const MASKS = new WeakMap<Set<number>, Uint8Array>();
function maskOf(allowed: Set<number>, size: number): Uint8Array {
  let m = MASKS.get(allowed);
  if (!m || m.length < size) {
    m = new Uint8Array(size);
    for (const id of allowed) if (id >= 0 && id < size) m[id] = 1;
    MASKS.set(allowed, m);
  }
  return m;
}

/** An index drawn with probability softmax(scores): one uniform from rng. */
export function drawSoftmax(scores: number[], rng: Rng): number {
  const max = Math.max(...scores);
  const w = scores.map((v) => Math.exp(v - max));
  let r = rng.uniform() * w.reduce((a, b) => a + b, 0);
  for (let j = 0; j < w.length; j++) {
    r -= w[j]!;
    if (r <= 0) return j;
  }
  return w.length - 1;
}

/** What a single draw reads of the decode options, and the ids it must not draw now. */
type TopKOptions = Pick<DecodeOptions, 'topK' | 'temperature' | 'allowed'> & { banned?: TokenSet };

/** Draw one token id from logits: the top-k (of the allowed ids, when given) at a temperature. */
export function sampleTopK(row: Float32Array, rng: Rng, opts: TopKOptions): number {
  const best = topKOf(row, opts);
  return best[drawSoftmax(best.map((b) => b.v), rng)]!.id;
}

/**
 * The contrastive draw (see Contrast): the top-k of `row` (allowed ids, at the temperature), each
 * rescored as ((1 + w) log p(id | row) - w * mean_o log p(id | others[o])) / temperature.
 */
export function sampleTopKContrast(row: Float32Array, others: Float32Array[], weight: number, rng: Rng, opts: TopKOptions): number {
  const best = topKOf(row, opts);
  const own = logSumExp(row);
  const zs = others.map(logSumExp);
  const scores = best.map(({ id }) => {
    const lpOwn = row[id]! - own;
    const lpOther = others.reduce((a, r, o) => a + r[id]! - zs[o]!, 0) / others.length;
    return ((1 + weight) * lpOwn - weight * lpOther) / opts.temperature;
  });
  return best[drawSoftmax(scores, rng)]!.id;
}

/**
 * The shared opening's draw (see SharedOpening): the top-k of the mean of the rows' log-softmaxes
 * (the normalised geometric mean of their distributions: tokens every context finds likely), over
 * the allowed ids, at the temperature.
 */
export function sampleTopKShared(rows: Float32Array[], rng: Rng, opts: TopKOptions): number {
  const zs = rows.map(logSumExp);
  const mean = new Float32Array(rows[0]!.length);
  for (const [r, row] of rows.entries()) for (let i = 0; i < mean.length; i++) mean[i] = mean[i]! + (row[i]! - zs[r]!) / rows.length;
  return sampleTopK(mean, rng, opts);
}

/** log sum exp of a logit row: its log-softmax is row[i] minus this. */
function logSumExp(r: Float32Array): number {
  let m = -Infinity;
  for (let i = 0; i < r.length; i++) if (r[i]! > m) m = r[i]!;
  let s = 0;
  for (let i = 0; i < r.length; i++) s += Math.exp(r[i]! - m);
  return m + Math.log(s);
}

/**
 * The k highest of row / temperature over the allowed ids, less the banned ones, highest first;
 * if the ban would leave none, the allowed ids unbanned (as the projection keeps its candidates).
 */
function topKOf(row: Float32Array, opts: TopKOptions): { id: number; v: number }[] {
  const best = topKAllowed(row, opts);
  return best.length === 0 && opts.banned ? topKAllowed(row, { ...opts, banned: undefined }) : best;
}

function topKAllowed(row: Float32Array, opts: TopKOptions): { id: number; v: number }[] {
  const best: { id: number; v: number }[] = [];
  const mask = opts.allowed ? maskOf(opts.allowed, row.length) : undefined;
  for (let id = 0; id < row.length; id++) {
    if (mask && !mask[id]) continue;
    const v = row[id]! / opts.temperature;
    if (best.length < opts.topK || v > best[best.length - 1]!.v) {
      // The ban is looked up only for ids that would enter the top k: a few per row, not the vocabulary.
      if (opts.banned?.has(id)) continue;
      best.push({ id, v });
      best.sort((a, b) => b.v - a.v);
      if (best.length > opts.topK) best.pop();
    }
  }
  return best;
}
