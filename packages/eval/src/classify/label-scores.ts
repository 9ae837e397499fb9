/**
 * The LM as a classifier: log-probabilities of each label's verbaliser token at the position after
 * "text + suffix", optionally after a shared prefix (few-shot demonstrations) that is run once and
 * reused through the KV cache for every batch.
 */
import * as tf from '@tensorflow/tfjs-core';
import { leftPad, Rng, taskTokens, type Example, type LoadedModel, type Task } from '@synthgrad/core';

export interface ScoreOptions {
  /** Token ids placed before every text (demonstrations); computed once. */
  prefix?: number[];
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

/** [N][C] log-probabilities over the vocabulary, gathered at the label tokens. */
export function labelLogProbs(rt: LoadedModel, task: Task, texts: string[], o: ScoreOptions = {}): number[][] {
  const { model } = rt;
  const toks = taskTokens(task, rt.tokenizer);
  const labelIds = tf.tensor1d(toks.labelTokens, 'int32');
  const batchSize = o.batchSize ?? 16;
  const prefixCache = o.prefix?.length ? model.createCache(1) : undefined;
  try {
    if (prefixCache) model.forward({ ids: [o.prefix!], cache: prefixCache, logits: 'none' }).hidden.dispose();
    const out: number[][] = [];
    for (let i = 0; i < texts.length; i += batchSize) {
      const bodies = texts.slice(i, i + batchSize).map((t) => toks.promptIds(t));
      const { ids, mask } = leftPad(bodies, 0);
      const cache = prefixCache?.expand(bodies.length);
      try {
        const rows = tf.tidy(() => {
          const { logits } = model.forward({ ids, attentionMask: mask, cache, logits: 'last' });
          return tf.gather(tf.logSoftmax(logits!), labelIds, 1).arraySync() as number[][];
        });
        out.push(...rows);
      } finally {
        cache?.dispose();
      }
      o.onProgress?.(Math.min(i + batchSize, texts.length), texts.length);
    }
    return out;
  } finally {
    prefixCache?.dispose();
    labelIds.dispose();
  }
}

export const argmax = (row: number[]): number => row.indexOf(Math.max(...row));

export function accuracyOf(predicted: number[], examples: Example[]): number {
  return predicted.filter((p, i) => p === examples[i]!.label).length / examples.length;
}

/**
 * The in-context prompt: the task's instruction, then k demonstrations "text suffix verbaliser"
 * (balanced across classes, in a seeded random order), each on its own line.
 */
export function fewShotPrefix(rt: LoadedModel, task: Task, pool: Example[], k: number, seed: number): { ids: number[]; demos: Example[] } {
  const rng = Rng.derive(seed, 'few-shot');
  const byLabel = task.labels.map((_, c) => rng.shuffle(pool.filter((e) => e.label === c)));
  const demos: Example[] = [];
  for (let i = 0; demos.length < k && i < k; i++) for (const g of byLabel) if (demos.length < k && g[i]) demos.push(g[i]!);
  const text = task.instruction + rng.shuffle(demos).map((d) => `${d.text}${task.suffix}${task.labels[d.label]!.verbalizer}\n`).join('');
  return { ids: rt.tokenizer.encode(text), demos };
}

/** Zero-shot (no prefix) or few-shot accuracy of the unmodified LM. */
export function promptAccuracy(rt: LoadedModel, task: Task, test: Example[], prefix?: number[], onProgress?: ScoreOptions['onProgress']): number {
  const scores = labelLogProbs(rt, task, test.map((e) => e.text), { prefix, onProgress });
  return accuracyOf(scores.map(argmax), test);
}

