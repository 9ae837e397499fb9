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
//   TASK=T.json [REAL=n KEEP=n TOP=n GROUP=n PICK=n DEMOS=n SEEDS=n] node scripts/experiments/target-words-probe.mjs TRAIN.jsonl TEST.jsonl
import * as core from '@synthgrad/core';
import * as ev from '@synthgrad/eval';
import * as tf from '@tensorflow/tfjs-core';
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
const { judge, teach } = judgeAndStudent({ ...p, task });
const toks = core.taskTokens(task, rt.tokenizer);
const real = core.sampleClasses(all, task, REAL, 0, 'task data');
const rows = core.releaseRows('label-rows', toks.labelTokens);
const targets = real.map((exs, c) => core.computeClassTarget(rt.model, exs, c, toks.labelTokens[c], toks.promptIds, { rows }));
const d = targets[0].dModel;
const headT = await rt.model.headT.data(); // [d, V]
const V = headT.length / d;
// Estimated class means (the rows scaled to unit weight along their own average), centred.
const rowsOf = targets.map((t, c) => Float64Array.from(core.targetRow(t, toks.labelTokens[c]), (x) => -x));
const mu = new Float64Array(d);
for (const r of rowsOf) for (let k = 0; k < d; k++) mu[k] += r[k] / K;
const muSq = mu.reduce((a, x) => a + x * x, 0);
const means = rowsOf.map((r) => {
  const w = r.reduce((a, x, k) => a + x * mu[k], 0) / muSq;
  return r.map((x) => x / w);
});
const mBar = new Float64Array(d);
for (const m of means) for (let k = 0; k < d; k++) mBar[k] += m[k] / K;
const vocab = Array.from({ length: V }, (_, v) => rt.tokenizer.decode([v]));
const wordLike = (v) => /^ [A-Za-z]{3,}$/.test(vocab[v]);
// Whether a token ends a word: after "{domain}: TOKEN" the LM's next token opens with a space or a mark.
const opensNew = Float32Array.from(vocab, (s) => (/^[\s.,;:!?'")]/.test(s) ? 1 : 0));
function endsWord(cands) {
  const ctx = rt.tokenizer.encode(core.labelContextText(task, 0, 0).replace(/^.*?:/, `${task.domain ?? 'Text'}:`));
  const out = [];
  for (let i = 0; i < cands.length; i += 64) {
    const chunk = cands.slice(i, i + 64);
    const f = rt.model.forward({ ids: chunk.map((v) => [...ctx, v]), logits: 'last' });
    const probs = tf.softmax(f.logits).arraySync();
    f.hidden.dispose();
    f.logits.dispose();
    for (const row of probs) out.push(row.reduce((a, x, v) => a + x * opensNew[v], 0));
  }
  return out;
}
const words = means.map((m, c) => {
  const dir = m.map((x, k) => x - mBar[k]);
  const z = new Float64Array(V);
  for (let k = 0; k < d; k++) {
    const a = dir[k];
    const off = k * V;
    for (let v = 0; v < V; v++) z[v] += a * headT[off + v];
  }
  const order = Array.from({ length: V }, (_, v) => v).filter(wordLike).sort((a, b) => z[b] - z[a]).slice(0, 4 * TOP);
  const ends = endsWord(order);
  const seen = new Set();
  const kept = [];
  order.forEach((v, i) => {
    const w = vocab[v].trim();
    if (ends[i] < 0.5 || seen.has(w.toLowerCase())) return;
    seen.add(w.toLowerCase());
    kept.push(w);
  });
  console.log(JSON.stringify({ class: task.labels[c].name, words: kept.slice(0, TOP).join(' ') }));
  return kept.slice(0, TOP);
});
const length = Math.round(real.flat().reduce((a, e) => a + rt.tokenizer.encode(e.text).length, 0) / real.flat().length);
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
