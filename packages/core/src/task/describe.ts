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
import { demonstrationSlots, filledDemonstrations, minedDemonstrationSlots } from '../gradmm/synthesize.js';
import { allowedTokenIds, vocabularyOf } from '../gradmm/vocab.js';
import type { MethodSettings } from '../gradmm/presets.js';
import { byClass, type Example } from './data.js';
import { classDemonstrations, labelledContextText, namesDomain, NOT_A_SYMBOL, type Task } from './task.js';

export interface LabelDescription {
  value: string | number;
  name: string;
  verbalizer: string;
  /** The one token the LM predicts for the label: the verbaliser's first. */
  token: { id: number; text: string };
  /** Tokens in the verbaliser; beyond the first they are not used. */
  verbalizerTokens: number;
  publicDemonstrations: number;
  /** Public LM texts mined for the class (minedDemonstrations) that each batch shows besides its public ones, once the targets have picked them. */
  minedDemonstrations: number;
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
  /** The tokens the synthetic texts are written with: how many, and how many of them the task's `symbols` add. */
  vocabulary: { tokens: number; symbols: string | null; symbolTokens: number };
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
  /** Characters the synthetic texts cannot write that at least SYMBOL_NOTE_SHARE of some class's texts hold, commonest first. */
  symbolsMissing: SymbolUse[];
  warnings: string[];
}

export interface SymbolUse {
  symbol: string;
  /** The class whose texts hold it most often, and the share of them that do. */
  class: string;
  share: number;
}

/** A character some class uses this often (share of its texts) is worth a note in `task check`. */
export const SYMBOL_NOTE_SHARE = 0.1;

/**
 * Characters that only the sentence or the method's punctuation switch governs: marks that end or
 * open a sentence start a new text inside a text (gradmm/vocab.ts), so no note suggests them.
 */
const PUNCTUATION_MARKS = new Set([...`.,;:!?'"()-`]);
const DIGITS = '0123456789';

/** What generate makes of `task` under `method` (the preset's method settings). Throws what generate would throw on the task. */
export function describeTask(task: Task, tokenizer: Tokenizer, method: MethodSettings): TaskDescription {
  const toks = taskTokens(task, tokenizer); // throws for verbalisers that share a first token
  const warnings: string[] = [];
  const named = namesDomain(task);
  const search = searchesDomain(task, method);
  const labels = task.labels.map((l, c): LabelDescription => {
    const ids = tokenizer.encode(l.verbalizer);
    const pub = Math.min(classDemonstrations(task, c).length, method.demonstrations);
    // The contexts name a domain where the task does, or once the search has found one; mined
    // demonstrations fill a class's slots before its own texts do.
    const mined = minedDemonstrationSlots(pub, task.labels.length, named || search, method);
    const fill = method.labelContext ? filledDemonstrations(pub + mined, named || search, method) : 0;
    if (ids.length > 1) warnings.push(`the verbaliser ${JSON.stringify(l.verbalizer)} of "${l.name}" is ${ids.length} tokens; the LM predicts only the first, ${JSON.stringify(tokenizer.tokenText(ids[0]))}: a word that is one token says more`);
    if (!/^\s/.test(l.verbalizer)) warnings.push(`the verbaliser ${JSON.stringify(l.verbalizer)} of "${l.name}" has no leading space; after the suffix the next word usually starts with one (" ${l.verbalizer}")`);
    return {
      value: l.value,
      name: l.name,
      verbalizer: l.verbalizer,
      token: { id: toks.labelTokens[c], text: tokenizer.tokenText(toks.labelTokens[c]) },
      verbalizerTokens: ids.length,
      publicDemonstrations: pub,
      minedDemonstrations: mined,
      filledDemonstrations: fill,
      // The first batch's, seed 0 (a task with more public demonstrations than used draws them per batch).
      context: method.labelContext ? labelledContextText(task, c, demonstrationSlots(task, c, method, [], 0, 0).flat()) : task.contextPrefix,
    };
  });
  const without = labels.filter((l) => l.publicDemonstrations === 0).map((l) => `"${l.name}"`);
  if (without.length > 0) {
    warnings.push(`${without.join(', ')} ${without.length > 1 ? 'have' : 'has'} no public demonstrations: two short hand-written texts a class (never private data) keep a small LM on task (rtpolarity: 75.5% with two a class, 73.9% with earlier synthetic texts filled in, 67.6% with neither; docs/EXPERIMENTS.md, seventeenth stop)`);
  }
  if (search) warnings.push(`the task names no domain: generate first tries ${DEFAULT_GENRES.length} genres and keeps the one whose LM texts match the targets best (minutes, growing with the text length: 2 labels of 24-token texts took 5 minutes on 2 cores; its first round draws 60 texts a genre shared by the labels (at least 10 a label), its final round 30 a label for 3 genres); "domain": "..." in the file skips it`);
  const tokens = allowedTokenIds(tokenizer, vocabularyOf(task, method)).length;
  const symbolTokens = task.symbols === undefined ? 0 : tokens - allowedTokenIds(tokenizer, vocabularyOf({}, method)).length;
  if (task.symbols !== undefined && symbolTokens <= 1) warnings.push(`"symbols" ${JSON.stringify(task.symbols)} adds no token the texts can use: the tokenizer has none made of those characters alone or around one word`);
  const vocabulary = { tokens, symbols: task.symbols ?? null, symbolTokens };
  return { name: task.name, reads: `<text>${task.suffix}${task.labels[0].verbalizer}`, labels, namesDomain: named, domain: task.domain ?? null, domainSearch: search, vocabulary, warnings };
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
  const symbolsMissing = missingSymbols(groups.map((g) => g.map((e) => e.text)), task);
  if (symbolsMissing.length > 0) {
    const listed = symbolsMissing.slice(0, 8).map((u) => `${u.symbol === DIGITS ? 'digits' : JSON.stringify(u.symbol)} (${Math.round(100 * u.share)}% of "${u.class}")`);
    warnings.push(`the real texts use characters the synthetic ones cannot write: ${listed.join(', ')}; "symbols": ${JSON.stringify((task.symbols ?? '') + symbolsMissing.map((u) => u.symbol).join(''))} in the task file lets them (measured: synthetic tweets then look like tweets, but over two generations of two sets they taught no more; docs/EXPERIMENTS.md, twenty-sixth stop)`);
  }
  return { examples: examples.length, classes, longest, contextLength: o.contextLength, symbolsMissing, warnings };
}

/**
 * For each character that is neither a letter, whitespace, a punctuation mark nor one of the task's
 * symbols: the class whose texts hold it most often. Those some class uses in at least
 * SYMBOL_NOTE_SHARE of its texts, commonest first.
 */
export function missingSymbols(textsByClass: string[][], task: Pick<Task, 'symbols' | 'labels'>): SymbolUse[] {
  const known = new Set([...(task.symbols ?? '')]);
  const best = new Map<string, SymbolUse>();
  textsByClass.forEach((texts, c) => {
    const counts = new Map<string, number>();
    for (const t of texts) {
      // Each character once a text; the digits as one suggestion (a text with "7" needs the others as much).
      const keys = new Set([...t].filter((ch) => !NOT_A_SYMBOL.test(ch) && !PUNCTUATION_MARKS.has(ch) && !known.has(ch)).map((ch) => (/[0-9]/.test(ch) ? DIGITS : ch)));
      for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    for (const [ch, n] of counts) {
      const share = n / Math.max(1, texts.length);
      if (share > (best.get(ch)?.share ?? 0)) best.set(ch, { symbol: ch, class: task.labels[c].name, share });
    }
  });
  return [...best.values()].filter((u) => u.share >= SYMBOL_NOTE_SHARE).sort((a, b) => b.share - a.share || (a.symbol < b.symbol ? -1 : 1));
}
