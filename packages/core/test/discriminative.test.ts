/**
 * Issue 10's pieces against slow, obviously correct references: public statistics against a
 * two-pass float64 mean/covariance, the Cholesky solve against a known system, the target
 * classifier against the LDA it estimates (Gaussian classes with a dominant shared mean), the
 * matching loss with a classifier term against autodiff of materialised G_syn + explicit
 * cross-entropy, label contexts and the target filter.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  buildTargetClassifier,
  classifyStates,
  computeClassTarget,
  labelContextText,
  batchTextLength,
  publicDemonstrations,
  bootstrapDemonstrations,
  contextDemonstrations,
  demonstrationSlots,
  synthesize,
  everyLabelsDemonstrations,
  interleavedSlots,
  labelledContextText,
  classDemonstrations,
  mineDemonstrations,
  withMinedDemonstrations,
  DEFAULT_METHOD,
  type SyntheticExample,
  lastPosition,
  loadModel,
  MatchingLoss,
  meanAndCovariance,
  publicHiddenStats,
  publicStatsBatch,
  publicStatsBatches,
  publicStatsOf,
  allowedTokenIds,
  perplexities,
  sampleAllowed,
  Rng,
  select,
  bestMatching,
  dropSurplusMisplaced,
  solveSpd,
  targetFilterOf,
  resolvePreset,
  overgenerated,
  validateSettings,
  SENTIMENT_TASK,
  validateTask,
  vocabularyOf,
  missingSymbols,
  withDomain,
  namesDomain,
  DEFAULT_LABEL_CONTEXT,
  type ClassTarget,
  type LoadedModel,
  type PublicStats,
} from '@synthgrad/core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useTestBackend } from '../../../test/helpers/backend.js';
import { tinyConfig, tinyWeights, writeTinyLlamaGGUF } from '../../../test/helpers/tiny-llama.js';

describe('public statistics', () => {
  it('mean and covariance equal a two-pass float64 computation', () => {
    const rng = new Rng(1);
    const n = 37;
    const d = 6;
    const rows = Float64Array.from(rng.normals(n * d), (x, i) => x * (1 + (i % d)) + 3);
    const { mean, covariance } = meanAndCovariance(rows, n, d);
    for (let k = 0; k < d; k++) {
      let m = 0;
      for (let i = 0; i < n; i++) m += rows[i * d + k];
      expect(mean[k]).toBeCloseTo(m / n, 10);
    }
    for (let a = 0; a < d; a++)
      for (let b = 0; b < d; b++) {
        let c = 0;
        for (let i = 0; i < n; i++) c += (rows[i * d + a] - mean[a]) * (rows[i * d + b] - mean[b]);
        expect(covariance[a * d + b]).toBeCloseTo(c / (n - 1), 9);
      }
  });

  it('solveSpd solves a symmetric positive-definite system and refuses an indefinite one', () => {
    const n = 5;
    const rng = new Rng(2);
    const M = rng.normals(n * n);
    const A = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) A[i * n + j] += M[i * n + k] * M[j * n + k];
    for (let i = 0; i < n; i++) A[i * n + i] += 0.1;
    const x = Float64Array.from(rng.normals(n));
    const b = new Float64Array(n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) b[i] += A[i * n + j] * x[j];
    const [got] = solveSpd(A, n, [b]);
    got.forEach((v, i) => expect(v).toBeCloseTo(x[i], 8));
    expect(() => solveSpd(Float64Array.from([1, 2, 2, 1]), 2, [Float64Array.from([1, 1])])).toThrow(/not positive definite/);
  });
});

/**
 * Two Gaussian classes sharing a large mean (as small LMs' final states do), with the contrast
 * along a low-variance direction the raw means hide; targets built the way clients build them.
 */
function gaussianWorld(seed: number) {
  const d = 8;
  const V = 4;
  const labelTokens = [1, 2];
  const rng = new Rng(seed);
  const shared = Array.from({ length: d }, (_, k) => (k === 0 ? 40 : 0));
  const scales = Array.from({ length: d }, (_, k) => (k === 3 ? 0.3 : 3)); // dimension 3 is quiet
  const contrast = Array.from({ length: d }, (_, k) => (k === 3 ? 0.6 : k === 5 ? 1 : 0)); // class offset +-contrast/2
  const sample = (c: number | null) => shared.map((m, k) => m + scales[k] * rng.normal() + (c === null ? 0 : (c === 1 ? 0.5 : -0.5) * contrast[k]));
  const n = 200;
  const targets: ClassTarget[] = [0, 1].map((c) => {
    const sum = new Float32Array(V * d);
    for (let i = 0; i < n; i++) {
      const h = sample(c);
      const w = 0.9; // 1 - p(v_c)
      for (let k = 0; k < d; k++) sum[labelTokens[c] * d + k] -= w * h[k];
    }
    return { label: c, vocabSize: V, dModel: d, rows: null, sum, count: n, noiseStd: 0, clip: null };
  });
  const pub = Float64Array.from({ length: 400 * d }, () => 0);
  for (let i = 0; i < 400; i++) pub.set(sample(i % 2), i * d);
  const stats: PublicStats = { count: 400, dModel: d, ...meanAndCovariance(pub, 400, d) };
  const test = (c: number) => Float32Array.from(sample(c));
  return { d, labelTokens, targets, stats, test, n };
}

describe('target classifier', () => {
  it('recovers the class sums without counts and classifies fresh states like LDA', () => {
    const w = gaussianWorld(3);
    const clf = buildTargetClassifier(w.targets, w.labelTokens, w.stats, { discriminant: 'lda', shrinkage: 0 });
    for (const s of clf.weightSums) expect(s).toBeGreaterThan(0.9 * 0.9 * w.n);
    for (const s of clf.weightSums) expect(s).toBeLessThan(1.1 * 0.9 * w.n);
    let right = 0;
    const trials = 2000;
    for (let i = 0; i < trials; i++) {
      const c = i % 2;
      const [z] = classifyStates(clf, w.test(c), 1);
      if ((z[1] > z[0] ? 1 : 0) === c) right++;
    }
    // Bayes accuracy here is 0.845 (Mahalanobis distance 2.03); the difference of raw class means
    // alone, dominated by the loud dimension 5, scores about 0.6.
    expect(right / trials).toBeGreaterThan(0.8);
    expect(clf.separation).toBeGreaterThan(1);
  });

  it('refuses one class, mismatched label tokens and bad shrinkage', () => {
    const w = gaussianWorld(4);
    expect(() => buildTargetClassifier(w.targets.slice(0, 1), [1], w.stats)).toThrow(/at least two classes/);
    expect(() => buildTargetClassifier(w.targets, [1], w.stats)).toThrow(/label tokens/);
    expect(() => buildTargetClassifier(w.targets, w.labelTokens, w.stats, { discriminant: 'lda', shrinkage: 1 })).toThrow(/shrinkage/);
    expect(() => buildTargetClassifier(w.targets, w.labelTokens, w.stats)).toThrow(/needs the 2 head rows/);
  });

  it("'head': the given rows, with the boundary through the mean of the estimated class means", () => {
    const w = gaussianWorld(5);
    const rows = [Float32Array.from({ length: w.d }, (_, k) => (k === 5 ? -1 : k === 0 ? 0.1 : 0)), Float32Array.from({ length: w.d }, (_, k) => (k === 5 ? 1 : k === 0 ? 0.3 : 0))];
    const clf = buildTargetClassifier(w.targets, w.labelTokens, w.stats, { headRows: rows });
    expect(clf.discriminant).toBe('head');
    // Weights are the rows (up to the common temperature), and the class-mean midpoint scores a tie.
    const tau = clf.weights[5 * 2 + 1] / rows[1][5];
    for (let k = 0; k < w.d; k++) for (let c = 0; c < 2; c++) expect(clf.weights[k * 2 + c]).toBeCloseTo(tau * rows[c][k], 6);
    const means = w.targets.map((t, c) => {
      const r = Array.from(t.sum.subarray(w.labelTokens[c] * w.d, (w.labelTokens[c] + 1) * w.d), (x) => -x);
      return r.map((x) => x / clf.weightSums[c]);
    });
    const mid = Float32Array.from(means[0].map((x, k) => (x + means[1][k]) / 2));
    const [z] = classifyStates(clf, mid, 1);
    expect(z[1] - z[0]).toBeCloseTo(0, 4);
  });
});

describe('on a tiny llama', () => {
  const config = tinyConfig();
  const V = config.vocabSize;
  const d = config.dModel;
  let rt: LoadedModel;
  const TEXTS = [
    ['a bad plot', 'in the end it was bad', 'dull and slow'],
    ['the great film', 'the cast is great', 'a warm story'],
  ];
  let targets: ClassTarget[];
  let stats: PublicStats;
  beforeAll(async () => {
    await useTestBackend();
    const path = join(mkdtempSync(join(tmpdir(), 'synthgrad-disc-')), 'tiny.gguf');
    writeTinyLlamaGGUF(path, config, tinyWeights(config, 5));
    rt = await loadModel(path);
    const suffix = rt.tokenizer.encode(' it');
    targets = TEXTS.map((texts, c) =>
      computeClassTarget(rt.model, texts.map((text, i) => ({ text, label: c, line: i + 1, source: 'm' })), c, [7, 9][c], (t) => [...rt.tokenizer.encode(t), ...suffix], {}),
    );
    stats = publicHiddenStats(rt.model, { context: rt.tokenizer.encode('The'), suffix, allowed: new Set(allowedTokenIds(rt.tokenizer)), length: 4, count: 24, seed: 0, batchSize: 8 });
  });

  it('perplexities of a left-padded batch equal a per-sequence computation from the full logits', () => {
    const seqs = [rt.tokenizer.encode('the great film was'), rt.tokenizer.encode('a bad plot'), rt.tokenizer.encode('in the end it was bad and dull')];
    const fast = perplexities(rt.model, seqs, 2);
    seqs.forEach((seq, j) => {
      const logp = tf.tidy(() => tf.logSoftmax(rt.model.forward({ ids: [seq], logits: 'all' }).logits!).arraySync() as number[][][]);
      let nll = 0;
      for (let i = 1; i < seq.length; i++) nll -= logp[0][i - 1][seq[i]];
      const want = Math.exp(nll / (seq.length - 1));
      expect(Math.abs(fast[j] - want) / want).toBeLessThan(1e-4);
    });
  });

  it('LM sampling restricted to allowed tokens only draws allowed ids, reproducibly', () => {
    const allowed = new Set(allowedTokenIds(rt.tokenizer));
    const a = sampleAllowed(rt.model, allowed, rt.tokenizer.encode('The'), 3, 5, new Rng(3));
    const b = sampleAllowed(rt.model, allowed, rt.tokenizer.encode('The'), 3, 5, new Rng(3));
    expect(a).toEqual(b);
    for (const id of a.flat()) expect(allowed.has(id)).toBe(true);
  });

  it('public statistics follow a next-token ban (what carries the stray-space ban of a task with symbols): the statistics of the banned draws, one text at a time', () => {
    const allowed = new Set(allowedTokenIds(rt.tokenizer));
    // The tiny model's favourite draw, banned everywhere (StraySpaceBan itself is tested in gradmm.test.ts).
    const favourite = sampleAllowed(rt.model, allowed, rt.tokenizer.encode('The'), 1, 1, new Rng(0))[0][0];
    const ban = { bannedAfter: () => new Set([favourite]) };
    const suffix = rt.tokenizer.encode(' it');
    const o = { context: rt.tokenizer.encode('The'), suffix, allowed, length: 6, count: 16, seed: 3, batchSize: 8 };
    const banned = publicHiddenStats(rt.model, { ...o, ban });
    // Oracle: the same seeded draws with the ban, each text's last state from its own forward.
    const rng = Rng.derive(3, 'public-stats');
    const texts = [0, 8].flatMap(() => sampleAllowed(rt.model, allowed, o.context, 8, 6, rng, { ban }));
    expect(texts.flat()).not.toContain(favourite);
    const rows = new Float32Array(16 * d);
    texts.forEach((ids, j) => rows.set(tf.tidy(() => lastPosition(rt.model.forward({ ids: [[...ids, ...suffix]], logits: 'none' }).hidden).dataSync() as Float32Array), j * d));
    const want = meanAndCovariance(rows, 16, d);
    banned.mean.forEach((v, i) => expect(v).toBeCloseTo(want.mean[i], 4));
    // Not vacuous: without the ban the same seed draws the favourite, and the statistics differ.
    const again = Rng.derive(3, 'public-stats');
    expect([0, 8].flatMap(() => sampleAllowed(rt.model, allowed, o.context, 8, 6, again)).flat()).toContain(favourite);
    expect(Array.from(publicHiddenStats(rt.model, o).mean)).not.toEqual(Array.from(banned.mean));
  });

  it('a batch of the public statistics drawn on its own (its part of the one stream skipped to) is the batch drawn after the others, bit for bit', () => {
    const allowed = new Set(allowedTokenIds(rt.tokenizer));
    const o = { context: rt.tokenizer.encode('The'), suffix: rt.tokenizer.encode(' it'), allowed, length: 5, count: 20, seed: 4, batchSize: 8 };
    // Oracle: one stream drawn in order, batch after batch, as one thread samples the texts.
    const rng = Rng.derive(4, 'public-stats');
    const inOrder = publicStatsBatches(o).map(({ n }) => sampleAllowed(rt.model, allowed, o.context, n, o.length, rng));
    expect(publicStatsBatches(o)).toEqual([{ start: 0, n: 8 }, { start: 8, n: 8 }, { start: 16, n: 4 }]);
    // The last batch first, then the others: each is the oracle's.
    const parts = [16, 8, 0].map((start, k) => publicStatsBatch(rt.model, o, start, [4, 8, 8][k]));
    parts.forEach((p) => expect(p.ids).toEqual(inOrder[p.start / 8]));
    const whole = publicHiddenStats(rt.model, o);
    expect(whole.draws!.ids).toEqual(inOrder.flat());
    const assembled = publicStatsOf(parts, 20, d);
    expect(Array.from(assembled.draws!.hidden)).toEqual(Array.from(whole.draws!.hidden));
    expect(Array.from(assembled.covariance)).toEqual(Array.from(whole.covariance));
    expect(() => publicStatsOf(parts.slice(1), 20, d)).toThrow(/16 texts in the batches, 20 expected/);
  });

  it('Rng.skip(n) moves a stream on by n draws', () => {
    const a = new Rng(11);
    const drawn = Array.from({ length: 1000 }, () => a.uniform());
    for (const n of [0, 1, 7, 999]) expect(new Rng(11).skip(n).uniform()).toBe(drawn[n]);
    expect(() => new Rng(1).skip(-1)).toThrow(RangeError);
  });

  it('public statistics are reproducible by seed and finite', () => {
    const again = publicHiddenStats(rt.model, { context: rt.tokenizer.encode('The'), suffix: rt.tokenizer.encode(' it'), allowed: new Set(allowedTokenIds(rt.tokenizer)), length: 4, count: 24, seed: 0, batchSize: 8 });
    expect(Array.from(again.mean)).toEqual(Array.from(stats.mean));
    expect(stats.mean.every(Number.isFinite)).toBe(true);
    expect(stats.covariance.every(Number.isFinite)).toBe(true);
  });

  it('matching loss with the classifier term equals autodiff of materialised G_syn plus explicit cross-entropy', () => {
    const clf = buildTargetClassifier(targets, [7, 9], stats, { discriminant: 'lda' });
    const beta = 0.7;
    const c = 1;
    const loss = new MatchingLoss(rt.model, targets[c], 9, 'cosine', { classifier: clf, classIndex: c, weight: beta });
    const slowObjective = (h: tf.Tensor2D) =>
      tf.tidy(() => {
        const B = h.shape[0];
        const s = tf.sub(tf.softmax(rt.model.logitsOf(h)), tf.oneHot(tf.fill([B], 9, 'int32'), V));
        const G = tf.div(tf.matMul(tf.transpose(s), h), B);
        const Gc = tf.tensor2d(targets[c].sum, [V, d]);
        const D = tf.sub(1, tf.div(tf.sum(tf.mul(G, Gc)), tf.mul(tf.norm(G), tf.norm(Gc))));
        const z = tf.add(tf.matMul(h, tf.tensor2d(clf.weights, [d, 2])), tf.tensor1d(clf.bias));
        // A one-hot product, not tf.gather: gather's gradient needs UnsortedSegmentSum, which the
        // wasm backend (a fresh clone without the native one) does not have.
        const ce = tf.mean(tf.neg(tf.sum(tf.mul(tf.logSoftmax(z), tf.oneHot(tf.fill([B], c, 'int32'), 2)), 1)));
        return tf.add(D, tf.mul(beta, ce)) as tf.Scalar;
      });
    const x = tf.tidy(() => tf.mul(tf.tensor3d(new Rng(4).normals(3 * 5 * d), [3, 5, d]), 0.5)) as tf.Tensor3D;
    const fast = rt.model.valueAndGradWrtEmbeddings(x, (h) => loss.loss(lastPosition(h)));
    const slow = rt.model.valueAndGradWrtEmbeddings(x, (h) => slowObjective(lastPosition(h)));
    expect(Math.abs(fast.value - slow.value)).toBeLessThan(1e-5 * Math.max(1, Math.abs(slow.value)));
    const a = fast.grad.dataSync();
    const b = slow.grad.dataSync();
    let m = 0;
    let scale = 0;
    for (let i = 0; i < a.length; i++) {
      m = Math.max(m, Math.abs(a[i] - b[i]));
      scale = Math.max(scale, Math.abs(b[i]));
    }
    expect(m / scale).toBeLessThan(1e-3);
    // Per example: the batch of one.
    const h = tf.tidy(() => tf.tensor2d(new Rng(6).normals(2 * d), [2, d]));
    const per = loss.perExample(h).dataSync();
    for (let j = 0; j < 2; j++) expect(per[j]).toBeCloseTo(tf.tidy(() => loss.loss(tf.slice(h, [j, 0], [1, d])).dataSync()[0]), 5);
    for (const t of [x, fast.grad, slow.grad, h]) t.dispose();
    loss.dispose();
  });
});

describe('task label context and the target filter', () => {
  it('fills the label name, verbaliser and label-blind prefix; a custom task that only names labels gets the default', () => {
    expect(labelContextText(SENTIMENT_TASK, 1)).toBe('A positive movie review:');
    expect(labelContextText(SENTIMENT_TASK, 0, 1)).toBe('A negative movie review: a tedious , clumsy mess with nothing to say .\nA negative movie review:');
    const custom = validateTask({ suffix: ' Topic:', labels: [{ value: 'a', name: 'sports', verbalizer: ' sport' }, { value: 'b', name: 'politics', verbalizer: ' politics' }] }, 't.json');
    expect(labelContextText(custom, 0)).toBe('Here is a sports example. The');
    // "a" before a name that starts with a vowel reads "an", in either case; other words keep theirs.
    const vowels = validateTask({ suffix: ' Topic:', labels: [{ value: 0, name: 'entertainment', verbalizer: ' fun' }, { value: 1, name: 'Opinion', verbalizer: ' view' }] }, 't.json');
    expect(labelContextText(vowels, 0)).toBe('Here is an entertainment example. The');
    expect(labelContextText(withDomain(vowels, 'news article'), 0)).toBe('An entertainment news article:');
    expect(labelContextText({ ...vowels, labelContext: 'Data {label}, a {label} one. A{label}' }, 1)).toBe('Data Opinion, an Opinion one. AOpinion');
    expect(() => validateTask({ suffix: ' x', labelContext: 'no label here', labels: custom.labels }, 't.json')).toThrow(/t\.json: "labelContext" must name the label/);
  });

  it("every label's demonstrations (demonstrationLabels 'all', and 'auto' for two labels): slot by slot, the other labels' first and the class's own last, each after its own label context", () => {
    // Written out by hand: what the LM reads before a positive text.
    const neg = ['a tedious , clumsy mess with nothing to say .', 'the plot is thin and the jokes fall flat .'];
    const pos = ['a gripping , beautifully acted film that stays with you .', 'warm , funny and full of life .'];
    expect(labelledContextText(SENTIMENT_TASK, 1, interleavedSlots([neg, pos], 1).flat())).toBe(
      `A negative movie review: ${neg[0]}\nA positive movie review: ${pos[0]}\nA negative movie review: ${neg[1]}\nA positive movie review: ${pos[1]}\nA positive movie review:`,
    );
    // The class's own lines alone are the 'own' context; none leaves the label context.
    expect(labelledContextText(SENTIMENT_TASK, 0, neg.map((text) => ({ label: 0, text })))).toBe(labelContextText(SENTIMENT_TASK, 0, 2));
    expect(labelledContextText(SENTIMENT_TASK, 0, [])).toBe('A negative movie review:');
    // Three labels with unequal counts: labels without a j-th demonstration drop out of slot j.
    const slots = interleavedSlots([['a0', 'a1', 'a2'], ['b0'], ['c0', 'c1']], 1);
    expect(slots.map((slot) => slot.map((l) => `${l.label}:${l.text}`))).toEqual([['0:a0', '2:c0', '1:b0'], ['0:a1', '2:c1'], ['0:a2']]);
    // The wiring: a batch's slots hold the class's own demonstrations (public, then filled), and
    // every other label's public draw for the same batch.
    const three = validateTask(
      { suffix: ' x', domain: 'note', labels: [0, 1, 2].map((v) => ({ value: v, name: `l${v}`, verbalizer: ` v${v}` })), demonstrations: [0, 0, 0, 1, 2, 2].map((label, i) => ({ text: `d${i}`, label })) },
      't.json',
    );
    const method = { ...DEFAULT_METHOD, demonstrations: 2, fillDemonstrations: 0 };
    expect(demonstrationSlots(three, 1, method, [], 7, 3)).toEqual([[{ label: 1, text: 'd3' }]]);
    const all = demonstrationSlots(three, 1, { ...method, demonstrationLabels: 'all' }, [], 7, 3);
    const drawn = (o: number) => publicDemonstrations(three, o, 2, Rng.derive(7, 'public-demos', o, 3));
    expect(drawn(0)).toHaveLength(2); // label 0 has three: a seeded draw of two
    expect(all).toEqual(interleavedSlots([drawn(0), ['d3'], drawn(2)], 1));
    expect(all[0].at(-1)).toEqual({ label: 1, text: 'd3' });
    // 'auto' (the default): every label's for two labels, the class's own for more.
    expect(method.demonstrationLabels).toBe('auto');
    expect(demonstrationSlots(three, 1, method, [], 7, 3)).toEqual(demonstrationSlots(three, 1, { ...method, demonstrationLabels: 'own' }, [], 7, 3));
    const two = { ...SENTIMENT_TASK, name: 'two' };
    expect(demonstrationSlots(two, 0, method, [], 7, 3)).toEqual(demonstrationSlots(two, 0, { ...method, demonstrationLabels: 'all' }, [], 7, 3));
    expect(demonstrationSlots(two, 0, method, [], 7, 3)).toEqual(interleavedSlots([classDemonstrations(two, 0), classDemonstrations(two, 1)], 0));
    expect([2, 3].map((k) => everyLabelsDemonstrations(k, method))).toEqual([true, false]);
    expect([2, 3].map((k) => everyLabelsDemonstrations(k, { demonstrationLabels: 'own' }))).toEqual([false, false]);
    expect([2, 3].map((k) => everyLabelsDemonstrations(k, { demonstrationLabels: 'all' }))).toEqual([true, true]);
  });

  it('synthesize refuses an unknown demonstrationLabels before it touches the model', async () => {
    const method = { ...DEFAULT_METHOD, demonstrationLabels: 'both' } as unknown as typeof DEFAULT_METHOD;
    await expect(synthesize(undefined as never, SENTIMENT_TASK, [], { method } as never, {} as never)).rejects.toThrow(/demonstrationLabels must be one of auto, own, all, got "both"/);
  });

  it('a domain builds the contexts a task file leaves out; namesDomain tells a labels-only task', () => {
    const labels = SENTIMENT_TASK.labels;
    const onlyLabels = validateTask({ suffix: ' It was', labels }, 't.json');
    expect(namesDomain(onlyLabels)).toBe(false);
    expect(onlyLabels.labelContext).toBe(DEFAULT_LABEL_CONTEXT);
    expect(namesDomain(SENTIMENT_TASK)).toBe(true);
    expect(namesDomain(validateTask({ suffix: ' It was', labels, contextPrefix: 'Support ticket:' }, 't.json'))).toBe(true);
    expect(namesDomain(validateTask({ suffix: ' It was', labels, labelContext: 'A {label} ticket:' }, 't.json'))).toBe(true);
    const named = validateTask({ suffix: ' It was', labels, domain: '  support   ticket ' }, 't.json');
    expect(named).toMatchObject({ domain: 'support ticket', contextPrefix: 'Support ticket:', labelContext: 'A {label} support ticket:' });
    expect(labelContextText(named, 0)).toBe('A negative support ticket:');
    expect(namesDomain(named)).toBe(true);
    // The file's own contexts win over the domain's.
    expect(validateTask({ suffix: ' It was', labels, domain: 'tweet', contextPrefix: 'Tweet text:' }, 't.json')).toMatchObject({ contextPrefix: 'Tweet text:', labelContext: 'A {label} tweet:' });
    expect(withDomain(onlyLabels, 'movie review')).toMatchObject({ contextPrefix: 'Movie review:', labelContext: 'A {label} movie review:', demonstrations: [] });
    for (const bad of ['', '   ', 3]) expect(() => validateTask({ suffix: ' x', labels, domain: bad }, 't.json')).toThrow(/t\.json: "domain" must be a non-empty string/);
  });

  it('"symbols" is kept as written, absent when empty, and refused with letters, whitespace or a non-string', () => {
    const labels = SENTIMENT_TASK.labels;
    expect(validateTask({ suffix: ' x', labels, symbols: '@#0123456789' }, 't.json').symbols).toBe('@#0123456789');
    expect(validateTask({ suffix: ' x', labels, symbols: '' }, 't.json').symbols).toBeUndefined();
    expect(validateTask({ suffix: ' x', labels }, 't.json').symbols).toBeUndefined();
    expect(vocabularyOf(validateTask({ suffix: ' x', labels, symbols: '$%' }, 't.json'), { punctuation: true })).toEqual({ punctuation: true, symbols: '$%' });
    for (const [bad, found] of [['@a', '"a"'], ['# ', '" "'], ['@\n', '"\\n"'], ['é', '"é"']] as const) {
      expect(() => validateTask({ suffix: ' x', labels, symbols: bad }, 't.json')).toThrow(new RegExp(`t\\.json: "symbols" may not hold letters, whitespace or control characters \\(found ${found.replaceAll('\\', '\\\\')}\\)`));
    }
    expect(() => validateTask({ suffix: ' x', labels, symbols: ['@'] }, 't.json')).toThrow(/"symbols" must be a string of characters/);
  });

  it('missingSymbols names the characters a class uses that the texts cannot write, digits as one, commonest first (ties by character)', () => {
    const task = { labels: [{ value: 0, name: 'review', verbalizer: ' r' }, { value: 1, name: 'tweet', verbalizer: ' t' }] };
    const reviews = ['costs $5, fine.', 'good (really) - yes!', 'meh', 'ok', 'fine', 'great', 'bad', 'sad', 'glad', 'odd'];
    const tweets = ['@bob hi #fun 2', '@amy 10/10', '@joe 7 and 8', 'plain', 'hello', 'yo', 'no', 'so', 'go', 'do'];
    expect(missingSymbols([reviews, tweets], task)).toEqual([
      { symbol: '0123456789', class: 'tweet', share: 0.3 },
      { symbol: '@', class: 'tweet', share: 0.3 },
      { symbol: '#', class: 'tweet', share: 0.1 },
      { symbol: '$', class: 'review', share: 0.1 },
      { symbol: '/', class: 'tweet', share: 0.1 },
    ]);
    // What the task already writes is not missing; nor are rarer characters.
    expect(missingSymbols([reviews, tweets], { ...task, symbols: '@0123456789$/' }).map((u) => u.symbol)).toEqual(['#']);
    expect(missingSymbols([reviews.concat(Array(30).fill('x')), tweets.concat(Array(30).fill('x'))], task)).toEqual([]);
  });

  it('per-batch demonstrations and text lengths: unchanged by default, spread and drawn when asked', () => {
    // At most as many public demonstrations as asked for: all of them, in the task's order, every batch.
    expect(publicDemonstrations(SENTIMENT_TASK, 1, 4, new Rng(1))).toEqual(['a gripping , beautifully acted film that stays with you .', 'warm , funny and full of life .']);
    const many = { ...SENTIMENT_TASK, demonstrations: Array.from({ length: 6 }, (_, i) => ({ text: `demo ${i}`, label: 1 })) };
    const draws = [0, 1, 2].map((b) => publicDemonstrations(many, 1, 3, Rng.derive(0, 'public-demos', 1, b)));
    for (const d of draws) expect(new Set(d).size).toBe(3);
    expect(new Set(draws.map((d) => d.join('|'))).size).toBeGreaterThan(1);
    expect(publicDemonstrations(many, 1, 3, Rng.derive(0, 'public-demos', 1, 0))).toEqual(draws[0]); // seeded
    expect([0, 1, 2, 3, 4, 5].map((b) => batchTextLength(20, 0, b, 6))).toEqual([20, 20, 20, 20, 20, 20]);
    const spread = [0, 1, 2, 3, 4, 5].map((b) => batchTextLength(20, 0.5, b, 6));
    expect(spread).toEqual([10, 14, 18, 22, 26, 30]);
    expect(batchTextLength(20, 0.5, 0, 1)).toBe(20);
    expect(batchTextLength(3, 0.9, 0, 6)).toBe(2);
    expect(() => batchTextLength(20, 1, 0, 6)).toThrow(/lengthSpread/);
    // Bootstrapped demonstrations come from the better half by matching loss, one line each.
    const earlier = [0.5, 0.1, 0.4, 0.2].map((l, i) => ({ text: `t${i}\nx`, ids: [i], matching_loss: l }) as SyntheticExample);
    expect(new Set(bootstrapDemonstrations(earlier, 2, new Rng(3)))).toEqual(new Set(['t1 x', 't3 x']));
    expect(bootstrapDemonstrations([], 2, new Rng(3))).toEqual([]);
    // ... among the texts the targets' classifier puts in their own class.
    const labelled = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6].map((l, i) => ({ text: `u${i}`, ids: [i], matching_loss: l, labelIndex: 1, target_label: i < 2 ? 0 : 1 }) as SyntheticExample);
    expect(new Set(bootstrapDemonstrations(labelled, 2, new Rng(3)))).toEqual(new Set(['u2', 'u3']));
    expect(bootstrapDemonstrations(labelled.slice(0, 2), 2, new Rng(3))).toEqual([]);
    // fillDemonstrations tops up only a class short of public demonstrations, and never past
    // `demonstrations`; bootstrapDemonstrations adds on top of the public ones.
    const half = { ...SENTIMENT_TASK, demonstrations: SENTIMENT_TASK.demonstrations.filter((d) => d.label === 1) };
    const mine = (c: number) => [0.1, 0.2, 0.3, 0.4].map((l, i) => ({ text: `c${c} t${i}`, ids: [c, i], matching_loss: l, labelIndex: c, target_label: c }) as SyntheticExample);
    const fill2 = { ...DEFAULT_METHOD, demonstrations: 4, fillDemonstrations: 2, bootstrapDemonstrations: 0 };
    const none = contextDemonstrations(half, 0, fill2, mine(0), 0, 3);
    expect(none).toHaveLength(2);
    expect(none.every((t) => t.startsWith('c0 t'))).toBe(true);
    expect(contextDemonstrations(half, 1, fill2, mine(1), 0, 3)).toEqual(classDemonstrations(half, 1)); // enough public ones: unchanged
    expect(contextDemonstrations(half, 0, fill2, [], 0, 0)).toEqual([]); // the first batch has nothing to draw from
    expect(contextDemonstrations(half, 0, { ...fill2, demonstrations: 1 }, mine(0), 0, 3)).toHaveLength(1);
    expect(contextDemonstrations(half, 0, { ...fill2, fillDemonstrations: 0 }, mine(0), 0, 3)).toEqual([]);
    const both = contextDemonstrations(half, 1, { ...fill2, bootstrapDemonstrations: 1 }, mine(1), 0, 3);
    expect(both.slice(0, 2)).toEqual(classDemonstrations(half, 1));
    expect(both).toHaveLength(3);
    expect(contextDemonstrations(half, 0, fill2, mine(0), 0, 3)).toEqual(none); // seeded by (seed, class, batch)
    // No filling under the fallback contexts (a task that names only its labels): the first
    // batch's off-domain text would be copied into every later one. Named by a domain: filled.
    const labelsOnly = validateTask({ labels: SENTIMENT_TASK.labels, suffix: ' It was' }, 'test');
    expect(contextDemonstrations(labelsOnly, 0, fill2, mine(0), 0, 3)).toEqual([]);
    expect(contextDemonstrations(withDomain(labelsOnly, 'movie review'), 0, fill2, mine(0), 0, 3)).toHaveLength(2);
  });

  it('mines demonstrations: widest margin first within the class the classifier gives, blanks and repeats skipped, only for classes short of their own', () => {
    const texts = ['a  one', 'b', '  ', 'c', 'a one', 'd'];
    const logits = [
      [3, 0], // class 0 by 3
      [0, 1], // class 1 by 1
      [-12, -7.5], // blank: skipped (its logits make each column's mean 0, so the others read as written)
      [5, 4.5], // class 0 by 0.5
      [4, 0], // "a one" again (whitespace collapsed), class 0 by 4: the wider copy is kept
      [0, 2], // class 1 by 2
    ];
    const mined = mineDemonstrations(texts, logits, 2);
    expect(mined.map((ms) => ms.map((m) => [m.text, m.margin]))).toEqual([
      [['a one', 4], ['c', 0.5]],
      [['d', 2], ['b', 1]],
    ]);
    expect(mined.flat().every((m) => m.classIndex === mined.findIndex((ms) => ms.includes(m)))).toBe(true);
    // A class's logits are read against their mean over the texts: a bias added to a class changes nothing.
    expect(mineDemonstrations(texts, logits.map(([a, b]) => [a + 100, b]), 2)).toEqual(mined);
    expect(mineDemonstrations(['x', 'y'], [[0, 1, 2], [0, 2, 0]], 3)).toEqual([[], [{ classIndex: 1, text: 'y', margin: 0.5 }], [{ classIndex: 2, text: 'x', margin: 1 }]]); // classes given no text get none
    expect(() => mineDemonstrations(['x', 'y'], [[0, 1]], 1)).toThrow(/2 texts but 1 rows of logits/);
    // Added to the classes short of `wanted` of their own, by value; a task with enough is returned as it is.
    const half = { ...SENTIMENT_TASK, demonstrations: SENTIMENT_TASK.demonstrations.filter((d) => d.label === 1) };
    const topped = withMinedDemonstrations(half, mined, 2);
    expect(classDemonstrations(topped, 0)).toEqual(['a one', 'c']);
    expect(classDemonstrations(topped, 1)).toEqual(classDemonstrations(half, 1)); // two of its own already
    expect(withMinedDemonstrations(SENTIMENT_TASK, mined, 2)).toBe(SENTIMENT_TASK);
    expect(classDemonstrations(withMinedDemonstrations(half, mined, 3), 1)).toEqual([...classDemonstrations(half, 1), 'd', 'b']);
  });

  it('select drops candidates the target classifier assigns to another class, and counts them', () => {
    const c = (text: string, labelIndex: number, target_label?: number) => ({ text, labelIndex, matching_loss: 0.1, perplexity: 10, target_label });
    const { kept, report } = select([c('a', 0, 0), c('b', 0, 1), c('c', 1, 1), c('d', 1), c('e', 1, 0)], 2, { targetFilter: 'strict', labelCheck: false, dedup: true, alpha: 0, balance: false });
    expect(kept.map((k) => k.text)).toEqual(['a', 'c', 'd']);
    expect(report.passedTargetFilter).toBe(3);
    // The boolean of earlier versions still reads, and anything else is refused.
    expect([true, false, 'surplus'].map((v) => targetFilterOf(v))).toEqual(['strict', 'off', 'surplus']);
    expect(() => targetFilterOf('on', 'x.targetFilter')).toThrow(/x\.targetFilter must be one of off, surplus, strict, got "on"/);
  });

  it("the cpu-select preset: cpu without X-steps, two outer iterations of one sampled start, 6x generated in its own layout and in the protocol's, the surplus filter with the head discriminant", () => {
    const cpu = resolvePreset('cpu');
    const sel = resolvePreset('cpu-select');
    expect({ ...sel.settings, inner: cpu.settings.inner, outer: cpu.settings.outer, candidates: cpu.settings.candidates }).toEqual(cpu.settings);
    expect(sel.settings).toMatchObject({ inner: 0, outer: 2, candidates: 1 });
    validateSettings({ ...sel.settings, textLength: 10, initNorm: 3 });
    expect(sel.method).toEqual({ ...cpu.method, targetFilter: 'surplus', discriminant: 'head' });
    expect(sel.perClass / sel.topN).toBeCloseTo(sel.overgenerate!, 6);
    expect(overgenerated(50, sel.settings.batchSize, sel.overgenerate)).toEqual({ batchSize: 10, perClass: 300 });
    expect(cpu.overgenerate).toBeUndefined();
    expect(() => resolvePreset('cpu_select')).toThrow(/choose one of paper, cpu, cpu-select/);
  });

  it("the 'surplus' target filter drops misplaced texts, most confident first, only from a class's surplus over topN", () => {
    // Against the definition, restated candidate by candidate: a misplaced candidate is dropped iff
    // fewer than its class's surplus (candidates beyond topN) of the misplaced ones of its class
    // come before it by (margin, position); the rest are ranked by matching loss.
    const rng = new Rng(11);
    for (let trial = 0; trial < 200; trial++) {
      const n = 1 + Math.floor(rng.uniform() * 9);
      const topN = 1 + Math.floor(rng.uniform() * 6);
      const cands = Array.from({ length: n }, (_, i) => {
        const labelIndex = Math.floor(rng.uniform() * 2);
        const hasTarget = rng.uniform() < 0.9;
        const margin = Math.round((rng.uniform() * 4 - 2) * 100) / 100;
        return { text: `t${i}`, labelIndex, matching_loss: Math.round(rng.uniform() * 100) / 100, perplexity: 10, ...(hasTarget ? { target_label: margin > 0 ? labelIndex : 1 - labelIndex, target_margin: margin } : {}) };
      });
      const { kept, report } = select(cands, 2, { targetFilter: 'surplus', labelCheck: false, dedup: true, topN, alpha: 0, balance: false });
      const expected: string[] = [];
      const leftAll: number[] = [];
      let passed = 0;
      for (const l of [0, 1]) {
        const mine = cands.map((c, i) => ({ c, i })).filter(({ c }) => c.labelIndex === l);
        const surplus = Math.max(0, mine.length - topN);
        const misplaced = mine.filter(({ c }) => c.target_label !== undefined && c.target_label !== l);
        const before = (x: (typeof mine)[number], y: (typeof mine)[number]) => y.c.target_margin! < x.c.target_margin! || (y.c.target_margin === x.c.target_margin && y.i < x.i);
        const left = mine.filter((x) => !misplaced.includes(x) || misplaced.filter((y) => before(x, y)).length >= surplus);
        passed += left.length;
        leftAll.push(...left.map(({ i }) => i));
        // What is kept per class is never fewer than topN while the class had that many.
        expect(Math.min(left.length, topN)).toBe(Math.min(mine.length, topN));
        expected.push(...left.sort((a, b) => a.c.matching_loss - b.c.matching_loss || a.i - b.i).slice(0, topN).map(({ c }) => c.text));
      }
      expect(new Set(kept.map((k) => k.text))).toEqual(new Set(expected));
      expect(report.passedTargetFilter).toBe(passed);
      // The filter on its own (no dedup needed: the texts are distinct) leaves the same, in order.
      expect(dropSurplusMisplaced(cands, 2, topN).map((x) => x.text)).toEqual(leftAll.sort((a, b) => a - b).map((i) => cands[i].text));
    }
    // A concrete case: class 0 has 4 candidates for 2 places; of its 3 misplaced ones the two most
    // confidently misplaced go even though they match best, and the third stays.
    const c = (text: string, matching_loss: number, target_margin: number) => ({ text, labelIndex: 0, matching_loss, perplexity: 1, target_label: target_margin > 0 ? 0 : 1, target_margin });
    const { kept } = select([c('a', 0.1, -2), c('b', 0.2, -1), c('c', 0.3, -0.5), c('d', 0.4, 1)], 2, { targetFilter: 'surplus', labelCheck: false, dedup: true, topN: 2, alpha: 0, balance: false });
    expect(kept.map((k) => k.text)).toEqual(['c', 'd']);
  });

  it('a target filter margin M counts only texts placed elsewhere by more than M: the same as margin 0 with the others moved to their own class', () => {
    // Oracle: a candidate placed elsewhere by at most M (margin in [-M, 0], M > 0) is, for the filter,
    // a candidate of its own class; so the filter with M equals the filter with margin 0 on a copy
    // where those candidates carry their own label. Both filters, random candidates and margins.
    const rng = new Rng(12);
    for (let trial = 0; trial < 200; trial++) {
      const n = 1 + Math.floor(rng.uniform() * 12);
      const topN = 1 + Math.floor(rng.uniform() * 6);
      const M = [0, 0.5, 1, 2][Math.floor(rng.uniform() * 4)]!;
      const cands = Array.from({ length: n }, (_, i) => {
        const labelIndex = Math.floor(rng.uniform() * 3);
        const margin = Math.round((rng.uniform() * 6 - 3) * 100) / 100;
        return { text: `t${i}`, labelIndex, matching_loss: Math.round(rng.uniform() * 100) / 100, perplexity: 10, target_label: margin > 0 ? labelIndex : (labelIndex + 1) % 3, target_margin: margin };
      });
      const moved = cands.map((c) => (M > 0 && c.target_label !== c.labelIndex && c.target_margin >= -M ? { ...c, target_label: c.labelIndex } : c));
      for (const targetFilter of ['surplus', 'strict'] as const) {
        const opts = { targetFilter, labelCheck: false, dedup: true, topN, alpha: 0, balance: false };
        const a = select(cands, 3, { ...opts, targetMargin: M });
        const b = select(moved, 3, opts);
        expect(a.kept.map((k) => k.text)).toEqual(b.kept.map((k) => k.text));
        expect(a.report).toEqual(b.report);
      }
      expect(dropSurplusMisplaced(cands, 3, topN, M).map((x) => x.text)).toEqual(dropSurplusMisplaced(moved, 3, topN).map((x) => x.text));
    }
    // bestMatching carries it; a negative or non-finite margin is refused.
    expect(bestMatching(5, 'surplus', 1)).toMatchObject({ targetFilter: 'surplus', targetMargin: 1, topN: 5 });
    const one = [{ text: 'a', labelIndex: 0, matching_loss: 0, perplexity: 1, target_label: 1, target_margin: -1 }];
    expect(() => select(one, 2, { ...bestMatching(1, 'surplus'), targetMargin: -1 })).toThrow(/margin must be a number >= 0, got -1/);
    expect(() => dropSurplusMisplaced(one, 2, 1, Number.NaN)).toThrow(/margin must be a number >= 0, got NaN/);
  });
});
