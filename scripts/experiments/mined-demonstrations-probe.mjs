// Which label-blind LM texts does the targets' classifier put most firmly in each class? A task
// whose classes have no public demonstrations (one that names only its labels, or its domain)
// fills them with the class's own earlier synthetic texts (fillDemonstrations), and on bbc5 those
// are texts about the label and the genre ("A business news article is a nonprint source ..."),
// copied into every later batch. The public statistics already draw texts after the label-blind
// context ("News article:"); this looks at the ones the target classifier (built as generate builds
// it: the protocol's real texts, label-rows release, no noise) puts in each class by the widest
// margin: are they on topic and in the genre?
//
//   TASK=T.json [REAL=10 N=256 SHOW=5] node scripts/experiments/mined-demonstrations-probe.mjs TRAIN.jsonl TEST.jsonl
import * as core from '@synthgrad/core';
import { judgeAndStudent, openProtocol } from './protocol.mjs';
import * as ev from '@synthgrad/eval';

const p = await openProtocol('mined-demonstrations-probe.mjs', process.argv.slice(2), { generations: false });
const { rt, task, all } = p;
const K = task.labels.length;
const REAL = Number(process.env.REAL ?? Math.floor(50 / K));
const N = Number(process.env.N ?? 256);
const SHOW = Number(process.env.SHOW ?? 5);
const toks = core.taskTokens(task, rt.tokenizer);
const method = core.DEFAULT_METHOD;
const real = core.sampleClasses(all, task, REAL, 0, 'task data');
const rows = core.releaseRows('label-rows', toks.labelTokens);
const plans = real.map((exs, c) => ({
  target: core.computeClassTarget(rt.model, exs, c, toks.labelTokens[c], toks.promptIds, { rows }),
  textLength: Math.max(2, Math.round(exs.reduce((a, e) => a + rt.tokenizer.encode(e.text).length, 0) / exs.length)),
}));
const { classifier } = core.targetClassifierFor(rt, task, plans, method, 0);
const allowed = new Set(core.allowedTokenIds(rt.tokenizer, core.vocabularyOf(task, method)));
const length = Math.round(plans.reduce((a, q) => a + q.textLength, 0) / K);
const drawn = core.sampleAllowed(rt.model, allowed, toks.contextPrefix, N, length, core.Rng.derive(1, 'mined'));
const pred = core.targetPredictions(rt, classifier, drawn.map((ids) => [...ids, ...toks.syntheticSuffix]));
const { judge } = judgeAndStudent(p, 1);
const texts = drawn.map((ids) => rt.tokenizer.decode(ids));
console.log(JSON.stringify({ context: rt.tokenizer.decode(toks.contextPrefix), drawn: N, length, per_class: pred.reduce((a, q) => (a[q.label]++, a), new Array(K).fill(0)) }));
for (let c = 0; c < K; c++) {
  const own = pred.map((q, i) => ({ i, m: q.logits[c] - Math.max(...q.logits.filter((_, k) => k !== c)) })).sort((a, b) => b.m - a.m).slice(0, SHOW);
  const rowsOf = own.map(({ i }) => ({ text: texts[i], label: c, line: i + 1, source: 'lm' }));
  console.log(JSON.stringify({ class: task.labels[c].name, judge_agrees: ev.accuracy(judge, rowsOf), texts: own.map(({ i, m }) => `${m.toFixed(2)} ${texts[i].slice(0, 160)}`) }, null, 1));
}
