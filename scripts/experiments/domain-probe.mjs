// Can the released targets name a task's domain? For a task file that gives only its labels, the
// LM writes off-domain text (mathematics, code) under the default label context. For each generic
// genre G, draw PER texts a class under "A {label} G:" (the cpu-select start: top 40 of the allowed
// tokens, cut at the LM's likeliest sentence end) and score them against the class targets of the
// bench's 25 + 25 real texts (label rows, no noise): the genre whose texts match best.
//   [PER=20] [GENRES='a|b'] node scripts/experiments/domain-probe.mjs TRAIN.jsonl TEST.jsonl
import * as core from '@synthgrad/core';
import { openProtocol } from './protocol.mjs';

const { rt, all } = await openProtocol('domain-probe.mjs', process.argv.slice(2), { generations: false });
const PER = Number(process.env.PER ?? 20);
const LENGTH = Number(process.env.LENGTH ?? 24);
const GENRES = (process.env.GENRES ?? 'text|review|movie review|product review|restaurant review|book review|tweet|news article|headline|comment|email|question|message|forum post|story|opinion').split('|');
const task = core.validateTask({ labels: core.SENTIMENT_TASK.labels.map(({ value, name, verbalizer }) => ({ value, name, verbalizer })), suffix: ' It was' }, 'probe');
const toks = core.taskTokens(task, rt.tokenizer);
const real = core.sampleClasses(all, task, 25, 0, 'task data');
const rows = core.releaseRows(undefined, toks.labelTokens);
const losses = task.labels.map((_, c) => new core.MatchingLoss(rt.model, core.computeClassTarget(rt.model, real[c], c, toks.labelTokens[c], toks.promptIds, { rows }), toks.labelTokens[c]));
const allowed = new Set(core.allowedTokenIds(rt.tokenizer));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const out = [];
for (const genre of [...GENRES, 'DEFAULT']) {
  const per = task.labels.map((l, c) => {
    const ctx = rt.tokenizer.encode(genre === 'DEFAULT' ? core.labelContextText(task, c, 0) : `A ${l.name} ${genre}:`);
    const rng = core.Rng.derive(0, `domain-${genre}-${c}`);
    const texts = [];
    for (let b = 0; b < PER; b += 10) {
      const ids = core.sampleAllowed(rt.model, allowed, ctx, Math.min(10, PER - b), LENGTH, rng);
      const cut = core.sentenceEndLengths(rt.model, toks.contextPrefix, ids, toks.sentenceEndToken, 0.5);
      ids.forEach((s, i) => texts.push(rt.tokenizer.decode(s.slice(0, cut[i])).trim()));
    }
    const own = core.matchingLossOfPrompts(rt.model, losses[c], texts.map(toks.promptIds));
    return { median: median(own), example: texts[0] };
  });
  const row = { genre, loss: +per.reduce((a, p) => a + p.median, 0).toFixed(4), per_class: per.map((p) => +p.median.toFixed(4)), examples: per.map((p) => p.example) };
  out.push(row);
  console.error(JSON.stringify(row));
}
console.log(JSON.stringify(out.sort((a, b) => a.loss - b.loss).map((r) => [r.genre, r.loss])));
