/**
 * Composition of Gaussian releases. Every release synthgrad makes is a Gaussian mechanism: a sum
 * of per-example terms clipped to L2 norm C (sensitivity C under add/remove-one) plus N(0, s^2)
 * on every coordinate. Gaussian mechanisms compose exactly in Gaussian differential privacy
 * (Dong, Roth & Su, JRSS-B 2022, Corollary 2): releases with mu_i = C_i / s_i together are
 * mu-GDP with mu = sqrt(sum mu_i^2), whose privacy profile is exactly
 *
 *   delta(eps) = Phi(-eps/mu + mu/2) - e^eps Phi(-eps/mu - mu/2)
 *
 * (the analytic Gaussian of a single release with sigma/sens = 1/mu). So the ledger's epsilon is
 * tight, not a bound; Rényi (moments) accounting is kept for comparison, as dp-accounting's
 * RdpAccountant computes it, and is never smaller.
 *
 * Parallel composition: under add/remove-one, one example lies in exactly one class, so one
 * session's per-class releases cost one release's mu, not their sum (each class sum is computed
 * from disjoint examples). Sessions on the same data compose sequentially.
 */
import { SynthgradError } from '../util/errors.js';
import { gaussianDelta } from './analytic-gaussian.js';

export interface GaussianRelease {
  /** Noise standard deviation on every released coordinate. */
  sigma: number;
  /** L2 sensitivity of the released sum (the clip norm C under add/remove-one). */
  sensitivity: number;
}

/** mu of the composition (sqrt of the sum of (C_i / s_i)^2); Infinity when a release had no noise. */
export function composedMu(releases: GaussianRelease[]): number {
  let sq = 0;
  for (const r of releases) {
    if (!(r.sensitivity > 0)) throw new SynthgradError(`a release needs a positive sensitivity, got ${r.sensitivity}`, 'E_INPUT');
    if (!(r.sigma >= 0)) throw new SynthgradError(`a release needs a non-negative sigma, got ${r.sigma}`, 'E_INPUT');
    if (r.sigma === 0) return Infinity;
    sq += (r.sensitivity / r.sigma) ** 2;
  }
  return Math.sqrt(sq);
}

/** delta(eps) of mu-GDP. */
export const gdpDelta = (epsilon: number, mu: number): number => (mu === 0 ? 0 : gaussianDelta(epsilon, 1, mu));

/** The smallest epsilon >= 0 with delta(eps) <= delta under mu-GDP (Infinity without noise). */
export function gdpEpsilon(mu: number, delta: number): number {
  if (!(delta > 0 && delta < 1)) throw new SynthgradError(`delta must be in (0, 1), got ${delta}`, 'E_USAGE');
  if (mu === 0) return 0;
  if (!Number.isFinite(mu)) return Infinity;
  if (gdpDelta(0, mu) <= delta) return 0;
  let lo = 0;
  let hi = 1;
  while (gdpDelta(hi, mu) > delta) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (gdpDelta(mid, mu) > delta) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** The orders dp-accounting's RdpAccountant uses by default. */
export const DEFAULT_RDP_ORDERS: number[] = [
  ...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10),
  ...Array.from({ length: 53 }, (_, x) => 11 + x),
  128,
  256,
  512,
  1024,
];

/**
 * (eps, delta) by Rényi accounting: RDP(alpha) = alpha mu^2 / 2 for the composed Gaussians, then
 * the conversion of Canonne, Kamath & Steinke (2020) that dp-accounting applies,
 * eps = RDP - (ln delta + ln alpha) / (alpha - 1) + ln((alpha - 1) / alpha), minimised over orders.
 */
export function rdpEpsilon(mu: number, delta: number, orders: number[] = DEFAULT_RDP_ORDERS): { epsilon: number; order: number } {
  return epsilonFromRdp((a) => (a * mu * mu) / 2, delta, orders);
}

/** The RDP -> (eps, delta) conversion above for any RDP curve `rdpAt(alpha)`, as dp-accounting's compute_epsilon. */
export function epsilonFromRdp(rdpAt: (alpha: number) => number, delta: number, orders: number[] = DEFAULT_RDP_ORDERS): { epsilon: number; order: number } {
  if (!(delta > 0 && delta < 1)) throw new SynthgradError(`delta must be in (0, 1), got ${delta}`, 'E_USAGE');
  let best = { epsilon: Infinity, order: NaN };
  for (const a of orders) {
    const r = rdpAt(a);
    let eps: number;
    if (delta ** 2 + Math.expm1(-r) > 0) eps = 0; // the KL bound already gives delta
    else if (a > 1.01) eps = r + Math.log1p(-1 / a) - Math.log(delta * a) / (a - 1);
    else eps = Infinity; // unstable as alpha -> 1, and never the best
    if (eps < best.epsilon) best = { epsilon: Math.max(0, eps), order: a };
  }
  return best;
}
