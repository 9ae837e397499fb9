/**
 * Distributed differential privacy under secure aggregation: each party adds its share of the
 * central noise in the ring, so the coordinator's sum carries exactly the noise one central
 * release would need, and no party pays sqrt(k) times that in total as when each adds its own.
 *
 * A party's real vector x (a clipped class sum: |x|_2 <= maxNorm) becomes
 *   q = round(x * scale) + Sk(mu / minParties)   (mod 2^32)
 * with Sk the Skellam noise of privacy/skellam.ts. Rounding first makes the data an integer
 * query whose sensitivity to one example, in grid units, is D2 <= clip * scale + sqrt(d) (the
 * rounding of each coordinate may move by one) and D1 <= sqrt(d) D2. Skellams add exactly, so
 * with at least minParties parties' noise in the sum it carries Sk(mu) or more, and mu is the
 * smallest at which one Skellam release is (epsilon, delta)-DP at those sensitivities. The
 * coordinator must not release a sum holding fewer parties' noise (assertNoiseQuorum): that is
 * how dropouts never weaken the guarantee. Parties that drop after masking still count, since
 * their masked vector, noise included, is in the sum.
 *
 * The scale is the largest at which maxParties vectors, each within maxNorm plus 12 standard
 * deviations of its noise (probability < 1e-32 per coordinate of being exceeded; encode refuses
 * rather than wraps), cannot overflow 32 bits, and small enough that the Poisson parameters stay
 * below 1e8 where double-precision sampling is exact to far below the noise.
 */
import { SynthgradError } from '../util/errors.js';
import { analyticGaussianSigma } from '../privacy/analytic-gaussian.js';
import { sampleSkellam, skellamEpsilon, skellamMuFor } from '../privacy/skellam.js';
import type { SecureStream } from '../privacy/secure-stream.js';
import { fixedPoint, type FixedPoint } from './ring.js';

export interface DistributedNoiseOptions {
  epsilon: number;
  delta: number;
  /** Per-example L2 clip norm C: the sensitivity of a class sum. */
  clip: number;
  /** Largest L2 norm of one party's vector before noise (maxExamples * clip). */
  maxNorm: number;
  /** Parties whose noise the guarantee relies on: the session's minimum quorum. */
  minParties: number;
  /** Most parties whose vectors may be summed (sets the overflow bound; default minParties). */
  maxParties?: number;
  /** Coordinates of a vector. */
  length: number;
}

export interface DistributedNoisePlan {
  fixedPoint: FixedPoint;
  /** Skellam parameter of the central noise, in grid units (variance 2 mu). */
  muTotal: number;
  /** What each party adds: muTotal / minParties. */
  muPerParty: number;
  minParties: number;
  /** Sensitivities of the rounded sum in grid units. */
  l1: number;
  l2: number;
  /** Standard deviation of the central noise in the values' units (sqrt(2 muTotal) / scale). */
  sigma: number;
  /** The guarantee of one release with exactly minParties parties' noise. */
  epsilon: number;
  delta: number;
}

const MAX_POISSON = 1e8;

export function planDistributedNoise(o: DistributedNoiseOptions): DistributedNoisePlan {
  const { epsilon, delta, clip, maxNorm, minParties, length } = o;
  const maxParties = o.maxParties ?? minParties;
  if (!(Number.isInteger(minParties) && minParties >= 1 && maxParties >= minParties)) throw new SynthgradError(`distributed noise: need 1 <= minParties (${minParties}) <= maxParties (${maxParties})`, 'E_USAGE');
  if (!(maxNorm >= clip && clip > 0)) throw new SynthgradError('distributed noise: need maxNorm >= clip > 0', 'E_USAGE');
  if (!(Number.isInteger(length) && length >= 1)) throw new SynthgradError('distributed noise: length must be a positive integer', 'E_USAGE');
  let sigmaGuess = analyticGaussianSigma(epsilon, delta, clip) * 1.05;
  for (let attempt = 0; attempt < 20; attempt++) {
    const perPartySd = sigmaGuess / Math.sqrt(minParties);
    const overflow = fixedPoint(maxNorm + 12 * perPartySd, maxParties);
    const scale = Math.min(overflow.scale, Math.sqrt(2 * MAX_POISSON * minParties) / sigmaGuess);
    const fp: FixedPoint = { ...overflow, scale };
    const l2 = clip * scale + Math.sqrt(length);
    const l1 = Math.sqrt(length) * l2;
    const muTotal = skellamMuFor(epsilon, delta, l1, l2);
    const sigma = Math.sqrt(2 * muTotal) / scale;
    if (sigma <= sigmaGuess) {
      return { fixedPoint: fp, muTotal, muPerParty: muTotal / minParties, minParties, l1, l2, sigma, epsilon: skellamEpsilon(muTotal, l1, l2, delta), delta };
    }
    sigmaGuess = sigma * 1.05;
  }
  throw new SynthgradError('distributed noise: no fixed-point scale fits these parameters', 'E_USAGE');
}

/** A party's ring vector: its rounded values plus its Skellam share of the noise. */
export function encodeWithNoise(values: ArrayLike<number>, plan: DistributedNoisePlan, rng: Pick<SecureStream, 'uniform'>): Uint32Array {
  const { scale, bound } = plan.fixedPoint;
  const noise = sampleSkellam(plan.muPerParty, values.length, rng);
  const out = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (!Number.isFinite(x)) throw new SynthgradError(`distributed noise: value ${x} at ${i} is not finite`, 'E_INPUT');
    const q = Math.round(x * scale) + noise[i];
    if (Math.abs(q) > bound * scale) throw new SynthgradError(`distributed noise: value ${x} at ${i} with its noise leaves the ring's bound ${bound}`, 'E_INPUT');
    out[i] = q >>> 0;
  }
  return out;
}

/** Refuse to release a sum holding fewer parties' noise than the plan relies on. */
export function assertNoiseQuorum(parties: number, plan: DistributedNoisePlan): void {
  if (parties < plan.minParties) {
    throw new SynthgradError(`distributed noise: the sum holds the noise of ${parties} parties, the guarantee needs ${plan.minParties}; it must not be released`, 'E_THRESHOLD');
  }
}
