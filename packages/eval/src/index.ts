/** Evaluation: fine-tune the LM as a classifier, measure held-out accuracy, compare with baselines. */
export { checkLabelSets, carveDev, balancedSubset, takeBalanced } from './data/splits.js';
export { labelLogProbs, argmax, accuracyOf, fewShotPrefix, promptAccuracy, type ScoreOptions } from './classify/label-scores.js';
export { AdamW, linearDecay, type AdamWOptions } from './finetune/adamw.js';
export { FeatureCache, makeClassifier, headClassifier, loraClassifier, fullClassifier, FINETUNE_MODES, type Classifier, type FineTuneMode } from './finetune/classifier.js';
export { fineTune, batchGradients, predict, accuracy, type FineTuneOptions, type FineTuneResult } from './finetune/trainer.js';
export { generatePrompted, promptFor, cleanText, type PromptedOptions } from './baselines/prompted.js';
export { runCompare, rowSelected, stat, type CompareOptions, type RowResult, type Stat, type TrainingSettings } from './compare.js';
export { renderReport, type ReportInput } from './report/html.js';
export { runQuality, type QualityOptions, type QualityResult } from './quality.js';
