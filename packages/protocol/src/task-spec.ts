/** The session's wire TaskSpec as the core library's Task (labels travel as strings). */
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
    instruction: '',
    demonstrations: [],
    contextPrefix: spec.contextPrefix || 'The',
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
  };
}
