// Do commas make synthetic text teach more? Real rtpolarity reviews stripped of their punctuation
// teach 2.8 points less, and keeping only the commas and the final mark gives back 2 of them
// (docs/METHOD.md, "Punctuation"); the projection writes words only, and letting it write marks
// changed what the LM wrote. Here commas are put into the finished texts instead by the product's
// rule (`--commas on`, core.withCommas, in the task's style, core.commaStyle), the LM reading the
// label-blind prefix (the task's contextPrefix) or, with COMMAS_CONTEXT=label, the class's label
// context as the product does: one teacher-forced forward a text, post-processing with public
// weights, no privacy cost. (The first rule tried, a comma wherever the LM found it likelier than
// the word that follows, is in commit 08fb8d5's version of this script.)
//
// For each GEN.json, what the product's selection keeps (its method's filter and margin), as is
// and with commas, scored by the protocol's student; also the commas a text in each and in the
// real task data.
//
//   node scripts/experiments/comma-probe.mjs TRAIN.jsonl TEST.jsonl GEN.json [GEN.json ...]
import * as core from '@synthgrad/core';
import { readFileSync } from 'node:fs';
import { judgeAndStudent, openProtocol, pct, productKept } from './protocol.mjs';
import * as ev from '@synthgrad/eval';

const p = await openProtocol('comma-probe.mjs', process.argv.slice(2));
const { rt, task, all, genFiles } = p;
const K = task.labels.length;
// KEEP=N: texts kept a class (default the protocol's 100 in all).
const KEEP = Number(process.env.KEEP ?? Math.floor(100 / K));
const toks = core.taskTokens(task, rt.tokenizer);
const style = core.commaStyle(rt.tokenizer, task);
const commaText = rt.tokenizer.decode(style.insert);
const { judge, teach } = judgeAndStudent(p);
// COMMAS_CONTEXT=label: the LM reads each text after its class's label context with the class's
// own public demonstrations (core.labelContextText, 4 of them), as the product does, instead of
// the label-blind prefix, so a class writes commas as the LM would for that class.
const LABEL_CONTEXT = process.env.COMMAS_CONTEXT === 'label';

/** The texts' ids with commas put in by the product's rule (core.withCommas), per class when LABEL_CONTEXT. */
function withCommas(seqs, labels, batchSize = 8) {
  if (!LABEL_CONTEXT) return core.withCommas(rt.model, toks.contextPrefix, seqs, style, batchSize);
  const out = new Array(seqs.length);
  for (let c = 0; c < K; c++) {
    const mine = seqs.map((q, i) => [q, i]).filter(([, i]) => labels[i] === c);
    const context = rt.tokenizer.encode(core.labelContextText(task, c, 4));
    core.withCommas(rt.model, context, mine.map(([q]) => q), style, batchSize).forEach((q, j) => (out[mine[j][1]] = q));
  }
  return out;
}
const commasPer = (texts) => +(texts.reduce((a, t) => a + (t.match(/,/g) ?? []).length, 0) / texts.length).toFixed(2);
console.log(JSON.stringify({ real_commas_per_text: commasPer(all.map((e) => e.text)), comma: commaText }));
for (const f of genFiles) {
  const gen = JSON.parse(readFileSync(f, 'utf8'));
  const kept = productKept(gen, K, KEEP);
  const rows = kept.map((e, i) => ({ text: e.text, label: e.labelIndex, line: i + 1, source: 'gradmm' }));
  const ids = withCommas(kept.map((e) => e.ids), kept.map((e) => e.labelIndex));
  const commaRows = rows.map((r, i) => ({ ...r, text: rt.tokenizer.decode(ids[i]) }));
  for (const [name, set] of [['as is', rows], ['commas', commaRows]]) {
    console.log(JSON.stringify({ generation: f, texts: name, commas_per_text: commasPer(set.map((r) => r.text)), on_label: pct(ev.accuracy(judge, set)), example: set[3].text, accuracy: teach(set) }));
  }
}
