/**
 * Atomic and durable small-file writes: write a temporary file, fsync it, rename it over the
 * target, fsync the folder. After a crash the target holds the old or the new content, never a
 * mix, and a write that returned is on disk.
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';

export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * fsync in libuv's thread pool: flushing a 113 MB contribution takes long enough (hundreds of
 * ms) that doing it synchronously stalled every other call, health checks included.
 */
export async function fsyncPathAsync(path: string): Promise<void> {
  const f = await open(path, 'r');
  try {
    await f.sync();
  } finally {
    await f.close();
  }
}

export function writeFileDurably(path: string, content: string | Uint8Array, mode = 0o644): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncPath(dirname(path));
}
