// Does the protocol's dev checkpoint stop synthetic sets too early? A diagnostic, not a protocol:
// for each set, the protocol's student (head mode, dev carved from the set, SEEDS training seeds)
// with the test accuracy read at every dev evaluation (every 15 of 150 steps), so the curve shows
// what training longer would have given, next to what each checkpoint rule restores ('accuracy',
// the protocol's; 'accuracy-loss'; the last step) and the dev accuracy it saw. The test accuracy
// along the way is never used to pick anything.
//
// Sets: real-random-100 draws 0..DRAWS-1 (DRAWS, default 3) and, per GEN.json, what the product's
// selection keeps from it (its method's filter and margin, as `bench quality --synthetic-in` does).
//
//   [SEEDS=10] [DRAWS=3] node scripts/experiments/checkpoint-curve.mjs TRAIN.jsonl TEST.jsonl [GEN.json ...]
import * as core from '@synthgrad/core';
import * as ev from '@synthgrad/eval';
import { readFileSync } from 'node:fs';
import { mean, openProtocol, pct, productKept } from './protocol.mjs';

const protocol = await openProtocol('checkpoint-curve.mjs', process.argv.slice(2), { generations: false });
const { rt, task, all, test, genFiles, cache } = protocol;
const K = task.labels.length;
const SEEDS = Number(process.env.SEEDS ?? 10);
const DRAWS = Number(process.env.DRAWS ?? 3);
const { steps, batchSize, lr, weightDecay } = ev.MODE_DEFAULTS.head;

/** One training run: dev and test accuracy at every evaluation, and each rule's pick. */
function curve(exs, seed) {
  const { train, dev } = ev.carveDev(exs, 0.2, seed);
  const clf = ev.headClassifier(rt, task, cache);
  const points = [];
  try {
    const r = ev.fineTune(clf, train, dev, test, K, {
      steps, batchSize, lr, weightDecay, seed,
      onStep: ({ step, devAccuracy }) => {
        if (devAccuracy !== undefined) points.push({ step, test: ev.accuracy(clf, test) });
      },
    });
    const at0 = r.dev[0];
    const series = [{ step: 0, dev: at0.accuracy, loss: at0.loss, test: NaN }, ...r.dev.slice(1).map((d, i) => ({ ...d, dev: d.accuracy, test: points[i].test }))];
    return { series, bestStep: r.bestStep, testAccuracy: r.testAccuracy };
  } finally {
    clf.dispose();
  }
}

// The untrained head's test accuracy: every curve's step 0.
const zeroShot = (() => {
  const clf = ev.headClassifier(rt, task, cache);
  try {
    return ev.accuracy(clf, test);
  } finally {
    clf.dispose();
  }
})();

function report(name, exs) {
  const runs = Array.from({ length: SEEDS }, (_, s) => curve(exs, s));
  const stepsSeen = runs[0].series.map((p) => p.step);
  const testAt = (r, step) => (step === 0 ? zeroShot : r.series.find((p) => p.step === step).test);
  // 'accuracy-loss': the highest dev accuracy, ties to the lower dev loss.
  const lossPick = (r) => [...r.series].sort((a, b) => b.dev - a.dev || a.loss - b.loss)[0].step;
  console.log(JSON.stringify({
    set: name,
    texts: exs.length,
    test_by_step: Object.fromEntries(stepsSeen.map((st) => [st, pct(mean(runs.map((r) => testAt(r, st))))])),
    dev_by_step: Object.fromEntries(stepsSeen.map((st) => [st, pct(mean(runs.map((r) => r.series.find((p) => p.step === st).dev)))])),
    rule_accuracy: { test: pct(mean(runs.map((r) => r.testAccuracy))), mean_step: mean(runs.map((r) => r.bestStep)) },
    rule_accuracy_loss: { test: pct(mean(runs.map((r) => testAt(r, lossPick(r))))), mean_step: mean(runs.map(lossPick)) },
    last_step: pct(mean(runs.map((r) => testAt(r, steps)))),
  }));
}

for (let d = 0; d < DRAWS; d++) report(`real-random-100 draw ${d}`, ev.balancedSubset(all, 100, d));
for (const f of genFiles) {
  const gen = JSON.parse(readFileSync(f, 'utf8'));
  const kept = productKept(gen, K, 50);
  report(f, kept.map((e, i) => ({ text: e.text, label: e.labelIndex, line: i + 1, source: 'gradmm' })));
}
