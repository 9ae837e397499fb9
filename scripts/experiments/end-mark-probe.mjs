// Does a final mark make synthetic text teach more? The sentence-end cut (gradmm/sentence-end.ts)
// ends each text where the LM most expects the sentence end but writes no mark, and the student's
// prompt puts one in only for a task whose `sentenceEnd` is set (the built-in task's " ."): a task
// file without it (genre4, tweet3, any task `task init` writes) trains the student on texts that
// end without a mark, while most real texts end with one (genre4: 76%, rtpolarity 94%).
//
// For each GEN.json, the product's kept texts (its method's filter and margin) with commas put in
// as the product does (after the class's label context), then four endings: as is; "." on every
// text that does not end with . ! or ?; the LM's likeliest of the three marks (after the class's
// label context); that mark only where the three together are at least as likely as any single
// next token (the comma rule's test). The mark takes the style of the task's comma (" ." or ".").
// The last is what the product adopted (`--end-marks`, core.withEndMarks, oracle-tested there;
// its style follows the demonstrations' final marks, which here agree with their commas); this
// script is kept as it measured.
//
//   node scripts/experiments/end-mark-probe.mjs TRAIN.jsonl TEST.jsonl GEN.json [GEN.json ...]
import * as core from '@synthgrad/core';
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { endedShare, judgeAndStudent, madeWithEndMarks, openProtocol, pct, productKept, withoutEndMark } from './protocol.mjs';
import { afterEachPrefix } from '../../packages/core/dist/gradmm/scoring.js';
import * as ev from '@synthgrad/eval';

const p = await openProtocol('end-mark-probe.mjs', process.argv.slice(2));
const { rt, task, genFiles } = p;
const K = task.labels.length;
const KEEP = Number(process.env.KEEP ?? Math.floor(100 / K));
const toks = core.taskTokens(task, rt.tokenizer);
const style = core.commaStyle(rt.tokenizer, task);
const spaced = /^\s/.test(rt.tokenizer.decode(style.insert));
const single = (s) => {
  const ids = rt.tokenizer.encode(s);
  if (ids.length !== 1) throw new Error(`${JSON.stringify(s)} is ${ids.length} tokens`);
  return ids[0];
};
const marks = ['.', '!', '?'].map((m) => ({ text: m, ids: [single(m), single(' ' + m)], insert: rt.tokenizer.encode(spaced ? ' ' + m : m) }));
const { judge, teach } = judgeAndStudent(p);

for (const f of genFiles) {
  const gen = JSON.parse(readFileSync(f, 'utf8'));
  const kept = productKept(gen, K, KEEP);
  const ids = new Array(kept.length);
  const endings = new Array(kept.length);
  for (let c = 0; c < K; c++) {
    const mine = kept.map((e, i) => [e, i]).filter(([e]) => e.labelIndex === c);
    const context = rt.tokenizer.encode(core.labelContextText(task, c, 4));
    // A generation made with commas on (the default since the thirtieth stop) has them in its ids already.
    const withC = gen.method.commas ? mine.map(([e]) => e.ids) : core.withCommas(rt.model, context, mine.map(([e]) => e.ids), style, 8);
    // At the end of each text: each mark's log-probability (both forms) and the best single token's.
    const scores = afterEachPrefix(rt.model, context, withC, [...marks.map((m) => (lp) => tf.logSumExp(tf.gather(lp, m.ids, 2), 2)), (lp) => tf.max(lp, 2)], 8);
    mine.forEach(([, i], j) => {
      ids[i] = withC[j];
      const n = withC[j].length;
      const markLp = marks.map((_, m) => scores[j][m][n]);
      const best = scores[j][marks.length][n];
      const top = markLp.indexOf(Math.max(...markLp));
      const all = Math.log(markLp.reduce((a, v) => a + Math.exp(v), 0));
      endings[i] = { top, gated: all >= best };
    });
  }
  const base = kept.map((e, i) => ({ text: rt.tokenizer.decode(ids[i]), label: e.labelIndex, line: i + 1, source: 'gradmm' }));
  if (madeWithEndMarks(gen)) {
    // A generation made with end marks on (the default since the thirty-second stop): its kept
    // texts as written, and with the mark the product appended taken off again (the projection
    // writes no marks, so a final mark is the product's).
    const style = core.endMarkStyle(rt.tokenizer, task);
    const stripped = kept.map((e, i) => ({ ...base[i], text: rt.tokenizer.decode(withoutEndMark(ids[i], style).ids) }));
    for (const [name, set] of [['as written', base], ['marks taken off', stripped]]) {
      console.log(JSON.stringify({ generation: f, texts: name, ended: endedShare(set), on_label: pct(ev.accuracy(judge, set)), example: set[3].text, accuracy: teach(set) }));
    }
    continue;
  }
  const withMark = (r, m) => (core.endsSentence(r.text) ? r : { ...r, text: r.text + (spaced ? ' ' : '') + marks[m].text });
  const variants = [
    ['commas', base],
    ['+period', base.map((r) => withMark(r, 0))],
    ['+lm-mark', base.map((r, i) => withMark(r, endings[i].top))],
    ['+lm-gated', base.map((r, i) => (endings[i].gated ? withMark(r, endings[i].top) : r))],
  ];
  for (const [name, set] of variants) {
    const byMark = Object.fromEntries(marks.map((m) => [m.text, set.filter((r) => r.text.trimEnd().endsWith(m.text)).length]));
    console.log(JSON.stringify({ generation: f, texts: name, ended: endedShare(set), by_mark: byMark, on_label: pct(ev.accuracy(judge, set)), example: set[3].text, accuracy: teach(set) }));
  }
}
