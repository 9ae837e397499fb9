/**
 * The analytic Gaussian mechanism (Balle & Wang, ICML 2018, Theorem 8): the exact delta of
 * adding N(0, sigma^2) noise to a query of L2 sensitivity `sens`, and the smallest sigma that
 * meets a requested (epsilon, delta). Unlike the classic sigma = sens*sqrt(2 ln(1.25/delta))/eps,
 * it is valid for every epsilon > 0 and tight for one release.
 */
import { SynthgradError } from '../util/errors.js';

/** Standard normal CDF via a high-accuracy erfc (W. J. Cody's rational approximations). */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

function erfc(x: number): number {
  // Complementary error function, relative error < 1e-13 (Cody 1969, as in many numerics libraries).
  const ax = Math.abs(x);
  let r: number;
  if (ax < 0.5) {
    const t = ax * ax;
    const top = (((0.185777706184603153 * t + 3.16112374387056560) * t + 113.864154151050156) * t + 377.485237685302021) * t + 3209.37758913846947;
    const bot = (((t + 23.6012909523441209) * t + 244.024637934444173) * t + 1282.61652607737228) * t + 2844.23683343917062;
    r = 1 - (ax * top) / bot;
  } else if (ax < 4) {
    const top = (((((((5.64188496988670089e-1 * ax + 8.88314979438837594) * ax + 66.1191906371416295) * ax + 298.635138197400131) * ax + 881.95222124176909) * ax + 1712.04761263407058) * ax + 2051.07837782607147) * ax + 1230.33935479799725);
    const bot = (((((((ax + 15.7449261107098347) * ax + 117.693950891312499) * ax + 537.181101862009858) * ax + 1621.38957456669019) * ax + 3290.79923573345963) * ax + 4362.61909014324716) * ax + 3439.36767414372164) * ax + 1230.33935480374942;
    r = Math.exp(-ax * ax) * (top / bot);
  } else {
    const z = 1 / (ax * ax);
    const top = ((((1.63153871373020978e-2 * z + 3.05326634961232344e-1) * z + 3.60344899949804439e-1) * z + 1.25781726111229246e-1) * z + 1.60837851487422766e-2) * z + 6.58749161529837803e-4;
    const bot = ((((z + 2.56852019228982242) * z + 1.87295284992346725) * z + 5.27905102951428412e-1) * z + 6.05183413124413191e-2) * z + 2.33520497626869185e-3;
    r = (Math.exp(-ax * ax) / ax) * (1 / Math.sqrt(Math.PI) - (z * top) / bot);
  }
  return x < 0 ? 2 - r : r;
}

/** delta(epsilon) of the Gaussian mechanism with noise sigma and sensitivity sens. */
export function gaussianDelta(epsilon: number, sigma: number, sens: number): number {
  const a = sens / (2 * sigma);
  const b = (epsilon * sigma) / sens;
  return normalCdf(a - b) - Math.exp(epsilon) * normalCdf(-a - b);
}

/** Smallest sigma whose Gaussian mechanism is (epsilon, delta)-DP at sensitivity sens. */
export function analyticGaussianSigma(epsilon: number, delta: number, sens: number): number {
  if (!(epsilon > 0) || !Number.isFinite(epsilon)) throw new SynthgradError(`epsilon must be a positive number, got ${epsilon}`, 'E_USAGE');
  if (!(delta > 0 && delta < 1)) throw new SynthgradError(`delta must be in (0, 1), got ${delta}`, 'E_USAGE');
  if (!(sens > 0) || !Number.isFinite(sens)) throw new SynthgradError(`sensitivity (clip) must be positive, got ${sens}`, 'E_USAGE');
  let lo = 0;
  let hi = sens;
  while (gaussianDelta(epsilon, hi, sens) > delta) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (gaussianDelta(epsilon, mid, sens) > delta) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** The classic calibration the reference code uses (valid only for epsilon < 1); for comparison. */
export function classicGaussianSigma(epsilon: number, delta: number, sens: number): number {
  return (sens * Math.sqrt(2 * Math.log(1.25 / delta))) / epsilon;
}
