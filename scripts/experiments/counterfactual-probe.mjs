// Counterfactual pairs from a generation (issue 10): does a synthetic set of minimal pairs teach
// more than the same count of independent texts? Each of the `keep / 2` texts a class that the
// product's selection keeps (surplus filter, then matching loss) gets a counterpart in the other
// class: its own token embeddings projected under the other label's context (the Z-step's
// projection, top-K cosine neighbours of each token, the other label's LM choosing among them), so
// the two texts share their content and differ where the label's words do. Post-processing of
// selected synthetic text with public weights: no private data is read.
//
//   K=10,30 node scripts/experiments/counterfactual-probe.mjs TRAIN.jsonl TEST.jsonl GEN.json [GEN.json ...]
//
// Prints, per generation: the product's 100 (50 a class, the baseline), and per K the 50 pairs
// (25 originals a class and their 25 counterparts), scored like target-selection-probe.mjs (the
// protocol's student and judge, 10 training seeds), with the judge's on-label rate of the
// counterparts alone and a few examples.
import * as core from '@synthgrad/core';
import * as ev from '@synthgrad/eval';
import { readFileSync } from 'node:fs';
import { judgeAndStudent, openProtocol, pct } from './protocol.mjs';

const { rt, task, all, test, genFiles, cache } = await openProtocol('counterfactual-probe.mjs', process.argv.slice(2));
const KS = (process.env.K ?? '10,30').split(',').map(Number);
const { judge, teach } = judgeAndStudent({ rt, task, all, test, cache });
const onLabel = (xs) => pct(ev.predict(judge, xs).filter((p, i) => p === xs[i].label).length / xs.length);
const asRows = (xs) => xs.map((e, i) => ({ text: e.text, label: e.labelIndex, line: i + 1, source: 'gradmm' }));

const allowed = core.allowedTokenIds(rt.tokenizer);
const contexts = task.labels.map((_, c) => rt.tokenizer.encode(core.labelContextText(task, c, 4)));
// One projector per (class, k), built once: each holds the allowed tokens' unit embeddings.
const projectors = new Map();
/** ids projected under class c's label context with top-k neighbours, one text at a time (lengths differ). */
function counterpart(ids, c, k) {
  const key = `${c}/${k}`;
  if (!projectors.has(key)) projectors.set(key, new core.Projector(rt.model, allowed, k, contexts[c]));
  const Y = rt.model.embed([ids]);
  const out = projectors.get(key).project(Y)[0];
  Y.dispose();
  return out;
}

for (const file of genFiles) {
  const gen = JSON.parse(readFileSync(file, 'utf8'));
  const base = core.select(gen.examples, 2, core.bestMatching(50, 'surplus')).kept;
  console.log(JSON.stringify({ generation: file, rule: 'surplus-filter (50 a class)', kept: base.length, on_label: onLabel(asRows(base)), accuracy: teach(asRows(base)) }));
  // The best 25 a class by the same selection, each followed by its counterpart.
  const half = core.select(gen.examples, 2, core.bestMatching(25, 'surplus')).kept;
  for (const k of KS) {
    const pairs = half.flatMap((e) => {
      const other = 1 - e.labelIndex;
      const ids = counterpart(e.ids, other, k);
      return [e, { ...e, ids, text: rt.tokenizer.decode(ids), labelIndex: other }];
    });
    const flipped = asRows(pairs.filter((_, i) => i % 2 === 1));
    const changed = pairs.filter((e, i) => i % 2 === 1 && e.text !== pairs[i - 1].text).length;
    console.log(
      JSON.stringify({
        generation: file,
        rule: `pairs k=${k} (25 a class + counterparts)`,
        kept: pairs.length,
        counterparts_changed: changed,
        on_label: onLabel(asRows(pairs)),
        counterparts_on_label: onLabel(flipped),
        accuracy: teach(asRows(pairs)),
        examples: pairs.slice(0, 6).map((e) => `${e.labelIndex} ${e.text}`),
      }),
    );
  }
}
for (const p of projectors.values()) p.dispose();
