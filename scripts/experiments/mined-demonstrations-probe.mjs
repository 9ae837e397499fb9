// Which label-blind LM texts does the targets' classifier put most firmly in each class? A task
// whose classes have no public demonstrations (one that names only its labels, or its domain)
// fills them with the class's own earlier synthetic texts (fillDemonstrations), and on bbc5 those
// are texts about the label and the genre ("A business news article is a nonprint source ..."),
// copied into every later batch. The public statistics already draw texts after the label-blind
// context ("News article:"); this looks at the ones the target classifier (built as generate builds
// it: the protocol's real texts, label-rows release, no noise) puts in each class by the widest
// margin: are they on topic and in the genre?
//
//   TASK=T.json [REAL=10 N=256 SHOW=5 DISCRIMINANT=head|lda] node scripts/experiments/mined-demonstrations-probe.mjs TRAIN.jsonl TEST.jsonl
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
// The classifier as `bench quality`'s cpu-select builds it ('head'), or DISCRIMINANT=lda; the draws
// and the picks are the product's own (publicStatsFor, mineDemonstrations).
const method = { ...core.DEFAULT_METHOD, discriminant: process.env.DISCRIMINANT ?? 'head', publicTexts: N };
const real = core.sampleClasses(all, task, REAL, 0, 'task data');
const rows = core.releaseRows('label-rows', toks.labelTokens);
const plans = real.map((exs, c) => ({
  target: core.computeClassTarget(rt.model, exs, c, toks.labelTokens[c], toks.promptIds, { rows }),
  textLength: Math.max(2, Math.round(exs.reduce((a, e) => a + rt.tokenizer.encode(e.text).length, 0) / exs.length)),
}));
const { classifier, stats } = core.targetClassifierFor(rt, task, plans, method, 0);
const logits = core.classifyStates(classifier, stats.draws.hidden, stats.draws.ids.length);
const mined = core.minedDemonstrationsFor(rt, task, plans, { ...method, minedDemonstrations: SHOW }, 0, classifier, stats, (m) => console.error(m));
const { judge } = judgeAndStudent(p, 1);
const perClass = new Array(K).fill(0);
for (const z of logits) perClass[z.indexOf(Math.max(...z))]++;
console.log(JSON.stringify({ context: rt.tokenizer.decode(toks.contextPrefix), discriminant: method.discriminant, drawn: N, per_class: perClass }));
let agreed = 0;
for (let c = 0; c < K; c++) {
  const rowsOf = mined[c].map((m, i) => ({ text: m.text, label: c, line: i + 1, source: 'lm' }));
  const acc = rowsOf.length ? ev.accuracy(judge, rowsOf) : 0;
  agreed += acc * rowsOf.length;
  console.log(JSON.stringify({ class: task.labels[c].name, judge_agrees: acc, texts: mined[c].map((m) => `${m.margin.toFixed(2)} ${m.text.slice(0, 160)}`) }, null, 1));
}
console.log(JSON.stringify({ judge_agrees_all: agreed / mined.reduce((a, m) => a + m.length, 0) }));
