// The target classifier's verdicts on a generation read against the judge (issue 10, twenty-eighth
// stop): per class, how many of its generated texts the classifier puts in another class, and how
// many of those the judge (the protocol's head on all of TRAIN) still puts in their own, with the
// threshold as the targets place it and refitted on the generation (core.refitThreshold). Texts
// carry target_logits since the refit; older two-label generations only margins, read as logits
// [0, D] with D the logit difference (the same fit).
//
//   node scripts/experiments/threshold-verdicts.mjs TRAIN.jsonl TEST.jsonl GEN.json [GEN.json ...]
//
// TASK=file for a task other than the built-in one. One JSON line per generation.
import * as core from '@synthgrad/core';
import * as ev from '@synthgrad/eval';
import { readFileSync } from 'node:fs';
import { judgeAndStudent, openProtocol, targetLogitsOf } from './protocol.mjs';

const { rt, task, all, test, genFiles, cache } = await openProtocol('threshold-verdicts.mjs', process.argv.slice(2));
const K = task.labels.length;
const { judge } = judgeAndStudent({ rt, task, all, test, cache }, 1);

for (const file of genFiles) {
  const gen = JSON.parse(readFileSync(file, 'utf8'));
  const rows = gen.examples.map((e, i) => ({ text: e.text, label: e.labelIndex, line: i + 1, source: 'gradmm' }));
  const judged = ev.predict(judge, rows);
  const built = gen.examples.map((e) => {
    const z = targetLogitsOf(e, K, file);
    return { labelIndex: e.labelIndex, target_logits: z, ...core.targetVerdict(z, e.labelIndex) };
  });
  const refit = core.refitThreshold(built, K);
  const verdicts = (exs) =>
    task.labels.map((l, c) => {
      const mine = exs.map((e, i) => ({ e, i })).filter(({ e }) => e.labelIndex === c);
      const out = mine.filter(({ e }) => e.target_label !== c);
      return { label: l.value, generated: mine.length, placed_elsewhere: out.length, of_them_own_by_judge: out.filter(({ i }) => judged[i] === c).length };
    });
  console.log(JSON.stringify({ generation: file, judge_on_label: +(judged.filter((p, i) => p === rows[i].label).length / rows.length).toFixed(3), shift: refit.shift.map((x) => +x.toFixed(3)), changed: refit.changed, built: verdicts(built), refitted: verdicts(refit.examples) }));
}
