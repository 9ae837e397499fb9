/** The analytic Gaussian mechanism, the composition of Gaussian releases and the privacy ledger, against Google's dp-accounting (scripts/fixtures/make_*_fixtures.py). */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyticGaussianSigma, classicGaussianSigma, composedMu, gaussianDelta, gdpDelta, gdpEpsilon, normalCdf, planDistributedNoise, PrivacyLedger, rdpEpsilon, skellamEpsilon, type LedgerEntry } from '@synthgrad/core';

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

const comp = JSON.parse(readFileSync(new URL('../../../test/fixtures/privacy/composition.json', import.meta.url), 'utf8')) as {
  cases: { releases: { sigma: number; sensitivity: number }[]; delta: number; pld_epsilon: number; rdp_epsilon: number }[];
};

describe('composition of Gaussian releases (scripts/fixtures/make_composition_fixtures.py)', () => {
  for (const c of comp.cases) {
    const label = `${c.releases.length} release(s), delta ${c.delta}`;
    it(`${label}: exact GDP epsilon matches dp-accounting's PLD accountant, RDP matches its RDP accountant`, () => {
      const mu = composedMu(c.releases);
      const exact = gdpEpsilon(mu, c.delta);
      // PLD discretisation rounds pessimistically: it may exceed the exact value by a hair, never undercut it much.
      expect(Math.abs(exact - c.pld_epsilon) / c.pld_epsilon).toBeLessThan(2e-3);
      expect(Math.abs(rdpEpsilon(mu, c.delta).epsilon - c.rdp_epsilon) / c.rdp_epsilon).toBeLessThan(1e-9);
      expect(exact).toBeLessThanOrEqual(rdpEpsilon(mu, c.delta).epsilon);
      expect(gdpDelta(exact, mu)).toBeLessThanOrEqual(c.delta * (1 + 1e-9));
    });
  }

  it('one release composes to the analytic Gaussian of that release', () => {
    const sigma = analyticGaussianSigma(1, 1e-5, 1);
    expect(gdpEpsilon(composedMu([{ sigma, sensitivity: 1 }]), 1e-5)).toBeCloseTo(1, 6);
    expect(composedMu([{ sigma: 0, sensitivity: 1 }])).toBe(Infinity);
    expect(gdpEpsilon(Infinity, 1e-5)).toBe(Infinity);
    expect(() => composedMu([{ sigma: 1, sensitivity: 0 }])).toThrow(/positive sensitivity/);
  });
});

describe('privacy ledger', () => {
  const fp = (c: string) => c.repeat(64);
  const sigma = analyticGaussianSigma(1, 1e-5, 1);
  const entry = (session: string, over: Partial<LedgerEntry> = {}) => ({ data: fp('a'), session, classes: 2, sigma, sensitivity: 1, release: 'label-rows' as const, noise: 'local' as const, ...over });

  it('counts each session once, composes sessions on the same data, keeps data sets apart, and survives a reopen', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'synthgrad-ledger-')), 'sub', 'ledger.json');
    const l = PrivacyLedger.open(path);
    l.record(entry('s-1'));
    l.record(entry('s-1')); // a restarted client re-sending the same contribution
    expect(l.guarantee(fp('a'), 1e-5).epsilon).toBeCloseTo(1, 5);
    l.record(entry('s-2'));
    l.record(entry('s-3', { data: fp('b') }));
    const again = PrivacyLedger.open(path);
    const g = again.guarantee(fp('a'), 1e-5);
    expect(g.releases).toBe(2);
    expect(g.epsilon).toBeCloseTo(gdpEpsilon(Math.SQRT2 / sigma, 1e-5), 9);
    expect(g.epsilon).toBeGreaterThan(1);
    expect(g.sentence).toMatch(/^2 releases of data aaaaaaaaaaaa together are \(1\.\d\d, 0\.00001\)-differentially private for adding or removing one example/);
    expect(again.guarantee(fp('b'), 1e-5).releases).toBe(1);
    again.record(entry('s-4', { sigma: 0 }));
    expect(PrivacyLedger.open(path).guarantee(fp('a'), 1e-5).sentence).toMatch(/no differential-privacy guarantee/);
  });

  it('accounts secure-aggregation releases by the Skellam Rényi bound, alone and mixed with Gaussian ones', () => {
    const plan = planDistributedNoise({ epsilon: 1, delta: 1e-5, clip: 1, maxNorm: 1000, minParties: 3, length: 2 * 576 });
    const skellam = { mu: plan.muTotal, l1: plan.l1, l2: plan.l2 };
    const l = PrivacyLedger.open(join(mkdtempSync(join(tmpdir(), 'synthgrad-ledger-')), 'ledger.json'));
    l.record(entry('s-1', { noise: 'distributed', sigma: plan.sigma, skellam }));
    const one = l.guarantee(fp('a'), 1e-5);
    // One release: exactly the plan's guarantee (not the Gaussian profile of its sigma, which would claim less).
    expect(one.epsilon).toBeCloseTo(plan.epsilon, 9);
    expect(one.epsilon).toBeLessThanOrEqual(1);
    expect(gdpEpsilon(1 / plan.sigma, 1e-5)).toBeLessThan(one.epsilon);
    expect(one.sentence).toMatch(/1 with distributed Skellam noise under secure aggregation; Rényi accounting/);
    l.record(entry('s-2', { noise: 'distributed', sigma: plan.sigma, skellam }));
    expect(l.guarantee(fp('a'), 1e-5).epsilon).toBeCloseTo(skellamEpsilon(plan.muTotal, plan.l1, plan.l2, 1e-5, 2), 9);
    l.record(entry('s-3'));
    const mixed = l.guarantee(fp('a'), 1e-5);
    expect(mixed.epsilon).toBeGreaterThan(skellamEpsilon(plan.muTotal, plan.l1, plan.l2, 1e-5, 2));
    expect(mixed.epsilon).toBeLessThan(rdpEpsilon(Math.sqrt(3) / sigma, 1e-5).epsilon * 1.2);
    expect(mixed.sentence).toMatch(/2 with distributed Skellam noise under secure aggregation, 1 with Gaussian noise/);
  });

  it('refuses a corrupt ledger with a clear message and bad entries', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'synthgrad-ledger-')), 'ledger.json');
    writeFileSync(path, '{ not json');
    expect(() => PrivacyLedger.open(path)).toThrow(/privacy ledger is unreadable .* repair it rather than delete it/);
    writeFileSync(path, '{"version": 7}');
    expect(() => PrivacyLedger.open(path)).toThrow(/not a synthgrad privacy ledger/);
    const l = PrivacyLedger.open(join(dirname(path), 'fresh.json'));
    expect(() => l.record(entry('s', { data: 'abc' }))).toThrow(/sha256 fingerprint/);
    expect(() => l.record(entry('s', { sensitivity: 0 }))).toThrow(/sensitivity > 0/);
  });
});
