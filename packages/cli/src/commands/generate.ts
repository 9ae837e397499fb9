/**
 * `synthgrad generate` and `synthgrad select`: flags (and --config) -> validated library options,
 * all checked before the model loads; then one library call (`generateToFile`, `select`) and the
 * verdict on the result. The ML stack is imported only once the command line is valid.
 */
import type { GenerateFileProgress, GenerateFileResult } from '@synthgrad/core';
import { parse } from '../args.js';
import { FlagReader } from '../flags.js';
import { mergeConfig, readConfig, type ConfigKeys } from '../config-file.js';
import { GENERATE_HELP, SELECT_HELP } from '../help.js';
import { Progress, progressMode, type PhaseSpec } from '../progress.js';
import { generationWorkers, startRuntime, log } from '../runtime.js';
import { resolveTask } from '@synthgrad/core/task';
import { resolvePreset } from '@synthgrad/core/presets';
import { UsageError } from '../usage-error.js';
import { checkMethodConfig, METHOD_KEYS, METHOD_OPTIONS, methodConfig, selectionOptions } from './gradmm-options.js';

const GENERATE_OPTIONS = {
  ...METHOD_OPTIONS,
  data: { type: 'string' },
  out: { type: 'string' },
  task: { type: 'string' },
  select: { type: 'boolean' },
  'no-select': { type: 'boolean' },
  'top-n': { type: 'string' },
  alpha: { type: 'string' },
  resume: { type: 'boolean', default: false },
  model: { type: 'string' },
  config: { type: 'string' },
  quiet: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
} as const;

/** The "generate" section of a --config file: library names -> the flags they stand for. */
export const GENERATE_CONFIG_KEYS: ConfigKeys = {
  ...METHOD_KEYS,
  data: 'data',
  out: 'out',
  task: 'task',
  select: 'select',
  'top-n': 'selection.topN',
  alpha: 'selection.alpha',
  model: 'model',
  backend: 'backend',
};

export const DEFAULT_OUT = 'synthgrad-out/synthetic.jsonl';

export async function generateCommand(argv: string[]): Promise<void> {
  const { values, explicit } = parse(argv, GENERATE_OPTIONS, GENERATE_HELP, 'generate');
  const config = values.config ? readConfig(values.config, 'generate', GENERATE_CONFIG_KEYS, ['compare', 'eval']) : undefined;
  const merged = mergeConfig(values, explicit, config);
  const r: FlagReader = new FlagReader(merged.values, merged.labels, 'generate');
  // Paths first (no imports needed), then the library's checks of task, data and settings.
  const out = r.outputFile('out', DEFAULT_OUT);
  const dataFlag = r.inputFile('data');
  const task = resolveTask(r.str('task') ?? 'sentiment');
  const cfg = methodConfig(task, r);
  const selection = selects(r, cfg.preset) ? selectionOptions(r, cfg.preset, cfg.method) : undefined;
  const resume = r.bool('resume');
  const core = await import('@synthgrad/core');
  checkMethodConfig(core, cfg);
  const data = dataFlag ?? core.defaultDataPath();
  if (!dataFlag && !(await import('node:fs')).existsSync(data)) {
    throw new core.SynthgradError(`no --data given and the default data set is not downloaded (${data}); run "synthgrad data pull"`, 'E_USAGE');
  }
  const examples = core.readExamples(data, task); // bad data fails here, in a second, not after a minute
  core.checkNoStaleCheckpoint(out, resume);
  const mode = progressMode({ quiet: r.bool('quiet'), json: r.bool('json') });

  const batches = Math.ceil(cfg.perClass / cfg.settings.batchSize) * task.labels.length;
  const method = { ...core.DEFAULT_METHOD, ...cfg.method };
  const phases: PhaseSpec[] = [
    { name: 'load model', units: 1, secondsPerUnit: 10 },
    { name: 'class targets', units: task.labels.length * Math.min(cfg.realPerClass, examples.length), secondsPerUnit: 0.2 },
    // Only a task that names no domain searches for one (units: genres, set when it starts).
    ...(core.searchesDomain(task, method) ? [{ name: 'domain search', units: 0, secondsPerUnit: 20 }] : []),
    // LM texts sampled for the target classifier (units set when it starts). Other, rarer users
    // of them (a whitened metric, mined demonstrations) report into the phase they run in.
    ...(core.buildsTargetClassifier(task.labels.length, method) ? [{ name: 'public statistics', units: 0, secondsPerUnit: 0.3 }] : []),
    // Units are batches; the rate is measured from the first step on. Until then the prior is what
    // SmolLM2-135M takes on 2 cores: about 5 s per Adam step and projection of a batch of 10.
    { name: 'ADMM', units: batches, secondsPerUnit: 5 * cfg.settings.outer * (cfg.settings.inner + 1) * (cfg.settings.batchSize / 10) },
    // The whole pool when selection filters by the check, else only the kept texts (generate-file.ts).
    { name: 'label check', units: (selection && !selection.labelCheck ? (selection.topN ?? cfg.perClass) : cfg.perClass) * task.labels.length, secondsPerUnit: 0.3 },
  ];
  // Classes run in parallel worker threads, each with its share of the cores (measured faster
  // than one thread using them all).
  const workers = await generationWorkers(task.labels.length);
  const progress = new Progress('generate', phases, mode, process.stderr, { heartbeat: true });
  progress.phase('load model', 'backend and weights');
  let stop = false;
  const onSigint = () => {
    if (stop) process.exit(130);
    stop = true;
    progress.note('stopping after saving finished batches (Ctrl-C again to quit now) ...');
  };
  let result: GenerateFileResult;
  const rt = await startRuntime({ backend: r.str('backend'), model: r.str('model'), verbose: r.bool('verbose'), onLoad: (d, n) => progress.update(d / n, `tensors ${d}/${n}`) });
  process.on('SIGINT', onSigint);
  try {
    result = await core.generateToFile(rt, examples, cfg, {
      out,
      dataPath: data,
      resume,
      selection,
      shouldStop: () => stop,
      log: (m) => (r.bool('verbose') ? progress.note(m) : undefined),
      onProgress: (p) => onGenerateProgress(core, progress, p, task.labels.length),
      workers,
    });
  } catch (e) {
    progress.done();
    if (e instanceof core.AdmmAborted) {
      throw new core.SynthgradError(`interrupted; finished batches are saved in ${core.checkpointPathOf(out)}: rerun the same command with --resume`, 'E_INTERRUPTED');
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
    rt.dispose();
  }
  progress.done();
  printSummary(core, result, mode === 'json');
}

/**
 * Whether generate selects: with --select, or by default for a preset that overgenerates (its
 * per-class count is a pool meant for selection, cpu-select's 6x); --no-select (or a config
 * file's `"select": false`) keeps every text.
 */
function selects(r: FlagReader, presetName: string): boolean {
  if (r.bool('select') && r.bool('no-select')) throw new UsageError('--select and --no-select contradict each other', 'generate');
  if (r.bool('no-select') || r.isFalse('select')) return false;
  return r.bool('select') || resolvePreset(presetName).overgenerate !== undefined;
}

/** Map the library's progress onto the phases: ADMM units are batches, with the step as a fraction. */
function onGenerateProgress(core: typeof import('@synthgrad/core'), progress: Progress, p: GenerateFileProgress, nClasses: number): void {
  if (p.phase === 'targets') {
    progress.phase('class targets');
    progress.units('class targets', nClasses * p.total);
    progress.update(p.classIndex * p.total + p.done, `class ${p.classIndex + 1}/${nClasses}: real example ${p.done}/${p.total}`);
  } else if (p.phase === 'domain-search') {
    const detail = `${p.round} round, genre ${p.done}/${p.total}${p.last ? `: ${p.last.domain} ${p.last.loss.toFixed(4)}` : ''}`;
    progress.units('domain search', p.total);
    progress.phase('domain search', detail);
    progress.update(p.done, detail);
  } else if (p.phase === 'public-stats') {
    // After the last text the classifier is built and the class workers load the model (seconds,
    // with nothing to report until their first step).
    const detail = p.done < p.total ? `public statistics: LM text ${p.done}/${p.total}` : `public statistics: ${p.total} LM texts read; starting the classes`;
    if (!progress.has('public statistics')) return; // the heartbeat says the run is busy
    progress.units('public statistics', p.total);
    progress.phase('public statistics', detail);
    progress.update(p.done, detail);
  } else if (p.phase === 'admm') {
    progress.phase('ADMM');
    progress.units('ADMM', nClasses * p.batches);
    // After a batch's last step it is scored; after a class's last batch the class is also compared
    // with 20 real texts (minutes on a CPU, with no step to report: the heartbeat covers it).
    const after = p.done < p.total ? '' : p.batch === p.batches - 1 ? ' (scoring, then comparing the class with real text)' : ' (scoring the batch)';
    progress.update(core.admmProgress(p, nClasses).done, `class ${p.classIndex + 1}/${nClasses}, batch ${p.batch + 1}/${p.batches}, step ${p.done}/${p.total}${after}`);
  } else {
    progress.phase('label check');
    progress.units('label check', p.total);
    progress.update(p.done, `text ${p.done}/${p.total}`);
  }
}

/** The final screen: where the files are, and whether the set is any good (stderr; JSON on stdout with --json). */
function printSummary(core: typeof import('@synthgrad/core'), res: GenerateFileResult, json: boolean): void {
  const { meta, diagnostics, paths } = res;
  // The generation and the label check after it (what the user waited for, less the model load).
  const minutes = (meta.timings.total_s + meta.timings.label_check_s) / 60;
  if (json) {
    process.stdout.write(`${JSON.stringify({ out: paths.out, meta: paths.meta, counts: meta.counts, minutes, diagnostics }, null, 2)}\n`);
    return;
  }
  const lines = [
    `wrote ${meta.counts.written} synthetic examples to ${paths.out} (details in ${paths.meta}) in ${minutes.toFixed(1)} min`,
    ...(meta.selection ? [`selection kept ${meta.counts.written} of ${meta.counts.generated}`] : []),
    '',
    ...core.formatDiagnostics(diagnostics),
    ...(meta.privacy.ledger ? [`privacy ledger (${meta.privacy.ledger.path}): ${meta.privacy.ledger.sentence}`] : []),
  ];
  process.stderr.write(`${lines.join('\n')}\n`);
}

const SELECT_OPTIONS = {
  in: { type: 'string' },
  out: { type: 'string' },
  task: { type: 'string' },
  'top-n': { type: 'string' },
  alpha: { type: 'string' },
  'no-label-check': { type: 'boolean', default: false },
  balance: { type: 'boolean', default: false },
  model: { type: 'string' },
  quiet: { type: 'boolean', default: false },
} as const;

export async function selectCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, SELECT_OPTIONS, SELECT_HELP, 'select');
  const r: FlagReader = new FlagReader(values, {}, 'select');
  const input = r.inputFile('in');
  if (!input || !r.has('out')) r.fail(input ? 'out' : 'in', 'is required');
  const out = r.outputFile('out', '');
  const topN = r.optInt('top-n');
  const alpha = r.positive('alpha', 0, true)!;
  const core = await import('@synthgrad/core');
  const task = core.resolveTask(r.str('task') ?? 'sentiment');
  const rows = core.readCandidates(input, task);
  const opts = { labelCheck: !r.bool('no-label-check'), dedup: true, topN, alpha, balance: r.bool('balance') };
  const progress = new Progress('select', [{ name: 'load model', units: 1, secondsPerUnit: 10 }, { name: 'label check', units: opts.labelCheck ? rows.length : 0, secondsPerUnit: 1 }], progressMode({ quiet: r.bool('quiet') }), process.stderr, { heartbeat: true });
  progress.phase('load model');
  const rt = await startRuntime({ backend: r.str('backend'), model: r.str('model'), verbose: r.bool('verbose'), onLoad: (d, n) => progress.update(d / n, `tensors ${d}/${n}`) });
  try {
    progress.phase('label check', opts.labelCheck ? '' : 'skipped (--no-label-check)');
    const predicted = opts.labelCheck ? core.predictLabels(rt.model, rt.tokenizer, task, rows.map((x) => x.text), 8, (d, n) => progress.update(d, `text ${d}/${n}`)) : undefined;
    progress.done();
    const { kept, report } = core.select(rows, task.labels.length, opts, predicted);
    (await import('node:fs')).mkdirSync((await import('node:path')).dirname(out), { recursive: true });
    core.writeFileAtomic(out, core.toJsonl(kept.map(({ labelIndex: _, ...x }) => x)));
    process.stderr.write(`${JSON.stringify(report)}\n`);
    log(r.bool('verbose'), `wrote ${kept.length} of ${rows.length} rows to ${out}`);
  } finally {
    progress.done();
    rt.dispose();
  }
}
