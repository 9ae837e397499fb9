/**
 * `generate` as one library call that writes its outputs: GRADMM (gradmm/generate.ts), then the
 * LM label check, optional selection, and atomically written FILE (JSONL rows), FILE.meta.json
 * (config, model sha256, privacy spent, timings, comparison with real text, label check) and,
 * while it runs, FILE.checkpoint.json. What `synthgrad generate` and `synthgrad compare` call.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { defaultLedgerPath, PrivacyLedger } from '../privacy/ledger.js';
import type { LoadedModel } from '../model/load.js';
import type { Example } from '../task/data.js';
import { activeBackend } from '../backend/select.js';
import { generate, syntheticSide, type ClassComparison, type GenerateConfig, type GenerateProgress, type GenerateResult, type SyntheticExample } from '../gradmm/generate.js';
import { select, type SelectionOptions, type SelectionReport } from '../selection/select.js';
import { SynthgradError } from '../util/errors.js';
import { toJsonl, writeFileAtomic } from '../util/atomic.js';
import { labelCheck, labelCheckPerClass, type LabelCheck, type LabelCheckClass } from './label-check.js';
import { diagnose, type SetDiagnostics } from './diagnostics.js';

/** Progress of a whole run: GRADMM's own phases, then the label check. */
export type GenerateFileProgress = GenerateProgress | { phase: 'label-check'; done: number; total: number };

export interface GenerateFileOptions {
  /** The JSONL file to write; its folder is created when missing. */
  out: string;
  /** The data file the examples came from (its sha256 guards `resume`; recorded in the sidecar). */
  dataPath: string;
  /** Continue from `out`.checkpoint.json; without it an existing checkpoint is an error. */
  resume?: boolean;
  /** Filter and rank with these options (the label check is measured either way). */
  selection?: SelectionOptions;
  shouldStop?: () => boolean;
  onProgress?: (p: GenerateFileProgress) => void;
  log?: (msg: string) => void;
  /** Threads that run classes (GenerateIO.workers; see synthesisLayout). */
  workers?: number;
  /** The owner's privacy ledger this release is recorded in (default defaultLedgerPath(); null: not recorded). */
  ledgerPath?: string | null;
}

/** The sidecar `out`.meta.json. */
export interface GenerateMeta {
  command: 'generate';
  data: string;
  task: GenerateConfig['task'];
  preset: string;
  config: GenerateConfig;
  model: { path: string; name: string; sha256: string };
  backend: string | undefined;
  privacy: GenerateResult['privacy'] & {
    /** The guarantee of every release of this data recorded in the ledger, this one included (null: not recorded). */
    ledger: { path: string; releases: number; epsilon: number | null; delta: number; sentence: string } | null;
  };
  classes: GenerateResult['classes'];
  /** Per class, the written texts (after selection, when it ran) against random real texts. */
  comparison_with_real: GenerateResult['comparison'];
  /** Per class, how many written texts pass the LM label check. */
  label_consistency: LabelCheckClass[];
  /**
   * With selection, the whole generated pool (null without selection): its comparison with real
   * text, and its LM label check when selection filtered by that check (otherwise only the kept
   * texts are checked, and this is null).
   */
  generated: { comparison_with_real: GenerateResult['comparison']; label_consistency: LabelCheckClass[] | null } | null;
  method: GenerateResult['method'];
  target_classifier: GenerateResult['targetClassifier'];
  /** The domain the targets chose for a task that names none (method.domainSearch), else null. */
  domain: GenerateResult['domain'];
  /** What each class's batches wrote about (method.topics), else null. */
  topics: GenerateResult['topics'];
  /** Per class, the words its target points at (method.targetWords), else null. */
  target_words: GenerateResult['targetWords'];
  /** Per class, how many generated texts the targets' own classifier puts in their class. */
  target_agreement: { label: string | number; generated: number; agreed: number }[];
  selection: { options: SelectionOptions; report: SelectionReport } | null;
  counts: { generated: number; written: number };
  /**
   * Seconds per phase; with several worker threads the phases add up every thread's time.
   * label_check_s is the LM label check after the generation (not in total_s).
   */
  timings: GenerateResult['timings'] & { label_check_s: number; seconds_per_example: number };
  /** Threads that ran classes. */
  workers: number;
  resumed_batches: number;
  finished_at: string;
}

export interface GenerateFileResult {
  meta: GenerateMeta;
  /** The rows written to `out` (after selection when asked). */
  rows: SyntheticExample[];
  diagnostics: SetDiagnostics;
  paths: { out: string; meta: string };
}

export const checkpointPathOf = (out: string) => `${out}.checkpoint.json`;
export const metaPathOf = (out: string) => `${out}.meta.json`;

/** Refuse to start over an earlier run's checkpoint unless resuming (cheap: call it before loading a model). */
export function checkNoStaleCheckpoint(out: string, resume: boolean | undefined): void {
  const cp = checkpointPathOf(out);
  if (!resume && existsSync(cp)) {
    throw new SynthgradError(`${cp} exists from an earlier run: resume it (option resume, flag --resume), or delete it to start over`, 'E_USAGE');
  }
}

export async function generateToFile(rt: LoadedModel, examples: Example[], cfg: GenerateConfig, opts: GenerateFileOptions): Promise<GenerateFileResult> {
  checkNoStaleCheckpoint(opts.out, opts.resume);
  mkdirSync(dirname(opts.out), { recursive: true });
  const sha = await rt.sha256();
  const dataFingerprint = createHash('sha256').update(readFileSync(opts.dataPath)).digest('hex');
  const result = await generate(rt, examples, cfg, {
    checkpointPath: checkpointPathOf(opts.out),
    resume: opts.resume ?? false,
    modelSha256: sha,
    dataFingerprint,
    shouldStop: opts.shouldStop,
    log: opts.log,
    onProgress: opts.onProgress,
    workers: opts.workers,
  });
  // The LM label check is a diagnostic of what is handed over, unless selection filters by it:
  // only then does every generated text need its prediction. cpu-select keeps a sixth of what it
  // generates, so checking the kept texts alone saves five sixths of the check (a minute of the
  // default run on two cores).
  const checkPool = !opts.selection || opts.selection.labelCheck;
  const tc = performance.now();
  const onCheck = (done: number, total: number) => opts.onProgress?.({ phase: 'label-check', done, total });
  const poolCheck = checkPool ? labelCheck(rt, cfg.task, result.examples, onCheck) : null;
  let rows = result.examples;
  let selection: GenerateMeta['selection'] = null;
  if (opts.selection) {
    const sel = select(rows, cfg.task.labels.length, opts.selection, poolCheck?.predicted);
    rows = sel.kept;
    selection = { options: opts.selection, report: sel.report };
  }
  // The verdict describes what is handed over: after selection, the kept texts (a pool of LM
  // samples matches its target worse on average than the texts chosen from it).
  const written = selection
    ? describeWritten(cfg.task, result, poolCheck ?? labelCheck(rt, cfg.task, rows, onCheck), poolCheck ? result.examples : rows, rows)
    : { comparison: result.comparison, labelCheck: poolCheck!.perClass };
  const labelCheckSeconds = (performance.now() - tc) / 1000;
  const paths = { out: opts.out, meta: metaPathOf(opts.out) };
  const labels = cfg.task.labels;
  writeFileAtomic(
    paths.out,
    toJsonl(
      rows.map((r) => ({
        text: r.text,
        label: r.label,
        matching_loss: r.matching_loss,
        perplexity: r.perplexity,
        ...(r.target_label !== undefined ? { target_label: labels[r.target_label].value, target_margin: r.target_margin } : {}),
      })),
    ),
  );
  const fresh = result.examples.length - result.resumedBatches * cfg.settings.batchSize;
  // The synthetic set is a release of the data: counted in the owner's ledger with every earlier one.
  let ledger: GenerateMeta['privacy']['ledger'] = null;
  if (opts.ledgerPath !== null) {
    const book = PrivacyLedger.open(opts.ledgerPath ?? defaultLedgerPath());
    book.record({ data: dataFingerprint, session: `generate:${resolve(opts.out)}`, classes: cfg.task.labels.length, sigma: result.privacy.sigma, sensitivity: cfg.privacy.clip ?? 1, release: result.privacy.release, noise: 'local' });
    const delta = cfg.privacy.delta ?? 1e-5;
    const g = book.guarantee(dataFingerprint, delta);
    ledger = { path: book.path, releases: g.releases, epsilon: Number.isFinite(g.epsilon) ? g.epsilon : null, delta, sentence: g.sentence };
  }
  const meta: GenerateMeta = {
    command: 'generate',
    data: opts.dataPath,
    task: cfg.task,
    preset: cfg.preset,
    config: cfg,
    model: { path: rt.path, name: rt.name, sha256: sha },
    backend: activeBackend()?.name,
    privacy: { ...result.privacy, ledger },
    classes: result.classes,
    comparison_with_real: written.comparison,
    label_consistency: written.labelCheck,
    generated: selection ? { comparison_with_real: result.comparison, label_consistency: poolCheck?.perClass ?? null } : null,
    method: result.method,
    target_classifier: result.targetClassifier,
    domain: result.domain,
    topics: result.topics,
    target_words: result.targetWords,
    target_agreement: labels.map((l, c) => {
      const mine = result.examples.filter((r) => r.labelIndex === c);
      return { label: l.value, generated: mine.length, agreed: mine.filter((r) => r.target_label === c).length };
    }),
    selection,
    counts: { generated: result.examples.length, written: rows.length },
    timings: { ...result.timings, label_check_s: labelCheckSeconds, seconds_per_example: result.timings.total_s / Math.max(1, fresh) },
    workers: result.workers,
    resumed_batches: result.resumedBatches,
    finished_at: new Date().toISOString(),
  };
  writeFileAtomic(paths.meta, JSON.stringify(meta, null, 2) + '\n');
  rmSync(checkpointPathOf(opts.out), { force: true }); // the run is complete; the outputs hold everything
  return { meta, rows, diagnostics: diagnose(cfg.task, written.labelCheck, written.comparison, result.privacy), paths };
}

/**
 * The label check and the comparison with real text restricted to the kept rows (same real
 * sample); `check` holds one prediction for each of `checked` (the whole pool, or the kept rows).
 */
function describeWritten(
  task: GenerateConfig['task'],
  result: GenerateResult,
  check: LabelCheck,
  checked: readonly SyntheticExample[],
  kept: readonly SyntheticExample[],
): { comparison: ClassComparison[]; labelCheck: LabelCheckClass[] } {
  const index = new Map(checked.map((e, i) => [e, i]));
  const labelCheck = labelCheckPerClass(task, kept, kept.map((e) => check.predicted[index.get(e)!]));
  const comparison = result.comparison.map((cmp) => {
    const c = task.labels.findIndex((l) => String(l.value) === String(cmp.label));
    return { ...cmp, ...syntheticSide(kept.filter((e) => e.labelIndex === c)) };
  });
  return { comparison, labelCheck };
}

/** The diagnostics of an earlier run, from its sidecar (null when there is none or it is unreadable). */
export function readGenerateDiagnostics(out: string): { meta: GenerateMeta; diagnostics: SetDiagnostics } | null {
  let meta: GenerateMeta;
  try {
    meta = JSON.parse(readFileSync(metaPathOf(out), 'utf8')) as GenerateMeta;
  } catch {
    return null;
  }
  if (!meta?.task?.labels) return null;
  return { meta, diagnostics: diagnose(meta.task, meta.label_consistency, meta.comparison_with_real, meta.privacy) };
}
