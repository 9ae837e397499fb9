/**
 * No copying from the LM context (`noCopyNgram`, ADMM setting): neither the LM start nor the
 * Z-step's projection writes an n-gram that the context already holds. The label context ends
 * with the class's demonstrations, and a small LM continues that pattern by repeating it: where
 * a label has no salient words of its own (a "neutral" tweet), most of a class's texts came out
 * as variants of one demonstration ("the new bus schedule starts monday ...", 199 of 300 in
 * EXPERIMENTS.md's twenty-third stop). The demonstrations are meant to give the domain and the form,
 * not the words; this passes over a token that would complete an n-gram of the context, the
 * way no_repeat_ngram_size in Hugging Face's generate passes over one of the sequence itself.
 *
 * Only n-grams wholly inside the generated sequence count (not ones spanning the context's end
 * and the text's start), and n >= 2: n = 1 would forbid every word the context uses.
 */
import { SynthgradError } from '../util/errors.js';

/** Token ids a rule excludes; only membership is read, so a rule need not build a set per call. */
export type TokenSet = Pick<ReadonlySet<number>, 'has'>;

/** A rule on the next token of a sequence: the ids it must not take after `prefix` (undefined: none). */
export interface NextTokenBan {
  bannedAfter(prefix: readonly number[]): TokenSet | undefined;
}

/** Both rules at once: an id either of them bans is banned (undefined bans are skipped). */
export function eitherBan(a: NextTokenBan | undefined, b: NextTokenBan | undefined): NextTokenBan | undefined {
  if (!a || !b) return a ?? b;
  return {
    bannedAfter(prefix) {
      const x = a.bannedAfter(prefix);
      const y = b.bannedAfter(prefix);
      return x && y ? { has: (id) => x.has(id) || y.has(id) } : (x ?? y);
    },
  };
}

export class NgramBan implements NextTokenBan {
  /** The (n-1)-gram of the source, as a key, to the tokens that follow it there. */
  private readonly follows = new Map<string, Set<number>>();

  constructor(
    source: readonly number[],
    readonly n: number,
  ) {
    if (!(Number.isInteger(n) && n >= 2)) throw new SynthgradError(`noCopyNgram must be an integer >= 2 (0: off), got ${n}`, 'E_USAGE');
    for (let s = 0; s + n <= source.length; s++) {
      const key = source.slice(s, s + n - 1).join(',');
      let set = this.follows.get(key);
      if (!set) this.follows.set(key, (set = new Set()));
      set.add(source[s + n - 1]!);
    }
  }

  /** The tokens that, appended to `prefix`, would complete an n-gram of the source (undefined: none). */
  bannedAfter(prefix: readonly number[]): ReadonlySet<number> | undefined {
    if (prefix.length < this.n - 1) return undefined;
    return this.follows.get(prefix.slice(prefix.length - (this.n - 1)).join(','));
  }
}
