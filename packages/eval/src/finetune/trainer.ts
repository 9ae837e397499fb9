/**
 * Fine-tuning loop: AdamW with linear decay over seeded mini-batches, dev accuracy at step 0 and
 * every `evalEvery` steps, the best dev checkpoint restored before the test set is ever touched.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng, SynthgradError, type Example } from '@synthgrad/core';
import { AdamW, linearDecay } from './adamw.js';
import type { Classifier } from './classifier.js';

export interface FineTuneOptions {
  steps: number;
  batchSize: number;
  lr: number;
  weightDecay?: number;
  seed: number;
  /** Dev evaluation period in steps (also at step 0 and at the end). */
  evalEvery?: number;
  onPrepare?: (done: number, total: number) => void;
  /**
   * Examples per forward/backward pass; gradients of the micro-batches are summed before one
   * optimizer step (exactly the full-batch gradient). Bounds activation memory for lora and full.
   */
  microBatch?: number;
  onStep?: (p: { step: number; steps: number; loss: number; devAccuracy?: number }) => void;
  /**
   * Which dev checkpoint is restored: 'accuracy' (default), the first with the highest dev
   * accuracy; 'accuracy-loss', the highest dev accuracy with ties broken by the lower dev
   * cross-entropy. A small dev set ties often (every checkpoint at 100%, or none better than
   * step 0), and the first of a tie is an arbitrary pick; the loss still tells them apart.
   */
  checkpoint?: CheckpointRule;
}

export type CheckpointRule = 'accuracy' | 'accuracy-loss';

export interface FineTuneResult {
  /** Training loss per step. */
  loss: { step: number; value: number }[];
  /** Dev accuracy (and mean cross-entropy) at each evaluation. */
  dev: { step: number; accuracy: number; loss: number }[];
  bestStep: number;
  bestDevAccuracy: number;
  testAccuracy: number;
  trainSeconds: number;
  /** Training examples processed per second (forward + backward + update). */
  examplesPerSecond: number;
}

export function predict(clf: Classifier, examples: Example[], batchSize = 32): number[] {
  const out: number[] = [];
  for (let i = 0; i < examples.length; i += batchSize) {
    const rows = tf.tidy(() => tf.argMax(clf.logits(examples.slice(i, i + batchSize)), 1).arraySync() as number[]);
    out.push(...rows);
  }
  return out;
}

/** Accuracy and mean cross-entropy over the examples. */
export function devScore(clf: Classifier, examples: Example[], nClasses: number, batchSize = 32): { accuracy: number; loss: number } {
  let hits = 0;
  let loss = 0;
  for (let i = 0; i < examples.length; i += batchSize) {
    const part = examples.slice(i, i + batchSize);
    const [pred, ce] = tf.tidy(() => {
      const z = clf.logits(part);
      const labels = tf.oneHot(tf.tensor1d(part.map((e) => e.label), 'int32'), nClasses);
      return [tf.argMax(z, 1).arraySync() as number[], tf.sum(tf.neg(tf.sum(tf.mul(labels, tf.logSoftmax(z)), 1))).dataSync()[0]!];
    });
    hits += pred.filter((p, j) => p === part[j]!.label).length;
    loss += ce;
  }
  return { accuracy: hits / examples.length, loss: loss / examples.length };
}

export const accuracy = (clf: Classifier, examples: Example[]): number => {
  const p = predict(clf, examples);
  return p.filter((x, i) => x === examples[i]!.label).length / examples.length;
};

/**
 * Mean cross-entropy over the batch and its gradient with respect to the classifier's variables,
 * accumulated over micro-batches (each weighted by its share of the batch).
 */
export function batchGradients(clf: Classifier, batch: Example[], nClasses: number, microBatch = batch.length): { loss: number; grads: Record<string, tf.Tensor> } {
  const grads: Record<string, tf.Tensor> = {};
  let loss = 0;
  for (let s = 0; s < batch.length; s += microBatch) {
    const part = batch.slice(s, s + microBatch);
    const weight = part.length / batch.length;
    const labels = tf.tensor1d(part.map((e) => e.label), 'int32');
    const { value, grads: g } = tf.variableGrads(
      () => tf.mul(tf.losses.softmaxCrossEntropy(tf.oneHot(labels, nClasses), clf.logits(part)), weight) as tf.Scalar,
      clf.variables,
    );
    labels.dispose();
    loss += value.dataSync()[0]!;
    value.dispose();
    for (const [name, t] of Object.entries(g)) {
      const prev = grads[name];
      grads[name] = prev ? tf.add(prev, t) : t;
      if (prev) {
        prev.dispose();
        t.dispose();
      }
    }
  }
  return { loss, grads };
}

export function fineTune(clf: Classifier, train: Example[], dev: Example[], test: Example[], nClasses: number, o: FineTuneOptions): FineTuneResult {
  if (train.length === 0) throw new SynthgradError('the training set is empty', 'E_DATA');
  if (dev.length === 0) throw new SynthgradError('the dev set is empty', 'E_DATA');
  if (!(o.steps >= 1 && o.batchSize >= 1 && o.lr > 0)) throw new SynthgradError(`steps, batch size and lr must be positive (got ${o.steps}, ${o.batchSize}, ${o.lr})`, 'E_USAGE');
  clf.prepare([...train, ...dev, ...test], o.onPrepare);
  const rng = Rng.derive(o.seed, 'batches');
  const opt = new AdamW(clf.variables, { weightDecay: o.weightDecay ?? 0.01 });
  const evalEvery = o.evalEvery ?? Math.max(1, Math.floor(o.steps / 10));
  const lossCurve: FineTuneResult['loss'] = [];
  const rule = o.checkpoint ?? 'accuracy';
  if (rule !== 'accuracy' && rule !== 'accuracy-loss') throw new SynthgradError(`checkpoint rule must be accuracy or accuracy-loss, got ${String(rule)}`, 'E_USAGE');
  const devCurve: FineTuneResult['dev'] = [{ step: 0, ...devScore(clf, dev, nClasses) }];
  let best = { step: 0, accuracy: devCurve[0]!.accuracy, loss: devCurve[0]!.loss, state: clf.snapshot() };
  const better = (s: { accuracy: number; loss: number }) => s.accuracy > best.accuracy || (rule === 'accuracy-loss' && s.accuracy === best.accuracy && s.loss < best.loss);
  let order: Example[] = [];
  const t0 = performance.now();
  let evalMs = 0;
  try {
    for (let step = 1; step <= o.steps; step++) {
      const batch: Example[] = [];
      while (batch.length < o.batchSize) {
        if (order.length === 0) order = rng.shuffle(train);
        batch.push(order.pop()!);
      }
      const { loss, grads } = batchGradients(clf, batch, nClasses, o.microBatch);
      opt.step(grads, linearDecay(o.lr, step, o.steps));
      for (const g of Object.values(grads)) g.dispose();
      if (!Number.isFinite(loss)) throw new SynthgradError(`training diverged at step ${step} (loss ${loss}); lower the learning rate (option lr, flag --lr)`);
      lossCurve.push({ step, value: loss });
      let devAccuracy: number | undefined;
      if (step % evalEvery === 0 || step === o.steps) {
        const te = performance.now();
        const score = devScore(clf, dev, nClasses);
        devAccuracy = score.accuracy;
        evalMs += performance.now() - te;
        devCurve.push({ step, ...score });
        if (better(score)) best = { step, ...score, state: clf.snapshot() };
      }
      o.onStep?.({ step, steps: o.steps, loss, devAccuracy });
    }
    const trainSeconds = (performance.now() - t0 - evalMs) / 1000;
    clf.restore(best.state);
    return {
      loss: lossCurve,
      dev: devCurve,
      bestStep: best.step,
      bestDevAccuracy: best.accuracy,
      testAccuracy: accuracy(clf, test),
      trainSeconds,
      examplesPerSecond: (o.steps * o.batchSize) / trainSeconds,
    };
  } finally {
    opt.dispose();
  }
}
