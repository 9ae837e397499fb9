/** Timing helpers for benchmarks: warm-up, repeats, median. */
export interface Timing {
  median_s: number;
  min_s: number;
  runs: number;
}

export async function time(fn: () => void | Promise<void>, opts: { warmup?: number; runs?: number } = {}): Promise<Timing> {
  for (let i = 0; i < (opts.warmup ?? 1); i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < (opts.runs ?? 3); i++) {
    const t0 = performance.now();
    await fn();
    samples.push((performance.now() - t0) / 1000);
  }
  samples.sort((a, b) => a - b);
  return { median_s: round(samples[Math.floor(samples.length / 2)]), min_s: round(samples[0]), runs: samples.length };
}

export const round = (x: number, digits = 4) => Number(x.toFixed(digits));
