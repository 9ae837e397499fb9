// Can the released targets name a task's domain? For a task file that gives only its labels, the
// LM writes off-domain text (mathematics, code) under the default label context. The product's
// domain search (core searchDomain: every genre of DEFAULT_GENRES on PER draws a class (default the product's) under
// "A {label} GENRE:", the best three again on 30 fresh draws, each genre's draws scored together) against the class targets of the
// bench's 25 + 25 real texts (label rows; EPSILON=e: clipped at 1 and noised, delta 1e-5), and
// the fallback context's score beside them.
// TASK=T.json: another task (its labels, suffix and verbalisers; its contexts are not used), with
// REAL=n real texts a class behind the targets (default 25; bench quality takes real / classes).
//   [PER=n] [EPSILON=1] [WORKERS=2] [TASK=T.json REAL=n] node scripts/experiments/domain-probe.mjs TRAIN.jsonl TEST.jsonl
import * as core from '@synthgrad/core';
import { openProtocol } from './protocol.mjs';

const { rt, all, task: given } = await openProtocol('domain-probe.mjs', process.argv.slice(2), { generations: false });
// Only the labels and the suffix: a task that names its domain would not search.
const task = core.validateTask({ labels: given.labels.map(({ value, name, verbalizer }) => ({ value, name, verbalizer })), suffix: given.suffix }, 'probe');
const toks = core.taskTokens(task, rt.tokenizer);
const real = core.sampleClasses(all, task, Number(process.env.REAL ?? 25), 0, 'task data');
const privacy = process.env.EPSILON ? { clip: 1, epsilon: Number(process.env.EPSILON), delta: 1e-5, noiseKey: core.newSecretKey() } : {};
const rows = core.releaseRows(undefined, toks.labelTokens);
const plans = real.map((r, c) => core.computeClassTarget(rt.model, r, c, toks.labelTokens[c], toks.promptIds, { ...privacy, rows }));
const losses = plans.map((t, c) => new core.MatchingLoss(rt.model, t, toks.labelTokens[c]));
const length = Math.round(real.flat().reduce((a, e) => a + rt.tokenizer.encode(e.text).length, 0) / real.flat().length);
// PER=n: first-round draws a class (default: the product's, core.firstRoundDraws(labels)).
const o = { perClass: process.env.PER ? Number(process.env.PER) : undefined, length, seed: 0, allowed: new Set(core.allowedTokenIds(rt.tokenizer)), sentenceEndCut: 0.5 };
// WORKERS=n: the search's jobs on n worker threads, as synthesize runs it when its classes get workers.
const workers = Number(process.env.WORKERS ?? 1);
const t0 = performance.now();
const preset = core.resolvePreset('cpu-select');
const params = { settings: preset.settings, method: preset.method, perClass: 50, seed: 0, distance: 'cosine', initNorm: 1, classifier: null, metric: null, topics: null };
const pool = workers > 1 ? core.startGenreScorers(rt, task, params, plans, { length, seed: 0, sentenceEndCut: 0.5 }, workers) : null;
let choice;
try {
  choice = await core.searchDomain(rt, task, losses, o, pool?.score);
} finally {
  await pool?.close();
}
const seconds = (performance.now() - t0) / 1000;
// The fallback context ("Here is a {label} example. The"), scored the same way on 10 draws a class.
const fallback = core.scoreContexts(rt, task, losses, o, 10, (c) => core.Rng.derive(0, 'fallback', c));
const fmt = (ss) => ss.map((s) => [s.domain, +s.loss.toFixed(4)]);
console.log(JSON.stringify({ epsilon: process.env.EPSILON ?? null, workers, domain: choice.domain, seconds: +seconds.toFixed(1), length, final: fmt(choice.final), first_round: fmt(choice.scores), fallback: +fallback.loss.toFixed(4) }));
