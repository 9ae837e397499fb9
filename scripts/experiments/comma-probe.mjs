// Do commas make synthetic text teach more? Real rtpolarity reviews stripped of their punctuation
// teach 2.8 points less, and keeping only the commas and the final mark gives back 2 of them
// (docs/METHOD.md, "Punctuation"); the projection writes words only, and letting it write marks
// changed what the LM wrote. Here commas are put into the finished texts instead, by the LM
// reading the label-blind context (the task's contextPrefix) and the text: one teacher-forced
// forward a text, post-processing with public weights, no privacy cost. The rule (COMMAS, below)
// defaults to the product's (`--commas on`, core.withCommas), in the task's style
// (core.commaStyle).
//
// For each GEN.json, what the product's selection keeps (its method's filter and margin), as is
// and with commas, scored by the protocol's student; also the commas a text in each and in the
// real task data.
//
//   node scripts/experiments/comma-probe.mjs TRAIN.jsonl TEST.jsonl GEN.json [GEN.json ...]
import * as tf from '@tensorflow/tfjs-core';
import * as core from '@synthgrad/core';
import { readFileSync } from 'node:fs';
import { judgeAndStudent, openProtocol, pct } from './protocol.mjs';
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
// Where a comma goes (COMMAS=...): 'argmax' (default, the product's --commas on), it is the
// LM's likeliest next token; 'next', the LM gives it more than the word that follows (about five
// commas a text on rtpolarity); 'half', it has more than half.
const CRITERION = process.env.COMMAS ?? 'argmax';
if (!['next', 'argmax', 'half'].includes(CRITERION)) throw new Error(`COMMAS must be next, argmax or half, got ${CRITERION}`);

/**
 * The texts' ids with commas put in: COMMAS=argmax (default) is the product's rule
 * (core.withCommas); 'next' and 'half' are the looser rules tried first.
 */
// COMMAS_CONTEXT=label: the LM reads each text after its class's label context with the class's
// own public demonstrations (core.labelContextText, 4 of them) instead of the label-blind prefix,
// so a class writes commas as the LM would for that class (argmax rule only).
const LABEL_CONTEXT = process.env.COMMAS_CONTEXT === 'label';
function withCommas(seqs, batchSize = 8, labels = []) {
  const ctx = toks.contextPrefix;
  if (CRITERION === 'argmax' && LABEL_CONTEXT) {
    const out = new Array(seqs.length);
    for (let c = 0; c < K; c++) {
      const mine = seqs.map((q, i) => [q, i]).filter(([, i]) => labels[i] === c);
      const lctx = rt.tokenizer.encode(core.labelContextText(task, c, 4));
      core.withCommas(rt.model, lctx, mine.map(([q]) => q), style, batchSize).forEach((q, j) => (out[mine[j][1]] = q));
    }
    return out;
  }
  if (CRITERION === 'argmax') return core.withCommas(rt.model, ctx, seqs, style, batchSize);
  const out = [];
  for (let s = 0; s < seqs.length; s += batchSize) {
    const chunk = seqs.slice(s, s + batchSize).map((q) => [...ctx, ...q]);
    const { ids, mask } = core.leftPad(chunk, 0);
    const L = ids[0].length;
    const logp = tf.tidy(() => tf.logSoftmax(rt.model.forward({ ids, attentionMask: mask, logits: 'all' }).logits).arraySync());
    chunk.forEach((row, b) => {
      const seq = row.slice(ctx.length);
      const pad = L - row.length;
      const res = [];
      seq.forEach((id, k) => {
        res.push(id);
        const next = seq[k + 1];
        if (next === undefined || !style.startsWord(next)) return;
        const dist = logp[b][pad + ctx.length + k];
        const comma = Math.log(style.commaIds.reduce((a, c) => a + Math.exp(dist[c]), 0));
        if (CRITERION === 'next' ? comma > dist[next] : comma > Math.log(0.5)) res.push(...style.insert);
      });
      out.push(res);
    });
  }
  return out;
}
const commasPer = (texts) => +(texts.reduce((a, t) => a + (t.match(/,/g) ?? []).length, 0) / texts.length).toFixed(2);
console.log(JSON.stringify({ real_commas_per_text: commasPer(all.map((e) => e.text)), comma: commaText }));
for (const f of genFiles) {
  const gen = JSON.parse(readFileSync(f, 'utf8'));
  const kept = core.select(gen.examples, K, core.bestMatching(KEEP, gen.method.targetFilter, gen.method.targetFilterMargin ?? 0)).kept;
  const rows = kept.map((e, i) => ({ text: e.text, label: e.labelIndex, line: i + 1, source: 'gradmm' }));
  const ids = withCommas(kept.map((e) => e.ids), 8, kept.map((e) => e.labelIndex));
  const commaRows = rows.map((r, i) => ({ ...r, text: rt.tokenizer.decode(ids[i]) }));
  for (const [name, set] of [['as is', rows], ['commas', commaRows]]) {
    console.log(JSON.stringify({ generation: f, texts: name, commas_per_text: commasPer(set.map((r) => r.text)), on_label: pct(ev.accuracy(judge, set)), example: set[3].text, accuracy: teach(set) }));
  }
}
