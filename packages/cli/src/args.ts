/**
 * The command-line parser every command uses. Own code rather than node:util parseArgs so that
 * errors are one line a user can act on: `--epsilon -1` reads -1 as the value (parseArgs calls it
 * ambiguous), a flag without a value says so, and an unknown flag gets "did you mean".
 * Light by design: nothing here loads the ML stack.
 */
import { UsageError } from './usage-error.js';
import { didYouMean } from './suggest.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  default?: string | boolean;
}
export type Options = Record<string, OptionSpec>;

/** The parsed flag values for an options table (strings, booleans, or undefined when absent). */
export type ParsedValues<O extends Options> = {
  [K in keyof O]: O[K] extends { type: 'boolean' } ? boolean | undefined : string | undefined;
};

/** Flags every command accepts. */
export const COMMON_OPTIONS = {
  backend: { type: 'string' },
  threads: { type: 'string' },
  verbose: { type: 'boolean', short: 'v', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies Options;

/** Thrown by parse() for --help once the other flags have been validated; main prints the usage and exits 0. */
export class HelpRequested extends Error {
  constructor(readonly usage: string) {
    super('help requested');
  }
}

/** A value that starts with "-" but is a number (`--epsilon -1`), so it is a value, not a flag. */
const NUMERIC = /^-(\d|\.\d|Infinity$)/;

/**
 * Parse `argv` against `options` (plus COMMON_OPTIONS). `usage` is what --help prints; `command`
 * ("generate", "model next-token") is named in errors so they point to the right help.
 */
export function parse<O extends Options>(
  argv: string[],
  options: O,
  usage: string,
  command?: string,
): { values: ParsedValues<O & typeof COMMON_OPTIONS>; explicit: Set<string> } {
  const all: Options = { ...COMMON_OPTIONS, ...options };
  const names = Object.keys(all);
  const byShort = new Map(Object.entries(all).filter(([, s]) => s.short).map(([n, s]) => [s.short!, n]));
  const values: Record<string, string | boolean | undefined> = {};
  const explicit = new Set<string>();
  for (const [n, s] of Object.entries(all)) if (s.default !== undefined) values[n] = s.default;
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i];
    if (tok === '--') {
      if (i + 1 < argv.length) throw new UsageError(`unexpected argument ${JSON.stringify(argv[i + 1])}`, command);
      break;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      name = eq < 0 ? tok.slice(2) : tok.slice(2, eq);
      inline = eq < 0 ? undefined : tok.slice(eq + 1);
    } else if (/^-[A-Za-z]$/.test(tok)) {
      name = byShort.get(tok.slice(1));
      if (name === undefined) throw new UsageError(`unknown flag ${tok}`, command);
    } else {
      throw new UsageError(`unexpected argument ${JSON.stringify(tok)}${tok.startsWith('-') ? '' : ' (flags start with --)'}`, command);
    }
    const spec = all[name];
    if (!spec) throw new UsageError(`unknown flag --${name}${didYouMean(name, names, (s) => `--${s}`)}`, command);
    if (spec.type === 'boolean') {
      if (inline !== undefined && inline !== 'true' && inline !== 'false') throw new UsageError(`--${name} takes no value`, command);
      values[name] = inline !== 'false';
    } else {
      let v = inline;
      if (v === undefined) {
        const next = argv[i + 1];
        if (next === undefined || (next.startsWith('-') && next !== '-' && !NUMERIC.test(next))) throw new UsageError(`--${name} needs a value`, command);
        v = next;
        i++;
      }
      values[name] = v;
    }
    explicit.add(name);
  }
  // Unknown flags fail above even with --help, so `CMD --help` also checks that a command line is valid.
  if (values.help) throw new HelpRequested(usage);
  // --threads reaches the backend through the environment: TensorFlow reads its thread count once,
  // when the first backend of the process starts, wherever in a command that happens.
  if (values.threads !== undefined) process.env.SYNTHGRAD_THREADS = String(intFlag(values.threads as string, 'threads', 1));
  return { values: values as ParsedValues<O & typeof COMMON_OPTIONS>, explicit };
}

/** Integer flag (`name` without dashes), kept for the commands that call it directly. */
export function intFlag(value: string | undefined, name: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got "${value}"`);
  return n;
}
