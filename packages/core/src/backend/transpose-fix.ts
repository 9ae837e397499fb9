/**
 * The wasm backend's BatchMatMul is fast (XNNPACK) only for untransposed operands; with
 * transposeA or transposeB set it falls back to a loop that is 12-45x slower. Autodiff of any
 * matmul asks for transposed products, so we re-register BatchMatMul for wasm with a kernel that
 * materialises the transpose first (a cheap copy) and then calls the original kernel.
 * node_modules stays untouched: this uses the public kernel registry.
 */
import * as tf from '@tensorflow/tfjs-core';

const MARK = Symbol.for('synthgrad.transposeFix');
const originals = new Map<string, tf.KernelConfig>();

interface TensorInfoLike {
  dataId: object;
  shape: number[];
  dtype: string;
}

export function isTransposeFixInstalled(backendName = 'wasm'): boolean {
  const k = tf.getKernel('BatchMatMul', backendName) as unknown as Record<symbol, unknown> | undefined;
  return Boolean(k?.[MARK]);
}

/** Install the fix on `backendName` (idempotent). Returns false when that backend has no such kernel. */
export function installTransposeFix(backendName = 'wasm'): boolean {
  const original = tf.getKernel('BatchMatMul', backendName);
  const transpose = tf.getKernel('Transpose', backendName);
  if (!original || !transpose) return false;
  if (isTransposeFixInstalled(backendName)) return true;
  originals.set(backendName, original);
  const swapLast = (rank: number) => [...Array(rank - 2).keys(), rank - 1, rank - 2];
  const kernelFunc: tf.KernelFunc = (args) => {
    const { a, b } = args.inputs as unknown as { a: TensorInfoLike; b: TensorInfoLike };
    const attrs = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    if (!attrs.transposeA && !attrs.transposeB) return original.kernelFunc(args);
    const backend = args.backend as unknown as { disposeData(id: object): void };
    const temps: TensorInfoLike[] = [];
    const materialise = (x: TensorInfoLike) => {
      const y = transpose.kernelFunc({ inputs: { x } as never, backend: args.backend, attrs: { perm: swapLast(x.shape.length) } as never }) as TensorInfoLike;
      temps.push(y);
      return y;
    };
    const a2 = attrs.transposeA ? materialise(a) : a;
    const b2 = attrs.transposeB ? materialise(b) : b;
    try {
      return original.kernelFunc({
        inputs: { a: a2, b: b2 } as never,
        backend: args.backend,
        attrs: { ...args.attrs, transposeA: false, transposeB: false },
      });
    } finally {
      for (const t of temps) backend.disposeData(t.dataId);
    }
  };
  tf.unregisterKernel('BatchMatMul', backendName);
  tf.registerKernel({ ...original, kernelFunc, [MARK]: true } as tf.KernelConfig);
  return true;
}

/** Restore the backend's own kernel (the benchmark measures with and without the fix). */
export function uninstallTransposeFix(backendName = 'wasm'): void {
  const original = originals.get(backendName);
  if (!original || !isTransposeFixInstalled(backendName)) return;
  tf.unregisterKernel('BatchMatMul', backendName);
  tf.registerKernel(original);
}
