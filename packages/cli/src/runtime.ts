/** Shared start-up for commands that run the model: backend, then model. The ML stack is imported here, on demand. */
import type { LlamaOptions, LoadedModel } from '@synthgrad/core';

export interface RuntimeFlags {
  backend?: string;
  model?: string;
  verbose?: boolean;
  gradient?: LlamaOptions['gradient'];
  /** Every weight a trainable variable (full fine-tuning). */
  trainable?: boolean;
  /** Tensors loaded so far, for a progress display. */
  onLoad?: (done: number, total: number) => void;
}

export function log(verbose: boolean | undefined, msg: string): void {
  if (verbose) process.stderr.write(`${msg}\n`);
}

export async function startRuntime(flags: RuntimeFlags): Promise<LoadedModel> {
  const { describeBackend, initBackend, loadModel, resolveModelPath } = await import('@synthgrad/core');
  const backend = await initBackend({ backend: flags.backend });
  log(flags.verbose, describeBackend(backend));
  const path = resolveModelPath(flags.model);
  const t0 = Date.now();
  const showTensors = flags.verbose && !flags.onLoad && process.stderr.isTTY;
  const loaded = await loadModel(path, { gradient: flags.gradient, trainable: flags.trainable }, (done, total) => {
    flags.onLoad?.(done, total);
    if (showTensors) process.stderr.write(`\rloading ${path}: ${done}/${total} tensors`);
  });
  if (showTensors) process.stderr.write('\n');
  log(flags.verbose, `model: ${loaded.name} (${path}) loaded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return loaded;
}
