/**
 * Classes in worker threads on the wasm backend: the same output and checkpoint as one thread,
 * resume from saved batches, stop, and a worker's failure as the caller's rejection with no
 * worker left running. Runs on wasm whatever SYNTHGRAD_TEST_BACKEND says (the policy uses workers
 * only there); the worker is the build's copy (npm run build), as for the CLI tests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AdmmAborted,
  admmProgress,
  publicStatsFor,
  publicStatsInWorkers,
  allowedTokenIds,
  Checkpoint,
  computeClassTarget,
  initBackend,
  refitThreshold,
  isSynthgradError,
  liveSynthesisWorkers,
  loadModel,
  matchingLossOfPrompts,
  setMatchingLossOfPrompts,
  resolvePreset,
  SENTIMENT_TASK,
  synthesisWorkerCount,
  synthesisLayout,
  synthesize,
  taskTokens,
  sentenceEndLengths,
  withCommas,
  commaStyle,
  withEndMarks,
  endMarkStyle,
  labelContextText,
  labelledContextText,
  DEFAULT_METHOD,
  DEFAULT_TOPICS,
  classDemonstrations,
  minesDemonstrations,
  targetClassifierFor,
  targetPredictions,
  guidanceContexts,
  sampleAllowed,
  vocabularyOf,
  StraySpaceBan,
  Rng,
  type Task,
  type ClassPlan,
  type ClassProgress,
  type GenerateProgress,
  type LoadedModel,
  type MethodSettings,
  type SynthesisIO,
  type SynthesisOptions,
  type SyntheticExample,
} from '@synthgrad/core';
import { tinyConfig, tinyWeights, writeTinyLlamaGGUF } from '../../../test/helpers/tiny-llama.js';

const dir = mkdtempSync(join(tmpdir(), 'synthgrad-workers-'));
const task = SENTIMENT_TASK;
let rt: LoadedModel;
let plans: ClassPlan[];
let n = 0;
const cpPath = () => join(dir, `cp-${n++}.json`);

// 2 classes x 2 batches of 2; every parameter a worker is sent is exercised: bootstrapped
// demonstrations (batch 1 depends on batch 0), centred matching (the shared direction), the
// target classifier's term (its weights).
const method: Partial<MethodSettings> = { bootstrapDemonstrations: 1, matchingSpace: 'centred', classifierWeight: 0.5, publicTexts: 8 };
const opts = (workers: number, m: Partial<MethodSettings> = method): SynthesisOptions => ({
  settings: { ...resolvePreset('cpu').settings, batchSize: 2, outer: 2, inner: 2, candidates: 1, topK: 4, initNorm: 'auto' },
  method: m,
  perClass: 4,
  seed: 3,
  distance: 'cosine',
  workers,
});

beforeAll(async () => {
  // The policy: by default more than one thread only on wasm; asked for, on any backend, never
  // more than the cores or the classes left. The layout gives each worker its share of the cores.
  await initBackend({ backend: 'cpu' });
  expect(synthesisWorkerCount(undefined, 2)).toBe(1);
  expect(synthesisWorkerCount(2, 1)).toBe(1);
  expect(synthesisWorkerCount(64, 2)).toBeLessThanOrEqual(2);
  expect(synthesisLayout(2, 2)).toEqual({ workers: 2, threads: 1 });
  expect(synthesisLayout(2, 16)).toEqual({ workers: 2, threads: 8 });
  expect(synthesisLayout(5, 2)).toEqual({ workers: 2, threads: 1 });
  expect(synthesisLayout(2, 1)).toEqual({ workers: 1, threads: 1 });
  expect(synthesisLayout(2, 2, 2)).toEqual({ workers: 1, threads: 2 }); // --threads 2 on 2 cores: one thread of 2
  await initBackend({ backend: 'wasm' });
  const path = join(dir, 'tiny.gguf');
  writeTinyLlamaGGUF(path, tinyConfig(), tinyWeights(tinyConfig(), 4));
  rt = await loadModel(path);
  const toks = taskTokens(task, rt.tokenizer);
  const texts = [
    ['a bad plot', 'bad acting', 'the end was bad'],
    ['the great film', 'a great cast', 'great fun'],
  ];
  plans = texts.map((ts, c) => ({
    target: computeClassTarget(rt.model, ts.map((text, i) => ({ text, label: c, line: i + 1, source: 'mem.jsonl' })), c, toks.labelTokens[c], toks.promptIds, {}),
    textLength: 3,
  }));
});

afterAll(() => {
  rt?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** synthesize with a fresh checkpoint (or the one given); afterClass records the class order and a loss value. */
async function run(workers: number, over: Partial<SynthesisIO> = {}, checkpoint = Checkpoint.open<SyntheticExample>(cpPath(), 'h', false), r = rt, p = plans, m = method) {
  const after: { c: number; n: number; realLoss: number }[] = [];
  const toks = taskTokens(task, r.tokenizer);
  const res = await synthesize(r, task, p, opts(workers, m), {
    checkpoint,
    afterClass: (c, loss, examples) => after.push({ c, n: examples.length, realLoss: matchingLossOfPrompts(r.model, loss, [toks.promptIds('a film')])[0] }),
    ...over,
  });
  return { res, after, checkpoint };
}

function expectSameExamples(a: SyntheticExample[], b: SyntheticExample[]): void {
  expect(b).toHaveLength(a.length);
  for (const [i, x] of a.entries()) {
    const y = b[i];
    expect({ text: y.text, ids: y.ids, label: y.label, labelIndex: y.labelIndex, batch: y.batch, target_label: y.target_label }).toEqual({
      text: x.text,
      ids: x.ids,
      label: x.label,
      labelIndex: x.labelIndex,
      batch: x.batch,
      target_label: x.target_label,
    });
    expect(Math.abs(y.matching_loss - x.matching_loss)).toBeLessThan(1e-6);
    expect(Math.abs(y.perplexity - x.perplexity)).toBeLessThan(1e-6 * Math.max(1, x.perplexity));
    expect(Math.abs(y.target_margin! - x.target_margin!)).toBeLessThan(1e-5);
    y.target_logits!.forEach((v, k) => expect(Math.abs(v - x.target_logits![k])).toBeLessThan(1e-5));
  }
}

describe.runIf(availableParallelism() >= 2)('synthesize in worker threads (wasm)', () => {
  let one: Awaited<ReturnType<typeof run>>;

  it('gives the examples, checkpoint and afterClass calls of one thread', async () => {
    const events: Record<number, ClassProgress[]> = { 1: [], 2: [] };
    const admm = (n: number) => (p: GenerateProgress) => p.phase === 'admm' && events[n].push(p);
    one = await run(1, { onProgress: admm(1) });
    const two = await run(2, { onProgress: admm(2) });
    // What a progress bar reads moves only forward and ends at classes x batches, whether the
    // classes ran one after the other or at once; at once, every class's events come through.
    for (const n of [1, 2]) {
      const done = events[n].map((p) => admmProgress(p, 2).done);
      expect(done).toEqual([...done].sort((a, b) => a - b));
      expect(done.at(-1)).toBe(4);
      expect(events[n].every((p) => admmProgress(p, 2).total === 4)).toBe(true);
    }
    expect(events[1].every((p) => p.overall === undefined)).toBe(true);
    expect(events[2].every((p) => p.overall !== undefined)).toBe(true);
    expect(new Set(events[2].map((p) => p.classIndex))).toEqual(new Set([0, 1]));
    expect(one.res.workers).toBe(1);
    expect(two.res.workers).toBe(2);
    expect(one.res.examples).toHaveLength(8);
    expect(one.res.examples.map((e) => [e.labelIndex, e.batch])).toEqual([[0, 0], [0, 0], [0, 1], [0, 1], [1, 0], [1, 0], [1, 1], [1, 1]]);
    expectSameExamples(one.res.examples, two.res.examples);
    // Every batch checkpointed (from the main thread) as generated, under the targets' threshold;
    // the result is the same texts with the threshold refitted on all of them (the default).
    expect(two.checkpoint.batchesDone).toBe(4);
    const saved = [0, 1].flatMap((c) =>
      [0, 1].flatMap((b) => {
        const rec = two.checkpoint.get(c, b);
        expect(rec, `class ${c} batch ${b}`).toBeDefined();
        return rec!.examples;
      }),
    );
    const refit = refitThreshold(saved, 2);
    expectSameExamples(one.res.examples, refit.examples);
    expect(one.res.targetClassifier?.biasShift).toEqual(refit.shift);
    // afterClass in class order, with a live loss equal to the one-thread loss.
    expect(two.after.map((a) => [a.c, a.n])).toEqual([[0, 4], [1, 4]]);
    for (const [i, a] of one.after.entries()) expect(Math.abs(two.after[i].realLoss - a.realLoss)).toBeLessThan(1e-6);
    expect(two.res.adamSteps).toBe(one.res.adamSteps);
    expect(liveSynthesisWorkers()).toBe(0);
  });

  it("writes with the task's symbols in worker threads as in one: every token allowed, some of them symbols", async () => {
    const withSymbols = { ...task, symbols: '@#0123456789' };
    const go = (workers: number) => synthesize(rt, withSymbols, plans, opts(workers), { checkpoint: Checkpoint.open<SyntheticExample>(cpPath(), 'h', false) });
    const [single, two] = [await go(1), await go(2)];
    expect(two.workers).toBe(2);
    expectSameExamples(single.examples, two.examples);
    const words = new Set(allowedTokenIds(rt.tokenizer));
    const allowed = new Set(allowedTokenIds(rt.tokenizer, { symbols: withSymbols.symbols }));
    const ids = two.examples.flatMap((e) => e.ids);
    expect(ids.every((id) => allowed.has(id))).toBe(true);
    expect(ids.filter((id) => !words.has(id)).length).toBeGreaterThan(0);
  });

  it('resumes from saved batches (sent to the workers) to the same output', async () => {
    const cp = Checkpoint.open<SyntheticExample>(cpPath(), 'h', false);
    for (const c of [0, 1]) cp.add(one.checkpoint.get(c, 0)!);
    const resumed = await run(2, {}, cp);
    expect(resumed.res.workers).toBe(2);
    expectSameExamples(one.res.examples, resumed.res.examples);
    expect(cp.batchesDone).toBe(4);
    expect(resumed.res.adamSteps).toBe(one.res.adamSteps / 2);
  });

  it("samples the public statistics' batches on worker threads to one thread's numbers, bit for bit, and ends its workers", async () => {
    const m = { ...DEFAULT_METHOD, publicTexts: 40 }; // batches of 32 and 8: the second draws its own part of the stream
    const params = { settings: opts(2).settings, method: m, perClass: 4, seed: 5, distance: 'cosine' as const, initNorm: 1, classifier: null, metric: null, batchTopics: null };
    const seen: number[] = [];
    const inWorkers = await publicStatsInWorkers(rt, task, params, 3, 2, (done, total) => seen.push(done / total));
    const one = publicStatsFor(rt, task, [{ ...plans[0], textLength: 3 }, { ...plans[1], textLength: 3 }], m, 5);
    expect(inWorkers.draws!.ids).toEqual(one.draws!.ids);
    expect(Array.from(inWorkers.draws!.hidden)).toEqual(Array.from(one.draws!.hidden));
    expect(Array.from(inWorkers.mean)).toEqual(Array.from(one.mean));
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect([seen[0], seen.at(-1)]).toEqual([0, 1]); // from the start, so a progress bar enters the phase at once
    expect(liveSynthesisWorkers()).toBe(0);
    // A worker that cannot start rejects the whole, and none is left running.
    await expect(publicStatsInWorkers({ ...rt, path: join(dir, 'missing.gguf') }, task, params, 3, 2)).rejects.toThrow(/model file not found/);
    expect(liveSynthesisWorkers()).toBe(0);
  });

  it('stops when asked, with the finished batches checkpointed', async () => {
    const cp = Checkpoint.open<SyntheticExample>(cpPath(), 'h', false);
    await expect(run(2, { shouldStop: () => cp.batchesDone >= 1 }, cp)).rejects.toThrow(AdmmAborted);
    expect(cp.batchesDone).toBeGreaterThanOrEqual(1);
    expect(cp.batchesDone).toBeLessThan(4);
    expect(liveSynthesisWorkers()).toBe(0);
  });

  it('rejects with the worker\'s error when it cannot load the model, and leaves no worker running', async () => {
    const missing = join(dir, 'missing.gguf');
    const err = await run(2, {}, undefined, { ...rt, path: missing }).catch((e: Error) => e);
    expect(isSynthgradError(err)).toBe(true);
    expect((err as Error).message).toContain(`model file not found: ${missing}`);
    expect((err as { code?: string }).code).toBe('E_MODEL_MISSING');
    expect(liveSynthesisWorkers()).toBe(0);
  });

  it('rejects with the worker\'s error for a target of the wrong shape (as one thread does), and leaves no worker running', async () => {
    const bad = plans.map((p, c) => (c === 1 ? { ...p, target: { ...p.target, vocabSize: p.target.vocabSize - 1 } } : p));
    // Plain matching: the main thread builds nothing from the targets, so the worker meets the shape first.
    const plain: Partial<MethodSettings> = {};
    const inProcess = await run(1, {}, undefined, rt, bad, plain).catch((e: Error) => e);
    const err = await run(2, {}, undefined, rt, bad, plain).catch((e: Error) => e);
    expect(isSynthgradError(err)).toBe(true);
    expect((err as Error).message).toMatch(/target is \d+ x \d+ holding \d+ numbers, the model's head is/);
    expect((err as Error).message).toBe((inProcess as Error).message);
    expect((err as { code?: string }).code).toBe('E_SHAPE_MISMATCH');
    expect(liveSynthesisWorkers()).toBe(0);
  });
});

/**
 * The test's tiny model with the output rows of `ids` scaled by `scale`, so that those tokens are
 * often its likeliest next ones, and a context long enough for every public demonstration.
 */
async function tinyModelFavouring(ids: number[], scale: number, file: string): Promise<LoadedModel> {
  const config = tinyConfig({ contextLength: 1024 });
  const w = tinyWeights(config, 4);
  const head = w.head ?? w.embed;
  for (const id of ids) for (let k = 0; k < config.dModel; k++) head[id * config.dModel + k]! *= scale;
  const path = join(dir, file);
  writeTinyLlamaGGUF(path, config, w);
  return loadModel(path);
}

describe('the sentence-end cut in the class loop', () => {
  it('keeps of each optimised sequence the prefix sentenceEndLengths picks, and records the length it had', async () => {
    // No bootstrapped demonstrations, so later batches do not depend on the cut texts.
    // Commas and end marks off: the cut alone.
    const plain = await run(1, {}, undefined, rt, plans, { publicTexts: 8, sentenceEndCut: 0, commas: false, endMarks: 'off' });
    const cut = await run(1, {}, undefined, rt, plans, { publicTexts: 8, sentenceEndCut: 0.5, commas: false, endMarks: 'off' });
    const toks = taskTokens(task, rt.tokenizer);
    const lengths = sentenceEndLengths(rt.model, toks.contextPrefix, plain.res.examples.map((e) => e.ids), toks.sentenceEndToken, 0.5);
    expect(cut.res.examples).toHaveLength(plain.res.examples.length);
    expect(lengths.some((k, i) => k < plain.res.examples[i].ids.length)).toBe(true); // the case cuts something
    for (const [i, x] of plain.res.examples.entries()) {
      const y = cut.res.examples[i];
      expect(y.ids).toEqual(x.ids.slice(0, lengths[i]));
      expect(y.text).toBe(rt.tokenizer.decode(y.ids));
      expect(y.optimised_length).toBe(y.ids.length < x.ids.length ? x.ids.length : undefined);
      expect(Math.abs(y.matching_loss - x.matching_loss)).toBeLessThan(1e-6); // of the optimised sequence
    }
  });
});

describe('commas in the class loop', () => {
  it('writes out each finished text as withCommas puts commas into it, and reads that text for perplexity and the target verdict', async () => {
    // A tiny model whose output row for "," is scaled up, so that a comma is often its likeliest
    // next token and the rule fires (on the plain random model it never does).
    const crt = await tinyModelFavouring([rt.tokenizer.encode(',')[0]!], 40, 'comma-prone.gguf');
    // The target filter on, so that every text gets the target classifier's verdict.
    const verdicts: Partial<MethodSettings> = { publicTexts: 8, endMarks: 'off', targetFilter: 'surplus', discriminant: 'head' };
    const plain = await run(1, {}, undefined, crt, plans, { ...verdicts, commas: false });
    const commas = await run(1, {}, undefined, crt, plans, { ...verdicts, commas: true });
    // Each class's texts read after its label context and its own public demonstrations.
    const expected = plain.res.examples.map((e) => {
      const context = crt.tokenizer.encode(labelContextText(task, e.labelIndex, DEFAULT_METHOD.demonstrations));
      return withCommas(crt.model, context, [e.ids], commaStyle(crt.tokenizer, task))[0]!;
    });
    expect(commas.res.examples).toHaveLength(plain.res.examples.length);
    expect(expected.some((e, i) => e.length > plain.res.examples[i].ids.length)).toBe(true); // the case puts commas in
    for (const [i, x] of plain.res.examples.entries()) {
      const y = commas.res.examples[i];
      expect(y.ids).toEqual(expected[i]);
      expect(y.text).toBe(crt.tokenizer.decode(y.ids));
      expect(y.optimised_length).toBe(x.optimised_length); // commas are not a cut
      expect(Math.abs(y.matching_loss - x.matching_loss)).toBeLessThan(1e-6); // of the optimised sequence
      expect(x.target_logits).toHaveLength(2);
      if (y.ids.length === x.ids.length) {
        // The same ids: the same perplexity and verdict, up to the batch's other rows' padding.
        expect(Math.abs(y.perplexity - x.perplexity) / x.perplexity).toBeLessThan(1e-4);
        x.target_logits!.forEach((z, k) => expect(Math.abs(y.target_logits![k]! - z)).toBeLessThan(1e-4));
      }
    }
  });

  it('refuses a value that is not a boolean', async () => {
    await expect(run(1, {}, undefined, rt, plans, { publicTexts: 8, commas: 'yes' as unknown as boolean })).rejects.toThrow(/commas must be true or false, got "yes"/);
  });
});

describe('end marks in the class loop', () => {
  /** A tiny model whose output rows for "." are scaled up, so that the rule fires on some texts. */
  const markProneModel = (file: string) =>
    tinyModelFavouring(['.', ' .'].map((m) => rt.tokenizer.encode(m)).filter((ids) => ids.length === 1).map((ids) => ids[0]!), 12, file);

  it('writes out each finished text as withEndMarks ends it, and reads it through the student\'s prompt for the target verdict', async () => {
    const crt = await markProneModel('mark-prone.gguf');
    // The target filter on, so that every text gets the target classifier's verdict.
    const verdicts: Partial<MethodSettings> = { publicTexts: 8, commas: false, targetFilter: 'surplus', discriminant: 'head' };
    const plain = await run(1, {}, undefined, crt, plans, { ...verdicts, endMarks: 'off' });
    const marked = await run(1, {}, undefined, crt, plans, { ...verdicts, endMarks: 'lm' });
    const style = endMarkStyle(crt.tokenizer, task);
    // Each class's texts read after its label context and its own public demonstrations.
    const expected = plain.res.examples.map((e) => {
      const context = crt.tokenizer.encode(labelContextText(task, e.labelIndex, DEFAULT_METHOD.demonstrations));
      return withEndMarks(crt.model, context, [e.ids], style)[0]!;
    });
    expect(marked.res.examples).toHaveLength(plain.res.examples.length);
    const grown = expected.filter((e, i) => e.length > plain.res.examples[i].ids.length).length;
    expect(grown).toBeGreaterThan(0); // the case ends some texts with a mark
    expect(grown).toBeLessThan(expected.length); // and not every one
    const toks = taskTokens(task, crt.tokenizer);
    let samePrompt = 0;
    for (const [i, x] of plain.res.examples.entries()) {
      const y = marked.res.examples[i];
      expect(y.ids).toEqual(expected[i]);
      expect(y.text).toBe(crt.tokenizer.decode(y.ids));
      expect(y.optimised_length).toBe(x.optimised_length); // a mark is not a cut
      expect(Math.abs(y.matching_loss - x.matching_loss)).toBeLessThan(1e-6); // of the optimised sequence
      // The built-in task's prompt adds " ." to a bare text: a text ended with that mark must be
      // read by the target classifier exactly as the bare text was, not with a second mark.
      const prompt = (e: typeof y) => [...e.ids, ...toks.tailOf(e.text)];
      expect(x.target_logits).toHaveLength(2);
      if (JSON.stringify(prompt(y)) === JSON.stringify(prompt(x))) {
        samePrompt++;
        x.target_logits!.forEach((z, k) => expect(Math.abs(y.target_logits![k]! - z)).toBeLessThan(1e-4));
      }
    }
    expect(samePrompt).toBeGreaterThan(grown > 0 ? plain.res.examples.length - grown : 0);
    // The passes' time is its own split (bench generate's `punctuation`), none without them.
    expect(plain.res.timings.punctuation_s).toBe(0);
    expect(marked.res.timings.punctuation_s).toBeGreaterThan(0);
  });

  it("'target' keeps a batch's marks only where they lower its texts' summed matching loss against the class's target", async () => {
    const crt = await markProneModel('mark-prone-target.gguf');
    // A task whose prompt adds no mark, so every mark changes what the student reads.
    const bareTask: Task = { ...task, sentenceEnd: undefined };
    const toks = taskTokens(bareTask, crt.tokenizer);
    const m: Partial<MethodSettings> = { publicTexts: 8, commas: false };
    const synth = async (p: ClassPlan[], endMarks: MethodSettings['endMarks'], afterClass?: SynthesisIO['afterClass']) =>
      (await synthesize(crt, bareTask, p, { ...opts(1, { ...m, endMarks }), settings: { ...opts(1).settings, outer: 0, inner: 0 }, perClass: 6 }, { checkpoint: Checkpoint.open<SyntheticExample>(cpPath(), 'h', false), afterClass })).examples;
    // Targets that disagree about the marks: class 0's from its texts that end with a mark, class
    // 1's from its texts with their marks taken off. Without X-steps or projection rounds (outer 0, inner 0) a text
    // is its projected LM start, whatever the target, so these are the very texts every run below
    // writes, marked (class 0) or not (class 1).
    const first = await synth(plans, 'lm');
    const markPlans: ClassPlan[] = [0, 1].map((c) => ({
      target: computeClassTarget(crt.model, first.filter((e) => e.labelIndex === c && (c === 1 || /[.!?]$/.test(e.text))).map((e, i) => ({ text: c === 0 ? e.text : e.text.replace(/\s*[.!?]$/, ''), label: c, line: i + 1, source: 'mem.jsonl' })), c, toks.labelTokens[c], toks.promptIds, {}),
      textLength: 3,
    }));
    const off = await synth(markPlans, 'off');
    const lm = await synth(markPlans, 'lm');
    // The oracle, with each class's own loss (alive in afterClass): per batch, every text the LM's
    // rule marked, its loss without and with the mark taken one text at a time as a set of one
    // (MatchingLoss.loss, not the per-example path the product uses).
    const expected = new Map<string, number[]>();
    const decisions: boolean[] = [];
    const target = await synth(markPlans, 'target', (c, loss) => {
      const prompt = (ids: number[]) => [...ids, ...toks.tailOf(crt.tokenizer.decode(ids))];
      for (const b of new Set(off.filter((e) => e.labelIndex === c).map((e) => e.batch))) {
        const idx = off.map((e, i) => [e, i] as const).filter(([e]) => e.labelIndex === c && e.batch === b).map(([, i]) => i);
        const changed = idx.filter((i) => lm[i]!.ids.length !== off[i]!.ids.length);
        const gain = changed.reduce((a, i) => a + setMatchingLossOfPrompts(crt.model, loss, [prompt(off[i]!.ids)]) - setMatchingLossOfPrompts(crt.model, loss, [prompt(lm[i]!.ids)]), 0);
        if (changed.length > 0) decisions.push(gain > 0);
        for (const i of idx) expected.set(`${i}`, changed.length === 0 || gain > 0 ? lm[i]!.ids : off[i]!.ids);
      }
    });
    expect(target).toHaveLength(off.length);
    target.forEach((e, i) => {
      expect(e.ids).toEqual(expected.get(`${i}`));
      expect(e.text).toBe(crt.tokenizer.decode(e.ids));
    });
    // The case has batches that keep their marks and batches that drop them.
    expect(decisions).toContain(true);
    expect(decisions).toContain(false);
    crt.dispose();
  });

  it('refuses a value that is not one of its modes', async () => {
    await expect(run(1, {}, undefined, rt, plans, { publicTexts: 8, endMarks: true as unknown as 'lm' })).rejects.toThrow(/endMarks must be one of target, lm, off, got true/);
  });
});

describe('mined demonstrations in the class loop', () => {
  // The built-in task less its demonstrations: its contexts name the domain, and no class has any.
  const bare: Task = { ...task, demonstrations: [] };
  const m: Partial<MethodSettings> = { publicTexts: 8, demonstrations: 2, commas: false, endMarks: 'off', minedDemonstrations: 2 };
  const synth = (t: Task, over: Partial<MethodSettings>, workers = 1) =>
    synthesize(rt, t, plans, opts(workers, { ...m, ...over }), { checkpoint: Checkpoint.open<SyntheticExample>(cpPath(), 'h', false) });

  it('picks the LM draws the targets put in each class by the widest margin, as a fresh forward of each draw scores them', async () => {
    const res = await synth(bare, {}, Math.min(2, availableParallelism()));
    const mined = res.minedDemonstrations!;
    expect(mined).toHaveLength(2);
    expect(mined.flat().length).toBeGreaterThan(0);
    // Oracle: the candidates drawn again (the statistics' label-blind draws, then as many again
    // after each class's bare label context), each classified by a fresh forward (text + suffix)
    // rather than the statistics' saved states, ranked by margin within the class it leans to.
    const full = { ...DEFAULT_METHOD, ...m };
    const { classifier, stats } = targetClassifierFor(rt, bare, plans, full, 3);
    const allowed = allowedTokenIds(rt.tokenizer, vocabularyOf(bare, full));
    const ban = StraySpaceBan.over(allowed, (id) => rt.tokenizer.tokenText(id));
    const length = Math.round((plans[0].textLength + plans[1].textLength) / 2);
    const drawn = [0, 1].flatMap((c) => sampleAllowed(rt.model, new Set(allowed), rt.tokenizer.encode(labelContextText(bare, c)), stats.count / 2, length, Rng.derive(3, 'mined-demonstrations', c), { ban }));
    const candidates = [...stats.draws!.ids, ...drawn];
    expect(candidates).toHaveLength(2 * stats.count);
    const suffix = taskTokens(bare, rt.tokenizer).syntheticSuffix;
    const logits = targetPredictions(rt, classifier, candidates.map((ids) => [...ids, ...suffix])).map((p) => p.logits);
    // Each class's logit read against its mean over the candidates (two classes: the margin is the centred difference).
    const mean = [0, 1].map((k) => logits.reduce((a, z) => a + z[k], 0) / logits.length);
    const lean = logits.map((z) => z[1] - mean[1] - (z[0] - mean[0]));
    for (const c of [0, 1]) {
      const mine = lean
        .map((l, i) => ({ margin: c === 1 ? l : -l, text: rt.tokenizer.decode(candidates[i]).replace(/\s+/g, ' ').trim() }))
        .filter((x) => x.margin > 0 && x.text.length > 0)
        .sort((a, b) => b.margin - a.margin);
      // Widest first, so a repeated text keeps its widest copy.
      const want = mine.filter((x, i) => mine.findIndex((y) => y.text === x.text) === i).slice(0, 2);
      expect(mined[c].map((x) => x.text)).toEqual(want.map((x) => x.text));
      mined[c].forEach((x, i) => {
        expect(x.classIndex).toBe(c);
        expect(Math.abs(x.margin - want[i].margin)).toBeLessThan(1e-3);
      });
    }
    // Oracle: they act only as demonstrations. A run without mining, on the task that carries
    // them as its own, writes the same texts.
    const carried: Task = { ...bare, demonstrations: mined.flatMap((ms, c) => ms.map((x) => ({ text: x.text, label: bare.labels[c].value }))) };
    const plain = await synth(carried, { minedDemonstrations: 0 });
    expect(plain.minedDemonstrations).toBeNull();
    expect(res.examples.map((e) => e.ids)).toEqual(plain.examples.map((e) => e.ids));
    // ... and they change what is written: without them the first batch has no demonstrations.
    expect(res.examples.map((e) => e.ids)).not.toEqual((await synth(bare, { minedDemonstrations: 0 })).examples.map((e) => e.ids));
  });

  it('leaves a task with its own demonstrations, and one whose contexts name no domain, as they were', async () => {
    expect(minesDemonstrations(task, 2, { ...DEFAULT_METHOD, ...m } as MethodSettings)).toBe(false); // two a class already
    expect(minesDemonstrations(bare, 2, { ...DEFAULT_METHOD, ...m } as MethodSettings)).toBe(true);
    expect(minesDemonstrations(bare, 1, { ...DEFAULT_METHOD, ...m } as MethodSettings)).toBe(false); // nothing to contrast
    expect(minesDemonstrations(bare, 2, { ...DEFAULT_METHOD, ...m, labelContext: false } as MethodSettings)).toBe(false);
    const unnamed: Task = { ...bare, domain: undefined, contextPrefix: 'The', labelContext: undefined };
    expect(minesDemonstrations(unnamed, 2, { ...DEFAULT_METHOD, ...m } as MethodSettings)).toBe(false);
    const own = await synth(task, {});
    expect(own.minedDemonstrations).toBeNull();
    expect(own.examples.map((e) => e.ids)).toEqual((await synth(task, { minedDemonstrations: 0 })).examples.map((e) => e.ids));
    expect(classDemonstrations(task, 0).length).toBeGreaterThanOrEqual(2);
  });
});

describe('topics in the class loop', () => {
  // No demonstrations, so a class's batch context is its label context alone and a task whose
  // label context already names a topic builds exactly the context the topic search gave.
  const m: Partial<MethodSettings> = { publicTexts: 8, demonstrations: 0, commas: false };
  const synth = (t: Task, over: Partial<MethodSettings>) => synthesize(rt, t, plans, opts(1, { ...m, ...over }), { checkpoint: Checkpoint.open<SyntheticExample>(cpPath(), 'h', false) });

  it("writes each class's batches after a label context about the topics its target ranks best", async () => {
    const withTopics = await synth(task, { topics: 1 });
    const choice = withTopics.topics!;
    expect(choice.scores.map((s) => s.length)).toEqual([DEFAULT_TOPICS.length, DEFAULT_TOPICS.length]);
    for (const [c, s] of choice.scores.entries()) {
      expect([...s.map((x) => x.topic)].sort()).toEqual([...DEFAULT_TOPICS].sort());
      s.slice(1).forEach((x, k) => expect(x.loss).toBeGreaterThanOrEqual(s[k].loss)); // best first
      expect(choice.perClass[c]).toEqual([s[0].topic]);
    }
    // Oracle: each class's texts are those of a run without topics on a task whose label context
    // is about that class's topic (every random stream is derived per class and batch).
    for (const c of [0, 1]) {
      const about: Task = { ...task, labelContext: `${task.labelContext!.replace(/:\s*$/, '')} about ${choice.perClass[c][0]}:` };
      expect(labelContextText(about, c)).toBe(labelContextText(task, c, 0, [], choice.perClass[c][0]));
      const plain = await synth(about, { topics: 0 });
      expect(plain.topics).toBeNull();
      const mine = (r: typeof plain) => r.examples.filter((e) => e.labelIndex === c).map((e) => e.ids);
      expect(mine(withTopics)).toEqual(mine(plain));
    }
  });

  it('refuses a count it cannot apply, and searches none with the label context off', async () => {
    for (const bad of [-1, 1.5, DEFAULT_TOPICS.length + 1]) await expect(synth(task, { topics: bad })).rejects.toThrow(/topics must be an integer in \[0, 24\]/);
    const logs: string[] = [];
    const off = await synthesize(rt, task, plans, opts(1, { ...m, topics: 2, labelContext: false }), { checkpoint: Checkpoint.open<SyntheticExample>(cpPath(), 'h', false), log: (x) => logs.push(x) });
    expect(off.topics).toBeNull();
    expect(logs.some((x) => /topics: none, since they name what the label context is about and it is off/.test(x))).toBe(true);
  });
});

describe('the contexts a guided LM start contrasts with', () => {
  it("are the class's own context with only the line the LM continues under each other label", async () => {
    // The tiny model's 64 tokens hold no demonstration line of its character-level vocabulary: the same weights with a longer context.
    const path = join(dir, 'tiny-long.gguf');
    writeTinyLlamaGGUF(path, tinyConfig({ contextLength: 1024 }), tinyWeights(tinyConfig({ contextLength: 1024 }), 4));
    const long = await loadModel(path);
    const three: Task = { ...task, labels: [...task.labels, { value: 2, name: 'mixed', verbalizer: ' mixed' }] };
    const slots = [[{ label: 1, text: 'a great cast' }], [{ label: 0, text: 'bad acting' }, { label: 1, text: 'great fun' }]];
    try {
      for (const topic of [undefined, 'music']) {
        const lines = (ids: number[]) => long.tokenizer.decode(ids).split('\n');
        const own = lines(long.tokenizer.encode(labelledContextText(three, 1, slots.flat(), topic)));
        const got = guidanceContexts(long, three, 1, slots, 8, topic).map(lines);
        // Labels 0 and 2, in order: the same demonstration lines, then that label's own context.
        expect(got.map((l) => l.at(-1))).toEqual([0, 2].map((o) => labelContextText(three, o, 0, [], topic)));
        for (const l of got) expect(l.slice(0, -1)).toEqual(own.slice(0, -1));
        expect(own.slice(0, -1)).toEqual(['A positive movie review: a great cast', 'A negative movie review: bad acting', 'A positive movie review: great fun']);
      }
    } finally {
      long.dispose();
    }
  });
});

// LM-start settings that read the other labels' contexts (contrastive guidance; the shared
// opening, whose "batch b of every class opens alike" is the sampler's oracle test in
// gradmm.test.ts): the class loop passes them what they need, reproducibly, and synthesize refuses
// them where they could not apply.
describe.each([
  { setting: 'initGuidance', on: 3 },
  { setting: 'sharedOpening', on: 0.5 },
] as const)('an LM start with $setting in the class loop', ({ setting, on }) => {
  const start = (value: number, m: Partial<MethodSettings> = { publicTexts: 8 }, init: 'lm' | 'random' = 'lm'): SynthesisOptions => ({
    ...opts(1, m),
    settings: { ...opts(1, m).settings, init, [setting]: value },
  });
  const texts = async (o: SynthesisOptions) =>
    (await synthesize(rt, task, plans, o, { checkpoint: Checkpoint.open<SyntheticExample>(cpPath(), 'h', false) })).examples.map((e) => e.text);

  it('draws other starts than the plain LM start, reproducibly, and refuses a setting it could not apply', async () => {
    const [plain, a, b] = [await texts(start(0)), await texts(start(on)), await texts(start(on))];
    expect(a).toEqual(b);
    expect(a).not.toEqual(plain);
    await expect(texts(start(on, { publicTexts: 8, labelContext: false }))).rejects.toThrow(new RegExp(`${setting} needs an 'lm' start, the label context on`));
    await expect(texts(start(on, { publicTexts: 8 }, 'random'))).rejects.toThrow(new RegExp(`${setting} needs an 'lm' start`));
  });
});
