/**
 * How texts become model inputs: text tokens, the task's sentence end when the text does not
 * already end a sentence, then the suffix; the label is the verbaliser's first token. Synthetic
 * text is words only, so its frozen tail is always sentence end + suffix: real and synthetic
 * prompts then end the same way (measured: dropping the final " ." from real rtpolarity texts
 * raised their matching loss from 0.072 to 0.096, as much as the class label changes it).
 */
import type { Tokenizer } from '../tokenizer/gguf-tokenizer.js';
import type { Task } from '../task/task.js';
import { SynthgradError } from '../util/errors.js';

export interface TaskTokens {
  /** Ids of the task suffix alone. */
  suffix: number[];
  /** Frozen tail after synthetic text: sentence end + suffix. */
  syntheticSuffix: number[];
  /** Full prompt ids of a text: its tokens, then tailOf(text). */
  promptIds(text: string): number[];
  /** What follows a text in its prompt: the suffix, after the sentence end when the text does not end a sentence and the task has one. */
  tailOf(text: string): number[];
  /** First token of each label's verbaliser, by label index. */
  labelTokens: number[];
  contextPrefix: number[];
  /** Last token of the task's sentence end (else "."): whose probability places the sentence-end cut. */
  sentenceEndToken: number;
}

/** A text that already ends a sentence. */
const SENTENCE_END = /[.!?]["')\]]*\s*$/;

/** Whether a text (or a token's text) already ends a sentence: a final . ! or ?, perhaps inside quotes or brackets. */
export function endsSentence(text: string): boolean {
  return SENTENCE_END.test(text);
}

export function taskTokens(task: Task, tokenizer: Tokenizer): TaskTokens {
  const suffix = tokenizer.encode(task.suffix);
  const labelTokens = task.labels.map((l) => {
    const ids = tokenizer.encode(l.verbalizer);
    if (ids.length === 0) throw new SynthgradError(`task ${task.name}: verbaliser ${JSON.stringify(l.verbalizer)} has no tokens`);
    return ids[0];
  });
  if (new Set(labelTokens).size !== labelTokens.length) throw new SynthgradError(`task ${task.name}: two verbalisers start with the same token`);
  const syntheticSuffix = tokenizer.encode((task.sentenceEnd ?? '') + task.suffix);
  const tailOf = (text: string) => (endsSentence(text) || !task.sentenceEnd ? suffix : syntheticSuffix);
  const promptIds = (text: string) => [...tokenizer.encode(text), ...tailOf(text)];
  const end = tokenizer.encode(task.sentenceEnd || '.');
  return { suffix, syntheticSuffix, promptIds, tailOf, labelTokens, contextPrefix: tokenizer.encode(task.contextPrefix), sentenceEndToken: end[end.length - 1] ?? 0 };
}

/** Left-pad sequences to one length; the mask marks real tokens. */
export function leftPad(seqs: number[][], padId: number): { ids: number[][]; mask: number[][] } {
  const L = Math.max(...seqs.map((s) => s.length));
  return {
    ids: seqs.map((s) => [...new Array<number>(L - s.length).fill(padId), ...s]),
    mask: seqs.map((s) => [...new Array<number>(L - s.length).fill(0), ...new Array<number>(s.length).fill(1)]),
  };
}
