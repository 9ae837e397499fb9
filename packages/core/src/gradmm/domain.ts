/**
 * The domain of a task that names only its labels, chosen by the released targets.
 *
 * Under the fallback contexts ("Here is a positive example. The") a 135M LM writes about
 * mathematics and code, and such text teaches a sentiment classifier little (EXPERIMENTS.md,
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
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { LoadedModel } from '../model/load.js';
import { labelContextText, namesDomain, withDomain, type Task } from '../task/task.js';
import type { MethodSettings } from './presets.js';
import { Rng } from '../util/rng.js';
import { SynthgradError } from '../util/errors.js';
import { taskTokens } from './prompt.js';
import type { MatchingLoss } from './matching.js';
import { sampleAllowed } from './sample.js';
import { sentenceEndLengths } from './sentence-end.js';
import { StraySpaceBan } from './vocab.js';
import { setMatchingLossOfPrompts } from './scoring.js';

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

/**
 * Whether synthesize searches a domain for `task`: one that names none (namesDomain), with the
 * search on and the label context it rewrites.
 */
export function searchesDomain(task: Task, method: Pick<MethodSettings, 'domainSearch' | 'labelContext'>): boolean {
  return method.domainSearch && method.labelContext && !namesDomain(task);
}

/** Genres the second round scores again (a third genre was the winner's closest rival on both data sets measured). */
export const DEFAULT_FINALISTS = 3;

/**
 * Texts drawn per class and genre in the first round when none is given: 60 per genre in all,
 * shared among the classes (30 a class for two labels: ten a class ranked genres unreliably on
 * rtpolarity), at least 10 a class. The round's cost is genres x classes x draws, so with a fixed
 * number a class it grew with the labels (five labels of 60 tokens: 52 minutes); a genre's score
 * is the mean over classes, so its error depends on the draws of all classes together. Measured
 * on bbc5 (five labels; EXPERIMENTS.md, twenty-fourth stop, "a domain search whose first round does not grow"): 12 a class kept the first round's top three
 * and the winner of 30 a class. The second round (finalists) keeps 30 a class.
 */
export function firstRoundDraws(labels: number): number {
  return Math.max(10, Math.round(60 / Math.max(1, labels)));
}

export interface DomainSearchOptions {
  /** Texts drawn per class and genre in the first round (default firstRoundDraws(labels)). */
  perClass?: number;
  /** Genres scored again, on fresh draws, in the second round (default DEFAULT_FINALISTS). */
  finalists?: number;
  /** Texts drawn per class and finalist in the second round (default 30). */
  finalPerClass?: number;
  /** Tokens per drawn text before the sentence-end cut. */
  length: number;
  seed: number;
  /** Token ids the LM start may use. */
  allowed: Set<number>;
  genres?: readonly string[];
  /** The sentence-end cut's fraction (method.sentenceEndCut; 0: no cut). */
  sentenceEndCut: number;
  /**
   * Called after each genre is scored (the search is minutes of model work): which round, how many
   * genres of that round are done, of how many, and the genre's score.
   */
  onScore?: (round: 'first' | 'final', done: number, total: number, score: DomainScore) => void;
}

export interface DomainScore {
  domain: string;
  /** Mean over classes of the matching loss of the class's draws taken together. */
  loss: number;
  perClass: number[];
}

export interface DomainChoice {
  domain: string;
  /** Every genre's first-round score, best first. */
  scores: DomainScore[];
  /** The finalists' second-round scores, best first (the choice is the first). */
  final: DomainScore[];
}

/**
 * `n` texts of class c drawn under the task's own label context, as the LM start of a batch is
 * drawn (top 40 of the allowed tokens at `length` tokens, in batches of 10), each cut at the LM's
 * likeliest sentence end after `sentenceEndCut` of its length (0: no cut).
 */
export function drawContextTexts(rt: LoadedModel, task: Task, c: number, n: number, o: Pick<DomainSearchOptions, 'length' | 'allowed' | 'sentenceEndCut'>, rng: Rng): string[] {
  return drawTexts(rt, task, rt.tokenizer.encode(labelContextText(task, c, 0)), n, o, rng);
}

/** `n` texts drawn after the LM context `context` (token ids) as drawContextTexts draws them. */
export function drawTexts(rt: LoadedModel, task: Task, context: number[], n: number, o: Pick<DomainSearchOptions, 'length' | 'allowed' | 'sentenceEndCut'>, rng: Rng): string[] {
  const toks = taskTokens(task, rt.tokenizer);
  // As the synthetic texts' LM start: no stray space where the task's symbols allow the lone space.
  const ban = StraySpaceBan.over(o.allowed, (id) => rt.tokenizer.tokenText(id));
  const texts: string[] = [];
  for (let b = 0; b < n; b += 10) {
    const ids = sampleAllowed(rt.model, o.allowed, context, Math.min(10, n - b), o.length, rng, { ban });
    const cut = o.sentenceEndCut > 0 ? sentenceEndLengths(rt.model, toks.contextPrefix, ids, toks.sentenceEndToken, o.sentenceEndCut) : ids.map((s) => s.length);
    ids.forEach((s, i) => texts.push(rt.tokenizer.decode(s.slice(0, cut[i]))));
  }
  return texts;
}

/**
 * How well the task's own label contexts write what the targets hold: per class, `n` draws
 * (drawContextTexts, random stream `stream(c)`) taken together against the class's loss
 * (setMatchingLossOfPrompts). A single text's loss varies too much between draws to rank contexts
 * on ten of them (the median of ten moved "movie review" from first to fourth of sixteen on
 * rtpolarity between two seeds); the sum averages it out.
 */
export function scoreContexts(rt: LoadedModel, task: Task, losses: MatchingLoss[], o: Pick<DomainSearchOptions, 'length' | 'allowed' | 'sentenceEndCut'>, n: number, stream: (c: number) => Rng): { loss: number; perClass: number[] } {
  const perClass = losses.map((loss, c) => scoreClassContext(rt, task, loss, c, n, o, stream(c)));
  return { loss: mean(perClass), perClass };
}

/** Class c's `n` draws under the task's own label context, taken together against its loss. */
function scoreClassContext(rt: LoadedModel, task: Task, loss: MatchingLoss, c: number, n: number, o: Pick<DomainSearchOptions, 'length' | 'allowed' | 'sentenceEndCut'>, rng: Rng): number {
  const toks = taskTokens(task, rt.tokenizer);
  return setMatchingLossOfPrompts(rt.model, loss, drawContextTexts(rt, task, c, n, o, rng).map((x) => toks.promptIds(x)));
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** One unit of the search: class `classIndex`'s `n` draws under a genre, on the named round's random stream. */
export interface GenreJob {
  genre: string;
  classIndex: number;
  n: number;
  /** Names the random stream, so the second round draws texts the first did not. */
  round: string;
}

/** What a job's draws need besides the model, the task and the class's loss. */
export type DrawOptions = Pick<DomainSearchOptions, 'length' | 'allowed' | 'sentenceEndCut' | 'seed'>;

/**
 * Scores one job: in this thread (the default, one job after another) or on worker threads
 * (synthesis-pool.ts, as the classes' batches are spread), which must give the same number, since
 * every stream is derived from the seed, the round, the genre and the class.
 */
export type GenreScorer = (job: GenreJob) => Promise<number>;

/** One job in this thread: the class's draws under "A {label} GENRE:" taken together against its loss. */
export function scoreGenreJob(rt: LoadedModel, task: Task, loss: MatchingLoss, job: GenreJob, o: DrawOptions): number {
  return scoreClassContext(rt, withDomain(task, job.genre), loss, job.classIndex, job.n, o, Rng.derive(o.seed, job.round, job.genre, job.classIndex));
}

/** One genre's score in this thread: `n` draws of every class under "A {label} GENRE:" against the class's loss. */
export function scoreDomain(rt: LoadedModel, task: Task, losses: MatchingLoss[], genre: string, o: DomainSearchOptions, n = o.perClass ?? firstRoundDraws(losses.length), round = 'domain-search'): DomainScore {
  const perClass = losses.map((loss, c) => scoreGenreJob(rt, task, loss, { genre, classIndex: c, n, round }, o));
  return { domain: genre, loss: mean(perClass), perClass };
}

/** Best first; a tie keeps the order given (the list's). */
const ranked = (scores: DomainScore[]) => scores.map((s, i) => ({ s, i })).sort((a, b) => a.s.loss - b.s.loss || a.i - b.i).map((x) => x.s);

/**
 * The genre whose draws match the targets best. Two rounds: every genre on a few draws, then the
 * best few again on more, fresh ones, since genres close in the first round (imdb, per-text
 * medians of 10 draws a class: "movie review" 0.256, "tweet" 0.262) are within its sampling error.
 * `scorer` runs the jobs (default: in this thread, yielding between jobs, so a coordinator's gRPC
 * server, a heartbeat or a test runner's RPC is not starved for the minutes a search takes).
 */
export async function searchDomain(rt: LoadedModel, task: Task, losses: MatchingLoss[], o: DomainSearchOptions, scorer?: GenreScorer): Promise<DomainChoice> {
  const genres = o.genres ?? DEFAULT_GENRES;
  if (genres.length === 0) throw new SynthgradError('domain search: the list of genres is empty', 'E_USAGE');
  if (losses.length !== task.labels.length) throw new SynthgradError(`domain search: ${losses.length} class losses for ${task.labels.length} labels`, 'E_USAGE');
  // In this thread the jobs run one after another, each chained to the one before: after a
  // failure the chain stays rejected, so the rest are refused unrun with the same error.
  let chain: Promise<unknown> = Promise.resolve();
  const score: GenreScorer =
    scorer ??
    ((job) => {
      const next = chain.then(async () => {
        await yieldToLoop();
        return scoreGenreJob(rt, task, losses[job.classIndex], job, o);
      });
      chain = next;
      return next;
    });
  // Every job of a round is handed out at once (a pool of workers runs them side by side); a
  // genre is reported once all its classes are scored.
  const round = async (which: 'first' | 'final', list: readonly string[], n: number, name: string) => {
    let done = 0;
    const out = await Promise.all(
      list.map(async (genre) => {
        const perClass = await Promise.all(losses.map((_, c) => score({ genre, classIndex: c, n, round: name })));
        const s: DomainScore = { domain: genre, loss: mean(perClass), perClass };
        o.onScore?.(which, ++done, list.length, s);
        return s;
      }),
    );
    return ranked(out);
  };
  const scores = await round('first', genres, o.perClass ?? firstRoundDraws(losses.length), 'domain-search');
  const final = await round('final', scores.slice(0, Math.max(1, o.finalists ?? DEFAULT_FINALISTS)).map((s) => s.domain), o.finalPerClass ?? 30, 'domain-search-final');
  return { domain: final[0].domain, scores, final };
}
