/**
 * Commas in finished synthetic text (issue 10, thirtieth stop). The projection writes words only
 * (vocab.ts), and real text is full of commas: stripping the punctuation from 100 random real
 * rtpolarity reviews cost the head they train 2.8 points, and keeping only their commas and final
 * mark gave 2 of them back (docs/METHOD.md, "Punctuation"). Letting the projection write marks
 * changed what the LM wrote, for the worse. Here the commas go into the finished text instead: after
 * text token k, a comma goes in where the LM, reading a context and the text so far, finds a comma
 * at least as likely as any single next token, and the token that follows starts a new word. One
 * teacher-forced forward of each text: post-processing of the output with public weights, no
 * privacy cost. The class loop (synthesize.ts) gives the LM the class's label context after its
 * own public demonstrations: after the label-blind prefix the texts of genre4 (tweets, reviews,
 * editorials: sources punctuated differently) taught 1.4-1.9 points less, after the class's
 * context 0.6-1.4 more (docs/EXPERIMENTS.md, thirtieth stop).
 *
 * The rule has no threshold to tune: a comma goes where it is the LM's own best guess. On
 * rtpolarity's kept texts it puts in about 0.2 a text after the class's context, 0.5 after the
 * label-blind prefix (real reviews: 0.9).
 *
 * The comma takes the task's style, as its public demonstrations write it (commaStyle). Either
 * form counts as a comma when the LM's probability is read.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Llama } from '../model/llama.js';
import type { Tokenizer } from '../tokenizer/gguf-tokenizer.js';
import { SynthgradError } from '../util/errors.js';
import type { Task } from '../task/task.js';
import { afterEachPrefix } from './scoring.js';

export interface CommaStyle {
  /** The tokens put in (one, " ," or ",", for SmolLM2). */
  insert: number[];
  /** Tokens whose probabilities add up to the LM's probability of a comma (",", " ,"). */
  commaIds: number[];
  /** Whether a token starts a new word (a comma never goes inside one). */
  startsWord: (id: number) => boolean;
}

/**
 * The comma a task's text uses: as its public demonstrations write it, " ," (tokenised text like
 * rtpolarity's, "warm , funny and full of life .") or "," after a word; where they show neither or
 * both, " ," if its sentence end starts with a space (the built-in task's " ."), else ",".
 */
export function commaStyle(tokenizer: Tokenizer, task: Pick<Task, 'sentenceEnd' | 'demonstrations'>): CommaStyle {
  const single = (s: string) => {
    const ids = tokenizer.encode(s);
    return ids.length === 1 ? ids[0]! : null;
  };
  const commaIds = [',', ' ,'].map(single).filter((id): id is number => id !== null);
  if (commaIds.length === 0) throw new SynthgradError("the model's tokenizer has no comma token");
  const demos = task.demonstrations.map((d) => d.text).join('\n');
  const [spacedDemo, attachedDemo] = [/\s,/.test(demos), /\S,/.test(demos)];
  const spaced = spacedDemo !== attachedDemo ? spacedDemo : /^\s/.test(task.sentenceEnd ?? '');
  return { insert: tokenizer.encode(spaced ? ' ,' : ','), commaIds, startsWord: (id) => /^\s/.test(tokenizer.tokenText(id)) };
}

/**
 * Each sequence with a comma after every text token k where the next token starts a word, neither
 * token is a comma (or part of the inserted form), and log p(comma | context, seq[0..k]) is at
 * least the log-probability of every single token (comma: the sum over style.commaIds). Every
 * position is read from one forward of the original sequence: the rule is local, and an inserted
 * comma does not change the decision at the next gap.
 */
export function withCommas(model: Llama, context: number[], seqs: number[][], style: CommaStyle, batchSize = 8): number[][] {
  if (style.commaIds.length === 0 || style.insert.length === 0) throw new SynthgradError('a comma style needs the comma tokens and what to insert');
  const isComma = new Set([...style.commaIds, ...style.insert]);
  // After every prefix, the comma's log-probability and the highest single token's.
  const scores = afterEachPrefix(model, context, seqs, [(logp) => tf.logSumExp(tf.gather(logp, style.commaIds, 2), 2) as tf.Tensor2D, (logp) => tf.max(logp, 2) as tf.Tensor2D], batchSize);
  return seqs.map((seq, i) => {
    const [comma, best] = scores[i]!;
    const res: number[] = [];
    seq.forEach((id, k) => {
      res.push(id);
      const next = seq[k + 1];
      if (next === undefined || !style.startsWord(next) || isComma.has(id) || isComma.has(next)) return;
      // The gap after text token k: the distribution after the first k + 1 tokens.
      if (comma![k + 1]! >= best![k + 1]!) res.push(...style.insert);
    });
    return res;
  });
}
