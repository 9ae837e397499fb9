/**
 * The one error model of synthgrad's libraries: an error caused by input the user can fix (a file,
 * a value, an option), with a typed code. The CLI prints only its message and exits 2 for
 * E_USAGE, 1 otherwise. This file has no dependencies, so `@synthgrad/core/errors` can be
 * imported without loading the ML stack.
 */
export type SynthgradErrorCode =
  /** A bad option or command line (exit 2). */
  | 'E_USAGE'
  /** A data file: unreadable, malformed, unknown label, empty class (message names FILE:LINE). */
  | 'E_DATA'
  /** Any other bad input. */
  | 'E_INPUT'
  /** Stopped on request (Ctrl-C); finished work is saved. */
  | 'E_INTERRUPTED'
  | 'E_MODEL_INVALID'
  | 'E_MODEL_MISSING'
  | 'E_MODEL_TRUNCATED'
  | 'E_MODEL_UNSUPPORTED'
  | 'E_UNSUPPORTED_QUANT'
  /** Fetching the model or the data set failed. */
  | 'E_PULL'
  /** Building or loading the native TensorFlow backend failed (setup falls back to wasm unless required). */
  | 'E_NATIVE'
  | 'E_SHAPE_MISMATCH'
  /** Secure aggregation: a message out of turn, from a non-party, or in another party's name. */
  | 'E_PROTOCOL'
  /** Secure aggregation: too few parties (or shares) remain to finish. */
  | 'E_THRESHOLD';

export class SynthgradError extends Error {
  constructor(
    message: string,
    readonly code: SynthgradErrorCode = 'E_INPUT',
  ) {
    super(message);
    this.name = 'SynthgradError';
  }
}

/** True for a SynthgradError, also one from another copy of this module. */
export function isSynthgradError(e: unknown): e is SynthgradError {
  return e instanceof SynthgradError || (e instanceof Error && e.name === 'SynthgradError' && typeof (e as { code?: unknown }).code === 'string');
}
