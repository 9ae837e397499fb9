/**
 * A self-contained HTML report of a comparison (no scripts, no external assets): the table,
 * accuracy bars with error bars, dev-accuracy and training-loss curves, example texts per row.
 */
import type { RowResult } from '../compare.js';

export interface ReportInput {
  title: string;
  /** Key facts shown under the title (files, model, mode, settings, time). */
  facts: [string, string][];
  rows: RowResult[];
  warnings: string[];
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const pct = (x: number) => `${(x * 100).toFixed(1)}`;
const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

function accuracyBars(rows: RowResult[]): string {
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
      const err = std > 0 ? `<line x1="${x(Math.max(0, mean - std))}" y1="${y + 9}" x2="${x(Math.min(1, mean + std))}" y2="${y + 9}" stroke="#222" stroke-width="1.5"/><line x1="${x(Math.max(0, mean - std))}" y1="${y + 4}" x2="${x(Math.max(0, mean - std))}" y2="${y + 14}" stroke="#222"/><line x1="${x(Math.min(1, mean + std))}" y1="${y + 4}" x2="${x(Math.min(1, mean + std))}" y2="${y + 14}" stroke="#222"/>` : '';
      return `<text x="${left - 8}" y="${y + 13}" text-anchor="end" font-size="12">${esc(r.name)}</text><rect x="${x(0)}" y="${y}" width="${x(mean) - x(0)}" height="18" fill="${COLORS[i % COLORS.length]}"/>${err}<text x="${x(mean) + 6}" y="${y + 13}" font-size="11">${pct(mean)}%${std > 0 ? ` ± ${pct(std)}` : ''}</text>`;
    })
    .join('');
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="test accuracy per row">${ticks}${bars}</svg>`;
}

function lineChart(series: { name: string; points: [number, number][] }[], opts: { yLabel: string; yMin?: number; yMax?: number; percent?: boolean }): string {
  const W = 720;
  const H = 260;
  const pad = { l: 50, r: 150, t: 10, b: 30 };
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
      const c = COLORS[i % COLORS.length];
      const d = s.points.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' ');
      return `<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${d}"/><text x="${W - pad.r + 8}" y="${pad.t + 14 + i * 16}" font-size="11" fill="${c}">${esc(s.name)}</text>`;
    })
    .join('');
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(opts.yLabel)}">${grid}<text x="${pad.l}" y="${H - 8}" font-size="11">step 0</text><text x="${W - pad.r}" y="${H - 8}" text-anchor="end" font-size="11">step ${xMax}</text>${lines}</svg>`;
}

/** Moving average so per-step mini-batch losses read as a curve. */
const smooth = (pts: [number, number][], w = 10): [number, number][] =>
  pts.map((p, i) => {
    const win = pts.slice(Math.max(0, i - w + 1), i + 1);
    return [p[0], win.reduce((a, q) => a + q[1], 0) / win.length];
  });

export function renderReport(r: ReportInput): string {
  const ft = r.rows.filter((x) => x.kind === 'finetune');
  const table = `<table><thead><tr><th>row</th><th>training texts</th><th>accuracy (mean ± std)</th><th>per seed</th><th>best dev step (per seed)</th><th>perplexity of training texts</th><th>minutes</th></tr></thead><tbody>${r.rows
    .map(
      (x) =>
        `<tr><td>${esc(x.name)}</td><td>${x.trainSize}</td><td>${pct(x.accuracy.mean)}% ± ${pct(x.accuracy.std)}</td><td>${x.accuracy.perSeed.map(pct).join(', ')}</td><td>${x.runs.map((u) => u.bestStep).join(', ') || '–'}</td><td>${x.trainPerplexity === null ? '–' : x.trainPerplexity.toFixed(1)}</td><td>${x.minutes.toFixed(1)}</td></tr>`,
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
body{font:14px/1.45 system-ui,sans-serif;max-width:980px;margin:24px auto;padding:0 16px;color:#222}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f4f4f4}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px}dt{font-weight:600}
.warn{background:#fff4e5;border-left:4px solid #f28e2b;padding:6px 10px}.lab{display:inline-block;min-width:64px;color:#666}
li{margin:3px 0}
</style></head><body>
<h1>${esc(r.title)}</h1>
<section><h2>Setup</h2><dl>${r.facts.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>
${r.warnings.map((w) => `<p class="warn">${esc(w)}</p>`).join('')}</section>
<section><h2>Results</h2>${table}<h3>Test accuracy (error bars: one standard deviation over seeds)</h3>${accuracyBars(r.rows)}</section>
<section><h2>Training curves (seed 0)</h2><h3>Dev accuracy (the checkpoint is chosen on it, never on the test set)</h3>${lineChart(devSeries, { yLabel: 'dev accuracy', yMin: 0, yMax: 1, percent: true })}
<h3>Training loss (moving average of 10 steps)</h3>${lineChart(lossSeries, { yLabel: 'training loss', yMin: 0 })}</section>
<section><h2>Example training texts</h2>${examples}</section>
</body></html>
`;
}
