/**
 * Backend selection. 'auto' takes the fastest backend that works here, in this order:
 * tensorflow-gpu (tfjs-node-gpu), tensorflow (tfjs-node), wasm, cpu. The two native ones are
 * optional dependencies whose binding `npm run setup` / `setup:gpu` builds from the PyPI
 * TensorFlow wheel (hub/native-backend.ts); until it is built their import fails and auto moves
 * on, recording why, so `--verbose` can say what was chosen and what was passed over.
 *
 * tfjs-node-gpu also runs without a GPU (TensorFlow falls back to its CPU kernels), so 'auto'
 * only keeps it when TensorFlow reports a GPU device; otherwise the CPU build is as fast and
 * starts sooner.
 */
import * as tf from '@tensorflow/tfjs-core';
import { availableParallelism } from 'node:os';
import { SynthgradError } from '../util/errors.js';
import { installTransposeFix } from './transpose-fix.js';
import { installSharedIdentity } from './shared-identity.js';
import { nativeBindingProblem } from '../hub/native-backend.js';

export const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface ActiveBackend {
  /** tfjs backend name: 'tensorflow', 'wasm' or 'cpu'. */
  name: string;
  /** The choice that is active ('tensorflow-gpu', 'tensorflow', 'wasm' or 'cpu'). */
  choice: Exclude<BackendChoice, 'auto'>;
  /** What was asked for. */
  requested: BackendChoice;
  /** Package that provides it. */
  package: string;
  transposeFix: boolean;
  /** Intra-op threads the backend may use (wasm: always 1 in Node). */
  threads: number;
  /** Why each faster candidate was passed over (auto only), e.g. "tensorflow-gpu: no GPU". */
  skipped: string[];
}

let active: ActiveBackend | undefined;

export interface BackendOptions {
  /** Defaults to $SYNTHGRAD_BACKEND, then 'auto'. */
  backend?: string;
  /** Apply the wasm transposed-matmul fix (default true; false only to measure it). */
  transposeFix?: boolean;
  /**
   * Intra-op threads for the native backends (default $SYNTHGRAD_THREADS, else every core).
   * TensorFlow reads it once, when its context is created: only the first initBackend of a
   * process can set it.
   */
  threads?: number;
}

interface Candidate {
  choice: Exclude<BackendChoice, 'auto'>;
  pkg: string;
  name: string;
}

const CANDIDATES: Candidate[] = [
  { choice: 'tensorflow-gpu', pkg: '@tensorflow/tfjs-node-gpu', name: 'tensorflow' },
  { choice: 'tensorflow', pkg: '@tensorflow/tfjs-node', name: 'tensorflow' },
  { choice: 'wasm', pkg: '@tensorflow/tfjs-backend-wasm', name: 'wasm' },
  { choice: 'cpu', pkg: '@tensorflow/tfjs-backend-cpu', name: 'cpu' },
];

/** First line of an import failure. */
function importFailure(c: Candidate, e: unknown): string {
  const msg = String((e as Error)?.message ?? e).split('\n')[0];
  if (/Cannot find (module|package)|ERR_MODULE_NOT_FOUND/.test(msg)) return `${c.pkg} not installed`;
  return msg.length > 160 ? `${msg.slice(0, 157)}...` : msg;
}

function resolveThreads(threads: number | undefined): number {
  const raw = threads ?? (process.env.SYNTHGRAD_THREADS ? Number(process.env.SYNTHGRAD_THREADS) : undefined);
  if (raw === undefined) return availableParallelism();
  if (!Number.isInteger(raw) || raw < 1) throw new SynthgradError(`threads must be a positive integer, got ${raw}`);
  return raw;
}

/** Set TensorFlow's thread pools and quiet its start-up banner; must precede the first import. */
function configureNativeEnv(threads: number): void {
  process.env.TF_NUM_INTRAOP_THREADS ??= String(threads);
  process.env.TF_NUM_INTEROP_THREADS ??= '1';
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
}

async function activate(name: string): Promise<boolean> {
  try {
    return (await tf.setBackend(name)) && tf.getBackend() === name;
  } catch {
    return false;
  }
}

/** Whether TensorFlow placed its device on a GPU (tfjs-node's backend records it at start). */
function nativeHasGpu(): boolean {
  return (tf.backend() as unknown as { isUsingGpuDevice?: boolean }).isUsingGpuDevice === true;
}

export async function initBackend(opts: BackendOptions = {}): Promise<ActiveBackend> {
  const raw = (opts.backend ?? process.env.SYNTHGRAD_BACKEND ?? 'auto').trim() || 'auto';
  if (!(BACKEND_CHOICES as readonly string[]).includes(raw)) {
    throw new SynthgradError(`unknown backend "${raw}"; choose one of ${BACKEND_CHOICES.join(', ')}`);
  }
  const requested = raw as BackendChoice;
  const threads = resolveThreads(opts.threads);
  const order = requested === 'auto' ? CANDIDATES : CANDIDATES.filter((c) => c.choice === requested);
  const skipped: string[] = [];
  for (const c of order) {
    const problem = c.name === 'tensorflow' ? nativeBindingProblem(c.pkg as '@tensorflow/tfjs-node') : undefined;
    if (problem) {
      if (requested !== 'auto') throw new SynthgradError(`backend "${requested}" is not available: ${problem}`);
      skipped.push(`${c.choice}: ${problem}`);
      continue;
    }
    if (c.name === 'tensorflow') configureNativeEnv(threads);
    try {
      await import(c.pkg);
    } catch (e) {
      const why = importFailure(c, e);
      if (requested !== 'auto') throw new SynthgradError(`backend "${requested}" is not available: ${why}`);
      skipped.push(`${c.choice}: ${why}`);
      continue;
    }
    if (!(await activate(c.name))) {
      if (requested !== 'auto') throw new SynthgradError(`backend "${requested}" (${c.pkg}) failed to initialise`);
      skipped.push(`${c.choice}: failed to initialise`);
      continue;
    }
    if (requested === 'auto' && c.choice === 'tensorflow-gpu' && !nativeHasGpu()) {
      skipped.push('tensorflow-gpu: built, but TensorFlow sees no GPU');
      continue;
    }
    const fix = c.name === 'wasm' && opts.transposeFix !== false ? installTransposeFix('wasm') : false;
    // Both overrides fix wasm-only costs; the native kernels handle transposes and saved tensors
    // themselves (re-checked in bench model: the fix would only add a copy there).
    if (c.name === 'wasm') installSharedIdentity('wasm');
    active = { name: c.name, choice: c.choice, requested, package: c.pkg, transposeFix: fix, threads: c.name === 'tensorflow' ? Number(process.env.TF_NUM_INTRAOP_THREADS) || threads : 1, skipped };
    return active;
  }
  throw new SynthgradError(`no TensorFlow.js backend could be initialised (${skipped.join('; ')})`);
}

export function activeBackend(): ActiveBackend | undefined {
  return active;
}

/** One line for --verbose: what runs, with how many threads, and why faster ones were passed over. */
export function describeBackend(b: ActiveBackend): string {
  const extras = [b.package, `${b.threads} thread${b.threads === 1 ? '' : 's'}`];
  if (b.transposeFix) extras.push('transposed-matmul fix on');
  const why = b.skipped.length ? `; passed over: ${b.skipped.join('; ')}` : '';
  return `backend: ${b.choice} (${extras.join(', ')})${why}`;
}
