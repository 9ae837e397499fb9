// A saved generation of the quality protocol (`bench quality --synthetic-out`) with the lone-space
// tokens that generation now drops (core.withoutStraySpaces: a " " before a whitespace-led token or
// at the end, which reads as a double space) dropped from its ids and texts. For generations of a
// task with `symbols` saved before the drop existed. Matching loss, perplexity and the target
// margins stay those of the saved ids (the drop is a post-processing of each batch, as the
// sentence-end cut is).
//
//   node scripts/experiments/tidy-saved-generation.mjs IN.json OUT.json
import * as core from '@synthgrad/core';
import { readFileSync, writeFileSync } from 'node:fs';

const [inFile, outFile] = process.argv.slice(2);
if (!inFile || !outFile) {
  console.error('usage: tidy-saved-generation.mjs IN.json OUT.json');
  process.exit(2);
}
const gen = JSON.parse(readFileSync(inFile, 'utf8'));
const tokenizer = core.Tokenizer.fromGGUF(await core.GGUFFile.open(core.resolveModelPath()));
const text = (id) => tokenizer.tokenText(id);
let changed = 0;
const examples = gen.examples.map((e) => {
  const ids = core.withoutStraySpaces(e.ids, text);
  if (ids.length === e.ids.length) return e;
  changed++;
  return { ...e, ids, optimised_length: e.optimised_length ?? e.ids.length, text: tokenizer.decode(ids) };
});
writeFileSync(outFile, `${JSON.stringify({ ...gen, examples })}\n`);
console.log(`${outFile}: ${changed} of ${examples.length} texts lost a stray space`);
