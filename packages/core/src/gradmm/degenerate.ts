/**
 * Degenerate synthetic text: what a small LM writes when its context sends it into a loop or
 * into a web address. Measured (docs/EXPERIMENTS.md, thirty-seventh and thirty-eighth stops):
 * after "A positive movie review about thanks, shared and these:" SmolLM2 wrote
 * " https https https ..." for 43 of 300 texts; bbc5's technology batches wrote "a very very very
 * very ..." and its first business batch "httpsurlhttpsurlhttpsurl...". Such a text can still match
 * the targets well (every class target is dominated by one shared direction, METHOD.md section
 * 3), so matching loss does not rank it last, and once it is filled into a later batch's
 * demonstrations the LM copies it: the URL mash lasted to batch 12.
 *
 * Two tests, neither tied to a language's word list: one token id making up a large share of a
 * text's tokens (a loop), and a long run of Latin letters with no space or mark (a mash of
 * words or an address; English words in running text stay under 25 letters, and scripts written
 * without spaces are not Latin letters, so they never trip it). Of 5,158 real texts of five data
 * sets, read through SmolLM2's tokenizer, two trip them (a hashtag of 34 letters; ". . . a
 * pretentious mess . . ."; scripts/experiments/degenerate-real-texts.mjs). A pure function with
 * typed limits, like uploads/validate-header.ts.
 */
import { SynthgradError } from '../util/errors.js';

/** Where degenerate text begins. */
export interface DegeneracyLimits {
  /** The largest share of a text's tokens one token id may make up (0-1). */
  maxTokenShare: number;
  /** Texts with fewer tokens are not judged by their token share (a short text repeats by chance: "so so"). */
  minTokensForShare: number;
  /** The longest run of Latin letters allowed without a space or mark between them. */
  maxLetterRun: number;
}

/**
 * 40% of the tokens: on the thirty-seventh stop's generations this flags "A well well great well
 * well well companany in the well." (46%) and " https https ... The amazing thing" (46%) and none
 * of rtpolarity's 600 default texts but one; a natural review of 20 tokens repeats " the" or ","
 * at most 4 times (20%).
 */
export const DEFAULT_DEGENERACY_LIMITS: DegeneracyLimits = { maxTokenShare: 0.4, minTokensForShare: 8, maxLetterRun: 24 };

/** Why a text is degenerate. */
export type Degeneracy = 'repeated-token' | 'letter-run';

/** Refuses limits that cannot be meant (a share outside (0, 1], counts that are not positive integers). */
function checkLimits(limits: DegeneracyLimits): void {
  const { maxTokenShare, minTokensForShare, maxLetterRun } = limits;
  if (!(maxTokenShare > 0 && maxTokenShare <= 1)) throw new SynthgradError(`maxTokenShare must be in (0, 1], got ${maxTokenShare}`, 'E_USAGE');
  if (!(Number.isInteger(minTokensForShare) && minTokensForShare >= 1)) throw new SynthgradError(`minTokensForShare must be a positive integer, got ${minTokensForShare}`, 'E_USAGE');
  if (!(Number.isInteger(maxLetterRun) && maxLetterRun >= 1)) throw new SynthgradError(`maxLetterRun must be a positive integer, got ${maxLetterRun}`, 'E_USAGE');
}

/** The largest share of `ids` that one id makes up (0 for none). */
export function topTokenShare(ids: readonly number[]): number {
  if (ids.length === 0) return 0;
  const counts = new Map<number, number>();
  let top = 0;
  for (const id of ids) {
    const n = (counts.get(id) ?? 0) + 1;
    counts.set(id, n);
    if (n > top) top = n;
  }
  return top / ids.length;
}

/** The longest run of Latin letters (A-Z, a-z) in `text`. */
export function longestLetterRun(text: string): number {
  let best = 0;
  for (const run of text.match(/[A-Za-z]+/g) ?? []) best = Math.max(best, run.length);
  return best;
}

/**
 * Why a synthetic text (its decoded `text` and its token `ids`) is degenerate under `limits`, or
 * null when it is not.
 */
export function degeneracy(text: string, ids: readonly number[], limits: DegeneracyLimits = DEFAULT_DEGENERACY_LIMITS): Degeneracy | null {
  checkLimits(limits);
  if (ids.length >= limits.minTokensForShare && topTokenShare(ids) > limits.maxTokenShare) return 'repeated-token';
  if (longestLetterRun(text) > limits.maxLetterRun) return 'letter-run';
  return null;
}
