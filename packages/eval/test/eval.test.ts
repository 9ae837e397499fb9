/**
 * Evaluation on tiny random llamas written to real GGUF files: LoRA and full fine-tuning gradients
 * against closed-form/autodiff oracles, the few-shot KV-cached prefix against full recomputation,
 * AdamW against its formula, the trainer's checkpoint selection, data checks and the report.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { lastPosition, leftPad, loadModel, SENTIMENT_TASK, taskTokens, type Example, type LoadedModel, type Task } from '@synthgrad/core';
import { tinyConfig, tinyWeights, writeTinyLlamaGGUF } from '../../../test/helpers/tiny-llama.js';
import { useTestBackend } from '../../../test/helpers/backend.js';
import {
  AdamW,
  balancedSubset,
  carveDev,
  checkLabelSets,
  cleanText,
  fewShotPrefix,
  FeatureCache,
  fineTune,
  devScore,
  fullClassifier,
  headClassifier,
  labelLogProbs,
  loraClassifier,
  predict,
  renderReport,
  stat,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'synthgrad-eval-'));
const modelPath = join(dir, 'tiny.gguf');
let rt: LoadedModel;
const task: Task = { ...SENTIMENT_TASK, instruction: '', contextPrefix: '' };
const ex = (text: string, label: number, i = 0): Example => ({ text, label, line: i + 1, source: 'mem' });

beforeAll(async () => {
  await useTestBackend();
  writeTinyLlamaGGUF(modelPath, tinyConfig(), tinyWeights(tinyConfig(), 5));
  rt = await loadModel(modelPath);
});

/** Mean cross-entropy of the verbaliser logits: the training objective. */
function objective(model: LoadedModel, batch: Example[]): tf.Scalar {
  const toks = taskTokens(task, model.tokenizer);
  const { ids, mask } = leftPad(batch.map((e) => toks.promptIds(e.text)), 0);
  const { hidden } = model.model.forward({ ids, attentionMask: mask, logits: 'none' });
  const logits = tf.matMul(lastPosition(hidden), model.model.headColumns(toks.labelTokens));
  return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(batch.map((e) => e.label), 'int32'), 2), logits) as tf.Scalar;
}

const batch = [ex('the great', 1), ex('a bad', 0), ex('the bad at', 0)];

describe('LoRA', () => {
  it('starts equal to the base model, and its gradients equal the chain rule through a merged weight', async () => {
    const base = tf.tidy(() => objective(rt, batch).dataSync()[0]!);
    const vars = rt.model.attachLora({ rank: 2, alpha: 4, seed: 3, projections: ['q'] });
    try {
      expect(tf.tidy(() => objective(rt, batch).dataSync()[0]!)).toBeCloseTo(base, 6);
      // Give B non-zero values so both gradients are informative.
      const [a0, b0] = [vars[0]!, vars[1]!];
      b0.assign(tf.randomNormal(b0.shape, 0, 0.3, 'float32', 7));
      const { grads } = tf.variableGrads(() => objective(rt, batch), vars);
      // Oracle: a fully trainable model whose layer-0 q weight is W + s·A·B, differentiated by autodiff.
      const s = 4 / 2;
      const merged = tinyWeights(tinyConfig(), 5);
      const ab = tf.matMul(a0, b0).mul(s).arraySync() as number[][]; // [in, out] = delta of W^T
      const [out, inp] = [tinyConfig().nHeads * tinyConfig().headDim, tinyConfig().dModel];
      merged.layers[0]!.wq = merged.layers[0]!.wq.map((w, idx) => w + ab[idx % inp]![Math.floor(idx / inp)]!);
      const { Llama } = await import('@synthgrad/core');
      const full = new Llama(tinyConfig(), merged, { trainable: true });
      const fullRt = { ...rt, model: full } as LoadedModel;
      try {
        expect(tf.tidy(() => objective(fullRt, batch).dataSync()[0]!)).toBeCloseTo(tf.tidy(() => objective(rt, batch).dataSync()[0]!), 5);
        const wq = full.trainableWeights().find((v) => v.shape[0] === inp && v.shape[1] === out)!; // layer 0's q is the first such
        const { grads: g2 } = tf.variableGrads(() => objective(fullRt, batch), [wq]);
        const dW = g2[wq.name]!; // d loss / d W^T  [in, out]
        const expectA = tf.matMul(dW, b0, false, true).mul(s); // s · dW · B^T
        const expectB = tf.matMul(a0, dW, true, false).mul(s); // s · A^T · dW
        const close = (x: tf.Tensor, y: tf.Tensor) => tf.max(tf.abs(tf.sub(x, y))).dataSync()[0]! / (tf.max(tf.abs(y)).dataSync()[0]! + 1e-12);
        expect(close(grads[a0.name]!, expectA)).toBeLessThan(1e-4);
        expect(close(grads[b0.name]!, expectB)).toBeLessThan(1e-4);
      } finally {
        full.dispose();
      }
    } finally {
      rt.model.detachLora();
    }
    expect(tf.tidy(() => objective(rt, batch).dataSync()[0]!)).toBeCloseTo(base, 6);
  });

  it('refuses a second attachment and bad ranks', () => {
    rt.model.attachLora({ rank: 1 });
    try {
      expect(() => rt.model.attachLora({ rank: 1 })).toThrow(/already attached/);
    } finally {
      rt.model.detachLora();
    }
    expect(() => rt.model.attachLora({ rank: 0 })).toThrow(/positive integer/);
  });
});

describe('full fine-tuning', () => {
  it('a trainable model computes the same loss, and its gradient matches central differences', async () => {
    const { Llama } = await import('@synthgrad/core');
    const full = new Llama(tinyConfig(), tinyWeights(tinyConfig(), 5), { trainable: true });
    const fullRt = { ...rt, model: full } as LoadedModel;
    try {
      expect(tf.tidy(() => objective(fullRt, batch).dataSync()[0]!)).toBeCloseTo(tf.tidy(() => objective(rt, batch).dataSync()[0]!), 5);
      const norm = full.trainableWeights().find((v) => v.rank === 1)!; // layer 0 attention norm
      const { grads } = tf.variableGrads(() => objective(fullRt, batch), [norm]);
      const g = grads[norm.name]!.dataSync();
      const orig = norm.dataSync().slice();
      const h = 1e-2;
      for (const i of [0, 5, 17]) {
        const at = (delta: number) => {
          const w = orig.slice();
          w[i]! += delta;
          norm.assign(tf.tensor1d(w));
          return tf.tidy(() => objective(fullRt, batch).dataSync()[0]!);
        };
        const fd = (at(h) - at(-h)) / (2 * h);
        norm.assign(tf.tensor1d(orig));
        expect(Math.abs(fd - g[i]!)).toBeLessThan(2e-3 + 0.02 * Math.abs(fd));
      }
      // The tied embedding/head table: its gradient mixes the head product and the input gather.
      const table = full.trainableWeights()[0]!; // E^T [d, V]
      const { grads: gt } = tf.variableGrads(() => objective(fullRt, batch), [table]);
      const tok = taskTokens(task, rt.tokenizer).promptIds('the great')[0]!;
      const V = tinyConfig().vocabSize;
      const gtab = gt[table.name]!.dataSync();
      const tOrig = table.dataSync().slice();
      for (const row of [0, 9]) {
        const i = row * V + tok;
        const at = (delta: number) => {
          const w = tOrig.slice();
          w[i]! += delta;
          table.assign(tf.tensor2d(w, table.shape as [number, number]));
          return tf.tidy(() => objective(fullRt, batch).dataSync()[0]!);
        };
        const fd = (at(h) - at(-h)) / (2 * h);
        table.assign(tf.tensor2d(tOrig, table.shape as [number, number]));
        expect(Math.abs(fd - gtab[i]!)).toBeLessThan(2e-3 + 0.02 * Math.abs(fd));
      }
      // fullClassifier puts the pretrained weights back when disposed.
      const clf = fullClassifier(fullRt, task);
      const before = full.trainableWeights()[3]!.dataSync().slice();
      full.trainableWeights()[3]!.assign(tf.zerosLike(full.trainableWeights()[3]!));
      clf.dispose();
      expect(Array.from(full.trainableWeights()[3]!.dataSync())).toEqual(Array.from(before));
    } finally {
      full.dispose();
    }
  });
});

describe('few-shot scoring', () => {
  it('the KV-cached demonstration prefix gives the same label log-probabilities as full recomputation', () => {
    const pool = [ex('a great', 1, 0), ex('the bad', 0, 1), ex('great at', 1, 2), ex('bad in', 0, 3)];
    const { ids: prefix, demos } = fewShotPrefix(rt, task, pool, 2, 0);
    expect(demos.map((d) => d.label).sort()).toEqual([0, 1]);
    const texts = ['the great', 'a bad at the', 'in'];
    const cached = labelLogProbs(rt, task, texts, { prefix, batchSize: 2 });
    const toks = taskTokens(task, rt.tokenizer);
    const full = texts.map((t) =>
      tf.tidy(() => {
        const { logits } = rt.model.forward({ ids: [[...prefix, ...toks.promptIds(t)]], logits: 'last' });
        return Array.from(tf.gather(tf.logSoftmax(logits!), tf.tensor1d(toks.labelTokens, 'int32'), 1).dataSync());
      }),
    );
    for (let i = 0; i < texts.length; i++) for (let c = 0; c < 2; c++) expect(cached[i]![c]!).toBeCloseTo(full[i]![c]!, 4);
  });
});

describe('AdamW', () => {
  it('takes the textbook decoupled step', () => {
    const p = tf.variable(tf.tensor1d([1, -2]), true, 'adamw-test');
    const opt = new AdamW([p], { weightDecay: 0.1 });
    const g = tf.tensor1d([0.5, -1]);
    opt.step({ [p.name]: g }, 0.01);
    // t = 1: m_hat = g, v_hat = g^2, so the step is lr * (sign(g) * |g|/(|g|+eps) + wd * p).
    const expected = [1 - 0.01 * (1 + 0.1 * 1), -2 - 0.01 * (-1 + 0.1 * -2)];
    Array.from(p.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6));
    opt.dispose();
    p.dispose();
  });
});

describe('fine-tuning', () => {
  const train = Array.from({ length: 24 }, (_, i) => ex(i % 2 ? `the great ${'a'.repeat(1 + (i % 3))}` : `the bad ${'a'.repeat(1 + (i % 3))}`, i % 2, i));
  const test = Array.from({ length: 10 }, (_, i) => ex(i % 2 ? `a great ${'t'.repeat(1 + (i % 4))}` : `a bad ${'t'.repeat(1 + (i % 4))}`, i % 2, i));

  it('head mode learns a separable task; the reported test accuracy is that of the best dev checkpoint', () => {
    const cache = new FeatureCache(rt, task);
    const clf = headClassifier(rt, task, cache);
    const { train: tr, dev } = carveDev(train, 0.25, 0);
    const r = fineTune(clf, tr, dev, test, 2, { steps: 60, batchSize: 8, lr: 0.05, seed: 0, evalEvery: 10 });
    expect(r.bestDevAccuracy).toBe(Math.max(...r.dev.map((d) => d.accuracy)));
    expect(r.dev.find((d) => d.step === r.bestStep)!.accuracy).toBe(r.bestDevAccuracy);
    expect(r.bestDevAccuracy).toBeGreaterThan(r.dev[0]!.accuracy - 1e-9);
    const p = predict(clf, test);
    expect(p.filter((x, i) => x === test[i]!.label).length / test.length).toBe(r.testAccuracy); // restored state
    expect(r.loss[r.loss.length - 1]!.value).toBeLessThan(r.loss[0]!.value);
    clf.dispose();
  });

  it("checkpoint 'accuracy-loss' keeps the best dev accuracy and, among ties, the lowest dev loss; devScore matches an explicit cross-entropy", () => {
    const cache = new FeatureCache(rt, task);
    const { train: tr, dev } = carveDev(train, 0.25, 0);
    const run = (checkpoint: 'accuracy' | 'accuracy-loss') => {
      const clf = headClassifier(rt, task, cache);
      const r = fineTune(clf, tr, dev, test, 2, { steps: 60, batchSize: 8, lr: 0.05, seed: 0, evalEvery: 10, checkpoint });
      // The restored state scores the chosen checkpoint's dev loss.
      const restored = devScore(clf, dev, 2);
      const want = tf.tidy(() => {
        const z = clf.logits(dev);
        const y = tf.oneHot(tf.tensor1d(dev.map((e) => e.label), 'int32'), 2);
        return tf.mean(tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(z)), 1))).dataSync()[0]!;
      });
      clf.dispose();
      return { r, restored, want };
    };
    const first = run('accuracy');
    const tie = run('accuracy-loss');
    const top = Math.max(...tie.r.dev.map((d) => d.accuracy));
    const lowest = Math.min(...tie.r.dev.filter((d) => d.accuracy === top).map((d) => d.loss));
    expect(tie.r.bestDevAccuracy).toBe(top);
    expect(tie.r.dev.find((d) => d.step === tie.r.bestStep)!.loss).toBe(lowest);
    expect(first.r.bestStep).toBe(first.r.dev.find((d) => d.accuracy === top)!.step); // the first of the tie
    expect(tie.restored.loss).toBeCloseTo(tie.want, 5);
    expect(tie.restored.loss).toBeCloseTo(lowest, 5);
    const clf = headClassifier(rt, task, cache);
    expect(() => fineTune(clf, tr, dev, test, 2, { steps: 1, batchSize: 1, lr: 0.1, seed: 0, checkpoint: 'last' as never })).toThrow(/checkpoint rule/);
    clf.dispose();
  });

  it('lora mode trains adapters only and leaves the base model as it was', () => {
    const base = tf.tidy(() => objective(rt, batch).dataSync()[0]!);
    const clf = loraClassifier(rt, task, { rank: 2, seed: 1 });
    const { train: tr, dev } = carveDev(train, 0.25, 0);
    const r = fineTune(clf, tr, dev, test, 2, { steps: 6, batchSize: 4, lr: 0.01, seed: 0, evalEvery: 3 });
    expect(r.loss).toHaveLength(6);
    expect(r.examplesPerSecond).toBeGreaterThan(0);
    clf.dispose();
    expect(tf.tidy(() => objective(rt, batch).dataSync()[0]!)).toBeCloseTo(base, 6);
  });

  it('refuses an empty training set', () => {
    const clf = headClassifier(rt, task, new FeatureCache(rt, task));
    expect(() => fineTune(clf, [], test, test, 2, { steps: 1, batchSize: 1, lr: 0.1, seed: 0 })).toThrow(/training set is empty/);
    clf.dispose();
  });
});

describe('data checks', () => {
  const two = [ex('a', 0), ex('b', 1)];
  it('errors on differing label sets and an empty training set, warns on a one-class test file', () => {
    expect(() => checkLabelSets(task, [ex('a', 0), ex('b', 0)], two, { train: 'tr.jsonl', test: 'te.jsonl' })).toThrow(/label sets differ: tr\.jsonl has \{0\}, te\.jsonl has \{0, 1\}/);
    expect(() => checkLabelSets(task, [], two, { train: 'tr.jsonl', test: 'te.jsonl' })).toThrow(/tr\.jsonl: the training set is empty/);
    expect(checkLabelSets(task, two, [ex('c', 1)], { train: 'tr.jsonl', test: 'te.jsonl' })[0]).toMatch(/te\.jsonl has one class only/);
    expect(checkLabelSets(task, two, two, { train: 'tr.jsonl', test: 'te.jsonl' })).toEqual([]);
  });

  it('carves a stratified dev split and balanced subsets, seeded', () => {
    const xs = Array.from({ length: 40 }, (_, i) => ex(`t${i}`, i % 2, i));
    const { train, dev } = carveDev(xs, 0.2, 1);
    expect(dev.filter((e) => e.label === 0)).toHaveLength(4);
    expect(new Set([...train, ...dev].map((e) => e.text)).size).toBe(40);
    const s = balancedSubset(xs, 10, 2);
    expect(s.filter((e) => e.label === 1)).toHaveLength(5);
    expect(balancedSubset(xs, 10, 2)).toEqual(s);
    expect(balancedSubset(xs, 10, 3)).not.toEqual(s);
  });
});

describe('report', () => {
  it('is one self-contained HTML page with the table, bars, curves and escaped examples', () => {
    const html = renderReport({
      title: 'compare',
      facts: [['test', 'validation.jsonl (500)']],
      warnings: ['one class <only>'],
      rows: [
        { name: 'zero-shot', kind: 'prompt', trainSize: 0, accuracy: stat([0.5]), trainPerplexity: null, minutes: 1, generationMinutes: 0, runs: [], examples: [] },
        {
          name: 'gradmm-100',
          kind: 'finetune',
          trainSize: 100,
          accuracy: stat([0.7, 0.8]),
          trainPerplexity: 200,
          minutes: 3,
          generationMinutes: 2,
          runs: [{ seed: 0, devSize: 20, loss: [{ step: 1, value: 0.7 }, { step: 2, value: 0.5 }], dev: [{ step: 0, accuracy: 0.5, loss: 0.69 }, { step: 2, accuracy: 0.8, loss: 0.5 }], bestStep: 2, bestDevAccuracy: 0.8, testAccuracy: 0.7, examplesPerSecond: 10 }],
          examples: [{ label: 'positive', text: 'a <b>great</b> film' }],
        },
      ],
    });
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|https?:\/\//);
    expect(html).toContain('75.0% ± 7.1');
    expect(html).toContain('a &lt;b&gt;great&lt;/b&gt; film');
    expect(html).toContain('one class &lt;only&gt;');
    expect((html.match(/<svg/g) ?? []).length).toBe(3);
    expect(cleanText('  - "A fine film."  ')).toBe('A fine film.');
  });
});
