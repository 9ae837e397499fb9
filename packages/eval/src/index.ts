/**
 * @synthgrad/eval: how good is a training set? Fine-tune the LM as a classifier over the task's
 * verbaliser tokens, choose the checkpoint on a dev split, score a held-out test set once.
 *
 * Start here:
 * - `evaluate(rt, task, train, test, { training, seeds })`: accuracy over seeds for one training set.
 * - `runCompare(rt, options)`: the whole baseline table (zero/few-shot, real, prompted, GRADMM rows).
 * - `renderReport(input)`: that table as one self-contained HTML page.
 * The rest are the building blocks they are made of.
 */

// --- Evaluate a training set, compare with baselines, report ---
export { evaluate, trainingDefaults, type EvaluateOptions, type EvaluateResult, type EvaluateRun } from './evaluate.js';
export { MODE_DEFAULTS } from './defaults.js';
export { runCompare, rowSelected, stat, type CompareOptions, type RowResult, type Stat, type SyntheticSet, type TrainingSettings } from './compare.js';
export { renderReport, reportWarnings, accuracyText, MIN_DEV_TEXTS, type ReportInput } from './report/html.js';

// --- Data splits and label-set checks ---
export { checkLabelSets, carveDev, balancedSubset, takeBalanced } from './data/splits.js';

// --- Building blocks: prompting, classifiers, training ---
export { labelLogProbs, argmax, accuracyOf, fewShotPrefix, promptAccuracy, type ScoreOptions } from './classify/label-scores.js';
export { AdamW, linearDecay, type AdamWOptions } from './finetune/adamw.js';
export { FeatureCache, makeClassifier, headClassifier, loraClassifier, fullClassifier, FINETUNE_MODES, type Classifier, type FineTuneMode } from './finetune/classifier.js';
export { fineTune, batchGradients, predict, accuracy, devScore, type FineTuneOptions, type FineTuneResult, type CheckpointRule } from './finetune/trainer.js';
export { generatePrompted, generatePromptedSet, promptedDomain, promptFor, cleanText, type PromptedOptions } from './baselines/prompted.js';
export { runQuality, qualityBars, type QualityOptions, type QualityResult, type QualityGeneration, type QualityBar, type TargetClassifierReport } from './quality.js';
