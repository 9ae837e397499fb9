/**
 * Backend selection. Order for 'auto': tfjs-node-gpu, tfjs-node (both optional: they download
 * libtensorflow at install time, so they are never dependencies), then wasm (the default that
 * always installs), then the pure-JS cpu backend as the last resort.
 */
import * as tf from '@tensorflow/tfjs-core';
import { SynthgradError } from '../util/errors.js';
import { installTransposeFix } from './transpose-fix.js';
import { installSharedIdentity } from './shared-identity.js';

export const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface ActiveBackend {
  /** tfjs backend name: 'tensorflow', 'wasm' or 'cpu'. */
  name: string;
  /** What was asked for and where the request came from. */
  requested: BackendChoice;
  /** Package that provides it. */
  package: string;
  transposeFix: boolean;
}

let active: ActiveBackend | undefined;

async function tryImport(pkg: string): Promise<boolean> {
  try {
    await import(pkg);
    return true;
  } catch {
    return false;
  }
}

async function activate(name: string): Promise<boolean> {
  try {
    return (await tf.setBackend(name)) && tf.getBackend() === name;
  } catch {
    return false;
  }
}

export interface BackendOptions {
  /** Defaults to $SYNTHGRAD_BACKEND, then 'auto'. */
  backend?: string;
  /** Apply the wasm transposed-matmul fix (default true; false only to measure it). */
  transposeFix?: boolean;
}

export async function initBackend(opts: BackendOptions = {}): Promise<ActiveBackend> {
  const raw = (opts.backend ?? process.env.SYNTHGRAD_BACKEND ?? 'auto').trim() || 'auto';
  if (!(BACKEND_CHOICES as readonly string[]).includes(raw)) {
    throw new SynthgradError(`unknown backend "${raw}"; choose one of ${BACKEND_CHOICES.join(', ')}`);
  }
  const requested = raw as BackendChoice;
  const candidates: { choice: BackendChoice; pkg: string; name: string }[] = [
    { choice: 'tensorflow-gpu', pkg: '@tensorflow/tfjs-node-gpu', name: 'tensorflow' },
    { choice: 'tensorflow', pkg: '@tensorflow/tfjs-node', name: 'tensorflow' },
    { choice: 'wasm', pkg: '@tensorflow/tfjs-backend-wasm', name: 'wasm' },
    { choice: 'cpu', pkg: '@tensorflow/tfjs-backend-cpu', name: 'cpu' },
  ];
  const order = requested === 'auto' ? candidates : candidates.filter((c) => c.choice === requested);
  for (const c of order) {
    if (!(await tryImport(c.pkg))) {
      if (requested !== 'auto') throw new SynthgradError(`backend "${requested}" needs the package ${c.pkg}, which is not installed`);
      continue;
    }
    if (!(await activate(c.name))) {
      if (requested !== 'auto') throw new SynthgradError(`backend "${requested}" (${c.pkg}) failed to initialise`);
      continue;
    }
    const fix = c.name === 'wasm' && opts.transposeFix !== false ? installTransposeFix('wasm') : false;
    if (c.name === 'wasm') installSharedIdentity('wasm');
    active = { name: c.name, requested, package: c.pkg, transposeFix: fix };
    return active;
  }
  throw new SynthgradError('no TensorFlow.js backend could be initialised');
}

export function activeBackend(): ActiveBackend | undefined {
  return active;
}
