// Which texts of a generation should selection keep, using only what was released (issue 10,
// deliverable 3)? Selection rules over saved generations of the quality protocol that carry the
// target classifier's margins (`bench quality --method '{"targetFilter":true,"discriminant":"head"}'
// --synthetic-out GEN.json`), each scored with the protocol's own student (head mode, 150 AdamW
// steps, dev carved from the set, 3 seeds), test split (500 texts, seed 0) and judge (a head on all
// of TRAIN, the protocol's):
//
//   best-matching   the default: per class the best `keep` texts by matching loss;
//   strict-filter   drop every text the target classifier puts in another class, then as above
//                   (and balance, as the protocol does);
//   surplus-filter  drop such texts only while more than `keep` of the class remain, the most
//                   confidently misplaced first, then as above: the overgenerated surplus is spent
//                   on the filter and the kept count never falls;
//   margin-top      per class the `keep` texts with the highest target margin;
//   margin-mid      drop the surplus from the top of the margin ranking (the caricatures).
//
//   node scripts/experiments/target-selection-probe.mjs TRAIN.jsonl TEST.jsonl GEN.json [GEN.json ...]
//
// Reads ../shared data in this workspace's runs; prints one JSON line per generation and rule.
import * as core from '@synthgrad/core';
import * as ev from '@synthgrad/eval';
import { readFileSync } from 'node:fs';

const [trainFile, testFile, ...genFiles] = process.argv.slice(2);
if (!trainFile || !testFile || genFiles.length === 0) {
  console.error('usage: target-selection-probe.mjs TRAIN.jsonl TEST.jsonl GEN.json [GEN.json ...]');
  process.exit(2);
}
await core.initBackend();
const rt = await core.loadModel(core.resolveModelPath());
const task = core.SENTIMENT_TASK;
const all = core.readExamples(trainFile, task);
const test = core.Rng.derive(0, 'quality-test').shuffle(core.readExamples(testFile, task)).slice(0, 500);
const cache = new ev.FeatureCache(rt, task);
const pct = (x) => +(x * 100).toFixed(1);
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const { steps, batchSize, lr, weightDecay } = ev.MODE_DEFAULTS.head;

const judge = ev.headClassifier(rt, task, cache);
{
  const { train, dev } = ev.carveDev(all, 0.2, 0);
  const r = ev.fineTune(judge, train, dev, test, 2, { steps, batchSize, lr, weightDecay, seed: 0 });
  console.log(JSON.stringify({ judge_test_accuracy: pct(r.testAccuracy) }));
}

function teach(exs) {
  const per = [0, 1, 2].map((seed) => {
    const { train, dev } = ev.carveDev(exs, 0.2, seed);
    const clf = ev.headClassifier(rt, task, cache);
    const r = ev.fineTune(clf, train, dev, test, 2, { steps, batchSize, lr, weightDecay, seed });
    clf.dispose();
    return r.testAccuracy;
  });
  return { mean: pct(mean(per)), per_seed: per.map(pct) };
}

const byLoss = (a, b) => a.matching_loss - b.matching_loss;
const byMargin = (a, b) => b.target_margin - a.target_margin;
function rule(name, gen, keep) {
  const out = [];
  for (const c of [0, 1]) {
    const seen = new Set();
    const mine = gen.examples.filter((e) => e.labelIndex === c && !seen.has(e.text.trim()) && seen.add(e.text.trim()));
    const surplus = Math.max(0, mine.length - keep);
    let kept;
    if (name === 'best-matching') kept = [...mine].sort(byLoss).slice(0, keep);
    else if (name === 'strict-filter') kept = mine.filter((e) => e.target_margin > 0).sort(byLoss).slice(0, keep);
    else if (name === 'surplus-filter') {
      const drop = new Set([...mine].filter((e) => e.target_margin <= 0).sort((a, b) => a.target_margin - b.target_margin).slice(0, surplus));
      kept = mine.filter((e) => !drop.has(e)).sort(byLoss).slice(0, keep);
    } else if (name === 'margin-top') kept = [...mine].sort(byMargin).slice(0, keep);
    else if (name === 'margin-mid') kept = [...mine].sort(byMargin).slice(surplus, surplus + keep);
    out.push(kept);
  }
  const n = Math.min(out[0].length, out[1].length);
  return out.flatMap((k) => k.slice(0, n)).map((e, i) => ({ text: e.text, label: e.labelIndex, line: i + 1, source: 'gradmm' }));
}

for (const file of genFiles) {
  const gen = JSON.parse(readFileSync(file, 'utf8'));
  if (!gen.examples.every((e) => typeof e.target_margin === 'number')) {
    console.error(`${file}: its examples carry no target_margin (generate with targetFilter on)`);
    process.exit(2);
  }
  for (const name of ['best-matching', 'strict-filter', 'surplus-filter', 'margin-top', 'margin-mid']) {
    const kept = rule(name, gen, 50);
    const p = ev.predict(judge, kept);
    const onLabel = p.filter((x, i) => x === kept[i].label).length / kept.length;
    console.log(JSON.stringify({ generation: file, rule: name, kept: kept.length, on_label: pct(onLabel), accuracy: teach(kept) }));
  }
}
