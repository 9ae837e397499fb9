/**
 * What each class's texts are about, chosen by the released targets (MethodSettings.topics; issue
 * 10, thirty-first stop).
 *
 * Why. Under its label context and public demonstrations a 135M LM writes one kind of text a
 * class: rtpolarity's negatives open "the plot is ..." again and again, genre4's product reviews
 * are all about the zipper, the battery and the bag of their two demonstrations. Such a set
 * teaches a student little: 100 raw LM draws under the plain contexts taught 64.3% on
 * rtpolarity. The same number of draws under "A negative movie review about TOPIC:", spread over
 * three topics a class, taught 71.8% with topics drawn at random from a generic list and 75.9%
 * with the three the class's target ranks best; on genre4 (four sources) 66.9% plain, 67.0%
 * random, 70.6% chosen (`scripts/experiments/topic-probe.mjs`, ten training seeds). Variety of
 * content is most of it, and the targets know which content: a class target is, to first order,
 * the sum of its real texts' final states, and text about other things ends in other states.
 *
 * How. For each class and each topic of a fixed, generic list, `perTopic` texts are drawn as the
 * LM start of a batch is, under the class's batch-0 context whose last line names the topic, and
 * scored together against the class's target (the set-level matching loss, as the domain search
 * scores a genre). The class's batches then cycle through its best `keep` topics. The choice
 * reads only the released targets and public weights: post-processing, no privacy cost.
 *
 * Off by default (MethodSettings.topics 0): inside the pipeline (every label's demonstrations,
 * projection, the filter and the ranking over a 6x pool) three topics a class taught less, on
 * rtpolarity 75.0% against 77.7% and on genre4 69.7% against 72.2% (generation seed 0, ten
 * training seeds). The ranking is not what a reader would pick (positive movie reviews about
 * "sports" and "games"), and such text teaches the student the topic instead of the label.
 */
import type { LoadedModel } from '../model/load.js';
import type { Task } from '../task/task.js';
import { taskTokens } from './prompt.js';
import { Rng } from '../util/rng.js';
import { SynthgradError } from '../util/errors.js';
import type { MatchingLoss } from './matching.js';
import { setMatchingLossOfPrompts } from './scoring.js';
import { drawTexts } from './domain.js';

/**
 * Common topics of text. Generic on purpose, like the domain search's genres: the list must not be
 * tuned to any data set (the choice among them is the targets').
 */
export const DEFAULT_TOPICS: readonly string[] = [
  'technology',
  'politics',
  'sports',
  'food',
  'travel',
  'health',
  'business',
  'money',
  'entertainment',
  'music',
  'family',
  'work',
  'school',
  'science',
  'the weather',
  'home',
  'shopping',
  'cars',
  'books',
  'movies',
  'games',
  'fashion',
  'pets',
  'the city',
];

/** Texts drawn per class and topic to score it (ten: 480 draws for two labels and 24 topics). */
export const DEFAULT_TOPIC_DRAWS = 10;

export interface TopicScore {
  topic: string;
  /** The matching loss of the topic's draws taken together against the class's target. */
  loss: number;
}

export interface TopicChoice {
  /** Per class, the topics its batches cycle through, best first. */
  perClass: string[][];
  /** Per class, every topic's score, best first. */
  scores: TopicScore[][];
}

export interface TopicSearchOptions {
  /** Topics kept a class (MethodSettings.topics). */
  keep: number;
  /** The candidate topics (default DEFAULT_TOPICS). */
  topics?: readonly string[];
  /** Texts drawn per class and topic (default DEFAULT_TOPIC_DRAWS). */
  perTopic?: number;
  /** Token length of a draw, the allowed tokens, the sentence-end cut and the seed, as the LM start's. */
  length: number;
  allowed: Set<number>;
  sentenceEndCut: number;
  seed: number;
}

/**
 * The best `keep` topics a class by the matching loss of their draws. `contextOf(c, topic)` gives
 * class c's LM context (token ids) whose last line is about `topic`.
 */
export function searchTopics(rt: LoadedModel, task: Task, losses: MatchingLoss[], contextOf: (c: number, topic: string) => number[], o: TopicSearchOptions): TopicChoice {
  const topics = o.topics ?? DEFAULT_TOPICS;
  const perTopic = o.perTopic ?? DEFAULT_TOPIC_DRAWS;
  if (!(Number.isInteger(o.keep) && o.keep >= 1 && o.keep <= topics.length)) throw new SynthgradError(`topics kept a class must be an integer in [1, ${topics.length}], got ${o.keep}`, 'E_USAGE');
  if (!(Number.isInteger(perTopic) && perTopic >= 1)) throw new SynthgradError(`texts drawn a topic must be a positive integer, got ${perTopic}`, 'E_USAGE');
  if (losses.length !== task.labels.length) throw new SynthgradError(`topic search: ${losses.length} class losses for ${task.labels.length} labels`, 'E_USAGE');
  const toks = taskTokens(task, rt.tokenizer);
  const scores = losses.map((loss, c) =>
    topics
      .map((topic) => {
        const texts = drawTexts(rt, task, contextOf(c, topic), perTopic, o, Rng.derive(o.seed, 'topic-search', c, topic));
        return { topic, loss: setMatchingLossOfPrompts(rt.model, loss, texts.map((x) => toks.promptIds(x))) };
      })
      // Stable: ties keep the list's order.
      .sort((a, b) => a.loss - b.loss),
  );
  return { perClass: scores.map((s) => s.slice(0, o.keep).map((x) => x.topic)), scores };
}

/** The topic batch b of class c writes about: the class's topics (per class, e.g. TopicChoice.perClass) in turn. */
export function batchTopic(perClass: readonly (readonly string[])[] | null, c: number, b: number): string | undefined {
  const mine = perClass?.[c];
  return mine && mine.length > 0 ? mine[b % mine.length] : undefined;
}
