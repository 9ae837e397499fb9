/** Fine-tuning flags (shared by eval and compare) -> the library's TrainingSettings. Light: no ML imports. */
import type { FineTuneMode, TrainingSettings } from '@synthgrad/eval';
import { MODE_DEFAULTS } from '@synthgrad/eval/defaults';
import type { FlagReader } from '../flags.js';
import type { ConfigKeys, KeyPath } from '../config-file.js';

/** Modes and their defaults from the library's light entry (no ML stack needed to validate). */
export const MODES = Object.keys(MODE_DEFAULTS) as FineTuneMode[];

export const TRAINING_OPTIONS = {
  mode: { type: 'string' },
  seeds: { type: 'string' },
  steps: { type: 'string' },
  'batch-size': { type: 'string' },
  'micro-batch': { type: 'string' },
  lr: { type: 'string' },
  'weight-decay': { type: 'string' },
  rank: { type: 'string' },
  dev: { type: 'string' },
  'dev-fraction': { type: 'string' },
  'eval-every': { type: 'string' },
  'test-limit': { type: 'string' },
  task: { type: 'string' },
  model: { type: 'string' },
  json: { type: 'boolean', default: false },
  quiet: { type: 'boolean', default: false },
} as const;

/** Config keys of the training flags: TrainingSettings names under "training" (checked by the compiler). */
export const TRAINING_CONFIG_KEYS = {
  mode: 'training.mode',
  steps: 'training.steps',
  'batch-size': 'training.batchSize',
  'micro-batch': 'training.microBatch',
  lr: 'training.lr',
  'weight-decay': 'training.weightDecay',
  rank: 'training.rank',
  'eval-every': 'training.evalEvery',
  'dev-fraction': 'training.devFraction',
  seeds: 'seeds',
  dev: 'dev',
  'test-limit': 'testLimit',
  task: 'task',
  model: 'model',
  backend: 'backend',
} as const satisfies Record<string, `training.${KeyPath<TrainingSettings>}` | 'seeds' | 'dev' | 'testLimit' | 'task' | 'model' | 'backend'> & ConfigKeys;

export function trainingSettings(r: FlagReader): TrainingSettings {
  const mode = r.oneOf('mode', MODES, 'head');
  const d = MODE_DEFAULTS[mode];
  const devFraction = r.between('dev-fraction', 0, 1) ?? 0.2;
  return {
    mode,
    steps: r.int('steps', d.steps),
    batchSize: r.int('batch-size', d.batchSize),
    lr: r.positive('lr', d.lr)!,
    weightDecay: r.positive('weight-decay', d.weightDecay, true)!,
    rank: r.int('rank', mode === 'lora' ? d.rank : 1),
    microBatch: r.has('micro-batch') ? r.int('micro-batch', 1) : d.microBatch,
    evalEvery: r.optInt('eval-every'),
    devFraction,
  };
}
