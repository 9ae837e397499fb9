/** `synthgrad generate` and `synthgrad select`. */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  activeBackend,
  AdmmAborted,
  checkPrivacyOptions,
  defaultDataPath,
  validateSettings,
  generate,
  predictLabels,
  readExamples,
  resolvePreset,
  resolveTask,
  select,
  SynthgradError,
  labelIndex,
  type GenerateConfig,
  type SelectionOptions,
  type SyntheticExample,
  type Task,
} from '@synthgrad/core';
import { intFlag, parse } from '../args.js';
import { startRuntime, log } from '../runtime.js';
import { ProgressBar } from '../progress.js';

export const GENERATE_USAGE = `usage:
  synthgrad generate [--data FILE] [--out FILE] [--task sentiment|TASK.json] [--preset cpu|paper]
                     [--real-per-class N] [--per-class M] [--seed S] [--epsilon E --delta D --clip C]
                     [--select] [--top-n K] [--alpha A] [--resume] [--model FILE]
                     [--outer N] [--inner N] [--lr X] [--lr-decay X] [--lr-decay-every N] [--grad-clip X]
                     [--rho X] [--top-k K] [--candidates N] [--batch-size B] [--init lm|random] [--init-norm X|auto]
                     [--distance cosine|l2] [--no-label-context] [--classifier-weight B] [--no-target-filter]
                     [--public-texts N] [--shrinkage A]
      method (docs/METHOD.md): the projection is conditioned on the label (task.labelContext; off with
      --no-label-context), the X-step adds B x the cross-entropy of the classifier the targets imply
      (default 1; 0 = plain matching), and --select drops texts that classifier puts in another class
      (off with --no-target-filter)
      defaults: the data set of "synthgrad data pull", and synthgrad-out/synthetic.jsonl
      writes FILE (JSONL: text, label, matching_loss, perplexity), FILE.meta.json (config, model sha256,
      privacy spent, timings) and FILE.checkpoint.json (resume point, kept until the run completes)
  synthgrad select --in FILE --out FILE [--task T] [--top-n K] [--alpha A] [--no-label-check] [--balance]
      label-consistency check, de-duplication and ranking of a generated JSONL file`;

const num = (v: string | undefined, name: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new SynthgradError(`--${name} must be a number, got "${v}"`, 'E_USAGE');
  return n;
};

function writeAtomic(path: string, content: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content);
  renameSync(tmp, path);
}

function toJsonl(rows: object[]): string {
  return rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '');
}

export async function generateCommand(argv: string[]): Promise<void> {
  const { values } = parse(
    argv,
    {
      data: { type: 'string' },
      out: { type: 'string' },
      task: { type: 'string' },
      preset: { type: 'string' },
      'real-per-class': { type: 'string' },
      'per-class': { type: 'string' },
      seed: { type: 'string' },
      epsilon: { type: 'string' },
      delta: { type: 'string' },
      clip: { type: 'string' },
      select: { type: 'boolean', default: false },
      'top-n': { type: 'string' },
      alpha: { type: 'string' },
      resume: { type: 'boolean', default: false },
      model: { type: 'string' },
      outer: { type: 'string' },
      inner: { type: 'string' },
      lr: { type: 'string' },
      rho: { type: 'string' },
      'top-k': { type: 'string' },
      candidates: { type: 'string' },
      'batch-size': { type: 'string' },
      'lr-decay': { type: 'string' },
      'lr-decay-every': { type: 'string' },
      'grad-clip': { type: 'string' },
      'init-norm': { type: 'string' },
      init: { type: 'string' },
      distance: { type: 'string' },
      'no-label-context': { type: 'boolean', default: false },
      'classifier-weight': { type: 'string' },
      'no-target-filter': { type: 'boolean', default: false },
      'public-texts': { type: 'string' },
      shrinkage: { type: 'string' },
    },
    GENERATE_USAGE,
  );
  // Defaults: the built-in data set (fetched by `npm run setup`) and ./synthgrad-out/.
  if (!values.data) {
    values.data = defaultDataPath();
    if (!existsSync(values.data)) throw new SynthgradError(`no --data given and the default data set is not downloaded (${values.data}); run \`npx synthgrad data pull\``, 'E_USAGE');
  }
  if (!values.out) {
    mkdirSync('synthgrad-out', { recursive: true });
    values.out = join('synthgrad-out', 'synthetic.jsonl');
  }
  const task = resolveTask(values.task ?? 'sentiment');
  const presetName = values.preset ?? 'cpu';
  const preset = resolvePreset(presetName);
  const s = preset.settings;
  s.outer = intFlag(values.outer, 'outer', s.outer);
  s.inner = intFlag(values.inner, 'inner', s.inner, 0);
  s.lr = num(values.lr, 'lr') ?? s.lr;
  s.rho = num(values.rho, 'rho') ?? s.rho;
  s.topK = intFlag(values['top-k'], 'top-k', s.topK);
  s.candidates = intFlag(values.candidates, 'candidates', s.candidates);
  s.batchSize = intFlag(values['batch-size'], 'batch-size', s.batchSize);
  s.lrDecay = num(values['lr-decay'], 'lr-decay') ?? s.lrDecay;
  s.lrDecayEvery = intFlag(values['lr-decay-every'], 'lr-decay-every', s.lrDecayEvery);
  s.gradClip = num(values['grad-clip'], 'grad-clip') ?? s.gradClip;
  if (values['init-norm'] !== undefined) s.initNorm = values['init-norm'] === 'auto' ? 'auto' : num(values['init-norm'], 'init-norm')!;
  if (values.init !== undefined) {
    if (values.init !== 'random' && values.init !== 'lm') throw new SynthgradError('--init must be random or lm', 'E_USAGE');
    s.init = values.init;
  }
  validateSettings({ ...s, textLength: 1, initNorm: s.initNorm === 'auto' ? 1 : s.initNorm });
  const distance = (values.distance ?? 'cosine') as GenerateConfig['distance'];
  if (distance !== 'cosine' && distance !== 'l2') throw new SynthgradError(`--distance must be cosine or l2`, 'E_USAGE');
  const privacy = { clip: num(values.clip, 'clip'), epsilon: num(values.epsilon, 'epsilon'), delta: num(values.delta, 'delta') };
  checkPrivacyOptions(privacy);
  const method = { ...preset.method };
  if (values['no-label-context']) method.labelContext = false;
  if (values['no-target-filter']) method.targetFilter = false;
  method.classifierWeight = num(values['classifier-weight'], 'classifier-weight') ?? method.classifierWeight;
  if (!(method.classifierWeight >= 0)) throw new SynthgradError(`--classifier-weight must be >= 0, got ${method.classifierWeight}`, 'E_USAGE');
  method.publicTexts = intFlag(values['public-texts'], 'public-texts', method.publicTexts, 2);
  method.shrinkage = num(values.shrinkage, 'shrinkage') ?? method.shrinkage;
  if (!(method.shrinkage >= 0 && method.shrinkage < 1)) throw new SynthgradError(`--shrinkage must be in [0, 1), got ${method.shrinkage}`, 'E_USAGE');
  const cfg: GenerateConfig = {
    task,
    preset: presetName,
    settings: s,
    perClass: intFlag(values['per-class'], 'per-class', preset.perClass),
    realPerClass: intFlag(values['real-per-class'], 'real-per-class', 25),
    seed: intFlag(values.seed, 'seed', 0, 0),
    privacy,
    distance,
    method,
  };
  // Read and validate the data before the model loads: bad input fails in a second, not a minute.
  const examples = readExamples(values.data, task);
  const dataFingerprint = createHash('sha256').update(readFileSync(values.data)).digest('hex');
  const checkpointPath = `${values.out}.checkpoint.json`;
  if (!values.resume && existsSync(checkpointPath)) {
    throw new SynthgradError(`${checkpointPath} exists from an earlier run: pass --resume to continue it, or delete it to start over`);
  }

  const rt = await startRuntime({ ...values, verbose: values.verbose });
  let stop = false;
  const onSigint = () => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write('\nstopping after saving finished batches (Ctrl-C again to quit now) ...\n');
  };
  process.on('SIGINT', onSigint);
  const bar = new ProgressBar('generate');
  const nClasses = task.labels.length;
  try {
    const sha = await rt.sha256();
    const result = await generate(rt, examples, cfg, {
      checkpointPath,
      resume: values.resume ?? false,
      modelSha256: sha,
      dataFingerprint,
      shouldStop: () => stop,
      log: (m) => log(values.verbose, `\n${m}`),
      onProgress: (p) => {
        const perBatch = 1 / (nClasses * p.batches);
        const f = p.phase === 'targets' ? (p.classIndex + 0) * p.batches * perBatch : (p.classIndex * p.batches + p.batch + p.done / p.total) * perBatch;
        const what = p.phase === 'targets' ? `class ${p.classIndex + 1}/${nClasses}: targets ${p.done}/${p.total}` : `class ${p.classIndex + 1}/${nClasses} batch ${p.batch + 1}/${p.batches} step ${p.done}/${p.total}`;
        bar.update(f, what);
      },
    });
    bar.done();
    let rows: SyntheticExample[] = result.examples;
    let selection: unknown = null;
    // The LM label check is always measured (and reported); it filters only with --select.
    const predicted = predictLabels(rt.model, rt.tokenizer, task, rows.map((r) => r.text));
    const labelCheck = task.labels.map((l, c) => {
      const mine = rows.map((r, i) => ({ r, p: predicted[i] })).filter(({ r }) => r.labelIndex === c);
      return { label: l.value, generated: mine.length, passed: mine.filter(({ p }) => p === c).length };
    });
    if (values.select) {
      const opts: SelectionOptions = { targetFilter: method.targetFilter, labelCheck: true, dedup: true, topN: intFlag(values['top-n'], 'top-n', preset.topN), alpha: num(values.alpha, 'alpha') ?? preset.alpha, balance: true };
      const sel = select(rows, nClasses, opts, predicted);
      rows = sel.kept;
      selection = { options: opts, report: sel.report };
    }
    writeAtomic(
      values.out,
      toJsonl(rows.map((r) => ({ text: r.text, label: r.label, matching_loss: r.matching_loss, perplexity: r.perplexity, ...(r.target_label !== undefined ? { target_label: task.labels[r.target_label].value, target_margin: r.target_margin } : {}) }))),
    );
    const meta = {
      command: 'generate',
      data: values.data,
      task,
      preset: presetName,
      config: cfg,
      model: { path: rt.path, name: rt.name, sha256: sha },
      backend: activeBackend()?.name,
      privacy: result.privacy,
      classes: result.classes,
      comparison_with_real: result.comparison,
      label_consistency: labelCheck,
      method: result.method,
      target_classifier: result.targetClassifier,
      target_agreement: task.labels.map((l, c) => {
        const mine = result.examples.filter((r) => r.labelIndex === c);
        return { label: l.value, generated: mine.length, agreed: mine.filter((r) => r.target_label === c).length };
      }),
      selection,
      counts: { generated: result.examples.length, written: rows.length },
      timings: { ...result.timings, seconds_per_example: result.timings.total_s / Math.max(1, result.examples.length - result.resumedBatches * cfg.settings.batchSize) },
      resumed_batches: result.resumedBatches,
      finished_at: new Date().toISOString(),
    };
    writeAtomic(`${values.out}.meta.json`, JSON.stringify(meta, null, 2) + '\n');
    rmSync(checkpointPath, { force: true }); // the run is complete; outputs hold everything
    process.stderr.write(`wrote ${rows.length} synthetic examples to ${values.out} (and ${values.out}.meta.json)\n`);
  } catch (e) {
    bar.done();
    if (e instanceof AdmmAborted) {
      throw new SynthgradError(`interrupted; finished batches are saved in ${checkpointPath}: rerun the same command with --resume`, 'E_INTERRUPTED');
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
    rt.dispose();
  }
}

export async function selectCommand(argv: string[]): Promise<void> {
  const { values } = parse(
    argv,
    {
      in: { type: 'string' },
      out: { type: 'string' },
      task: { type: 'string' },
      'top-n': { type: 'string' },
      alpha: { type: 'string' },
      'no-label-check': { type: 'boolean', default: false },
      balance: { type: 'boolean', default: false },
      model: { type: 'string' },
    },
    GENERATE_USAGE,
  );
  if (!values.in || !values.out) throw new SynthgradError(`--in and --out are required\n\n${GENERATE_USAGE}`, 'E_USAGE');
  const task: Task = resolveTask(values.task ?? 'sentiment');
  const rows = readCandidates(values.in, task);
  const rt = await startRuntime(values);
  try {
    const opts: SelectionOptions = {
      labelCheck: !values['no-label-check'],
      dedup: true,
      topN: values['top-n'] ? intFlag(values['top-n'], 'top-n', 0) : undefined,
      alpha: num(values.alpha, 'alpha') ?? 0,
      balance: values.balance ?? false,
    };
    const predicted = opts.labelCheck ? predictLabels(rt.model, rt.tokenizer, task, rows.map((r) => r.text)) : undefined;
    const { kept, report } = select(rows, task.labels.length, opts, predicted);
    writeAtomic(values.out, toJsonl(kept.map(({ labelIndex: _, ...r }) => r)));
    process.stderr.write(`${JSON.stringify(report)}\n`);
  } finally {
    rt.dispose();
  }
}

function readCandidates(path: string, task: Task) {
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch {
    throw new SynthgradError(`${path}: cannot read`, 'E_DATA');
  }
  return content
    .split('\n')
    .map((line, i) => ({ line, n: i + 1 }))
    .filter(({ line }) => line.trim())
    .map(({ line, n }) => {
      let r: Record<string, unknown>;
      try {
        r = JSON.parse(line);
      } catch (e) {
        throw new SynthgradError(`${path}:${n}: malformed JSON (${(e as Error).message})`, 'E_DATA');
      }
      const li = labelIndex(task, r.label);
      if (typeof r.text !== 'string') throw new SynthgradError(`${path}:${n}: missing string field "text"`, 'E_DATA');
      if (li < 0) throw new SynthgradError(`${path}:${n}: unknown label ${JSON.stringify(r.label)}`, 'E_DATA');
      const ml = Number(r.matching_loss ?? 0);
      const ppl = Number(r.perplexity ?? 0);
      return { text: r.text, label: r.label as string | number, labelIndex: li, matching_loss: ml, perplexity: ppl };
    });
}
