/**
 * Oracle tests of the tfjs llama on tiny random models: the KV-cached decoder against full
 * recomputation, the embedding gradient against central finite differences, padding, shapes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Llama, lastPosition, SynthgradError } from '@synthgrad/core';
import { useTestBackend } from '../../../test/helpers/backend.js';
import { tinyConfig, tinyWeights } from '../../../test/helpers/tiny-llama.js';

let model: Llama;
const config = tinyConfig();

beforeAll(async () => {
  await useTestBackend();
  model = new Llama(config, tinyWeights(config));
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const seq = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (seed * 31 + i * 17) % config.vocabSize);

describe('tiny llama forward', () => {
  it('ids and their embeddings give the same logits', () => {
    const ids = [seq(7, 1), seq(7, 2)];
    const a = model.forward({ ids, logits: 'all' });
    const e = model.embed(ids);
    const b = model.forward({ embeds: e, logits: 'all' });
    expect(a.logits!.shape).toEqual([2, 7, config.vocabSize]);
    expect(maxAbsDiff(a.logits!.dataSync(), b.logits!.dataSync())).toBe(0);
    for (const t of [a.hidden, a.logits!, b.hidden, b.logits!, e]) t.dispose();
  });

  it("'last' logits equal the last row of 'all'", () => {
    const ids = [seq(5, 3)];
    const all = model.forward({ ids, logits: 'all' });
    const last = model.forward({ ids, logits: 'last' });
    const allRows = all.logits!.arraySync() as number[][][];
    expect(maxAbsDiff(allRows[0][4], (last.logits!.arraySync() as number[][])[0])).toBeLessThan(1e-5);
    for (const t of [all.hidden, all.logits!, last.hidden, last.logits!]) t.dispose();
  });

  it('KV-cached incremental decoding equals full recomputation at every step', () => {
    const ids = [seq(9, 4), seq(9, 5), seq(9, 6)];
    const full = model.forward({ ids, logits: 'all' });
    const fullRows = full.logits!.arraySync() as number[][][];
    const cache = model.createCache(3);
    // a 4-token prefix in one call, then one token at a time
    const first = model.forward({ ids: ids.map((r) => r.slice(0, 4)), cache, logits: 'last' });
    const firstRows = first.logits!.arraySync() as number[][];
    for (let b = 0; b < 3; b++) expect(maxAbsDiff(firstRows[b], fullRows[b][3])).toBeLessThan(1e-4);
    first.hidden.dispose();
    first.logits!.dispose();
    for (let t = 4; t < 9; t++) {
      const step = model.forward({ ids: ids.map((r) => [r[t]]), cache, logits: 'last' });
      const rows = step.logits!.arraySync() as number[][];
      for (let b = 0; b < 3; b++) expect(maxAbsDiff(rows[b], fullRows[b][t])).toBeLessThan(1e-4);
      step.hidden.dispose();
      step.logits!.dispose();
    }
    expect(cache.length).toBe(9);
    cache.dispose();
    full.hidden.dispose();
    full.logits!.dispose();
  });

  it('the one-token decode path gives the general layers\' numbers bit for bit', () => {
    // decodeStates (one new position after a cache) is a re-ordering of hiddenStates' ops, not a
    // new computation: logits, hidden states and the cache it leaves must be identical, through
    // an empty cache, a prefix, a padded new position and every logits mode.
    const ids = [seq(8, 11), seq(8, 12), seq(8, 13)];
    const fast = model.createCache(3);
    const slow = model.createCache(3);
    const same = (a: tf.Tensor, b: tf.Tensor) => {
      expect(a.shape).toEqual(b.shape);
      expect(maxAbsDiff(a.dataSync(), b.dataSync())).toBe(0);
    };
    const modes = ['last', 'all', 'none', 'last', 'last', 'all', 'last', 'last'] as const;
    for (let t = 0; t < 8; t++) {
      // t = 0 runs on an empty cache; later steps after a growing one.
      const mask = t === 5 ? [[1], [0], [1]] : undefined; // sequence 1 gets a padded position
      const step = (cache: typeof fast, generalPath: boolean) => model.forward({ ids: ids.map((r) => [r[t]]), cache, logits: modes[t], attentionMask: mask, generalPath });
      const a = step(fast, false);
      const b = step(slow, true);
      same(a.hidden, b.hidden);
      if (modes[t] === 'none') expect(a.logits).toBeUndefined();
      else same(a.logits!, b.logits!);
      for (const x of [a.hidden, b.hidden, a.logits, b.logits]) x?.dispose();
    }
    fast.keys.forEach((k, i) => {
      same(k!, slow.keys[i]!);
      same(fast.values[i]!, slow.values[i]!);
    });
    expect(fast.mask).toEqual(slow.mask);
    fast.dispose();
    slow.dispose();
  });

  it('an expanded batch-1 prefix cache equals running the prefix for every sequence', () => {
    const prefix = seq(3, 7);
    const c1 = model.createCache(1);
    model.forward({ ids: [prefix], cache: c1, logits: 'none' }).hidden.dispose();
    const cB = c1.expand(2);
    const step = model.forward({ ids: [[5], [9]], cache: cB, logits: 'last' });
    const direct = model.forward({ ids: [[...prefix, 5], [...prefix, 9]], logits: 'last' });
    expect(maxAbsDiff(step.logits!.dataSync(), direct.logits!.dataSync())).toBeLessThan(1e-4);
    for (const t of [step.hidden, step.logits!, direct.hidden, direct.logits!]) t.dispose();
    c1.dispose();
    cB.dispose();
  });

  it('left padding with an attention mask leaves the last position unchanged', () => {
    const short = seq(4, 8);
    const long = seq(7, 9);
    const pad = 0;
    const batched = model.forward({
      ids: [[pad, pad, pad, ...short], long],
      attentionMask: [[0, 0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1]],
      logits: 'last',
    });
    const alone = model.forward({ ids: [short], logits: 'last' });
    const rows = batched.logits!.arraySync() as number[][];
    expect(maxAbsDiff(rows[0], (alone.logits!.arraySync() as number[][])[0])).toBeLessThan(1e-4);
    for (const t of [batched.hidden, batched.logits!, alone.hidden, alone.logits!]) t.dispose();
  });

  it('rejects bad input with clear errors', () => {
    expect(() => model.forward({ ids: [[1, 2], [3]] })).toThrow(/same length/);
    expect(() => model.forward({ ids: [[config.vocabSize]] })).toThrow(/outside the vocabulary/);
    const wrong = tf.zeros([1, 3, config.dModel + 1]) as tf.Tensor3D;
    expect(() => model.forward({ embeds: wrong })).toThrow(SynthgradError);
    expect(() => model.forward({ embeds: wrong })).toThrow(/width 33/);
    wrong.dispose();
    expect(() => model.forward({ ids: [seq(65, 1)] })).toThrow(/context of 64/);
    expect(() => model.forward({ ids: [[1, 2]], attentionMask: [[1]] })).toThrow(/attentionMask/);
  });
});

describe('tiny llama embedding gradient', () => {
  // A scalar of the final hidden states that touches every position: log-prob of a token at the
  // last position plus a weighted sum of all hidden states.
  const objective = (h: tf.Tensor3D) =>
    tf.tidy(() => {
      const lp = tf.logSoftmax(model.logitsOf(lastPosition(h)));
      const pick = tf.sum(tf.slice(lp, [0, 11], [-1, 1]));
      const w = tf.linspace(-1, 1, h.size).reshape(h.shape);
      return tf.add(pick, tf.mul(0.1, tf.sum(tf.mul(h, w)))) as tf.Scalar;
    });

  it('matches finite differences along random directions (5-point stencil)', () => {
    const ids = [seq(6, 10), seq(6, 11)];
    const x = model.embed(ids);
    const { value, grad } = model.valueAndGradWrtEmbeddings(x, objective);
    expect(Number.isFinite(value)).toBe(true);
    const g = grad.dataSync();
    const f = (t: tf.Tensor3D) => {
      const h = model.forward({ embeds: t, logits: 'none' }).hidden;
      const v = objective(h).dataSync()[0];
      h.dispose();
      return v;
    };
    expect(Math.abs(f(x) - value)).toBeLessThan(1e-4);
    let seed = 3;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    const eps = 1e-2;
    for (let trial = 0; trial < 4; trial++) {
      const dir = Float32Array.from({ length: x.size }, rand);
      const d = tf.tensor3d(dir, x.shape);
      const at = (s: number) => {
        const t = tf.tidy(() => tf.add(x, tf.mul(d, s * eps)) as tf.Tensor3D);
        const v = f(t);
        t.dispose();
        return v;
      };
      // O(eps^4) truncation error, so float32 rounding dominates and the tolerance can be tight.
      const numeric = (8 * (at(1) - at(-1)) - (at(2) - at(-2))) / (12 * eps);
      let analytic = 0;
      for (let i = 0; i < dir.length; i++) analytic += dir[i] * g[i];
      expect(Math.abs(numeric - analytic)).toBeLessThan(1e-3 * Math.max(1, Math.abs(analytic)));
      d.dispose();
    }
    x.dispose();
    grad.dispose();
  });

  it('the closed-form linear-layer gradients equal plain tfjs autodiff', () => {
    const plain = new Llama(config, tinyWeights(config), { gradient: 'autodiff' });
    const ids = [seq(6, 13), seq(6, 14)];
    const x = model.embed(ids);
    const a = model.valueAndGradWrtEmbeddings(x, objective);
    const b = plain.valueAndGradWrtEmbeddings(x, (h) =>
      tf.tidy(() => {
        const lp = tf.logSoftmax(plain.logitsOf(lastPosition(h)));
        const w = tf.linspace(-1, 1, h.size).reshape(h.shape);
        return tf.add(tf.sum(tf.slice(lp, [0, 11], [-1, 1])), tf.mul(0.1, tf.sum(tf.mul(h, w)))) as tf.Scalar;
      }),
    );
    expect(Math.abs(a.value - b.value)).toBeLessThan(1e-5);
    const gradDiff = maxAbsDiff(a.grad.dataSync(), b.grad.dataSync());
    expect(gradDiff).toBeLessThan(1e-5);
    // The native kernels take the weight transposed in place, so there the closed form is the
    // product autodiff forms (dy @ W^T): the same numbers. On wasm it is (W^T @ dy^T)^T.
    if (tf.getBackend() !== 'wasm') expect(gradDiff).toBe(0);
    for (const t of [x, a.grad, b.grad]) t.dispose();
    plain.dispose();
  });

  it('splitting a large batch into chunks gives the same value and gradient', () => {
    const ids = [seq(6, 15), seq(6, 16), seq(6, 17), seq(6, 18), seq(6, 19)];
    const x = model.embed(ids);
    // An objective that couples the sequences, like the matching loss does.
    const coupled = (h: tf.Tensor3D) =>
      tf.tidy(() => {
        const last = lastPosition(h);
        const gram = tf.matMul(last, last, false, true);
        return tf.add(tf.sum(tf.square(gram)), tf.sum(tf.logSoftmax(model.logitsOf(last)))) as tf.Scalar;
      });
    const whole = model.valueAndGradWrtEmbeddings(x, coupled);
    const split = model.valueAndGradWrtEmbeddings(x, coupled, undefined, { maxTokens: 12 }); // 2 sequences a chunk
    expect(Math.abs(whole.value - split.value)).toBeLessThan(1e-3 * Math.abs(whole.value));
    const scale = Math.max(...Array.from(whole.grad.dataSync(), Math.abs));
    expect(maxAbsDiff(whole.grad.dataSync(), split.grad.dataSync())).toBeLessThan(1e-4 * scale);
    for (const t of [x, whole.grad, split.grad]) t.dispose();
  });

  it('per-coordinate gradient matches finite differences on a few coordinates', () => {
    const ids = [seq(4, 12)];
    const x = model.embed(ids);
    const { grad } = model.valueAndGradWrtEmbeddings(x, objective);
    const g = grad.dataSync();
    const base = x.dataSync();
    const f = (data: Float32Array) => {
      const t = tf.tensor3d(data, x.shape);
      const h = model.forward({ embeds: t, logits: 'none' }).hidden;
      const v = objective(h).dataSync()[0];
      h.dispose();
      t.dispose();
      return v;
    };
    for (const i of [0, 5, 40, 77, base.length - 1]) {
      const eps = 1e-2;
      const p = Float32Array.from(base);
      const m = Float32Array.from(base);
      p[i] += eps;
      m[i] -= eps;
      expect(Math.abs((f(p) - f(m)) / (2 * eps) - g[i])).toBeLessThan(3e-3);
    }
    x.dispose();
    grad.dispose();
  });
});
