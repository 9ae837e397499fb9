/**
 * Whether a synthetic set is any good, from what `generate` measured: the LM label check per
 * class, the matching loss of the synthetic texts against that of real texts of the same class,
 * perplexity, and the privacy spent. Pure functions of the sidecar's numbers, so the CLI's final
 * screen and the evaluation report say the same thing.
 */
import { alignColumns } from '../util/columns.js';
import type { ClassComparison } from '../gradmm/generate.js';
import type { PrivacyReport } from '../gradmm/targets.js';
import type { Task } from '../task/task.js';
import type { LabelCheckClass } from './label-check.js';

/** Below this share of a class passing the LM label check, the set is flagged. */
export const LABEL_CHECK_MIN_PASS = 0.7;

export interface ClassDiagnostics {
  label: string | number;
  name: string;
  labelCheck: { passed: number; generated: number; rate: number } | null;
  matchingLoss: { synthetic: number; real: number } | null;
  perplexity: { synthetic: number; real: number } | null;
}

export interface SetDiagnostics {
  classes: ClassDiagnostics[];
  privacy: { epsilon: number | null; delta: number | null; sigma: number };
  /** Plain sentences, empty when nothing looks wrong. */
  warnings: string[];
}

export function diagnose(
  task: Task,
  labelCheck: readonly LabelCheckClass[] | null | undefined,
  comparison: readonly ClassComparison[] | null | undefined,
  privacy: Pick<PrivacyReport, 'epsilon' | 'delta' | 'sigma'> | null | undefined,
): SetDiagnostics {
  const warnings: string[] = [];
  const classes = task.labels.map((l): ClassDiagnostics => {
    const lc = labelCheck?.find((x) => String(x.label) === String(l.value));
    const cmp = comparison?.find((x) => String(x.label) === String(l.value));
    const d: ClassDiagnostics = {
      label: l.value,
      name: l.name,
      labelCheck: lc ? { passed: lc.passed, generated: lc.generated, rate: lc.generated ? lc.passed / lc.generated : 0 } : null,
      matchingLoss: cmp ? { synthetic: cmp.synthetic_matching_loss, real: cmp.real_matching_loss } : null,
      perplexity: cmp ? { synthetic: cmp.synthetic_perplexity, real: cmp.real_perplexity } : null,
    };
    if (d.labelCheck && d.labelCheck.generated > 0 && d.labelCheck.rate < LABEL_CHECK_MIN_PASS) {
      warnings.push(
        `only ${d.labelCheck.passed}/${d.labelCheck.generated} (${pct(d.labelCheck.rate)}) of the "${l.name}" texts pass the LM label check (below ${pct(LABEL_CHECK_MIN_PASS)}): a classifier trained on them may learn the wrong label`,
      );
    }
    if (d.matchingLoss && d.matchingLoss.synthetic > d.matchingLoss.real) {
      warnings.push(
        `the "${l.name}" texts match the class gradient worse than real text does (matching loss ${d.matchingLoss.synthetic.toFixed(3)} against ${d.matchingLoss.real.toFixed(3)}): the gradient matching did not reach its goal`,
      );
    }
    return d;
  });
  return { classes, privacy: { epsilon: privacy?.epsilon ?? null, delta: privacy?.delta ?? null, sigma: privacy?.sigma ?? 0 }, warnings };
}

/** The diagnostics as aligned text lines (what `generate` prints at the end). */
export function formatDiagnostics(d: SetDiagnostics): string[] {
  const rows = d.classes.map((c) => [
    c.name,
    c.labelCheck ? `${c.labelCheck.passed}/${c.labelCheck.generated} (${pct(c.labelCheck.rate)})` : '-',
    c.matchingLoss ? `${c.matchingLoss.synthetic.toFixed(3)} vs ${c.matchingLoss.real.toFixed(3)}` : '-',
    c.perplexity ? `${c.perplexity.synthetic.toFixed(0)} vs ${c.perplexity.real.toFixed(0)}` : '-',
  ]);
  const head = ['class', 'label check', 'matching loss (syn vs real)', 'perplexity (syn vs real)'];
  const out = alignColumns([head, ...rows]);
  out.push(
    d.privacy.epsilon === null
      ? 'privacy: none (exact class targets; the set is not differentially private)'
      : `privacy: (${d.privacy.epsilon}, ${d.privacy.delta})-DP, noise sigma ${d.privacy.sigma.toPrecision(3)} per class sum`,
  );
  for (const w of d.warnings) out.push(`WARNING: ${w}`);
  if (d.warnings.length === 0) out.push(`every class passes the label check (>= ${pct(LABEL_CHECK_MIN_PASS)}) and matches its target at least as well as real text`);
  return out;
}

const pct = (x: number) => `${Math.round(x * 100)}%`;
