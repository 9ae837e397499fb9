/** Class plans (a label-rows target and the mean token length) from in-memory texts, one list a class, for tests. */
import { computeClassTarget, releaseRows, taskTokens, type ClassPlan, type LoadedModel, type Task } from '@synthgrad/core';

export function classPlansOf(rt: LoadedModel, task: Task, texts: string[][]): ClassPlan[] {
  const toks = taskTokens(task, rt.tokenizer);
  const rows = releaseRows('label-rows', toks.labelTokens);
  return texts.map((ts, c) => ({
    target: computeClassTarget(rt.model, ts.map((text, i) => ({ text, label: c, line: i + 1, source: 'mem.jsonl' })), c, toks.labelTokens[c], toks.promptIds, { rows }),
    textLength: Math.max(2, Math.round(ts.reduce((a, t) => a + rt.tokenizer.encode(t).length, 0) / ts.length)),
  }));
}
