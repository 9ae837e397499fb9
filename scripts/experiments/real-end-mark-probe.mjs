// Does the student care how its training texts end, when the test texts end another way? The end
// marks (gradmm/end-marks.ts, on by default) end a synthetic text with a mark where the LM ends it
// with one. On genre4 and tweet3 that taught more, measured on synthetic text; bbc5's real
// articles, cut at 256 characters, end with a mark only 4% of the time, and there a marked
// synthetic set meets test texts that end bare. This probe asks the student's sensitivity on real
// text, where the content is held fixed: random real texts (PER a class, DRAWS draws), as they
// are, with the product's mark (its style for the task) on every text that does not end a sentence, and
// with every final mark taken off. Ten training seeds a draw (SEEDS=N).
//
//   [TASK=T.json PER=n DRAWS=d] node scripts/experiments/real-end-mark-probe.mjs TRAIN.jsonl TEST.jsonl
import * as core from '@synthgrad/core';
import { endedShare, judgeAndStudent, mean, openProtocol } from './protocol.mjs';

const p = await openProtocol('real-end-mark-probe.mjs', process.argv.slice(2), { generations: false });
const { rt, task, all } = p;
const K = task.labels.length;
const PER = Number(process.env.PER ?? 20);
const DRAWS = Number(process.env.DRAWS ?? 3);
const { teach } = judgeAndStudent(p);
const mark = rt.tokenizer.decode(core.endMarkStyle(rt.tokenizer, task).marks[0].insert);
console.log(JSON.stringify({ mark, real_ended: endedShare(all), test_ended: endedShare(p.test) }));

const variants = {
  'as is': (t) => t,
  'mark on every text': (t) => (core.endsSentence(t) ? t : t.trimEnd() + mark),
  'final mark off': (t) => t.replace(/\s*[.!?]+["')\]]*\s*$/, ''),
};
const sums = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (let d = 0; d < DRAWS; d++) {
  const rng = core.Rng.derive(d, 'real-end-mark-draw');
  const drawn = Array.from({ length: K }, (_, c) => rng.shuffle(all.filter((e) => e.label === c)).slice(0, PER)).flat();
  for (const [name, f] of Object.entries(variants)) {
    const rows = drawn.map((e, i) => ({ ...e, text: f(e.text), line: i + 1 }));
    const acc = teach(rows);
    sums[name].push(acc.mean10);
    console.log(JSON.stringify({ draw: d, texts: name, ended: endedShare(rows), accuracy: acc }));
  }
}
console.log(JSON.stringify({ per_class: PER, draws: DRAWS, mean: Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, +mean(v).toFixed(2)])) }));
