/**
 * The session's wire TaskSpec as the core library's Task (labels travel as strings), with all of
 * the task the coordinator's synthesis uses: the label-conditioned context and the public
 * demonstrations too (before they travelled, a federated session projected without them), and the
 * symbols its texts may write.
 */
import type { Task } from '@synthgrad/core';
import type { TaskSpec } from './gen/synthgrad/v1/synthgrad.js';

export function taskFromSpec(spec: TaskSpec): Task {
  return {
    name: spec.name,
    textField: spec.textField || 'text',
    labelField: spec.labelField || 'label',
    labels: spec.labels.map((l) => ({ value: l.value, name: l.name, verbalizer: l.verbalizer })),
    suffix: spec.suffix,
    sentenceEnd: spec.sentenceEnd,
    instruction: spec.instruction ?? '',
    demonstrations: (spec.demonstrations ?? []).map((d) => ({ text: d.text, label: d.label })),
    contextPrefix: spec.contextPrefix || 'The',
    ...(spec.labelContext ? { labelContext: spec.labelContext } : {}),
    ...(spec.symbols ? { symbols: spec.symbols } : {}),
  };
}

export function specFromTask(task: Task): TaskSpec {
  return {
    name: task.name,
    textField: task.textField,
    labelField: task.labelField,
    labels: task.labels.map((l) => ({ value: String(l.value), name: l.name, verbalizer: l.verbalizer })),
    suffix: task.suffix,
    sentenceEnd: task.sentenceEnd ?? '',
    contextPrefix: task.contextPrefix,
    labelContext: task.labelContext ?? '',
    demonstrations: task.demonstrations.map((d) => ({ text: d.text, label: String(d.label) })),
    instruction: task.instruction,
    symbols: task.symbols ?? '',
  };
}
