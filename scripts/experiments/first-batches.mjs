// A saved generation of the quality protocol (`bench quality --synthetic-out`) cut to the first N
// batches of each class: exactly what the same command with a smaller `--overgenerate` would have
// generated, since every batch draws from its own stream (seed, class, batch) and, without
// `lengthSpread`, its length does not depend on the batch count. So one long generation measures
// selection at several overgeneration levels (the target-selection probe on each cut).
//
//   node scripts/experiments/first-batches.mjs IN.json OUT.json N
import { readFileSync, writeFileSync } from 'node:fs';

const [inFile, outFile, nArg] = process.argv.slice(2);
const n = Number(nArg);
if (!inFile || !outFile || !Number.isInteger(n) || n < 1) {
  console.error('usage: first-batches.mjs IN.json OUT.json N   (N: batches a class to keep, >= 1)');
  process.exit(2);
}
const gen = JSON.parse(readFileSync(inFile, 'utf8'));
if (gen.method?.lengthSpread > 0) throw new Error(`${inFile} spreads text lengths over its batches: a shorter run would not repeat its first batches`);
const examples = gen.examples.filter((e) => e.batch < n);
const perClass = new Map();
for (const e of examples) perClass.set(e.labelIndex, (perClass.get(e.labelIndex) ?? 0) + 1);
writeFileSync(outFile, `${JSON.stringify({ ...gen, examples, first_batches: n })}\n`);
console.log(`${outFile}: ${examples.length} of ${gen.examples.length} texts (${[...perClass].map(([c, k]) => `class ${c}: ${k}`).join(', ')})`);
