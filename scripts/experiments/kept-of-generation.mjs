// The texts the quality protocol keeps from a saved generation (`bench quality --synthetic-out`),
// written as a generation of only those texts with the target filter off: `bench quality
// --synthetic-in OUT.json` then trains on exactly the kept set and skips the unfiltered row, which
// halves a LoRA run. Selection is the protocol's own (`bestMatching` with the generation's filter).
//
//   node scripts/experiments/kept-of-generation.mjs IN.json OUT.json [KEEP_PER_CLASS, default 50]
import * as core from '@synthgrad/core';
import { readFileSync, writeFileSync } from 'node:fs';

const [inFile, outFile, keepArg = '50'] = process.argv.slice(2);
const keep = Number(keepArg);
if (!inFile || !outFile || !Number.isInteger(keep) || keep < 1) {
  console.error('usage: kept-of-generation.mjs IN.json OUT.json [KEEP_PER_CLASS >= 1, default 50]');
  process.exit(2);
}
const gen = JSON.parse(readFileSync(inFile, 'utf8'));
const sel = core.select(gen.examples, gen.classes.length, core.bestMatching(keep, core.targetFilterOf(gen.method.targetFilter)));
writeFileSync(outFile, `${JSON.stringify({ ...gen, method: { ...gen.method, targetFilter: 'off' }, examples: sel.kept })}\n`);
console.log(`${outFile}: ${JSON.stringify(sel.report)}`);
