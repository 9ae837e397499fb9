/** Training, dev and test sets for evaluation: label-set checks, stratified dev carving, subsets. */
import { Rng, SynthgradError, type Example, type Task } from '@synthgrad/core';

const labelsOf = (xs: Example[]) => [...new Set(xs.map((e) => e.label))].sort((a, b) => a - b);

/**
 * Refuse what cannot give a meaningful accuracy, warn about what gives a weak one: an empty
 * training set and differing label sets are errors; a single-class test file is a warning.
 */
export function checkLabelSets(task: Task, train: Example[], test: Example[], where: { train: string; test: string }): string[] {
  if (train.length === 0) throw new SynthgradError(`${where.train}: the training set is empty`, 'E_DATA');
  if (test.length === 0) throw new SynthgradError(`${where.test}: the test set is empty`, 'E_DATA');
  const name = (ls: number[]) => `{${ls.map((l) => JSON.stringify(task.labels[l]!.value)).join(', ')}}`;
  const a = labelsOf(train);
  const b = labelsOf(test);
  const warnings: string[] = [];
  if (b.length === 1) warnings.push(`${where.test} has one class only (${name(b)}): accuracy measures the bias toward it, not discrimination`);
  if (a.length !== b.length || a.some((l, i) => l !== b[i])) {
    if (!(b.length === 1 && a.includes(b[0]!))) {
      throw new SynthgradError(`label sets differ: ${where.train} has ${name(a)}, ${where.test} has ${name(b)}`, 'E_DATA');
    }
  }
  return warnings;
}

/** A stratified dev split carved from the training data: `fraction` of each class (at least one). */
export function carveDev(examples: Example[], fraction: number, seed: number): { train: Example[]; dev: Example[] } {
  if (!(fraction > 0 && fraction < 1)) throw new SynthgradError(`dev fraction must be in (0, 1), got ${fraction}`, 'E_USAGE');
  const train: Example[] = [];
  const dev: Example[] = [];
  for (const label of labelsOf(examples)) {
    const group = Rng.derive(seed, 'dev', label).shuffle(examples.filter((e) => e.label === label));
    if (group.length < 2) throw new SynthgradError(`class ${label} has ${group.length} training example(s): too few to carve a dev split; give a dev set (option dev, flag --dev)`, 'E_DATA');
    const k = Math.max(1, Math.round(group.length * fraction));
    dev.push(...group.slice(0, k));
    train.push(...group.slice(k));
  }
  return { train, dev };
}

/** A class-balanced random subset of n examples (n/C per class, the remainder to the first classes). */
export function balancedSubset(examples: Example[], n: number, seed: number): Example[] {
  const labels = labelsOf(examples);
  const out: Example[] = [];
  labels.forEach((label, i) => {
    const want = Math.floor(n / labels.length) + (i < n % labels.length ? 1 : 0);
    const group = Rng.derive(seed, 'subset', label).shuffle(examples.filter((e) => e.label === label));
    if (group.length < want) throw new SynthgradError(`class ${label} has ${group.length} examples; ${want} requested`, 'E_DATA');
    out.push(...group.slice(0, want));
  });
  return Rng.derive(seed, 'subset-order').shuffle(out);
}

/** The first n examples of a file, balanced as far as the file allows (for a fixed test subset). */
export function takeBalanced(examples: Example[], n: number): Example[] {
  if (n >= examples.length) return examples;
  const labels = labelsOf(examples);
  const per = Math.ceil(n / labels.length);
  const picked = labels.flatMap((l) => examples.filter((e) => e.label === l).slice(0, per));
  return picked.slice(0, n);
}
