/**
 * One pass over an assembled upload: sha256, finiteness, L2 norm and the count of entries of at
 * least sigma/2 in magnitude (see domain/contribution-bound.ts). It reads the file in 1 MiB
 * pieces with asynchronous I/O and yields to the event loop after each piece, so verifying a
 * 113 MB contribution never holds up health checks or other calls for more than a few
 * milliseconds (before, one synchronous pass stalled the coordinator for up to 1.25 s).
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { halfTable } from '@synthgrad/core';
import { DType } from '@synthgrad/protocol';

export interface PayloadReport {
  sha256: string;
  norm: number;
  largeEntries: number;
  /** Index of the first non-finite value, if any. */
  nonFinite?: { index: number; value: number };
}

const PIECE = 1 << 20;

export async function verifyPayload(path: string, dtype: DType, sigma: number): Promise<PayloadReport> {
  const hash = createHash('sha256');
  const width = dtype === DType.DTYPE_FLOAT16 ? 2 : 4;
  const half = width === 2 ? halfTable() : undefined;
  const large = sigma / 2;
  const buf = Buffer.allocUnsafeSlow(PIECE); // its own ArrayBuffer at offset 0: aligned for Float32Array
  let sq = 0;
  let largeEntries = 0;
  let index = 0;
  let nonFinite: PayloadReport['nonFinite'];
  const f = await open(path, 'r');
  try {
    for (;;) {
      const { bytesRead } = await f.read(buf, 0, PIECE, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      const n = Math.floor(bytesRead / width);
      const f32 = half ? undefined : new Float32Array(buf.buffer, 0, n);
      for (let i = 0; i < n; i++) {
        const v = f32 ? f32[i] : half![buf[2 * i] | (buf[2 * i + 1] << 8)];
        if (!Number.isFinite(v)) {
          nonFinite ??= { index: index + i, value: v };
          continue;
        }
        sq += v * v;
        if (Math.abs(v) >= large) largeEntries++;
      }
      index += n;
      await yieldToLoop();
    }
  } finally {
    await f.close();
  }
  return { sha256: hash.digest('hex'), norm: Math.sqrt(sq), largeEntries, nonFinite };
}
