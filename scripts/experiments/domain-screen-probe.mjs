// How cheap can the domain search's first round be and still rank the genres as the full one does?
// The product's search (core searchDomain) draws 30 texts a class per genre at the targets' mean
// text length, each cut at the LM's likeliest sentence end, and rescores the best three on 30
// fresh draws: about as long as the generation it precedes (EXPERIMENTS.md, twentieth stop).
// This probe scores every genre of DEFAULT_GENRES under cheaper screens (fewer draws, shorter
// draws, no sentence-end cut) against the same class targets (the bench's 25 + 25 real texts,
// label rows, no noise), times each, and prints each screen's ranking, one JSON line per screen.
//   node scripts/experiments/domain-screen-probe.mjs TRAIN.jsonl TEST.jsonl
// SCREENS=per:frac:cut,... (default 10:1:0.5,10:0.5:0,30:0.5:0,10:0.33:0): draws a class, the
// fraction of the mean length drawn, the sentence-end cut (0: none).
import * as core from '@synthgrad/core';
import { openProtocol } from './protocol.mjs';

const { rt, all } = await openProtocol('domain-screen-probe.mjs', process.argv.slice(2), { generations: false });
const task = core.validateTask({ labels: core.SENTIMENT_TASK.labels.map(({ value, name, verbalizer }) => ({ value, name, verbalizer })), suffix: ' It was' }, 'probe');
const toks = core.taskTokens(task, rt.tokenizer);
const real = core.sampleClasses(all, task, 25, 0, 'task data');
const rows = core.releaseRows(undefined, toks.labelTokens);
const plans = real.map((r, c) => core.computeClassTarget(rt.model, r, c, toks.labelTokens[c], toks.promptIds, { rows }));
const losses = plans.map((t, c) => new core.MatchingLoss(rt.model, t, toks.labelTokens[c]));
const length = Math.round(real.flat().reduce((a, e) => a + rt.tokenizer.encode(e.text).length, 0) / real.flat().length);
const allowed = new Set(core.allowedTokenIds(rt.tokenizer));
const screens = (process.env.SCREENS ?? '10:1:0.5,10:0.5:0,30:0.5:0,10:0.33:0').split(',').map((s) => s.split(':').map(Number));
for (const [per, frac, cut] of screens) {
  const o = { length: Math.max(4, Math.round(frac * length)), seed: 0, allowed, sentenceEndCut: cut };
  const t0 = performance.now();
  const scores = core.DEFAULT_GENRES.map((g) => core.scoreDomain(rt, task, losses, g, o, per)).sort((a, b) => a.loss - b.loss);
  const seconds = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ per, length: o.length, cut, seconds: +seconds.toFixed(1), ranking: scores.map((s) => [s.domain, +s.loss.toFixed(4)]) }));
}
