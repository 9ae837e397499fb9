/**
 * A task: which fields of a data file hold the text and the label, the label set, and how the LM
 * reads an example as next-token prediction (METHOD.md section 1): prompt = text + suffix, and
 * each label is predicted as the first token of its verbaliser word.
 */
import { readFileSync } from 'node:fs';
import { SynthgradError } from '../util/errors.js';
import { didYouMean } from '../util/suggest.js';

export interface TaskLabel {
  /** The label as it appears in data files (compared as a string, so 1 and "1" match). */
  value: string | number;
  /** Human name, for reports. */
  name: string;
  /** Word the LM predicts for this label, e.g. " great" (leading space matters). */
  verbalizer: string;
}

export interface Task {
  name: string;
  textField: string;
  labelField: string;
  labels: TaskLabel[];
  /** Appended to every text, e.g. " It was". */
  suffix: string;
  /** Inserted before the suffix when a text does not end a sentence (e.g. " ."); '' for none. */
  sentenceEnd?: string;
  /** Instruction for the LM label-consistency check. */
  instruction: string;
  /** Public, hand-written demonstrations (part of the task, never private data): the label check uses them, and the label-conditioned projection context puts those of the class before it. */
  demonstrations: { text: string; label: string | number }[];
  /** Label-blind LM context: public text for the projection's statistics, and the projection's
   * context when label conditioning is off (ref fallback: "The"). */
  contextPrefix: string;
  /**
   * Label-conditioned LM context of the projection and the LM initialisation, as the reference
   * projects under an instruction naming the label. `{label}` is the label's name,
   * `{verbalizer}` its verbaliser word, `{contextPrefix}` the field above.
   * Default: DEFAULT_LABEL_CONTEXT.
   */
  labelContext?: string;
  /**
   * What the texts are, in a few words ("movie review", "support ticket"). A task file may give it
   * instead of `contextPrefix` and `labelContext`, which are then built from it ("Movie review:",
   * "A {label} movie review:"); a task that names no domain anywhere gets one chosen by the
   * released targets (gradmm/domain.ts). Absent on tasks that write their own contexts.
   */
  domain?: string;
  /**
   * Characters beyond letters that the synthetic texts may write, e.g. "@#" for tweets or
   * "0123456789$%" for product reviews: tokens made of them, alone or around one word, join the
   * projection's and the LM start's vocabulary (gradmm/vocab.ts). Absent: words only.
   */
  symbols?: string;
}

/** For a task that only names its labels. */
export const DEFAULT_LABEL_CONTEXT = 'Here is a {label} example. {contextPrefix}';

/** The label-blind context of a task that gives none (the reference's fallback). */
export const DEFAULT_CONTEXT_PREFIX = 'The';

/** The task with its LM contexts built from a domain: "Movie review:" and "A {label} movie review:". */
export function withDomain(task: Task, domain: string): Task {
  const d = domain.replace(/\s+/g, ' ').trim();
  if (d.length === 0) throw new SynthgradError(`task ${task.name}: the domain must not be empty`, 'E_USAGE');
  return { ...task, domain: d, contextPrefix: `${d[0].toUpperCase()}${d.slice(1)}:`, labelContext: `A {label} ${d}:` };
}

/**
 * Whether the task's LM contexts say what its texts are: a domain, or a context of its own. A task
 * that only names its labels keeps both fallbacks ("The", DEFAULT_LABEL_CONTEXT), under which a
 * small LM writes about anything (mathematics, code; EXPERIMENTS.md, seventeenth stop).
 */
export function namesDomain(task: Task): boolean {
  return task.domain !== undefined || task.contextPrefix !== DEFAULT_CONTEXT_PREFIX || (task.labelContext ?? DEFAULT_LABEL_CONTEXT) !== DEFAULT_LABEL_CONTEXT;
}

/**
 * The projection context for class `c`: up to `demonstrations` of the task's own (public)
 * demonstrations of that class, each after the label context, then the label context itself:
 * "A positive movie review: warm , funny and full of life .\nA positive movie review:". A small
 * LM follows such a pattern far more readily than an instruction.
 */
export function labelContextText(task: Task, c: number, demonstrations = 0, extra: string[] = [], topic?: string): string {
  const demos = [...classDemonstrations(task, c).slice(0, demonstrations), ...extra];
  return labelledContextText(task, c, demos.map((text) => ({ label: c, text })), topic);
}

/** A demonstration line of a label context: the text, after the label context of class `label`. */
export interface LabelledLine {
  label: number;
  text: string;
}

/**
 * The projection context for class `c` after demonstrations of any labels, each after its own
 * label's context: "A negative movie review: the plot is thin ...\nA positive movie review: warm ,
 * funny ...\nA positive movie review:" (MethodSettings.demonstrationLabels 'all').
 */
export function labelledContextText(task: Task, c: number, lines: LabelledLine[], topic?: string): string {
  // One demonstration a line: whitespace inside a text (newlines included) is folded to one space.
  return lines.map((d) => `${labelHead(task, d.label)} ${d.text.replace(/\s+/g, ' ').trim()}\n`).join('') + aboutTopic(labelHead(task, c), topic);
}

/**
 * A label context about a topic: "A positive movie review about music:" (MethodSettings.topics).
 * Only the last line, the one the LM continues, names it: the demonstrations keep their own
 * heads, since they are not about the topic.
 */
export function aboutTopic(head: string, topic?: string): string {
  if (topic === undefined) return head;
  const t = topic.replace(/\s+/g, ' ').trim();
  if (t.length === 0) throw new SynthgradError('a topic must not be empty', 'E_USAGE');
  const m = /^(.*?)(\s*:\s*)$/s.exec(head);
  return m ? `${m[1]} about ${t}:` : `${head} about ${t}`;
}

/** Class c's label context: "A positive movie review:". */
function labelHead(task: Task, c: number): string {
  const l = task.labels[c];
  return withArticle(task.labelContext ?? DEFAULT_LABEL_CONTEXT, l.name)
    .replaceAll('{label}', l.name)
    .replaceAll('{verbalizer}', l.verbalizer.trim())
    .replaceAll('{contextPrefix}', task.contextPrefix);
}

/**
 * "a {label}" as "an {label}" where the name starts with a vowel ("An entertainment news
 * article:"): the contexts are English templates, and the LM continues the grammatical one.
 */
function withArticle(template: string, name: string): string {
  return /^[aeiou]/i.test(name) ? template.replace(/\b([aA]) \{label\}/g, '$1n {label}') : template;
}

/** The texts of the task's public demonstrations of class `c`. */
export function classDemonstrations(task: Task, c: number): string[] {
  const l = task.labels[c];
  return task.demonstrations.filter((d) => String(d.label) === String(l.value)).map((d) => d.text);
}

export const SENTIMENT_TASK: Task = {
  name: 'sentiment',
  textField: 'text',
  labelField: 'label',
  labels: [
    { value: 0, name: 'negative', verbalizer: ' bad' },
    { value: 1, name: 'positive', verbalizer: ' great' },
  ],
  suffix: ' It was',
  sentenceEnd: ' .',
  instruction: 'Decide whether each movie review is positive (great) or negative (bad).\n\n',
  demonstrations: [
    { text: 'a gripping , beautifully acted film that stays with you .', label: 1 },
    { text: 'a tedious , clumsy mess with nothing to say .', label: 0 },
    { text: 'warm , funny and full of life .', label: 1 },
    { text: 'the plot is thin and the jokes fall flat .', label: 0 },
  ],
  // The projection's LM context (METHOD.md allows a task instruction instead of the reference's
  // "The"): measured on rtpolarity it gave lower matching loss, lower perplexity and on-topic text.
  contextPrefix: 'Movie review:',
  labelContext: 'A {label} movie review:',
};

export const BUILTIN_TASKS: Record<string, Task> = { sentiment: SENTIMENT_TASK };

/** Index of a data label value in the task, or -1. */
export function labelIndex(task: Task, value: unknown): number {
  return task.labels.findIndex((l) => String(l.value) === String(value));
}

/**
 * The class a demonstration names: by value first, as data rows do, else by name. A task file's
 * author writes demonstrations by hand and naturally writes "positive" where the data has 1.
 */
function demonstrationLabel(task: Task, label: unknown): number {
  const byValue = labelIndex(task, label);
  return byValue >= 0 ? byValue : task.labels.findIndex((l) => l.name === label);
}

/** A built-in task by name, or a task defined in a JSON file. */
export function resolveTask(nameOrPath: string): Task {
  const builtin = BUILTIN_TASKS[nameOrPath];
  if (builtin) return builtin;
  if (!nameOrPath.endsWith('.json')) {
    throw new SynthgradError(`unknown task "${nameOrPath}": use one of ${Object.keys(BUILTIN_TASKS).join(', ')} or a task .json file`, 'E_USAGE');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(nameOrPath, 'utf8'));
  } catch (e) {
    throw new SynthgradError(`${nameOrPath}: cannot read task file (${(e as Error).message})`);
  }
  return validateTask(raw, nameOrPath);
}

/** The keys a task file may have; any other is a typo that would silently change nothing. */
export const TASK_FILE_KEYS = ['name', 'textField', 'labelField', 'labels', 'suffix', 'sentenceEnd', 'instruction', 'demonstrations', 'contextPrefix', 'labelContext', 'domain', 'symbols'] as const;
const LABEL_KEYS = ['value', 'name', 'verbalizer'];
/** Keys a JSON file may carry as comments: "$schema", "//", or any starting with "_". */
const isCommentKey = (k: string) => k === '$schema' || k.startsWith('//') || k.startsWith('_');

/** Throws for the first key of `o` that is neither known nor a comment, naming the nearest known one. */
function refuseUnknownKeys(o: object, known: readonly string[], what: string): void {
  const stray = Object.keys(o).find((k) => !known.includes(k) && !isCommentKey(k));
  if (stray !== undefined) throw new SynthgradError(`${what} has an unknown key "${stray}"${didYouMean(stray, known, (k) => `"${k}"`)}; it may have ${known.join(', ')}`);
}

/**
 * A character "symbols" may not hold: a letter (letters are words already), whitespace (a token's
 * spaces are trimmed before it is judged; a newline would end a text) or a control character.
 */
export const NOT_A_SYMBOL = /[\p{L}\s\p{C}]/u;

/** Why a "symbols" string is refused, or undefined. Shared by task files, `task init` and federated sessions. */
export function symbolsProblem(symbols: string): string | undefined {
  const bad = [...symbols].find((ch) => NOT_A_SYMBOL.test(ch));
  return bad === undefined ? undefined : `may not hold letters, whitespace or control characters (found ${JSON.stringify(bad)}); letters are allowed as words already`;
}

function validateSymbols(v: unknown, where: string): void {
  if (typeof v !== 'string') throw new SynthgradError(`${where}: "symbols" must be a string of characters, e.g. "@#0123456789"`);
  const problem = symbolsProblem(v);
  if (problem !== undefined) throw new SynthgradError(`${where}: "symbols" ${problem}`);
}

export function validateTask(raw: unknown, where: string): Task {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SynthgradError(`${where}: a task must be a JSON object`);
  const o = raw as Record<string, unknown>;
  refuseUnknownKeys(o, TASK_FILE_KEYS, `${where}: the task`);
  const str = (k: string, fallback?: string): string => {
    const v = o?.[k] ?? fallback;
    if (typeof v !== 'string') throw new SynthgradError(`${where}: "${k}" must be a string`);
    return v;
  };
  if (!Array.isArray(o?.labels) || o.labels.length < 2) throw new SynthgradError(`${where}: "labels" must list at least two labels`);
  const labels = (o.labels as Record<string, unknown>[]).map((l, i) => {
    if (typeof l !== 'object' || l === null) throw new SynthgradError(`${where}: labels[${i}] must be an object with value, name and verbalizer`);
    refuseUnknownKeys(l, LABEL_KEYS, `${where}: labels[${i}]`);
    if (typeof l?.value !== 'string' && typeof l?.value !== 'number') throw new SynthgradError(`${where}: labels[${i}].value must be a string or number`);
    if (typeof l.verbalizer !== 'string' || l.verbalizer.length === 0) throw new SynthgradError(`${where}: labels[${i}].verbalizer must be a non-empty string`);
    return { value: l.value, name: typeof l.name === 'string' ? l.name : String(l.value), verbalizer: l.verbalizer };
  });
  if (new Set(labels.map((l) => String(l.value))).size !== labels.length) throw new SynthgradError(`${where}: label values must be distinct`);
  if (o?.domain !== undefined && (typeof o.domain !== 'string' || o.domain.trim().length === 0)) throw new SynthgradError(`${where}: "domain" must be a non-empty string`);
  if (o.symbols !== undefined) validateSymbols(o.symbols, where);
  if (o.demonstrations !== undefined && !Array.isArray(o.demonstrations)) throw new SynthgradError(`${where}: "demonstrations" must be a list of {text, label}`);
  const demos = (o.demonstrations ?? []) as { text: string; label: string | number }[];
  const task: Task = {
    name: str('name', 'custom'),
    textField: str('textField', 'text'),
    labelField: str('labelField', 'label'),
    labels,
    suffix: str('suffix'),
    sentenceEnd: str('sentenceEnd', ''),
    instruction: str('instruction', ''),
    demonstrations: demos,
    contextPrefix: str('contextPrefix', DEFAULT_CONTEXT_PREFIX),
    labelContext: str('labelContext', DEFAULT_LABEL_CONTEXT),
  };
  if (typeof o.symbols === 'string' && o.symbols.length > 0) task.symbols = o.symbols;
  if (typeof o.domain === 'string') {
    // The domain fills in whichever context the file leaves out.
    const built = withDomain(task, o.domain);
    task.domain = built.domain;
    if (o.contextPrefix === undefined) task.contextPrefix = built.contextPrefix;
    if (o.labelContext === undefined) task.labelContext = built.labelContext;
  }
  if (!task.labelContext!.includes('{label}') && !task.labelContext!.includes('{verbalizer}'))
    throw new SynthgradError(`${where}: "labelContext" must name the label with {label} or {verbalizer}`);
  task.demonstrations = demos.map((d, i) => {
    if (typeof d !== 'object' || d === null || typeof d.text !== 'string' || d.text.trim().length === 0) throw new SynthgradError(`${where}: demonstrations[${i}] needs a non-empty "text" (got ${JSON.stringify(d)})`);
    const c = demonstrationLabel(task, d.label);
    if (c < 0) throw new SynthgradError(`${where}: demonstrations[${i}] has label ${JSON.stringify(d.label)}, which is no label's value or name; use one of ${task.labels.map((l) => JSON.stringify(l.value) + (l.name !== String(l.value) ? ` (${JSON.stringify(l.name)})` : '')).join(', ')}`);
    // Stored by value, as everything downstream compares demonstrations with a label's value.
    return { text: d.text, label: task.labels[c].value };
  });
  return task;
}
