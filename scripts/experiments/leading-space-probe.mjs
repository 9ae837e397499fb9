// Does the leading space of synthetic text change what it teaches? The LM writes each text as the
// continuation of its context ("A negative movie review:" then " the plot ..."), so every decoded
// synthetic text starts with a space, and the student's prompt then opens with a space-led token
// (" the") where a real text opens with a bare one ("the"). In a causal LM with no BOS the first
// token is where attention settles, so the whole prompt may read differently.
//
// For each GEN.json, the product's kept texts (its method's filter and margin) as written and
// with the leading whitespace taken off, scored by the protocol's student; also the share of
// real and kept texts that start with whitespace.
//
//   [TASK=T.json KEEP=n] node scripts/experiments/leading-space-probe.mjs TRAIN.jsonl TEST.jsonl GEN.json [GEN.json ...]
import * as core from '@synthgrad/core';
import * as ev from '@synthgrad/eval';
import { readFileSync } from 'node:fs';
import { judgeAndStudent, openProtocol, pct, productKept } from './protocol.mjs';

const p = await openProtocol('leading-space-probe.mjs', process.argv.slice(2));
const { task, all, genFiles } = p;
const K = task.labels.length;
const KEEP = Number(process.env.KEEP ?? Math.floor(100 / K));
const { judge, teach } = judgeAndStudent(p);
const spaced = (rows) => pct(rows.filter((r) => /^\s/.test(r.text)).length / rows.length);
console.log(JSON.stringify({ real_starting_with_space: spaced(all) }));
for (const f of genFiles) {
  const gen = JSON.parse(readFileSync(f, 'utf8'));
  const kept = productKept(gen, K, KEEP);
  const rows = kept.map((e, i) => ({ text: e.text, label: e.labelIndex, line: i + 1, source: 'gradmm' }));
  for (const [name, set] of [['as written', rows], ['leading space off', rows.map((r) => ({ ...r, text: r.text.trimStart() }))]]) {
    console.log(JSON.stringify({ generation: f, texts: name, starting_with_space: spaced(set), on_label: pct(ev.accuracy(judge, set)), example: set[3].text, accuracy: teach(set) }));
  }
}
