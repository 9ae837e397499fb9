/**
 * Typed reads of parsed flag values, each error naming where the value came from: the flag
 * (`--outer`) or the config-file key (`run.json: generate.settings.outer`). Light: no ML imports.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from './usage-error.js';
import { didYouMean } from './suggest.js';

export type RawValues = Record<string, string | boolean | undefined>;

export class FlagReader {
  /**
   * `values`: flags merged over the config file; `labels`: for values from the config file, the
   * key they came from; `command`: named in errors so they point to its --help.
   */
  constructor(
    readonly values: RawValues,
    private readonly labels: Record<string, string> = {},
    readonly command?: string,
  ) {}

  /** How a value is named in errors. */
  label(name: string): string {
    return this.labels[name] ?? `--${name}`;
  }

  fail(name: string, what: string): never {
    throw new UsageError(`${this.label(name)} ${what}`, this.labels[name] ? undefined : this.command);
  }

  has(name: string): boolean {
    return this.values[name] !== undefined;
  }

  str(name: string): string | undefined {
    const v = this.values[name];
    if (v === undefined) return undefined;
    // A boolean is a switch on the command line, but a config file may give one for any key: it is
    // then read as written, so a key that wants a number or a name says so instead of ignoring it.
    if (typeof v === 'boolean') return this.labels[name] ? String(v) : undefined;
    if (v.trim() === '') this.fail(name, 'is empty');
    return v;
  }

  bool(name: string): boolean {
    return this.values[name] === true;
  }

  /** True only for an explicit false (a config file's `"select": false`), not for an absent switch. */
  isFalse(name: string): boolean {
    return this.values[name] === false;
  }

  /** A finite number, or undefined when absent. */
  num(name: string): number | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) this.fail(name, `must be a number, got "${v}"`);
    return n;
  }

  /** A number > 0 (or >= 0 with `allowZero`). */
  positive(name: string, fallback?: number, allowZero = false): number | undefined {
    const n = this.num(name);
    if (n === undefined) return fallback;
    if (allowZero ? n < 0 : n <= 0) this.fail(name, `must be ${allowZero ? '>= 0' : 'positive'}, got ${this.str(name)}`);
    return n;
  }

  /** A number in the open interval (lo, hi). */
  between(name: string, lo: number, hi: number): number | undefined {
    const n = this.num(name);
    if (n !== undefined && !(n > lo && n < hi)) this.fail(name, `must be between ${lo} and ${hi} (exclusive), got ${this.str(name)}`);
    return n;
  }

  int(name: string, fallback: number, min = 1): number {
    const v = this.str(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) this.fail(name, `must be an integer >= ${min}, got "${v}"`);
    return n;
  }

  optInt(name: string, min = 1): number | undefined {
    return this.has(name) ? this.int(name, 0, min) : undefined;
  }

  oneOf<T extends string>(name: string, choices: readonly T[], fallback: T): T {
    const raw = this.values[name];
    // A config file's true/false for an on|off choice.
    const v = typeof raw === 'boolean' && this.labels[name] && choices.includes('on' as T) && choices.includes('off' as T) ? (raw ? 'on' : 'off') : this.str(name);
    if (v === undefined) return fallback;
    if (!choices.includes(v as T)) this.fail(name, `must be one of ${choices.join(', ')}, got "${v}"${didYouMean(v, choices)}`);
    return v as T;
  }

  /** A comma-separated list (blank items dropped). */
  list(name: string): string[] | undefined {
    const v = this.str(name);
    return v?.split(',').map((x) => x.trim()).filter(Boolean);
  }

  /** A file that must exist (and not be a directory). */
  inputFile(name: string): string | undefined {
    const p = this.str(name);
    if (p === undefined) return undefined;
    if (!existsSync(p)) this.fail(name, `names ${p}, which does not exist`);
    if (statSync(p).isDirectory()) this.fail(name, `names ${p}, which is a directory, not a file`);
    return p;
  }

  /**
   * An output file: refused when it is a directory or when its folder exists as a file; a missing
   * folder is fine (`prepareOutputFile` creates it once every check has passed).
   */
  outputFile(name: string, fallback: string): string {
    const p = this.str(name) ?? fallback;
    if (existsSync(p) && statSync(p).isDirectory()) this.fail(name, `names ${p}, which is a directory; give a file path such as ${p.replace(/\/$/, '')}/synthetic.jsonl`);
    const parent = nearestExisting(dirname(resolve(p)));
    if (!statSync(parent).isDirectory()) this.fail(name, `cannot be created: ${parent} is a file, not a folder`);
    return p;
  }

  /** An output folder: refused when it exists as a file. */
  outputDir(name: string, fallback: string): string {
    const p = this.str(name) ?? fallback;
    if (existsSync(p) && !statSync(p).isDirectory()) this.fail(name, `names ${p}, which is a file, not a folder`);
    const parent = nearestExisting(resolve(p));
    if (!statSync(parent).isDirectory()) this.fail(name, `cannot be created: ${parent} is a file, not a folder`);
    return p;
  }
}

function nearestExisting(p: string): string {
  let cur = p;
  while (!existsSync(cur)) {
    const up = dirname(cur);
    if (up === cur) break;
    cur = up;
  }
  return cur;
}
