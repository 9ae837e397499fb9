/**
 * Demonstrations mined from public text for a class that has none (MethodSettings.minedDemonstrations).
 *
 * A task that names only its labels (or its domain) has no public demonstrations, so until now a
 * class's first batch was written under its bare label context and later batches were shown the
 * class's own first texts (fillDemonstrations), on bbc5 texts about the label rather than of it
 * ("A business news article is a nonprint source ..."), copied into every later batch.
 *
 * The public statistics (public-stats.ts) already sample LM texts after the task's label-blind
 * context ("News article:"), and read each one's final state. The targets' classifier
 * (target-classifier.ts) scores those states; the texts it puts in class c by the widest margin
 * over the runner-up are public text (the LM's own) picked by released values and public weights:
 * post-processing, so using them as class c's demonstrations costs no privacy. They are in the
 * genre and, by the targets, nearest the class.
 *
 * Measured (EXPERIMENTS.md, thirty-fourth stop), it is off by default (minedDemonstrations 0): the
 * picks are on topic (on bbc5 a judge trained on all real text agrees with 38 of the 40 eight
 * widest a class), but they are texts about the topic and the genre ("Sport news from the top
 * sports news publications ...") rather than of it, and the batches copy them. One generation,
 * ten training seeds: bbc5 80.9% -> 71.0%, rtpolarity's labels-only task 69.0% -> 68.1%.
 */
import { SynthgradError } from '../util/errors.js';
import type { Task } from '../task/task.js';
import { classDemonstrations } from '../task/task.js';

/** A mined demonstration: the text, the class it demonstrates and the classifier's margin for it. */
export interface MinedDemonstration {
  classIndex: number;
  text: string;
  /** Logit of its class minus the runner-up's, each centred on the texts' mean (the classifier's units: > 0). */
  margin: number;
}

/**
 * Up to `perClass` demonstrations a class from public texts with logits `logits[i]` (texts[i]
 * already decoded): the texts the classifier puts in the class, widest margin first, blank ones
 * and repeats (after collapsing whitespace) skipped. A class the classifier gives no text gets none.
 *
 * The logits are first centred, each class's by its mean over the texts: the classifier's
 * threshold is placed for real text, and LM text sits elsewhere (on bbc5 its 'lda' form put 255
 * of 256 draws in one class), so what tells the draws apart is how far each leans to a class
 * compared with the draws' own average, as targetThreshold 'generated' refits the threshold on
 * generated text for the same reason.
 */
export function mineDemonstrations(texts: string[], logits: number[][], perClass: number): MinedDemonstration[][] {
  if (texts.length !== logits.length) throw new SynthgradError(`mineDemonstrations: ${texts.length} texts but ${logits.length} rows of logits`);
  const K = logits[0]?.length ?? 0;
  const means = Array.from({ length: K }, (_, c) => logits.reduce((a, z) => a + z[c], 0) / logits.length);
  const byClass: MinedDemonstration[][] = Array.from({ length: K }, () => []);
  logits.forEach((raw, i) => {
    const z = raw.map((v, c) => v - means[c]);
    let best = 0;
    for (let c = 1; c < K; c++) if (z[c] > z[best]) best = c;
    const runnerUp = Math.max(...z.filter((_, c) => c !== best));
    const text = texts[i].replace(/\s+/g, ' ').trim();
    if (text.length > 0) byClass[best].push({ classIndex: best, text, margin: z[best] - runnerUp });
  });
  return byClass.map((list) => {
    const seen = new Set<string>();
    return list
      .sort((a, b) => b.margin - a.margin)
      .filter((m) => !seen.has(m.text) && (seen.add(m.text), true))
      .slice(0, perClass);
  });
}

/**
 * The task with `mined[c]` added to the public demonstrations of every class that has fewer than
 * `wanted` of its own; a class with enough keeps exactly its own, so a task that gives its
 * demonstrations is unchanged.
 */
export function withMinedDemonstrations(task: Task, mined: MinedDemonstration[][], wanted: number): Task {
  const added = task.labels.flatMap((l, c) => (classDemonstrations(task, c).length < wanted ? (mined[c] ?? []).map((m) => ({ text: m.text, label: l.value })) : []));
  return added.length === 0 ? task : { ...task, demonstrations: [...task.demonstrations, ...added] };
}
