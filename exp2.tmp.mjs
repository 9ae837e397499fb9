import * as core from './packages/core/dist/index.js';
await core.initBackend({});
const rt = await core.loadModel(process.env.HOME + '/.cache/synthgrad/models/SmolLM2-135M-Instruct.Q4_1.gguf');
const task = core.SENTIMENT_TASK;
const ex = core.readExamples('../shared/data/rtpolarity/validation.jsonl', task);
const classes = core.sampleClasses(ex, task, 25, 0, 'x');
const toks = core.taskTokens(task, rt.tokenizer);
const all = core.byClass(ex, task, 'x');
for (const c of [0, 1]) {
  const target = core.computeClassTarget(rt.model, rt.tokenizer, classes[c], c, toks.labelTokens[c], toks.suffix, { seed: 0 });
  const loss = new core.MatchingLoss(rt.model, target, toks.labelTokens[c]);
  const sample = core.Rng.derive(0, 'real-comparison', c).shuffle(all[c]).slice(0, 20);
  const mean = (xs) => xs.reduce((a, b) => a + b) / xs.length;
  const variants = {
    asis: sample.map((e) => rt.tokenizer.encode(e.text)),
    nopunct: sample.map((e) => rt.tokenizer.encode(e.text.replace(/\s*[.!?]\s*$/, ''))),
    nopunctall: sample.map((e) => rt.tokenizer.encode(e.text.replace(/ [^a-z' -]+/g, ''))),
    other: all[1 - c].slice(0, 20).map((e) => rt.tokenizer.encode(e.text)),
  };
  for (const [k, ids] of Object.entries(variants)) {
    const l = [...core.matchingLossOfIds(rt.model, loss, ids.slice(0, 10), toks.suffix), ...core.matchingLossOfIds(rt.model, loss, ids.slice(10), toks.suffix)];
    console.log('class', c, k, mean(l).toFixed(4));
  }
  loss.dispose();
}
