/** Labelled examples from a JSONL or CSV file, with errors that name the file and line. */
import { readFileSync } from 'node:fs';
import { parse as parseCsv } from 'csv-parse/sync';
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
    // A UTF-8 byte-order mark (Excel and Windows editors write one) is not part of the data.
    content = readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
  } catch (e) {
    throw new SynthgradError(`${path}: cannot read data file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'E_DATA');
  }
  const out: Example[] = [];
  for (const { rec, line } of /\.csv$/i.test(path) ? csvRecords(path, content) : jsonlRecords(path, content)) {
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
  }
  if (out.length === 0) throw new SynthgradError(`${path}: no examples`, 'E_DATA');
  return out;
}

interface SourceRecord {
  rec: Record<string, unknown>;
  line: number;
}

/** One JSON object a line; blank lines are skipped. */
function jsonlRecords(path: string, content: string): SourceRecord[] {
  const out: SourceRecord[] = [];
  content.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    let obj: unknown;
    try {
      obj = JSON.parse(raw);
    } catch (e) {
      throw new SynthgradError(`${path}:${line}: malformed JSON (${(e as Error).message})`, 'E_DATA');
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new SynthgradError(`${path}:${line}: expected a JSON object`, 'E_DATA');
    out.push({ rec: obj as Record<string, unknown>, line });
  });
  return out;
}

/** RFC 4180 CSV with a header row naming the columns (quoted fields may span lines). */
function csvRecords(path: string, content: string): SourceRecord[] {
  try {
    const rows = parseCsv(content, { columns: true, skip_empty_lines: true, bom: true, info: true }) as { record: Record<string, string>; info: { lines: number } }[];
    return rows.map((r) => ({ rec: r.record, line: r.info.lines }));
  } catch (e) {
    const err = e as Error & { lines?: number };
    throw new SynthgradError(`${path}:${err.lines ?? '?'}: malformed CSV (${err.message})`, 'E_DATA');
  }
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
