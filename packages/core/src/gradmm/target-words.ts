/**
 * The words each class's released target points at, and the batch contexts that name them
 * (MethodSettings.targetWords; issue 10, thirty-sixth stop).
 *
 * Why. A task that names only its labels gives the LM nothing but the label: on bbc5 ("A business
 * news article:") the texts are about the label and the genre ("Business news articles are ..."),
 * not about what the private articles discuss, and they teach about 11 points less than random
 * real articles. Yet the targets know what those articles discuss.
 *
 * Derivation (a "logit lens" on the targets). A class target's own verbaliser row is a weighted
 * sum of the class's final states, r_c = sum_{i in c} (1 - p_i(v_c)) h_i (target-classifier.ts).
 * Scaled to unit weight along the classes' shared direction it estimates the class mean m_c, and
 * the final state is what the LM reads its next token from: logits = W h. So
 *
 *   z_c = W (m_c - m_bar)        [V]
 *
 * ranks the vocabulary by how much likelier each token is, after the student's prompt, for this
 * class's texts than for the average class's. On bbc5 (ten real articles a class) politics' best
 * are "Labour Blair parliamentary Westminster MPs ...", entertainment's "musical films musician
 * comedy film ...": the private texts' content, read from the released sums alone
 * (post-processing, no privacy cost). Under the release noise a word counts only where its score
 * is beyond what the noise alone would give it (TARGET_WORD_NOISE_FLOOR).
 *
 * The lens favours rare tokens where a class is defined by what it is not: with two labels
 * z_1 = -z_0, and rtpolarity's positive class reads "mangroves harvests kinship glimp" (tokens
 * whose long head rows point away from the negative reviews). `ranking: 'lift'` (an option) ranks
 * by the log ratio of the token's probability at the class's estimated mean state to that at the
 * classes' average instead, each read at the real scale of a final state (the public LM texts'
 * mean norm, PublicStats) and floored at 1/V,
 *
 *   lift_c(v) = log(p_c(v) + 1/V) - log(p_bar(v) + 1/V),  p_c = softmax(W s m_c),  s = |h_pub| / |m_bar|,
 *
 * which reads more plainly ("wonderful thanks beautifully love exhilarating", but also "during
 * these through") and taught less: rtpolarity's labels-only task 70.0% against 72.2%, bbc5's raw
 * draws 78.4% against 81.9% (thirty-seventh stop; "thanks, shared" sent the LM to write URLs). So
 * the lens stays the default. The noise floor is on z_c either way: it is what the noise is known for.
 *
 * How. Each class keeps its `pool` best whole words (a word-like allowed token after which the LM
 * expects a new word, case-folded duplicates dropped), and each batch's label context names
 * `perBatch` of them, drawn afresh for the batch: "A politics news article about Labour, ballot
 * and Westminster:" (task.ts aboutTopic). The projection keeps to that context, so the words
 * steer both the LM start and the tokens the projection may choose.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LoadedModel } from '../model/load.js';
import { SynthgradError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import type { ClassTarget } from './targets.js';
import { classMeanEstimates, dot, labelRowsOf, meanVector } from './target-classifier.js';
import { TARGET_WORD_RANKINGS, type TargetWordRanking } from './presets.js';

/** Whole words a class keeps, to draw each batch's from (eight batches' worth at three a batch). */
export const DEFAULT_TARGET_WORD_POOL = 24;

/**
 * How far beyond the release noise a word's score must be, in standard deviations of what the
 * noise alone gives its token: the noise's score of token v is normal with standard deviation
 * sigma |W_v|, and 4.5 leaves about 0.1 of 30,000 word tokens above it by chance.
 */
export const TARGET_WORD_NOISE_FLOOR = 4.5;

export interface TargetWord {
  word: string;
  /**
   * What it was ranked by: its token's lift (log probability ratio, floored at 1/V) with ranking
   * 'lift', z_c with 'lens' (the logit gain of the class's mean state over the average class's).
   */
  score: number;
}

export interface TargetWordsOptions {
  /** Words kept a class (default DEFAULT_TARGET_WORD_POOL). */
  pool?: number;
  /** Token ids the words may come from (the task's allowed vocabulary). */
  allowed: readonly number[];
  /** The LM context a word is read after to check that it ends a word (the task's label-blind context prefix). */
  wordEndContext: number[];
  /** The least wordEndProbabilities a kept word has (default 1/2; 0 keeps fragments too). */
  minWordEnd?: number;
  /** Standard deviations of the noise a word's lens score must exceed (default TARGET_WORD_NOISE_FLOOR; targets without noise: any). */
  noiseFloor?: number;
  /** 'lens' (default) or 'lift' (needs meanStateNorm; module comment). */
  ranking?: TargetWordRanking;
  /**
   * The norm of a mean final state at the real scale (the public LM texts' mean state, PublicStats):
   * what brings the class means, known from the rows only up to a common scale, to the scale the
   * LM head's softmax reads. Needed by ranking 'lift' only.
   */
  meanStateNorm?: number;
}

export interface ClassMeanContrast {
  /** m_c [d], in the rows' scale (m_c . mu = |mu|^2 for a row with positive weight; classMeanContrasts's comment). */
  mean: Float64Array;
  /** m_c - m_bar [d]. */
  contrast: Float64Array;
  /** Standard deviation of the release noise in each entry of the contrast (0 without noise). */
  noiseStd: number;
}

/**
 * Each class's estimated mean state minus the classes' average, from the targets' own verbaliser
 * rows: r_c scaled to unit weight along the rows' mean direction (the classes' shared part, which
 * dominates every row; the same scaling buildTargetClassifier applies along the public mean), so
 * in the rows' own scale: only the ranking of z_c is read. A row whose weight along that direction
 * is not positive (noise-dominated) keeps its direction at the others' mean norm. The noise of a
 * contrast entry: (1 - 1/K) times class c's scaled noise, and 1/K times each other class's.
 */
export function classMeanContrasts(targets: ClassTarget[], labelTokens: number[]): ClassMeanContrast[] {
  const K = targets.length;
  if (K < 2) throw new SynthgradError('target words contrast the classes: at least two are needed');
  if (labelTokens.length !== K) throw new SynthgradError(`${K} targets but ${labelTokens.length} label tokens`);
  const d = targets[0].dModel;
  const rows = labelRowsOf(targets, labelTokens, d, (t, c) => `target ${c} has width ${t.dModel}, target 0 ${d}`);
  const mu = meanVector(rows);
  if (!(dot(mu, mu) > 0)) throw new SynthgradError('the targets have no shared direction (all rows zero)');
  const { means, scales } = classMeanEstimates(rows, mu);
  const mBar = meanVector(means);
  const scaledNoise = targets.map((t, c) => t.noiseStd * scales[c]);
  return means.map((m, c) => ({
    mean: m,
    contrast: m.map((x, k) => x - mBar[k]),
    noiseStd: Math.sqrt(scaledNoise.reduce((a, sd, k) => a + ((k === c ? 1 - 1 / K : 1 / K) * sd) ** 2, 0)),
  }));
}

/** z = W dir over the vocabulary [V], with W^T [d, V] the model's head. */
export function logitLens(rt: LoadedModel, dir: Float64Array): Float32Array {
  const d = rt.model.config.dModel;
  if (dir.length !== d) throw new SynthgradError(`a direction of width ${dir.length} for a model of width ${d}`, 'E_SHAPE_MISMATCH');
  return tf.tidy(() => tf.matMul(tf.tensor2d(Float32Array.from(dir), [1, d]), rt.model.headT).dataSync() as Float32Array);
}

/** log softmax(W x) over the vocabulary [V]: the LM's next-token log probabilities at final state x. */
export function lensLogProbabilities(rt: LoadedModel, x: Float64Array): Float32Array {
  const z = logitLens(rt, x);
  return tf.tidy(() => tf.logSoftmax(tf.tensor1d(z)).dataSync() as Float32Array);
}

/**
 * Each class's lift over the vocabulary (module comment): log(p_c + 1/V) - log(p_bar + 1/V), with
 * the class means `means` (rows' scale) brought to the norm `meanStateNorm` of a real mean state.
 */
export function classLifts(rt: LoadedModel, means: readonly Float64Array[], meanStateNorm: number): Float64Array[] {
  if (!(Number.isFinite(meanStateNorm) && meanStateNorm > 0)) throw new SynthgradError(`the lift needs the norm of a mean final state (> 0), got ${meanStateNorm}`, 'E_USAGE');
  const mBar = meanVector(means);
  const s = meanStateNorm / Math.sqrt(dot(mBar, mBar));
  if (!Number.isFinite(s)) throw new SynthgradError('the class means average to zero: no lift');
  const V = rt.model.config.vocabSize;
  const floored = (lp: Float32Array) => Float64Array.from(lp, (x) => Math.log(Math.exp(x) + 1 / V));
  const bar = floored(lensLogProbabilities(rt, mBar.map((x) => s * x)));
  return means.map((m) => floored(lensLogProbabilities(rt, m.map((x) => s * x))).map((x, v) => x - bar[v]));
}

/** |W_v| for every token v of the head. */
export function headRowNorms(rt: LoadedModel): Float32Array {
  return tf.tidy(() => tf.norm(rt.model.headT, 2, 0).dataSync() as Float32Array);
}

/** A token that may name a word: a leading space, then three or more letters and nothing else. */
export const isWordToken = (text: string): boolean => /^ \p{L}{3,}$/u.test(text);

/** 1 for every token that opens a new word (whitespace or a mark first), else 0 [V]. */
export function wordOpenerMask(rt: LoadedModel): Float32Array {
  return Float32Array.from({ length: rt.model.config.vocabSize }, (_, v) => (/^[\s.,;:!?'")\]]/u.test(rt.tokenizer.tokenText(v)) ? 1 : 0));
}

/**
 * For each candidate token, the probability that the LM's next token, after `context` and the
 * candidate, opens a new word (`opens`, wordOpenerMask: read once, it spells out the whole
 * vocabulary): low for a fragment such as " Econom".
 */
export function wordEndProbabilities(rt: LoadedModel, context: number[], candidates: number[], batchSize = 64, opens = wordOpenerMask(rt)): number[] {
  const V = rt.model.config.vocabSize;
  const out: number[] = [];
  for (let i = 0; i < candidates.length; i += batchSize) {
    const chunk = candidates.slice(i, i + batchSize);
    const f = rt.model.forward({ ids: chunk.map((v) => [...context, v]), logits: 'last' });
    try {
      const p = tf.tidy(() => tf.matMul(tf.softmax(f.logits as tf.Tensor2D), tf.tensor2d(opens, [V, 1])).dataSync());
      out.push(...p);
    } finally {
      f.hidden.dispose();
      f.logits?.dispose();
    }
  }
  return out;
}

/**
 * Each class's best `pool` whole words by z_c or by lift (module comment): word tokens of the allowed
 * vocabulary, in order of score, whose lens score is beyond what the release noise alone would give
 * (noiseFloor; under strong privacy a class may keep few words or none, and its batches then
 * name none), that end a word (wordEndProbabilities >= minWordEnd) and whose case-folded form is
 * not already taken.
 */
export function targetWords(rt: LoadedModel, targets: ClassTarget[], labelTokens: number[], o: TargetWordsOptions): TargetWord[][] {
  const pool = o.pool ?? DEFAULT_TARGET_WORD_POOL;
  if (!(Number.isInteger(pool) && pool >= 1)) throw new SynthgradError(`target words kept a class must be a positive integer, got ${pool}`, 'E_USAGE');
  const minWordEnd = o.minWordEnd ?? 0.5;
  const floor = o.noiseFloor ?? TARGET_WORD_NOISE_FLOOR;
  const words = o.allowed.filter((v) => isWordToken(rt.tokenizer.tokenText(v)));
  const rowNorm = headRowNorms(rt);
  const opens = wordOpenerMask(rt);
  const ranking = o.ranking ?? 'lens';
  if (!TARGET_WORD_RANKINGS.includes(ranking)) throw new SynthgradError(`target word ranking must be one of ${TARGET_WORD_RANKINGS.join(', ')}, got ${JSON.stringify(ranking)}`, 'E_USAGE');
  const contrasts = classMeanContrasts(targets, labelTokens);
  const lifts = ranking === 'lift' ? classLifts(rt, contrasts.map((m) => m.mean), o.meanStateNorm ?? NaN) : null;
  return contrasts.map(({ contrast, noiseStd }, c) => {
    const z = logitLens(rt, contrast);
    const score: ArrayLike<number> = lifts ? lifts[c] : z;
    // Four times the pool is checked: fragments and case duplicates take some of the best places.
    const ranked = words
      .filter((v) => z[v] > floor * noiseStd * rowNorm[v])
      .sort((a, b) => score[b] - score[a])
      .slice(0, 4 * pool);
    const ends = wordEndProbabilities(rt, o.wordEndContext, ranked, undefined, opens);
    const seen = new Set<string>();
    const kept: TargetWord[] = [];
    ranked.forEach((v, i) => {
      const word = rt.tokenizer.tokenText(v).trim();
      if (kept.length >= pool || ends[i] < minWordEnd || seen.has(word.toLowerCase())) return;
      seen.add(word.toLowerCase());
      kept.push({ word, score: score[v] });
    });
    return kept;
  });
}

/** "a", "a and b", "a, b and c". */
export function wordList(words: readonly string[]): string {
  if (words.length === 0) throw new SynthgradError('a word list must not be empty', 'E_USAGE');
  return words.length === 1 ? words[0] : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

/**
 * What each of a class's `batches` batches is about: `perBatch` of its words, drawn without
 * replacement for each batch from its own stream (seed, class, batch), so a resumed or
 * worker-run class draws the same.
 */
export function targetWordTopics(words: readonly TargetWord[], perBatch: number, batches: number, seed: number, c: number): string[] {
  if (!(Number.isInteger(perBatch) && perBatch >= 1)) throw new SynthgradError(`target words a batch must be a positive integer, got ${perBatch}`, 'E_USAGE');
  if (words.length === 0) return [];
  const names = words.map((w) => w.word);
  return Array.from({ length: batches }, (_, b) => wordList(Rng.derive(seed, 'target-words', c, b).shuffle([...names]).slice(0, perBatch)));
}
