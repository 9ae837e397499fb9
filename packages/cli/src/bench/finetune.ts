/**
 * Fine-tuning throughput per mode on the real model: training examples per second through
 * forward + backward + AdamW update at a given batch size. Head mode trains on frozen features,
 * so its cost is the one-off feature pass (reported separately) plus near-free steps.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Example, LoadedModel, Task } from '@synthgrad/core';
import { AdamW, batchGradients, FeatureCache, makeClassifier, type FineTuneMode } from '@synthgrad/eval';

export interface FinetuneBenchOptions {
  mode: FineTuneMode;
  batch: number;
  steps: number;
  rank: number;
  microBatch?: number;
  log: (m: string) => void;
}

export function benchFinetune(rt: LoadedModel, task: Task, examples: Example[], o: FinetuneBenchOptions): Record<string, unknown> {
  const cache = new FeatureCache(rt, task);
  const clf = makeClassifier(rt, task, o.mode, { cache, rank: o.rank, seed: 0 });
  const out: Record<string, unknown> = { mode: o.mode, batch: o.batch, micro_batch: o.microBatch ?? o.batch, steps: o.steps, trainable_parameters: clf.variables.reduce((a, v) => a + v.size, 0) };
  try {
    const needed = examples.slice(0, o.batch * (o.steps + 1));
    if (o.mode === 'head') {
      const t0 = performance.now();
      clf.prepare(needed);
      const s = (performance.now() - t0) / 1000;
      out.feature_examples_per_second = needed.length / s;
    }
    const opt = new AdamW(clf.variables);
    const step = (batch: Example[]) => {
      const { grads } = batchGradients(clf, batch, task.labels.length, o.microBatch);
      opt.step(grads, 1e-6);
      for (const g of Object.values(grads)) g.dispose();
    };
    step(needed.slice(0, o.batch)); // warm-up: kernels compiled, weights packed
    const times: number[] = [];
    for (let i = 1; i <= o.steps; i++) {
      const t0 = performance.now();
      step(needed.slice(i * o.batch, (i + 1) * o.batch));
      times.push((performance.now() - t0) / 1000);
      o.log(`${o.mode}: step ${i}/${o.steps} ${times[times.length - 1]!.toFixed(2)} s`);
    }
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    out.seconds_per_step = mean;
    out.train_examples_per_second = o.batch / mean;
    out.memory_mb = Math.round(tf.memory().numBytes / 2 ** 20);
    opt.dispose();
  } finally {
    clf.dispose();
  }
  return out;
}
