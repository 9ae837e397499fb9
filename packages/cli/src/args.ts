/** Small typed wrappers over node:util parseArgs, so every command validates its flags the same way. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SynthgradError } from '@synthgrad/core';

export type Options = NonNullable<ParseArgsConfig['options']>;

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

export function parse<O extends Options>(
  argv: string[],
  options: O,
  usage: string,
): { values: ParsedValues<O & typeof COMMON_OPTIONS> } {
  let values: ParsedValues<O & typeof COMMON_OPTIONS>;
  try {
    values = parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...options }, allowPositionals: false, strict: true }).values as unknown as ParsedValues<O & typeof COMMON_OPTIONS>;
  } catch (e) {
    throw new SynthgradError(`${(e as Error).message}\n\n${usage}`, 'E_USAGE');
  }
  // Unknown flags fail above even with --help, so `CMD --help` also checks that a command line is valid.
  if (values.help) throw new HelpRequested(usage);
  // --threads reaches the backend through the environment: TensorFlow reads its thread count once,
  // when the first backend of the process starts, wherever in a command that happens.
  if (values.threads !== undefined) process.env.SYNTHGRAD_THREADS = String(intFlag(values.threads as string, 'threads', 1));
  return { values };
}

export function intFlag(value: string | undefined, name: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new SynthgradError(`--${name} must be an integer >= ${min}, got "${value}"`, 'E_USAGE');
  return n;
}
