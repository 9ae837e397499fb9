/**
 * Tokens the projection may choose (METHOD.md section 3). The reference allows no special tokens,
 * no newlines, at most 17 characters, and word-like after trimming and lower-casing. With
 * `punctuation` the marks inside a sentence are allowed too (issue 10): commas, semicolons, dashes
 * and clitics. Real text is full of them, and a last-position classifier trained on text without
 * them learns from states it never sees at test time: keeping only the words and the final mark
 * of 100 real rtpolarity reviews cost their head 2.3 points (80.1% -> 77.8%), keeping the commas
 * too 0.8 (79.3%); on a second draw the commas added 1.4 over words only. Marks that end a sentence or
 * open a new segment (. ! ? : quotes, brackets) stay out: a synthetic text is one sentence,
 * whose end the task's `sentenceEnd` supplies, and with them allowed the LM started new
 * "reviews" inside a text ("... to innovate . A negative comedy review: the plot") and glued
 * words with dots; that generation taught 70.9% against 76.6%. Even the in-sentence marks did
 * not carry the gain over to synthetic text (73.8%), so the switch is off by default.
 */
import type { Tokenizer } from '../tokenizer/gguf-tokenizer.js';

const WORDLIKE = /^[a-z]+(['-][a-z]+)*$/;
/** A mark inside a sentence (comma, semicolon, dash pair) or an English-style clitic ('s, 're). */
const PUNCTUATION = /^([,;]|--|'[a-z]{1,2})$/;
const MAX_CHARS = 17;

export interface VocabularyOptions {
  /** Also allow the marks inside a sentence and clitics (MethodSettings.punctuation). */
  punctuation?: boolean;
}

export function isAllowedToken(text: string, o: VocabularyOptions = {}): boolean {
  if (text.includes('\n') || text.includes('\r') || text.length > MAX_CHARS) return false;
  const t = text.trim().toLowerCase();
  return WORDLIKE.test(t) || (o.punctuation === true && PUNCTUATION.test(t));
}

export function allowedTokenIds(tokenizer: Tokenizer, o: VocabularyOptions = {}): number[] {
  const ids: number[] = [];
  for (let id = 0; id < tokenizer.vocabSize; id++) {
    if (!tokenizer.info.specialIds.has(id) && isAllowedToken(tokenizer.tokenText(id), o)) ids.push(id);
  }
  return ids;
}
