/**
 * A privacy audit of a synthetic set, for the data owner (who alone holds the real texts): for
 * every synthetic text, the real example nearest to it by word n-gram overlap, with the longest
 * word run the two share and, when an embedding is given, the nearest real text by cosine of
 * embeddings. Exact copies and near-duplicates (a shared run of `nearDuplicateRun` words or more)
 * are counted: they are what a reader could link back to a person.
 *
 * Pure and model-free unless an embedding function is passed; quadratic in the set sizes, with
 * an inverted index of n-grams so only real texts sharing an n-gram are compared word by word.
 */
import * as tf from '@tensorflow/tfjs-core';
import { lastPosition, type Llama } from '../model/llama.js';
import { leftPad } from '../gradmm/prompt.js';
import { SynthgradError } from '../util/errors.js';

export interface AuditOptions {
  /** n of the n-gram overlap (default 3). */
  n?: number;
  /** A shared run of this many words or more counts as a near-duplicate (default 8). */
  nearDuplicateRun?: number;
  /** Embeddings of texts (e.g. the LM's last hidden state), rows of equal width. */
  embed?: (texts: string[]) => Float32Array[];
}

export interface NearestReal {
  synthetic: number;
  /** Index of the real text sharing most n-grams with it (without any, the longest run of words; -1 when no word is shared). */
  real: number;
  /** Fraction of the synthetic text's n-grams found in that real text. */
  overlap: number;
  /** Longest run of words the two share. */
  longestRun: number;
  exact: boolean;
  /** Nearest real text by embedding cosine, and that cosine (absent without an embedding). */
  nearestByEmbedding?: { real: number; cosine: number };
}

export interface AuditReport {
  synthetic: number;
  real: number;
  n: number;
  nearDuplicateRun: number;
  exactCopies: number;
  nearDuplicates: number;
  /** Largest shared run over the whole set, and the mean n-gram overlap. */
  longestRun: number;
  meanOverlap: number;
  /** Highest embedding cosine to any real text (absent without an embedding). */
  maxCosine?: number;
  items: NearestReal[];
}

export const words = (t: string): string[] => t.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];

function ngrams(w: string[], n: number): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i + n <= w.length; i++) out.add(w.slice(i, i + n).join(' '));
  return out;
}

/** Longest common run of words (dynamic programming, O(|a| |b|)). */
export function longestCommonRun(a: string[], b: string[]): number {
  let best = 0;
  let prev = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    const cur = new Array<number>(b.length + 1).fill(0);
    for (let j = 1; j <= b.length; j++) {
      if (a[i - 1] === b[j - 1]) {
        cur[j] = prev[j - 1] + 1;
        if (cur[j] > best) best = cur[j];
      }
    }
    prev = cur;
  }
  return best;
}

export function auditSynthetic(synthetic: string[], real: string[], o: AuditOptions = {}): AuditReport {
  const n = o.n ?? 3;
  const run = o.nearDuplicateRun ?? 8;
  if (!(Number.isInteger(n) && n >= 1)) throw new SynthgradError(`audit: n must be a positive integer, got ${n}`, 'E_USAGE');
  if (real.length === 0) throw new SynthgradError('audit: no real texts to compare with', 'E_INPUT');
  const realWords = real.map(words);
  const realNorm = realWords.map((w) => w.join(' '));
  const index = new Map<string, number[]>();
  realWords.forEach((w, r) => {
    for (const g of ngrams(w, n)) {
      const list = index.get(g);
      if (list) list.push(r);
      else index.set(g, [r]);
    }
  });
  let emb: { syn: Float32Array[]; real: Float32Array[] } | null = null;
  if (o.embed) {
    const unit = (v: Float32Array) => {
      const s = Math.hypot(...v) || 1;
      return v.map((x) => x / s);
    };
    emb = { syn: o.embed(synthetic).map(unit), real: o.embed(real).map(unit) };
  }
  const items: NearestReal[] = synthetic.map((text, s) => {
    const w = words(text);
    const grams = ngrams(w, n);
    const hits = new Map<number, number>();
    for (const g of grams) for (const r of index.get(g) ?? []) hits.set(r, (hits.get(r) ?? 0) + 1);
    let bestReal = -1;
    let bestHits = 0;
    let bestRun = 0;
    for (const [r, h] of hits) {
      const lr = longestCommonRun(w, realWords[r]);
      if (h > bestHits || (h === bestHits && lr > bestRun)) {
        bestReal = r;
        bestHits = h;
        bestRun = lr;
      }
    }
    // No shared n-gram: the real text with the longest shared run of words, if any word is shared.
    if (bestReal < 0) {
      realWords.forEach((rw, r) => {
        const lr = longestCommonRun(w, rw);
        if (lr > bestRun) {
          bestRun = lr;
          bestReal = r;
        }
      });
    }
    const item: NearestReal = { synthetic: s, real: bestReal, overlap: grams.size ? bestHits / grams.size : 0, longestRun: bestRun, exact: w.length > 0 && realNorm.includes(w.join(' ')) };
    if (emb) {
      let best = { real: -1, cosine: -Infinity };
      emb.real.forEach((v, r) => {
        let c = 0;
        for (let k = 0; k < v.length; k++) c += v[k] * emb!.syn[s][k];
        if (c > best.cosine) best = { real: r, cosine: c };
      });
      item.nearestByEmbedding = best;
    }
    return item;
  });
  return {
    synthetic: synthetic.length,
    real: real.length,
    n,
    nearDuplicateRun: run,
    exactCopies: items.filter((i) => i.exact).length,
    nearDuplicates: items.filter((i) => i.longestRun >= run).length,
    longestRun: Math.max(0, ...items.map((i) => i.longestRun)),
    meanOverlap: items.reduce((a, i) => a + i.overlap, 0) / Math.max(1, items.length),
    ...(emb ? { maxCosine: Math.max(...items.map((i) => i.nearestByEmbedding!.cosine)) } : {}),
    items,
  };
}

/**
 * Exposure of a canary (Carlini et al., "The Secret Sharer", 2019): how the canary ranks, by a
 * score of the synthetic set (higher: more present in it), among `candidates` random phrases of the
 * same form. log2(candidates + 1) - log2(rank): about 1 bit at chance, log2(candidates + 1) when
 * the canary is the most present of all.
 */
export function canaryExposure(score: (phrase: string) => number, canary: string, candidates: string[]): { rank: number; exposure: number; of: number } {
  const s = score(canary);
  const rank = 1 + candidates.filter((c) => score(c) > s).length + candidates.filter((c) => score(c) === s).length / 2;
  const of = candidates.length + 1;
  return { rank, exposure: Math.log2(of) - Math.log2(rank), of };
}

/**
 * An embedding for the audit from the model itself: the last hidden state after the task's
 * prompt (the feature a head classifier reads), batched and left-padded.
 */
export function modelEmbedding(model: Llama, promptIds: (text: string) => number[], batchSize = 16): (texts: string[]) => Float32Array[] {
  return (texts) => {
    const out: Float32Array[] = [];
    const d = model.config.dModel;
    for (let i = 0; i < texts.length; i += batchSize) {
      const { ids, mask } = leftPad(texts.slice(i, i + batchSize).map(promptIds), 0);
      const h = tf.tidy(() => lastPosition(model.forward({ ids, attentionMask: mask, logits: 'none' }).hidden).dataSync() as Float32Array);
      for (let r = 0; r < h.length / d; r++) out.push(h.slice(r * d, (r + 1) * d));
    }
    return out;
  };
}
