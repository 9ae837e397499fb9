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
 *
 * A task whose texts are made of more than words (tweets: "@", "#"; product reviews: prices and
 * sizes) names those characters in its `symbols` (Task.symbols). A token made of them, alone or
 * around a word ("@", " #", "2019", "50%", "#love"), becomes choosable too; with only words a
 * synthetic tweet cannot write a mention (EXPERIMENTS.md, twenty-fourth stop, "genre4 measured": 1 of 240).
 */
import type { Tokenizer } from '../tokenizer/gguf-tokenizer.js';
import type { Task } from '../task/task.js';
import type { NextTokenBan, TokenSet } from './copy-ban.js';

const WORDLIKE = /^[a-z]+(['-][a-z]+)*$/;
/** A mark inside a sentence (comma, semicolon, dash pair) or an English-style clitic ('s, 're). */
const PUNCTUATION = /^([,;]|--|'[a-z]{1,2})$/;
const MAX_CHARS = 17;
/** The lone-space token's text: with `symbols` it is allowed, for the space before a digit. */
const LONE_SPACE = ' ';

export interface VocabularyOptions {
  /** Also allow the marks inside a sentence and clitics (MethodSettings.punctuation). */
  punctuation?: boolean;
  /** Characters beyond letters a token may be made of, alone or around one word (Task.symbols). */
  symbols?: string;
}

/** The vocabulary a task's synthesis chooses from: the method's punctuation switch and the task's own symbols. */
export function vocabularyOf(task: Pick<Task, 'symbols'>, method: { punctuation: boolean }): VocabularyOptions {
  return { punctuation: method.punctuation, symbols: task.symbols };
}

/** A token made only of `symbols`, or of one word with `symbols` before and/or after it. */
function symbolPattern(symbols: string): RegExp {
  const cls = `[${[...new Set(symbols)].map((ch) => ch.replace(/[\\\]\[^-]/g, '\\$&')).join('')}]`;
  return new RegExp(`^(${cls}+|${cls}*[a-z]+(['-][a-z]+)*${cls}*)$`, 'u'); // u: a symbol outside the BMP (an emoji) is one character
}

export function isAllowedToken(text: string, o: VocabularyOptions = {}): boolean {
  return allowedTokenTest(o)(text);
}

/** isAllowedToken with its options compiled once, for a scan of the whole vocabulary. */
function allowedTokenTest(o: VocabularyOptions): (text: string) => boolean {
  const symbols = o.symbols !== undefined && o.symbols.length > 0 ? symbolPattern(o.symbols) : undefined;
  return (text) => {
    // The tokenizer writes the space before a digit as a token of its own (" 2019" is " ", "2", ...):
    // without it a number could only be glued to the word before it.
    if (symbols !== undefined && text === LONE_SPACE) return true;
    if (text.includes('\n') || text.includes('\r') || text.length > MAX_CHARS) return false;
    const t = text.trim().toLowerCase();
    return WORDLIKE.test(t) || (o.punctuation === true && PUNCTUATION.test(t)) || (symbols?.test(t) ?? false);
  };
}

export function allowedTokenIds(tokenizer: Tokenizer, o: VocabularyOptions = {}): number[] {
  const allowed = allowedTokenTest(o);
  const ids: number[] = [];
  for (let id = 0; id < tokenizer.vocabSize; id++) {
    if (!tokenizer.info.specialIds.has(id) && allowed(tokenizer.tokenText(id))) ids.push(id);
  }
  return ids;
}

/**
 * No stray space while the text is written (LM start and projection): after the lone-space
 * token, no token that begins with whitespace (another lone space included). The projection
 * otherwise puts the lone space before a word (" the", " ", " great"), which reads as a double
 * space and makes the ids it matched differ from the text it writes once the space is dropped.
 * A lone space at the very end (or where every candidate was banned) is still dropped
 * afterwards by withoutStraySpaces.
 */
export class StraySpaceBan implements NextTokenBan {
  /** Whether a token begins with whitespace; asked only of the candidates after a lone space, so no set of them is built. */
  private readonly spaceLed: TokenSet;

  private constructor(
    private readonly space: number,
    tokenText: (id: number) => string,
  ) {
    this.spaceLed = { has: (id) => /^\s/.test(tokenText(id)) };
  }

  /** The ban over these allowed ids, or undefined when the lone space is not among them (no symbols). */
  static over(allowed: Iterable<number>, tokenText: (id: number) => string): StraySpaceBan | undefined {
    for (const id of allowed) if (tokenText(id) === LONE_SPACE) return new StraySpaceBan(id, tokenText);
    return undefined;
  }

  bannedAfter(prefix: readonly number[]): TokenSet | undefined {
    return prefix.length > 0 && prefix[prefix.length - 1] === this.space ? this.spaceLed : undefined;
  }
}

/**
 * The ids less every lone-space token (" ") that ends the text or that a token beginning with
 * whitespace follows. With `symbols` the lone space is allowed so that a digit can follow a word
 * (" 2019" is " ", "2", ...), but the projection also puts it before a word (" the", " ", " great"),
 * which reads as a double space: in a genre4 generation, 8-14% of a class's texts had one.
 * StraySpaceBan now keeps the projection and the LM start from writing one; what is left to drop
 * is a lone space the sentence-end cut leaves at the end, or one written where the ban had no
 * candidate to offer instead.
 */
export function withoutStraySpaces(ids: readonly number[], tokenText: (id: number) => string): number[] {
  return ids.filter((id, i) => tokenText(id) !== LONE_SPACE || (i + 1 < ids.length && !/^\s/.test(tokenText(ids[i + 1]))));
}
