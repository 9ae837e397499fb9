/**
 * A self-contained HTML report of a comparison (no scripts, no external assets): the table,
 * accuracy bars with error bars and the chance line, dev-accuracy and training-loss curves (one
 * colour per row across all charts), the synthetic sets' own diagnostics, example texts per row.
 */
import type { RowResult } from '../compare.js';

export interface ReportInput {
  title: string;
  /** Key facts shown under the title (files, model, mode, settings, time). */
  facts: [string, string][];
  rows: RowResult[];
  warnings: string[];
  /** Accuracy of guessing (1 / number of labels); drawn as a line when given. */
  chance?: number;
}

/** A dev split smaller than this decides the checkpoint by noise; the report says so. */
export const MIN_DEV_TEXTS = 20;

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const pct = (x: number) => `${(x * 100).toFixed(1)}`;
const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

/** "75.0% ± 7.1 (n=2)", or "59.0% (n=1)": no spread is claimed from one seed. */
export function accuracyText(a: { mean: number; std: number; perSeed: number[] }): string {
  const n = a.perSeed.length;
  return n > 1 ? `${pct(a.mean)}% ± ${pct(a.std)} (n=${n})` : `${pct(a.mean)}% (n=${n})`;
}

type ColorOf = (name: string) => string;

function accuracyBars(rows: RowResult[], colorOf: ColorOf, chance?: number): string {
  const W = 720;
  const rowH = 28;
  const left = 170;
  const H = rows.length * rowH + 40;
  const x = (a: number) => left + a * (W - left - 20);
  const ticks = [0, 0.25, 0.5, 0.75, 1]
    .map((t) => `<line x1="${x(t)}" y1="10" x2="${x(t)}" y2="${H - 25}" stroke="#ddd"/><text x="${x(t)}" y="${H - 8}" text-anchor="middle" font-size="11">${t * 100}%</text>`)
    .join('');
  const bars = rows
    .map((r, i) => {
      const y = 14 + i * rowH;
      const { mean, std } = r.accuracy;
      const err = std > 0 && r.accuracy.perSeed.length > 1 ? `<line x1="${x(Math.max(0, mean - std))}" y1="${y + 9}" x2="${x(Math.min(1, mean + std))}" y2="${y + 9}" stroke="#222" stroke-width="1.5"/><line x1="${x(Math.max(0, mean - std))}" y1="${y + 4}" x2="${x(Math.max(0, mean - std))}" y2="${y + 14}" stroke="#222"/><line x1="${x(Math.min(1, mean + std))}" y1="${y + 4}" x2="${x(Math.min(1, mean + std))}" y2="${y + 14}" stroke="#222"/>` : '';
      return `<text x="${left - 8}" y="${y + 13}" text-anchor="end" font-size="12">${esc(r.name)}</text><rect x="${x(0)}" y="${y}" width="${x(mean) - x(0)}" height="18" fill="${colorOf(r.name)}"/>${err}<text x="${x(mean) + 6}" y="${y + 13}" font-size="11">${accuracyText(r.accuracy)}</text>`;
    })
    .join('');
  const chanceLine =
    chance === undefined
      ? ''
      : `<line class="chance" x1="${x(chance)}" y1="6" x2="${x(chance)}" y2="${H - 25}" stroke="#c00" stroke-dasharray="4 3"/><text x="${x(chance) + 4}" y="${H - 27}" font-size="10" fill="#c00">chance ${pct(chance)}%</text>`;
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="test accuracy per row">${ticks}${bars}${chanceLine}</svg>`;
}

function lineChart(
  series: { name: string; points: [number, number][] }[],
  colorOf: ColorOf,
  opts: { yLabel: string; yMin?: number; yMax?: number; percent?: boolean; chance?: number },
): string {
  const W = 720;
  const H = 260;
  const pad = { l: 64, r: 150, t: 10, b: 30 };
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return '<p>(no data)</p>';
  const xMax = Math.max(...all.map((p) => p[0]), 1);
  const yMin = opts.yMin ?? Math.min(...all.map((p) => p[1]));
  const yMax = opts.yMax ?? Math.max(...all.map((p) => p[1]));
  const sx = (v: number) => pad.l + (v / xMax) * (W - pad.l - pad.r);
  const sy = (v: number) => H - pad.b - ((v - yMin) / (yMax - yMin || 1)) * (H - pad.t - pad.b);
  const fmt = (v: number) => (opts.percent ? `${Math.round(v * 100)}%` : v.toFixed(2));
  const grid = [0, 0.5, 1]
    .map((f) => yMin + f * (yMax - yMin))
    .map((v) => `<line x1="${pad.l}" y1="${sy(v)}" x2="${W - pad.r}" y2="${sy(v)}" stroke="#eee"/><text x="${pad.l - 6}" y="${sy(v) + 4}" text-anchor="end" font-size="11">${fmt(v)}</text>`)
    .join('');
  const lines = series
    .map((s, i) => {
      const c = colorOf(s.name);
      const d = s.points.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' ');
      return `<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${d}"/><text x="${W - pad.r + 8}" y="${pad.t + 14 + i * 16}" font-size="11" fill="${c}">${esc(s.name)}</text>`;
    })
    .join('');
  const yLabel = `<text class="ylabel" transform="translate(14 ${(pad.t + H - pad.b) / 2}) rotate(-90)" text-anchor="middle" font-size="11">${esc(opts.yLabel)}</text>`;
  const xLabel = `<text x="${(pad.l + W - pad.r) / 2}" y="${H - 8}" text-anchor="middle" font-size="11">training step</text>`;
  const chance =
    opts.chance === undefined || opts.chance < yMin || opts.chance > yMax
      ? ''
      : `<line class="chance" x1="${pad.l}" y1="${sy(opts.chance)}" x2="${W - pad.r}" y2="${sy(opts.chance)}" stroke="#c00" stroke-dasharray="4 3"/><text x="${W - pad.r - 4}" y="${sy(opts.chance) - 4}" text-anchor="end" font-size="10" fill="#c00">chance</text>`;
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(opts.yLabel)}">${grid}${yLabel}${xLabel}<text x="${pad.l}" y="${H - 8}" font-size="11">0</text><text x="${W - pad.r}" y="${H - 8}" text-anchor="end" font-size="11">${xMax}</text>${chance}${lines}</svg>`;
}

/** Moving average so per-step mini-batch losses read as a curve. */
const smooth = (pts: [number, number][], w = 10): [number, number][] =>
  pts.map((p, i) => {
    const win = pts.slice(Math.max(0, i - w + 1), i + 1);
    return [p[0], win.reduce((a, q) => a + q[1], 0) / win.length];
  });

/** The synthetic sets' own diagnostics (label check, matching loss against real text, privacy). */
function diagnosticsSection(rows: RowResult[]): string {
  const withDiag = rows.filter((r) => r.diagnostics);
  if (withDiag.length === 0) return '';
  const body = withDiag
    .flatMap((r) =>
      r.diagnostics!.classes.map(
        (c, i) =>
          `<tr>${i === 0 ? `<td rowspan="${r.diagnostics!.classes.length}">${esc(r.name)}</td>` : ''}<td>${esc(c.name)}</td><td>${c.labelCheck ? `${c.labelCheck.passed}/${c.labelCheck.generated} (${Math.round(c.labelCheck.rate * 100)}%)` : '–'}</td><td>${c.matchingLoss ? `${c.matchingLoss.synthetic.toFixed(3)} vs ${c.matchingLoss.real.toFixed(3)}` : '–'}</td><td>${c.perplexity ? `${c.perplexity.synthetic.toFixed(0)} vs ${c.perplexity.real.toFixed(0)}` : '–'}</td>${i === 0 ? `<td rowspan="${r.diagnostics!.classes.length}">${r.diagnostics!.privacy.epsilon === null ? 'none' : `(${r.diagnostics!.privacy.epsilon}, ${r.diagnostics!.privacy.delta})-DP`}</td>` : ''}</tr>`,
      ),
    )
    .join('');
  const warns = withDiag.flatMap((r) => r.diagnostics!.warnings.map((w) => `<p class="warn">${esc(r.name)}: ${esc(w)}</p>`)).join('');
  return `<section><h2>Synthetic sets: what the generator measured</h2><table><thead><tr><th>row</th><th>class</th><th>LM label check</th><th>matching loss (synthetic vs real)</th><th>perplexity (synthetic vs real)</th><th>privacy</th></tr></thead><tbody>${body}</tbody></table>${warns}</section>`;
}

/** Warnings the report adds itself: checkpoints chosen on a tiny dev split. */
export function reportWarnings(rows: RowResult[]): string[] {
  const out: string[] = [];
  for (const r of rows) {
    const sizes = r.runs.map((u) => u.devSize).filter((n): n is number => typeof n === 'number');
    if (sizes.length && Math.min(...sizes) < MIN_DEV_TEXTS) {
      out.push(`${r.name}: the checkpoint was chosen on a dev split of ${Math.min(...sizes)} texts (fewer than ${MIN_DEV_TEXTS}); its "best step" is mostly noise`);
    }
  }
  return out;
}

export function renderReport(r: ReportInput): string {
  const ft = r.rows.filter((x) => x.kind === 'finetune');
  // One colour per row, the same in the bars and in both curve charts.
  const colorOf: ColorOf = (name) => COLORS[Math.max(0, r.rows.findIndex((x) => x.name === name)) % COLORS.length];
  const warnings = [...r.warnings, ...reportWarnings(r.rows)];
  const genMin = (x: RowResult) => x.generationMinutes ?? 0;
  const table = `<table><thead><tr><th>row</th><th>training texts</th><th>accuracy (mean ± std, n seeds)</th><th>per seed</th><th>best dev step (per seed)</th><th>dev texts</th><th>perplexity of training texts</th><th>generation min</th><th>training min</th></tr></thead><tbody>${r.rows
    .map(
      (x) =>
        `<tr><td><span class="sw" style="background:${colorOf(x.name)}"></span>${esc(x.name)}</td><td>${x.trainSize}</td><td>${accuracyText(x.accuracy)}</td><td>${x.accuracy.perSeed.map(pct).join(', ')}</td><td>${x.runs.map((u) => u.bestStep).join(', ') || '–'}</td><td>${x.runs.length ? [...new Set(x.runs.map((u) => u.devSize ?? '?'))].join(', ') : '–'}</td><td>${x.trainPerplexity === null ? '–' : x.trainPerplexity.toFixed(1)}</td><td>${genMin(x) ? genMin(x).toFixed(1) : '–'}</td><td>${(x.minutes - genMin(x)).toFixed(1)}</td></tr>`,
    )
    .join('')}</tbody></table>`;
  const devSeries = ft.map((x) => ({ name: x.name, points: (x.runs[0]?.dev ?? []).map((d) => [d.step, d.accuracy] as [number, number]) }));
  const lossSeries = ft.map((x) => ({ name: x.name, points: smooth((x.runs[0]?.loss ?? []).map((d) => [d.step, d.value] as [number, number])) }));
  const examples = r.rows
    .filter((x) => x.examples.length)
    .map((x) => `<h3>${esc(x.name)}</h3><ul>${x.examples.map((e) => `<li><span class="lab">${esc(e.label)}</span> ${esc(e.text)}</li>`).join('')}</ul>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;max-width:980px;margin:24px auto;padding:0 16px;color:#222;background:#fff}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f4f4f4}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px}dt{font-weight:600}
.warn{background:#fff4e5;border-left:4px solid #f28e2b;padding:6px 10px}.lab{display:inline-block;min-width:64px;color:#666}
.sw{display:inline-block;width:10px;height:10px;margin-right:6px}
li{margin:3px 0}
</style></head><body>
<h1>${esc(r.title)}</h1>
<section><h2>Setup</h2><dl>${r.facts.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>
${warnings.map((w) => `<p class="warn">${esc(w)}</p>`).join('')}</section>
<section><h2>Results</h2>${table}<h3>Test accuracy (error bars: one standard deviation over seeds; dashed: chance)</h3>${accuracyBars(r.rows, colorOf, r.chance)}</section>
${diagnosticsSection(r.rows)}
<section><h2>Training curves (seed 0)</h2><h3>Dev accuracy (the checkpoint is chosen on it, never on the test set)</h3>${lineChart(devSeries, colorOf, { yLabel: 'dev accuracy', yMin: 0, yMax: 1, percent: true, chance: r.chance })}
<h3>Training loss (moving average of 10 steps)</h3>${lineChart(lossSeries, colorOf, { yLabel: 'training loss (cross-entropy)', yMin: 0 })}</section>
<section><h2>Example training texts</h2>${examples}</section>
</body></html>
`;
}
