/** The analytic Gaussian mechanism against Google's dp-accounting (scripts/fixtures/make_privacy_fixtures.py). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { analyticGaussianSigma, classicGaussianSigma, gaussianDelta, normalCdf } from '@synthgrad/core';

const fx = JSON.parse(readFileSync(new URL('../../../test/fixtures/privacy/gaussian.json', import.meta.url), 'utf8')) as {
  deltas: { sigma: number; sensitivity: number; epsilon: number; delta: number }[];
  sigmas: { epsilon: number; delta: number; sensitivity: number; sigma: number }[];
};

describe('analytic Gaussian mechanism', () => {
  for (const d of fx.deltas) {
    it(`delta(eps=${d.epsilon}) for sigma=${d.sigma}, sensitivity ${d.sensitivity} matches dp-accounting`, () => {
      expect(Math.abs(gaussianDelta(d.epsilon, d.sigma, d.sensitivity) - d.delta) / d.delta).toBeLessThan(1e-6);
    });
  }
  for (const s of fx.sigmas) {
    it(`smallest sigma for (${s.epsilon}, ${s.delta}) at sensitivity ${s.sensitivity} matches dp-accounting`, () => {
      expect(Math.abs(analyticGaussianSigma(s.epsilon, s.delta, s.sensitivity) - s.sigma) / s.sigma).toBeLessThan(1e-6);
    });
  }

  it('reproduces the published example: sigma 3.73 at (1, 1e-5) (Balle & Wang 2018)', () => {
    expect(analyticGaussianSigma(1, 1e-5, 1)).toBeCloseTo(3.73, 2);
  });

  it('is never looser than the classic calibration where that one is valid (eps < 1)', () => {
    for (const eps of [0.05, 0.3, 0.9]) expect(analyticGaussianSigma(eps, 1e-5, 1)).toBeLessThan(classicGaussianSigma(eps, 1e-5, 1));
  });

  it('normal CDF is symmetric and accurate in the tails', () => {
    expect(normalCdf(0)).toBe(0.5);
    expect(normalCdf(1.5) + normalCdf(-1.5)).toBeCloseTo(1, 14);
    expect(normalCdf(-6)).toBeCloseTo(9.865876450377e-10, 18);
  });

  it('rejects parameters outside their ranges', () => {
    expect(() => analyticGaussianSigma(0, 1e-5, 1)).toThrow(/epsilon/);
    expect(() => analyticGaussianSigma(1, 1, 1)).toThrow(/delta/);
    expect(() => analyticGaussianSigma(1, 1e-5, -1)).toThrow(/clip/);
  });
});
