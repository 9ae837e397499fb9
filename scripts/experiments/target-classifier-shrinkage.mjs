// How well does the target classifier (released targets of 50 texts + public LM-text statistics)
// classify held-out real text: the 'head' discriminant (the LM's verbaliser rows, threshold
// calibrated by the targets' class means) against the uncalibrated zero-shot head and 'lda' by
// covariance shrinkage? Targets come from 25 texts a class of a
// task's train.jsonl; accuracy is measured on the REST of train.jsonl (never on validation), so
// choosing the shrinkage here does not peek at any test set.
//
//   node scripts/experiments/target-classifier-shrinkage.mjs ../shared/data/rtpolarity/train.jsonl [seeds]
//
// Reads ../shared (this workspace's benchmark data, not shipped); prints one JSON object.
import * as core from '@synthgrad/core';
import * as tf from '@tensorflow/tfjs-core';

const [file, seedsArg] = process.argv.slice(2);
if (!file) { console.error('usage: target-classifier-shrinkage.mjs TRAIN.jsonl [seeds]'); process.exit(2); }
await core.initBackend();
const rt = await core.loadModel(core.resolveModelPath());
const task = core.SENTIMENT_TASK;
const toks = core.taskTokens(task, rt.tokenizer);
const all = core.readExamples(file, task);
const hidden = (texts) => {
  const out = [];
  for (let i = 0; i < texts.length; i += 32) {
    const { ids, mask } = core.leftPad(texts.slice(i, i + 32).map((t) => toks.promptIds(t)), 0);
    const h = tf.tidy(() => core.lastPosition(rt.model.forward({ ids, attentionMask: mask, logits: 'none' }).hidden));
    out.push(h.dataSync().slice());
    h.dispose();
  }
  const d = rt.config.dModel;
  const flat = new Float32Array(texts.length * d);
  let o = 0;
  for (const part of out) { flat.set(part, o); o += part.length; }
  return flat;
};
const seeds = Number(seedsArg ?? 3);
const shrinkages = [0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.95];
const results = Object.fromEntries([...shrinkages.map((a) => [`lda_${a}`, []]), ['head', []], ['zero_shot', []]]);
const headRows = tf.tidy(() => tf.transpose(rt.model.headColumns(toks.labelTokens)).arraySync()).map((r) => Float32Array.from(r));
const allowed = new Set(core.allowedTokenIds(rt.tokenizer));
for (let seed = 0; seed < seeds; seed++) {
  const classes = core.sampleClasses(all, task, 25, seed, file);
  const used = new Set(classes.flat().map((e) => `${e.source}:${e.line}`));
  const heldOut = core.Rng.derive(seed, "held-out").shuffle(all.filter((e) => !used.has(`${e.source}:${e.line}`))).slice(0, 400);
  const targets = classes.map((real, c) => core.computeClassTarget(rt.model, real, c, toks.labelTokens[c], toks.promptIds, { seed }));
  const textLength = Math.round(classes.flat().reduce((a, e) => a + rt.tokenizer.encode(e.text).length, 0) / classes.flat().length);
  const stats = core.publicHiddenStats(rt.model, { context: toks.contextPrefix, suffix: toks.syntheticSuffix, allowed, length: textLength, count: 256, seed });
  const H = hidden(heldOut.map((e) => e.text));
  const score = (clf) => core.classifyStates(clf, H, heldOut.length).filter((row, i) => (row[1] > row[0] ? 1 : 0) === heldOut[i].label).length / heldOut.length;
  for (const a of shrinkages) results[`lda_${a}`].push(score(core.buildTargetClassifier(targets, toks.labelTokens, stats, { discriminant: 'lda', shrinkage: a })));
  const head = core.buildTargetClassifier(targets, toks.labelTokens, stats, { headRows });
  results.head.push(score(head));
  results.zero_shot.push(score({ ...head, bias: new Float32Array(head.classes) }));
  process.stderr.write(`seed ${seed}: ${JSON.stringify(Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v[seed]])))}\n`);
}
const mean = (xs) => xs.reduce((p, q) => p + q, 0) / xs.length;
console.log(JSON.stringify({ file, seeds, heldOut: "up to 400 (balanced by shuffling)", accuracy: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, Number(mean(v).toFixed(4))])) }, null, 2));
