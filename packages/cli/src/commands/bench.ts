/** `synthgrad bench`: benchmarks that print JSON (used by `npm run bench`). */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { activeBackend, SynthgradError } from '@synthgrad/core';
import { intFlag, parse } from '../args.js';
import { startRuntime } from '../runtime.js';
import { benchModel, speedups } from '../bench/model.js';
import { benchGenerate } from '../bench/generate.js';

export const BENCH_USAGE = `usage:
  synthgrad bench [model] [--batch 10] [--length 32] [--runs 3] [--model FILE]
                                                   time the runtime on the real model against a plain-autodiff
                                                   baseline (run in a second process); prints JSON
  synthgrad bench all                              both of the above (what \`npm run bench\` runs)
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
} as const;

export async function benchCommand(argv: string[]): Promise<void> {
  const which = argv[0] && !argv[0].startsWith('-') ? argv.shift()! : 'model';
  if (which === 'generate') return benchGenerateCommand(argv);
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
      data: values.data ?? '../shared/data/rtpolarity/validation.jsonl',
      preset: values.preset ?? 'cpu',
      log: (m) => process.stderr.write(`${m}\n`),
    });
    process.stdout.write(`${JSON.stringify({ backend: activeBackend()?.name, ...result }, null, 2)}\n`);
  } finally {
    rt.dispose();
  }
}

/** Both benchmarks, each in its own process (they need the whole wasm heap), merged into one JSON. */
async function benchAllCommand(argv: string[]): Promise<void> {
  const bin = fileURLToPath(new URL('../../bin/synthgrad.js', import.meta.url));
  const out: Record<string, unknown> = {};
  for (const which of ['model', 'generate']) {
    const child = spawnSync(process.execPath, [bin, 'bench', which, ...argv], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
    if (child.status !== 0) throw new SynthgradError(`bench ${which} failed (exit ${child.status})`);
    out[which] = JSON.parse(child.stdout);
  }
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}
