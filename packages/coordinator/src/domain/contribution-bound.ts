/**
 * What an honest contribution can look like, fixed by the session: per-example clip C, at most
 * n examples in one participant's class sum, Gaussian noise N(0, sigma^2) on each of the D
 * entries. The payload is x = S + N with ||S|| <= n C. The coordinator refuses what no honest
 * client produces except with negligible probability (each tail below is < e^-32):
 *
 *  - ||x|| <= n C + sigma (sqrt(D) + 8): a chi variable with D degrees of freedom exceeds
 *    sqrt(D) + t with probability <= exp(-t^2 / 2), so one participant cannot dominate the sum;
 *  - ||x|| >= sigma (sqrt(D) - 8) - n C: the same tail on the other side, so the noise cannot
 *    be left out when it is larger than the signal (the usual case; see the README's caveat);
 *  - #{i : |x_i| >= sigma / 2} >= 0.3173 D - 4 sqrt(D) - 4 (n C / sigma)^2: about 31.73% of the
 *    noise entries have |N_i| >= sigma (Hoeffding: fewer than 0.3173 D - 4 sqrt(D) with
 *    probability <= e^-32), and the signal can pull at most ||S||^2 / (sigma/2)^2 of them below
 *    sigma / 2. This catches a missing or shrunken noise even when n C is large, e.g. an all-zero
 *    "noised" payload or noise scaled down.
 */
export interface SessionBound {
  clip: number;
  /** Largest number of examples one participant may sum into one class contribution. */
  maxExamples: number;
  /** The noise standard deviation the session fixes (0 for a session without noise). */
  sigma: number;
  /** Entries of a contribution (vocab_size x d_model). */
  elements: number;
}

export interface NormLimits {
  maxNorm: number;
  minNorm: number;
  /** Least number of entries with |x_i| >= sigma / 2 (0: not checked). */
  minLargeEntries: number;
}

const TAIL = 8;

/** A bound for a message: six significant digits, and a plain 0. */
export const fmt = (x: number) => (x === 0 ? '0' : String(Number(x.toPrecision(6))));
/** P(|N(0,1)| >= 1). */
const P_ONE_SIGMA = 0.31731;

export function normLimits(b: SessionBound): NormLimits {
  const signal = b.maxExamples * b.clip;
  const root = Math.sqrt(b.elements);
  if (!(b.sigma > 0)) return { maxNorm: signal, minNorm: 0, minLargeEntries: 0 };
  return {
    maxNorm: signal + b.sigma * (root + TAIL),
    minNorm: Math.max(0, b.sigma * (root - TAIL) - signal),
    minLargeEntries: Math.max(0, Math.floor(P_ONE_SIGMA * b.elements - 4 * root - 4 * (signal / b.sigma) ** 2)),
  };
}

/** A sentence that names the bound, for refusals. */
export function describeBound(b: SessionBound): string {
  return `clip ${b.clip} x max_examples ${b.maxExamples}${b.sigma > 0 ? ` + noise sigma ${fmt(b.sigma)} over ${b.elements} entries` : ''}`;
}

/** Statistics of a payload computed in one pass (see verify-payload.ts). */
export interface PayloadStats {
  norm: number;
  largeEntries: number;
}

/** Why a payload with these statistics cannot come from an honest client, or undefined. */
export function boundViolation(stats: PayloadStats, b: SessionBound): string | undefined {
  const l = normLimits(b);
  if (stats.norm > l.maxNorm * (1 + 1e-6)) return `contribution norm ${fmt(stats.norm)} exceeds the session's bound ${fmt(l.maxNorm)} (${describeBound(b)})`;
  if (stats.norm < l.minNorm) return `contribution norm ${fmt(stats.norm)} is below ${fmt(l.minNorm)}, the least the session's noise allows (${describeBound(b)}): the noise is missing`;
  if (stats.largeEntries < l.minLargeEntries) {
    return `only ${stats.largeEntries} of ${b.elements} entries are at least sigma/2 in magnitude; the session's noise (${describeBound(b)}) gives at least ${l.minLargeEntries}: the noise is missing or too small`;
  }
  return undefined;
}
