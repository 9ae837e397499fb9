/** Shared start-up for commands that run the model: backend, then model, with progress on stderr. */
import { describeBackend, initBackend, loadModel, resolveModelPath, type LlamaOptions, type LoadedModel } from '@synthgrad/core';

export interface RuntimeFlags {
  backend?: string;
  model?: string;
  verbose?: boolean;
  gradient?: LlamaOptions['gradient'];
  /** Every weight a trainable variable (full fine-tuning). */
  trainable?: boolean;
}

export function log(verbose: boolean | undefined, msg: string): void {
  if (verbose) process.stderr.write(`${msg}\n`);
}

export async function startRuntime(flags: RuntimeFlags): Promise<LoadedModel> {
  const backend = await initBackend({ backend: flags.backend });
  log(flags.verbose, describeBackend(backend));
  const path = resolveModelPath(flags.model);
  const t0 = Date.now();
  const loaded = await loadModel(path, { gradient: flags.gradient, trainable: flags.trainable }, (done, total) => {
    if (flags.verbose && process.stderr.isTTY) process.stderr.write(`\rloading ${path}: ${done}/${total} tensors`);
  });
  if (flags.verbose && process.stderr.isTTY) process.stderr.write('\n');
  log(flags.verbose, `model: ${loaded.name} (${path}) loaded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return loaded;
}
