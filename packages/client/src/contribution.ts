/**
 * A data owner's contribution: for every class of the session, the clipped sum of its examples'
 * last-layer gradients plus Gaussian noise of the session's analytic-Gaussian sigma. Every class
 * is sent even when the owner has no example of it (then it is noise alone), so what is uploaded
 * does not reveal which classes, or how many examples, the owner holds.
 */
import { computeClassTarget, taskTokens, type ClassTarget, type Example, type LoadedModel, type Task } from '@synthgrad/core';

export interface ContributionPrivacy {
  epsilon: number;
  delta: number;
  clip: number;
}

export function computeContributions(rt: LoadedModel, task: Task, examples: Example[], privacy: ContributionPrivacy, seed: number): ClassTarget[] {
  const toks = taskTokens(task, rt.tokenizer);
  return task.labels.map((_, c) =>
    computeClassTarget(
      rt.model,
      examples.filter((e) => e.label === c),
      c,
      toks.labelTokens[c],
      toks.promptIds,
      privacy.epsilon > 0 ? { clip: privacy.clip, epsilon: privacy.epsilon, delta: privacy.delta, seed } : { clip: privacy.clip, seed },
    ),
  );
}
