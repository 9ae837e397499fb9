/** The wasm kernel overrides against the plain JavaScript cpu backend. */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { describeBackend, initBackend, isTransposeFixInstalled, nativeBindingProblem } from '@synthgrad/core';

async function onBackend<T>(name: string, f: () => T): Promise<T> {
  await initBackend({ backend: name });
  return f();
}

describe('wasm kernel overrides', () => {
  const cases: [number[], number[], boolean, boolean][] = [
    [[7, 5], [5, 3], false, false],
    [[5, 7], [5, 3], true, false],
    [[7, 5], [3, 5], false, true],
    [[5, 7], [3, 5], true, true],
    [[4, 6, 5], [4, 3, 5], false, true],
    [[4, 5, 6], [1, 5, 3], true, false], // broadcast batch
  ];
  for (const [sa, sb, ta, tb] of cases) {
    it(`matMul ${JSON.stringify(sa)} x ${JSON.stringify(sb)} transposeA=${ta} transposeB=${tb} equals the cpu backend`, async () => {
      const a = Float32Array.from({ length: sa.reduce((x, y) => x * y) }, (_, i) => Math.sin(i + 1));
      const b = Float32Array.from({ length: sb.reduce((x, y) => x * y) }, (_, i) => Math.cos(i * 0.7));
      const run = () => tf.tidy(() => Array.from(tf.matMul(tf.tensor(a, sa), tf.tensor(b, sb), ta, tb).dataSync()));
      const want = await onBackend('cpu', run);
      const got = await onBackend('wasm', run);
      expect(isTransposeFixInstalled('wasm')).toBe(true);
      expect(got.length).toBe(want.length);
      got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 4));
    });
  }

  it('gradients through saved tensors (shared Identity) equal the cpu backend', async () => {
    const f = () =>
      tf.tidy(() => {
        const x = tf.tensor2d([0.3, -1.2, 2.0, 0.5, 0.1, -0.4], [2, 3]);
        const w = tf.tensor2d([1, 2, -1, 0.5, 0.3, 0.2], [3, 2]);
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.sigmoid(tf.matMul(t as tf.Tensor2D, w)), tf.square(tf.matMul(t as tf.Tensor2D, w)))))(x);
        return Array.from(g.dataSync());
      });
    const want = await onBackend('cpu', f);
    const got = await onBackend('wasm', f);
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
  });
});

describe('backend selection', () => {
  const native = nativeBindingProblem('@tensorflow/tfjs-node') === undefined;

  it('auto picks the native backend where its binding is built, and says why it passed over the GPU one', async () => {
    if (process.env.SYNTHGRAD_REQUIRE_NATIVE === '1') expect(native).toBe(true);
    const b = await initBackend({ backend: 'auto' });
    expect(b.choice).toBe(native ? 'tensorflow' : 'wasm');
    expect(describeBackend(b)).toMatch(/^backend: (tensorflow|wasm) \(/);
    if (nativeBindingProblem('@tensorflow/tfjs-node-gpu')) expect(b.skipped.join('\n')).toMatch(/tensorflow-gpu: (binding not built|.*not installed)/);
  });

  it('asking for a backend that is not built is a clear error, not a fall back', async () => {
    const problem = nativeBindingProblem('@tensorflow/tfjs-node-gpu');
    if (!problem) return; // built here: nothing to refuse
    await expect(initBackend({ backend: 'tensorflow-gpu' })).rejects.toThrow(/backend "tensorflow-gpu" is not available: /);
  });

  it('rejects an unknown backend and a bad thread count', async () => {
    await expect(initBackend({ backend: 'tpu' })).rejects.toThrow(/unknown backend "tpu"/);
    await expect(initBackend({ backend: 'cpu', threads: 0 })).rejects.toThrow(/threads must be a positive integer/);
  });

  it.runIf(native)('native matmul, transposed operands and gradients equal the cpu backend', async () => {
    const f = () =>
      tf.tidy(() => {
        const a = tf.tensor2d(Float32Array.from({ length: 35 }, (_, i) => Math.sin(i + 1)), [5, 7]);
        const w = tf.tensor2d(Float32Array.from({ length: 21 }, (_, i) => Math.cos(i * 0.7)), [3, 7]);
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.tanh(tf.matMul(t as tf.Tensor2D, w, false, true))))(a);
        return [...tf.matMul(a, w, false, true).dataSync(), ...g.dataSync()];
      });
    const want = await onBackend('cpu', f);
    const got = await onBackend('tensorflow', f);
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 4));
  });
});
