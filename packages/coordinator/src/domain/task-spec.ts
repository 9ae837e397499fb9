/**
 * A pure check of a requested session's task: what it may hold, since it is stored, sent to every
 * participant and put in the LM's context (its public demonstrations and label context).
 */
import { symbolsProblem } from '@synthgrad/core';
import type { CreateSessionRequest } from '@synthgrad/protocol';
import { invalidArgument, quote } from './errors.js';

/** What a session's task may hold (it is stored, sent to every participant and put in the LM's context). */
export const TASK_LIMITS = { labels: 64, demonstrations: 64, textChars: 4000, contextChars: 1000, symbolChars: 256 } as const;

/** A pure check of a requested task's public parts; the first problem as an INVALID_ARGUMENT. */
export function checkTaskSpec(t: NonNullable<CreateSessionRequest['task']>): void {
  const L = TASK_LIMITS;
  if (t.labels.length > L.labels) throw invalidArgument(`a task has at most ${L.labels} labels`);
  const values = t.labels.map((l) => l.value);
  if (new Set(values).size !== values.length) throw invalidArgument('task label values must be distinct');
  if (t.labels.some((l) => !l.verbalizer)) throw invalidArgument('every task label needs a verbalizer');
  const demonstrations = t.demonstrations ?? [];
  if (demonstrations.length > L.demonstrations) throw invalidArgument(`a task has at most ${L.demonstrations} demonstrations`);
  for (const d of demonstrations) {
    if (!values.includes(d.label)) throw invalidArgument(`a demonstration's label ${quote(d.label)} is none of the task's (${values.join(', ')})`);
    if (!d.text || d.text.length > L.textChars) throw invalidArgument(`a demonstration's text must be 1-${L.textChars} characters`);
  }
  for (const [name, v] of [['label_context', t.labelContext], ['context_prefix', t.contextPrefix], ['suffix', t.suffix], ['sentence_end', t.sentenceEnd]] as const) {
    if ((v ?? '').length > L.contextChars) throw invalidArgument(`task.${name} is longer than ${L.contextChars} characters`);
  }
  if ((t.instruction ?? '').length > L.textChars) throw invalidArgument(`task.instruction is longer than ${L.textChars} characters`);
  const symbols = t.symbols ?? '';
  if (symbols.length > L.symbolChars) throw invalidArgument(`task.symbols is longer than ${L.symbolChars} characters`);
  const problem = symbolsProblem(symbols);
  if (problem !== undefined) throw invalidArgument(`task.symbols ${problem}`);
}
