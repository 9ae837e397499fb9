// Is what a student learns from a set wrong in direction or only in threshold? For each set
// (real-random-100 draws, the 50 real texts behind the targets, each GEN.json's kept texts by the
// product's surplus filter), the protocol's student over 10 training seeds, then on the test split:
// accuracy at its own threshold, the share it calls class 1, the AUC of its logit difference
// (threshold-free) and the accuracy at the best threshold (an oracle bound on calibration).
//   node scripts/experiments/threshold-diagnostic.mjs TRAIN.jsonl TEST.jsonl GEN.json [...]
import * as core from '@synthgrad/core';
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { openProtocol, pct, mean, trainStudent } from './protocol.mjs';

const protocol = await openProtocol('threshold-diagnostic.mjs', process.argv.slice(2));
const { task, all, test, genFiles } = protocol;
const y = test.map((e) => e.label);

function scores(clf) {
  const out = [];
  for (let i = 0; i < test.length; i += 64) {
    const rows = tf.tidy(() => clf.logits(test.slice(i, i + 64)).arraySync());
    for (const r of rows) out.push(r[1] - r[0]);
  }
  return out;
}
function auc(s) {
  const pos = s.filter((_, i) => y[i] === 1), neg = s.filter((_, i) => y[i] === 0);
  let w = 0;
  for (const p of pos) for (const n of neg) w += p > n ? 1 : p === n ? 0.5 : 0;
  return w / (pos.length * neg.length);
}
function bestThreshold(s) {
  const order = s.map((v, i) => [v, y[i]]).sort((a, b) => a[0] - b[0]);
  let correct = y.filter((v) => v === 1).length; // threshold below all: all called 1
  let best = correct;
  for (const [, label] of order) {
    correct += label === 0 ? 1 : -1;
    best = Math.max(best, correct);
  }
  return best / s.length;
}
function diagnose(name, exs, seeds = 10) {
  const rows = Array.from({ length: seeds }, (_, seed) => {
    const { testAccuracy, inspected: s } = trainStudent(protocol, exs, seed, scores);
    return { acc: testAccuracy, pos: s.filter((v) => v > 0).length / s.length, auc: auc(s), oracle: bestThreshold(s) };
  });
  const m = (k) => pct(mean(rows.map((r) => r[k])));
  console.log(JSON.stringify({ set: name, n: exs.length, acc: m('acc'), called_1: m('pos'), auc: m('auc'), best_threshold_acc: m('oracle'), test_share_1: pct(mean(y)) }));
}
for (let d = 0; d < 3; d++) diagnose(`real-random-100/${d}`, core.Rng.derive(d, 'diag').shuffle([...all]).slice(0, 100));
diagnose('real-50', Object.values(core.sampleClasses(all, task, 25, 0, 'task data')).flat());
for (const f of genFiles) {
  const gen = JSON.parse(readFileSync(f, 'utf8'));
  const kept = core.select(gen.examples, 2, core.bestMatching(50, 'surplus')).kept;
  diagnose(`${f}:surplus`, kept);
}
