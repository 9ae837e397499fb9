/**
 * The three ways of fine-tuning the LM as a next-token classifier over the verbaliser tokens.
 * Each exposes its trainable variables and batch logits [B, C] (recorded for gradients):
 * - head: only the verbaliser rows of the output head (initialised from the LM, so step 0 is the
 *   zero-shot classifier) on frozen final hidden states, which are computed once per text;
 * - lora: rank-r adapters on every attention and MLP projection, the rest frozen;
 * - full: every weight (the model must be built with `trainable: true`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { lastPosition, leftPad, taskTokens, SynthgradError, type Example, type LoadedModel, type Task } from '@synthgrad/core';

/** Beyond this the wasm backend's heap fails (measured: out-of-bounds accesses past ~2 GiB). */
const WASM_RELIABLE_BYTES = 2 * 2 ** 30;

export type FineTuneMode = 'head' | 'lora' | 'full';
export const FINETUNE_MODES: readonly FineTuneMode[] = ['head', 'lora', 'full'];

export interface Classifier {
  readonly mode: FineTuneMode;
  readonly variables: tf.Variable[];
  /** Work that can be done once before training (head: the frozen features of these texts). */
  prepare(examples: Example[], onProgress?: (done: number, total: number) => void): void;
  /** Logits over the classes for a batch; call inside a gradient scope to train. */
  logits(batch: Example[]): tf.Tensor2D;
  /** Copy of the trainable state (for best-checkpoint selection), and its restore. */
  snapshot(): Float32Array[];
  restore(s: Float32Array[]): void;
  dispose(): void;
}

/** Final hidden states at the last position, per text, computed once and shared across runs. */
export class FeatureCache {
  private readonly rows = new Map<string, Float32Array>();
  constructor(
    private readonly rt: LoadedModel,
    private readonly task: Task,
    private readonly batchSize = 16,
  ) {}

  get size(): number {
    return this.rows.size;
  }

  /** Compute what is missing (progress over the missing texts), then return [N, d]. */
  features(texts: string[], onProgress?: (done: number, total: number) => void): tf.Tensor2D {
    const toks = taskTokens(this.task, this.rt.tokenizer);
    const missing = [...new Set(texts.filter((t) => !this.rows.has(t)))];
    for (let i = 0; i < missing.length; i += this.batchSize) {
      const chunk = missing.slice(i, i + this.batchSize);
      const { ids, mask } = leftPad(chunk.map((t) => toks.promptIds(t)), 0);
      const h = tf.tidy(() => lastPosition(this.rt.model.forward({ ids, attentionMask: mask, logits: 'none' }).hidden));
      const data = h.dataSync() as Float32Array;
      const d = h.shape[1];
      chunk.forEach((t, b) => this.rows.set(t, data.slice(b * d, (b + 1) * d)));
      h.dispose();
      onProgress?.(Math.min(i + this.batchSize, missing.length), missing.length);
    }
    const d = this.rt.config.dModel;
    const flat = new Float32Array(texts.length * d);
    texts.forEach((t, i) => flat.set(this.rows.get(t)!, i * d));
    return tf.tensor2d(flat, [texts.length, d]);
  }
}

const labelColumns = (rt: LoadedModel, task: Task): tf.Tensor2D => rt.model.headColumns(taskTokens(task, rt.tokenizer).labelTokens);

const snapshotOf = (vs: tf.Variable[]) => vs.map((v) => (v.dataSync() as Float32Array).slice());
const restoreInto = (vs: tf.Variable[], s: Float32Array[]) => vs.forEach((v, i) => v.assign(tf.tensor(s[i]!, v.shape)));

export function headClassifier(rt: LoadedModel, task: Task, cache: FeatureCache): Classifier {
  const w = tf.variable(labelColumns(rt, task), true);
  const variables = [w];
  return {
    mode: 'head',
    variables,
    prepare: (examples, onProgress) => cache.features(examples.map((e) => e.text), onProgress).dispose(),
    logits: (batch) => tf.tidy(() => tf.matMul(cache.features(batch.map((e) => e.text)), w)),
    snapshot: () => snapshotOf(variables),
    restore: (s) => restoreInto(variables, s),
    dispose: () => w.dispose(),
  };
}

function forwardClassifier(rt: LoadedModel, task: Task, mode: 'lora' | 'full', variables: tf.Variable[], dispose: () => void): Classifier {
  const toks = taskTokens(task, rt.tokenizer);
  return {
    mode,
    variables,
    prepare: () => {},
    logits: (batch) => {
      const { ids, mask } = leftPad(batch.map((e) => toks.promptIds(e.text)), 0);
      const { hidden } = rt.model.forward({ ids, attentionMask: mask, logits: 'none' });
      // In full mode the head is a variable, so the column gather is inside the recorded computation.
      return tf.matMul(lastPosition(hidden), rt.model.headColumns(toks.labelTokens));
    },
    snapshot: () => snapshotOf(variables),
    restore: (s) => restoreInto(variables, s),
    dispose,
  };
}

export function loraClassifier(rt: LoadedModel, task: Task, o: { rank: number; alpha?: number; seed: number }): Classifier {
  const variables = rt.model.attachLora({ rank: o.rank, alpha: o.alpha, seed: o.seed });
  return forwardClassifier(rt, task, 'lora', variables, () => rt.model.detachLora());
}

/** Full fine-tuning; `rt` must have been loaded with `{ trainable: true }` and is modified in place. */
export function fullClassifier(rt: LoadedModel, task: Task): Classifier {
  const variables = rt.model.trainableWeights();
  if (variables.length === 0) throw new SynthgradError('full fine-tuning needs the model loaded with { trainable: true }');
  // Weights, gradients and AdamW's two moments, all float32, plus the backend's packed copy of the weights.
  const bytes = 5 * 4 * variables.reduce((a, v) => a + v.size, 0);
  if (tf.getBackend() === 'wasm' && bytes > WASM_RELIABLE_BYTES) {
    throw new SynthgradError(
      `full fine-tuning needs about ${(bytes / 2 ** 30).toFixed(1)} GiB for weights, gradients and optimizer state; the wasm backend is unreliable past ${WASM_RELIABLE_BYTES / 2 ** 30} GiB. Use mode lora or head, or the native backend (npm run setup builds it)`,
    );
  }
  const initial = snapshotOf(variables); // put back on dispose, so the next run starts from the pretrained model
  return forwardClassifier(rt, task, 'full', variables, () => restoreInto(variables, initial));
}

/** The classifier for a mode: head on the shared feature cache, fresh LoRA adapters (seeded), or every weight. */
export function makeClassifier(rt: LoadedModel, task: Task, mode: FineTuneMode, o: { cache: FeatureCache; rank: number; seed: number }): Classifier {
  if (mode === 'head') return headClassifier(rt, task, o.cache);
  if (mode === 'lora') return loraClassifier(rt, task, { rank: o.rank, seed: o.seed });
  return fullClassifier(rt, task);
}
