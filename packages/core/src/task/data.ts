/** Labelled examples from a JSONL file, with errors that name the file and line. */
import { readFileSync } from 'node:fs';
import { SynthgradError } from '../util/errors.js';
import { labelIndex, type Task } from './task.js';

export interface Example {
  text: string;
  /** Index into task.labels. */
  label: number;
  /** 1-based line in the source file, for error messages. */
  line: number;
  source: string;
}

export function readExamples(path: string, task: Task): Example[] {
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch (e) {
    throw new SynthgradError(`${path}: cannot read data file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'E_DATA');
  }
  const out: Example[] = [];
  const lines = content.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    let obj: unknown;
    try {
      obj = JSON.parse(raw);
    } catch (e) {
      throw new SynthgradError(`${path}:${line}: malformed JSON (${(e as Error).message})`, 'E_DATA');
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new SynthgradError(`${path}:${line}: expected a JSON object`, 'E_DATA');
    const rec = obj as Record<string, unknown>;
    const text = rec[task.textField];
    if (typeof text !== 'string') throw new SynthgradError(`${path}:${line}: missing string field "${task.textField}"`, 'E_DATA');
    if (text.trim() === '') throw new SynthgradError(`${path}:${line}: field "${task.textField}" is empty`, 'E_DATA');
    if (!(task.labelField in rec)) throw new SynthgradError(`${path}:${line}: missing field "${task.labelField}"`, 'E_DATA');
    const label = labelIndex(task, rec[task.labelField]);
    if (label < 0) {
      throw new SynthgradError(
        `${path}:${line}: unknown label ${JSON.stringify(rec[task.labelField])} (task "${task.name}" knows ${task.labels.map((l) => JSON.stringify(l.value)).join(', ')})`,
        'E_DATA',
      );
    }
    out.push({ text, label, line, source: path });
  });
  if (out.length === 0) throw new SynthgradError(`${path}: no examples`, 'E_DATA');
  return out;
}

/** Examples grouped by label index; every label of the task must have at least one. */
export function byClass(examples: Example[], task: Task, where: string): Example[][] {
  const groups = task.labels.map(() => [] as Example[]);
  for (const e of examples) groups[e.label].push(e);
  groups.forEach((g, i) => {
    if (g.length === 0) throw new SynthgradError(`${where}: class ${JSON.stringify(task.labels[i].value)} (${task.labels[i].name}) has no examples`, 'E_DATA');
  });
  return groups;
}
