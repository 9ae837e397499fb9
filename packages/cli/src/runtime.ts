/** Shared start-up for commands that run the model: backend, then model. The ML stack is imported here, on demand. */
import { availableParallelism } from 'node:os';
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

/**
 * Worker threads for generating `classes` classes, with their share of the cores (core's
 * synthesisLayout); when --threads / $SYNTHGRAD_THREADS is not set it sets the per-worker thread
 * count, so call it before startRuntime: the native backend fixes its threads when it loads.
 */
export async function generationWorkers(classes: number): Promise<number> {
  const { synthesisLayout } = await import('@synthgrad/core');
  const given = process.env.SYNTHGRAD_THREADS ? Number(process.env.SYNTHGRAD_THREADS) : undefined;
  const layout = synthesisLayout(classes, availableParallelism(), given);
  process.env.SYNTHGRAD_THREADS ??= String(layout.threads);
  return layout.workers;
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
