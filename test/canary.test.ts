/**
 * The canary test of issue 13 (Carlini et al., "The Secret Sharer"): one owner's data holds a
 * unique secret phrase; GRADMM synthesises from that owner's released class targets, without and
 * with differential privacy, and the secret's exposure in the synthetic output is measured by its
 * rank among random phrases of the same form. The score of a phrase is how well the synthetic
 * set's own (clipped, label-rows) gradient matches the phrase's: exactly what GRADMM optimises the
 * output for, so an attacker holding the output and the public model can compute it.
 *
 * Measured (101 phrases, bits; chance averages 1.4, the top is 6.66): without noise the release
 * exposes the secret at 4.7 bits (rank 4) and the synthetic text at 3.1; at epsilon = 1 the
 * release at 0.3 and 0.2, the text at 2.8 and 2.7. So GRADMM's output, whose tokens the LM
 * chooses, carries little of a random secret even without noise; DP removes what the release
 * carries. The noise keys are fixed, so each run is the same.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeContributions } from '@synthgrad/client';
import {
  canaryExposure,
  Checkpoint,
  initBackend,
  loadModel,
  resolvePreset,
  Rng,
  SENTIMENT_TASK,
  synthesize,
  type Example,
  type LoadedModel,
} from '@synthgrad/core';
import { HAVE_REAL_MODEL, REAL_MODEL_PATH } from './helpers/real-model.js';

const dir = mkdtempSync(join(tmpdir(), 'synthgrad-canary-'));
let rt: LoadedModel;
const task = SENTIMENT_TASK;

/** A phrase of the canary's form: four random three-letter lowercase words. */
const phrase = (rng: Rng) => Array.from({ length: 4 }, () => Array.from({ length: 3 }, () => String.fromCharCode(97 + Math.floor(rng.uniform() * 26))).join('')).join(' ');
const rng = new Rng(2024);
const CANARY = phrase(rng);
const CANDIDATES = Array.from({ length: 100 }, () => phrase(rng));
/** The owner's data: the secret among a few ordinary texts of its class. */
const DATA: Example[] = [
  { text: CANARY, label: 1 },
  { text: 'the great film', label: 1 },
  { text: 'a bad plot', label: 0 },
  { text: 'bad acting', label: 0 },
].map((e, i) => ({ ...e, line: i + 1, source: 'canary' }));
const PRIVACY = { clip: 1, delta: 1e-5, maxExamples: 10, release: 'label-rows' as const };

const cosine = (a: Float32Array, b: Float32Array) => {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! ** 2;
    bb += b[i]! ** 2;
  }
  return ab / Math.sqrt(aa * bb);
};

/** Class-1 gradient (clipped, label rows, no noise) of some texts: what the score compares. */
const gradientOf = (texts: string[]) => computeContributions(rt, task, texts.map((text, i) => ({ text, label: 1, line: i + 1, source: 'candidates' })), { ...PRIVACY, epsilon: 0 }, 0)[1]!.sum;

/**
 * Every gradient of this model shares one dominant direction (README, issue 10: class means have
 * cosine 0.995), so raw cosines rank phrases by how typical they are. The score compares
 * directions after removing the mean of the public candidates' unit gradients, which an attacker
 * can compute too.
 */
let publicMean: Float32Array;
/** Centred unit gradient of every phrase scored (the candidates and the canary), computed once. */
const phraseGradients = new Map<string, Float32Array>();
const unit = (g: Float32Array) => {
  const n = Math.hypot(...g);
  return g.map((x) => x / n);
};
const centred = (g: Float32Array) => unit(g).map((x, i) => x - publicMean[i]!);
const exposureIn = (g: Float32Array) => {
  const v = centred(g);
  return canaryExposure((p) => cosine(phraseGradients.get(p)!, v), CANARY, CANDIDATES);
};

/** The owner's class-1 release at `epsilon` (fixed noise key), and what GRADMM makes of it. */
async function run(epsilon: number, noiseByte: number) {
  const target = computeContributions(rt, task, DATA, { ...PRIVACY, epsilon }, 0, Buffer.alloc(32, noiseByte))[1]!;
  const settings = { ...resolvePreset('cpu').settings, batchSize: 4, outer: 4, inner: 4, candidates: 1, topK: 8 };
  const res = await synthesize(rt, task, [{ target, textLength: 8 }], { settings, perClass: 4, seed: 1, distance: 'cosine', workers: 1 }, { checkpoint: Checkpoint.open(join(dir, `ck-${epsilon}-${noiseByte}.json`), 'canary', false) });
  const texts = res.examples.map((e) => e.text);
  return { release: exposureIn(target.sum), output: exposureIn(gradientOf(texts)), texts };
}

beforeAll(async () => {
  if (!HAVE_REAL_MODEL) return;
  await initBackend({});
  rt = await loadModel(REAL_MODEL_PATH);
  const units = CANDIDATES.map((p) => unit(gradientOf([p])));
  publicMean = units[0]!.map((_, i) => units.reduce((a, u) => a + u[i]!, 0) / units.length);
  for (const p of [CANARY, ...CANDIDATES]) phraseGradients.set(p, centred(gradientOf([p])));
});

afterAll(() => {
  rt?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe.runIf(HAVE_REAL_MODEL)('canary exposure (SmolLM2-135M)', () => {
  it('a secret ranks near the top in a noiseless release and at chance at epsilon 1, in the release and in the synthetic text', async () => {
    const open = await run(0, 1);
    const priv = [await run(1, 1), await run(1, 2)];
    const report = { of: open.release.of, open: { release: open.release.exposure, output: open.output.exposure }, epsilon1: priv.map((p) => ({ release: p.release.exposure, output: p.output.exposure })) };
    console.log(`canary exposure in bits (chance ~1.4, top ${Math.log2(open.release.of).toFixed(2)}): ${JSON.stringify(report)}`);
    // Without noise the release gives the secret away: it ranks among the top 5 of 101 (chance: 1 in 20).
    expect(open.release.rank).toBeLessThanOrEqual(5);
    // With epsilon = 1 neither the release nor the text made from it singles it out.
    expect(mean(priv.map((p) => p.release.exposure))).toBeLessThan(3.5);
    expect(mean(priv.map((p) => p.output.exposure))).toBeLessThan(3.5);
    // And no synthetic text copies it.
    for (const t of [...open.texts, ...priv.flatMap((p) => p.texts)]) expect(t).not.toContain(CANARY.split(' ')[0]);
  }, 600_000);
});
