// Does the matching loss tell the classes apart? For targets of 25 + 25 texts of a task's
// train.jsonl, score held-out real texts of the same file (never validation) against every
// class target, with the raw gradients (the reference) and with the classes' shared direction
// projected out (centred matching). Reported: how often a held-out text, or a batch of 10 of one
// class, is closer to its own class's target than to the other's, and the mean loss gap.
//
//   node scripts/experiments/centred-matching-probe.mjs ../shared/data/rtpolarity/train.jsonl [seeds]
//
// Reads ../shared (this workspace's benchmark data, not shipped); prints one JSON object.
import * as core from '@synthgrad/core';
import * as tf from '@tensorflow/tfjs-core';

const [file, seedsArg] = process.argv.slice(2);
if (!file) { console.error('usage: centred-matching-probe.mjs TRAIN.jsonl [seeds]'); process.exit(2); }
await core.initBackend();
const rt = await core.loadModel(core.resolveModelPath());
const task = core.SENTIMENT_TASK;
const toks = core.taskTokens(task, rt.tokenizer);
const all = core.readExamples(file, task);
const K = task.labels.length;
const lastStates = (texts) => {
  const parts = [];
  for (let i = 0; i < texts.length; i += 32) {
    const { ids, mask } = core.leftPad(texts.slice(i, i + 32).map((t) => toks.promptIds(t)), 0);
    parts.push(tf.tidy(() => core.lastPosition(rt.model.forward({ ids, attentionMask: mask, logits: 'none' }).hidden)));
  }
  const h = tf.concat(parts, 0);
  parts.forEach((p) => p.dispose());
  return h;
};
const seeds = Number(seedsArg ?? 3);
const out = { raw: { text: [], batch: [], gap: [] }, centred: { text: [], batch: [], gap: [] } };
for (let seed = 0; seed < seeds; seed++) {
  const classes = core.sampleClasses(all, task, 25, seed, file);
  const used = new Set(classes.flat().map((e) => `${e.source}:${e.line}`));
  const heldOut = core.Rng.derive(seed, 'held-out').shuffle(all.filter((e) => !used.has(`${e.source}:${e.line}`))).slice(0, 300);
  const targets = classes.map((real, c) => core.computeClassTarget(rt.model, real, c, toks.labelTokens[c], toks.promptIds, { seed }));
  const shared = core.sharedDirection(targets, toks.labelTokens);
  for (const [space, u] of [['raw', undefined], ['centred', shared]]) {
    let textHits = 0, textN = 0, batchHits = 0, batchN = 0, gap = 0;
    for (let c = 0; c < K; c++) {
      const mine = heldOut.filter((e) => e.label === c);
      const h = lastStates(mine.map((e) => e.text));
      // Loss of class-c texts under class k's target uses label token k (the text is scored as k).
      const per = [], batch = [];
      for (let k = 0; k < K; k++) {
        const loss = new core.MatchingLoss(rt.model, targets[k], toks.labelTokens[k], 'cosine', undefined, u);
        per.push(loss.perExample(h).arraySync());
        const b = [];
        for (let i = 0; i + 10 <= mine.length; i += 10) b.push(tf.tidy(() => loss.loss(tf.slice(h, [i, 0], [10, -1])).dataSync()[0]));
        batch.push(b);
        loss.dispose();
      }
      h.dispose();
      for (let i = 0; i < mine.length; i++) {
        textN++;
        if (per.every((p, k) => k === c || per[c][i] < p[i])) textHits++;
        gap += per.filter((_, k) => k !== c).reduce((a, p) => a + p[i] - per[c][i], 0) / (K - 1);
      }
      for (let i = 0; i < batch[c].length; i++) {
        batchN++;
        if (batch.every((b, k) => k === c || batch[c][i] < b[i])) batchHits++;
      }
    }
    out[space].text.push(textHits / textN);
    out[space].batch.push(batchHits / batchN);
    out[space].gap.push(gap / textN);
  }
  process.stderr.write(`seed ${seed}: ${JSON.stringify(out)}\n`);
}
const mean = (xs) => Number((xs.reduce((p, q) => p + q, 0) / xs.length).toPrecision(4));
console.log(JSON.stringify({ file, seeds, heldOut: 300, closer_to_own_target: Object.fromEntries(Object.entries(out).map(([k, v]) => [k, { text: mean(v.text), batch_of_10: mean(v.batch), mean_loss_gap: mean(v.gap) }])) }, null, 2));
