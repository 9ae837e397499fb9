/**
 * A final mark on finished synthetic text where the LM ends it with one (issue 10, thirty-second
 * stop). The sentence-end cut (sentence-end.ts) ends each text where the LM most expects a
 * sentence to end, but the projection writes words only, so no text carries its mark. The
 * student's prompt supplies one only for a task whose `sentenceEnd` is set (the built-in task's
 * " ."); for a task file without it (what `task init` writes) every synthetic text ends bare,
 * while most real ones do not (genre4: 76% end with . ! or ?, tweet3 50%, bbc5's cut articles 4%).
 *
 * The rule, as the comma pass's (commas.ts): after the whole text, read after the class's label
 * context and its public demonstrations, the mark goes on when the three marks together are at
 * least as likely as any single next token, and it is the likeliest of the three. No threshold to
 * tune, and the share it marks follows the genre: on saved kept texts 74-77% on genre4 (real 76%),
 * 84% on rtpolarity (94%), 64% on imdb (66%), 7% on tweet3. One more forward of each text (its
 * last position only): post-processing with public weights, no privacy cost.
 *
 * Measured on the same kept texts (docs/EXPERIMENTS.md, thirty-second stop; ten training seeds):
 * genre4 72.2 -> 72.6 and 71.8 -> 74.0, tweet3 67.1 -> 68.1; a "." on every text instead taught
 * less (68.2, 69.8; 65.6), as did the likeliest mark on every text (68.8, 71.5; 65.4). Through
 * the product, genre4 generation seed 0 taught 71.6 -> 72.8 (on-label 83% -> 88%). On the
 * built-in task, whose prompt adds " ." to a text without a mark, the student reads the same
 * prompts (rtpolarity 76.7, imdb unchanged), and the texts written out end as real ones do.
 *
 * The rule follows how the LM ends a text, not how the task's real texts do, so by default
 * (MethodSettings.endMarks 'target') a batch keeps its marks only where marksNearerTarget (below,
 * with the bbc5 measurement behind it) says they bring its texts nearer the class's target; 'lm'
 * is the rule alone.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Llama } from '../model/llama.js';
import { lastPosition } from '../model/llama.js';
import type { Tokenizer } from '../tokenizer/gguf-tokenizer.js';
import type { Task } from '../task/task.js';
import { SynthgradError } from '../util/errors.js';
import { endsSentence } from './prompt.js';
import type { MatchingLoss } from './matching.js';
import { hiddenAfter, type PromptStates } from './scoring.js';

/** The marks that end a sentence. */
export const END_MARKS = ['.', '!', '?'] as const;

export interface EndMarkStyle {
  /** Per mark the tokenizer has a token for (END_MARKS' order): the tokens whose probabilities add up to it (".", " ."), and what is appended. */
  marks: { mark: string; ids: number[]; insert: number[] }[];
  /** Whether a token ends a sentence already (such a text gets no mark). */
  endsSentence: (id: number) => boolean;
}

/**
 * The mark a task's text ends a sentence with: " ." (tokenised text like rtpolarity's, "warm ,
 * funny and full of life .") where its public demonstrations write their sentence marks that way,
 * anywhere in a text, "." where they write them after a word; where they show neither or both,
 * " ." if its sentence end starts with a space (the built-in task's " ."), else ".".
 */
export function endMarkStyle(tokenizer: Tokenizer, task: Pick<Task, 'sentenceEnd' | 'demonstrations'>): EndMarkStyle {
  const demos = task.demonstrations.map((d) => d.text).join('\n');
  const [spacedDemo, attachedDemo] = [/\s[.!?](\s|$)/m.test(demos), /[^\s.!?][.!?](\s|$)/m.test(demos)];
  const spaced = spacedDemo !== attachedDemo ? spacedDemo : /^\s/.test(task.sentenceEnd ?? '');
  // A mark the tokenizer has no single token for cannot be read off one distribution: it is left out.
  const marks = END_MARKS.flatMap((m) => {
    const ids = [m, ` ${m}`].flatMap((s) => {
      const t = tokenizer.encode(s);
      return t.length === 1 ? [t[0]!] : [];
    });
    return ids.length > 0 ? [{ mark: m, ids, insert: tokenizer.encode(spaced ? ` ${m}` : m) }] : [];
  });
  if (marks.length === 0) throw new SynthgradError(`the model's tokenizer has no single token for any of ${END_MARKS.join(' ')}`);
  return { marks, endsSentence: (id) => endsSentence(tokenizer.tokenText(id)) };
}

/**
 * Each sequence, with the likeliest of the marks appended where, after `context` and the whole
 * sequence, the marks together (each the sum over its forms) are at least as likely as every single
 * token. A sequence that is empty or already ends a sentence is returned as it is.
 */
export function withEndMarks(model: Llama, context: number[], seqs: number[][], style: EndMarkStyle, batchSize = 8): number[][] {
  if (style.marks.length === 0 || style.marks.some((m) => m.ids.length === 0 || m.insert.length === 0)) throw new SynthgradError('an end-mark style needs each mark\'s tokens and what to append');
  const out = seqs.map((s) => [...s]);
  const open = seqs.map((s, i) => [s, i] as const).filter(([s]) => s.length > 0 && !style.endsSentence(s[s.length - 1]!));
  if (open.length === 0) return out;
  // The context runs once; each chunk continues from a copy of its cache (scoring.ts hiddenAfter).
  const { cache: prefix, last } = model.prefill(context);
  last.dispose();
  try {
    for (let start = 0; start < open.length; start += batchSize) {
      const chunk = open.slice(start, start + batchSize);
      // Left padding puts every row's last token at the window's last position.
      const [markLp, best] = tf.tidy(() => {
        const logp = tf.logSoftmax(model.logitsOf(lastPosition(hiddenAfter(model, prefix, chunk.map(([s]) => s))))) as tf.Tensor2D;
        const perMark = tf.stack(style.marks.map((m) => tf.logSumExp(tf.gather(logp, m.ids, 1), 1)), 1);
        return [perMark.arraySync() as number[][], tf.max(logp, 1).arraySync() as number[]];
      });
      chunk.forEach(([, i], b) => {
        const lp = markLp[b]!;
        const all = Math.log(lp.reduce((a, v) => a + Math.exp(v), 0));
        if (all < best[b]!) return;
        const top = lp.indexOf(Math.max(...lp));
        out[i]!.push(...style.marks[top]!.insert);
      });
    }
  } finally {
    prefix.dispose();
  }
  return out;
}

/**
 * Whether a batch's end marks bring its texts nearer the class's target: over the texts whose
 * student prompt (`prompt`: ids to the prompt the student reads) the marks changed, the sum of
 * each one's matching loss without its mark minus with it is positive. Measured before deciding
 * the default (docs/EXPERIMENTS.md, thirty-third stop): the LM's rule marks texts by how the LM
 * ends them, not by how the real texts do. On bbc5, whose real articles are cut mid-sentence (4%
 * end with a mark), it ended 47-82% of a class's kept texts, and they taught 77.9% against 83.5%
 * with the marks taken off; there 5% of the marks lowered a text's loss and every class's summed
 * loss rose. On genre4 (76% of real texts end with a mark) every class's fell, and the marks were
 * worth 0.1-2.8 points. The target is a sum over the class's real texts of their final states
 * (label rows), so a mark that moves a text's state toward it is one the real texts share:
 * post-processing of what was released, no privacy cost. The texts are weighed together (a sum,
 * not a vote): one text's loss is noisy, and a batch's marks come from one rule.
 *
 * The prompts' final states come from `states`, which the batch's target classifier reads again
 * afterwards (PromptStates): each prompt is forwarded once.
 *
 * Marks the student's prompt would add anyway (the built-in task's " ." after a bare text) change
 * no prompt: they are kept, and if no prompt changed, so are all the batch's (`compared` 0).
 */
export function marksNearerTarget(
  states: PromptStates,
  loss: MatchingLoss,
  bare: number[][],
  marked: number[][],
  prompt: (ids: number[]) => number[],
): { keep: boolean; gain: number; compared: number } {
  if (bare.length !== marked.length) throw new SynthgradError(`end marks: ${bare.length} texts without marks against ${marked.length} with`);
  const pairs = bare.flatMap((ids, i) => {
    if (marked[i]!.length === ids.length) return [];
    const [p, q] = [prompt(ids), prompt(marked[i]!)];
    return p.length === q.length && p.every((t, k) => t === q[k]) ? [] : [[p, q] as const];
  });
  if (pairs.length === 0) return { keep: true, gain: 0, compared: 0 };
  const without = states.matchingLoss(loss, pairs.map(([p]) => p));
  const withMarks = states.matchingLoss(loss, pairs.map(([, q]) => q));
  const gain = without.reduce((a, v, k) => a + v - withMarks[k]!, 0);
  return { keep: gain > 0, gain, compared: pairs.length };
}
