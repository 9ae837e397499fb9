/** A generated JSONL file (text, label, matching_loss, perplexity) read back as selection candidates. */
import { readFileSync } from 'node:fs';
import { SynthgradError } from '../util/errors.js';
import { labelIndex, type Task } from '../task/task.js';
import type { Candidate } from './select.js';

export interface GeneratedRow extends Candidate {
  text: string;
  label: string | number;
}

export function readCandidates(path: string, task: Task): GeneratedRow[] {
  let content: string;
  try {
    content = readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
  } catch (e) {
    throw new SynthgradError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'E_DATA');
  }
  const rows: GeneratedRow[] = [];
  content.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim()) return;
    const n = i + 1;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line);
    } catch (e) {
      throw new SynthgradError(`${path}:${n}: malformed JSON (${(e as Error).message})`, 'E_DATA');
    }
    if (typeof r.text !== 'string') throw new SynthgradError(`${path}:${n}: missing string field "text"`, 'E_DATA');
    const li = labelIndex(task, r.label);
    if (li < 0) throw new SynthgradError(`${path}:${n}: unknown label ${JSON.stringify(r.label)}`, 'E_DATA');
    rows.push({ text: r.text, label: r.label as string | number, labelIndex: li, matching_loss: Number(r.matching_loss ?? 0), perplexity: Number(r.perplexity ?? 0) });
  });
  if (rows.length === 0) throw new SynthgradError(`${path}: no rows`, 'E_DATA');
  return rows;
}
