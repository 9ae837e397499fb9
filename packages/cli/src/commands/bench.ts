/** `synthgrad bench`: benchmarks that print JSON (used by `npm run bench`). */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { activeBackend, SynthgradError } from '@synthgrad/core';
import { intFlag, parse } from '../args.js';
import { startRuntime } from '../runtime.js';
import { benchModel, speedups } from '../bench/model.js';
import { benchGenerate } from '../bench/generate.js';
import { benchFinetune } from '../bench/finetune.js';
import { defaultDataPath, readExamples, resolveTask, Rng } from '@synthgrad/core';
import { FINETUNE_MODES, type FineTuneMode } from '@synthgrad/eval';

export const BENCH_USAGE = `usage:
  synthgrad bench [model] [--batch 10] [--length 32] [--runs 3] [--model FILE]
                                                   time the runtime on the real model against a plain-autodiff
                                                   baseline (run in a second process); prints JSON
  synthgrad bench all                              model, generate and finetune (what \`npm run bench\` runs)
  synthgrad bench finetune [--modes head,lora,full] [--batch 8] [--micro-batch M] [--steps 3] [--rank 8] [--data FILE]
                                                   fine-tuning examples per second for each mode (each in its
                                                   own process, since full fine-tuning needs every weight
                                                   trainable); prints JSON
  synthgrad bench generate [--data FILE] [--preset cpu]
                                                   seconds per synthetic example (one batch per class), split by
                                                   phase, and the X-step's GFLOP/s; prints JSON`;

const OPTIONS = {
  batch: { type: 'string' },
  length: { type: 'string' },
  runs: { type: 'string' },
  model: { type: 'string' },
  data: { type: 'string' },
  preset: { type: 'string' },
  modes: { type: 'string' },
  mode: { type: 'string' },
  steps: { type: 'string' },
  rank: { type: 'string' },
  'micro-batch': { type: 'string' },
} as const;

export async function benchCommand(argv: string[]): Promise<void> {
  const which = argv[0] && !argv[0].startsWith('-') ? argv.shift()! : 'model';
  if (which === 'generate') return benchGenerateCommand(argv);
  if (which === 'finetune') return benchFinetuneCommand(argv);
  if (which === 'finetune-mode') return benchFinetuneModeCommand(argv);
  if (which === 'all') return benchAllCommand(argv);
  if (which !== 'model' && which !== 'model-baseline') throw new SynthgradError(`unknown benchmark "${which}"\n\n${BENCH_USAGE}`, 'E_USAGE');
  const { values } = parse(argv, OPTIONS, BENCH_USAGE);
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const variant = which === 'model' ? 'synthgrad' : 'autodiff';
  const rt = await startRuntime({ ...values, verbose: true, gradient: variant === 'synthgrad' ? 'custom' : 'autodiff' });
  let result: Record<string, unknown>;
  try {
    result = await benchModel(rt, {
      batch: intFlag(values.batch, 'batch', 10),
      length: intFlag(values.length, 'length', 32),
      runs: intFlag(values.runs, 'runs', 3),
      backend: activeBackend()?.name ?? 'unknown',
      variant,
      log,
    });
  } finally {
    rt.dispose();
  }
  if (variant === 'synthgrad') {
    log('baseline (plain tfjs autodiff) in a separate process ...');
    const bin = fileURLToPath(new URL('../../bin/synthgrad.js', import.meta.url));
    const child = spawnSync(process.execPath, [bin, 'bench', 'model-baseline', ...argv], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
    if (child.status === 0) {
      const baseline = JSON.parse(child.stdout) as Record<string, unknown>;
      Object.assign(result, { autodiff_with_fix: baseline.autodiff_with_fix, autodiff_without_fix: baseline.autodiff_without_fix });
      result.speedups = speedups(result, baseline);
    } else {
      result.baseline_error = `baseline process exited with ${child.status}`;
    }
  }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

async function benchGenerateCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, OPTIONS, BENCH_USAGE);
  const rt = await startRuntime({ ...values, verbose: true });
  try {
    const result = await benchGenerate(rt, {
      // rtpolarity (../shared, the benchmark data of this workspace) when present, else the default data set.
      data: values.data ?? benchData(),
      preset: values.preset ?? 'cpu',
      log: (m) => process.stderr.write(`${m}\n`),
    });
    process.stdout.write(`${JSON.stringify({ backend: activeBackend()?.name, ...result }, null, 2)}\n`);
  } finally {
    rt.dispose();
  }
}

/** The benchmark's data: ../shared/data/rtpolarity (not shipped; said so on stderr), else the default data set. */
function benchData(): string {
  const shared = '../shared/data/rtpolarity/validation.jsonl';
  if (existsSync(shared)) return shared;
  process.stderr.write(`bench generate: ${shared} is absent (benchmark data of the development workspace); using the default data set\n`);
  return defaultDataPath();
}

/** Both benchmarks, each in its own process (they need the whole wasm heap), merged into one JSON. */
async function benchAllCommand(argv: string[]): Promise<void> {
  const bin = fileURLToPath(new URL('../../bin/synthgrad.js', import.meta.url));
  const out: Record<string, unknown> = {};
  for (const which of ['model', 'generate', 'finetune']) {
    const child = spawnSync(process.execPath, [bin, 'bench', which, ...argv], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
    if (child.status !== 0) throw new SynthgradError(`bench ${which} failed (exit ${child.status})`);
    out[which] = JSON.parse(child.stdout);
  }
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

/** Every mode in its own process (a crash or out-of-memory in one does not hide the others). */
async function benchFinetuneCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, OPTIONS, BENCH_USAGE);
  const modes = (values.modes ?? FINETUNE_MODES.join(',')).split(',').map((m) => m.trim());
  const bad = modes.find((m) => !FINETUNE_MODES.includes(m as FineTuneMode));
  if (bad) throw new SynthgradError(`unknown mode "${bad}" (modes: ${FINETUNE_MODES.join(', ')})`, 'E_USAGE');
  const bin = fileURLToPath(new URL('../../bin/synthgrad.js', import.meta.url));
  const rest = argv.filter((a, i) => a !== '--modes' && argv[i - 1] !== '--modes');
  const results: Record<string, unknown>[] = [];
  for (const mode of modes) {
    process.stderr.write(`fine-tuning benchmark: ${mode} ...\n`);
    const child = spawnSync(process.execPath, [bin, 'bench', 'finetune-mode', '--mode', mode, ...rest], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    process.stderr.write(child.stderr);
    const why = child.stderr.split('\n').find((l) => l.startsWith('synthgrad: '))?.slice('synthgrad: '.length);
    results.push(child.status === 0 ? (JSON.parse(child.stdout) as Record<string, unknown>) : { mode, error: why ?? `exited with ${child.status ?? child.signal}` });
  }
  const head = results.find((r) => r.mode === 'head');
  const ratio: Record<string, number> = {};
  for (const r of results) {
    if (r !== head && typeof r.train_examples_per_second === 'number' && typeof head?.feature_examples_per_second === 'number') {
      ratio[`head_features_vs_${r.mode}_training`] = head.feature_examples_per_second / r.train_examples_per_second;
    }
  }
  process.stdout.write(`${JSON.stringify({ benchmark: 'finetune', backend: activeBackend()?.name, results, ratios: ratio }, null, 2)}\n`);
}

async function benchFinetuneModeCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, OPTIONS, BENCH_USAGE);
  const mode = (values.mode ?? 'head') as FineTuneMode;
  const task = resolveTask('sentiment');
  const examples = Rng.derive(0, 'bench-finetune').shuffle(readExamples(values.data ?? defaultDataPath(), task));
  const rt = await startRuntime({ ...values, verbose: true, trainable: mode === 'full' });
  try {
    const r = benchFinetune(rt, task, examples, {
      mode,
      batch: intFlag(values.batch, 'batch', 8),
      steps: intFlag(values.steps, 'steps', 3),
      rank: intFlag(values.rank, 'rank', 8),
      microBatch: values['micro-batch'] ? intFlag(values['micro-batch'], 'micro-batch', 1) : mode === 'lora' ? 2 : mode === 'full' ? 1 : undefined,
      log: (m) => process.stderr.write(`${m}\n`),
    });
    process.stdout.write(`${JSON.stringify({ backend: activeBackend()?.name, ...r })}\n`);
  } finally {
    rt.dispose();
  }
}
