/**
 * The LM label check of a synthetic set, per class: how many texts generated for a class the LM
 * itself reads as that class. Measured on every generate run (it says whether the set is any
 * good); it filters only when selection asks for it.
 */
import type { LoadedModel } from '../model/load.js';
import type { Task } from '../task/task.js';
import { predictLabels } from '../selection/select.js';

export interface LabelCheckClass {
  label: string | number;
  generated: number;
  passed: number;
}

export interface LabelCheck {
  /** Predicted label index per text, in input order. */
  predicted: number[];
  perClass: LabelCheckClass[];
}

export function labelCheck(
  rt: Pick<LoadedModel, 'model' | 'tokenizer'>,
  task: Task,
  rows: readonly { text: string; labelIndex: number }[],
  onProgress?: (done: number, total: number) => void,
): LabelCheck {
  const predicted = predictLabels(rt.model, rt.tokenizer, task, rows.map((r) => r.text), 8, onProgress);
  return { predicted, perClass: labelCheckPerClass(task, rows, predicted) };
}

/** Per class, how many of `rows` there are and how many the LM predicted as their class (`predicted[i]` for `rows[i]`). */
export function labelCheckPerClass(task: Task, rows: readonly { labelIndex: number }[], predicted: readonly number[]): LabelCheckClass[] {
  return task.labels.map((l, c) => {
    const mine = rows.map((r, i) => ({ r, p: predicted[i] })).filter(({ r }) => r.labelIndex === c);
    return { label: l.value, generated: mine.length, passed: mine.filter(({ p }) => p === c).length };
  });
}
