/** How texts become model inputs: text tokens, then the task suffix; the label is the verbaliser's first token. */
import type { Tokenizer } from '../tokenizer/gguf-tokenizer.js';
import type { Task } from '../task/task.js';
import { SynthgradError } from '../util/errors.js';

export interface TaskTokens {
  suffix: number[];
  /** First token of each label's verbaliser, by label index. */
  labelTokens: number[];
  contextPrefix: number[];
}

export function taskTokens(task: Task, tokenizer: Tokenizer): TaskTokens {
  const suffix = tokenizer.encode(task.suffix);
  const labelTokens = task.labels.map((l) => {
    const ids = tokenizer.encode(l.verbalizer);
    if (ids.length === 0) throw new SynthgradError(`task ${task.name}: verbaliser ${JSON.stringify(l.verbalizer)} has no tokens`);
    return ids[0];
  });
  if (new Set(labelTokens).size !== labelTokens.length) throw new SynthgradError(`task ${task.name}: two verbalisers start with the same token`);
  return { suffix, labelTokens, contextPrefix: tokenizer.encode(task.contextPrefix) };
}

/** Left-pad sequences to one length; the mask marks real tokens. */
export function leftPad(seqs: number[][], padId: number): { ids: number[][]; mask: number[][] } {
  const L = Math.max(...seqs.map((s) => s.length));
  return {
    ids: seqs.map((s) => [...new Array<number>(L - s.length).fill(padId), ...s]),
    mask: seqs.map((s) => [...new Array<number>(L - s.length).fill(0), ...new Array<number>(s.length).fill(1)]),
  };
}
