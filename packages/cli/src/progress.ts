/** A one-line progress bar with ETA on stderr (plain lines when stderr is not a terminal). */
export class ProgressBar {
  private readonly start = Date.now();
  private lastPlain = 0;

  constructor(private readonly label: string) {}

  update(fraction: number, detail: string): void {
    const f = Math.min(1, Math.max(0, fraction));
    const elapsed = (Date.now() - this.start) / 1000;
    const eta = f > 0 ? (elapsed * (1 - f)) / f : NaN;
    const text = `${this.label} ${(f * 100).toFixed(1).padStart(5)}% | ${fmt(elapsed)} elapsed | ETA ${Number.isFinite(eta) ? fmt(eta) : '?'} | ${detail}`;
    if (process.stderr.isTTY) {
      const width = 20;
      const bar = '#'.repeat(Math.round(f * width)).padEnd(width, '.');
      process.stderr.write(`\r[${bar}] ${text}`.slice(0, (process.stderr.columns ?? 120) - 1).padEnd((process.stderr.columns ?? 120) - 1));
    } else if (Date.now() - this.lastPlain > 15_000 || f === 1) {
      this.lastPlain = Date.now();
      process.stderr.write(`${text}\n`);
    }
  }

  done(): void {
    if (process.stderr.isTTY) process.stderr.write('\n');
  }
}

export function fmt(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}
