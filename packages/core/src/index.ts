/**
 * @synthgrad/core: synthetic labelled text by gradient matching (GRADMM) on a small causal LM in
 * TensorFlow.js.
 *
 * Start here (see the README's "Use it from code"):
 * - `initBackend()`, then `loadModel(resolveModelPath())`: the LM (SmolLM2-135M by default).
 * - `resolveTask('sentiment' | 'task.json')`, `readExamples(file, task)`: a task and its labelled data.
 * - `resolvePreset('cpu' | 'cpu-select' | 'paper')`: the method's settings (`DEFAULT_PRESET` when none is named).
 * - `generateToFile(rt, examples, config, { out, dataPath })`: run GRADMM, check and write the set;
 *   returns the rows, the sidecar and `diagnostics` (`formatDiagnostics` prints them).
 * - `select(...)`, `labelCheck(...)`, `writeShards(...)`, `writeFileAtomic(...)`.
 * Errors the caller can fix are `SynthgradError`s with a typed `code`.
 * Everything under "building blocks" is what those are made of (the coordinator and the tests use
 * it); it is exported, but expect it to change more often.
 */

// --- The library: model, tasks and data, GRADMM to a file, diagnostics, selection, privacy ---
export { SynthgradError, isSynthgradError, type SynthgradErrorCode } from './util/errors.js';
export { initBackend, activeBackend, describeBackend, BACKEND_CHOICES, type BackendChoice, type ActiveBackend, type BackendOptions } from './backend/select.js';
export { setupNativeBackend, verifyNativeBackend, nativeBindingProblem, nativePackageDir, NATIVE_BACKENDS, type NativeFlavour, type NativeBackendSpec, type NativeSetupOptions, type NativeSetupResult } from './hub/native-backend.js';
export { DEFAULT_MODEL, modelCacheDir, resolveModelPath, pullModel, sha256File, type ModelSpec } from './hub/models.js';
export { loadModel, type LoadedModel } from './model/load.js';
export { analyticGaussianSigma, classicGaussianSigma, gaussianDelta, normalCdf } from './privacy/analytic-gaussian.js';
export { skellamRdp, skellamEpsilon, skellamMuFor, samplePoisson, sampleSkellam, logPoissonPmf, logFactorial } from './privacy/skellam.js';
export { composedMu, epsilonFromRdp, gdpDelta, gdpEpsilon, rdpEpsilon, DEFAULT_RDP_ORDERS, type GaussianRelease } from './privacy/accountant.js';
export { PrivacyLedger, defaultLedgerPath, synthgradHome, guaranteeOf, type LedgerEntry, type Guarantee } from './privacy/ledger.js';
export { SecureStream, deriveKey, keyFromHex, newSecretKey, KEY_BYTES } from './privacy/secure-stream.js';
export { type Task, type TaskLabel, SENTIMENT_TASK, BUILTIN_TASKS, DEFAULT_LABEL_CONTEXT, DEFAULT_CONTEXT_PREFIX, withDomain, namesDomain, labelContextText, labelledContextText, aboutTopic, type LabelledLine, classDemonstrations, resolveTask, validateTask, labelIndex, TASK_FILE_KEYS, symbolsProblem, NOT_A_SYMBOL } from './task/task.js';
export { taskTemplate, type TaskTemplateOptions } from './task/template.js';
export { describeTask, describeData, missingSymbols, SYMBOL_NOTE_SHARE, type TaskDescription, type LabelDescription, type DataDescription, type ClassData, type SymbolUse } from './task/describe.js';
export { type Example, readExamples, byClass } from './task/data.js';
export { type Shard, splitIntoShards, writeShards } from './task/shards.js';
export { PRESETS, DEFAULT_PRESET, DEFAULT_REAL_PER_CLASS, resolvePreset, DEFAULT_METHOD, REFERENCE_METHOD, TARGET_FILTERS, TARGET_THRESHOLDS, END_MARK_MODES, targetFilterOf, targetFilterMarginOf, RAW_START_MODES, DEMONSTRATION_LABELS, TARGET_WORD_CLASSES, TARGET_WORD_RANKINGS, type TargetWordRanking, everyLabelsDemonstrations, type DemonstrationLabels, type TargetWordClasses, type RawStart, type Preset, type PresetName, type MethodSettings, type TargetFilter, type TargetThreshold, type EndMarks } from './gradmm/presets.js';
export { generate, admmProgress, sampleClasses, type GenerateConfig, type GenerateResult, type SyntheticExample, type GenerateProgress, type ClassProgress, type DomainSearchProgress, type PublicStatsProgress, type ClassComparison } from './gradmm/generate.js';
export { predictLabels, select, dropSurplusMisplaced, bestMatching, overgenerated, OVERGENERATE, type SelectionOptions, type SelectionReport, type Candidate } from './selection/select.js';
export { readCandidates, type GeneratedRow } from './selection/candidates.js';
export { writeFileAtomic, toJsonl, type AtomicWriteOptions } from './util/atomic.js';
export { alignColumns } from './util/columns.js';
export { labelCheck, type LabelCheck, type LabelCheckClass } from './output/label-check.js';
export { diagnose, formatDiagnostics, LABEL_CHECK_MIN_PASS, type SetDiagnostics, type ClassDiagnostics } from './output/diagnostics.js';
export {
  generateToFile,
  checkNoStaleCheckpoint,
  readGenerateDiagnostics,
  checkpointPathOf,
  metaPathOf,
  type GenerateFileOptions,
  type GenerateFileResult,
  type GenerateFileProgress,
  type GenerateMeta,
} from './output/generate-file.js';
export { DEFAULT_DATASET, dataCacheDir, defaultDataPath, parseGroundTruth, pullDataset } from './hub/datasets.js';

// --- Building blocks: GGUF, the llama model, tokenizer, kernels, the GRADMM internals ---
export { loadGGUFWeights, unpermuteQK } from './model/load-gguf.js';
export { halfTable, floatToHalfBits } from './util/half.js';
export { GGUFFile, type GGUFTensor, type GGUFMetadataValue } from './gguf/file.js';
export { dequantize, byteSize, SUPPORTED_TYPES, typeName } from './gguf/dequantize.js';
export { type LlamaConfig, configFromGGUF, validateConfig } from './model/config.js';
export { type LlamaWeights, type LlamaLayerWeights, randomWeights, validateWeights, layerShapes } from './model/weights.js';
export { Llama, KVCache, lastPosition, LORA_PROJECTIONS, type ForwardInput, type ForwardOutput, type LlamaOptions, type LoraOptions, type Projection } from './model/llama.js';
export { installTransposeFix, uninstallTransposeFix, isTransposeFixInstalled } from './backend/transpose-fix.js';
export { Tokenizer, bytesToUnicode, type TokenizerInfo } from './tokenizer/gguf-tokenizer.js';
export { Rng } from './util/rng.js';
export { transpose2d } from './util/transpose.js';
export { taskTokens, leftPad, endsSentence, type TaskTokens } from './gradmm/prompt.js';
export { sampleTopK, sampleTopKContrast, sampleFromContext, sampleAllowed, type DecodeOptions, type Contrast } from './gradmm/sample.js';
export { computeClassTarget, addTargets, privacyReport, checkPrivacyOptions, releaseRows, signalToNoise, targetRow, targetRowCount, TARGET_RELEASES, DEFAULT_RELEASE, type ClassTarget, type PrivacyOptions, type PrivacyReport, type TargetRelease } from './gradmm/targets.js';
export { MatchingLoss, sharedDirection, centredMetric, type MatchingDistance, type ClassifierTerm } from './gradmm/matching.js';
export { publicHiddenStats, publicStatsBatch, publicStatsBatches, publicStatsOf, meanAndCovariance, type PublicStats, type PublicStatsOptions, type PublicStatsBatch } from './gradmm/public-stats.js';
export { buildTargetClassifier, classifyStates, targetVerdict, solveSpd, shrunkPublicCovariance, whitenedMetric, type TargetClassifier, type TargetClassifierOptions } from './gradmm/target-classifier.js';
export { fitClassBiases, refitThreshold, labelLogLikelihood, type BiasFitOptions, type ThresholdRefit } from './gradmm/threshold-refit.js';
export { Projector, repeatsNgram } from './gradmm/projection.js';
export { eitherBan, NgramBan, type NextTokenBan, type TokenSet } from './gradmm/copy-ban.js';
export { allowedTokenIds, isAllowedToken, vocabularyOf, StraySpaceBan, withoutStraySpaces, type VocabularyOptions } from './gradmm/vocab.js';
export { runAdmm, validateSettings, AdmmAborted, type AdmmSettings, type AdmmResult } from './gradmm/admm.js';
export { matchingLossOfPrompts, setMatchingLossOfPrompts, perplexities, PromptStates } from './gradmm/scoring.js';
export { sentenceEndLengths } from './gradmm/sentence-end.js';
export { commaStyle, withCommas, type CommaStyle } from './gradmm/commas.js';
export { END_MARKS, endMarkStyle, withEndMarks, marksNearerTarget, type EndMarkStyle } from './gradmm/end-marks.js';
export { searchDomain, scoreDomain, scoreGenreJob, scoreContexts, drawContextTexts, drawTexts, searchesDomain, DEFAULT_GENRES, DEFAULT_FINALISTS, firstRoundDraws, type DomainChoice, type DomainScore, type DomainSearchOptions, type DrawOptions, type GenreJob, type GenreScorer } from './gradmm/domain.js';
export { searchTopics, batchTopic, DEFAULT_TOPICS, DEFAULT_TOPIC_DRAWS, type TopicChoice, type TopicScore, type TopicSearchOptions } from './gradmm/topics.js';
export { Checkpoint, configHash } from './gradmm/checkpoint.js';
export { liveSynthesisWorkers, startGenreScorers, publicStatsInWorkers, type GenreScorerPool, type WorkerDrawOptions } from './gradmm/synthesis-pool.js';
export { targetWords, targetWordTopics, classMeanContrasts, classLifts, lensLogProbabilities, logitLens, headRowNorms, wordOpenerMask, wordEndProbabilities, isWordToken, wordList, DEFAULT_TARGET_WORD_POOL, TARGET_WORD_NOISE_FLOOR, type TargetWord, type TargetWordsOptions, type ClassMeanContrast } from './gradmm/target-words.js';
export { mineDemonstrations, withMinedDemonstrations, type MinedDemonstration } from './gradmm/mined-demonstrations.js';
export { degeneracy, topTokenShare, longestLetterRun, DEFAULT_DEGENERACY_LIMITS, type Degeneracy, type DegeneracyLimits } from './gradmm/degenerate.js';
export { synthesize, namesTargetWords, minesDemonstrations, minedDemonstrationSlots, minedDemonstrationsFor, synthesisWorkerCount, synthesisLayout, medianAllowedNorm, matchingMetric, publicStatsFor, publicStatsOptions, buildsTargetClassifier, batchTextLength, publicDemonstrations, bootstrapDemonstrations, contextDemonstrations, demonstrationSlots, interleavedSlots, guidanceContexts, filledDemonstrations, targetClassifierFor, targetPredictions, predictionsOfStates, type TargetPrediction, type ClassPlan, type SynthesisOptions, type SynthesisIO, type SynthesisResult } from './gradmm/synthesize.js';
export * from './secagg/index.js';
export { auditSynthetic, canaryExposure, longestCommonRun, modelEmbedding, words, type AuditOptions, type AuditReport, type NearestReal } from './audit/nearest-real.js';
