/**
 * Secure aggregation: fixed point in Z_2^32 with its overflow and quantisation bounds, Shamir
 * sharing, and the four rounds end to end in memory, checked against the plain sum of the
 * parties' vectors with dropouts at every stage, the clear failure when too few remain, and the
 * uniformity of what the coordinator holds of one party whatever that party's data.
 */
import { describe, expect, it } from 'vitest';
import {
  combine,
  decodeFixed,
  encodeFixed,
  fixedPoint,
  neighbourGraph,
  quantisationBound,
  Rng,
  SecAggParty,
  SecAggServer,
  split,
  type SecAggParams,
} from '@synthgrad/core';

const vector = (n: number, seed: number, scale: number) => Float64Array.from(new Rng(seed).normals(n), (x) => Math.max(-scale, Math.min(scale, x * scale * 0.3)));

interface RunOptions {
  /** Parties that stop before round 1 (never share), after round 1 (never send input), after round 2 (never reveal). */
  dropBeforeSharing?: string[];
  dropBeforeMasking?: string[];
  dropAfterMasking?: string[];
}

/** Every round in memory; the inputs are fixed-point encodings of `values`. */
function runRounds(params: SecAggParams, inputs: Map<string, Uint32Array>, o: RunOptions = {}) {
  const server = new SecAggServer(params);
  const parties = new Map(params.parties.map((id) => [id, new SecAggParty(params, id)]));
  for (const p of parties.values()) server.advertise(p.advertise());
  const ads = server.advertisements();
  for (const [id, p] of parties) if (!o.dropBeforeSharing?.includes(id)) server.shares(id, p.shareKeys(ads));
  const masking = [...parties.keys()].filter((id) => !o.dropBeforeSharing?.includes(id) && !o.dropBeforeMasking?.includes(id));
  const delivered = new Map(masking.map((id) => [id, server.sharesFor(id)]));
  for (const id of masking) server.maskedInput(id, parties.get(id)!.maskedInput(delivered.get(id)!, inputs.get(id)!));
  const survivors = server.survivors();
  for (const id of survivors) if (!o.dropAfterMasking?.includes(id)) server.reveal(id, parties.get(id)!.unmask(survivors));
  return { server, parties, result: () => server.sum() };
}

describe('fixed point in Z_2^32', () => {
  it('decodes a sum of k encodings within k / (2 scale), even with every value at the bound', () => {
    const fp = fixedPoint(500, 3);
    const xs = [Float64Array.from([500, -500, 0.1, 123.456]), Float64Array.from([500, -500, -0.3, 1e-7]), Float64Array.from([500, -500, 0.2, -77])];
    const ring = xs.map((x) => encodeFixed(x, fp)).reduce((a, b) => a.map((v, i) => (v + b[i]) >>> 0));
    const got = decodeFixed(ring, fp);
    const want = xs.reduce((a, b) => a.map((v, i) => v + b[i]));
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(quantisationBound(fp));
    expect(quantisationBound(fp)).toBeLessThan(2e-6);
  });

  it('refuses values beyond the bound or non-finite, and parameters that cannot fit 32 bits', () => {
    const fp = fixedPoint(1, 2);
    expect(() => encodeFixed([1.0001], fp)).toThrow(/outside \[-1, 1\]/);
    expect(() => encodeFixed([NaN], fp)).toThrow(/outside/);
    expect(() => fixedPoint(2 ** 31, 2)).toThrow(/do not fit 32 bits/);
    expect(() => fixedPoint(0, 2)).toThrow(/positive/);
    expect(() => fixedPoint(1, 0)).toThrow(/positive integer/);
  });
});

describe('Shamir sharing', () => {
  it('any t of n shares give the secret back; fewer are refused', () => {
    const secret = Buffer.from(new Rng(1).normals(8).buffer).subarray(0, 32);
    const shares = split(secret, 3, 5);
    for (const pick of [[0, 1, 2], [4, 2, 0], [1, 3, 4]]) expect(combine(pick.map((i) => shares[i]), 3)).toEqual(secret);
    expect(() => combine([shares[0], shares[1]], 3)).toThrow(/2 distinct shares, 3 needed/);
    expect(() => combine([shares[0], shares[0], shares[1]], 3)).toThrow(/2 distinct shares/);
    // Two shares interpolated as if they were enough give something else entirely.
    expect(() => combine([shares[0], shares[1]], 2)).toThrow(/do not belong|/);
  });
});

describe('secure aggregation', () => {
  const L = 64;
  const three: SecAggParams = { sessionId: 'session-a/class-0', parties: ['alpha', 'beta', 'gamma'], threshold: 2, length: L };
  const fp = fixedPoint(100, 3);
  const values = new Map(three.parties.map((id, k) => [id, vector(L, k + 1, 100)]));
  const inputs = new Map([...values].map(([id, v]) => [id, encodeFixed(v, fp)]));
  const plainSum = (ids: string[]) => ids.map((id) => values.get(id)!).reduce((a, b) => a.map((v, i) => v + b[i]));
  const expectSum = (ring: Uint32Array, ids: string[]) => {
    const got = decodeFixed(ring, fp);
    const want = plainSum(ids);
    for (let i = 0; i < L; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(quantisationBound(fp));
  };

  it('gives the plain sum of every party when nobody drops out', () => {
    const { result } = runRounds(three, inputs);
    const r = result();
    expect(r.survivors).toEqual(['alpha', 'beta', 'gamma']);
    expectSum(r.sum, ['alpha', 'beta', 'gamma']);
  });

  it('still gives the sum of all three when one is killed after masking (its self-mask rebuilt from the others\' shares)', () => {
    const r = runRounds(three, inputs, { dropAfterMasking: ['gamma'] }).result();
    expect(r.survivors).toEqual(['alpha', 'beta', 'gamma']);
    expectSum(r.sum, ['alpha', 'beta', 'gamma']);
  });

  it('gives the sum of the two that remain when one drops after sharing keys (its pairwise masks removed)', () => {
    const r = runRounds(three, inputs, { dropBeforeMasking: ['beta'] }).result();
    expect(r).toMatchObject({ survivors: ['alpha', 'gamma'], dropped: ['beta'] });
    expectSum(r.sum, ['alpha', 'gamma']);
  });

  it('fails clearly when too few remain to unmask', () => {
    const { result } = runRounds(three, inputs, { dropAfterMasking: ['beta', 'gamma'] });
    expect(() => result()).toThrow(/1 shares of .* came back, 2 are needed \(too many parties dropped out\)/);
    // With one survivor, the survivor itself refuses to reveal anything, and the coordinator cannot finish.
    expect(() => runRounds(three, inputs, { dropBeforeMasking: ['beta', 'gamma'] })).toThrow(/1 parties survive, the threshold is 2/);
    const alone = runRounds(three, inputs, { dropBeforeMasking: ['beta', 'gamma'], dropAfterMasking: ['alpha'] });
    expect(() => alone.result()).toThrow(/1 parties sent masked input, at least 2 are needed/);
  });

  it('what the coordinator holds of one party is uniform in the ring, whatever its data', () => {
    const n = 4096;
    const params: SecAggParams = { sessionId: 'uniformity', parties: ['a', 'b', 'c'], threshold: 2, length: n };
    const fpu = fixedPoint(1, 3);
    const chiSquare = (words: Uint32Array) => {
      const bins = new Array(64).fill(0);
      for (const w of words) bins[w >>> 26]++;
      return bins.reduce((s, o) => s + (o - n / 64) ** 2 / (n / 64), 0);
    };
    for (const data of [new Float64Array(n), Float64Array.from({ length: n }, (_, i) => (i % 2 ? 1 : -1)), Float64Array.from({ length: n }, () => 0.999)]) {
      const ins = new Map(params.parties.map((id) => [id, encodeFixed(id === 'a' ? data : new Float64Array(n), fpu)]));
      const { server } = runRounds(params, ins);
      const held = server.maskedOf('a')!;
      // 63 degrees of freedom: mean 63, sd 11.2; 120 is beyond p = 1e-6.
      expect(chiSquare(held)).toBeLessThan(120);
      // No linear trace of the data: correlation of the held words with the encoded input.
      const x = ins.get('a')!;
      const mx = x.reduce((s, v) => s + (v | 0), 0) / n;
      const my = held.reduce((s, v) => s + v, 0) / n;
      let sxy = 0;
      let sxx = 0;
      let syy = 0;
      for (let i = 0; i < n; i++) {
        const dx = (x[i] | 0) - mx;
        const dy = held[i] - my;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
      }
      if (sxx > 0) expect(Math.abs(sxy / Math.sqrt(sxx * syy))).toBeLessThan(5 / Math.sqrt(n));
    }
  });

  it('on a sparse neighbour graph (SecAgg+), survives dropouts in every round', () => {
    const parties = Array.from({ length: 8 }, (_, i) => `p${i}`);
    // Degree 6 and threshold 4: each secret has 7 holders, so any 3 dropouts leave enough shares.
    const params: SecAggParams = { sessionId: 'sparse', parties, threshold: 4, degree: 6, length: 16 };
    const g = neighbourGraph(params);
    for (const [a, ns] of g) {
      expect(ns).toHaveLength(6);
      for (const b of ns) expect(g.get(b)).toContain(a);
    }
    const fps = fixedPoint(10, 8);
    const vals = new Map(parties.map((id, k) => [id, vector(16, 40 + k, 10)]));
    const ins = new Map([...vals].map(([id, v]) => [id, encodeFixed(v, fps)]));
    const r = runRounds(params, ins, { dropBeforeSharing: ['p1'], dropBeforeMasking: ['p4'], dropAfterMasking: ['p6'] }).result();
    const kept = parties.filter((p) => p !== 'p1' && p !== 'p4');
    expect(r.survivors).toEqual(kept);
    const want = kept.map((id) => vals.get(id)!).reduce((a, b) => a.map((v, i) => v + b[i]));
    const got = decodeFixed(r.sum, fps);
    for (let i = 0; i < 16; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(quantisationBound(fps));
  });

  it('a coordinator and a party restarted between rounds (state through JSON) finish with the same sum', () => {
    const restart = <T>(x: { toState(): T }) => JSON.parse(JSON.stringify(x.toState())) as T;
    let server = new SecAggServer(three);
    let parties = three.parties.map((id) => new SecAggParty(three, id));
    for (const p of parties) server.advertise(p.advertise());
    const ads = server.advertisements();
    for (const p of parties) server.shares(p.id, p.shareKeys(ads));
    // Everyone restarts after round 1.
    server = SecAggServer.fromState(restart(server));
    parties = parties.map((p) => SecAggParty.fromState(restart(p)));
    for (const p of parties) server.maskedInput(p.id, p.maskedInput(server.sharesFor(p.id), inputs.get(p.id)!));
    server = SecAggServer.fromState(restart(server));
    const survivors = server.survivors();
    const first = parties[0].unmask(survivors);
    const beta = SecAggParty.fromState(restart(parties[1]));
    server.reveal('alpha', first);
    server.reveal('beta', beta.unmask(survivors));
    expectSum(server.sum().sum, ['alpha', 'beta', 'gamma']);
    // A restarted party asked again: the same set is answered again, another set never.
    const again = SecAggParty.fromState(restart(parties[0]));
    expect(again.unmask([...survivors].reverse())).toEqual(first);
    expect(() => again.unmask(['alpha', 'beta'])).toThrow(/already answered the unmasking round for another survivor set/);
    expect(() => new SecAggParty(three, 'beta', restart(parties[0]))).toThrow(/another party or aggregation/);
    expect(() => new SecAggParty({ ...three, sessionId: 'other' }, 'alpha', restart(parties[0]))).toThrow(/another party or aggregation/);
  });

  it('refuses out-of-turn, misnamed and tampered messages, and bad parameters', () => {
    expect(() => new SecAggServer({ ...three, threshold: 4 })).toThrow(/threshold must be an integer in \[2, 3\]/);
    expect(() => new SecAggServer({ ...three, parties: ['a', 'a', 'b'] })).toThrow(/distinct/);
    expect(() => new SecAggParty(three, 'mallory')).toThrow(/not a party/);
    const server = new SecAggServer(three);
    const parties = three.parties.map((id) => new SecAggParty(three, id));
    for (const p of parties) server.advertise(p.advertise());
    expect(() => server.advertise(parties[0].advertise())).toThrow(/advertised twice/);
    const shares = parties.map((p) => p.shareKeys(server.advertisements()));
    expect(() => server.shares('alpha', shares[1])).toThrow(/in another party's name/);
    shares.forEach((s, k) => server.shares(three.parties[k], s));
    const forBeta = server.sharesFor('beta');
    expect(() => server.shares('alpha', shares[0])).toThrow(/after round 1 closed/);
    const tampered = forBeta.map((m, k) => (k === 0 ? { ...m, sealed: Buffer.from(Buffer.from(m.sealed, 'base64').map((b, i) => (i === 40 ? b ^ 1 : b))).toString('base64') } : m));
    expect(() => parties[1].maskedInput(tampered, inputs.get('beta')!)).toThrow(/failed authentication/);
    expect(() => parties[1].maskedInput(forBeta, new Uint32Array(3))).toThrow(/3 words, the session 64/);
    expect(() => server.maskedInput('beta', new Uint32Array(3))).toThrow(/3 words/);
    expect(() => parties[0].unmask(['beta', 'gamma'])).toThrow(/leaves out this party/);
  });
});
