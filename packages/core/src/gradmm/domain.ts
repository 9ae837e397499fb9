/**
 * The domain of a task that names only its labels, chosen by the released targets.
 *
 * Under the fallback contexts ("Here is a positive example. The") a 135M LM writes about
 * mathematics and code, and such text teaches a sentiment classifier little (METHOD.md section 8,
 * seventeenth stop). But the targets know what the real texts are like: a class target is, to
 * first order, the sum of its real texts' final hidden states (section 8), and text of another
 * genre ends in other states. So for each genre of a fixed, generic list, draw a few texts of
 * every class under "A {label} GENRE:" exactly as the LM start of a batch is drawn (top 40 of the
 * allowed tokens, cut at the LM's likeliest sentence end), and score them against their class's
 * target; the genre whose texts match best names the task's domain.
 *
 * Only the released targets and public weights are read: post-processing, no privacy cost. The
 * draws are seeded, so a resumed run chooses the same domain.
 */
import type { LoadedModel } from '../model/load.js';
import { labelContextText, withDomain, type Task } from '../task/task.js';
import { Rng } from '../util/rng.js';
import { SynthgradError } from '../util/errors.js';
import { taskTokens } from './prompt.js';
import type { MatchingLoss } from './matching.js';
import { sampleAllowed } from './sample.js';
import { sentenceEndLengths } from './sentence-end.js';
import { matchingLossOfPrompts } from './scoring.js';

/**
 * Common genres of labelled text. Generic on purpose: the list must not be tuned to any data set
 * (the choice among them is the targets').
 */
export const DEFAULT_GENRES: readonly string[] = [
  'text',
  'review',
  'movie review',
  'product review',
  'restaurant review',
  'book review',
  'tweet',
  'news article',
  'headline',
  'comment',
  'email',
  'question',
  'message',
  'forum post',
  'story',
  'opinion',
];

export interface DomainSearchOptions {
  /** Texts drawn per class and genre (default 10: one batch). */
  perClass?: number;
  /** Tokens per drawn text before the sentence-end cut. */
  length: number;
  seed: number;
  /** Token ids the LM start may use. */
  allowed: Set<number>;
  genres?: readonly string[];
  /** The sentence-end cut's fraction (method.sentenceEndCut; 0: no cut). */
  sentenceEndCut: number;
}

export interface DomainScore {
  domain: string;
  /** Mean over classes of the median matching loss of the class's draws. */
  loss: number;
  perClass: number[];
}

export interface DomainChoice {
  domain: string;
  /** Every genre's score, best first. */
  scores: DomainScore[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** One genre's score: every class's draws under "A {label} GENRE:" against the class's loss. */
export function scoreDomain(rt: LoadedModel, task: Task, losses: MatchingLoss[], genre: string, o: DomainSearchOptions): DomainScore {
  const t = withDomain(task, genre);
  const toks = taskTokens(t, rt.tokenizer);
  const n = o.perClass ?? 10;
  const perClass = losses.map((loss, c) => {
    const rng = Rng.derive(o.seed, 'domain-search', genre, c);
    const context = rt.tokenizer.encode(labelContextText(t, c, 0));
    const texts: string[] = [];
    for (let b = 0; b < n; b += 10) {
      const ids = sampleAllowed(rt.model, o.allowed, context, Math.min(10, n - b), o.length, rng);
      const cut = o.sentenceEndCut > 0 ? sentenceEndLengths(rt.model, toks.contextPrefix, ids, toks.sentenceEndToken, o.sentenceEndCut) : ids.map((s) => s.length);
      ids.forEach((s, i) => texts.push(rt.tokenizer.decode(s.slice(0, cut[i]))));
    }
    const prompts = texts.map((x) => toks.promptIds(x));
    const out: number[] = [];
    for (let i = 0; i < prompts.length; i += 10) out.push(...matchingLossOfPrompts(rt.model, loss, prompts.slice(i, i + 10)));
    return median(out);
  });
  return { domain: genre, loss: perClass.reduce((a, b) => a + b, 0) / perClass.length, perClass };
}

/** The genre whose draws match the targets best (the first of the list on a tie), with every genre's score. */
export function searchDomain(rt: LoadedModel, task: Task, losses: MatchingLoss[], o: DomainSearchOptions): DomainChoice {
  const genres = o.genres ?? DEFAULT_GENRES;
  if (genres.length === 0) throw new SynthgradError('domain search: the list of genres is empty', 'E_USAGE');
  if (losses.length !== task.labels.length) throw new SynthgradError(`domain search: ${losses.length} class losses for ${task.labels.length} labels`, 'E_USAGE');
  const scores = genres.map((g) => scoreDomain(rt, task, losses, g, o));
  const best = scores.reduce((a, s) => (s.loss < a.loss ? s : a));
  return { domain: best.domain, scores: [...scores].sort((a, b) => a.loss - b.loss) };
}
