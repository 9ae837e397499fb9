/**
 * LM sampling restricted to allowed tokens: top-k sampling after a fixed context, one KV-cached
 * decode. Used for the "initialise from LM-sampled text" option of METHOD.md section 3, which
 * starts ADMM from readable text instead of noise (far fewer steps to readable output).
 */
import * as tf from '@tensorflow/tfjs-core';
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
  const topK = opts.topK ?? 40;
  const temperature = opts.temperature ?? 1;
  const V = model.config.vocabSize;
  const prefix = model.createCache(1);
  const first = model.forward({ ids: [context], cache: prefix, logits: 'last' });
  first.hidden.dispose();
  const cache = prefix.expand(batch);
  prefix.dispose();
  let rows = Array.from({ length: batch }, () => first.logits!.dataSync() as Float32Array);
  first.logits!.dispose();
  const out: number[][] = Array.from({ length: batch }, () => []);
  try {
    for (let i = 0; i < length; i++) {
      const step = rows.map((row) => sampleTopK(row, rng, { topK, temperature, allowed }));
      step.forEach((id, b) => out[b].push(id));
      if (i === length - 1) break;
      const o = model.forward({ ids: step.map((id) => [id]), cache, logits: 'last' });
      o.hidden.dispose();
      const flat = o.logits!.dataSync() as Float32Array;
      o.logits!.dispose();
      rows = Array.from({ length: batch }, (_, b) => flat.subarray(b * V, (b + 1) * V));
    }
  } finally {
    cache.dispose();
  }
  return out;
}

/** Draw one token id from logits: the top-k (of the allowed ids, when given) at a temperature. */
export function sampleTopK(row: Float32Array, rng: Rng, opts: { topK: number; temperature: number; allowed?: Set<number> }): number {
  const best: { id: number; v: number }[] = [];
  for (let id = 0; id < row.length; id++) {
    if (opts.allowed && !opts.allowed.has(id)) continue;
    const v = row[id]! / opts.temperature;
    if (best.length < opts.topK || v > best[best.length - 1]!.v) {
      best.push({ id, v });
      best.sort((a, b) => b.v - a.v);
      if (best.length > opts.topK) best.pop();
    }
  }
  const max = best[0]!.v;
  const w = best.map((b) => Math.exp(b.v - max));
  let r = rng.uniform() * w.reduce((a, b) => a + b, 0);
  for (let j = 0; j < best.length; j++) {
    r -= w[j]!;
    if (r <= 0) return best[j]!.id;
  }
  return best[best.length - 1]!.id;
}
