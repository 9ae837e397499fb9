/**
 * LM sampling restricted to allowed tokens: top-k sampling after a fixed context, one KV-cached
 * decode. Used for the "initialise from LM-sampled text" option of METHOD.md section 3, which
 * starts ADMM from readable text instead of noise (far fewer steps to readable output).
 */
import type { Llama } from '../model/llama.js';
import type { Rng } from '../util/rng.js';

export function sampleAllowed(
  model: Llama,
  allowed: Set<number>,
  context: number[],
  batch: number,
  length: number,
  rng: Rng,
  opts: { topK?: number; temperature?: number } = {},
): number[][] {
  return sampleFromContext(model, context, batch, length, rng, { topK: opts.topK ?? 40, temperature: opts.temperature ?? 1, allowed });
}

export interface DecodeOptions {
  topK: number;
  temperature: number;
  allowed?: Set<number>;
  /** A row ends at the first id for which this is true (the id is not kept). */
  stop?: (id: number) => boolean;
}

/**
 * `batch` continuations of one context by top-k sampling: the context is run once, its KV cache
 * copied to every row, then one cached step per token. Finished rows draw no more random numbers
 * and decoding ends when every row has stopped or reached `length` tokens.
 */
export function sampleFromContext(model: Llama, context: number[], batch: number, length: number, rng: Rng, o: DecodeOptions): number[][] {
  const V = model.config.vocabSize;
  const prefix = model.createCache(1);
  const first = model.forward({ ids: [context], cache: prefix, logits: 'last' });
  first.hidden.dispose();
  const cache = prefix.expand(batch);
  prefix.dispose();
  const firstRow = (first.logits!.dataSync() as Float32Array).slice();
  first.logits!.dispose();
  let rows: Float32Array[] = Array.from({ length: batch }, () => firstRow);
  const out: number[][] = Array.from({ length: batch }, () => []);
  const done = new Array<boolean>(batch).fill(false);
  try {
    for (let i = 0; i < length; i++) {
      // A finished row still needs some input id to keep the batch rectangular; it is never read.
      const step = rows.map((row, b) => (done[b] ? 0 : sampleTopK(row, rng, o)));
      step.forEach((id, b) => {
        if (done[b]) return;
        if (o.stop?.(id)) done[b] = true;
        else out[b]!.push(id);
      });
      if (i === length - 1 || !done.includes(false)) break;
      const next = model.forward({ ids: step.map((id) => [id]), cache, logits: 'last' });
      next.hidden.dispose();
      const flat = next.logits!.dataSync() as Float32Array;
      next.logits!.dispose();
      rows = Array.from({ length: batch }, (_, b) => flat.subarray(b * V, (b + 1) * V));
    }
  } finally {
    cache.dispose();
  }
  return out;
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

/** Draw one token id from logits: the top-k (of the allowed ids, when given) at a temperature. */
export function sampleTopK(row: Float32Array, rng: Rng, opts: { topK: number; temperature: number; allowed?: Set<number> }): number {
  const best: { id: number; v: number }[] = [];
  const mask = opts.allowed ? maskOf(opts.allowed, row.length) : undefined;
  for (let id = 0; id < row.length; id++) {
    if (mask && !mask[id]) continue;
    const v = row[id]! / opts.temperature;
    if (best.length < opts.topK || v > best[best.length - 1]!.v) {
      best.push({ id, v });
      best.sort((a, b) => b.v - a.v);
      if (best.length > opts.topK) best.pop();
    }
  }
  return best[drawSoftmax(best.map((b) => b.v), rng)]!.id;
}
