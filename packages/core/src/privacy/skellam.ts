/**
 * The Skellam mechanism (Agarwal, Kairouz & Liu, NeurIPS 2021), the noise of distributed DP under
 * secure aggregation. Sk(mu) = Poisson(mu) - Poisson(mu) is integer-valued with variance 2 mu,
 * and independent Skellams add exactly: k parties that each add Sk(mu / k) to their integer
 * vectors leave Sk(mu) on the sum, so the coordinator's sum carries exactly the central noise
 * while no party's own noise is enough on its own (and secure aggregation hides each party's
 * vector anyway). A Gaussian of variance sigma^2 / k per party does not have this property once
 * each party quantises its noisy vector for the ring: the sum of k quantised Gaussians is not a
 * Gaussian, and its privacy would need its own analysis; Skellam needs none.
 *
 * Privacy (their Theorem 3.5): adding Sk(mu) to every coordinate of an integer query with L1 and
 * L2 sensitivities D1, D2 is (alpha, eps(alpha))-RDP for every integer-free order alpha > 1 with
 *
 *   eps(alpha) <= alpha D2^2 / (4 mu) + min( ((2 alpha - 1) D2^2 + 6 D1) / (16 mu^2), 3 D1 / (4 mu) )
 *
 * The first term is the Gaussian mechanism's RDP at variance 2 mu; the rest vanishes as mu grows.
 * The tests check the bound against the exact one-dimensional Rényi divergence.
 */
import { SynthgradError } from '../util/errors.js';
import { DEFAULT_RDP_ORDERS, epsilonFromRdp } from './accountant.js';
import type { SecureStream } from './secure-stream.js';

/** The RDP bound above at order alpha. */
export function skellamRdp(alpha: number, mu: number, l1: number, l2: number): number {
  if (!(mu > 0)) throw new SynthgradError(`Skellam: mu must be positive, got ${mu}`, 'E_INPUT');
  return (alpha * l2 * l2) / (4 * mu) + Math.min(((2 * alpha - 1) * l2 * l2 + 6 * l1) / (16 * mu * mu), (3 * l1) / (4 * mu));
}

/** (eps, delta) of `compositions` Skellam releases by RDP (accountant.ts's conversion). */
export function skellamEpsilon(mu: number, l1: number, l2: number, delta: number, compositions = 1, orders: number[] = DEFAULT_RDP_ORDERS): number {
  return epsilonFromRdp((a) => compositions * skellamRdp(a, mu, l1, l2), delta, orders).epsilon;
}

/** The smallest mu (to 1e-6 relative) at which one Skellam release is (epsilon, delta)-DP. */
export function skellamMuFor(epsilon: number, delta: number, l1: number, l2: number): number {
  if (!(epsilon > 0 && delta > 0 && delta < 1 && l2 > 0 && l1 >= l2)) throw new SynthgradError('Skellam: need epsilon > 0, delta in (0, 1) and l1 >= l2 > 0', 'E_USAGE');
  let lo = 0;
  let hi = l2 * l2;
  while (skellamEpsilon(hi, l1, l2, delta) > epsilon) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-6 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (skellamEpsilon(mid, l1, l2, delta) > epsilon) lo = mid;
    else hi = mid;
  }
  return hi;
}

/**
 * One Poisson(lambda) draw from a secure stream: inversion for small lambda, else Hörmann's
 * transformed rejection with squeeze (PTRS, 1993), exact for any lambda >= 10.
 */
export function samplePoisson(lambda: number, rng: Pick<SecureStream, 'uniform'>): number {
  if (!(lambda >= 0) || !Number.isFinite(lambda)) throw new SynthgradError(`Poisson: lambda must be finite and >= 0, got ${lambda}`, 'E_INPUT');
  if (lambda === 0) return 0;
  if (lambda < 10) {
    let k = 0;
    let p = Math.exp(-lambda);
    let s = p;
    const u = rng.uniform();
    while (u > s && k < 1000) {
      k++;
      p *= lambda / k;
      s += p;
    }
    return k;
  }
  const slam = Math.sqrt(lambda);
  const loglam = Math.log(lambda);
  const b = 0.931 + 2.53 * slam;
  const a = -0.059 + 0.02483 * b;
  const invalpha = 1.1239 + 1.1328 / (b - 3.4);
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const U = rng.uniform() - 0.5;
    const V = rng.uniform();
    const us = 0.5 - Math.abs(U);
    const k = Math.floor(((2 * a) / us + b) * U + lambda + 0.43);
    if (us >= 0.07 && V <= vr) return k;
    if (k < 0 || (us < 0.013 && V > us)) continue;
    if (Math.log(V) + Math.log(invalpha) - Math.log(a / (us * us) + b) <= logPoissonPmf(k, lambda, loglam)) return k;
  }
}

/** n draws of Sk(mu) = Poisson(mu) - Poisson(mu). */
export function sampleSkellam(mu: number, n: number, rng: Pick<SecureStream, 'uniform'>): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = samplePoisson(mu, rng) - samplePoisson(mu, rng);
  return out;
}

/**
 * ln P(k; lambda) without the cancellation of -lambda + k ln lambda - ln k! at large lambda:
 * Stirling's ln k! = k ln k - k + ln(2 pi k) / 2 + 1/(12k) - 1/(360k^3) + 1/(1260k^5) gives
 * k ln(lambda / k) + (k - lambda) - ln(2 pi k) / 2 - (the series), with ln(lambda/k) = log1p.
 */
export function logPoissonPmf(k: number, lambda: number, loglam = Math.log(lambda)): number {
  if (k < 20) return -lambda + k * loglam - logFactorial(k);
  const series = 1 / (12 * k) - 1 / (360 * k ** 3) + 1 / (1260 * k ** 5);
  return k * Math.log1p((lambda - k) / k) + (k - lambda) - 0.5 * Math.log(2 * Math.PI * k) - series;
}

/** ln k! by Stirling's series beyond a table (relative error < 1e-15). */
export function logFactorial(k: number): number {
  if (k < 20) {
    let s = 0;
    for (let i = 2; i <= k; i++) s += Math.log(i);
    return s;
  }
  const x = k + 1;
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * x) - 1 / (360 * x ** 3) + 1 / (1260 * x ** 5);
}
