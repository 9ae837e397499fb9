// A saved generation of the quality protocol (`bench quality --synthetic-out`) as the current
// default would have kept it: each text cut where the LM most expects the sentence end in its
// second half (`sentenceEndCut: 0.5`, the same function generation calls after each batch) and
// the target filter off. Each text's perplexity stays that of the uncut text (no row reads it).
// Used to evaluate generations saved before the cut was the default in modes the probes do not
// cover (`bench quality --mode lora --synthetic-in OUT.json`).
//
//   node scripts/experiments/cut-saved-generation.mjs IN.json OUT.json
import * as core from '@synthgrad/core';
import { readFileSync, writeFileSync } from 'node:fs';

const [inFile, outFile] = process.argv.slice(2);
if (!inFile || !outFile) {
  console.error('usage: cut-saved-generation.mjs IN.json OUT.json');
  process.exit(2);
}
const gen = JSON.parse(readFileSync(inFile, 'utf8'));
if (gen.method?.sentenceEndCut > 0) throw new Error(`${inFile} was already cut (sentenceEndCut ${gen.method.sentenceEndCut})`);
await core.initBackend();
const rt = await core.loadModel(core.resolveModelPath());
try {
  const toks = core.taskTokens(core.SENTIMENT_TASK, rt.tokenizer);
  const lengths = core.sentenceEndLengths(rt.model, toks.contextPrefix, gen.examples.map((e) => e.ids), toks.sentenceEndToken, 0.5);
  const examples = gen.examples.map((e, i) => {
    const ids = e.ids.slice(0, lengths[i]);
    return { ...e, ids, ...(ids.length < e.ids.length ? { optimised_length: e.ids.length } : {}), text: rt.tokenizer.decode(ids) };
  });
  writeFileSync(outFile, `${JSON.stringify({ ...gen, method: { ...gen.method, targetFilter: 'off', sentenceEndCut: 0.5 }, examples })}\n`);
  console.log(`${outFile}: ${examples.length} texts, mean length ${(lengths.reduce((a, b) => a + b, 0) / lengths.length).toFixed(1)} tokens (was ${(gen.examples.reduce((a, e) => a + e.ids.length, 0) / gen.examples.length).toFixed(1)})`);
} finally {
  rt.dispose();
}
