/**
 * `synthgrad task init | check`: start a task file for your own labels, and see what generate will
 * make of one (and of your data) in a second, before a run spends minutes on it.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { DEFAULT_REAL_PER_CLASS } from '@synthgrad/core/presets';
import { parse } from '../args.js';
import { FlagReader } from '../flags.js';
import { TASK_HELP } from '../help.js';
import { UsageError } from '../usage-error.js';
import { didYouMean } from '../suggest.js';
import { METHOD_OPTIONS, methodConfig } from './gradmm-options.js';

const SUBCOMMANDS = ['init', 'check'];

export async function taskCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === 'init') return init(rest);
  if (sub === 'check') return check(rest);
  throw new UsageError(`unknown task command "${sub}"${didYouMean(sub ?? '', SUBCOMMANDS, (s) => `"${s}"`)}`, 'task');
}

async function init(argv: string[]): Promise<void> {
  const { values } = parse(
    argv,
    {
      labels: { type: 'string' },
      verbalizers: { type: 'string' },
      domain: { type: 'string' },
      suffix: { type: 'string' },
      symbols: { type: 'string' },
      name: { type: 'string' },
      'text-field': { type: 'string' },
      'label-field': { type: 'string' },
      out: { type: 'string' },
      force: { type: 'boolean', default: false },
    },
    TASK_HELP,
    'task',
  );
  const r = new FlagReader(values, {}, 'task');
  const labels = r.list('labels') ?? r.fail('labels', 'is required: the label names, comma-separated (e.g. --labels negative,positive or --labels negative=0,positive=1)');
  const out = r.has('out') ? r.outputFile('out', '') : undefined;
  if (out && existsSync(out) && !r.bool('force')) r.fail('out', `names ${out}, which exists; --force replaces it`);
  const { taskTemplate } = await import('@synthgrad/core');
  const file = taskTemplate({
    labels,
    verbalizers: r.list('verbalizers'),
    domain: r.str('domain'),
    suffix: values.suffix, // as given: its leading space matters
    symbols: values.symbols,
    name: r.str('name'),
    textField: r.str('text-field'),
    labelField: r.str('label-field'),
  });
  const json = `${JSON.stringify(file, null, 2)}\n`;
  if (!out) {
    process.stdout.write(json);
    return;
  }
  mkdirSync(dirname(out), { recursive: true }); // --out may name a folder that does not exist yet
  writeFileSync(out, json);
  const next = [`wrote ${out}`];
  if (file.domain === undefined) next.push('  no "domain": generate will search for one (minutes); add "domain": "what the texts are" if you know it');
  next.push('  add two short public texts a class to "demonstrations" ({"text": ..., "label": ...}; never private data)');
  next.push(`  then: synthgrad task check ${out} --data YOUR_DATA.jsonl`);
  process.stderr.write(`${next.join('\n')}\n`);
}

async function check(argv: string[]): Promise<void> {
  const { values, positionals } = parseWithFile(argv);
  const r = new FlagReader(values, {}, 'task');
  const file = positionals[0];
  if (!file) throw new UsageError('task check needs the task file: synthgrad task check TASK.json [--data FILE]', 'task');
  const data = r.inputFile('data');
  const realPerClass = r.int('real-per-class', DEFAULT_REAL_PER_CLASS);
  const core = await import('@synthgrad/core');
  const task = core.resolveTask(file);
  const examples = data ? core.readExamples(data, task) : undefined; // bad data fails here, naming the line
  const path = core.resolveModelPath(r.str('model'));
  const gguf = await core.GGUFFile.open(path);
  const tokenizer = core.Tokenizer.fromGGUF(gguf);
  const contextLength = core.configFromGGUF(gguf).contextLength;
  const method = { ...core.DEFAULT_METHOD, ...methodConfig(task, r).method };
  const description = core.describeTask(task, tokenizer, method);
  const dataDescription = examples ? core.describeData(examples, task, tokenizer, { realPerClass, contextLength, where: data! }) : null;
  if (r.bool('json')) {
    process.stdout.write(`${JSON.stringify({ task: description, data: dataDescription }, null, 2)}\n`);
    return;
  }
  const lines = [`task ${task.name} (${file}): ${task.labels.length} labels; the LM reads an example as "${description.reads}"`];
  lines.push(
    ...indented(
      core.alignColumns([
        ['label', 'value', 'verbaliser', 'predicted token', 'demonstrations (public + mined + synthetic)'],
        ...description.labels.map((l) => [l.name, String(l.value), JSON.stringify(l.verbalizer), `${JSON.stringify(l.token.text)} (${l.token.id})`, `${l.publicDemonstrations} + ${l.minedDemonstrations} + ${l.filledDemonstrations}`]),
      ]),
    ),
  );
  lines.push(description.domainSearch ? 'domain: none named; generate searches for one first' : `domain: ${description.domain ?? `its own contexts ("${task.contextPrefix}")`}`);
  const v = description.vocabulary;
  lines.push(`vocabulary: ${v.tokens} tokens${v.symbols === null ? ', words only (no "symbols")' : `, ${v.symbolTokens} of them made of the task's symbols ${JSON.stringify(v.symbols)}`}`);
  for (const l of description.labels) lines.push(`context of "${l.name}"${description.domainSearch ? ' (until the search picks a domain)' : ''}:\n  ${l.context.replaceAll('\n', '\n  ')}`);
  if (dataDescription) {
    lines.push(`data (${data}): ${dataDescription.examples} examples; longest ${dataDescription.longest} tokens with the suffix (context ${dataDescription.contextLength})`);
    lines.push(...indented(core.alignColumns([['class', 'examples', 'mean tokens', 'max tokens'], ...dataDescription.classes.map((c) => [c.name, String(c.examples), c.meanTokens.toFixed(1), String(c.maxTokens)])])));
  }
  const warnings = [...description.warnings, ...(dataDescription?.warnings ?? [])];
  for (const w of warnings) lines.push(`note: ${w}`);
  if (warnings.length === 0) lines.push('nothing to change: generate will run on it as it is');
  process.stdout.write(`${lines.join('\n')}\n`);
}

function parseWithFile(argv: string[]) {
  const file = argv[0] !== undefined && !argv[0].startsWith('-') ? argv[0] : undefined;
  const { values } = parse(
    file ? argv.slice(1) : argv,
    // generate's method flags too, so a check describes the run those flags would make.
    { data: { type: 'string' }, model: { type: 'string' }, json: { type: 'boolean', default: false }, ...METHOD_OPTIONS },
    TASK_HELP,
    'task',
  );
  return { values, positionals: file ? [file] : [] };
}

const indented = (lines: string[]) => lines.map((l) => `  ${l}`);
