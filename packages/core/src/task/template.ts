/**
 * A starting task file for a user's own labels (`synthgrad task init`): the smallest file that
 * runs, with the fields a user should think about present. Pure: no model, no file system.
 */
import { SynthgradError } from '../util/errors.js';
import { symbolsProblem, validateTask } from './task.js';

export interface TaskTemplateOptions {
  /** Label names, as they appear in the data (or `name=value` where the data holds another value, e.g. "positive=1"). */
  labels: string[];
  /** The words the LM predicts for the labels, one per label (default: the label names); a leading space is added. */
  verbalizers?: string[];
  /** What the texts are, in a few words ("support ticket"); absent: generate searches for one (minutes). */
  domain?: string;
  /** Appended to every text before the label word (default " Label:"). */
  suffix?: string;
  /** Characters beyond letters the texts may write ("@#0123456789"); absent: words only. */
  symbols?: string;
  name?: string;
  textField?: string;
  labelField?: string;
}

/** A data value that is an integer in the file ("1") is written as one, so the file reads like the data. */
const valueOf = (v: string): string | number => (/^-?\d+$/.test(v) ? Number(v) : v);

/**
 * The task file's JSON object: labels with their verbalisers, the suffix, the domain if given, and
 * an empty `demonstrations` list for the user to fill with a few public, hand-written texts a
 * class (never private data: they are sent to the LM as context and are part of the task).
 * Validated before it is returned, so a template never fails to load.
 */
export function taskTemplate(o: TaskTemplateOptions): Record<string, unknown> {
  if (o.labels.length < 2) throw new SynthgradError(`a task needs at least two labels, got ${o.labels.length}`, 'E_USAGE');
  if (o.verbalizers && o.verbalizers.length !== o.labels.length) {
    throw new SynthgradError(`${o.verbalizers.length} verbalisers for ${o.labels.length} labels: give one word per label, in the same order`, 'E_USAGE');
  }
  // Checked here too, before validateTask below, so that bad input is a usage error.
  const symbols = symbolsProblem(o.symbols ?? '');
  if (symbols !== undefined) throw new SynthgradError(`"symbols" ${symbols}`, 'E_USAGE');
  const labels = o.labels.map((l, i) => {
    const [name, value] = l.includes('=') ? [l.slice(0, l.indexOf('=')).trim(), l.slice(l.indexOf('=') + 1).trim()] : [l.trim(), l.trim()];
    if (name.length === 0 || value.length === 0) throw new SynthgradError(`label ${JSON.stringify(l)} needs a name (and, after "=", a value)`, 'E_USAGE');
    const word = (o.verbalizers?.[i] ?? name).trim();
    if (word.length === 0) throw new SynthgradError(`the verbaliser of label "${name}" is empty`, 'E_USAGE');
    return { value: valueOf(value), name, verbalizer: ` ${word}` };
  });
  const file: Record<string, unknown> = {
    name: o.name ?? 'custom',
    textField: o.textField ?? 'text',
    labelField: o.labelField ?? 'label',
    labels,
    suffix: o.suffix ?? ' Label:',
    ...(o.domain !== undefined ? { domain: o.domain } : {}),
    ...(o.symbols !== undefined && o.symbols.length > 0 ? { symbols: o.symbols } : {}),
    demonstrations: [],
  };
  validateTask(file, 'template');
  return file;
}
