// The quality protocol's fixed parts for the probe scripts (issue 10): the command line
// `SCRIPT TRAIN.jsonl TEST.jsonl GEN.json [GEN.json ...]`, the model, the built-in task (or TASK=file), the task
// data, the protocol's test split (500 texts, seed 0, as `bench quality` draws it) and one shared
// feature cache.
import * as core from '@synthgrad/core';
import * as ev from '@synthgrad/eval';

export const pct = (x) => +(x * 100).toFixed(1);

/**
 * A saved text's target classifier logits as built: its target_logits (generations since the
 * twenty-eighth stop), or for an older two-label generation, which carries only its margin, the
 * logits [0, D] with D the logit difference (the same verdicts and the same refit).
 */
export function targetLogitsOf(e, K, where = 'a generation') {
  if (e.target_logits) return e.target_logits;
  if (K !== 2 || typeof e.target_margin !== 'number') throw new Error(`${where}: texts without target_logits (only two-label generations with margins can be read)`);
  return [0, e.labelIndex === 1 ? e.target_margin : -e.target_margin];
}
export const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * What the product's selection keeps of a saved generation: `keep` a class by matching loss after
 * its method's target filter and margin (a generation from before the margin existed: margin 0).
 */
export function productKept(gen, K, keep) {
  return core.select(gen.examples, K, core.bestMatching(keep, gen.method.targetFilter, gen.method.targetFilterMargin ?? 0, gen.method.dropDegenerate ?? false)).kept;
}

/** The share (percent) of rows whose text ends a sentence (core.endsSentence). */
export const endedShare = (rows) => pct(rows.filter((r) => core.endsSentence(r.text)).length / rows.length);

/** Whether a saved generation was made with end marks: true (the thirty-second stop's), 'lm' or 'target' (since the thirty-third). */
export const madeWithEndMarks = (gen) => Boolean(gen.method.endMarks) && gen.method.endMarks !== 'off';

/**
 * A written text's ids without the mark the product's end-mark pass appended (one of the task's
 * `endMarkStyle` inserts at the very end; the projection writes no marks, so a final one is the
 * pass's), and whether there was one.
 */
export function withoutEndMark(ids, style) {
  const m = style.marks.map((x) => x.insert).find((t) => t.length <= ids.length && t.every((id, k) => ids[ids.length - t.length + k] === id));
  return m ? { ids: ids.slice(0, ids.length - m.length), marked: true } : { ids, marked: false };
}

export async function openProtocol(script, argv, { generations = true } = {}) {
  const [trainFile, testFile, ...genFiles] = argv;
  if (!trainFile || !testFile || (generations && genFiles.length === 0)) {
    console.error(`usage: ${script} TRAIN.jsonl TEST.jsonl${generations ? ' GEN.json [GEN.json ...]' : ''}`);
    process.exit(2);
  }
  await core.initBackend();
  const rt = await core.loadModel(core.resolveModelPath());
  // TASK=file.task.json: the student and judge read texts through that task's prompt, as
  // `bench quality --task` does (default: the built-in task).
  const task = process.env.TASK ? core.resolveTask(process.env.TASK) : core.SENTIMENT_TASK;
  const all = core.readExamples(trainFile, task);
  const test = core.Rng.derive(0, 'quality-test').shuffle(core.readExamples(testFile, task)).slice(0, 500);
  return { rt, task, all, test, genFiles, cache: new ev.FeatureCache(rt, task) };
}

/**
 * The protocol's judge (a head on all of the task data, dev carved at seed 0; its test accuracy
 * printed as one JSON line) and `teach(rows)`: the protocol's student (head mode, dev carved from
 * the set) over `seeds` training seeds, its test accuracy as the protocol's 3 seeds, all `seeds`
 * and each. The student's spread over dev splits and batch orders is several points on 100 texts,
 * more than most differences the probes look for, hence 10 seeds by default (SEEDS=N: N, for a
 * quick look).
 */
export function judgeAndStudent({ rt, task, all, test, cache }, seeds = Number(process.env.SEEDS ?? 10)) {
  const { steps, batchSize, lr, weightDecay } = ev.MODE_DEFAULTS.head;
  const judge = ev.headClassifier(rt, task, cache);
  const { train, dev } = ev.carveDev(all, 0.2, 0);
  const r = ev.fineTune(judge, train, dev, test, task.labels.length, { steps, batchSize, lr, weightDecay, seed: 0 });
  console.log(JSON.stringify({ judge_test_accuracy: pct(r.testAccuracy) }));
  const teach = (exs) => {
    const per = Array.from({ length: seeds }, (_, seed) => trainStudent({ rt, task, test, cache }, exs, seed).testAccuracy);
    return { mean3: pct(mean(per.slice(0, 3))), mean10: pct(mean(per)), per_seed: per.map(pct) };
  };
  return { judge, teach };
}

// CHECKPOINT=accuracy-loss: the student's dev checkpoint with ties of dev accuracy broken by dev
// loss (`bench quality --checkpoint accuracy-loss`); default the protocol's 'accuracy'.
const CHECKPOINT = process.env.CHECKPOINT ?? 'accuracy';

/**
 * The protocol's student (head mode, its settings, dev carved at `seed` from `exs`) trained with
 * training seed `seed`; `inspect(clf)`, if given, reads the trained classifier before it is
 * disposed. Returns the fineTune result and what inspect returned.
 */
export function trainStudent({ rt, task, test, cache }, exs, seed, inspect) {
  const { steps, batchSize, lr, weightDecay } = ev.MODE_DEFAULTS.head;
  const { train, dev } = ev.carveDev(exs, 0.2, seed);
  const clf = ev.headClassifier(rt, task, cache);
  try {
    const r = ev.fineTune(clf, train, dev, test, task.labels.length, { steps, batchSize, lr, weightDecay, seed, checkpoint: CHECKPOINT });
    return { ...r, inspected: inspect?.(clf) };
  } finally {
    clf.dispose();
  }
}
