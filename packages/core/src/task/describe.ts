/**
 * What `generate` will make of a task file, before any minutes are spent (`synthgrad task check`):
 * how the LM reads an example, which token each label is, the context each class is generated
 * under, whether a domain search will run and whether earlier synthetic texts will fill in for
 * missing demonstrations; and, given data, whether it has enough of every class. Needs only the
 * tokenizer.
 */
import type { Tokenizer } from '../tokenizer/gguf-tokenizer.js';
import { taskTokens } from '../gradmm/prompt.js';
import { DEFAULT_GENRES, searchesDomain } from '../gradmm/domain.js';
import { filledDemonstrations } from '../gradmm/synthesize.js';
import type { MethodSettings } from '../gradmm/presets.js';
import { byClass, type Example } from './data.js';
import { classDemonstrations, labelContextText, namesDomain, type Task } from './task.js';

export interface LabelDescription {
  value: string | number;
  name: string;
  verbalizer: string;
  /** The one token the LM predicts for the label: the verbaliser's first. */
  token: { id: number; text: string };
  /** Tokens in the verbaliser; beyond the first they are not used. */
  verbalizerTokens: number;
  publicDemonstrations: number;
  /** Earlier synthetic texts of the class that will be added as demonstrations (fillDemonstrations), from its second batch on. */
  filledDemonstrations: number;
  /** The LM context of the class's first batch (with a domain search: under the fallback, before the domain is known). */
  context: string;
}

export interface TaskDescription {
  name: string;
  /** An example as the LM reads it: text, suffix, label word. */
  reads: string;
  labels: LabelDescription[];
  namesDomain: boolean;
  domain: string | null;
  /** Whether generate will search for a domain first (a task that names none, with the search on). */
  domainSearch: boolean;
  warnings: string[];
}

export interface ClassData {
  name: string;
  examples: number;
  meanTokens: number;
  maxTokens: number;
}

export interface DataDescription {
  examples: number;
  classes: ClassData[];
  /** Tokens of the longest text with the suffix, against the model's context. */
  longest: number;
  contextLength: number;
  warnings: string[];
}

/** What generate makes of `task` under `method` (the preset's method settings). Throws what generate would throw on the task. */
export function describeTask(task: Task, tokenizer: Tokenizer, method: Pick<MethodSettings, 'demonstrations' | 'fillDemonstrations' | 'domainSearch' | 'labelContext'>): TaskDescription {
  const toks = taskTokens(task, tokenizer); // throws for verbalisers that share a first token
  const warnings: string[] = [];
  const named = namesDomain(task);
  const search = searchesDomain(task, method);
  const labels = task.labels.map((l, c): LabelDescription => {
    const ids = tokenizer.encode(l.verbalizer);
    const pub = Math.min(classDemonstrations(task, c).length, method.demonstrations);
    // The contexts name a domain where the task does, or once the search has found one.
    const fill = method.labelContext ? filledDemonstrations(pub, named || search, method) : 0;
    if (ids.length > 1) warnings.push(`the verbaliser ${JSON.stringify(l.verbalizer)} of "${l.name}" is ${ids.length} tokens; the LM predicts only the first, ${JSON.stringify(tokenizer.tokenText(ids[0]))}: a word that is one token says more`);
    if (!/^\s/.test(l.verbalizer)) warnings.push(`the verbaliser ${JSON.stringify(l.verbalizer)} of "${l.name}" has no leading space; after the suffix the next word usually starts with one (" ${l.verbalizer}")`);
    return {
      value: l.value,
      name: l.name,
      verbalizer: l.verbalizer,
      token: { id: toks.labelTokens[c], text: tokenizer.tokenText(toks.labelTokens[c]) },
      verbalizerTokens: ids.length,
      publicDemonstrations: pub,
      filledDemonstrations: fill,
      context: method.labelContext ? labelContextText(task, c, method.demonstrations) : task.contextPrefix,
    };
  });
  const without = labels.filter((l) => l.publicDemonstrations === 0).map((l) => `"${l.name}"`);
  if (without.length > 0) {
    warnings.push(`${without.join(', ')} ${without.length > 1 ? 'have' : 'has'} no public demonstrations: two short hand-written texts a class (never private data) keep a small LM on task (rtpolarity: 75.5% with two a class, 73.9% with earlier synthetic texts filled in, 67.6% with neither; docs/METHOD.md, seventeenth stop)`);
  }
  if (search) warnings.push(`the task names no domain: generate first tries ${DEFAULT_GENRES.length} genres and keeps the one whose LM texts match the targets best (minutes, growing with the text length: 2 labels of 24-token texts took 5 minutes on 2 cores; its first round draws 60 texts a genre shared by the labels (at least 10 a label), its final round 30 a label for 3 genres); "domain": "..." in the file skips it`);
  return { name: task.name, reads: `<text>${task.suffix}${task.labels[0].verbalizer}`, labels, namesDomain: named, domain: task.domain ?? null, domainSearch: search, warnings };
}

/** Counts and lengths of a data set under the task, and what generate would refuse or find thin. */
export function describeData(examples: Example[], task: Task, tokenizer: Tokenizer, o: { realPerClass: number; contextLength: number; where: string }): DataDescription {
  const toks = taskTokens(task, tokenizer);
  const groups = byClass(examples, task, o.where); // throws for a class without examples
  const warnings: string[] = [];
  let longest = 0;
  const classes = groups.map((g, c): ClassData => {
    const lens = g.map((e) => toks.promptIds(e.text).length);
    const max = Math.max(...lens);
    longest = Math.max(longest, max);
    return { name: task.labels[c].name, examples: g.length, meanTokens: lens.reduce((a, b) => a + b, 0) / lens.length, maxTokens: max };
  });
  const short = classes.filter((c) => c.examples < o.realPerClass);
  if (short.length > 0) {
    warnings.push(`${short.map((c) => `"${c.name}" (${c.examples})`).join(', ')} ${short.length > 1 ? 'have' : 'has'} fewer examples than the ${o.realPerClass} a class target is made of: ${short.length > 1 ? 'their targets are' : 'its target is'} noisier, and under differential privacy the noise is larger relative to ${short.length > 1 ? 'them' : 'it'}`);
  }
  if (longest > o.contextLength) warnings.push(`the longest text is ${longest} tokens with the suffix, more than the model's context of ${o.contextLength}: generate refuses the file`);
  return { examples: examples.length, classes, longest, contextLength: o.contextLength, warnings };
}
