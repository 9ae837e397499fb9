/**
 * Distributed noise: the Skellam RDP bound against the exact one-dimensional Rényi divergence,
 * the Poisson/Skellam samplers' moments and closure under sums, the plan's guarantee, and three
 * parties' noisy vectors through secure aggregation (one killed after masking) leaving exactly
 * the central noise on the sum.
 */
import { describe, expect, it } from 'vitest';
import {
  analyticGaussianSigma,
  assertNoiseQuorum,
  decodeFixed,
  encodeWithNoise,
  logPoissonPmf,
  newSecretKey,
  planDistributedNoise,
  samplePoisson,
  sampleSkellam,
  SecAggParty,
  SecAggServer,
  SecureStream,
  skellamEpsilon,
  skellamRdp,
  type SecAggParams,
} from '@synthgrad/core';

/** Exact ln pmf of Sk(mu) on [-K, K]: sum_j Pois(j + k) Pois(j), in log space. */
function skellamLogPmf(mu: number, K: number): Map<number, number> {
  const J = Math.ceil(mu + 40 * Math.sqrt(mu) + 40);
  const lp = Array.from({ length: J + K + 1 }, (_, j) => logPoissonPmf(j, mu));
  const out = new Map<number, number>();
  for (let k = -K; k <= K; k++) {
    const a = Math.abs(k);
    let m = -Infinity;
    const terms: number[] = [];
    for (let j = 0; j + a < lp.length; j++) {
      const t = lp[j + a] + lp[j];
      terms.push(t);
      m = Math.max(m, t);
    }
    out.set(k, m + Math.log(terms.reduce((s, t) => s + Math.exp(t - m), 0)));
  }
  return out;
}

/** Exact D_alpha(Sk(mu) + shift || Sk(mu)). */
function exactRdp(alpha: number, mu: number, shift: number): number {
  const K = Math.ceil(mu + 60 * Math.sqrt(mu) + 60);
  const lp = skellamLogPmf(mu, K + shift);
  let m = -Infinity;
  const terms: number[] = [];
  for (let k = -K; k <= K; k++) {
    const t = alpha * lp.get(k - shift)! + (1 - alpha) * lp.get(k)!;
    terms.push(t);
    m = Math.max(m, t);
  }
  return (m + Math.log(terms.reduce((s, t) => s + Math.exp(t - m), 0))) / (alpha - 1);
}

describe('Skellam mechanism', () => {
  for (const [mu, shift] of [[3, 1], [20, 1], [20, 3], [80, 2]] as const) {
    it(`the RDP bound holds against the exact divergence (mu ${mu}, shift ${shift}) and is tight for large mu`, () => {
      for (const alpha of [2, 5, 16]) {
        const exact = exactRdp(alpha, mu, shift);
        const bound = skellamRdp(alpha, mu, shift, shift);
        expect(bound).toBeGreaterThanOrEqual(exact * (1 - 1e-9));
        if (mu >= 20 && alpha <= 5) expect(bound / exact).toBeLessThan(1.2);
      }
    });
  }

  it('samples Poisson and Skellam with the right moments, and Skellams add exactly', () => {
    const rng = SecureStream.derive(newSecretKey(), 'moments');
    for (const lambda of [3, 60, 1e6, 1e8]) {
      const n = 20_000;
      const xs = Array.from({ length: n }, () => samplePoisson(lambda, rng));
      const mean = xs.reduce((a, b) => a + b, 0) / n;
      const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
      expect(Math.abs(mean - lambda)).toBeLessThan(5 * Math.sqrt(lambda / n));
      expect(Math.abs(v / lambda - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
      expect(xs.every((x) => Number.isInteger(x) && x >= 0)).toBe(true);
    }
    // Three parties' Sk(mu / 3) add to Sk(mu): variance 2 mu.
    const mu = 1e4;
    const n = 20_000;
    const parts = [0, 1, 2].map(() => sampleSkellam(mu / 3, n, rng));
    const sum = parts[0].map((x, i) => x + parts[1][i] + parts[2][i]);
    const v = sum.reduce((a, b) => a + b * b, 0) / n;
    expect(Math.abs(v / (2 * mu) - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
  });
});

describe('distributed noise under secure aggregation', () => {
  const L = 2000;
  const opts = { epsilon: 1, delta: 1e-5, clip: 1, maxNorm: 100, minParties: 3, length: L };

  it('plans the central noise of the requested guarantee, close to the analytic Gaussian', () => {
    const plan = planDistributedNoise(opts);
    expect(plan.epsilon).toBeLessThanOrEqual(1);
    expect(skellamEpsilon(plan.muTotal, plan.l1, plan.l2, 1e-5)).toBeLessThanOrEqual(1);
    const gauss = analyticGaussianSigma(1, 1e-5, 1);
    expect(plan.sigma).toBeGreaterThan(gauss);
    expect(plan.sigma / gauss).toBeLessThan(1.2);
    expect(plan.muPerParty * 3).toBeCloseTo(plan.muTotal, 6);
    // Ring: three parties at the bound cannot overflow.
    expect(3 * plan.fixedPoint.bound * plan.fixedPoint.scale).toBeLessThan(2 ** 31);
    expect(() => planDistributedNoise({ ...opts, minParties: 0 })).toThrow(/minParties/);
    expect(() => planDistributedNoise({ ...opts, maxNorm: 0.5 })).toThrow(/maxNorm >= clip/);
  });

  it('three parties, one killed after masking: the sum is the plain sum plus exactly the central noise', () => {
    const plan = planDistributedNoise(opts);
    const params: SecAggParams = { sessionId: 'noise', parties: ['a', 'b', 'c'], threshold: 2, length: L };
    const values = new Map(params.parties.map((id, k) => [id, Float64Array.from({ length: L }, (_, i) => Math.sin(i * (k + 1)) * 2)]));
    const server = new SecAggServer(params);
    const parties = params.parties.map((id) => new SecAggParty(params, id));
    for (const p of parties) server.advertise(p.advertise());
    for (const p of parties) server.shares(p.id, p.shareKeys(server.advertisements()));
    for (const p of parties) server.maskedInput(p.id, p.maskedInput(server.sharesFor(p.id), encodeWithNoise(values.get(p.id)!, plan, SecureStream.derive(newSecretKey(), 'noise'))));
    const survivors = server.survivors();
    for (const p of parties.slice(0, 2)) server.reveal(p.id, p.unmask(survivors)); // c is gone
    const { sum } = server.sum();
    assertNoiseQuorum(survivors.length, plan);
    const got = decodeFixed(sum, plan.fixedPoint);
    const noise = got.map((x, i) => x - (values.get('a')![i] + values.get('b')![i] + values.get('c')![i]));
    const mean = noise.reduce((s, x) => s + x, 0) / L;
    const sd = Math.sqrt(noise.reduce((s, x) => s + x * x, 0) / L);
    expect(Math.abs(mean)).toBeLessThan((5 * plan.sigma) / Math.sqrt(L));
    expect(Math.abs(sd / plan.sigma - 1)).toBeLessThan(5 * Math.sqrt(1 / (2 * L)));
    expect(() => assertNoiseQuorum(2, plan)).toThrow(/noise of 2 parties, the guarantee needs 3; it must not be released/);
  });

  it('refuses a value that would leave the ring rather than wrap it', () => {
    const plan = planDistributedNoise(opts);
    expect(() => encodeWithNoise([plan.fixedPoint.bound * 2], plan, SecureStream.derive(newSecretKey(), 'x'))).toThrow(/leaves the ring's bound/);
    expect(() => encodeWithNoise([NaN], plan, SecureStream.derive(newSecretKey(), 'x'))).toThrow(/not finite/);
  });
});
