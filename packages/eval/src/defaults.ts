/** Fine-tuning defaults per mode, chosen on the rtpolarity train split's own dev split (never on a test set). */
import type { FineTuneMode } from './finetune/classifier.js';
import type { TrainingSettings } from './compare.js';

export const MODE_DEFAULTS: Record<FineTuneMode, Omit<TrainingSettings, 'mode' | 'devFraction'>> = {
  head: { steps: 150, batchSize: 16, lr: 3e-3, weightDecay: 0.01, rank: 0 },
  lora: { steps: 100, batchSize: 8, lr: 1e-3, weightDecay: 0.01, rank: 8, microBatch: 2 },
  full: { steps: 100, batchSize: 8, lr: 1e-5, weightDecay: 0.01, rank: 0, microBatch: 1 },
};
