/**
 * "How good is this training set?" as one call: fine-tune the LM as a classifier on `train` once
 * per seed (checkpoint chosen on a dev split: the given one, or a share of each class carved off
 * per seed), score the held-out `test` set once with the chosen checkpoint, and summarise.
 * What `synthgrad eval` runs.
 */
import type { Example, LoadedModel, Task } from '@synthgrad/core';
import { carveDev } from './data/splits.js';
import { FeatureCache, makeClassifier } from './finetune/classifier.js';
import { fineTune, type FineTuneResult } from './finetune/trainer.js';
import { stat, type Stat, type TrainingSettings } from './compare.js';
import { MODE_DEFAULTS } from './defaults.js';

export interface EvaluateOptions {
  /** Fine-tuning settings; missing fields take the mode's defaults (MODE_DEFAULTS). */
  training?: Partial<TrainingSettings>;
  /** Seeds 0..seeds-1 (default 3): each varies the dev split and the batch order. */
  seeds?: number;
  /** A fixed dev split instead of carving one from `train`. */
  dev?: Example[];
  /** Progress within a seed: share done (0..1) and what is happening. */
  onProgress?: (seed: number, fraction: number, what: string) => void;
}

export interface EvaluateRun extends FineTuneResult {
  seed: number;
  devSize: number;
}

export interface EvaluateResult {
  training: TrainingSettings;
  accuracy: Stat;
  runs: EvaluateRun[];
}

/** The complete settings for a mode: its defaults, overridden by `t`. */
export function trainingDefaults(t: Partial<TrainingSettings> = {}): TrainingSettings {
  const mode = t.mode ?? 'head';
  return { mode, devFraction: 0.2, ...MODE_DEFAULTS[mode], ...Object.fromEntries(Object.entries(t).filter(([, v]) => v !== undefined)) } as TrainingSettings;
}

export function evaluate(rt: LoadedModel, task: Task, train: Example[], test: Example[], o: EvaluateOptions = {}): EvaluateResult {
  const t = trainingDefaults(o.training);
  const seeds = o.seeds ?? 3;
  const cache = new FeatureCache(rt, task);
  const runs: EvaluateRun[] = [];
  for (let seed = 0; seed < seeds; seed++) {
    const split = o.dev ? { train, dev: o.dev } : carveDev(train, t.devFraction, seed);
    const clf = makeClassifier(rt, task, t.mode, { cache, rank: t.rank, seed });
    try {
      const r = fineTune(clf, split.train, split.dev, test, task.labels.length, {
        ...t,
        seed,
        onPrepare: (d, n) => o.onProgress?.(seed, (0.3 * d) / n, `features ${d}/${n}`),
        onStep: (p) => o.onProgress?.(seed, 0.3 + (0.7 * p.step) / p.steps, `step ${p.step}/${p.steps} loss ${p.loss.toFixed(3)}`),
      });
      runs.push({ seed, devSize: split.dev.length, ...r });
    } finally {
      clf.dispose();
    }
  }
  return { training: t, accuracy: stat(runs.map((r) => r.testAccuracy)), runs };
}
