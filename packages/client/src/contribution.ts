/**
 * A data owner's contribution: for every class of the session, the clipped sum of its examples'
 * last-layer gradients plus Gaussian noise of the session's analytic-Gaussian sigma. Every class
 * is sent even when the owner has no example of it (then it is noise alone), so what is uploaded
 * does not reveal which classes, or how many examples, the owner holds.
 */
import { computeClassTarget, releaseRows, Rng, taskTokens, type ClassTarget, type Example, type LoadedModel, type Task, type TargetRelease } from '@synthgrad/core';

export interface ContributionPrivacy {
  epsilon: number;
  delta: number;
  clip: number;
  /** The session's cap on examples in one class sum (0: none); more are subsampled, seeded. */
  maxExamples?: number;
  /** What each class contribution releases (default DEFAULT_RELEASE, 'label-rows'; a session always says). */
  release?: TargetRelease;
}

/**
 * At most `max` of a class's examples, a seeded sample: the session's bound on a contribution's
 * norm assumes at most that many clipped examples, and a larger sum would be refused.
 */
export function capExamples(examples: Example[], max: number | undefined, seed: number, label: number): Example[] {
  if (!max || examples.length <= max) return examples;
  const rng = Rng.derive(seed, 'cap-examples', label);
  const idx = examples.map((_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx.slice(0, max).sort((a, b) => a - b).map((i) => examples[i]!);
}

/**
 * `seed` picks the subsample of an over-full class; `noiseKey` (the owner's secret,
 * loadOrCreateNoiseKey) draws the noise: with the same key the same contribution comes out.
 */
export function computeContributions(rt: LoadedModel, task: Task, examples: Example[], privacy: ContributionPrivacy, seed: number, noiseKey?: Uint8Array): ClassTarget[] {
  const toks = taskTokens(task, rt.tokenizer);
  const rows = releaseRows(privacy.release, toks.labelTokens);
  return task.labels.map((_, c) =>
    computeClassTarget(
      rt.model,
      capExamples(examples.filter((e) => e.label === c), privacy.maxExamples, seed, c),
      c,
      toks.labelTokens[c],
      toks.promptIds,
      privacy.epsilon > 0 ? { clip: privacy.clip, epsilon: privacy.epsilon, delta: privacy.delta, noiseKey, rows } : { clip: privacy.clip, rows },
    ),
  );
}
