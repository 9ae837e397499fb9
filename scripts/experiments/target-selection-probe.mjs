// Which texts of a generation should selection keep, using only what was released (issue 10,
// deliverable 3)? Selection rules over saved generations of the quality protocol that carry the
// target classifier's margins (`bench quality --method '{"targetFilter":true,"discriminant":"head"}'
// --synthetic-out GEN.json`), each scored with the protocol's own student (head mode, 150 AdamW
// steps, dev carved from the set), test split (500 texts, seed 0) and judge (a head on all
// of TRAIN, the protocol's):
//
//   best-matching   the default: per class the best `keep` texts by matching loss;
//   strict-filter   drop every text the target classifier puts in another class, then as above
//                   (and balance, as the protocol does);
//   surplus-filter  drop such texts only while more than `keep` of the class remain, the most
//                   confidently misplaced first, then as above: the overgenerated surplus is spent
//                   on the filter and the kept count never falls;
//   margin-top      per class the `keep` texts with the highest target margin;
//   margin-mid      drop the surplus from the top of the margin ranking (the caricatures);
//   best-matching-cut  best-matching on the texts cut where the LM most expects the sentence end
//                   in their second half (--sentence-end-cut 0.5, applied here to the saved ids:
//                   the cut is post-processing of each batch, so this is what generation with it
//                   keeps; matching_loss stays that of the optimised sequence, as there);
//   surplus-filter-cut  both (the margins are those of the uncut texts, as in generation);
//   random-S        per class a random draw (seed S) of `keep` distinct texts: no target used;
//   onside-low-margin  per class the `keep` texts the target classifier puts in their class with
//                   the smallest margin (nearest its boundary);
//   onside-drop-top-Q  the texts it puts in their class, the Q% with the highest margin set aside
//                   (as long as `keep` remain), then the best by matching loss;
//   surplus-opening-M  the surplus filter's pool by matching loss, at most M texts a class that
//                   open with the same two words (then the rest, if short);
//   surplus-mmr-L   the same pool, greedy maximal marginal relevance: rank + L x the highest cosine
//                   of the student's pool-centred features to a text already kept;
//   surplus-herd-Q  the same pool's best Q (0: all), greedy herding: each pick brings the mean
//                   feature of the kept texts nearest the mean state of the class's 25 real texts;
//   surplus-concat-J  the same pool's best J x keep texts, J joined into each kept example (more
//                   of the pool's texts in the same count of examples);
//   surplus-ppl     the same pool, lowest LM perplexity first;
//   surplus-rank-ppl  the same pool, by the sum of its matching-loss and perplexity ranks;
//   surplus-ppl-high  the same pool, highest perplexity first;
//   surplus-ppl-drop-Q  the same pool less its Q% of lowest perplexity, then by matching loss;
//   built-surplus   the surplus filter under the target classifier's threshold as the targets
//                   place it (the texts' target_logits; method.targetThreshold 'targets');
//   refit-surplus   the same, the threshold refitted on the generation's texts ('generated');
//   refit-surplus-M the same, only texts placed elsewhere by a margin over M counted misplaced
//                   (method.targetFilterMargin M);
//   pool-cf-M       the surplus filter by the generation's own cross-fitted classifier (a head
//                   trained on the other FOLDS folds of the pool; margin M), then matching loss;
//   refit-1-pool-M  the product's filter (refitted, margin 1), then pool-cf-M's on what is left;
//   surplus-clean   surplus-filter on the texts left when the degenerate ones (core.degeneracy:
//                   one token looping, a mash of letters) are dropped.
//   no-repeat-first best-matching, but texts that repeat a token trigram (what the projection's
//                   --no-repeat-ngram 3 would have avoided) only after every other text.
//   RULE-written   RULE with each text ranked by the matching loss of the text as written out
//                   (cut, commas, end mark; read through the student's prompt) against targets
//                   rebuilt from the protocol's real texts (REAL a class, default 25; label-rows, no
//                   noise, as `bench quality` builds them), instead of the optimised sequence's.
// RULES=a,b limits the rules run; KEEP=N the texts kept a class (default 50, the protocol's).
// Any number of labels (the task's, TASK=file).
//
// The scores are the protocol's 3 training seeds and 10 seeds (0-9).
//
//   node scripts/experiments/target-selection-probe.mjs TRAIN.jsonl TEST.jsonl GEN.json [GEN.json ...]
//
// With several GEN.json files of the same targets, their pooled texts too (by the RULES without a
// cut, best-matching when RULES is unset; POOLED_ONLY=1: only the pooled ones).
// Reads ../shared data in this workspace's runs; prints one JSON line per generation and rule.
import * as core from '@synthgrad/core';
import * as ev from '@synthgrad/eval';
import { readFileSync } from 'node:fs';
import { judgeAndStudent, openProtocol, pct, targetLogitsOf } from './protocol.mjs';

const { rt, task, all, test, genFiles, cache } = await openProtocol('target-selection-probe.mjs', process.argv.slice(2));

const toks = core.taskTokens(task, rt.tokenizer);
const K = task.labels.length;
const KEEP = Number(process.env.KEEP ?? 50);
function withSentenceEndCut(gen) {
  const lengths = core.sentenceEndLengths(rt.model, toks.contextPrefix, gen.examples.map((e) => e.ids), toks.sentenceEndToken, 0.5);
  return { ...gen, examples: gen.examples.map((e, i) => ({ ...e, text: rt.tokenizer.decode(e.ids.slice(0, lengths[i])) })) };
}

// The protocol's 3 training seeds, and 10 (its seeds 0-2 among them).
const { judge, teach } = judgeAndStudent({ rt, task, all, test, cache });

// best-matching, strict-filter and surplus-filter are the product's own selection (core.select
// with the protocol's bestMatching options); margin-top and margin-mid are probe-only rules.
const PRODUCT_RULES = { 'best-matching': 'off', 'strict-filter': 'strict', 'surplus-filter': 'surplus' };
const byMargin = (a, b) => b.target_margin - a.target_margin;
// The student's features of `texts`, flat [N * d], and d.
function featureRows(texts) {
  const t = cache.features(texts);
  const f = t.dataSync().slice();
  t.dispose();
  return { f, d: f.length / texts.length };
}
const meanRow = (f, n, d) => {
  const m = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) m[k] += f[i * d + k] / n;
  return m;
};
// The mean student feature of the protocol's 25 real texts of class c (bench quality's draw), once.
const realClasses = core.sampleClasses(all, task, 25, 0, 'task data');
const realMeans = new Map();
function realMean(c) {
  if (!realMeans.has(c)) {
    const { f, d } = featureRows(realClasses[c].map((e) => e.text));
    realMeans.set(c, meanRow(f, realClasses[c].length, d));
  }
  return realMeans.get(c);
}
// The student's features of these texts, centred on their mean and scaled to unit norm.
function unitCentred(texts) {
  const { f, d } = featureRows(texts);
  const mu = meanRow(f, texts.length, d);
  for (let i = 0; i < texts.length; i++) {
    let n = 0;
    for (let k = 0; k < d; k++) n += (f[i * d + k] -= mu[k]) ** 2;
    n = Math.sqrt(n) || 1;
    for (let k = 0; k < d; k++) f[i * d + k] /= n;
  }
  return { f, d };
}
// Greedy selection of `count` of `items`: each step takes the unpicked index with the lowest
// cost(i, picked so far), then tells onPick.
function greedy(items, count, cost, onPick) {
  const used = new Array(items.length).fill(false);
  const picked = [];
  while (picked.length < Math.min(count, items.length)) {
    let best = -1;
    let bestCost = Infinity;
    for (let i = 0; i < items.length; i++) {
      if (used[i]) continue;
      const v = cost(i, picked.length);
      if (v < bestCost) (bestCost = v), (best = i);
    }
    used[best] = true;
    picked.push(items[best]);
    onPick(best);
  }
  return picked;
}
/** A generated text as the student's training row. */
const asRow = (e, i) => ({ text: e.text, label: e.labelIndex, line: i + 1, source: 'gradmm' });
// The margin (own-class logit minus the other's) of every text of `gen` under a student head
// trained on the product's surplus-filter selection, once per generation.
const selfMarginCache = new WeakMap();
function selfMargins(gen, keep) {
  if (!selfMarginCache.has(gen)) {
    const seed = core.select(gen.examples, K, core.bestMatching(keep, 'surplus')).kept.map(asRow);
    const { train, dev } = ev.carveDev(seed, 0.2, 0);
    const { steps, batchSize, lr, weightDecay } = ev.MODE_DEFAULTS.head;
    const clf = ev.headClassifier(rt, task, cache);
    try {
      ev.fineTune(clf, train, dev, dev, K, { steps, batchSize, lr, weightDecay, seed: 0 });
      const rows = gen.examples.map(asRow);
      const m = new Map();
      for (let i = 0; i < rows.length; i += 64) {
        const z = clf.logits(rows.slice(i, i + 64));
        const a = z.arraySync();
        z.dispose();
        // Own logit minus the highest other one.
        a.forEach((l, j) => {
          const c = gen.examples[i + j].labelIndex;
          m.set(gen.examples[i + j], l[c] - Math.max(...l.filter((_, o) => o !== c)));
        });
      }
      selfMarginCache.set(gen, m);
    } finally {
      clf.dispose();
    }
  }
  return selfMarginCache.get(gen);
}
// The pool's own classifier, cross-fitted: the generation's texts split into FOLDS folds (seeded,
// per class); for each fold the protocol's student (head mode, dev carved at seed 0) is trained on
// the other folds with the labels the texts were written for, and reads the held-out fold. Each
// text gets the out-of-fold verdict ({target_label, target_margin}, `from` its text) of a
// classifier whose weights moved away from the zero-shot rows every student starts from (what
// the targets' `head` classifier shares with it). Only synthetic output and public weights:
// post-processing. Once per generation.
const poolVerdictCache = new WeakMap();
function poolVerdicts(gen, folds = Number(process.env.FOLDS ?? 5)) {
  if (!poolVerdictCache.has(gen)) {
    const rng = new core.Rng(12345);
    const fold = new Map();
    for (let c = 0; c < K; c++) rng.shuffle(gen.examples.filter((e) => e.labelIndex === c)).forEach((e, i) => fold.set(e, i % folds));
    const out = new Map();
    const { steps, batchSize, lr, weightDecay } = ev.MODE_DEFAULTS.head;
    for (let f = 0; f < folds; f++) {
      const held = gen.examples.filter((e) => fold.get(e) === f);
      const { train, dev } = ev.carveDev(gen.examples.filter((e) => fold.get(e) !== f).map(asRow), 0.2, 0);
      const clf = ev.headClassifier(rt, task, cache);
      try {
        ev.fineTune(clf, train, dev, dev, K, { steps, batchSize, lr, weightDecay, seed: f });
        for (let i = 0; i < held.length; i += 64) {
          const part = held.slice(i, i + 64);
          const z = clf.logits(part.map(asRow));
          z.arraySync().forEach((l, j) => out.set(part[j], core.targetVerdict(l, part[j].labelIndex)));
          z.dispose();
        }
      } finally {
        clf.dispose();
      }
    }
    poolVerdictCache.set(gen, out);
  }
  return poolVerdictCache.get(gen);
}
// A generation's texts re-read under the classifier's threshold as built or refitted on
// them (core.refitThreshold), once per generation and choice; each keeps its text as `from`.
const thresholdCache = new WeakMap();
function thresholded(gen, refit) {
  if (!thresholdCache.has(gen)) thresholdCache.set(gen, new Map());
  const cache = thresholdCache.get(gen);
  if (!cache.has(refit)) {
    const built = gen.examples.map((e) => {
      const z = targetLogitsOf(e, K);
      return { ...e, target_logits: z, ...core.targetVerdict(z, e.labelIndex), from: e };
    });
    cache.set(refit, refit ? core.refitThreshold(built, K).examples : built);
  }
  return cache.get(refit);
}
// Probe-made texts (surplus-concat) and the generated text whose place in the order they take.
const origin = new WeakMap();
function rule(name, gen, keep) {
  let kept;
  // With the generation's own filter margin, as bench quality selects (before the thirty-fourth stop
  // this used margin 0, so its filtered rules kept other texts than the bench on generations made
  // with targetFilterMargin 1).
  if (name in PRODUCT_RULES) kept = core.select(gen.examples, K, core.bestMatching(keep, PRODUCT_RULES[name], gen.method.targetFilterMargin ?? 0, gen.method.dropDegenerate ?? false)).kept;
  // The product's selection with its degenerate-text drop (SelectionOptions.dropDegenerate).
  else if (name === 'surplus-clean') kept = core.select(gen.examples, K, core.bestMatching(keep, 'surplus', gen.method.targetFilterMargin ?? 0, true)).kept;
  else {
    const out = task.labels.map((_, c) => {
      const seen = new Set();
      const mine = gen.examples.filter((e) => e.labelIndex === c && !seen.has(e.text.trim()) && seen.add(e.text.trim()));
      const surplus = Math.max(0, mine.length - keep);
      if (name === 'margin-top') return [...mine].sort(byMargin).slice(0, keep);
      if (name === 'margin-mid') return [...mine].sort(byMargin).slice(surplus, surplus + keep);
      // No target at all: a seeded random draw of the class's distinct texts (what the pool
      // teaches without the released targets' ranking and filter).
      const draw = /^random-(\d+)$/.exec(name);
      if (draw) return new core.Rng(Number(draw[1]) * 2 + c + 1).shuffle([...mine]).slice(0, keep);
      // Probe-only margin bands after the misplaced are dropped (the 6x pool leaves room): the
      // texts nearest the targets' boundary on the right side, or the best-matching once the
      // most confident fraction q (caricatures) is set aside.
      const onside = mine.filter((e) => e.target_margin > 0);
      if (name === 'onside-low-margin') return [...onside].sort((a, b) => a.target_margin - b.target_margin).slice(0, keep);
      const band = /^onside-drop-top-(\d+)$/.exec(name);
      if (band) {
        const drop = Math.min(Math.floor((onside.length * Number(band[1])) / 100), Math.max(0, onside.length - keep));
        return [...onside].sort(byMargin).slice(drop).sort((a, b) => a.matching_loss - b.matching_loss).slice(0, keep);
      }
      // Probe-only rules over the product's surplus filter's pool, ranked by matching loss:
      // surplus-opening-M keeps at most M texts a class that open with the same two words;
      // surplus-herd-Q herds toward the class's real mean state (the 25 real texts behind its
      // target; the noise-free target carries it, target-classifier.ts) over the pool's best Q
      // (0: all): each pick brings the mean of the picked features nearest that mean;
      // surplus-mmr-L picks by rank + L x the highest cosine (pool-centred student features) to
      // a text already picked (maximal marginal relevance).
      if (name.startsWith('surplus-')) {
        const pool = core.dropSurplusMisplaced(mine, task.labels.length, keep).sort((a, b) => a.matching_loss - b.matching_loss);
        const opening = /^surplus-opening-(\d+)$/.exec(name);
        if (opening) {
          const count = new Map();
          const first = new Set(
            pool.filter((e) => {
              const k = e.text.trim().split(/\s+/).slice(0, 2).join(' ');
              count.set(k, (count.get(k) ?? 0) + 1);
              return count.get(k) <= Number(opening[1]);
            }),
          );
          return [...first, ...pool.filter((e) => !first.has(e))].slice(0, keep);
        }
        const herd = /^surplus-herd-(\d+)$/.exec(name);
        if (herd) {
          const short = Number(herd[1]) > 0 ? pool.slice(0, Number(herd[1])) : pool;
          const { f, d } = featureRows(short.map((e) => e.text));
          const m = realMean(c);
          const sum = new Float64Array(d);
          const cost = (i, n) => {
            let err = 0;
            for (let k = 0; k < d; k++) err += ((sum[k] + f[i * d + k]) / (n + 1) - m[k]) ** 2;
            return err;
          };
          return greedy(short, keep, cost, (best) => {
            for (let k = 0; k < d; k++) sum[k] += f[best * d + k];
          });
        }
        // surplus-concat-J: the pool's best J x keep texts, each kept example J of them joined
        // (example i holds ranks i, i + keep, ...): more of the pool's texts in the same count.
        const concat = /^surplus-concat-(\d+)$/.exec(name);
        if (concat) {
          const J = Number(concat[1]);
          const best = pool.slice(0, J * keep);
          const n = Math.floor(best.length / J);
          return Array.from({ length: n }, (_, i) => {
            const parts = Array.from({ length: J }, (_, j) => best[i + j * n]);
            const joined = { ...parts[0], text: parts.map((e) => e.text.trim()).join(' ') };
            origin.set(joined, parts[0]);
            return joined;
          });
        }
        // surplus-ppl: the pool by the text's perplexity under the LM (lowest first: the texts it
        // finds most natural); surplus-rank-ppl: by the sum of the two ranks, matching loss and
        // perplexity (the reference ranks by matching loss + alpha x perplexity, a sum of scales
        // that differ by three orders of magnitude here).
        if (name === 'surplus-ppl') return [...pool].sort((a, b) => a.perplexity - b.perplexity).slice(0, keep);
        // surplus-ppl-high: highest perplexity first; surplus-ppl-drop-Q: the Q% of the pool with the
        // lowest perplexity set aside (as long as `keep` remain), then by matching loss.
        if (name === 'surplus-ppl-high') return [...pool].sort((a, b) => b.perplexity - a.perplexity).slice(0, keep);
        const pplDrop = /^surplus-ppl-drop-(\d+)$/.exec(name);
        if (pplDrop) {
          const drop = Math.min(Math.floor((pool.length * Number(pplDrop[1])) / 100), Math.max(0, pool.length - keep));
          const low = new Set([...pool].sort((a, b) => a.perplexity - b.perplexity).slice(0, drop));
          return pool.filter((e) => !low.has(e)).slice(0, keep);
        }
        if (name === 'surplus-rank-ppl') {
          const byPpl = new Map([...pool].sort((a, b) => a.perplexity - b.perplexity).map((e, i) => [e, i]));
          return pool.map((e, i) => [e, i + byPpl.get(e)]).sort((a, b) => a[1] - b[1]).slice(0, keep).map(([e]) => e);
        }
        const mmr = /^surplus-mmr-([\d.]+)$/.exec(name);
        if (mmr) {
          const lambda = Number(mmr[1]);
          const { f, d } = unitCentred(pool.map((e) => e.text));
          const maxSim = new Float64Array(pool.length);
          return greedy(pool, keep, (i) => i / pool.length + lambda * maxSim[i], (best) => {
            for (let i = 0; i < pool.length; i++) {
              let dot = 0;
              for (let k = 0; k < d; k++) dot += f[i * d + k] * f[best * d + k];
              if (dot > maxSim[i]) maxSim[i] = dot;
            }
          });
        }
      }
      // self-band-Q / self-low: the student's own head as the judge. A head trained (the
      // protocol's student, seed 0) on what the product's surplus filter keeps scores every text
      // of the class; keep those it puts in their class, set aside the Q% it is surest of (as long
      // as `keep` remain), then the best by matching loss (self-low: its smallest margins first).
      // Only synthetic output and public weights are read: post-processing.
      const self = /^self-(band-(\d+)|low)$/.exec(name);
      if (self) {
        const m = selfMargins(gen, keep);
        const onside = mine.filter((e) => m.get(e) > 0);
        if (self[1] === 'low') return [...onside].sort((a, b) => m.get(a) - m.get(b)).slice(0, keep);
        const drop = Math.min(Math.floor((onside.length * Number(self[2])) / 100), Math.max(0, onside.length - keep));
        return [...onside].sort((a, b) => m.get(b) - m.get(a)).slice(drop).sort((a, b) => a.matching_loss - b.matching_loss).slice(0, keep);
      }
      // built-surplus / refit-surplus: the surplus filter under the target classifier's threshold
      // as the targets place it, or refitted on the generation itself (method.targetThreshold
      // 'targets' / 'generated'), read from the texts' target_logits (older two-label generations,
      // which carry only margins: logits [0, D] with D the logit difference, the same fit).
      // refit-surplus-M: only texts the refitted classifier puts elsewhere by a margin over M
      // count as misplaced (the confidently misplaced; margins in the classifier's logit units).
      const confident = /^refit-surplus-([\d.]+)$/.exec(name);
      if (name === 'built-surplus' || name === 'refit-surplus' || confident) {
        const seen = new Set();
        const M = confident ? Number(confident[1]) : 0;
        const pool = thresholded(gen, name !== 'built-surplus').filter((e) => e.labelIndex === c && !seen.has(e.text.trim()) && seen.add(e.text.trim()));
        pool.forEach((e) => origin.set(e, e.from));
        // The product's filter with its margin (method.targetFilterMargin).
        return core.dropSurplusMisplaced(pool, task.labels.length, keep, M).sort((a, b) => a.matching_loss - b.matching_loss).slice(0, keep);
      }
      // pool-cf-M: the surplus filter by the pool's cross-fitted classifier (poolVerdicts) with
      // margin M, then by matching loss. refit-1-pool-M: the product's filter first (threshold
      // refitted, margin 1), then the pool's on what is left, each only on the surplus.
      const poolRule = /^(pool-cf|refit-1-pool)-([\d.]+)$/.exec(name);
      if (poolRule) {
        const v = poolVerdicts(gen);
        const seen = new Set();
        let pool = thresholded(gen, true).filter((e) => e.labelIndex === c && !seen.has(e.text.trim()) && seen.add(e.text.trim()));
        if (poolRule[1] === 'refit-1-pool') pool = core.dropSurplusMisplaced(pool, K, keep, 1);
        const judged = pool.map((e) => ({ ...e, ...v.get(e.from), from: e.from }));
        judged.forEach((e) => origin.set(e, e.from));
        return core.dropSurplusMisplaced(judged, K, keep, Number(poolRule[2])).sort((a, b) => a.matching_loss - b.matching_loss).slice(0, keep);
      }
      if (name === 'no-repeat-first') {
        // Best by matching loss, texts that repeat a token trigram only after all others.
        const rep = new Map(mine.map((e) => [e, e.ids.some((id, i) => core.repeatsNgram(e.ids.slice(0, i), id, 3)) ? 1 : 0]));
        return [...mine].sort((a, b) => rep.get(a) - rep.get(b) || a.matching_loss - b.matching_loss).slice(0, keep);
      }
      throw new Error(`unknown rule ${name}`);
    });
    // Balanced, in generation order as select keeps them (the student's dev split and batches
    // depend on the order).
    const n = Math.min(...out.map((k) => k.length));
    const order = new Map(gen.examples.map((e, i) => [e, i]));
    const at = (e) => order.get(origin.get(e) ?? e);
    kept = out.flatMap((k) => k.slice(0, n)).sort((a, b) => at(a) - at(b));
  }
  return kept.map(asRow);
}

/**
 * The judge's on-label rate, the share of the texts the untrained student (the zero-shot head)
 * already labels as kept (`zero_shot_agrees`: near 100, its synthetic dev split is solved before
 * training and the checkpoint rule may keep the untrained head), and what the texts teach, as one
 * JSON line.
 */
function report(fields, kept) {
  const onLabel = ev.accuracy(judge, kept);
  const untrained = ev.headClassifier(rt, task, cache);
  const zeroShot = ev.accuracy(untrained, kept);
  untrained.dispose();
  console.log(JSON.stringify({ ...fields, kept: kept.length, on_label: pct(onLabel), zero_shot_agrees: pct(zeroShot), accuracy: teach(kept) }));
}

const gens = genFiles.map((f) => JSON.parse(readFileSync(f, 'utf8')));

// Several generations of the same targets: their texts pooled (matching losses are comparable,
// the targets being the same), the best per class by matching loss: what overgenerating more
// would keep.
const RULES = process.env.RULES ? process.env.RULES.split(',') : ['best-matching', 'strict-filter', 'surplus-filter', 'margin-top', 'margin-mid', 'best-matching-cut', 'surplus-filter-cut'];
if (gens.length > 1) {
  const pooled = { ...gens[0], examples: gens.flatMap((g) => g.examples) };
  // Pooled: the rules that need no cut (best-matching when RULES is not set).
  for (const name of process.env.RULES ? RULES.filter((r) => !r.endsWith('-cut')) : ['best-matching']) {
    report({ generation: `pooled ${genFiles.join(' + ')}`, rule: name, candidates: pooled.examples.length }, rule(name, pooled, KEEP));
  }
}

// The written texts' matching losses (RULE-written): targets rebuilt from the protocol's real
// texts, once; a text whose written form is the optimised sequence keeps its saved loss (printed
// as a check of the rebuilt targets).
let writtenLosses;
function written(gen) {
  if (!writtenLosses) {
    const rows = core.releaseRows('label-rows', toks.labelTokens);
    const real = core.sampleClasses(all, task, Number(process.env.REAL ?? 25), 0, 'task data');
    writtenLosses = real.map((r, c) => new core.MatchingLoss(rt.model, core.computeClassTarget(rt.model, r, c, toks.labelTokens[c], toks.promptIds, { rows }), toks.labelTokens[c], 'cosine'));
  }
  const loss = gen.examples.map((e) => core.matchingLossOfPrompts(rt.model, writtenLosses[e.labelIndex], [toks.promptIds(e.text)])[0]);
  const same = gen.examples.map((e, i) => [e, loss[i]]).filter(([e]) => e.optimised_length === undefined && !/[,.!?]\s*$|,/.test(e.text));
  console.error(`written losses: ${same.length} texts as optimised, max |saved - rebuilt| ${Math.max(0, ...same.map(([e, l]) => Math.abs(e.matching_loss - l))).toExponential(2)}; rank correlation with the saved losses ${spearman(gen.examples.map((e) => e.matching_loss), loss).toFixed(3)}`);
  return { ...gen, examples: gen.examples.map((e, i) => ({ ...e, matching_loss: loss[i] })) };
}
function spearman(a, b) {
  const rank = (x) => {
    const r = new Array(x.length);
    x.map((v, i) => [v, i]).sort((p, q) => p[0] - q[0]).forEach(([, i], k) => (r[i] = k));
    return r;
  };
  const [ra, rb] = [rank(a), rank(b)];
  const n = a.length;
  return 1 - (6 * ra.reduce((acc, v, i) => acc + (v - rb[i]) ** 2, 0)) / (n * (n * n - 1));
}

for (const [g, gen] of (process.env.POOLED_ONLY ? [] : gens).entries()) {
  const file = genFiles[g];
  if (!gen.examples.every((e) => typeof e.target_margin === 'number')) {
    console.error(`${file}: its examples carry no target_margin (generate with targetFilter on)`);
    process.exit(2);
  }
  let cut; // the cut costs a forward of every text: only for the rules that need it
  let rescored; // likewise the written texts' losses
  for (const name of RULES) {
    const kept = name.endsWith('-cut')
      ? rule(name.slice(0, -4), (cut ??= withSentenceEndCut(gen)), KEEP)
      : name.endsWith('-written')
        ? rule(name.slice(0, -8), (rescored ??= written(gen)), KEEP)
        : rule(name, gen, KEEP);
    report({ generation: file, rule: name }, kept);
  }
}
