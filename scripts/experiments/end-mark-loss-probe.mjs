// Can the targets say whether a class's texts should end with a mark? On bbc5 (real articles cut
// at 256 characters, 4% ending with a mark) the end-mark rule ended 47-82% of a class's kept
// texts, by class, and the student learnt the marks: 77.9% as written against 83.5% with the marks
// taken off (ten training seeds). On genre4 and tweet3 the marks taught more. The released
// target is a sum over the class's real texts of their final states (label rows), so it carries
// how those texts end: a text whose final state with the mark lies nearer the target than without
// it ends like the real ones.
//
// For a GEN.json made with end marks, the product's kept texts: as written; with the marks taken
// off; the mark kept per text where it lowers the text's matching loss; per class, the marks kept
// where they lower the class's summed loss of its marked texts; the same per batch of the generation
// (over the batch's kept texts). Targets rebuilt from the
// protocol's real texts (REAL a class; label-rows, no noise, as `bench quality` builds them).
//
//   [TASK=T.json KEEP=n REAL=r] node scripts/experiments/end-mark-loss-probe.mjs TRAIN.jsonl TEST.jsonl GEN.json [GEN.json ...]
import * as core from '@synthgrad/core';
import * as ev from '@synthgrad/eval';
import { readFileSync } from 'node:fs';
import { endedShare, judgeAndStudent, madeWithEndMarks, openProtocol, pct, productKept, withoutEndMark } from './protocol.mjs';

const p = await openProtocol('end-mark-loss-probe.mjs', process.argv.slice(2));
const { rt, task, all, genFiles } = p;
const K = task.labels.length;
const KEEP = Number(process.env.KEEP ?? Math.floor(100 / K));
const REAL = Number(process.env.REAL ?? Math.floor(50 / K));
const toks = core.taskTokens(task, rt.tokenizer);
const { judge, teach } = judgeAndStudent(p);
const rows = core.releaseRows('label-rows', toks.labelTokens);
const real = core.sampleClasses(all, task, REAL, 0, 'task data');
const losses = real.map((r, c) => new core.MatchingLoss(rt.model, core.computeClassTarget(rt.model, r, c, toks.labelTokens[c], toks.promptIds, { rows }), toks.labelTokens[c], 'cosine'));
const lossesOf = (c, texts) => (texts.length === 0 ? [] : core.matchingLossOfPrompts(rt.model, losses[c], texts.map((t) => toks.promptIds(t))));
const style = core.endMarkStyle(rt.tokenizer, task);

for (const f of genFiles) {
  const gen = JSON.parse(readFileSync(f, 'utf8'));
  if (!madeWithEndMarks(gen)) throw new Error(`${f}: made without end marks`);
  const kept = productKept(gen, K, KEEP);
  const items = kept.map((e, i) => {
    const { ids, marked } = withoutEndMark(e.ids, style);
    return { row: { text: e.text, label: e.labelIndex, line: i + 1, source: 'gradmm' }, bare: rt.tokenizer.decode(ids), marked };
  });
  // Each class's marked texts with and without their marks, in one call a class.
  for (let c = 0; c < K; c++) {
    const mine = items.filter((x) => x.marked && x.row.label === c);
    const withLoss = lossesOf(c, mine.map((x) => x.row.text));
    const bareLoss = lossesOf(c, mine.map((x) => x.bare));
    mine.forEach((x, j) => Object.assign(x, { withLoss: withLoss[j], bareLoss: bareLoss[j] }));
  }
  const perClass = Array.from({ length: K }, (_, c) => {
    const mine = items.filter((x) => x.marked && x.row.label === c);
    const gain = mine.reduce((a, x) => a + (x.bareLoss - x.withLoss), 0);
    return { class: task.labels[c].name, marked: mine.length, of: items.filter((x) => x.row.label === c).length, mark_lowers_loss: mine.filter((x) => x.withLoss < x.bareLoss).length, summed_gain: +gain.toFixed(4) };
  });
  console.log(JSON.stringify({ generation: f, per_class: perClass }));
  const keepClass = perClass.map((c) => c.summed_gain > 0);
  // Per batch of the generation (what the class loop could decide as it writes each batch), over the kept texts of the batch.
  const batchGain = new Map();
  for (const [i, x] of items.entries()) if (x.marked) batchGain.set(`${x.row.label}/${kept[i].batch}`, (batchGain.get(`${x.row.label}/${kept[i].batch}`) ?? 0) + x.bareLoss - x.withLoss);
  const keepBatch = (i) => (batchGain.get(`${items[i].row.label}/${kept[i].batch}`) ?? 0) > 0;
  const variants = [
    ['as written', items.map((x) => x.row)],
    ['marks taken off', items.map((x) => ({ ...x.row, text: x.bare }))],
    ['mark where it lowers the loss', items.map((x) => (x.marked && x.withLoss >= x.bareLoss ? { ...x.row, text: x.bare } : x.row))],
    ['marks by class summed loss', items.map((x) => (x.marked && !keepClass[x.row.label] ? { ...x.row, text: x.bare } : x.row))],
    ['marks by batch summed loss', items.map((x, i) => (x.marked && !keepBatch(i) ? { ...x.row, text: x.bare } : x.row))],
  ];
  for (const [name, set] of variants) {
    console.log(JSON.stringify({ generation: f, texts: name, ended: endedShare(set), on_label: pct(ev.accuracy(judge, set)), accuracy: teach(set) }));
  }
}
