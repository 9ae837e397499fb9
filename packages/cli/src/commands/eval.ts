/** `synthgrad eval` (fine-tune on a file, accuracy on another) and `synthgrad compare` (the whole table for a task). */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { readExamples, resolveTask, SynthgradError, type Example, type Task } from '@synthgrad/core';
import {
  carveDev,
  checkLabelSets,
  FeatureCache,
  fineTune,
  FINETUNE_MODES,
  makeClassifier,
  renderReport,
  rowSelected,
  runCompare,
  stat,
  takeBalanced,
  type FineTuneMode,
  type TrainingSettings,
} from '@synthgrad/eval';
import { intFlag, parse } from '../args.js';
import { ProgressBar } from '../progress.js';
import { startRuntime } from '../runtime.js';
import { generateCommand } from './generate.js';

const TRAINING_FLAGS = `[--mode head|lora|full] [--seeds 3] [--steps N] [--batch-size B] [--micro-batch M] [--lr X]
                     [--weight-decay X] [--rank R] [--dev FILE | --dev-fraction 0.2] [--eval-every N] [--test-limit N] [--task T] [--model F]`;

export const EVAL_USAGE = `usage:
  synthgrad eval --train FILE --test FILE ${TRAINING_FLAGS} [--json]
      fine-tune the LM as a classifier over the task's verbaliser tokens on FILE (checkpoint chosen on
      the dev split), report test accuracy (mean and std over seeds)
  synthgrad compare --task-data FILE --test FILE [--n 100] [--k 4] [--gradmm FILE] [--dp-epsilon E | --gradmm-dp FILE]
                    [--rows a,b,...] [--domain "movie review"] [--out DIR] ${TRAINING_FLAGS} [--json]
      rows zero-shot, few-shot, real-all, real-random-N, prompted-zero-N, prompted-few-N, gradmm-N
      (gradmm-dp-N with --dp-epsilon/--gradmm-dp); GRADMM sets are generated from --task-data with the
      cpu preset unless given; writes DIR/compare.json and the self-contained DIR/report.html
  modes: head (default; only the verbaliser rows of the head, on frozen features: seconds on a CPU),
         lora (rank-R adapters on attention and MLP), full (every weight; memory-hungry)`;

/** Defaults per mode (chosen on the rtpolarity train split's own dev split, never on the test set). */
const MODE_DEFAULTS: Record<FineTuneMode, Omit<TrainingSettings, 'mode' | 'devFraction'>> = {
  head: { steps: 150, batchSize: 16, lr: 3e-3, weightDecay: 0.01, rank: 0 },
  lora: { steps: 100, batchSize: 8, lr: 1e-3, weightDecay: 0.01, rank: 8, microBatch: 2 },
  full: { steps: 100, batchSize: 8, lr: 1e-5, weightDecay: 0.01, rank: 0, microBatch: 1 },
};

const TRAINING_OPTIONS = {
  mode: { type: 'string' },
  seeds: { type: 'string' },
  steps: { type: 'string' },
  'batch-size': { type: 'string' },
  'micro-batch': { type: 'string' },
  lr: { type: 'string' },
  'weight-decay': { type: 'string' },
  rank: { type: 'string' },
  dev: { type: 'string' },
  'dev-fraction': { type: 'string' },
  'eval-every': { type: 'string' },
  'test-limit': { type: 'string' },
  task: { type: 'string' },
  model: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

function positive(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new SynthgradError(`--${name} must be a positive number, got "${v}"`, 'E_USAGE');
  return n;
}

function trainingSettings(v: Record<string, string | boolean | undefined>): TrainingSettings {
  const mode = (v.mode ?? 'head') as FineTuneMode;
  if (!FINETUNE_MODES.includes(mode)) throw new SynthgradError(`--mode must be one of ${FINETUNE_MODES.join(', ')}, got "${v.mode}"`, 'E_USAGE');
  const d = MODE_DEFAULTS[mode];
  const devFraction = positive(v['dev-fraction'] as string | undefined, 'dev-fraction', 0.2);
  if (devFraction >= 1) throw new SynthgradError('--dev-fraction must be below 1', 'E_USAGE');
  return {
    mode,
    steps: intFlag(v.steps as string | undefined, 'steps', d.steps),
    batchSize: intFlag(v['batch-size'] as string | undefined, 'batch-size', d.batchSize),
    lr: positive(v.lr as string | undefined, 'lr', d.lr),
    weightDecay: v['weight-decay'] === undefined ? d.weightDecay : Number(v['weight-decay']),
    rank: intFlag(v.rank as string | undefined, 'rank', mode === 'lora' ? d.rank : 1),
    microBatch: v['micro-batch'] === undefined ? d.microBatch : intFlag(v['micro-batch'] as string, 'micro-batch', 1),
    evalEvery: v['eval-every'] === undefined ? undefined : intFlag(v['eval-every'] as string, 'eval-every', 10),
    devFraction,
  };
}

interface Inputs {
  task: Task;
  train: Example[];
  test: Example[];
  dev?: Example[];
  warnings: string[];
}

function readInputs(trainPath: string, testPath: string, devPath: string | undefined, taskName: string | undefined, testLimit: string | undefined): Inputs {
  const task = resolveTask(taskName ?? 'sentiment');
  const train = readExamples(trainPath, task);
  let test = readExamples(testPath, task);
  if (testLimit !== undefined) test = takeBalanced(test, intFlag(testLimit, 'test-limit', 500));
  const warnings = checkLabelSets(task, train, test, { train: trainPath, test: testPath });
  const dev = devPath ? readExamples(devPath, task) : undefined;
  if (dev) warnings.push(...checkLabelSets(task, train, dev, { train: trainPath, test: devPath! }));
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  return { task, train, test, dev, warnings };
}

export async function evalCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, { train: { type: 'string' }, test: { type: 'string' }, ...TRAINING_OPTIONS }, EVAL_USAGE);
  if (!values.train || !values.test) throw new SynthgradError(`--train and --test are required\n\n${EVAL_USAGE}`, 'E_USAGE');
  const t = trainingSettings(values);
  const seeds = intFlag(values.seeds, 'seeds', 3);
  const { task, train, test, dev, warnings } = readInputs(values.train, values.test, values.dev, values.task, values['test-limit']);
  const rt = await startRuntime({ ...values, trainable: t.mode === 'full' });
  const bar = new ProgressBar('eval');
  const cache = new FeatureCache(rt, task);
  const runs = [];
  try {
    for (let seed = 0; seed < seeds; seed++) {
      const split = dev ? { train, dev } : carveDev(train, t.devFraction, seed);
      const clf = makeClassifier(rt, task, t.mode, { cache, rank: t.rank, seed });
      try {
        const r = fineTune(clf, split.train, split.dev, test, task.labels.length, {
          ...t,
          seed,
          onPrepare: (d, n) => bar.update((seed + (0.3 * d) / n) / seeds, `seed ${seed}: features ${d}/${n}`),
          onStep: (p) => bar.update((seed + 0.3 + (0.7 * p.step) / p.steps) / seeds, `seed ${seed}: step ${p.step}/${p.steps} loss ${p.loss.toFixed(3)}`),
        });
        runs.push({ seed, ...r });
      } finally {
        clf.dispose();
      }
    }
  } finally {
    bar.done();
    rt.dispose();
  }
  const accuracy = stat(runs.map((r) => r.testAccuracy));
  const out = {
    train: values.train,
    test: values.test,
    dev: values.dev ?? `${t.devFraction} of each class of the training file, per seed`,
    task: task.name,
    training: t,
    sizes: { train: train.length, test: test.length },
    accuracy,
    runs: runs.map((r) => ({ seed: r.seed, test_accuracy: r.testAccuracy, best_step: r.bestStep, best_dev_accuracy: r.bestDevAccuracy, examples_per_second: r.examplesPerSecond, dev_curve: r.dev })),
    warnings,
  };
  if (values.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  else process.stdout.write(`accuracy ${(accuracy.mean * 100).toFixed(1)}% ± ${(accuracy.std * 100).toFixed(1)} over ${seeds} seed(s) (${t.mode}, ${train.length} training texts, ${test.length} test)\n`);
}

/** A GRADMM set for the table: the given file, or one generated (and resumable) in the output folder. */
async function gradmmSet(task: Task, file: string | undefined, generateArgs: string[], out: string, label: string): Promise<{ examples: Example[]; minutes: number; path: string }> {
  const path = file ?? out;
  if (!file && !existsSync(out)) {
    process.stderr.write(`${label}: generating ${out} (synthgrad generate ${generateArgs.join(' ')})\n`);
    await generateCommand([...generateArgs, '--out', out, ...(existsSync(`${out}.checkpoint.json`) ? ['--resume'] : [])]);
  }
  const examples = readExamples(path, task);
  let minutes = 0;
  try {
    minutes = (JSON.parse(readFileSync(`${path}.meta.json`, 'utf8')).timings?.total_s ?? 0) / 60;
  } catch {
    process.stderr.write(`warning: ${path}.meta.json not found; the ${label} row's minutes exclude generation\n`);
  }
  return { examples, minutes, path };
}

export async function compareCommand(argv: string[]): Promise<void> {
  const { values } = parse(
    argv,
    {
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
      ...TRAINING_OPTIONS,
    },
    EVAL_USAGE,
  );
  if (!values['task-data'] || !values.test) throw new SynthgradError(`--task-data and --test are required\n\n${EVAL_USAGE}`, 'E_USAGE');
  const t = trainingSettings(values);
  const n = intFlag(values.n, 'n', 100, 2);
  const k = intFlag(values.k, 'k', 4);
  const seeds = intFlag(values.seeds, 'seeds', 3);
  const outDir = resolve(values.out ?? 'synthgrad-compare');
  const rowsWanted = values.rows?.split(',').map((r) => r.trim()).filter(Boolean);
  const { task, train, test, dev, warnings } = readInputs(values['task-data'], values.test, values.dev, values.task, values['test-limit'] ?? '500');
  mkdirSync(outDir, { recursive: true });
  const started = Date.now();

  // GRADMM sets first (each is its own resumable `generate` run), so a crash later loses nothing.
  const perClass = String(Math.ceil(n / task.labels.length));
  const baseArgs = ['--data', values['task-data'], '--task', values.task ?? 'sentiment', '--real-per-class', '25', '--per-class', perClass, '--preset', 'cpu', '--seed', '0', ...(values.model ? ['--model', values.model] : [])];
  const synthetic: { name: string; examples: Example[]; minutes: number }[] = [];
  if (rowSelected(rowsWanted, `gradmm-${n}`)) synthetic.push({ name: `gradmm-${n}`, ...(await gradmmSet(task, values.gradmm, baseArgs, join(outDir, `gradmm-${n}.jsonl`), 'gradmm')) });
  if (values['dp-epsilon'] || values['gradmm-dp']) {
    const eps = values['dp-epsilon'] ?? 'given';
    const name = `gradmm-dp-eps${eps}-${n}`;
    if (rowSelected(rowsWanted, name)) {
      const dpArgs = [...baseArgs, '--epsilon', String(positive(values['dp-epsilon'], 'dp-epsilon', 1)), '--delta', '1e-5', '--clip', '1'];
      synthetic.push({ name, ...(await gradmmSet(task, values['gradmm-dp'], dpArgs, join(outDir, `gradmm-dp-${n}.jsonl`), 'gradmm-dp')) });
    }
  }
  for (const s of synthetic) {
    // A synthetic set must speak the same labels as the test set.
    warnings.push(...checkLabelSets(task, s.examples, test, { train: s.name, test: values.test }));
    if (s.examples.length !== n) warnings.push(`${s.name} has ${s.examples.length} texts, not ${n}`);
  }

  const rt = await startRuntime({ ...values, trainable: t.mode === 'full' });
  let current = '';
  let bar: ProgressBar | undefined;
  let result: ReturnType<typeof runCompare>;
  try {
    result = runCompare(rt, {
      task,
      taskData: train,
      test,
      dev,
      n,
      seeds,
      k,
      training: t,
      synthetic,
      domain: values.domain ?? (task.name === 'sentiment' ? 'movie review' : 'text'),
      rows: rowsWanted,
      log: (m) => {
        bar?.done();
        bar = undefined;
        process.stderr.write(`${m}\n`);
      },
      progress: (row, done, total, what) => {
        if (row !== current || !bar) {
          bar?.done();
          bar = new ProgressBar(row);
          current = row;
        }
        bar.update(done / total, what);
      },
    });
  } finally {
    bar?.done();
    rt.dispose();
  }
  const minutes = (Date.now() - started) / 60_000;
  const sha = await rt.sha256();
  const report = {
    task: task.name,
    task_data: values['task-data'],
    test: { file: values.test, examples: test.length },
    dev: values.dev ?? `${t.devFraction} of each class of every training set, per seed`,
    model: { path: rt.path, sha256: sha },
    n,
    k,
    seeds,
    training: t,
    synthetic_files: synthetic.map((s) => s.name),
    rows: result.rows,
    warnings: [...warnings, ...result.warnings],
    total_minutes: minutes,
  };
  writeFileSync(join(outDir, 'compare.json'), `${JSON.stringify(report, null, 2)}\n`);
  const facts: [string, string][] = [
    ['task', `${task.name} (labels ${task.labels.map((l) => `${l.value}=${l.name}`).join(', ')})`],
    ['task data', `${values['task-data']} (${train.length} texts)`],
    ['test', `${values.test} (${test.length} texts, balanced)`],
    ['checkpoint selection', String(report.dev)],
    ['fine-tuning', `${t.mode}, ${t.steps} steps, batch ${t.batchSize}, AdamW lr ${t.lr} (linear decay), weight decay ${t.weightDecay}${t.mode === 'lora' ? `, rank ${t.rank}` : ''}`],
    ['seeds', `${seeds} (generated sets are made once; seeds vary the dev split, batch order and, for real-random, the subset)`],
    ['few-shot', `k = ${k} demonstrations from the task data`],
    ['model', `${basename(rt.path)} (sha256 ${sha.slice(0, 16)}...)`],
    ['total time', `${minutes.toFixed(1)} minutes`],
  ];
  writeFileSync(join(outDir, 'report.html'), renderReport({ title: `synthgrad compare: ${task.name}`, facts, rows: result.rows, warnings: report.warnings }));
  if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    process.stdout.write(`row                        n     accuracy          ppl      min\n`);
    for (const r of result.rows) {
      process.stdout.write(
        `${r.name.padEnd(24)} ${String(r.trainSize).padStart(5)}   ${(r.accuracy.mean * 100).toFixed(1).padStart(5)}% ± ${(r.accuracy.std * 100).toFixed(1).padStart(4)}   ${r.trainPerplexity === null ? '    -' : r.trainPerplexity.toFixed(0).padStart(5)}   ${r.minutes.toFixed(1).padStart(5)}\n`,
      );
    }
    process.stdout.write(`wrote ${join(outDir, 'compare.json')} and ${join(outDir, 'report.html')} (${minutes.toFixed(1)} min)\n`);
  }
}
