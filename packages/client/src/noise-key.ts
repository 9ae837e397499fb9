/**
 * The data owner's secret noise key, kept in the owner's private folder (SYNTHGRAD_HOME, default
 * ~/.synthgrad; never in the output folder, which is meant to be shared). The noise of a session's
 * contribution comes from a key derived from it and the session id (SecureStream), so a restarted
 * client recomputes exactly the contribution it sent before (its resumed upload matches the chunks
 * already stored, and the same data is never released under two noise draws), while the
 * coordinator, which never sees the key, cannot remove the noise. Created once with mode 0600;
 * losing it only means fresh draws next time.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { deriveKey, keyFromHex, newSecretKey, synthgradHome, SynthgradError } from '@synthgrad/core';

/** $SYNTHGRAD_NOISE_KEY, else SYNTHGRAD_HOME/noise-key. */
export function defaultNoiseKeyPath(): string {
  return process.env.SYNTHGRAD_NOISE_KEY ?? join(synthgradHome(), 'noise-key');
}

/** The noise key of one session's contribution, from the owner's key. */
export const sessionNoiseKey = (ownerKey: Uint8Array, sessionId: string): Buffer => deriveKey(ownerKey, 'client-noise', sessionId);

const readKey = (path: string): Buffer => keyFromHex(readFileSync(path, 'utf8'), `${path}: noise key`);

export function loadOrCreateNoiseKey(path: string): Buffer {
  if (existsSync(path)) return readKey(path);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const key = newSecretKey();
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600); // exclusive: two clients racing on one folder never swap keys
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return readKey(path);
    throw new SynthgradError(`cannot create the noise key ${path}: ${(e as Error).message}`);
  }
  try {
    writeSync(fd, `${key.toString('hex')}\n`);
  } finally {
    closeSync(fd);
  }
  return key;
}
