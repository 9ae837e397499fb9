/**
 * GRADMM settings read from flags or a config file into the library's GenerateConfig: shared by
 * `generate` and by `compare` (its GRADMM rows). Validation only: the ML stack is loaded by the
 * caller and passed in, so every check here runs before a model loads.
 */
import type * as Core from '@synthgrad/core';
import type { GenerateConfig, SelectionOptions, Task } from '@synthgrad/core';
import { DEFAULT_PRESET, DEFAULT_REAL_PER_CLASS, DEMONSTRATION_LABELS, END_MARK_MODES, PRESETS, RAW_START_MODES, TARGET_THRESHOLDS, TARGET_WORD_CLASSES, TARGET_WORD_RANKINGS, resolvePreset } from '@synthgrad/core/presets';
import type { FlagReader } from '../flags.js';
import type { KeyPath } from '../config-file.js';

/** Method flags and the library key each maps to: paths into GenerateConfig, checked by the compiler. */
export const METHOD_KEYS = {
  preset: 'preset',
  'per-class': 'perClass',
  'real-per-class': 'realPerClass',
  seed: 'seed',
  distance: 'distance',
  epsilon: 'privacy.epsilon',
  delta: 'privacy.delta',
  clip: 'privacy.clip',
  release: 'privacy.release',
  outer: 'settings.outer',
  inner: 'settings.inner',
  lr: 'settings.lr',
  rho: 'settings.rho',
  'top-k': 'settings.topK',
  'projection-temperature': 'settings.projectionTemperature',
  'no-repeat-ngram': 'settings.noRepeatNgram',
  'no-copy-ngram': 'settings.noCopyNgram',
  candidates: 'settings.candidates',
  'batch-size': 'settings.batchSize',
  'lr-decay': 'settings.lrDecay',
  'lr-decay-every': 'settings.lrDecayEvery',
  'grad-clip': 'settings.gradClip',
  'init-norm': 'settings.initNorm',
  init: 'settings.init',
  'init-temperature': 'settings.initTemperature',
  'init-guidance': 'settings.initGuidance',
  'shared-opening': 'settings.sharedOpening',
  'raw-start': 'settings.rawStart',
  'label-context': 'method.labelContext',
  demonstrations: 'method.demonstrations',
  'demonstration-labels': 'method.demonstrationLabels',
  'classifier-weight': 'method.classifierWeight',
  'target-filter': 'method.targetFilter',
  'target-filter-margin': 'method.targetFilterMargin',
  'drop-degenerate': 'method.dropDegenerate',
  'target-threshold': 'method.targetThreshold',
  'public-texts': 'method.publicTexts',
  shrinkage: 'method.shrinkage',
  discriminant: 'method.discriminant',
  'matching-space': 'method.matchingSpace',
  'bootstrap-demonstrations': 'method.bootstrapDemonstrations',
  'fill-demonstrations': 'method.fillDemonstrations',
  'mined-demonstrations': 'method.minedDemonstrations',
  'domain-search': 'method.domainSearch',
  'length-spread': 'method.lengthSpread',
  punctuation: 'method.punctuation',
  commas: 'method.commas',
  'end-marks': 'method.endMarks',
  topics: 'method.topics',
  'target-words': 'method.targetWords',
  'target-word-classes': 'method.targetWordClasses',
  'target-word-ranking': 'method.targetWordRanking',
  'sentence-end-cut': 'method.sentenceEndCut',
} as const satisfies Record<string, KeyPath<GenerateConfig>>;

export const METHOD_OPTIONS = Object.fromEntries(Object.keys(METHOD_KEYS).map((k) => [k, { type: 'string' as const }])) as {
  [K in keyof typeof METHOD_KEYS]: { type: 'string' };
};

/**
 * The GenerateConfig for `task` from method flags; `defaults` override the preset's. Light (every
 * read is a flag check), so it runs before the ML stack loads; `checkMethodConfig` adds the
 * library's own checks once it has.
 */
export function methodConfig(task: Task, r: FlagReader, defaults: { perClass?: number; realPerClass?: number } = {}): GenerateConfig {
  const presetName = r.oneOf('preset', Object.keys(PRESETS) as (keyof typeof PRESETS)[], DEFAULT_PRESET);
  const preset = resolvePreset(presetName);
  const s = preset.settings;
  s.outer = r.int('outer', s.outer, 0);
  s.inner = r.int('inner', s.inner, 0);
  s.lr = r.positive('lr', s.lr)!;
  s.rho = r.positive('rho', s.rho)!;
  s.topK = r.int('top-k', s.topK);
  s.projectionTemperature = r.positive('projection-temperature', s.projectionTemperature, true)!;
  s.noRepeatNgram = r.int('no-repeat-ngram', s.noRepeatNgram ?? 0, 0);
  s.noCopyNgram = r.int('no-copy-ngram', s.noCopyNgram ?? 0, 0);
  if (s.noCopyNgram === 1) r.fail('no-copy-ngram', 'must be 0 (off) or at least 2: 1 would forbid every word the demonstrations use');
  s.candidates = r.int('candidates', s.candidates);
  s.batchSize = r.int('batch-size', s.batchSize);
  s.lrDecay = r.positive('lr-decay', s.lrDecay)!;
  s.lrDecayEvery = r.int('lr-decay-every', s.lrDecayEvery);
  s.gradClip = r.positive('grad-clip', s.gradClip)!;
  if (r.has('init-norm')) s.initNorm = r.str('init-norm') === 'auto' ? 'auto' : r.positive('init-norm')!;
  s.init = r.oneOf('init', ['lm', 'random'] as const, s.init);
  s.initTemperature = r.positive('init-temperature', s.initTemperature ?? 1)!;
  s.initGuidance = r.positive('init-guidance', s.initGuidance ?? 0, true)!;
  // In [0, 1]: the library's settings check refuses more.
  s.sharedOpening = r.positive('shared-opening', s.sharedOpening ?? 0, true)!;
  s.rawStart = r.oneOf('raw-start', RAW_START_MODES, s.rawStart ?? 'off');
  const m = preset.method;
  m.labelContext = r.oneOf('label-context', ['on', 'off'] as const, m.labelContext ? 'on' : 'off') === 'on';
  m.demonstrations = r.int('demonstrations', m.demonstrations, 0);
  m.demonstrationLabels = r.oneOf('demonstration-labels', DEMONSTRATION_LABELS, m.demonstrationLabels);
  m.classifierWeight = r.positive('classifier-weight', m.classifierWeight, true)!;
  // 'on' is the earlier spelling of 'strict'.
  const filter = r.oneOf('target-filter', ['off', 'surplus', 'strict', 'on'] as const, m.targetFilter);
  m.targetFilter = filter === 'on' ? 'strict' : filter;
  m.targetFilterMargin = r.positive('target-filter-margin', m.targetFilterMargin, true)!;
  m.dropDegenerate = r.oneOf('drop-degenerate', ['on', 'off'] as const, m.dropDegenerate ? 'on' : 'off') === 'on';
  m.targetThreshold = r.oneOf('target-threshold', TARGET_THRESHOLDS, m.targetThreshold);
  m.publicTexts = r.int('public-texts', m.publicTexts, 2);
  m.shrinkage = r.between('shrinkage', 0, 1) ?? m.shrinkage;
  m.discriminant = r.oneOf('discriminant', ['head', 'lda'] as const, m.discriminant);
  m.matchingSpace = r.oneOf('matching-space', ['raw', 'centred', 'whitened'] as const, m.matchingSpace);
  m.bootstrapDemonstrations = r.int('bootstrap-demonstrations', m.bootstrapDemonstrations, 0);
  m.fillDemonstrations = r.int('fill-demonstrations', m.fillDemonstrations, 0);
  m.minedDemonstrations = r.int('mined-demonstrations', m.minedDemonstrations, 0);
  m.domainSearch = r.oneOf('domain-search', ['on', 'off'] as const, m.domainSearch ? 'on' : 'off') === 'on';
  // Both take 0 (off) explicitly; the spread must stay under 1 so no batch gets length 0.
  m.lengthSpread = r.positive('length-spread', m.lengthSpread, true)!;
  if (m.lengthSpread >= 1) r.fail('length-spread', `must be in [0, 1), got ${r.str('length-spread')}`);
  m.sentenceEndCut = r.positive('sentence-end-cut', m.sentenceEndCut, true)!;
  if (m.sentenceEndCut > 1) r.fail('sentence-end-cut', `must be in [0, 1] (0: no cut), got ${r.str('sentence-end-cut')}`);
  m.punctuation = r.oneOf('punctuation', ['on', 'off'] as const, m.punctuation ? 'on' : 'off') === 'on';
  m.commas = r.oneOf('commas', ['on', 'off'] as const, m.commas ? 'on' : 'off') === 'on';
  m.endMarks = r.oneOf('end-marks', END_MARK_MODES, m.endMarks);
  m.topics = r.int('topics', m.topics, 0);
  m.targetWords = r.int('target-words', m.targetWords, 0);
  m.targetWordClasses = r.oneOf('target-word-classes', TARGET_WORD_CLASSES, m.targetWordClasses);
  m.targetWordRanking = r.oneOf('target-word-ranking', TARGET_WORD_RANKINGS, m.targetWordRanking);
  const privacy = privacyFlags(r);
  return {
    task,
    preset: presetName,
    settings: s,
    perClass: r.int('per-class', defaults.perClass ?? preset.perClass),
    realPerClass: r.int('real-per-class', defaults.realPerClass ?? DEFAULT_REAL_PER_CLASS),
    seed: r.int('seed', 0, 0),
    privacy,
    distance: r.oneOf('distance', ['cosine', 'l2'] as const, 'cosine'),
    method: m,
  };
}

/** --clip, --epsilon, --delta and --release (all optional; epsilon and delta together, epsilon with clip). */
export function privacyFlags(r: FlagReader): GenerateConfig['privacy'] {
  const privacy = { clip: r.positive('clip'), epsilon: r.positive('epsilon'), delta: r.between('delta', 0, 1), release: r.has('release') ? r.oneOf('release', ['full', 'label-rows'] as const, 'full') : undefined };
  if ((privacy.epsilon === undefined) !== (privacy.delta === undefined)) r.fail(privacy.epsilon === undefined ? 'delta' : 'epsilon', `needs ${r.label(privacy.epsilon === undefined ? 'epsilon' : 'delta')} too (differential privacy takes both)`);
  if (privacy.epsilon !== undefined && privacy.clip === undefined) r.fail('epsilon', `needs ${r.label('clip')} (the per-example norm bound) too`);
  return privacy;
}

/** The library's own checks of a config, for anything the flag reads do not cover. */
export function checkMethodConfig(core: typeof Core, cfg: GenerateConfig): void {
  const s = cfg.settings;
  core.validateSettings({ ...s, textLength: 1, initNorm: s.initNorm === 'auto' ? 1 : s.initNorm });
  core.checkPrivacyOptions(cfg.privacy);
}

/** Selection options from --top-n / --alpha, with the preset's defaults. */
export function selectionOptions(r: FlagReader, presetName: string, method?: GenerateConfig['method']): SelectionOptions {
  const preset = resolvePreset(presetName);
  return { targetFilter: method?.targetFilter ?? preset.method.targetFilter, targetMargin: method?.targetFilterMargin ?? preset.method.targetFilterMargin, dropDegenerate: method?.dropDegenerate ?? preset.method.dropDegenerate, labelCheck: preset.labelCheck ?? true, dedup: true, topN: r.int('top-n', preset.topN), alpha: r.positive('alpha', preset.alpha, true)!, balance: true };
}
