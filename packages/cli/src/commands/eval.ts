/**
 * `synthgrad eval` (fine-tune on a file, accuracy on another) and `synthgrad compare` (the whole
 * table for a task). Flags and --config are validated before anything loads; GRADMM sets for the
 * table come from the library's generateToFile, not from a second command line.
 */
import type { Example, Task } from '@synthgrad/core';
import type { SyntheticSet, TrainingSettings } from '@synthgrad/eval';
import { parse } from '../args.js';
import { FlagReader } from '../flags.js';
import { mergeConfig, readConfig, type ConfigKeys } from '../config-file.js';
import { COMPARE_HELP, COMPARE_ROWS, EVAL_HELP } from '../help.js';
import { Progress, progressMode, type PhaseSpec } from '../progress.js';
import { startRuntime } from '../runtime.js';
import { didYouMean } from '../suggest.js';
import { TRAINING_CONFIG_KEYS, TRAINING_OPTIONS, trainingSettings } from './training-options.js';
import { resolveTask } from '@synthgrad/core/task';
import { checkMethodConfig, METHOD_KEYS, methodConfig } from './gradmm-options.js';

type Core = typeof import('@synthgrad/core');
type Eval = typeof import('@synthgrad/eval');

interface Inputs {
  task: Task;
  train: Example[];
  test: Example[];
  dev?: Example[];
  warnings: string[];
}

function readInputs(core: Core, ev: Eval, trainPath: string, testPath: string, devPath: string | undefined, task: Task, testLimit: number | undefined): Inputs {
  const train = core.readExamples(trainPath, task);
  let test = core.readExamples(testPath, task);
  if (testLimit !== undefined) test = ev.takeBalanced(test, testLimit);
  const warnings = ev.checkLabelSets(task, train, test, { train: trainPath, test: testPath });
  const dev = devPath ? core.readExamples(devPath, task) : undefined;
  if (dev) warnings.push(...ev.checkLabelSets(task, train, dev, { train: trainPath, test: devPath! }));
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  return { task, train, test, dev, warnings };
}

/** The "eval" section of a --config file. */
export const EVAL_CONFIG_KEYS: ConfigKeys = { ...TRAINING_CONFIG_KEYS, train: 'train', test: 'test' };

export async function evalCommand(argv: string[]): Promise<void> {
  const { values, explicit } = parse(argv, { train: { type: 'string' }, test: { type: 'string' }, config: { type: 'string' }, ...TRAINING_OPTIONS }, EVAL_HELP, 'eval');
  const config = values.config ? readConfig(values.config, 'eval', EVAL_CONFIG_KEYS, ['generate', 'compare']) : undefined;
  const merged = mergeConfig(values, explicit, config);
  const r: FlagReader = new FlagReader(merged.values, merged.labels, 'eval');
  const trainPath = r.inputFile('train');
  const testPath = r.inputFile('test');
  if (!trainPath || !testPath) r.fail(trainPath ? 'test' : 'train', 'is required');
  const devPath = r.inputFile('dev');
  const t = trainingSettings(r);
  const seeds = r.int('seeds', 3);
  const testLimit = r.optInt('test-limit');
  const task = resolveTask(r.str('task') ?? 'sentiment');
  const [core, ev] = await Promise.all([import('@synthgrad/core'), import('@synthgrad/eval')]);
  const { train, test, dev, warnings } = readInputs(core, ev, trainPath, testPath, devPath, task, testLimit);
  const progress = new Progress('eval', [{ name: 'load model', units: 1, secondsPerUnit: 10 }, ...Array.from({ length: seeds }, (_, s) => ({ name: `seed ${s}`, units: 1 }))], progressMode({ quiet: r.bool('quiet'), json: r.bool('json') }), process.stderr, { heartbeat: true });
  progress.phase('load model');
  const rt = await startRuntime({ backend: r.str('backend'), model: r.str('model'), verbose: r.bool('verbose'), trainable: t.mode === 'full' });
  let result: ReturnType<Eval['evaluate']>;
  try {
    result = ev.evaluate(rt, task, train, test, {
      training: t,
      seeds,
      dev,
      onProgress: (seed, f, what) => {
        progress.phase(`seed ${seed}`);
        progress.update(f, what);
      },
    });
  } finally {
    progress.done();
    rt.dispose();
  }
  const { accuracy, runs } = result;
  const out = {
    train: trainPath,
    test: testPath,
    dev: devPath ?? `${t.devFraction} of each class of the training file, per seed`,
    task: task.name,
    training: t,
    sizes: { train: train.length, test: test.length },
    accuracy,
    runs: runs.map((x) => ({ seed: x.seed, test_accuracy: x.testAccuracy, best_step: x.bestStep, best_dev_accuracy: x.bestDevAccuracy, dev_size: x.devSize, examples_per_second: x.examplesPerSecond, dev_curve: x.dev })),
    warnings,
  };
  if (r.bool('json')) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  else {
    const spread = seeds > 1 ? ` ± ${(accuracy.std * 100).toFixed(1)} over ${seeds} seeds` : ' (one seed: no spread)';
    process.stdout.write(`accuracy ${(accuracy.mean * 100).toFixed(1)}%${spread} (${t.mode}, ${train.length} training texts, ${test.length} test)\n`);
  }
}

const COMPARE_OPTIONS = {
  ...TRAINING_OPTIONS,
  'task-data': { type: 'string' },
  test: { type: 'string' },
  n: { type: 'string' },
  k: { type: 'string' },
  gradmm: { type: 'string' },
  'gradmm-dp': { type: 'string' },
  'dp-epsilon': { type: 'string' },
  rows: { type: 'string' },
  domain: { type: 'string' },
  out: { type: 'string' },
  config: { type: 'string' },
} as const;

/** The "compare" section of a --config file. `generate.*` keys set the GRADMM rows' method (no flags). */
export const COMPARE_CONFIG_KEYS: ConfigKeys = {
  ...TRAINING_CONFIG_KEYS,
  'task-data': 'taskData',
  test: 'test',
  out: 'out',
  n: 'n',
  k: 'k',
  rows: 'rows',
  gradmm: 'gradmm',
  'gradmm-dp': 'gradmmDp',
  'dp-epsilon': 'dpEpsilon',
  domain: 'domain',
  ...Object.fromEntries(Object.entries(METHOD_KEYS).filter(([f]) => !['epsilon', 'delta', 'clip', 'per-class'].includes(f)).map(([f, key]) => [`gradmm:${f}`, `generate.${key}`])),
};

/** Unknown --rows names fail up front, with a suggestion. */
function checkRows(r: FlagReader, rows: string[] | undefined): void {
  for (const name of rows ?? []) {
    const base = name.replace(/-\d+$/, '').replace(/-eps[^-]*$/, '');
    if (!(COMPARE_ROWS as readonly string[]).includes(base)) r.fail('rows', `names an unknown row "${name}"${didYouMean(base, COMPARE_ROWS, (s) => `"${s}"`)}; rows are ${COMPARE_ROWS.join(', ')}`);
  }
}

/** The GRADMM method of compare's rows: config `generate.*` keys over compare's defaults. */
function gradmmReader(merged: { values: Record<string, string | boolean | undefined>; labels: Record<string, string> }): FlagReader {
  const values: Record<string, string | boolean | undefined> = {};
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(merged.values)) if (k.startsWith('gradmm:')) values[k.slice(7)] = v;
  for (const [k, v] of Object.entries(merged.labels)) if (k.startsWith('gradmm:')) labels[k.slice(7)] = v;
  return new FlagReader(values, labels, 'compare');
}

export async function compareCommand(argv: string[]): Promise<void> {
  const { values, explicit } = parse(argv, COMPARE_OPTIONS, COMPARE_HELP, 'compare');
  const config = values.config ? readConfig(values.config, 'compare', COMPARE_CONFIG_KEYS, ['generate', 'eval']) : undefined;
  const merged = mergeConfig(values, explicit, config);
  const r: FlagReader = new FlagReader(merged.values, merged.labels, 'compare');
  // Every flag and path, before anything is imported or generated.
  const taskDataPath = r.inputFile('task-data');
  const testPath = r.inputFile('test');
  if (!taskDataPath || !testPath) r.fail(taskDataPath ? 'test' : 'task-data', 'is required');
  const devPath = r.inputFile('dev');
  const gradmmFile = r.inputFile('gradmm');
  const gradmmDpFile = r.inputFile('gradmm-dp');
  const dpEpsilon = r.positive('dp-epsilon');
  if (dpEpsilon !== undefined && gradmmDpFile) r.fail('dp-epsilon', `and ${r.label('gradmm-dp')} exclude each other (generate a DP set, or use the given one)`);
  const t: TrainingSettings = trainingSettings(r);
  const n = r.int('n', 100, 2);
  const k = r.int('k', 4);
  const seeds = r.int('seeds', 3);
  const testLimit = r.optInt('test-limit') ?? 500;
  const rowsWanted = r.list('rows');
  checkRows(r, rowsWanted);
  const outDir = (await import('node:path')).resolve(r.outputDir('out', 'synthgrad-compare'));
  const task = resolveTask(r.str('task') ?? 'sentiment');
  const perClass = Math.ceil(n / task.labels.length);
  const baseCfg = methodConfig(task, gradmmReader(merged), { perClass, realPerClass: 25 });
  const [core, ev] = await Promise.all([import('@synthgrad/core'), import('@synthgrad/eval')]);
  checkMethodConfig(core, baseCfg);
  // The GRADMM row is made as bench quality's protocol and the federated job make theirs: the
  // preset's multiple of the kept count (cpu-select 6, else OVERGENERATE, 1.2) in equal batches,
  // then per class the best-matching distinct texts after the preset's target filter.
  const preset = core.resolvePreset(baseCfg.preset);
  const layout = core.overgenerated(perClass, baseCfg.settings.batchSize, preset.overgenerate);
  const genCfg = { ...baseCfg, perClass: layout.perClass, settings: { ...baseCfg.settings, batchSize: layout.batchSize } };
  const selection = core.bestMatching(perClass, baseCfg.method?.targetFilter ?? preset.method.targetFilter, baseCfg.method?.targetFilterMargin ?? preset.method.targetFilterMargin, baseCfg.method?.dropDegenerate ?? preset.method.dropDegenerate);
  const { train, test, dev, warnings } = readInputs(core, ev, taskDataPath, testPath, devPath, task, testLimit);
  const { existsSync, mkdirSync } = await import('node:fs');
  const { basename, join } = await import('node:path');
  mkdirSync(outDir, { recursive: true });
  const started = Date.now();

  // The GRADMM sets to make (or read), named as their rows.
  const sets: { name: string; file?: string; out: string; privacy?: { epsilon: number; delta: number; clip: number } }[] = [];
  if (ev.rowSelected(rowsWanted, `gradmm-${n}`)) sets.push({ name: `gradmm-${n}`, file: gradmmFile, out: join(outDir, `gradmm-${n}.jsonl`) });
  if (dpEpsilon !== undefined || gradmmDpFile) {
    const name = `gradmm-dp-eps${dpEpsilon ?? 'given'}-${n}`;
    if (ev.rowSelected(rowsWanted, name)) sets.push({ name, file: gradmmDpFile, out: join(outDir, `gradmm-dp-${n}.jsonl`), privacy: dpEpsilon === undefined ? undefined : { epsilon: dpEpsilon, delta: 1e-5, clip: 1 } });
  }
  const toMake = sets.filter((s) => !s.file && !existsSync(s.out));
  const rowNames = ['zero-shot', 'few-shot', 'real-all', `real-random-${n}`, `prompted-zero-${n}`, `prompted-few-${n}`, ...sets.map((s) => s.name)].filter((x) => ev.rowSelected(rowsWanted, x));
  const phases: PhaseSpec[] = [
    { name: 'load model', units: 1, secondsPerUnit: 10 },
    ...toMake.map((s) => ({ name: `generate ${s.name}`, units: 1, secondsPerUnit: 150 * Math.ceil(genCfg.perClass / genCfg.settings.batchSize) * task.labels.length })),
    ...rowNames.map((x) => ({ name: x, units: 1 })),
  ];
  const progress = new Progress('compare', phases, progressMode({ quiet: r.bool('quiet'), json: r.bool('json') }), process.stderr, { heartbeat: true });
  progress.phase('load model');
  const rt = await startRuntime({ backend: r.str('backend'), model: r.str('model'), verbose: r.bool('verbose'), trainable: t.mode === 'full' });
  const synthetic: SyntheticSet[] = [];
  let result: ReturnType<Eval['runCompare']>;
  try {
    // GRADMM sets first (each resumable from its checkpoint), so a crash later loses nothing.
    for (const s of sets) {
      if (!s.file && !existsSync(s.out)) {
        progress.phase(`generate ${s.name}`, `${s.out}`);
        const cfg = { ...genCfg, privacy: s.privacy ?? {} };
        await core.generateToFile(rt, train, cfg, {
          out: s.out,
          dataPath: taskDataPath,
          selection,
          resume: existsSync(core.checkpointPathOf(s.out)),
          onProgress: (p) => {
            if (p.phase === 'admm') {
              const a = core.admmProgress(p, task.labels.length);
              progress.update(a.done / a.total, `class ${p.classIndex + 1}/${task.labels.length}, batch ${p.batch + 1}/${p.batches}, step ${p.done}/${p.total}`);
            }
            else if (p.phase === 'label-check') progress.update(0.99, `label check ${p.done}/${p.total}`);
            else if (p.phase === 'public-stats') progress.update(0, `public statistics, LM text ${p.done}/${p.total}`);
            else progress.update(0, p.phase === 'domain-search' ? `domain search, genre ${p.done}/${p.total}` : `class targets ${p.done}/${p.total}`);
          },
        });
      }
      const path = s.file ?? s.out;
      const previous = core.readGenerateDiagnostics(path);
      if (!previous) progress.note(`warning: ${path}.meta.json not found; the ${s.name} row has no generation minutes or diagnostics`);
      const examples = core.readExamples(path, task);
      synthetic.push({ name: s.name, examples, minutes: (previous?.meta.timings?.total_s ?? 0) / 60, diagnostics: previous?.diagnostics });
      // A synthetic set must speak the same labels as the test set.
      warnings.push(...ev.checkLabelSets(task, examples, test, { train: s.name, test: testPath }));
      if (examples.length !== n) warnings.push(`${s.name} has ${examples.length} texts, not ${n}`);
    }
    const seedsSeen = new Map<string, number>();
    result = ev.runCompare(rt, {
      task,
      taskData: train,
      test,
      dev,
      n,
      seeds,
      k,
      training: t,
      synthetic,
      domain: ev.promptedDomain(task, r.str('domain')),
      rows: rowsWanted,
      log: (m) => progress.note(m),
      progress: (row, done, total, what) => {
        if (rowNames.includes(row)) progress.phase(row);
        // Rows report per seed; the seed number in `what` places the step within the whole row.
        const seed = Number(/seed (\d+)/.exec(what)?.[1] ?? seedsSeen.get(row) ?? 0);
        seedsSeen.set(row, seed);
        const perRow = row === 'zero-shot' ? 1 : seeds;
        progress.update(Math.min(0.999, (seed + done / Math.max(1, total)) / perRow), what);
      },
    });
  } finally {
    progress.done();
    rt.dispose();
  }
  const minutes = (Date.now() - started) / 60_000;
  const sha = await rt.sha256();
  const report = {
    task: task.name,
    task_data: taskDataPath,
    test: { file: testPath, examples: test.length },
    dev: devPath ?? `${t.devFraction} of each class of every training set, per seed`,
    model: { path: rt.path, sha256: sha },
    n,
    k,
    seeds,
    training: t,
    gradmm: { preset: genCfg.preset, settings: genCfg.settings, realPerClass: genCfg.realPerClass, perClass: genCfg.perClass, kept: perClass, seed: genCfg.seed },
    synthetic_files: synthetic.map((s) => s.name),
    rows: result.rows,
    warnings: [...warnings, ...result.warnings],
    total_minutes: minutes,
  };
  core.writeFileAtomic(join(outDir, 'compare.json'), `${JSON.stringify(report, null, 2)}\n`);
  const facts: [string, string][] = [
    ['task', `${task.name} (labels ${task.labels.map((l) => `${l.value}=${l.name}`).join(', ')})`],
    ['task data', `${taskDataPath} (${train.length} texts)`],
    ['test', `${testPath} (${test.length} texts, balanced)`],
    ['checkpoint selection', String(report.dev)],
    ['fine-tuning', `${t.mode}, ${t.steps} steps, batch ${t.batchSize}, AdamW lr ${t.lr} (linear decay), weight decay ${t.weightDecay}${t.mode === 'lora' ? `, rank ${t.rank}` : ''}`],
    ['seeds', `${seeds} (generated sets are made once; seeds vary the dev split, batch order and, for real-random, the subset)`],
    ['few-shot', `k = ${k} demonstrations from the task data`],
    ['GRADMM', `${genCfg.preset} preset, ${genCfg.realPerClass} real texts a class for the targets, ${genCfg.perClass} generated a class, the best-matching ${perClass} kept, seed ${genCfg.seed}`],
    ['model', `${basename(rt.path)} (sha256 ${sha.slice(0, 16)}...)`],
    ['total time', `${minutes.toFixed(1)} minutes`],
  ];
  core.writeFileAtomic(join(outDir, 'report.html'), ev.renderReport({ title: `synthgrad compare: ${task.name}`, facts, rows: result.rows, warnings: report.warnings, chance: 1 / task.labels.length }));
  if (r.bool('json')) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    process.stdout.write(`row                        n     accuracy                 ppl   gen min  train min\n`);
    for (const x of result.rows) {
      const acc = x.accuracy.perSeed.length > 1 ? `${(x.accuracy.mean * 100).toFixed(1).padStart(5)}% ± ${(x.accuracy.std * 100).toFixed(1).padStart(4)}` : `${(x.accuracy.mean * 100).toFixed(1).padStart(5)}% (n=1) `;
      process.stdout.write(
        `${x.name.padEnd(24)} ${String(x.trainSize).padStart(5)}   ${acc.padEnd(20)}  ${x.trainPerplexity === null ? '    -' : x.trainPerplexity.toFixed(0).padStart(5)}   ${x.generationMinutes ? x.generationMinutes.toFixed(1).padStart(7) : '      -'}  ${(x.minutes - x.generationMinutes).toFixed(1).padStart(9)}\n`,
      );
    }
    process.stdout.write(`wrote ${join(outDir, 'compare.json')} and ${join(outDir, 'report.html')} (${minutes.toFixed(1)} min)\n`);
  }
  // What the report flags, also on the terminal: tiny dev splits and bad synthetic sets.
  for (const w of ev.reportWarnings(result.rows)) process.stderr.write(`warning: ${w}\n`);
  for (const x of result.rows) for (const w of x.diagnostics?.warnings ?? []) process.stderr.write(`WARNING: ${x.name}: ${w}\n`);
}
