/**
 * GRADMM pieces on tiny random llamas, each against a slow, obviously correct reference:
 * the closed-form matching loss against autodiff of the materialised G_syn, class targets against
 * per-example outer products, the KV-cached projection against full recomputation.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import {
  addTargets,
  allowedTokenIds,
  computeClassTarget,
  isAllowedToken,
  withoutStraySpaces,
  StraySpaceBan,
  lastPosition,
  Llama,
  loadModel,
  MatchingLoss,
  sharedDirection,
  centredMetric,
  whitenedMetric,
  shrunkPublicCovariance,
  meanAndCovariance,
  Projector,
  repeatsNgram,
  NgramBan,
  matchingLossOfPrompts,
  PromptStates,
  Rng,
  runAdmm,
  sampleAllowed,
  sampleTopK,
  AdmmAborted,
  select,
  bestMatching,
  sentenceEndLengths,
  withCommas,
  commaStyle,
  type CommaStyle,
  withEndMarks,
  marksNearerTarget,
  setMatchingLossOfPrompts,
  endMarkStyle,
  type EndMarkStyle,
  newSecretKey,
  releaseRows,
  signalToNoise,
  targetRow,
  type AdmmSettings,
  type ClassTarget,
  type Example,
  type LoadedModel,
} from '@synthgrad/core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useTestBackend } from '../../../test/helpers/backend.js';
import { tinyConfig, tinyWeights, writeTinyLlamaGGUF } from '../../../test/helpers/tiny-llama.js';

const config = tinyConfig();
let rt: LoadedModel;
let model: Llama;
const V = config.vocabSize;
const d = config.dModel;

beforeAll(async () => {
  await useTestBackend();
  const path = join(mkdtempSync(join(tmpdir(), 'synthgrad-gradmm-')), 'tiny.gguf');
  writeTinyLlamaGGUF(path, config, tinyWeights(config, 5));
  rt = await loadModel(path);
  model = rt.model;
});

/** Prompt ids: text tokens, then a fixed suffix. */
const prompt = (suffix: number[]) => (text: string) => [...rt.tokenizer.encode(text), ...suffix];
const examples = (texts: string[]): Example[] => texts.map((text, i) => ({ text, label: 0, line: i + 1, source: 'mem.jsonl' }));
const TEXTS = ['the great film', 'a bad plot', 'the cast is great', 'in the end it was bad', 'at the theatre'];

/**
 * Slow reference: sum_i c_i s_i h_i^T one example at a time, on the host in float64; with `rows`,
 * only those head rows, in that order, clipped by the norm of the restricted gradient.
 */
function referenceTarget(texts: string[], labelToken: number, suffix: number[], clip?: number, rows?: number[]): Float64Array {
  const R = rows ?? Array.from({ length: V }, (_, v) => v);
  const G = new Float64Array(R.length * d);
  for (const t of texts) {
    const ids = [...rt.tokenizer.encode(t), ...suffix];
    const { hidden, logits } = model.forward({ ids: [ids], logits: 'last' });
    const h = Array.from(lastPosition(hidden).dataSync());
    const p = Array.from(tf.softmax(logits!).dataSync());
    hidden.dispose();
    logits!.dispose();
    const s = R.map((v) => p[v] - (v === labelToken ? 1 : 0));
    const norm = Math.hypot(...s) * Math.hypot(...h);
    const c = clip === undefined ? 1 : Math.min(1, clip / norm);
    for (let i = 0; i < R.length; i++) for (let j = 0; j < d; j++) G[i * d + j] += c * s[i] * h[j];
  }
  return G;
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return m / scale;
}

describe('class targets', () => {
  it('equal the sum of per-example outer products, with and without clipping', () => {
    const suffix = rt.tokenizer.encode(' it');
    for (const clip of [undefined, 0.5]) {
      const t = computeClassTarget(model, examples(TEXTS), 0, 7, prompt(suffix), { clip, batchSize: 2 });
      expect(t.count).toBe(TEXTS.length);
      expect(maxRelDiff(t.sum, referenceTarget(TEXTS, 7, suffix, clip))).toBeLessThan(1e-4);
    }
  });

  it('restricted to the label rows equal those rows of the reference, clipped by the restricted norm', () => {
    const suffix = rt.tokenizer.encode(' it');
    const rows = releaseRows('label-rows', [9, 7, 2]);
    for (const clip of [undefined, 0.05]) {
      const t = computeClassTarget(model, examples(TEXTS), 0, 7, prompt(suffix), { clip, batchSize: 2, rows });
      expect(t.rows).toEqual([9, 7, 2]);
      expect(t.sum.length).toBe(3 * d);
      expect(maxRelDiff(t.sum, referenceTarget(TEXTS, 7, suffix, clip, [9, 7, 2]))).toBeLessThan(1e-4);
      expect(Array.from(targetRow(t, 7)!)).toEqual(Array.from(t.sum.subarray(d, 2 * d)));
      expect(targetRow(t, 5)).toBeNull();
    }
    // Without clipping the rows are exactly those rows of the full target.
    const full = computeClassTarget(model, examples(TEXTS), 0, 7, prompt(suffix), {});
    const part = computeClassTarget(model, examples(TEXTS), 0, 7, prompt(suffix), { rows });
    expect(maxRelDiff(targetRow(part, 2)!, targetRow(full, 2)!)).toBeLessThan(1e-5);
    expect(releaseRows('full', [9, 7])).toBeNull();
    expect(releaseRows(undefined, [9, 7])).toEqual([9, 7]); // the default release: label rows
    expect(() => releaseRows('label-rows', [7, 7])).toThrow(/share a verbaliser token/);
    expect(() => releaseRows('rows' as never, [7])).toThrow(/unknown target release/);
    expect(() => computeClassTarget(model, examples(TEXTS), 0, 7, prompt(suffix), { rows: [9, 2] })).toThrow(/leave out the class's own label token/);
    expect(() => computeClassTarget(model, examples(TEXTS), 0, 7, prompt(suffix), { rows: [7, V] })).toThrow(/vocabulary ids/);
    expect(() => addTargets([part, full])).toThrow(/differ in class or shape/);
  });

  it('estimate their signal/noise from the released numbers alone', () => {
    const suffix = rt.tokenizer.encode(' it');
    const rows = [7, 9];
    const clean = computeClassTarget(model, examples(TEXTS), 0, 7, prompt(suffix), { clip: 1, rows });
    expect(signalToNoise(clean)).toBeNull();
    const noisy = computeClassTarget(model, examples(TEXTS), 0, 7, prompt(suffix), { clip: 1, epsilon: 4, delta: 1e-5, rows });
    let sq = 0;
    for (const x of clean.sum) sq += x * x;
    const truth = Math.sqrt(sq) / (noisy.noiseStd * Math.sqrt(noisy.sum.length));
    // sqrt(|t|^2 - N sigma^2): the estimate's spread is about sigma sqrt(2N) in |t|^2.
    expect(Math.abs(signalToNoise(noisy)! ** 2 - truth ** 2)).toBeLessThan(5 * Math.sqrt(2 / noisy.sum.length) + 4 * truth);
  });

  it('add noise of the analytic-Gaussian sigma from the owner\'s secret key: reproducible with it, fresh without it', () => {
    const suffix = rt.tokenizer.encode(' it');
    const key = newSecretKey();
    const a = computeClassTarget(model, examples(TEXTS), 0, 7, prompt(suffix), { clip: 1, epsilon: 1, delta: 1e-5, noiseKey: key });
    const b = computeClassTarget(model, examples(TEXTS), 0, 7, prompt(suffix), { clip: 1, epsilon: 1, delta: 1e-5, noiseKey: Buffer.from(key) });
    const fresh = [0, 1].map(() => computeClassTarget(model, examples(TEXTS), 0, 7, prompt(suffix), { clip: 1, epsilon: 1, delta: 1e-5 }));
    const clean = computeClassTarget(model, examples(TEXTS), 0, 7, prompt(suffix), { clip: 1 });
    expect(a.noiseStd).toBeCloseTo(3.7306, 3);
    expect(Array.from(a.sum)).toEqual(Array.from(b.sum));
    expect(Array.from(fresh[0].sum)).not.toEqual(Array.from(fresh[1].sum));
    expect(Array.from(fresh[0].sum)).not.toEqual(Array.from(a.sum));
    let sq = 0;
    for (let i = 0; i < a.sum.length; i++) sq += (a.sum[i] - clean.sum[i]) ** 2;
    expect(Math.sqrt(sq / a.sum.length)).toBeGreaterThan(0.9 * a.noiseStd);
    expect(Math.sqrt(sq / a.sum.length)).toBeLessThan(1.1 * a.noiseStd);
  });

  it('from several owners add up to the target of the pooled data', () => {
    const suffix = rt.tokenizer.encode(' it');
    const pooled = computeClassTarget(model, examples(TEXTS), 0, 7, prompt(suffix), {});
    const parts = [TEXTS.slice(0, 2), TEXTS.slice(2)].map((t) => computeClassTarget(model, examples(t), 0, 7, prompt(suffix), {}));
    const sum = addTargets(parts);
    expect(sum.count).toBe(5);
    expect(maxRelDiff(sum.sum, pooled.sum)).toBeLessThan(1e-5);
  });

  it('name the file and line of a text longer than the context', () => {
    const long = 'the '.repeat(80);
    expect(() => computeClassTarget(model, [{ text: long, label: 0, line: 12, source: 'd.jsonl' }], 0, 7, prompt([]), {})).toThrow(
      /d\.jsonl:12: text is \d+ tokens .* context of 64/,
    );
  });
});

describe('matching loss', () => {
  let target: ClassTarget;
  beforeAll(() => {
    target = computeClassTarget(model, examples(TEXTS), 0, 7, prompt(rt.tokenizer.encode(' it')), {});
  });

  /** A unit vector standing in for the classes' shared direction. */
  const unit = (seed: number) => {
    const u = Float32Array.from(new Rng(seed).normals(d));
    const n = Math.hypot(...u);
    return u.map((x) => x / n);
  };

  /** A random symmetric PSD metric, A A^T / d + 0.1 I, standing in for the whitened one. */
  const randomMetric = (seed: number) => {
    const A = new Rng(seed).normals(d * d);
    const M = new Float32Array(d * d);
    for (let a = 0; a < d; a++)
      for (let b = 0; b < d; b++) {
        let s = a === b ? 0.1 : 0;
        for (let k = 0; k < d; k++) s += (A[a * d + k] * A[b * d + k]) / d;
        M[a * d + b] = s;
      }
    return M;
  };
  const METRICS = { raw: () => undefined, centred: () => centredMetric(unit(11)), 'random PSD': () => randomMetric(13) } as const;

  /**
   * D via the materialised G_syn = (1/B) S^T H, left entirely to autodiff, in the metric M:
   * <A, B>_M = sum(A o (B M)).
   */
  const materialised = (h: tf.Tensor2D, distance: 'cosine' | 'l2', metric?: Float32Array, t: ClassTarget = target) =>
    tf.tidy(() => {
      const B = h.shape[0];
      const s = tf.sub(tf.softmax(model.logitsOf(h)), tf.oneHot(tf.fill([B], 7, 'int32'), V));
      const M = metric ? tf.tensor2d(metric, [d, d]) : tf.eye(d);
      const ip = (X: tf.Tensor2D, Y: tf.Tensor2D) => tf.sum(tf.mul(X, tf.matMul(Y, M)));
      // A row-restricted target: the whole V x d G_syn, then only its rows the target holds.
      const Gall = tf.div(tf.matMul(tf.transpose(s), h), B) as tf.Tensor2D;
      // Rows picked by a one-hot product (gather's gradient is missing on wasm).
      const G = t.rows ? (tf.matMul(tf.oneHot(tf.tensor1d(t.rows, 'int32'), V), Gall) as tf.Tensor2D) : Gall;
      const Gc = tf.tensor2d(t.sum, [t.rows?.length ?? V, d]);
      if (distance === 'l2') {
        const diff = tf.sub(G, tf.div(Gc, t.count)) as tf.Tensor2D;
        return ip(diff, diff) as tf.Scalar;
      }
      return tf.sub(1, tf.div(ip(G, Gc), tf.sqrt(tf.mul(ip(G, G), ip(Gc, Gc))))) as tf.Scalar;
    });

  for (const distance of ['cosine', 'l2'] as const) {
    for (const [name, make] of Object.entries(METRICS)) {
      it(`closed form equals autodiff of the materialised G_syn (${distance}, ${name} metric): value and gradient`, () => {
        const metric = make();
        const loss = new MatchingLoss(model, target, 7, distance, undefined, metric);
        const x = tf.tidy(() => tf.mul(tf.tensor3d(new Rng(4).normals(3 * 5 * d), [3, 5, d]), 0.5)) as tf.Tensor3D;
        const fast = model.valueAndGradWrtEmbeddings(x, (h) => loss.loss(lastPosition(h)));
        const slow = model.valueAndGradWrtEmbeddings(x, (h) => materialised(lastPosition(h), distance, metric));
        expect(Math.abs(fast.value - slow.value)).toBeLessThan(1e-5 * Math.max(1, Math.abs(slow.value)));
        expect(maxRelDiff(fast.grad.dataSync(), slow.grad.dataSync())).toBeLessThan(1e-3);
        for (const t of [x, fast.grad, slow.grad]) t.dispose();
        loss.dispose();
      });
    }
    it(`closed form on a label-rows target equals autodiff of the materialised G_syn on those rows (${distance})`, () => {
      const rowTarget = computeClassTarget(model, examples(TEXTS), 0, 7, prompt(rt.tokenizer.encode(' it')), { rows: [9, 7, 3] });
      for (const metric of [undefined, randomMetric(14)]) {
        const loss = new MatchingLoss(model, rowTarget, 7, distance, undefined, metric);
        const x = tf.tidy(() => tf.mul(tf.tensor3d(new Rng(6).normals(3 * 5 * d), [3, 5, d]), 0.5)) as tf.Tensor3D;
        const fast = model.valueAndGradWrtEmbeddings(x, (h) => loss.loss(lastPosition(h)));
        const slow = model.valueAndGradWrtEmbeddings(x, (h) => materialised(lastPosition(h), distance, metric, rowTarget));
        expect(Math.abs(fast.value - slow.value)).toBeLessThan(1e-5 * Math.max(1, Math.abs(slow.value)));
        expect(maxRelDiff(fast.grad.dataSync(), slow.grad.dataSync())).toBeLessThan(1e-3);
        const h = tf.tidy(() => tf.tensor2d(new Rng(8).normals(2 * d), [2, d]));
        const per = loss.perExample(h).dataSync();
        for (let j = 0; j < 2; j++) {
          const one = tf.tidy(() => loss.loss(tf.slice(h, [j, 0], [1, d])).dataSync()[0]);
          expect(Math.abs(per[j] - one)).toBeLessThan(1e-5 * Math.max(1, Math.abs(one)));
        }
        for (const t of [x, fast.grad, slow.grad, h]) t.dispose();
        loss.dispose();
      }
      expect(() => new MatchingLoss(model, rowTarget, 5)).toThrow(/leave out the class's label token 5/);
      expect(() => new MatchingLoss(model, { ...rowTarget, sum: new Float32Array(2 * d) }, 7)).toThrow(/head is/);
    });
  }

  it('the whitened metric is (tr S / d) P S^-1 P of the shrunk public covariance', () => {
    const n = 200;
    const rows = Float64Array.from(new Rng(21).normals(n * d), (x, i) => x * (1 + (i % d) / d) + 3);
    const stats = { count: n, dModel: d, ...meanAndCovariance(rows, n, d) };
    const M = whitenedMetric(stats, 0.2);
    const { S, u, trace } = shrunkPublicCovariance(stats, 0.2);
    const Mv = (v: ArrayLike<number>) => Float64Array.from({ length: d }, (_, a) => { let s = 0; for (let b = 0; b < d; b++) s += M[a * d + b] * v[b]; return s; });
    for (let a = 0; a < d; a++) for (let b = 0; b < a; b++) expect(Math.abs(M[a * d + b] - M[b * d + a])).toBeLessThan(1e-6);
    expect(Math.max(...Mv(u).map(Math.abs))).toBeLessThan(1e-5);
    // For x orthogonal to u: M S x = (tr S / d) x.
    const x0 = Float64Array.from(new Rng(22).normals(d));
    const xu = x0.reduce((a, v, k) => a + v * u[k], 0);
    const x = x0.map((v, k) => v - xu * u[k]);
    const Sx = Float64Array.from({ length: d }, (_, a) => { let s = 0; for (let b = 0; b < d; b++) s += S[a * d + b] * x[b]; return s; });
    const got = Mv(Sx);
    for (let k = 0; k < d; k++) expect(got[k]).toBeCloseTo((trace / d) * x[k], 3);
  });

  for (const centred of [false, true]) {
    it(`per-example loss equals the batch loss of a batch of one${centred ? ' (centred)' : ''}`, () => {
      const loss = new MatchingLoss(model, target, 7, 'cosine', undefined, centred ? centredMetric(unit(12)) : undefined);
      const h = tf.tidy(() => tf.tensor2d(new Rng(5).normals(4 * d), [4, d]));
      const per = loss.perExample(h).dataSync();
      for (let j = 0; j < 4; j++) {
        const one = tf.tidy(() => loss.loss(tf.slice(h, [j, 0], [1, d])).dataSync()[0]);
        expect(per[j]).toBeCloseTo(one, 5);
      }
      h.dispose();
      loss.dispose();
    });
  }

  it('the shared direction is the normalised sum of the classes\' own verbaliser rows', () => {
    const t1 = computeClassTarget(model, examples(TEXTS.slice(0, 3)), 0, 7, prompt(rt.tokenizer.encode(' it')), {});
    const t2 = computeClassTarget(model, examples(TEXTS.slice(3)), 1, 9, prompt(rt.tokenizer.encode(' it')), {});
    const u = sharedDirection([t1, t2], [7, 9])!;
    const want = Array.from({ length: d }, (_, k) => -(t1.sum[7 * d + k] + t2.sum[9 * d + k]));
    const n = Math.hypot(...want);
    expect(maxRelDiff(u, Float32Array.from(want, (x) => x / n))).toBeLessThan(1e-5);
    expect(sharedDirection([t1], [7])).toBeNull();
    expect(() => centredMetric(new Float32Array(d).fill(1))).toThrow(/unit vector/);
    expect(() => new MatchingLoss(model, t1, 7, 'cosine', undefined, new Float32Array(d * d))).toThrow(/zero in the matching metric/);
    expect(() => new MatchingLoss(model, t1, 7, 'cosine', undefined, new Float32Array(3))).toThrow(/matching metric has 3 entries/);
  });

  it('rejects a target of the wrong shape or with non-finite values', () => {
    expect(() => new MatchingLoss(model, { ...target, sum: new Float32Array(10) }, 7)).toThrow(/head is/);
    const bad = Float32Array.from(target.sum);
    bad[3] = NaN;
    expect(() => new MatchingLoss(model, { ...target, sum: bad }, 7)).toThrow(/non-finite/);
  });
});

/**
 * The slow, obviously correct statement of the copy ban (NgramBan's oracle): whether `sequence`
 * holds any n-gram that also occurs anywhere in `source`.
 */
function copiesNgram(sequence: readonly number[], source: readonly number[], n: number): boolean {
  const grams = new Set<string>();
  for (let s = 0; s + n <= source.length; s++) grams.add(source.slice(s, s + n).join(','));
  for (let s = 0; s + n <= sequence.length; s++) if (grams.has(sequence.slice(s, s + n).join(','))) return true;
  return false;
}

/**
 * The shared oracle of the projection's bans: the cached decode equals full recomputation, and at
 * every position it chose the likeliest (by a fresh uncached forward) of the candidates that
 * `banned(prefix, candidate)` lets through, or of all of them where it lets none through.
 * Returns the decode.
 */
function expectBannedGreedy(p: Projector, Y: tf.Tensor3D, context: number[], banned: (prefix: number[], c: number) => boolean): number[][] {
  const fast = p.project(Y);
  expect(p.projectByRecompute(Y)).toEqual(fast);
  const cands = p.candidates(Y);
  fast.forEach((ids, b) =>
    ids.forEach((id, i) => {
      const prefix = ids.slice(0, i);
      const ok = cands[b][i].filter((c) => !banned(prefix, c));
      const pool = ok.length > 0 ? ok : cands[b][i];
      const logits = tf.tidy(() => model.forward({ ids: [[...context, ...prefix]], logits: 'last' }).logits!.dataSync() as Float32Array);
      expect(id).toBe(pool.reduce((a, c) => (logits[c] > logits[a] ? c : a), pool[0]));
    }),
  );
  return fast;
}

describe('projection', () => {
  it('the KV-cached decode chooses exactly what full recomputation chooses', () => {
    const allowed = allowedTokenIds(rt.tokenizer);
    const p = new Projector(model, allowed, 6, rt.tokenizer.encode('Movie review:'));
    const Y = tf.tidy(() => tf.tensor3d(new Rng(8).normals(3 * 7 * d), [3, 7, d]));
    const fast = p.project(Y);
    const slow = p.projectByRecompute(Y);
    expect(fast).toEqual(slow);
    const cands = p.candidates(Y);
    fast.forEach((row, b) => row.forEach((id, i) => expect(cands[b][i]).toContain(id)));
    expect(new Set(fast.flat()).size).toBeGreaterThan(1);
    for (const id of fast.flat()) expect(allowed).toContain(id);
    Y.dispose();
    p.dispose();
  });

  it("later projections reuse the context's cache and still choose what recomputation chooses, batch size after batch size", () => {
    // ADMM projects one batch several times under one context (Projector.contextPrefix).
    const allowed = allowedTokenIds(rt.tokenizer);
    const p = new Projector(model, allowed, 6, rt.tokenizer.encode('A positive movie review: warm and funny.'));
    for (const [seed, B] of [[21, 3], [22, 3], [23, 1], [24, 4]] as const) {
      const Y = tf.tidy(() => tf.tensor3d(new Rng(seed).normals(B * 5 * d), [B, 5, d]));
      expect(p.project(Y)).toEqual(p.projectByRecompute(Y));
      Y.dispose();
    }
    p.dispose();
    p.dispose(); // twice is harmless
  });

  it('sampling among the candidates: the cached decode draws exactly what recomputation draws, and a low temperature is the argmax', () => {
    const allowed = allowedTokenIds(rt.tokenizer);
    const p = new Projector(model, allowed, 6, rt.tokenizer.encode('Movie review:'));
    const Y = tf.tidy(() => tf.tensor3d(new Rng(9).normals(3 * 7 * d), [3, 7, d]));
    const fast = p.project(Y, { rng: new Rng(4), temperature: 1 });
    expect(p.projectByRecompute(Y, { rng: new Rng(4), temperature: 1 })).toEqual(fast);
    const cands = p.candidates(Y);
    fast.forEach((row, b) => row.forEach((id, i) => expect(cands[b][i]).toContain(id)));
    // Other seeds draw other texts; a vanishing temperature gives the likeliest candidate.
    const draws = [1, 2, 3, 5].map((seed) => JSON.stringify(p.project(Y, { rng: new Rng(seed), temperature: 1 })));
    expect(new Set([JSON.stringify(fast), ...draws]).size).toBeGreaterThan(1);
    expect(p.project(Y, { rng: new Rng(4), temperature: 1e-6 })).toEqual(p.project(Y));
    Y.dispose();
    p.dispose();
  });

  it('a sampled candidate is drawn with probability softmax(logit / T) over the candidates', () => {
    // One position (L = 1) after a fixed context: the candidates' logits are known, so the
    // frequencies of many draws can be checked against the softmax (chi-square, 5 dof).
    const allowed = allowedTokenIds(rt.tokenizer);
    const context = rt.tokenizer.encode('Movie review:');
    const p = new Projector(model, allowed, 6, context);
    const Y = tf.tidy(() => tf.tensor3d(new Rng(12).normals(d), [1, 1, d]));
    const cands = p.candidates(Y)[0][0];
    const T = 2;
    const logits = tf.tidy(() => model.forward({ ids: [context], logits: 'last' }).logits!.dataSync() as Float32Array);
    const w = cands.map((c) => Math.exp(logits[c] / T - Math.max(...cands.map((x) => logits[x] / T))));
    const probs = w.map((x) => x / w.reduce((a, b) => a + b, 0));
    const rng = new Rng(21);
    const n = 3000;
    const counts = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const id = p.project(Y, { rng, temperature: T })[0][0];
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const chi2 = cands.reduce((a, c, j) => a + ((counts.get(c) ?? 0) - n * probs[j]) ** 2 / (n * probs[j]), 0);
    expect([...counts.keys()].every((id) => cands.includes(id))).toBe(true);
    expect(chi2).toBeLessThan(20.5); // p = 0.001 for 5 degrees of freedom
    Y.dispose();
    p.dispose();
  });

  it('repeatsNgram agrees with a brute-force set of the sequence\'s n-grams', () => {
    const rng = new Rng(31);
    const grams = (xs: number[], n: number) => new Set(xs.slice(0, Math.max(0, xs.length - n + 1)).map((_, s) => xs.slice(s, s + n).join(',')));
    for (let trial = 0; trial < 400; trial++) {
      const n = 1 + (trial % 4);
      const prefix = Array.from({ length: Math.floor(rng.uniform() * 9) }, () => Math.floor(rng.uniform() * 3));
      const next = Math.floor(rng.uniform() * 3);
      const expected = prefix.length >= n - 1 && grams(prefix, n).has([...prefix.slice(prefix.length - (n - 1)), next].join(','));
      expect(repeatsNgram(prefix, next, n), `${prefix} + ${next}, n = ${n}`).toBe(expected);
    }
    expect(repeatsNgram([7, 8, 7], 8, 2)).toBe(true);
    expect(repeatsNgram([7, 8, 9], 7, 2)).toBe(false);
  });

  it('the n-gram ban: cached equals recomputed, and each choice is the likeliest candidate that repeats no n-gram (a slow oracle)', () => {
    const allowed = allowedTokenIds(rt.tokenizer);
    const context = rt.tokenizer.encode('Movie review:');
    // The same row at every position: the same 6 candidates everywhere, so an unbanned greedy
    // decode is free to repeat itself.
    const row = new Rng(13).normals(d);
    const Y = tf.tidy(() => tf.tensor3d(Array.from({ length: 2 * 6 }, () => Array.from(row)).flat(), [2, 6, d]));
    const plain = new Projector(model, allowed, 6, context).project(Y);
    for (const n of [1, 2, 3]) {
      const p = new Projector(model, allowed, 6, context, n);
      const fast = expectBannedGreedy(p, Y, context, (prefix, c) => {
        const seen = new Set(prefix.slice(0, Math.max(0, prefix.length - n + 1)).map((_, s) => prefix.slice(s, s + n).join(',')));
        return prefix.length >= n - 1 && seen.has([...prefix.slice(prefix.length - (n - 1)), c].join(','));
      });
      // n = 1 with 6 candidates over 6 positions: every token differs.
      if (n === 1) for (const ids of fast) expect(new Set(ids).size).toBe(ids.length);
      p.dispose();
    }
    // The case is not vacuous: the unbanned decode repeats a token.
    expect(plain.some((ids) => new Set(ids).size < ids.length)).toBe(true);
    expect(() => new Projector(model, allowed, 6, context, -1)).toThrow(/noRepeatNgram must be an integer >= 0/);
    Y.dispose();
  });

  it('NgramBan bans exactly the tokens that would complete an n-gram of its source (brute-force oracle)', () => {
    const rng = new Rng(37);
    for (let trial = 0; trial < 400; trial++) {
      const n = 2 + (trial % 3);
      const source = Array.from({ length: Math.floor(rng.uniform() * 12) }, () => Math.floor(rng.uniform() * 3));
      const prefix = Array.from({ length: Math.floor(rng.uniform() * 6) }, () => Math.floor(rng.uniform() * 3));
      const ban = new NgramBan(source, n);
      for (let next = 0; next < 3; next++) {
        const expected = prefix.length >= n - 1 && copiesNgram([...prefix, next].slice(-n), source, n);
        expect(ban.bannedAfter(prefix)?.has(next) ?? false, `${source} / ${prefix} + ${next}, n = ${n}`).toBe(expected);
      }
    }
    expect(copiesNgram([1, 2, 3], [9, 2, 3, 9], 2)).toBe(true);
    expect(copiesNgram([1, 2, 3], [9, 3, 2, 9], 2)).toBe(false);
    for (const n of [1, 0, 2.5]) expect(() => new NgramBan([1, 2], n)).toThrow(/noCopyNgram must be an integer >= 2/);
  });

  it('the copy ban: cached equals recomputed, and each choice is the likeliest candidate that copies no n-gram of the context (a slow oracle)', () => {
    const allowed = allowedTokenIds(rt.tokenizer);
    const base = rt.tokenizer.encode('Movie review:');
    const Y = tf.randomNormal([2, 6, d], 0, 1, 'float32', 17) as tf.Tensor3D;
    // A context that holds the unbanned projections themselves, as demonstrations (built twice, so
    // that it holds what the decode writes after it): the unbanned decode copies from it.
    let context = base;
    const decode = (ctx: number[]) => {
      const p = new Projector(model, allowed, 8, ctx);
      const ids = p.project(Y);
      p.dispose();
      return ids;
    };
    for (let k = 0; k < 2; k++) context = [...base, ...decode(context).flatMap((ids) => [...ids, ...base])];
    for (const n of [2, 3]) {
      const p = new Projector(model, allowed, 8, context, 0, n);
      const fast = expectBannedGreedy(p, Y, context, (prefix, c) => prefix.length >= n - 1 && copiesNgram([...prefix, c].slice(-n), context, n));
      // Not vacuous: without the ban, the same context's decode copies an n-gram of it; with it, none does.
      const unbanned = decode(context);
      if (n === 2) expect(unbanned.some((ids) => copiesNgram(ids, context, n))).toBe(true);
      for (const ids of fast) expect(copiesNgram(ids, context, n)).toBe(false);
      p.dispose();
    }
    expect(() => new Projector(model, allowed, 8, context, 0, 1)).toThrow(/noCopyNgram must be an integer >= 2/);
    Y.dispose();
  });

  it('with k = 1 returns the nearest allowed token in cosine', () => {
    const allowed = allowedTokenIds(rt.tokenizer);
    const p = new Projector(model, allowed, 1, [5]);
    const ids = [allowed[3], allowed[10], allowed[1]];
    const Y = tf.tidy(() => tf.mul(model.embed([ids]), 2.5)) as tf.Tensor3D; // scaled: cosine ignores norm
    expect(p.project(Y)).toEqual([ids]);
    Y.dispose();
    p.dispose();
  });

  it('allowed tokens are word-like, short and not special', () => {
    expect(isAllowedToken(' great')).toBe(true);
    expect(isAllowedToken("don't")).toBe(true);
    expect(isAllowedToken(' ,')).toBe(false);
    expect(isAllowedToken('a\n')).toBe(false);
    expect(isAllowedToken('x'.repeat(18))).toBe(false);
    expect(allowedTokenIds(rt.tokenizer)).not.toContain(0);
  });

  it('with punctuation also allows the marks inside a sentence and clitics, and nothing else new', () => {
    const p = { punctuation: true };
    for (const t of [' ,', ',', ';', ' --', "'s", " 're", " n't"]) expect(isAllowedToken(t, p), t).toBe(true);
    for (const t of [' .', '!', ' ?', ':', ' "', ' (', '...', '<', ' $', '12', ',\n', '.,', "'abc", '#']) expect(isAllowedToken(t, p), t).toBe(false);
    const words = allowedTokenIds(rt.tokenizer);
    const withPunct = allowedTokenIds(rt.tokenizer, p);
    expect(withPunct.length).toBeGreaterThan(words.length);
    expect(words.every((id) => withPunct.includes(id))).toBe(true);
    for (const id of withPunct.filter((i) => !words.includes(i))) expect(rt.tokenizer.tokenText(id).trim()).toMatch(/^([,;]|--|'[a-z]{1,2})$/i);
  });

  it("with a task's symbols also allows tokens made of them, alone or around one word, the lone space, and nothing else new", () => {
    const o = { symbols: '@#0123456789' };
    for (const t of ['@', ' @', '#', ' ##', '7', ' ', '#love', '@user', 'mp3', '2019', ' great']) expect(isAllowedToken(t, o), t).toBe(true);
    for (const t of ['a@b', '@a@b#', '$', ' .', '!', ',', '  ', '@\n', '7'.repeat(18), '@-']) expect(isAllowedToken(t, o), t).toBe(false);
    // Characters a regular expression's class treats specially are taken literally.
    for (const [symbols, yes, no] of [['^', '^a', '$'], [']', ']]', '['], ['\\', '\\', '^'], ['-', '-', 'a+'], ['^-', '-^', 'a'], ['😂', ' 😂😂', '\ud83d']] as const) {
      expect(isAllowedToken(yes, { symbols }), `${symbols}: ${yes}`).toBe(true);
      expect(isAllowedToken(no, { symbols }), `${symbols}: ${no}`).toBe(no === 'a');
    }
    // Over the whole vocabulary, against the rule written out by hand: a word, or the lone space, or
    // after trimming a run of symbols, at most one word, a run of symbols.
    const words = allowedTokenIds(rt.tokenizer);
    const withSymbols = allowedTokenIds(rt.tokenizer, o);
    const sym = new Set(o.symbols);
    const slow = (text: string): boolean => {
      if (text === ' ') return true;
      const t = text.trim().toLowerCase();
      if (t.length === 0 || text.length > 17 || /[\n\r]/.test(text)) return false;
      let i = 0;
      while (i < t.length && sym.has(t[i])) i++;
      let j = t.length;
      while (j > i && sym.has(t[j - 1])) j--;
      return i === t.length || /^[a-z]+(['-][a-z]+)*$/.test(t.slice(i, j));
    };
    const expected = [];
    for (let id = 0; id < rt.tokenizer.vocabSize; id++) if (!rt.tokenizer.info.specialIds.has(id) && slow(rt.tokenizer.tokenText(id))) expected.push(id);
    expect(withSymbols).toEqual(expected);
    expect(words.every((id) => withSymbols.includes(id))).toBe(true);
    const added = withSymbols.filter((i) => !words.includes(i)).map((i) => rt.tokenizer.tokenText(i));
    for (const t of ['@', '#', '0', '9']) expect(added, t).toContain(t); // non-vacuous: the test tokenizer has these
  });
});

describe('stray spaces', () => {
  it('drops the lone space before a token that begins with whitespace and at the end, and keeps it before a digit or a symbol', () => {
    const vocab = [' ', ' the', ' great', '2', '0', '@', 'ly', ' @', '\n'];
    const text = (id: number) => vocab[id];
    const decode = (ids: number[]) => ids.map(text).join('');
    const cases: [string[], string][] = [
      [[' the', ' ', ' great'], ' the great'],
      [[' the', ' ', '2', '0'], ' the 20'],
      [[' ', '@', ' ', ' @', ' great', ' '], ' @ @ great'],
      [[' ', ' ', ' ', '2'], ' 2'],
      [[' ', 'ly'], ' ly'],
      [[' ', '\n'], '\n'],
      [[], ''],
    ];
    for (const [tokens, want] of cases) {
      const ids = tokens.map((t) => vocab.indexOf(t));
      const kept = withoutStraySpaces(ids, text);
      expect(decode(kept), JSON.stringify(tokens)).toBe(want);
      // Only lone spaces are ever dropped, and the rest keep their order.
      expect(ids.filter((id) => text(id) !== ' ')).toEqual(kept.filter((id) => text(id) !== ' '));
    }
  });
});

describe('stray-space ban', () => {
  const symbols = { symbols: '@#0123456789' };
  const text = (id: number) => rt.tokenizer.tokenText(id);
  /** The rule written out: a whitespace-led token right after the lone space. */
  const stray = (prefix: number[], c: number) => prefix.length > 0 && text(prefix[prefix.length - 1]) === ' ' && /^\s/.test(text(c));
  const straySomewhere = (ids: number[]) => ids.some((id, i) => i > 0 && stray(ids.slice(0, i), id));

  it('bans exactly the whitespace-led allowed tokens after the lone space, and does not exist without it', () => {
    expect(StraySpaceBan.over(allowedTokenIds(rt.tokenizer), text)).toBeUndefined(); // words only: no lone space
    const allowed = allowedTokenIds(rt.tokenizer, symbols);
    const ban = StraySpaceBan.over(allowed, text)!;
    const space = allowed.find((id) => text(id) === ' ')!;
    const word = allowed.find((id) => /^\s[a-z]/.test(text(id)))!;
    for (const prefix of [[], [word], [space, word]]) expect(ban.bannedAfter(prefix), JSON.stringify(prefix)).toBeUndefined();
    const after = ban.bannedAfter([word, space])!;
    for (const id of allowed) expect(after.has(id), JSON.stringify(text(id))).toBe(/^\s/.test(text(id)));
  });

  /** A small vocabulary, mostly whitespace-led, so that the unbanned decode writes stray spaces (the test tokenizer has few such tokens). */
  const spacey = () => allowedTokenIds(rt.tokenizer, symbols).filter((id) => /^(\s.*|[ab7])$/.test(text(id)));

  it('the projection with it: cached equals recomputed, each choice the likeliest candidate the rule allows, and no stray space where the unbanned decode writes one', () => {
    const allowed = spacey();
    const context = rt.tokenizer.encode('Movie review:');
    // Targets alternating between the lone space and words, so that both are among the candidates.
    const space = allowed.find((id) => text(id) === ' ')!;
    const words = allowed.filter((id) => /^\s./.test(text(id)));
    const Y = tf.tidy(() => tf.reshape(model.embed(Array.from({ length: 4 * 8 }, (_, j) => [j % 2 === 0 ? space : words[j % words.length]])), [4, 8, d])) as tf.Tensor3D;
    const plain = new Projector(model, allowed, 2, context);
    const unbanned = plain.project(Y);
    plain.dispose();
    expect(unbanned.some(straySomewhere)).toBe(true); // not vacuous
    const p = new Projector(model, allowed, 2, context, 0, 0, StraySpaceBan.over(allowed, text));
    const fast = expectBannedGreedy(p, Y, context, stray);
    // A stray space is left only where the rule would have left no candidate (the ban then steps aside).
    const cands = p.candidates(Y);
    const strays = (rows: number[][]) => rows.flatMap((ids, b) => ids.flatMap((id, i) => (i > 0 && stray(ids.slice(0, i), id) ? [{ b, i }] : [])));
    for (const { b, i } of strays(fast)) expect(cands[b][i].every((c) => stray(fast[b].slice(0, i), c))).toBe(true);
    expect(strays(fast).length).toBeLessThan(strays(unbanned).length);
    p.dispose();
    Y.dispose();
  });

  it('the LM start with it draws no stray space, where the same draws without it do', () => {
    const allowed = spacey();
    const ban = StraySpaceBan.over(allowed, text)!;
    const context = rt.tokenizer.encode('Movie review:');
    // Temperature 100: all but uniform over the allowed tokens.
    const draw = (b?: StraySpaceBan) => sampleAllowed(model, new Set(allowed), context, 8, 12, new Rng(5), { topK: 400, temperature: 100, ban: b });
    expect(draw().some(straySomewhere)).toBe(true);
    const banned = draw(ban);
    for (const ids of banned) expect(straySomewhere(ids), rt.tokenizer.decode(ids)).toBe(false);
    expect(banned.flat().filter((id) => text(id) === ' ').length).toBeGreaterThan(0); // the lone space is still written
  });
});

describe('sentence-end cut', () => {
  /** The obviously correct version: one full forward per candidate length. */
  const slowLengths = (context: number[], seqs: number[][], end: number, minFraction: number) =>
    seqs.map((seq) => {
      let best = seq.length;
      let bestScore = -Infinity;
      for (let k = Math.min(seq.length, Math.max(2, Math.floor(minFraction * seq.length))); k <= seq.length; k++) {
        const v = tf.tidy(() => tf.logSoftmax(model.forward({ ids: [[...context, ...seq.slice(0, k)]], logits: 'last' }).logits!).dataSync()[end]);
        if (v > bestScore) {
          bestScore = v;
          best = k;
        }
      }
      return best;
    });

  it('keeps the prefix after which the LM most expects the end token, as full recomputation does', () => {
    const rng = new Rng(3);
    // Ragged lengths, so the batched version's left padding is exercised.
    const seqs = [9, 6, 11, 4, 8, 10, 7, 5, 12, 3, 1].map((n) => Array.from({ length: n }, () => 1 + Math.floor(rng.uniform() * (V - 1))));
    const context = [2, 5, 7];
    for (const [end, frac] of [[4, 0.5], [11, 0.3], [4, 1]] as const) {
      const fast = sentenceEndLengths(model, context, seqs, end, frac, 4);
      expect(fast).toEqual(slowLengths(context, seqs, end, frac));
      fast.forEach((k, i) => expect(k).toBeGreaterThanOrEqual(Math.min(seqs[i].length, Math.max(2, Math.floor(frac * seqs[i].length)))));
    }
    expect(sentenceEndLengths(model, context, seqs, 4, 1)).toEqual(seqs.map((s) => s.length));
  });

  it('rejects a fraction outside (0, 1] and a token outside the vocabulary', () => {
    expect(() => sentenceEndLengths(model, [1], [[2, 3]], 4, 0)).toThrow(/fraction in \(0, 1\]/);
    expect(() => sentenceEndLengths(model, [1], [[2, 3]], V, 0.5)).toThrow(/not in the model's vocabulary/);
  });
});

describe('commas', () => {
  /**
   * The obviously correct version: for every gap, one uncached forward of the prefix, its
   * next-token distribution in float64, and the rule read off it.
   */
  const slowCommas = (context: number[], seqs: number[][], style: CommaStyle) =>
    seqs.map((seq) => {
      const isComma = new Set([...style.commaIds, ...style.insert]);
      const out: number[] = [];
      seq.forEach((id, k) => {
        out.push(id);
        const next = seq[k + 1];
        if (next === undefined || !style.startsWord(next) || isComma.has(id) || isComma.has(next)) return;
        const logp = slowLogSoftmax([...context, ...seq.slice(0, k + 1)]);
        const comma = Math.log(style.commaIds.reduce((a, c) => a + Math.exp(logp[c]!), 0));
        if (comma >= Math.max(...logp)) out.push(...style.insert);
      });
      return out;
    });
  // A third of the vocabulary counted as "comma", so that it is the likeliest often enough on a
  // random model; odd ids start a word.
  const style: CommaStyle = { commaIds: Array.from({ length: Math.floor(V / 3) }, (_, i) => 3 * i + 2), insert: [5], startsWord: (id) => id % 2 === 1 };

  it('puts the comma where the LM finds it likeliest, as one forward per prefix does', () => {
    const rng = new Rng(4);
    const noComma = (n: number) => Array.from({ length: n }, () => {
      let id;
      do id = 1 + Math.floor(rng.uniform() * (V - 1));
      while (style.commaIds.includes(id) || id === 5);
      return id;
    });
    // Ragged lengths (left padding), one sequence with commas of its own, one of a single token.
    const seqs = [9, 6, 11, 4, 8, 10, 7, 1].map(noComma);
    seqs.push([...noComma(3), 2, ...noComma(4)]);
    const context = [2, 5, 7];
    const fast = withCommas(model, context, seqs, style, 4);
    expect(fast).toEqual(slowCommas(context, seqs, style));
    const added = fast.reduce((a, s, i) => a + s.length - seqs[i]!.length, 0);
    expect(added).toBeGreaterThan(0); // the rule fired somewhere, so the comparison means something
    // Only commas were added, never before a word's inner piece or next to a comma already there.
    fast.forEach((s, i) => {
      expect(s.filter((id) => id !== 5)).toEqual(seqs[i]!.filter((id) => id !== 5));
      s.forEach((id, k) => {
        if (id === 5 && !seqs[i]!.includes(5)) expect(style.startsWord(s[k + 1]!)).toBe(true);
      });
    });
    expect(fast[7]).toEqual(seqs[7]);
  });

  it("takes the task's style, and refuses a style with nothing to insert", () => {
    const demos = (...texts: string[]) => texts.map((text) => ({ text, label: 0 }));
    const insert = (task: Parameters<typeof commaStyle>[1]) => rt.tokenizer.decode(commaStyle(rt.tokenizer, task).insert);
    // The demonstrations' own style first, then the sentence end's spacing.
    expect(insert({ sentenceEnd: '', demonstrations: demos('warm , funny .', 'the end') })).toBe(' ,');
    expect(insert({ sentenceEnd: ' .', demonstrations: demos('warm, funny.') })).toBe(',');
    expect(insert({ sentenceEnd: ' .', demonstrations: demos('no comma here') })).toBe(' ,');
    expect(insert({ sentenceEnd: undefined, demonstrations: [] })).toBe(',');
    expect(insert({ sentenceEnd: '', demonstrations: demos('a , b', 'c, d') })).toBe(',');
    // The tiny tokenizer has "," as one token and " ," as two: only the single one is read.
    expect(commaStyle(rt.tokenizer, { demonstrations: [] }).commaIds).toEqual([rt.tokenizer.encode(',')[0]]);
    expect(() => withCommas(model, [1], [[2, 3]], { ...style, insert: [] })).toThrow(/comma style/);
  });
});

describe('end marks', () => {
  /** The obviously correct version: one uncached forward of context + text, its last distribution in float64, and the rule read off it. */
  const slowEndMarks = (context: number[], seqs: number[][], style: EndMarkStyle) =>
    seqs.map((seq) => {
      if (seq.length === 0 || style.endsSentence(seq[seq.length - 1]!)) return seq;
      const logp = slowLogSoftmax([...context, ...seq]);
      const perMark = style.marks.map((m) => Math.log(m.ids.reduce((a, id) => a + Math.exp(logp[id]!), 0)));
      const all = Math.log(perMark.reduce((a, v) => a + Math.exp(v), 0));
      if (all < Math.max(...logp)) return seq;
      return [...seq, ...style.marks[perMark.indexOf(Math.max(...perMark))]!.insert];
    });
  // Two "marks" of a few dozen ids each, so that on a random model the rule fires on some texts
  // and not on others, and either mark can win; 5 and 6 are what they append.
  const ids = (r: number) => Array.from({ length: Math.floor(V / 24) }, (_, i) => 12 * i + r).filter((id) => id > 6 && id < V);
  const style: EndMarkStyle = { marks: [{ mark: '.', ids: ids(7), insert: [5] }, { mark: '!', ids: ids(8), insert: [6] }], endsSentence: (id) => id === 5 || id === 6 };

  it('ends a text with the likeliest mark where the marks together are the likeliest next token, as one forward per text does', () => {
    const rng = new Rng(6);
    const draw = (n: number) => Array.from({ length: n }, () => 7 + Math.floor(rng.uniform() * (V - 7)));
    // Ragged lengths (left padding), a text that already ends with a mark, an empty one.
    const seqs = [5, 9, 3, 12, 7, 4, 8, 6, 10, 2, 11, 6, 9, 5, 7, 8].map(draw);
    seqs.push([...draw(4), 6], []);
    const context = [2, 5, 7];
    const fast = withEndMarks(model, context, seqs, style, 4);
    expect(fast).toEqual(slowEndMarks(context, seqs, style));
    const marked = fast.filter((s, i) => s.length > seqs[i]!.length);
    // The rule fired on some texts and not on others, so the comparison means something.
    expect(marked.length).toBeGreaterThan(0);
    expect(marked.length).toBeLessThan(seqs.length - 2);
    // Only a mark was appended, never to a text that ends with one, and the input is untouched.
    fast.forEach((s, i) => expect(s.slice(0, seqs[i]!.length)).toEqual(seqs[i]));
    expect(fast.at(-2)).toEqual(seqs.at(-2));
    expect(fast.at(-1)).toEqual([]);
  });

  it("takes the task's style, leaves out marks the tokenizer lacks, and refuses a style with nothing to append", () => {
    const demos = (...texts: string[]) => texts.map((text) => ({ text, label: 0 }));
    const insert = (task: Parameters<typeof endMarkStyle>[1]) => endMarkStyle(rt.tokenizer, task).marks.map((m) => rt.tokenizer.decode(m.insert));
    const st = endMarkStyle(rt.tokenizer, { demonstrations: [] });
    const marks = st.marks.map((m) => m.mark);
    expect(marks).toContain('.');
    // The demonstrations' own style first, then the sentence end's spacing.
    expect(insert({ sentenceEnd: '', demonstrations: demos('warm , funny .', 'no mark') })).toEqual(marks.map((m) => ` ${m}`));
    expect(insert({ sentenceEnd: ' .', demonstrations: demos('warm, funny.') })).toEqual(marks);
    expect(insert({ sentenceEnd: ' .', demonstrations: demos('no mark here') })).toEqual(marks.map((m) => ` ${m}`));
    // A mark inside a text counts (tweets that end without one but write " . " between sentences).
    expect(insert({ sentenceEnd: '', demonstrations: demos('cancelled again . worst day ever', 'no mark') })).toEqual(marks.map((m) => ` ${m}`));
    expect(insert({ sentenceEnd: ' .', demonstrations: demos('see you tonight! #game') })).toEqual(marks);
    // Neither a decimal point nor an ellipsis inside a word decides it.
    expect(insert({ sentenceEnd: ' .', demonstrations: demos('version 2.5 of it') })).toEqual(marks.map((m) => ` ${m}`));
    expect(insert({ sentenceEnd: undefined, demonstrations: [] })).toEqual(marks);
    // A token that ends a sentence is known as one.
    expect(st.endsSentence(rt.tokenizer.encode('.')[0]!)).toBe(true);
    expect(st.endsSentence(rt.tokenizer.encode('the')[0]!)).toBe(false);
    // A tokenizer with no single token for any mark cannot be read.
    const noMarks = { ...rt.tokenizer, encode: (t: string) => (/[.!?]/.test(t) ? [1, 2] : rt.tokenizer.encode(t)), tokenText: (id: number) => rt.tokenizer.tokenText(id) } as typeof rt.tokenizer;
    expect(() => endMarkStyle(noMarks, { demonstrations: [] })).toThrow(/no single token/);
    expect(() => withEndMarks(model, [1], [[2, 3]], { ...style, marks: [{ mark: '.', ids: [7], insert: [] }] })).toThrow(/end-mark style/);
  });

  it('PromptStates forwards each prompt once and gives every prompt the state its own forward gives', () => {
    const target = computeClassTarget(model, examples(TEXTS), 0, 7, prompt(rt.tokenizer.encode(' it')), {});
    const loss = new MatchingLoss(model, target, 7, 'cosine');
    const forward = vi.spyOn(model, 'forward');
    try {
      const rng = new Rng(4);
      const draw = (n: number) => Array.from({ length: n }, () => 7 + Math.floor(rng.uniform() * (V - 7)));
      const prompts = [5, 3, 6, 5, 4].map(draw);
      const states = new PromptStates(model, 2);
      forward.mockClear();
      // Four prompts asked, one of them twice, in chunks of 2: three distinct ones, two forwards.
      const asked = [prompts[0]!, prompts[1]!, prompts[0]!, prompts[2]!];
      const got = states.of(asked);
      const rows = got.arraySync() as number[][];
      got.dispose();
      expect(forward).toHaveBeenCalledTimes(2);
      // The oracle: each prompt forwarded alone, unpadded.
      const alone = (p: number[]) => tf.tidy(() => Array.from(lastPosition(model.forward({ ids: [p], logits: 'none' }).hidden).dataSync()));
      asked.forEach((p, i) => {
        const want = alone(p);
        expect(Math.max(...want.map((v, k) => Math.abs(v - rows[i]![k]!)))).toBeLessThan(1e-4 * Math.max(1, ...want.map(Math.abs)));
      });
      // Asked again with two new prompts: only those are forwarded.
      forward.mockClear();
      const losses = states.matchingLoss(loss, prompts);
      expect(forward).toHaveBeenCalledTimes(1);
      const fresh = prompts.map((p) => matchingLossOfPrompts(model, loss, [p])[0]!);
      losses.forEach((v, i) => expect(Math.abs(v - fresh[i]!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(fresh[i]!))));
      expect(states.of([]).shape).toEqual([0, model.config.dModel]);
    } finally {
      forward.mockRestore();
      loss.dispose();
    }
  });

  it("weighs a batch's marks by the summed matching loss of the prompts they change, each read alone", () => {
    const target = computeClassTarget(model, examples(TEXTS), 0, 7, prompt(rt.tokenizer.encode(' it')), {});
    const loss = new MatchingLoss(model, target, 7, 'cosine');
    try {
      const rng = new Rng(9);
      const draw = (n: number) => Array.from({ length: n }, () => 7 + Math.floor(rng.uniform() * (V - 7)));
      const bare = [4, 7, 5, 6, 3].map(draw);
      // Marks on texts 0, 2 and 3; text 3's prompt adds the mark anyway (as the built-in task's
      // " ." does for a bare text), so it changes nothing the student reads; 1 and 4 are unmarked.
      const marked = bare.map((s, i) => (i === 0 || i === 2 || i === 3 ? [...s, 5] : s));
      const tail = [11, 12];
      const promptOf = (s: number[]) => (s === bare[3] ? [...s, 5, ...tail] : [...s, ...tail]);
      const got = marksNearerTarget(new PromptStates(model), loss, bare, marked, promptOf);
      // The oracle: each changed prompt's loss alone, through the set loss of a set of one.
      const alone = (ids: number[]) => setMatchingLossOfPrompts(model, loss, [ids]);
      const gain = [0, 2].reduce((a, i) => a + alone([...bare[i]!, ...tail]) - alone([...marked[i]!, ...tail]), 0);
      expect(got.compared).toBe(2);
      expect(Math.abs(got.gain - gain)).toBeLessThan(1e-5);
      expect(got.keep).toBe(gain > 0);
      // Flipped (the marks taken off), the same sum with the other sign.
      const flipped = marksNearerTarget(new PromptStates(model), loss, marked.map((s, i) => (i === 3 ? bare[3]! : s)), bare, (s) => [...s, ...tail]);
      expect(flipped.compared).toBe(2);
      expect(Math.abs(flipped.gain + gain)).toBeLessThan(1e-5);
      expect(flipped.keep).toBe(!got.keep);
      // Nothing the student reads changed: the marks stay (the task's prompt ends such texts so).
      expect(marksNearerTarget(new PromptStates(model), loss, [bare[3]!], [marked[3]!], promptOf)).toEqual({ keep: true, gain: 0, compared: 0 });
      expect(() => marksNearerTarget(new PromptStates(model), loss, bare, marked.slice(1), promptOf)).toThrow(/5 texts without marks against 4 with/);
    } finally {
      loss.dispose();
    }
  });
});

// Oracles of the LM draws: the next token's log-softmax after `ids` by one uncached forward, in
// float64, and an index drawn from softmax(scores) with one uniform by a plain cumulative scan.
const slowLogSoftmax = (ids: number[]) => {
  const out = model.forward({ ids: [ids], logits: 'last' });
  const row = Array.from(out.logits!.dataSync() as Float32Array);
  out.hidden.dispose();
  out.logits!.dispose();
  const m = Math.max(...row);
  const z = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
  return row.map((v) => v - z);
};
const slowDraw = (scores: number[], rng: Rng) => {
  const mx = Math.max(...scores);
  const p = scores.map((v) => Math.exp(v - mx));
  let u = rng.uniform() * p.reduce((a, v) => a + v, 0);
  let j = 0;
  while (j < p.length - 1 && (u -= p[j]!) > 0) j++;
  return j;
};

describe('ADMM', () => {
  const settings: Omit<AdmmSettings, 'init'> = { batchSize: 2, textLength: 4, outer: 2, inner: 2, lr: 0.05, lrDecay: 0.9, lrDecayEvery: 50, gradClip: 1, rho: 1, topK: 4, projectionTemperature: 0, candidates: 2, initNorm: 3 };
  const run = async (
    seed: number,
    init: 'random' | 'lm',
    shouldStop?: () => boolean,
    projectionTemperature = 0,
    overrides: Partial<typeof settings> = {},
    contrastContexts?: number[][],
    opening?: { contexts: number[][]; rng: Rng },
    contextText = 'The',
  ) => {
    const target = computeClassTarget(model, examples(TEXTS), 0, 7, prompt(rt.tokenizer.encode(' it')), {});
    const loss = new MatchingLoss(model, target, 7);
    const allowed = allowedTokenIds(rt.tokenizer);
    const context = rt.tokenizer.encode(contextText);
    const projector = new Projector(model, allowed, 4, context);
    try {
      const suffix = rt.tokenizer.encode(' it');
      const res = await runAdmm({ model, loss, projector, suffix, allowed: new Set(allowed), context, contrastContexts, opening }, { ...settings, init, projectionTemperature, ...overrides }, new Rng(seed), { shouldStop });
      // Oracle: each kept sequence's loss is that of its own ids, scored apart (padded ids path).
      const again = matchingLossOfPrompts(model, loss, res.ids.map((ids) => [...ids, ...suffix]));
      res.lossPerExample.forEach((l, j) => expect(l).toBeCloseTo(again[j], 4));
      // and the batch loss is that of the kept ids matched together, by a fresh forward.
      const together = tf.tidy(() => loss.loss(lastPosition(model.forward({ ids: res.ids.map((ids) => [...ids, ...suffix]), logits: 'none' }).hidden)).dataSync()[0]);
      expect(res.lossBatch).toBeCloseTo(together, 5);
      return res;
    } finally {
      loss.dispose();
      projector.dispose();
    }
  };

  for (const init of ['random', 'lm'] as const) {
    it(`(${init} init) is reproducible by seed and keeps, per sequence, its best projection`, async () => {
      const a = await run(1, init);
      const b = await run(1, init);
      expect(a.ids).toEqual(b.ids);
      expect(a.ids).toHaveLength(2);
      for (const row of a.ids) expect(row).toHaveLength(4);
      expect(a.history).toHaveLength(2);
      expect(a.adamSteps).toBe(4);
      for (const [j, l] of a.lossPerExample.entries()) {
        expect(Number.isFinite(l)).toBe(true);
        expect(a.bestIteration[j]).toBeGreaterThanOrEqual(0);
      }
    });
  }

  it('with a projection temperature, is reproducible by seed and differs from the argmax projection', async () => {
    // The tiny model's logits are peaked; a high temperature makes the draws all but uniform.
    const [a, b, greedy] = [await run(1, 'lm', undefined, 100), await run(1, 'lm', undefined, 100), await run(1, 'lm')];
    expect(a.ids).toEqual(b.ids);
    expect(a.ids).not.toEqual(greedy.ids);
  });

  it('refuses a negative or non-finite projection temperature', async () => {
    await expect(run(1, 'lm', undefined, -1)).rejects.toThrow(/projectionTemperature must be >= 0/);
    await expect(run(1, 'lm', undefined, NaN)).rejects.toThrow(/projectionTemperature must be >= 0/);
  });

  it('with outer 0 returns the projection of the LM-sampled start, as projecting that sample by hand does', async () => {
    const res = await run(3, 'lm', undefined, 0, { outer: 0, candidates: 1 });
    expect(res.history).toHaveLength(0);
    expect(res.adamSteps).toBe(0);
    expect(res.bestIteration).toEqual([0, 0]);
    // Oracle: the same seeded draw, embedded and projected once.
    const allowed = allowedTokenIds(rt.tokenizer);
    const context = rt.tokenizer.encode('The');
    const projector = new Projector(model, allowed, 4, context);
    try {
      const start = model.embed(sampleAllowed(model, new Set(allowed), context, 2, 4, new Rng(3)));
      expect(res.ids).toEqual(projector.project(start));
      start.dispose();
    } finally {
      projector.dispose();
    }
    await expect(run(3, 'lm', undefined, 0, { outer: -1 })).rejects.toThrow(/outer must be a non-negative integer/);
  });

  it('rawStart: only returns the LM start as sampled; candidate keeps per sequence the better of it and the projections', async () => {
    const allowed = allowedTokenIds(rt.tokenizer);
    const context = rt.tokenizer.encode('The');
    const drawn = sampleAllowed(model, new Set(allowed), context, 2, 4, new Rng(3));
    const only = await run(3, 'lm', undefined, 0, { outer: 2, candidates: 1, rawStart: 'only' });
    expect(only.ids).toEqual(drawn);
    expect(only.bestIteration).toEqual([-1, -1]);
    expect(only.history).toHaveLength(0);
    expect(only.adamSteps).toBe(0);
    // candidate: the same seeded run as off, with the start as one more contender per sequence,
    // so each sequence's loss is the lower of the start's and off's best projection.
    const off = await run(3, 'lm', undefined, 0, { candidates: 1 });
    const both = await run(3, 'lm', undefined, 0, { candidates: 1, rawStart: 'candidate' });
    both.lossPerExample.forEach((l, j) => {
      expect(l).toBeCloseTo(Math.min(off.lossPerExample[j], only.lossPerExample[j]), 5);
      expect(both.ids[j]).toEqual(both.bestIteration[j] === -1 ? drawn[j] : off.ids[j]);
    });
    await expect(run(3, 'random', undefined, 0, { rawStart: 'only' })).rejects.toThrow(/rawStart only needs init 'lm'/);
    await expect(run(3, 'lm', undefined, 0, { rawStart: 'raw' as never })).rejects.toThrow(/rawStart must be off, candidate or only/);
  });

  it('draws the LM start at initTemperature: the same seeded draw at that temperature, greedy as it goes to 0', async () => {
    const allowed = allowedTokenIds(rt.tokenizer);
    const context = rt.tokenizer.encode('The');
    const projector = new Projector(model, allowed, 4, context);
    try {
      for (const t of [0.5, 3]) {
        const res = await run(5, 'lm', undefined, 0, { outer: 0, candidates: 1, initTemperature: t });
        const start = model.embed(sampleAllowed(model, new Set(allowed), context, 2, 4, new Rng(5), { temperature: t }));
        expect(res.ids).toEqual(projector.project(start));
        start.dispose();
      }
      // Oracle for the limit: near 0 every row is the allowed-token greedy decode, found by
      // recomputing the whole prefix at each step.
      const cold = await run(5, 'lm', undefined, 0, { outer: 0, candidates: 1, initTemperature: 1e-6 });
      const greedy: number[] = [];
      for (let i = 0; i < 4; i++) {
        const out = model.forward({ ids: [[...context, ...greedy]], logits: 'last' });
        const row = out.logits!.dataSync() as Float32Array;
        out.hidden.dispose();
        out.logits!.dispose();
        greedy.push(allowed.reduce((best, id) => (row[id]! > row[best]! ? id : best), allowed[0]!));
      }
      const start = model.embed([greedy, greedy]);
      expect(cold.ids).toEqual(projector.project(start));
      start.dispose();
    } finally {
      projector.dispose();
    }
    await expect(run(5, 'lm', undefined, 0, { initTemperature: 0 })).rejects.toThrow(/initTemperature must be positive/);
    await expect(run(5, 'lm', undefined, 0, { initTemperature: NaN })).rejects.toThrow(/initTemperature must be positive/);
  });

  it('draws a guided LM start as recomputing both contexts token by token does (contrastive oracle)', async () => {
    const allowed = allowedTokenIds(rt.tokenizer);
    const context = rt.tokenizer.encode('The');
    const other = rt.tokenizer.encode('A bad');
    const [B, L, K, T, w] = [3, 5, 40, 0.8, 1.5];
    const fast = sampleAllowed(model, new Set(allowed), context, B, L, new Rng(11), { temperature: T, contrast: { contexts: [other], weight: w } });
    // Slow and obviously correct: no cache, every prefix run in full under both contexts, log
    // probabilities in float64, the context's own top-K of the allowed ids rescored, one uniform
    // a row a step in row order (the fast path's order).
    const rng = new Rng(11);
    const slow: number[][] = Array.from({ length: B }, () => []);
    for (let i = 0; i < L; i++) {
      for (let b = 0; b < B; b++) {
        const own = slowLogSoftmax([...context, ...slow[b]!]);
        const contra = slowLogSoftmax([...other, ...slow[b]!]);
        const top = [...allowed].sort((x, y) => own[y]! - own[x]! || x - y).slice(0, K);
        slow[b]!.push(top[slowDraw(top.map((id) => ((1 + w) * own[id]! - w * contra[id]!) / T), rng)]!);
      }
    }
    expect(fast).toEqual(slow);
    // Weight 0, or no contrast context, is the plain draw.
    const plain = sampleAllowed(model, new Set(allowed), context, B, L, new Rng(11), { temperature: T });
    expect(sampleAllowed(model, new Set(allowed), context, B, L, new Rng(11), { temperature: T, contrast: { contexts: [other], weight: 0 } })).toEqual(plain);
    expect(fast).not.toEqual(plain);
  });

  it('draws an LM start with a copy ban as recomputing the context token by token does, and it copies no n-gram of the context (oracle)', () => {
    const allowed = allowedTokenIds(rt.tokenizer);
    const [B, L, K, T, n] = [3, 6, 40, 0.8, 2];
    const base = rt.tokenizer.encode('The');
    // A context that holds the LM's own likely continuations, as a demonstration would.
    const demo = sampleAllowed(model, new Set(allowed), base, 1, 8, new Rng(4), { temperature: 0.3 })[0]!;
    const context = [...base, ...demo, ...base];
    const fast = sampleAllowed(model, new Set(allowed), context, B, L, new Rng(11), { temperature: T, ban: new NgramBan(context, n) });
    // Slow and obviously correct: no cache, every prefix run in full, the top-K of the allowed ids
    // whose n-gram with the prefix's last n - 1 tokens is not in the context (brute force).
    const rng = new Rng(11);
    const slow: number[][] = Array.from({ length: B }, () => []);
    for (let i = 0; i < L; i++) {
      for (let b = 0; b < B; b++) {
        const lp = slowLogSoftmax([...context, ...slow[b]!]);
        const free = allowed.filter((id) => !(slow[b]!.length >= n - 1 && copiesNgram([...slow[b]!, id].slice(-n), context, n)));
        const top = free.sort((x, y) => lp[y]! - lp[x]! || x - y).slice(0, K);
        slow[b]!.push(top[slowDraw(top.map((id) => lp[id]! / T), rng)]!);
      }
    }
    expect(fast).toEqual(slow);
    for (const row of fast) expect(copiesNgram(row, context, n)).toBe(false);
    // A ban that would leave no allowed token draws among the allowed ones, as if unbanned.
    const row = Float32Array.from({ length: 8 }, (_, i) => i);
    expect([3, 5]).toContain(sampleTopK(row, new Rng(1), { topK: 4, temperature: 1, allowed: new Set([3, 5]), banned: new Set([3, 5]) }));
    expect(sampleTopK(row, new Rng(1), { topK: 4, temperature: 1, allowed: new Set([3, 5]), banned: new Set([5]) })).toBe(3);
    // Not vacuous: the same seeded draw without the ban copies the demonstration.
    const plain = sampleAllowed(model, new Set(allowed), context, B, L, new Rng(11), { temperature: T });
    expect(plain.some((row) => copiesNgram(row, context, n))).toBe(true);
  });

  it('starts from the banned draw with noCopyNgram, and refuses n = 1', async () => {
    const allowed = allowedTokenIds(rt.tokenizer);
    const long = rt.tokenizer.encode('The film was good. The');
    const projector = new Projector(model, allowed, 4, long);
    try {
      const res = await run(5, 'lm', undefined, 0, { outer: 0, candidates: 1, noCopyNgram: 2 }, undefined, undefined, 'The film was good. The');
      const start = model.embed(sampleAllowed(model, new Set(allowed), long, 2, 4, new Rng(5), { ban: new NgramBan(long, 2) }));
      expect(res.ids).toEqual(projector.project(start));
      start.dispose();
    } finally {
      projector.dispose();
    }
    await expect(run(5, 'lm', undefined, 0, { noCopyNgram: 1 })).rejects.toThrow(/noCopyNgram must be an integer >= 2/);
  });

  it('starts from the guided draw with initGuidance and contrast contexts, and refuses a negative guidance', async () => {
    const allowed = allowedTokenIds(rt.tokenizer);
    const context = rt.tokenizer.encode('The');
    const other = rt.tokenizer.encode('A bad');
    const projector = new Projector(model, allowed, 4, context);
    try {
      const res = await run(5, 'lm', undefined, 0, { outer: 0, candidates: 1, initGuidance: 2 }, [other]);
      const start = model.embed(sampleAllowed(model, new Set(allowed), context, 2, 4, new Rng(5), { contrast: { contexts: [other], weight: 2 } }));
      expect(res.ids).toEqual(projector.project(start));
      start.dispose();
      // Without contrast contexts the setting has nothing to contrast with: the plain start.
      const bare = await run(5, 'lm', undefined, 0, { outer: 0, candidates: 1, initGuidance: 2 });
      expect(bare.ids).toEqual((await run(5, 'lm', undefined, 0, { outer: 0, candidates: 1 })).ids);
    } finally {
      projector.dispose();
    }
    await expect(run(5, 'lm', undefined, 0, { initGuidance: -1 })).rejects.toThrow(/initGuidance must be >= 0/);
    await expect(run(5, 'lm', undefined, 0, { initGuidance: NaN })).rejects.toThrow(/initGuidance must be >= 0/);
  });

  it('draws a shared opening as recomputing every label context token by token does, the same for every class (oracle)', async () => {
    const allowed = allowedTokenIds(rt.tokenizer);
    const labels = [rt.tokenizer.encode('A good'), rt.tokenizer.encode('A bad')];
    const [B, L, n, K, T] = [3, 5, 3, 40, 0.8];
    const draw = (own: number[], seed: number) =>
      sampleAllowed(model, new Set(allowed), own, B, L, new Rng(seed), { temperature: T, opening: { contexts: labels, length: n, rng: new Rng(21) } });
    const fast = draw(labels[0]!, 11);
    // Slow and obviously correct: no cache, every prefix run in full under every context, log
    // probabilities in float64. The first n tokens: the top-K of the mean log-softmax over the
    // label contexts, drawn with the opening's stream; then the own context's plain top-K draw
    // with the class's stream; one uniform a row a step in row order.
    const [openRng, ownRng] = [new Rng(21), new Rng(11)];
    const slow: number[][] = Array.from({ length: B }, () => []);
    for (let i = 0; i < L; i++) {
      for (let b = 0; b < B; b++) {
        const lp =
          i < n
            ? labels.map((c) => slowLogSoftmax([...c, ...slow[b]!])).reduce((acc, r) => acc.map((v, j) => v + r[j]! / labels.length), new Array<number>(V).fill(0))
            : slowLogSoftmax([...labels[0]!, ...slow[b]!]);
        const top = [...allowed].sort((x, y) => lp[y]! - lp[x]! || x - y).slice(0, K);
        slow[b]!.push(top[slowDraw(top.map((id) => lp[id]! / T), i < n ? openRng : ownRng)]!);
      }
    }
    expect(fast).toEqual(slow);
    // Another class (its own context and stream) opens with the same tokens, row by row, and goes
    // on differently; length 0 is the plain draw.
    const other = draw(labels[1]!, 12);
    expect(other.map((r) => r.slice(0, n))).toEqual(fast.map((r) => r.slice(0, n)));
    expect(other).not.toEqual(fast);
    const plain = sampleAllowed(model, new Set(allowed), labels[0]!, B, L, new Rng(11), { temperature: T });
    expect(sampleAllowed(model, new Set(allowed), labels[0]!, B, L, new Rng(11), { temperature: T, opening: { contexts: labels, length: 0, rng: new Rng(21) } })).toEqual(plain);
  });

  it('starts from the shared-opening draw with sharedOpening and opening contexts, and refuses a fraction outside [0, 1]', async () => {
    const allowed = allowedTokenIds(rt.tokenizer);
    const context = rt.tokenizer.encode('The');
    const labels = [context, rt.tokenizer.encode('A bad')];
    const projector = new Projector(model, allowed, 4, context);
    try {
      // textLength 4 at fraction 0.5: a 2-token opening.
      const res = await run(5, 'lm', undefined, 0, { outer: 0, candidates: 1, sharedOpening: 0.5 }, undefined, { contexts: labels, rng: new Rng(9) });
      const start = model.embed(sampleAllowed(model, new Set(allowed), context, 2, 4, new Rng(5), { opening: { contexts: labels, length: 2, rng: new Rng(9) } }));
      expect(res.ids).toEqual(projector.project(start));
      start.dispose();
    } finally {
      projector.dispose();
    }
    for (const f of [-0.1, 1.1, NaN]) await expect(run(5, 'lm', undefined, 0, { sharedOpening: f })).rejects.toThrow(/sharedOpening must be in \[0, 1\]/);
  });

  it('stops when asked', async () => {
    await expect(run(1, 'random', () => true)).rejects.toThrow(AdmmAborted);
  });
});

describe('selection', () => {
  const c = (text: string, labelIndex: number, matching_loss: number, perplexity = 10) => ({ text, labelIndex, matching_loss, perplexity });
  it('drops label mismatches and duplicates, ranks by loss + alpha * ppl, balances', () => {
    const cands = [c('a', 0, 0.5), c('b', 0, 0.1), c('B ', 0, 0.05), c('d', 0, 0.2, 100), c('e', 1, 0.3), c('f', 1, 0.2), c('g', 1, 0.1)];
    const predicted = [0, 0, 0, 0, 1, 1, 0];
    const { kept, report } = select(cands, 2, { labelCheck: true, dedup: true, topN: 2, alpha: 0.01, balance: true }, predicted);
    expect(report).toEqual({ input: 7, passedDegenerateCheck: null, passedTargetFilter: null, passedLabelCheck: 6, afterDedup: 5, kept: 4, perClass: [2, 2] });
    expect(kept.map((k) => k.text)).toEqual(['a', 'b', 'e', 'f']);
  });

  it('drops degenerate candidates of a class only while it keeps more than topN others, before every other step', () => {
    const loop = { ...c('very very very very very very very very', 0, 0.01), ids: [7, 7, 7, 7, 7, 7, 7, 7] };
    const mash = c('httpsurlhttpsurlhttpsurlhttpsurl', 1, 0.02); // no ids: the letter-run test alone
    const cands = [loop, c('a slow film', 0, 0.3), c('a dull story', 0, 0.4), mash, c('a warm film', 1, 0.3), c('a moving one', 1, 0.5)];
    const opts = { labelCheck: false, dedup: true, topN: 2, alpha: 0, balance: true };
    // Off (the default): the best-matching texts are the degenerate ones.
    expect(select(cands, 2, { ...opts, topN: 1 }).kept.map((k) => k.text)).toEqual([loop.text, mash.text]);
    // On, with more clean texts than topN in each class: they are never kept.
    const on = select(cands, 2, { ...opts, topN: 1, dropDegenerate: true });
    expect(on.kept.map((k) => k.text)).toEqual(['a slow film', 'a warm film']);
    expect(on.report).toMatchObject({ input: 6, passedDegenerateCheck: 4, kept: 2 });
    // A class with only topN clean texts keeps its degenerate ones, so the kept count never falls.
    expect(select(cands, 2, { ...opts, dropDegenerate: true }).kept.map((k) => k.text)).toEqual([loop.text, 'a slow film', mash.text, 'a warm film']);
    // Others that de-duplication would merge count once: two copies of one text are not enough.
    const copies = [loop, c('a slow film', 0, 0.3), c('A slow  film', 0, 0.4)];
    expect(select(copies, 1, { ...opts, topN: 1, dropDegenerate: true }).kept).toEqual([loop]);
    expect(select(copies, 1, { ...opts, topN: 1, dedup: false, dropDegenerate: true }).kept.map((k) => k.text)).toEqual(['a slow film']);
    // Without topN they go whenever a clean text of the class is left.
    expect(select(cands, 2, { ...opts, topN: undefined, dropDegenerate: true }).kept).toHaveLength(4);
    expect(bestMatching(2, 'surplus', 1, true)).toMatchObject({ dropDegenerate: true, targetFilter: 'surplus', targetMargin: 1 });
  });
});
