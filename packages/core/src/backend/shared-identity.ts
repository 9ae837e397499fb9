/**
 * The engine saves every tensor a gradient needs through the Identity kernel. On the wasm
 * backend that kernel copies the data, doubling the memory of a recorded forward pass and the
 * time spent moving it; the cpu backend instead shares the buffer and bumps its reference count.
 * Tensors are immutable, so sharing is safe: we register the sharing version for wasm.
 */
import * as tf from '@tensorflow/tfjs-core';

const MARK = Symbol.for('synthgrad.sharedIdentity');

export function installSharedIdentity(backendName = 'wasm'): boolean {
  const original = tf.getKernel('Identity', backendName) as (tf.KernelConfig & { [MARK]?: boolean }) | undefined;
  if (!original) return false;
  if (original[MARK]) return true;
  const kernelFunc: tf.KernelFunc = ({ inputs, backend }) => {
    const x = (inputs as unknown as { x: tf.TensorInfo }).x;
    if (x.dtype === 'string') return original.kernelFunc({ inputs, backend, attrs: {} });
    (backend as unknown as { incRef(id: object): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
  tf.unregisterKernel('Identity', backendName);
  tf.registerKernel({ ...original, kernelFunc, [MARK]: true } as tf.KernelConfig);
  return true;
}
