/** `synthgrad bench`: benchmarks that print JSON (used by `npm run bench`). */
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { activeBackend, nativeBindingProblem, resolveModelPath, SynthgradError } from '@synthgrad/core';
import { intFlag, parse } from '../args.js';
import { generationWorkers, startRuntime } from '../runtime.js';
import { benchModel, speedups } from '../bench/model.js';
import { round } from '../bench/stats.js';
import { benchGenerate } from '../bench/generate.js';
import { benchFinetune } from '../bench/finetune.js';
import { checkPrivacyOptions, DEFAULT_METHOD, DEFAULT_PRESET, defaultDataPath, readExamples, resolvePreset, resolveTask, Rng, targetFilterMarginOf, targetFilterOf, type MethodSettings } from '@synthgrad/core';
import { FlagReader } from '../flags.js';
import { privacyFlags } from './gradmm-options.js';
import { FINETUNE_MODES, MODE_DEFAULTS, promptedDomain, runQuality, type CheckpointRule, type FineTuneMode, type QualityGeneration, type TrainingSettings } from '@synthgrad/eval';

export const BENCH_USAGE = `usage:
  synthgrad bench [model] [--batch 10] [--length 32] [--runs 3] [--model FILE]
                                                   forward, forward+backward to the embeddings and one projection
                                                   on the real model, on every backend built here (tensorflow at 1
                                                   and all threads, wasm) and in PyTorch (scripts/bench/torch_step.py,
                                                   skipped when torch is absent), with ratios at equal threads; JSON
  synthgrad bench all                              model, generate and finetune (what \`npm run bench\` runs)
  synthgrad bench finetune [--modes head,lora,full] [--batch 8] [--micro-batch M] [--steps 3] [--rank 8] [--data FILE]
                                                   fine-tuning examples per second for each mode (each in its
                                                   own process, since full fine-tuning needs every weight
                                                   trainable); prints JSON
  synthgrad bench quality --task-data F --test F [--test-limit 500] [--seeds 3] [--mode head|lora] [--method JSON]
        [--real 50] [--synthetic 100] [--preset cpu-select|cpu|paper] [--settings JSON] [--top-k K] [--model FILE]
        [--checkpoint accuracy|accuracy-loss] [--synthetic-out F | --synthetic-in F]
        [--rows zero-shot,real-random-100,real-50,prompted-few-100] [--task T] [--domain D]
        [--release full|label-rows] [--epsilon E --delta D --clip C] [--seed S] [--overgenerate X]
                                                   the fixed quality protocol (50 real -> 100 GRADMM texts): accuracy of
                                                   zero-shot, real-random-100, real-50, prompted-few-100 and gradmm-100,
                                                   the judge's on-label rate, perplexities, seconds per example; JSON.
                                                   --method overrides the preset's method switches, e.g.
                                                   '{"classifierWeight":0,"labelContext":false,"targetFilter":"surplus"}';
                                                   --settings overrides the preset's ADMM settings, e.g. '{"inner":0}';
                                                   --synthetic-out F saves the generation, --synthetic-in F evaluates a
                                                   saved one again; --checkpoint accuracy|accuracy-loss: the dev
                                                   checkpoint kept (accuracy-loss breaks ties by dev cross-entropy);
                                                   --release / --epsilon / --delta / --clip: what the targets release
                                                   and their privacy, as for generate (JSON adds signal/noise);
                                                   --seed S: the generation's seed (default 0; the real texts
                                                   stay the protocol's draw), for the spread between generations;
                                                   --overgenerate X: texts generated a class as a multiple of the
                                                   kept count (default: the preset's; 1.2 for cpu), the best by
                                                   matching loss kept
  synthgrad bench generate [--data FILE] [--preset cpu]
                                                   seconds per synthetic example (one batch per class) on every
                                                   backend built here, each at the machine's full width both ways
                                                   (natively: all cores in one thread, or one thread per core with
                                                   classes in worker threads; wasm: one thread, and classes in
                                                   workers), split by phase, the X-step's GFLOP/s, and the ratios
                                                   of wasm to the fastest native run; JSON. Default data: the
                                                   default data set (\`synthgrad data pull\`)`;

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
  'task-data': { type: 'string' },
  test: { type: 'string' },
  'test-limit': { type: 'string' },
  seeds: { type: 'string' },
  method: { type: 'string' },
  rows: { type: 'string' },
  task: { type: 'string' },
  domain: { type: 'string' },
  real: { type: 'string' },
  synthetic: { type: 'string' },
  'top-k': { type: 'string' },
  settings: { type: 'string' },
  workers: { type: 'string' },
  checkpoint: { type: 'string' },
  'synthetic-out': { type: 'string' },
  'synthetic-in': { type: 'string' },
  seed: { type: 'string' },
  overgenerate: { type: 'string' },
  release: { type: 'string' },
  epsilon: { type: 'string' },
  delta: { type: 'string' },
  clip: { type: 'string' },
} as const;

/** The quality protocol trains with the eval command's defaults for the mode. */
const qualityTraining = (mode: 'head' | 'lora', checkpoint: CheckpointRule): TrainingSettings => ({ mode, ...MODE_DEFAULTS[mode], devFraction: 0.2, checkpoint });

/** A JSON-object flag whose keys must be among `known` (an absent flag is {}). */
function jsonObjectFlag(name: string, raw: string | undefined, known: string[]): Record<string, unknown> {
  if (!raw) return {};
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(raw) as Record<string, unknown>;
  } catch (e) {
    throw new SynthgradError(`--${name} is not JSON: ${(e as Error).message}`, 'E_USAGE');
  }
  const bad = Object.keys(o).find((k) => !known.includes(k));
  if (bad) throw new SynthgradError(`--${name}: unknown key "${bad}" (known: ${known.join(', ')})`, 'E_USAGE');
  return o;
}

/** --overgenerate: a multiple from 1 to 20 of the kept count (undefined: the preset's, else OVERGENERATE). */
function overgenerateFlag(r: FlagReader): number | undefined {
  const x = r.num('overgenerate');
  if (x !== undefined && !(x >= 1 && x <= 20)) r.fail('overgenerate', `must be a number from 1 to 20 (texts generated a class as a multiple of the kept count), got "${r.str('overgenerate')}"`);
  return x;
}

async function benchQualityCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, OPTIONS, BENCH_USAGE);
  if (!values['task-data'] || !values.test) throw new SynthgradError(`bench quality needs --task-data and --test\n\n${BENCH_USAGE}`, 'E_USAGE');
  const mode = (values.mode ?? 'head') as 'head' | 'lora';
  if (mode !== 'head' && mode !== 'lora') throw new SynthgradError(`--mode must be head or lora, got "${values.mode}"`, 'E_USAGE');
  const method = jsonObjectFlag('method', values.method, Object.keys(DEFAULT_METHOD)) as Partial<MethodSettings>;
  if (method.targetFilter !== undefined) method.targetFilter = targetFilterOf(method.targetFilter, '--method: targetFilter');
  // Checked here: selection reads it only after the generation.
  if (method.targetFilterMargin !== undefined) method.targetFilterMargin = targetFilterMarginOf(method.targetFilterMargin, '--method: targetFilterMargin');
  if (method.dropDegenerate !== undefined && typeof method.dropDegenerate !== 'boolean') throw new SynthgradError(`--method: dropDegenerate must be true or false, got ${JSON.stringify(method.dropDegenerate)}`, 'E_USAGE');
  const presetName = values.preset ?? DEFAULT_PRESET;
  const settings = jsonObjectFlag('settings', values.settings, Object.keys(resolvePreset(presetName).settings));
  if (values['top-k']) settings.topK = intFlag(values['top-k'], 'top-k', 200);
  const checkpoint = (values.checkpoint ?? 'accuracy') as CheckpointRule;
  if (checkpoint !== 'accuracy' && checkpoint !== 'accuracy-loss') throw new SynthgradError(`--checkpoint must be accuracy or accuracy-loss, got "${values.checkpoint}"`, 'E_USAGE');
  // The same flags and checks as generate's.
  const flags = new FlagReader(values, {}, 'bench quality');
  const privacy = privacyFlags(flags);
  const overgenerate = overgenerateFlag(flags);
  checkPrivacyOptions(privacy);
  let generated: QualityGeneration | undefined;
  if (values['synthetic-in']) {
    if (values.release || values.epsilon || values.delta || values.clip) throw new SynthgradError('--synthetic-in evaluates a saved generation: --release, --epsilon, --delta and --clip do not apply', 'E_USAGE');
    if (values.seed) throw new SynthgradError('--synthetic-in evaluates a saved generation: --seed does not apply', 'E_USAGE');
    if (values.method || values.settings || values.overgenerate) throw new SynthgradError('--synthetic-in evaluates a saved generation: --method, --settings and --overgenerate do not apply', 'E_USAGE');
    try {
      generated = JSON.parse(readFileSync(values['synthetic-in'], 'utf8')) as QualityGeneration;
    } catch (e) {
      throw new SynthgradError(`--synthetic-in ${values['synthetic-in']}: cannot read a saved generation (${(e as Error).message})`, 'E_USAGE');
    }
    if (!Array.isArray(generated?.examples) || typeof generated.method !== 'object') throw new SynthgradError(`--synthetic-in ${values['synthetic-in']}: not a saved generation (written by --synthetic-out)`, 'E_USAGE');
  }
  const task = resolveTask(values.task ?? 'sentiment');
  const taskData = readExamples(values['task-data'], task);
  const test = readExamples(values.test, task);
  const limit = intFlag(values['test-limit'], 'test-limit', 500);
  const testSet = Rng.derive(0, 'quality-test').shuffle(test).slice(0, limit);
  // Classes in parallel worker threads with their share of the cores, as `generate` does; a saved
  // generation only trains and scores, in this thread, with every core.
  const workers = generated ? undefined : await generationWorkers(task.labels.length);
  const rt = await startRuntime({ ...values, verbose: true });
  try {
    const t0 = performance.now();
    const res = await runQuality(rt, {
      workers,
      task,
      taskData,
      test: testSet,
      seeds: intFlag(values.seeds, 'seeds', 3),
      generationSeed: intFlag(values.seed, 'seed', 0, 0),
      overgenerate,
      real: intFlag(values.real, 'real', 50, 2),
      synthetic: intFlag(values.synthetic, 'synthetic', 100, 2),
      preset: presetName,
      settings: Object.keys(settings).length ? settings : undefined,
      method,
      training: qualityTraining(mode, checkpoint),
      generated,
      privacy,
      onGenerated: values['synthetic-out'] ? (g) => writeFileSync(values['synthetic-out']!, `${JSON.stringify(g)}\n`) : undefined,
      rows: values.rows ? values.rows.split(',').map((r) => r.trim()) : undefined,
      domain: promptedDomain(task, values.domain),
      log: (m) => process.stderr.write(`${m}\n`),
    });
    process.stdout.write(`${JSON.stringify({ benchmark: 'quality', backend: activeBackend()?.name, task_data: values['task-data'], test: values.test, ...res, total_minutes: (performance.now() - t0) / 60_000 }, null, 2)}\n`);
  } finally {
    rt.dispose();
  }
}

export async function benchCommand(argv: string[]): Promise<void> {
  const which = argv[0] && !argv[0].startsWith('-') ? argv.shift()! : 'model';
  if (which === 'model') return benchModelAllBackends(argv);
  if (which === 'generate') return benchGenerateAllBackends(argv);
  if (which === 'generate-backend') return benchGenerateCommand(argv);
  if (which === 'finetune') return benchFinetuneCommand(argv);
  if (which === 'finetune-mode') return benchFinetuneModeCommand(argv);
  if (which === 'all') return benchAllCommand(argv);
  if (which === 'quality') return benchQualityCommand(argv);
  if (which !== 'model-backend' && which !== 'model-baseline') throw new SynthgradError(`unknown benchmark "${which}"\n\n${BENCH_USAGE}`, 'E_USAGE');
  const { values } = parse(argv, OPTIONS, BENCH_USAGE);
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const variant = which === 'model-backend' ? 'synthgrad' : 'autodiff';
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
  // The plain-autodiff baseline shows what the wasm workarounds buy; natively there are none.
  if (variant === 'synthgrad' && activeBackend()?.name === 'wasm') {
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
      // The ADMM path with its X-steps (the Adam steps whose FLOP rate this reports), not the
      // default preset, which has none.
      preset: values.preset ?? 'cpu',
      workers: values.workers ? intFlag(values.workers, 'workers', 1) : undefined,
      log: (m) => process.stderr.write(`${m}\n`),
    });
    process.stdout.write(`${JSON.stringify({ backend: activeBackend()?.name, ...result }, null, 2)}\n`);
  } finally {
    rt.dispose();
  }
}

const BIN = fileURLToPath(new URL('../../bin/synthgrad.js', import.meta.url));
const TORCH_STEP = fileURLToPath(new URL('../../../../scripts/bench/torch_step.py', import.meta.url));

/** argv without the given value-taking flags (each with its value): a child process sets its own. */
const withoutFlags = (argv: string[], flags: string[]) => argv.filter((a, i) => !flags.includes(a) && !flags.includes(argv[i - 1]));

/** Run `synthgrad bench ARGS` in a child process and parse its JSON (a failure becomes {error}). */
function benchChild(args: string[]): Record<string, unknown> {
  process.stderr.write(`--- synthgrad bench ${args.join(' ')}\n`);
  const child = spawnSync(process.execPath, [BIN, 'bench', ...args], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 1 << 26 });
  if (child.status !== 0) return { error: `bench ${args[0]} exited with ${child.status ?? child.signal}` };
  return JSON.parse(child.stdout) as Record<string, unknown>;
}

/** The backends to compare: the native one where its binding is built, and wasm always. */
function backendsHere(): { backend: string; threads: number }[] {
  const cores = availableParallelism();
  const out: { backend: string; threads: number }[] = [];
  if (!nativeBindingProblem('@tensorflow/tfjs-node')) for (const t of cores > 1 ? [1, cores] : [1]) out.push({ backend: 'tensorflow', threads: t });
  out.push({ backend: 'wasm', threads: 1 });
  return out;
}

/** PyTorch on the same weights and shapes, or why it was skipped. */
function torchStep(model: string, batch: number, length: number, runs: number, threads: number[]): Record<string, unknown> {
  process.stderr.write(`--- PyTorch competitor (${TORCH_STEP}) ...\n`);
  const python = process.env.SYNTHGRAD_PYTHON ?? 'python3';
  const child = spawnSync(python, [TORCH_STEP, '--model', model, '--batch', String(batch), '--length', String(length), '--runs', String(runs), '--threads', threads.join(',')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  const last = child.stdout?.trim().split('\n').pop();
  if (child.error) return { skipped: `${python} not found` };
  try {
    return JSON.parse(last ?? '') as Record<string, unknown>;
  } catch {
    return { skipped: `PyTorch step failed (exit ${child.status}): ${(child.stderr ?? '').trim().split('\n').pop()}` };
  }
}

type StepTimes = { forward_s?: number; forward_backward_s?: number; projection_s?: number };

/** synthgrad / PyTorch time ratios at equal threads (below 1: synthgrad is faster). */
function ratiosAgainstTorch(runs: Record<string, unknown>, torch: Record<string, unknown>): Record<string, number> {
  const byThreads = (torch.by_threads ?? {}) as Record<string, StepTimes>;
  const out: Record<string, number> = {};
  for (const [key, r] of Object.entries(runs)) {
    const ours = ((r as Record<string, unknown>).synthgrad ?? {}) as StepTimes;
    const t = byThreads[String((r as Record<string, unknown>).threads)];
    if (!t) continue;
    for (const step of ['forward_s', 'forward_backward_s', 'projection_s'] as const) {
      if (typeof ours[step] === 'number' && typeof t[step] === 'number') out[`${key}_${step.replace(/_s$/, '')}_vs_pytorch`] = round(ours[step]! / t[step]!, 2);
    }
  }
  return out;
}

async function benchModelAllBackends(argv: string[]): Promise<void> {
  const { values } = parse(argv, OPTIONS, BENCH_USAGE);
  const batch = intFlag(values.batch, 'batch', 10);
  const length = intFlag(values.length, 'length', 32);
  const runs = intFlag(values.runs, 'runs', 3);
  const model = resolveModelPath(values.model);
  const rest = withoutFlags(argv, ['--threads', '--backend']);
  const backends = backendsHere();
  const results: Record<string, unknown> = {};
  for (const b of backends) results[`${b.backend}_${b.threads}t`] = { threads: b.threads, ...benchChild(['model-backend', '--backend', b.backend, '--threads', String(b.threads), ...rest]) };
  const torch = torchStep(model, batch, length, runs, [...new Set(backends.map((b) => b.threads))]);
  const out = { benchmark: 'model', batch, length, machine_cores: availableParallelism(), backends: results, pytorch: torch, ratios_vs_pytorch: ratiosAgainstTorch(results, torch) };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

async function benchGenerateAllBackends(argv: string[]): Promise<void> {
  parse(argv, OPTIONS, BENCH_USAGE);
  const rest = withoutFlags(argv, ['--threads', '--backend', '--workers']);
  const results: Record<string, unknown> = {};
  const cores = availableParallelism();
  const here = backendsHere();
  const widest = Math.max(...here.filter((b) => b.backend !== 'wasm').map((b) => b.threads), 1);
  // Each backend at the machine's full width, both ways where there is a choice: natively all
  // cores in one thread, or one thread per core with classes in worker threads; wasm (one thread
  // in Node) in one thread, as the single-threaded baseline, and with classes in `cores` workers.
  const runs: { key: string; backend: string; threads: number; workers: number }[] = [];
  for (const b of here) {
    if (b.backend === 'wasm') {
      runs.push({ key: 'wasm_1t', backend: 'wasm', threads: 1, workers: 1 });
      if (cores > 1) runs.push({ key: `wasm_${cores}w`, backend: 'wasm', threads: 1, workers: cores });
    } else if (b.threads === widest) {
      runs.push({ key: `${b.backend}_${b.threads}t`, backend: b.backend, threads: b.threads, workers: 1 });
      if (cores > 1) runs.push({ key: `${b.backend}_${cores}w`, backend: b.backend, threads: 1, workers: cores });
    }
  }
  for (const r of runs) {
    results[r.key] = benchChild(['generate-backend', '--backend', r.backend, '--threads', String(r.threads), '--workers', String(r.workers), ...rest]);
  }
  const spe = (k: string) => (results[k] as Record<string, unknown> | undefined)?.seconds_per_example as number | undefined;
  const native = Object.keys(results).filter((k) => k.startsWith('tensorflow') && spe(k));
  const fastest = native.sort((a, b) => spe(a)! - spe(b)!)[0];
  const ratios: Record<string, number | string> = {};
  if (fastest) {
    ratios.fastest_native = fastest;
    for (const w of Object.keys(results).filter((k) => k.startsWith('wasm') && spe(k))) ratios[`${w}_over_${fastest}_seconds_per_example`] = round(spe(w)! / spe(fastest)!, 2);
  }
  const workers = Object.fromEntries(Object.entries(results).map(([k, r]) => [k, (r as Record<string, unknown>).workers]));
  process.stdout.write(`${JSON.stringify({ benchmark: 'generate', machine_cores: cores, backends: results, workers, ratios }, null, 2)}\n`);
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
  const rest = withoutFlags(argv, ['--modes']);
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
