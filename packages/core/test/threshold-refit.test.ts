/**
 * The target classifier's threshold refitted on generated texts (threshold-refit.ts): Newton's fit
 * of the K biases against slow, obviously correct searches (bisection of the derivative for two
 * classes, plain gradient ascent for three), its stationarity condition, recovery of a planted
 * bias, invariance to the classifier's own biases, and clear errors for what it cannot fit.
 */
import { describe, expect, it } from 'vitest';
import { fitClassBiases, labelLogLikelihood, refitThreshold, Rng } from '@synthgrad/core';

/** n rows of K logits from a fixed linear score of random features, labels drawn from softmax(z + planted). */
function planted(n: number, K: number, plantedBias: number[], seed: number): { logits: number[][]; labels: number[] } {
  const rng = new Rng(seed);
  const w = Array.from({ length: K }, () => Array.from({ length: 3 }, () => rng.normal()));
  const logits: number[][] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = Array.from({ length: 3 }, () => rng.normal());
    const z = w.map((row) => row.reduce((s, v, k) => s + v * x[k], 0));
    const e = z.map((v, k) => Math.exp(v + plantedBias[k]));
    const total = e.reduce((a, b) => a + b, 0);
    let u = rng.uniform() * total;
    let y = 0;
    while (y < K - 1 && (u -= e[y]) > 0) y++;
    logits.push(z);
    labels.push(y);
  }
  return { logits, labels };
}

/** The model's mean predicted distribution over the rows after adding shift. */
function meanPrediction(logits: number[][], shift: number[]): number[] {
  const K = shift.length;
  const sum = new Array<number>(K).fill(0);
  for (const z of logits) {
    const v = z.map((x, k) => x + shift[k]);
    const m = Math.max(...v);
    const e = v.map((x) => Math.exp(x - m));
    const t = e.reduce((a, b) => a + b, 0);
    e.forEach((x, k) => (sum[k] += x / t));
  }
  return sum;
}

describe('fitClassBiases', () => {
  it('two classes: the threshold bisection finds on the logit difference', () => {
    const { logits, labels } = planted(400, 2, [0, 0.8], 1);
    const [b0, b1] = fitClassBiases(logits, labels, 2);
    expect(b0 + b1).toBeCloseTo(0, 12);
    // The slow way: L as a function of t = b1 - b0 is concave; bisect its derivative
    // sum_i y_i (1 - sigmoid(y_i (D_i + t))), y = +1 for class 1, -1 for class 0.
    const dL = (t: number) => logits.reduce((s, z, i) => {
      const y = labels[i] === 1 ? 1 : -1;
      return s + y * (1 - 1 / (1 + Math.exp(-y * (z[1] - z[0] + t))));
    }, 0);
    let lo = -20;
    let hi = 20;
    for (let it = 0; it < 200; it++) {
      const mid = (lo + hi) / 2;
      if (dL(mid) > 0) lo = mid;
      else hi = mid;
    }
    expect(b1 - b0).toBeCloseTo((lo + hi) / 2, 8);
  });

  it('three classes: the optimum plain gradient ascent reaches, where predictions balance the labels', () => {
    const { logits, labels } = planted(300, 3, [0.5, -1, 0.2], 2);
    const b = fitClassBiases(logits, labels, 3);
    // Gradient ascent with a small fixed step, many iterations.
    let g = [0, 0, 0];
    let slow = [0, 0, 0];
    const counts = [0, 1, 2].map((k) => labels.filter((y) => y === k).length);
    for (let it = 0; it < 20000; it++) {
      const p = meanPrediction(logits, slow);
      g = counts.map((c, k) => c - p[k]);
      slow = slow.map((x, k) => x + (0.5 / logits.length) * g[k]);
    }
    const mean = slow.reduce((a, c) => a + c, 0) / 3;
    slow = slow.map((x) => x - mean);
    b.forEach((x, k) => expect(x).toBeCloseTo(slow[k], 5));
    // Stationarity: the mean predicted distribution equals the label mix.
    meanPrediction(logits, b).forEach((p, k) => expect(p).toBeCloseTo(counts[k], 6));
    // And no nearby shift does better.
    const best = labelLogLikelihood(logits, labels, b);
    for (const k of [0, 1, 2]) for (const e of [-1e-3, 1e-3]) expect(labelLogLikelihood(logits, labels, b.map((x, j) => x + (j === k ? e : 0)))).toBeLessThanOrEqual(best);
  });

  it('recovers a planted bias from many texts', () => {
    const bias = [0.6, -0.9, 0.3];
    const { logits, labels } = planted(20000, 3, bias, 3);
    const b = fitClassBiases(logits, labels, 3);
    const mean = bias.reduce((a, c) => a + c, 0) / 3;
    b.forEach((x, k) => expect(Math.abs(x - (bias[k] - mean))).toBeLessThan(0.08));
  });

  it("is blind to the classifier's own biases: the refitted logits are the same", () => {
    const { logits, labels } = planted(200, 3, [0, 0, 0], 4);
    const offset = [2, -1, 0.5];
    const moved = logits.map((z) => z.map((x, k) => x + offset[k]));
    const a = fitClassBiases(logits, labels, 3);
    const b = fitClassBiases(moved, labels, 3);
    const mean = offset.reduce((s, c) => s + c, 0) / 3;
    b.forEach((x, k) => expect(x).toBeCloseTo(a[k] - (offset[k] - mean), 6));
  });

  it('converges from confident, far-off logits (the backtracking step)', () => {
    // Every text of both classes scored +30 for class 1: the fit must move the threshold by ~30.
    const logits = [...Array.from({ length: 50 }, (_, i) => [0, 29 + i / 50]), ...Array.from({ length: 50 }, (_, i) => [0, 30 + i / 50])];
    const labels = [...new Array(50).fill(0), ...new Array(50).fill(1)];
    const b = fitClassBiases(logits, labels, 2);
    const p = meanPrediction(logits, b);
    expect(p[0]).toBeCloseTo(50, 4);
    expect(b[1] - b[0]).toBeLessThan(-28);
  });

  it('refuses what has no finite or well-formed fit', () => {
    expect(() => fitClassBiases([[0, 1], [1, 0]], [1, 1], 2)).toThrow(/class 0 has no text/);
    expect(() => fitClassBiases([[0, Number.NaN], [1, 0]], [0, 1], 2)).toThrow(/logit row 0 is not 2 finite numbers/);
    expect(() => fitClassBiases([[0, 1, 2], [1, 0]], [0, 1], 2)).toThrow(/logit row 0/);
    expect(() => fitClassBiases([[0, 1], [1, 0]], [0, 2], 2)).toThrow(/label 2 of row 1/);
    expect(() => fitClassBiases([[0, 1]], [0, 1], 2)).toThrow(/1 logit rows but 2 labels/);
    expect(() => fitClassBiases([[0]], [0], 1)).toThrow(/at least two classes/);
  });
});

describe('refitThreshold', () => {
  it('re-reads every text under the shifted logits, its logits as built kept', () => {
    // A classifier that calls most negative texts positive: +1 on class 1 for all of them.
    const logits = [[0, 1.5], [0, 0.8], [0, 0.5], [0, -0.2], [0, 2.5], [0, 1.9], [0, 1.2], [0, 0.3]];
    const ex = logits.map((z, i) => ({ text: `t${i}`, labelIndex: i < 4 ? 0 : 1, target_logits: z, target_label: z[1] > z[0] ? 1 : 0, target_margin: i < 4 ? z[0] - z[1] : z[1] - z[0] }));
    const r = refitThreshold(ex, 2);
    const shift = fitClassBiases(logits, ex.map((e) => e.labelIndex), 2);
    expect(r.shift).toEqual(shift);
    const t = shift[1] - shift[0];
    expect(t).toBeLessThan(0);
    r.examples.forEach((e, i) => {
      const D = logits[i][1] - logits[i][0] + t;
      expect(e.target_label).toBe(D > 0 ? 1 : 0);
      expect(e.target_margin).toBeCloseTo(e.labelIndex === 1 ? D : -D, 12);
      expect(e.target_logits).toEqual(logits[i]);
      expect(e.text).toBe(ex[i].text);
    });
    expect(r.changed).toBe(r.examples.filter((e, i) => e.target_label !== ex[i].target_label).length);
    expect(r.changed).toBeGreaterThan(0);
    // The inputs are not modified.
    expect(ex[1].target_label).toBe(1);
  });

  it('refuses texts without logits', () => {
    expect(() => refitThreshold([{ labelIndex: 0, target_logits: [0, 1] }, { labelIndex: 1 }], 2)).toThrow(/text 1 carries no target classifier logits/);
  });
});
