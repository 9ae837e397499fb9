/**
 * Target words (core gradmm/target-words.ts): the logit lens of the class means the targets carry.
 * With the real model, targets of hand-written texts on two subjects must name words of each
 * subject; on a tiny model the fast paths are checked against slow, obvious ones (the lens
 * against a dot product per token, the word-end check against one forward per candidate), and
 * synthesize records the words, names them in the batch contexts and refuses what it cannot apply.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allowedTokenIds,
  Checkpoint,
  DEFAULT_METHOD,
  classLifts,
  classMeanContrasts,
  headRowNorms,
  initBackend,
  isWordToken,
  loadModel,
  logitLens,
  namesTargetWords,
  publicStatsFor,
  resolvePreset,
  SENTIMENT_TASK,
  synthesize,
  targetWords,
  targetWordTopics,
  taskTokens,
  validateTask,
  wordEndProbabilities,
  wordList,
  type ClassPlan,
  type ClassTarget,
  type LoadedModel,
  type MethodSettings,
  type SyntheticExample,
  type TargetWordsOptions,
  type Task,
} from '@synthgrad/core';
import { HAVE_REAL_MODEL, REAL_MODEL_PATH } from './helpers/real-model.js';
import { tinyConfig, tinyWeights, writeTinyLlamaGGUF } from './helpers/tiny-llama.js';
import { classPlansOf } from './helpers/class-plans.js';


const subjects: Task = validateTask(
  {
    labels: [
      { value: 0, name: 'sport', verbalizer: ' sport' },
      { value: 1, name: 'food', verbalizer: ' food' },
    ],
    suffix: ' Topic:',
    domain: 'news article',
  },
  'subjects.task.json',
);

describe.skipIf(!HAVE_REAL_MODEL)('target words with SmolLM2-135M', () => {
  let rt: LoadedModel;
  beforeAll(async () => {
    await initBackend();
    rt = await loadModel(REAL_MODEL_PATH);
  }, 120_000);
  afterAll(() => rt?.dispose());

  it("name what each class's private texts are about, read from the released targets alone", () => {
    const texts = [
      [
        'The striker scored twice as the home team won the league match.',
        'Injury kept the captain out of the cup final against their rivals.',
        'The coach praised his players after a hard fought win at the stadium.',
        'The goalkeeper saved a penalty in the last minute of the game.',
        'Fans cheered as the club signed a new midfielder before the season.',
        'The tennis champion reached the semi final after a long match.',
      ],
      [
        'Slice the onions and fry them in butter until golden, then add garlic.',
        'The chef roasted the chicken with lemon, thyme and olive oil.',
        'Bake the bread for forty minutes until the crust is brown.',
        'This soup of tomatoes, basil and cream is ready in twenty minutes.',
        'Whisk the eggs with sugar and flour to make a light sponge cake.',
        'The restaurant serves fresh pasta with a rich cheese sauce.',
      ],
    ];
    const plans = classPlansOf(rt, subjects, texts);
    const toks = taskTokens(subjects, rt.tokenizer);
    const words = targetWords(rt, plans.map((p) => p.target), toks.labelTokens, { allowed: allowedTokenIds(rt.tokenizer), wordEndContext: toks.contextPrefix, pool: 24 });
    const lower = words.map((ws) => ws.map((w) => w.word.toLowerCase()));
    const sport = ['penalty', 'penalties', 'opponents', 'football', 'soccer', 'match', 'matches', 'goal', 'goals', 'team', 'teams', 'league', 'players', 'player', 'coach', 'striker', 'tennis', 'cup', 'stadium', 'club', 'season', 'game', 'games', 'sports', 'rugby', 'cricket', 'athletes', 'championship', 'midfielder', 'goalkeeper', 'teammates', 'referee'];
    const food = ['recipe', 'recipes', 'cooking', 'cook', 'chef', 'bread', 'soup', 'cake', 'chicken', 'butter', 'garlic', 'onions', 'pasta', 'cheese', 'sauce', 'baking', 'flour', 'eggs', 'sugar', 'dish', 'dishes', 'cuisine', 'meal', 'meals', 'restaurant', 'ingredients', 'delicious', 'tomatoes', 'basil', 'oven', 'vegetables', 'salad', 'dessert', 'cream', 'lemon', 'roasted'];
    const hits = (ws: string[], of: string[]) => ws.filter((w) => of.includes(w)).length;
    // Most of each class's best words are its subject's, none of the other's.
    expect(hits(lower[0].slice(0, 12), sport)).toBeGreaterThanOrEqual(4);
    expect(hits(lower[1].slice(0, 12), food)).toBeGreaterThanOrEqual(4);
    expect(hits(lower[0], food)).toBe(0);
    expect(hits(lower[1], sport)).toBe(0);
    for (const ws of words) {
      expect(ws).toHaveLength(24);
      ws.slice(1).forEach((w, k) => expect(w.score).toBeLessThanOrEqual(ws[k].score)); // best first
      expect(new Set(ws.map((w) => w.word.toLowerCase())).size).toBe(ws.length);
    }
  }, 120_000);
});

describe('target words on a tiny model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'synthgrad-words-'));
  let rt: LoadedModel;
  let plans: ClassPlan[];
  let n = 0;
  const task = SENTIMENT_TASK;
  const texts = [
    ['a bad plot', 'bad acting', 'the end was bad'],
    ['the great film', 'a great cast', 'great fun'],
  ];
  beforeAll(async () => {
    await initBackend({ backend: 'cpu' });
    const path = join(dir, 'tiny.gguf');
    writeTinyLlamaGGUF(path, tinyConfig(), tinyWeights(tinyConfig(), 4));
    rt = await loadModel(path);
    plans = classPlansOf(rt, task, texts);
  });
  afterAll(() => {
    rt?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('contrasts the class means the rows carry: equal-weight rows a (u + delta_c) give a delta_c', () => {
    // Rows r_c = -(a (u + delta_c)) as a target stores them (the gradient's sign), delta orthogonal to u and summing to 0.
    const d = 4;
    const u = [1, 1, 0, 0];
    const deltas = [
      [0.1, -0.1, 0.3, 0],
      [-0.1, 0.1, -0.3, 0],
    ];
    const target = (c: number): ClassTarget => ({ label: c, count: 3, clip: null, noiseStd: 0, dModel: d, vocabSize: 2, rows: [c], sum: Float32Array.from(u, (x, k) => -2 * (x + deltas[c][k])) });
    const contrasts = classMeanContrasts([target(0), target(1)], [0, 1]);
    contrasts.forEach((m, c) => m.contrast.forEach((x, k) => expect(x).toBeCloseTo(2 * deltas[c][k], 6)));
    expect(contrasts.map((m) => m.noiseStd)).toEqual([0, 0]);
    // Noise of std s on each row's entries: a contrast entry's is s (1 - 1/K) and s / K from the other class, in the rows' scale (here 1).
    const noisy = classMeanContrasts([{ ...target(0), noiseStd: 0.3 }, { ...target(1), noiseStd: 0.3 }], [0, 1]);
    for (const m of noisy) expect(m.noiseStd).toBeCloseTo(0.3 * Math.sqrt(0.5 ** 2 + 0.5 ** 2), 6);
    expect(() => classMeanContrasts([target(0)], [0])).toThrow(/at least two/);
    expect(() => classMeanContrasts([target(0), target(1)], [0])).toThrow(/2 targets but 1 label tokens/);
    expect(() => classMeanContrasts([target(0), target(1)], [0, 0])).toThrow(/leaves out its label row/);
  });

  it('reads a direction through the head as a dot product with each token row', async () => {
    const d = rt.model.config.dModel;
    const dir = Float64Array.from({ length: d }, (_, k) => Math.sin(k + 1));
    const z = logitLens(rt, dir);
    const headT = await rt.model.headT.data();
    const V = rt.model.config.vocabSize;
    expect(z).toHaveLength(V);
    for (const v of [0, 1, 57, V - 1]) {
      let s = 0;
      for (let k = 0; k < d; k++) s += dir[k] * headT[k * V + v];
      expect(z[v]).toBeCloseTo(s, 4);
    }
    expect(() => logitLens(rt, new Float64Array(d + 1))).toThrow(/width/);
  });

  it("word-end probabilities equal one forward per candidate, summed over the tokens that open a word", () => {
    const context = rt.tokenizer.encode('The');
    const candidates = [5, 40, 77, 120, 200, 260];
    const fast = wordEndProbabilities(rt, context, candidates, 4);
    const V = rt.model.config.vocabSize;
    candidates.forEach((v, i) => {
      const f = rt.model.forward({ ids: [[...context, v]], logits: 'last' });
      const p = tf.tidy(() => tf.softmax(f.logits as tf.Tensor2D).dataSync());
      f.hidden.dispose();
      f.logits?.dispose();
      let s = 0;
      for (let t = 0; t < V; t++) if (/^[\s.,;:!?'")\]]/u.test(rt.tokenizer.tokenText(t))) s += p[t];
      expect(fast[i]).toBeCloseTo(s, 5);
    });
  });

  it('keeps word tokens of the allowed vocabulary, best first, distinct, at most the pool', () => {
    const toks = taskTokens(task, rt.tokenizer);
    const allowed = allowedTokenIds(rt.tokenizer);
    const words = targetWords(rt, plans.map((p) => p.target), toks.labelTokens, { allowed, wordEndContext: toks.contextPrefix, minWordEnd: 0, pool: 2, ranking: 'lens' });
    const contrasts = classMeanContrasts(plans.map((p) => p.target), toks.labelTokens).map((m) => m.contrast);
    const wordIds = allowed.filter((v) => isWordToken(rt.tokenizer.tokenText(v)));
    expect(wordIds.length).toBeGreaterThanOrEqual(2); // the tiny vocabulary's " the", " great", " bad"
    expect(words.flat().length).toBeGreaterThan(0);
    words.forEach((ws, c) => {
      // Oracle: the two word tokens with the highest lens score above 0 (without noise the floor is 0), by a full sort of the lens.
      const z = logitLens(rt, contrasts[c]);
      const best = wordIds.filter((v) => z[v] > 0).sort((a, b) => z[b] - z[a]).slice(0, 2);
      expect(ws).toHaveLength(best.length);
      expect(ws.map((w) => w.word)).toEqual(best.map((v) => rt.tokenizer.tokenText(v).trim()));
      ws.forEach((w, k) => expect(w.score).toBeCloseTo(z[best[k]], 5));
    });
    // A word the LM does not end (the default threshold) is left out.
    const strict = targetWords(rt, plans.map((p) => p.target), toks.labelTokens, { allowed, wordEndContext: toks.contextPrefix, minWordEnd: 1.01, ranking: 'lens' });
    expect(strict).toEqual([[], []]);
    expect(() => targetWords(rt, plans.map((p) => p.target), toks.labelTokens, { allowed, wordEndContext: [], pool: 0 })).toThrow(/positive integer/);
    // Under release noise a word must score beyond what the noise alone gives its token (sigma |W_v| times the floor).
    const norms = headRowNorms(rt);
    const sigma = 0.05;
    const noisyTargets = plans.map((p) => ({ ...p.target, noiseStd: sigma }));
    const floored = targetWords(rt, noisyTargets, toks.labelTokens, { allowed, wordEndContext: toks.contextPrefix, minWordEnd: 0, noiseFloor: 1, ranking: 'lens' });
    classMeanContrasts(noisyTargets, toks.labelTokens).forEach((m, c) => {
      const z = logitLens(rt, m.contrast);
      const beyond = wordIds.filter((v) => z[v] > m.noiseStd * norms[v]);
      expect(floored[c].map((w) => w.word).sort()).toEqual(beyond.map((v) => rt.tokenizer.tokenText(v).trim()).sort());
    });
    expect(targetWords(rt, noisyTargets, toks.labelTokens, { allowed, wordEndContext: toks.contextPrefix, minWordEnd: 0, noiseFloor: 1e9, ranking: 'lens' })).toEqual([[], []]);
  });

  it('ranks by lift: log(p + 1/V) at the class mean over the average, both at the given state norm, by a softmax per token', async () => {
    const toks = taskTokens(task, rt.tokenizer);
    const allowed = allowedTokenIds(rt.tokenizer);
    const contrasts = classMeanContrasts(plans.map((p) => p.target), toks.labelTokens);
    const norm = 3.5;
    const lifts = classLifts(rt, contrasts.map((m) => m.mean), norm);
    // Oracle: the means averaged and scaled by hand, the head applied as a dot product per token, a float64 log-softmax.
    const d = rt.model.config.dModel;
    const V = rt.model.config.vocabSize;
    const headT = await rt.model.headT.data();
    const mBar = Array.from({ length: d }, (_, k) => contrasts.reduce((a, m) => a + m.mean[k], 0) / contrasts.length);
    const s = norm / Math.hypot(...mBar);
    const logSoftmax = (x: number[]) => {
      const logits = Array.from({ length: V }, (_, v) => x.reduce((a, xk, k) => a + s * xk * headT[k * V + v], 0));
      const max = Math.max(...logits);
      const lse = max + Math.log(logits.reduce((a, l) => a + Math.exp(l - max), 0));
      return logits.map((l) => l - lse);
    };
    const bar = logSoftmax(mBar);
    contrasts.forEach((m, c) => {
      const lp = logSoftmax(Array.from(m.mean));
      for (const v of [0, 3, 57, 120, V - 1]) expect(lifts[c][v]).toBeCloseTo(Math.log(Math.exp(lp[v]) + 1 / V) - Math.log(Math.exp(bar[v]) + 1 / V), 4);
    });
    // The words: the floor on the lens (0 without noise), then best lift first.
    const words = targetWords(rt, plans.map((p) => p.target), toks.labelTokens, { allowed, wordEndContext: toks.contextPrefix, minWordEnd: 0, pool: 2, ranking: 'lift', meanStateNorm: norm });
    const wordIds = allowed.filter((v) => isWordToken(rt.tokenizer.tokenText(v)));
    words.forEach((ws, c) => {
      const z = logitLens(rt, contrasts[c].contrast);
      const best = wordIds.filter((v) => z[v] > 0).sort((a, b) => lifts[c][b] - lifts[c][a]).slice(0, 2);
      expect(ws.map((w) => w.word)).toEqual(best.map((v) => rt.tokenizer.tokenText(v).trim()));
      ws.forEach((w, k) => expect(w.score).toBeCloseTo(lifts[c][best[k]], 5));
    });
    expect(() => targetWords(rt, plans.map((p) => p.target), toks.labelTokens, { allowed, wordEndContext: toks.contextPrefix, ranking: 'lift' })).toThrow(/norm of a mean final state/);
    expect(() => targetWords(rt, plans.map((p) => p.target), toks.labelTokens, { allowed, wordEndContext: toks.contextPrefix, ranking: 'cosine' as never, meanStateNorm: 1 })).toThrow(/ranking must be one of lens, lift/);
  });

  it('draws each batch its own words, the same for the same seed, class and batch', () => {
    const pool = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'].map((word, i) => ({ word, score: 5 - i }));
    const a = targetWordTopics(pool, 3, 6, 7, 1);
    expect(a).toHaveLength(6);
    expect(targetWordTopics(pool, 3, 6, 7, 1)).toEqual(a);
    expect(targetWordTopics(pool, 3, 6, 7, 0)).not.toEqual(a);
    for (const phrase of a) {
      const named = phrase.replace(' and ', ', ').split(', ');
      expect(named).toHaveLength(3);
      expect(new Set(named).size).toBe(3);
      for (const w of named) expect(pool.map((p) => p.word)).toContain(w);
    }
    expect(new Set(a).size).toBeGreaterThan(1);
    expect(targetWordTopics([], 3, 4, 7, 0)).toEqual([]);
    expect(targetWordTopics(pool.slice(0, 2), 3, 1, 7, 0)[0].split(' and ').sort()).toEqual(['alpha', 'beta']);
    expect(wordList(['a'])).toBe('a');
    expect(wordList(['a', 'b'])).toBe('a and b');
    expect(wordList(['a', 'b', 'c'])).toBe('a, b and c');
    expect(() => wordList([])).toThrow(/empty/);
    expect(() => targetWordTopics(pool, 0, 2, 7, 0)).toThrow(/positive integer/);
  });

  const synth = (over: Partial<MethodSettings>, logs: string[] = []) =>
    synthesize(
      rt,
      task,
      plans,
      {
        settings: { ...resolvePreset('cpu-select').settings, batchSize: 2, topK: 4, initNorm: 'auto' },
        method: { publicTexts: 8, demonstrations: 0, commas: false, ...over },
        perClass: 4,
        seed: 5,
        distance: 'cosine',
        workers: 1,
      },
      { checkpoint: Checkpoint.open<SyntheticExample>(join(dir, `cp-${n++}.json`), 'h', false), log: (m) => logs.push(m) },
    );

  it("records each class's words and logs them; names them only where asked; refuses what it cannot apply", async () => {
    const logs: string[] = [];
    const res = await synth({ targetWords: 2, targetWordClasses: 'all' }, logs);
    const toks = taskTokens(task, rt.tokenizer);
    const wordsOf = (o: Partial<TargetWordsOptions>) => targetWords(rt, plans.map((p) => p.target), toks.labelTokens, { allowed: allowedTokenIds(rt.tokenizer), wordEndContext: toks.contextPrefix, ...o });
    expect(res.targetWords).toEqual(wordsOf({}));
    // The lift reads the class means at the norm of the public statistics' mean state, sampled as synthesize samples them.
    const stats = publicStatsFor(rt, task, plans, { ...DEFAULT_METHOD, publicTexts: 8, demonstrations: 0, commas: false }, 5);
    expect((await synth({ targetWords: 2, targetWordClasses: 'all', targetWordRanking: 'lift' })).targetWords).toEqual(wordsOf({ ranking: 'lift', meanStateNorm: Math.hypot(...stats.mean) }));
    expect(logs.filter((m) => /^target words of class /.test(m))).toHaveLength(2);
    expect((await synth({ targetWords: 0 })).targetWords).toBeNull();
    // The default scope: the built-in task's classes have public demonstrations, so none is named.
    expect(namesTargetWords(task, 0, { targetWords: 2, targetWordClasses: 'undemonstrated' })).toBe(false);
    expect(namesTargetWords(task, 0, { targetWords: 2, targetWordClasses: 'all' })).toBe(true);
    const bare: Task = { ...task, demonstrations: [] };
    expect(namesTargetWords(bare, 1, { targetWords: 2, targetWordClasses: 'undemonstrated' })).toBe(true);
    expect(namesTargetWords(bare, 1, { targetWords: 0, targetWordClasses: 'all' })).toBe(false);
    const scoped: string[] = [];
    expect((await synth({ targetWords: 2 }, scoped)).targetWords).toBeNull();
    expect(scoped.some((m) => /target words: none, since every class has public demonstrations/.test(m))).toBe(true);
    // Topics take their place: both name what a batch is about.
    const withTopics: string[] = [];
    const t = await synth({ targetWords: 2, targetWordClasses: 'all', topics: 1 }, withTopics);
    expect(t.targetWords).toBeNull();
    expect(t.topics).not.toBeNull();
    expect(withTopics.some((m) => /target words: none, since the topics name what each batch is about/.test(m))).toBe(true);
    for (const bad of [-1, 1.5, 25]) await expect(synth({ targetWords: bad })).rejects.toThrow(/targetWords must be an integer in \[0, 24\]/);
    await expect(synth({ targetWords: 2, targetWordClasses: 'some' as never })).rejects.toThrow(/targetWordClasses must be one of undemonstrated, all/);
    await expect(synth({ targetWords: 2, targetWordRanking: 'cosine' as never })).rejects.toThrow(/targetWordRanking must be one of lens, lift/);
    const offLogs: string[] = [];
    expect((await synth({ targetWords: 2, targetWordClasses: 'all', labelContext: false }, offLogs)).targetWords).toBeNull();
    expect(offLogs.some((m) => /target words: none, since they name what the label context is about and it is off/.test(m))).toBe(true);
  });
});
