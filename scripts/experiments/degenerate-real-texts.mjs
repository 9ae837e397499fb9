// How often real text is called degenerate (core.degeneracy: one token over 40% of a text's
// tokens, or a run of over 24 Latin letters): its false-positive rate on real data sets, the
// texts read through the model's own tokenizer. Thirty-eighth stop: 1 of the 4,158 training
// texts of rtpolarity, imdb, bbc5, tweet3 and genre4 (a genre4 tweet's hashtag
// "#wishIwasoutdrinkingandchainsmoking") and 1 of rtpolarity's 1,000 validation texts
// (". . . a pretentious mess . . .").
//
//   node scripts/experiments/degenerate-real-texts.mjs DATA.jsonl [DATA.jsonl ...]
//
// Reads ../shared data in this workspace's runs; prints one line per file: its path, its texts,
// the degenerate ones and up to five of them with the reason.
import * as core from '@synthgrad/core';
import { readFileSync } from 'node:fs';

await core.initBackend();
const rt = await core.loadModel(core.resolveModelPath());
try {
  for (const f of process.argv.slice(2)) {
    const rows = readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const bad = rows.map((r) => [core.degeneracy(r.text, rt.tokenizer.encode(r.text)), r.text]).filter(([why]) => why !== null);
    console.log(JSON.stringify({ file: f, texts: rows.length, degenerate: bad.length, examples: bad.slice(0, 5).map(([why, t]) => [why, t.slice(0, 100)]) }));
  }
} finally {
  rt.dispose();
}
