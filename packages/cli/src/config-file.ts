/**
 * `--config FILE`: one JSON file holding a run's settings, one section per command
 * (`{"generate": {...}, "compare": {...}}`), with the key names of the library's option objects
 * (`perClass`, `privacy.epsilon`, `settings.outer`, `training.steps`). Flags override it. Each
 * command declares which flag a key feeds, so a config value goes through the same checks as the
 * flag, and errors name the key ("run.json: generate.settings.outer must be ...").
 */
import { readFileSync } from 'node:fs';
import { UsageError } from './usage-error.js';
import { didYouMean } from './suggest.js';
import type { RawValues } from './flags.js';

/** flag name -> dotted key path inside the command's section. */
export type ConfigKeys = Record<string, string>;

/**
 * The dotted paths of T's leaves ("settings.outer", "privacy.epsilon"): the key tables are checked
 * against the library's option types with it, so a config key cannot drift from the library's name.
 */
export type KeyPath<T> = {
  [K in keyof T & string]-?: NonNullable<T[K]> extends readonly unknown[] ? K : NonNullable<T[K]> extends object ? `${K}.${KeyPath<NonNullable<T[K]>>}` : K;
}[keyof T & string];

export interface ConfigValues {
  values: RawValues;
  /** flag name -> "FILE: section.key", for error messages. */
  labels: Record<string, string>;
}

export function readConfig(path: string, section: string, keys: ConfigKeys, otherSections: readonly string[] = []): ConfigValues {
  let root: unknown;
  try {
    root = JSON.parse(readFileSync(path, 'utf8').replace(/^\uFEFF/, ''));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new UsageError(err.code ? `--config ${path}: cannot read (${err.code})` : `--config ${path}: malformed JSON (${err.message})`);
  }
  if (!isObject(root)) throw new UsageError(`${path}: must be a JSON object with a "${section}" section`);
  for (const k of Object.keys(root)) {
    if (k !== section && !otherSections.includes(k) && k !== '$schema') {
      throw new UsageError(`${path}: unknown section "${k}"${didYouMean(k, [section, ...otherSections], (s) => `"${s}"`)}`);
    }
  }
  const body = root[section];
  const out: ConfigValues = { values: {}, labels: {} };
  if (body === undefined) return out;
  if (!isObject(body)) throw new UsageError(`${path}: "${section}" must be an object`);
  const byPath = new Map(Object.entries(keys).map(([flag, key]) => [key, flag]));
  const paths = [...byPath.keys()];
  const walk = (obj: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix ? `${prefix}.${k}` : k;
      const where = `${path}: ${section}.${key}`;
      const flag = byPath.get(key);
      if (flag === undefined && paths.some((p) => p.startsWith(`${key}.`))) {
        if (!isObject(v)) throw new UsageError(`${where} must be an object`);
        walk(v, key);
        continue;
      }
      if (flag === undefined) {
        // Suggest among the names valid at this level (leaves and groups).
        const here = [...new Set(paths.filter((p) => !prefix || p.startsWith(`${prefix}.`)).map((p) => (prefix ? p.slice(prefix.length + 1) : p).split('.')[0]))];
        throw new UsageError(`${path}: unknown key ${section}.${key}${didYouMean(k, here, (s) => (prefix ? `${prefix}.${s}` : s))}`);
      }
      out.labels[flag] = where;
      if (typeof v === 'boolean') out.values[flag] = v;
      else if (typeof v === 'number' || typeof v === 'string') out.values[flag] = String(v);
      else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) out.values[flag] = v.join(',');
      else throw new UsageError(`${where} must be a number, string or boolean${Array.isArray(v) ? ' (or a list of strings)' : ''}, got ${JSON.stringify(v)}`);
    }
  };
  walk(body, '');
  return out;
}

/** Flags given on the command line win over the config file's values. */
export function mergeConfig(flags: RawValues, explicit: Set<string>, config: ConfigValues | undefined): { values: RawValues; labels: Record<string, string> } {
  if (!config) return { values: flags, labels: {} };
  const values: RawValues = { ...flags };
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(config.values)) {
    if (explicit.has(k)) continue;
    values[k] = v;
    labels[k] = config.labels[k];
  }
  return { values, labels };
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
