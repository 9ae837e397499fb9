// A saved generation of the quality protocol (`bench quality --synthetic-out`) made before the
// twenty-eighth stop's threshold refit, rewritten as the current default would have saved it:
// the target classifier's biases refitted on its texts (core.refitThreshold; older two-label
// generations carry only margins, read as logits [0, D] like the probes do) and the method's
// targetThreshold / targetFilterMargin set to what the product uses now (MARGIN=M, default the
// product's default). The texts are unchanged: the refit and the margin are selection, which is
// post-processing. `bench quality --synthetic-in OUT.json` then reads what today's selection keeps.
//
//   [MARGIN=1] node scripts/experiments/refit-saved-generation.mjs IN.json OUT.json
import * as core from '@synthgrad/core';
import { readFileSync, writeFileSync } from 'node:fs';
import { targetLogitsOf } from './protocol.mjs';

const [inFile, outFile] = process.argv.slice(2);
if (!inFile || !outFile) {
  console.error('usage: refit-saved-generation.mjs IN.json OUT.json');
  process.exit(2);
}
const gen = JSON.parse(readFileSync(inFile, 'utf8'));
const K = Math.max(...gen.examples.map((e) => e.labelIndex)) + 1;
const built = gen.examples.map((e) => {
  const z = targetLogitsOf(e, K, inFile);
  return { ...e, target_logits: z, ...core.targetVerdict(z, e.labelIndex) };
});
const { examples, shift, changed } = core.refitThreshold(built, K);
const margin = core.targetFilterMarginOf(Number(process.env.MARGIN ?? core.DEFAULT_METHOD.targetFilterMargin), 'MARGIN');
const method = { ...gen.method, targetThreshold: 'generated', targetFilterMargin: margin };
writeFileSync(outFile, `${JSON.stringify({ ...gen, method, examples })}\n`);
console.log(`${outFile}: biases shifted by ${shift.map((s) => s.toFixed(3)).join(', ')}; ${changed} of ${examples.length} texts change class; margin ${margin}`);
