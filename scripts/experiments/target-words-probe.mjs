// Which words do the released class targets point at, and does naming them in the LM context
// teach more? A class target's own verbaliser row is a weighted sum of the class's final states
// (target-classifier.ts), and the final state is what the LM reads its next token from, so the
// contrast of the estimated class means, read through the LM head (a "logit lens"), ranks the
// vocabulary by how much likelier each token is after this class's texts than after the average
// class's. Post-processing of released values. Two sets of raw LM draws (no projection, no
// selection: what the product's start is) are compared by what they teach:
//   plain     KEEP draws a class under the class's label context (DEMOS public demonstrations);
//   words     the same, each GROUP draws under "A {label} ... about W1, W2 and W3:", the three
//             drawn from the class's TOP target words.
//   TASK=T.json [RANKING=lens|lift REAL=n KEEP=n TOP=n GROUP=n PICK=n DEMOS=n SEEDS=n DOMAIN=genre EPSILON=e WORDS_ONLY=1 SETS=plain,words] node scripts/experiments/target-words-probe.mjs TRAIN.jsonl TEST.jsonl
import * as core from '@synthgrad/core';
import * as ev from '@synthgrad/eval';
import { judgeAndStudent, openProtocol, pct } from './protocol.mjs';

const p = await openProtocol('target-words-probe.mjs', process.argv.slice(2), { generations: false });
const { rt, all } = p;
const K0 = p.task.labels.length;
const REAL = Number(process.env.REAL ?? Math.floor(50 / K0));
const TOP = Number(process.env.TOP ?? 24);
const KEEP = Number(process.env.KEEP ?? 20);
const GROUP = Number(process.env.GROUP ?? 5);
const PICK = Number(process.env.PICK ?? 3);
const DEMOS = Number(process.env.DEMOS ?? 4);
const SETS = (process.env.SETS ?? 'plain,words').split(',');
// DOMAIN=genre: the task's contexts built from that genre, as the product's domain search would
// for a task that names none.
const task = process.env.DOMAIN ? core.withDomain(p.task, process.env.DOMAIN) : p.task;
const K = task.labels.length;
const toks = core.taskTokens(task, rt.tokenizer);
const real = core.sampleClasses(all, task, REAL, 0, 'task data');
const rows = core.releaseRows('label-rows', toks.labelTokens);
// EPSILON=e: the targets released under (e, 1e-5)-DP with clip 1, as `generate --epsilon e --delta 1e-5 --clip 1` releases them.
const privacy = process.env.EPSILON ? { epsilon: Number(process.env.EPSILON), delta: 1e-5, clip: 1 } : {};
const targets = real.map((exs, c) => core.computeClassTarget(rt.model, exs, c, toks.labelTokens[c], toks.promptIds, { rows, ...privacy }));
// RANKING=lens|lift (default lens, as the product): the lift reads the class means at the norm of public LM texts' mean state
// (here 128 texts at the real texts' mean length, without the product's vocabulary and stray-space ban: close to synthesize's, not the same).
const RANKING = process.env.RANKING ?? 'lens';
const length = Math.round(real.flat().reduce((a, e) => a + rt.tokenizer.encode(e.text).length, 0) / real.flat().length);
const meanStateNorm =
  RANKING === 'lift'
    ? Math.hypot(...core.publicHiddenStats(rt.model, { context: toks.contextPrefix, suffix: toks.syntheticSuffix, allowed: new Set(core.allowedTokenIds(rt.tokenizer)), length, count: 128, seed: 0 }).mean)
    : undefined;
const words = core.targetWords(rt, targets, toks.labelTokens, { allowed: core.allowedTokenIds(rt.tokenizer), wordEndContext: toks.contextPrefix, pool: TOP, ranking: RANKING, meanStateNorm }).map((ws, c) => {
  console.log(JSON.stringify({ class: task.labels[c].name, words: ws.map((w) => w.word).join(' ') }));
  return ws.map((w) => w.word);
});
// WORDS_ONLY=1: stop after the word lists (no draws, no student).
if (process.env.WORDS_ONLY) process.exit(0);
const { judge, teach } = judgeAndStudent({ ...p, task });
const allowed = new Set(core.allowedTokenIds(rt.tokenizer, core.vocabularyOf(task, { punctuation: false })));
const context = (c, topic) => rt.tokenizer.encode(core.labelContextText(task, c, DEMOS, [], topic));
const draw = (c, topic, n, rng) => core.drawTexts(rt, task, context(c, topic), n, { length, allowed, sentenceEndCut: 0.5 }, rng).map((x) => x.trim());
const phrase = (ws) => (ws.length === 1 ? ws[0] : `${ws.slice(0, -1).join(', ')} and ${ws.at(-1)}`);
const sets = {
  plain: (c) => draw(c, undefined, KEEP, core.Rng.derive(0, 'words-probe', 'plain', c)),
  words: (c) => {
    const rng = core.Rng.derive(0, 'words-probe', 'words', c);
    const out = [];
    for (let g = 0; out.length < KEEP; g++) out.push(...draw(c, phrase(rng.shuffle([...words[c]]).slice(0, PICK)), Math.min(GROUP, KEEP - out.length), core.Rng.derive(0, 'words-probe', 'draw', c, g)));
    return out;
  },
};
for (const name of SETS) {
  const exs = task.labels.flatMap((_, c) => sets[name](c).map((text) => ({ text, label: c, source: 'lm' }))).map((e, i) => ({ ...e, line: i + 1 }));
  const order = core.Rng.derive(0, 'order').shuffle(exs.map((_, i) => i)).map((i) => exs[i]);
  const pr = ev.predict(judge, order);
  const onLabel = pr.filter((x, i) => x === order[i].label).length / order.length;
  console.log(JSON.stringify({ set: name, per_class: KEEP, on_label: pct(onLabel), accuracy: teach(order), examples: task.labels.map((_, c) => exs.filter((e) => e.label === c).slice(0, 2).map((e) => e.text.slice(0, 140))) }));
}
