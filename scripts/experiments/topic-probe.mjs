// Can the released targets choose what a class's texts are about, as they choose a task's genre
// (domain search)? On genre4 (four sources) and bbc5 (five news topics) synthetic text lags random
// real text by 8-9 points, and its texts copy their demonstrations' topics (every product review
// about a zipper, a battery or a bag). Here, per class, each topic of a fixed generic list is
// scored by the set-level matching loss of PER LM draws under the class's context (its public
// demonstrations, then "A {label} about TOPIC:"), and three sets of raw LM draws (no projection,
// no selection: what the cpu-select start is) are compared by what they teach:
//   plain      KEEP draws a class under the class's context as the product builds it;
//   chosen     KEEP draws a class spread over the TOP topics the targets rank best;
//   random     KEEP draws a class spread over TOP topics drawn at random (topic variety alone).
// The protocol's student (ten training seeds), the judge's on-label rate, a few texts.
//   [TASK=T.json] [REAL=n] [PER=n] [KEEP=n] [TOP=n] node scripts/experiments/topic-probe.mjs TRAIN.jsonl TEST.jsonl
import * as core from '@synthgrad/core';
import * as ev from '@synthgrad/eval';
import { judgeAndStudent, openProtocol, pct } from './protocol.mjs';

// The product's generic list (core.DEFAULT_TOPICS), or TOPICS='a|b|...'.
const TOPICS = process.env.TOPICS ? process.env.TOPICS.split('|') : core.DEFAULT_TOPICS;

const protocol = await openProtocol('topic-probe.mjs', process.argv.slice(2), { generations: false });
const { rt, task, all } = protocol;
const { judge, teach } = judgeAndStudent(protocol);
const REAL = Number(process.env.REAL ?? 25);
const PER = Number(process.env.PER ?? 20);
const KEEP = Number(process.env.KEEP ?? 50);
const TOP = Number(process.env.TOP ?? 3);
const DEMOS = Number(process.env.DEMOS ?? 4);
const toks = core.taskTokens(task, rt.tokenizer);
const real = core.sampleClasses(all, task, REAL, 0, 'task data');
const rows = core.releaseRows(undefined, toks.labelTokens);
const plans = real.map((r, c) => core.computeClassTarget(rt.model, r, c, toks.labelTokens[c], toks.promptIds, { rows }));
const losses = plans.map((t, c) => new core.MatchingLoss(rt.model, t, toks.labelTokens[c]));
const length = Math.round(real.flat().reduce((a, e) => a + rt.tokenizer.encode(e.text).length, 0) / real.flat().length);
const allowed = new Set(core.allowedTokenIds(rt.tokenizer, core.vocabularyOf(task, { punctuation: false })));

/** Class c's context (its own public demonstrations, then its label context about `topic` when given). */
const context = (c, topic) => rt.tokenizer.encode(core.labelContextText(task, c, DEMOS, [], topic ?? undefined));
const draw = (c, topic, n, rng) => core.drawTexts(rt, task, context(c, topic), n, { length, allowed, sentenceEndCut: 0.5 }, rng).map((x) => x.trim());
const score = (c, texts) => core.setMatchingLossOfPrompts(rt.model, losses[c], texts.map((x) => toks.promptIds(x)));

const t0 = performance.now();
const ranked = task.labels.map((l, c) => {
  const plain = score(c, draw(c, null, PER, core.Rng.derive(0, 'topic-probe-score', c, 'plain')));
  const byTopic = TOPICS.map((topic) => ({ topic, loss: score(c, draw(c, topic, PER, core.Rng.derive(0, 'topic-probe-score', c, topic))) })).sort((a, b) => a.loss - b.loss);
  console.log(JSON.stringify({ class: l.name, plain: +plain.toFixed(4), topics: byTopic.map((t) => [t.topic, +t.loss.toFixed(4)]) }));
  return byTopic;
});
console.log(JSON.stringify({ scoring_seconds: Math.round((performance.now() - t0) / 1000) }));

const spread = (c, topics, tag) => topics.flatMap((topic, k) => draw(c, topic, Math.ceil(KEEP / topics.length), core.Rng.derive(0, 'topic-probe-set', tag, c, k))).slice(0, KEEP);
const pick = core.Rng.derive(0, 'topic-probe-random');
const sets = {
  plain: (c) => draw(c, null, KEEP, core.Rng.derive(0, 'topic-probe-set', 'plain', c)),
  chosen: (c) => spread(c, ranked[c].slice(0, TOP).map((t) => t.topic), 'chosen'),
  random: (c) => spread(c, pick.shuffle([...TOPICS]).slice(0, TOP), 'random'),
};
for (const [name, make] of Object.entries(sets)) {
  const exs = task.labels.flatMap((_, c) => make(c).map((text) => ({ text, label: c, source: 'lm' }))).map((e, i) => ({ ...e, line: i + 1 }));
  const order = core.Rng.derive(0, 'order').shuffle(exs.map((_, i) => i)).map((i) => exs[i]);
  const p = ev.predict(judge, order);
  const onLabel = p.filter((x, i) => x === order[i].label).length / order.length;
  const loss = task.labels.map((_, c) => +score(c, exs.filter((e) => e.label === c).map((e) => e.text)).toFixed(4));
  console.log(JSON.stringify({ set: name, per_class: KEEP, set_loss: loss, on_label: pct(onLabel), accuracy: teach(order), examples: task.labels.map((_, c) => exs.find((e) => e.label === c)?.text) }));
}
