// What limits what GRADMM text teaches (issue 10)? Probes on saved generations of the quality
// protocol, with the protocol's own student (head mode, 150 AdamW steps, dev carved from the set,
// 3 seeds) and test split (500 validation texts, seed 0):
//
//   1. text shape: 100 random real texts with their punctuation stripped, or only the commas kept;
//   2. selection: which 100 of the saved candidates (50 a class) teach best: by matching loss (the
//      default), random, the worst by matching loss, a set-level greedy match of the summed
//      gradient to the target, all candidates pooled, and (oracle, not usable: it reads the
//      labels of all real data) only those a judge head calls on-label;
//   3. the student: test accuracy after a fixed number of steps (no checkpoint choice) and with
//      the decision threshold set on the test set (oracle), synthetic against real.
//
//   node scripts/experiments/synthetic-text-probes.mjs TRAIN.jsonl TEST.jsonl GEN.json [GEN.json ...]
//
// GEN.json: `synthgrad bench quality --synthetic-out` files made on TRAIN's task data (the first is
// "default" for probes 2-3). Reads ../shared in this workspace's runs; prints one JSON line per probe.
import * as core from '@synthgrad/core';
import * as ev from '@synthgrad/eval';
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { mean, openProtocol, pct } from './protocol.mjs';

const { rt, task, all, test, genFiles, cache } = await openProtocol('synthetic-text-probes.mjs', process.argv.slice(2));
const toks = core.taskTokens(task, rt.tokenizer);
const V = rt.config.vocabSize;
const real = core.sampleClasses(all, task, 25, 0, 'task data');

function student(exs, { seed, steps = 150, fixed = false }) {
  const { train, dev } = ev.carveDev(exs, 0.2, seed);
  const clf = ev.headClassifier(rt, task, cache);
  // fixed: the train set as dev with the accuracy-loss rule restores (nearly) the last step.
  const r = ev.fineTune(clf, train, fixed ? train : dev, test, 2, { steps, batchSize: 16, lr: 3e-3, weightDecay: 0.01, seed, checkpoint: fixed ? 'accuracy-loss' : 'accuracy' });
  return { clf, acc: r.testAccuracy };
}
function teach(exs) {
  const per = [0, 1, 2].map((seed) => { const { clf, acc } = student(exs, { seed }); clf.dispose(); return acc; });
  return { mean: pct(mean(per)), per_seed: per.map(pct) };
}
const out = (o) => console.log(JSON.stringify(o));

// 1. text shape
const WORD = /^[a-z]+(['-][a-z]+)*$/i;
const shapes = {
  as_is: (t) => t,
  words_only: (t) => t.split(/\s+/).filter((w) => WORD.test(w)).join(' '),
  words_and_final_mark: (t) => { const ws = t.split(/\s+/); return ws.filter((w, i) => WORD.test(w) || (i === ws.length - 1 && /^[.!?]$/.test(w))).join(' '); },
  words_commas_final_mark: (t) => { const ws = t.split(/\s+/); return ws.filter((w, i) => WORD.test(w) || w === ',' || (i === ws.length - 1 && /^[.!?]$/.test(w))).join(' '); },
};
for (const draw of [0, 1]) {
  const base = ev.balancedSubset(all, 100, draw);
  for (const [name, f] of Object.entries(shapes)) out({ probe: 'text-shape', draw, shape: name, ...teach(base.map((e) => ({ ...e, text: f(e.text) || 'x' }))) });
}

// Candidates: every saved generation, de-duplicated, with its last state h and s = softmax - e_label.
const cands = [];
const seen = new Set();
genFiles.forEach((f, g) => {
  for (const e of JSON.parse(readFileSync(f, 'utf8')).examples) {
    const key = e.text.trim().toLowerCase();
    if (!seen.has(key)) { seen.add(key); cands.push({ ...e, gen: g }); }
  }
});
const asEx = (c, i) => ({ text: c.text, label: c.labelIndex, line: i + 1, source: 'candidate' });
const targets = real.map((ex, c) => core.computeClassTarget(rt.model, ex, c, toks.labelTokens[c], toks.promptIds, { seed: 0 }));
const G = targets.map((t) => tf.tensor2d(t.sum, [V, rt.config.dModel]));
const S = [];
const Hs = [];
const T = [];
for (let i = 0; i < cands.length; i += 16) {
  const chunk = cands.slice(i, i + 16);
  tf.tidy(() => {
    const { ids, mask } = core.leftPad(chunk.map((c) => toks.promptIds(c.text)), 0);
    const { hidden, logits } = rt.model.forward({ ids, attentionMask: mask, logits: 'last' });
    const h = core.lastPosition(hidden);
    const s = tf.sub(tf.softmax(logits), tf.oneHot(tf.tensor1d(chunk.map((c) => toks.labelTokens[c.labelIndex]), 'int32'), V));
    chunk.forEach((c, b) => {
      const hb = tf.slice(h, [b, 0], [1, -1]);
      const sb = tf.slice(s, [b, 0], [1, -1]);
      T.push(tf.sum(tf.mul(tf.matMul(hb, G[c.labelIndex], false, true), sb)).dataSync()[0]); // s^T G_c h
      Hs.push(hb.dataSync().slice());
      S.push(sb.dataSync().slice());
    });
  });
}
// K_jk = (s_j . s_k)(h_j . h_k): inner products of the rank-one gradients s_j h_j^T.
const K = tf.tidy(() => {
  const Sm = tf.stack(S.map((x) => tf.tensor1d(x)));
  const Hm = tf.stack(Hs.map((x) => tf.tensor1d(x)));
  return tf.mul(tf.matMul(Sm, Sm, false, true), tf.matMul(Hm, Hm, false, true)).arraySync();
});
const byClass = [0, 1].map((c) => cands.map((_, j) => j).filter((j) => cands[j].labelIndex === c));
/** Greedy set-level matching: add the candidate that most raises cos(sum of gradients, G_c). */
function greedySet(pool, m) {
  const picked = [];
  const cross = new Float64Array(cands.length);
  let a = 0;
  let N = 0;
  for (let it = 0; it < m; it++) {
    let best = -1;
    let bv = -Infinity;
    for (const j of pool) {
      if (picked.includes(j)) continue;
      const v = (a + T[j]) / Math.sqrt(N + 2 * cross[j] + K[j][j]);
      if (v > bv) { bv = v; best = j; }
    }
    picked.push(best);
    a += T[best];
    N += 2 * cross[best] + K[best][best];
    for (const j of pool) cross[j] += K[j][best];
  }
  return picked;
}
// The judge: a head on all the task data (oracle: only for the on-label rate and one oracle rule).
const judge = ev.headClassifier(rt, task, cache);
{ const { train, dev } = ev.carveDev(all, 0.2, 0); ev.fineTune(judge, train, dev, test, 2, { steps: 150, batchSize: 16, lr: 3e-3, weightDecay: 0.01, seed: 0 }); }
const onLabel = ev.predict(judge, cands.map(asEx)).map((p, j) => p === cands[j].labelIndex);
const rule = (name, idx) => out({ probe: 'selection', rule: name, texts: idx.length, on_label: pct(mean(idx.map((j) => (onLabel[j] ? 1 : 0)))), ...teach(idx.map((j, i) => asEx(cands[j], i))) });
const best = (pool, m, key) => [...pool].sort((x, y) => key(x) - key(y)).slice(0, m);
const first = byClass.map((p) => p.filter((j) => cands[j].gen === 0));
const rng = core.Rng.derive(1, 'probe-random');
rule('default: best 50 a class by matching loss', first.flatMap((p) => best(p, 50, (j) => cands[j].matching_loss)));
rule('default: random 50 a class', first.flatMap((p) => rng.shuffle(p).slice(0, 50)));
rule('default: worst 50 a class by matching loss', first.flatMap((p) => best(p, 50, (j) => -cands[j].matching_loss)));
rule('default: greedy set-level match', first.flatMap((p) => greedySet(p, 50)));
rule('default: every candidate', first.flat());
if (genFiles.length > 1) {
  rule('pooled: best 50 a class by matching loss', byClass.flatMap((p) => best(p, 50, (j) => cands[j].matching_loss)));
  rule('pooled: every candidate', byClass.flat());
  rule('ORACLE pooled: every candidate the judge calls on-label', byClass.flat().filter((j) => onLabel[j]));
}

// 3. the student: fixed steps, and the oracle threshold
const syn = first.flatMap((p) => best(p, 50, (j) => cands[j].matching_loss)).map((j, i) => asEx(cands[j], i));
const realSet = ev.balancedSubset(all, 100, 0);
for (const [name, set] of [['gradmm-100', syn], ['real-random-100', realSet]]) {
  const curve = [10, 25, 50, 100, 150, 300].map((steps) => [steps, pct(mean([0, 1, 2].map((seed) => { const { clf, acc } = student(set, { seed, steps, fixed: true }); clf.dispose(); return acc; })))]);
  const thresholds = [0, 1, 2].map((seed) => {
    const { clf, acc } = student(set, { seed });
    const m = tf.tidy(() => clf.logits(test).arraySync()).map((z) => z[1] - z[0]);
    clf.dispose();
    const bestAcc = Math.max(...m.map((t) => mean(m.map((v, i) => ((v > t ? 1 : 0) === test[i].label ? 1 : 0)))));
    return { acc, oracle: bestAcc };
  });
  out({ probe: 'student', set: name, fixed_steps_curve: curve, accuracy: pct(mean(thresholds.map((t) => t.acc))), with_oracle_threshold: pct(mean(thresholds.map((t) => t.oracle))) });
}
