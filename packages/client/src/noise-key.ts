/**
 * The data owner's secret noise key, kept on the owner's disk. The noise added to a contribution
 * comes from this key (SecureStream), so a restarted client recomputes exactly the contribution
 * it sent before (its resumed upload matches the chunks already stored, and the same data is
 * never released under two noise draws), while the coordinator, which never sees the key, cannot
 * remove the noise. Created once with mode 0600; losing it only means a fresh draw next time.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { keyFromHex, newSecretKey, SynthgradError } from '@synthgrad/core';

export function loadOrCreateNoiseKey(path: string): Buffer {
  if (existsSync(path)) return keyFromHex(readFileSync(path, 'utf8'), `${path}: noise key`);
  mkdirSync(dirname(path), { recursive: true });
  const key = newSecretKey();
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600); // exclusive: two clients racing on one folder never swap keys
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return keyFromHex(readFileSync(path, 'utf8'), `${path}: noise key`);
    throw new SynthgradError(`cannot create the noise key ${path}: ${(e as Error).message}`);
  }
  try {
    writeSync(fd, `${key.toString('hex')}\n`);
  } finally {
    closeSync(fd);
  }
  return key;
}
