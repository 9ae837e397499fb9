/**
 * Resumable upload of one class contribution as a client stream of chunks. Before each attempt
 * the client asks the coordinator for the upload's status: "complete" is success (a re-run
 * client, or a retry after the answer was lost), otherwise it starts from the chunks already
 * held. Transient failures are retried with the shared backoff (@synthgrad/protocol retry.ts),
 * long enough to outlive a coordinator restart; invalid input is not retried.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Metadata, status, type ClientWritableStream, type ServiceError } from '@grpc/grpc-js';
import { floatToHalfBits } from '@synthgrad/core';
import { DType, isTransient, retry, type BackoffOptions, type ContributionChunk, type CoordinatorClient, type UploadAck } from '@synthgrad/protocol';

export interface UploadOptions {
  sessionId: string;
  classIndex: number;
  uploadId: string;
  shape: [number, number];
  dtype?: DType;
  chunkBytes?: number;
  noiseStd: number;
  clip: number;
  /** Retry policy (default: the shared backoff, 2 minutes in all). */
  backoff?: BackoffOptions;
  deadlineMs?: number;
  /** Test hook: stop sending after this many chunks in the first attempt (simulates a dropped connection). */
  dropAfterChunks?: number;
  onChunk?: (sent: number, total: number) => void;
  /** Called when an attempt starts past chunk 0 because the coordinator already holds the rest. */
  onResume?: (first: number, total: number) => void;
  /** Called before waiting to retry a transient failure. */
  onRetry?: (e: ServiceError, delayMs: number) => void;
}

export function encode(values: Float32Array, dtype: DType): Uint8Array {
  if (dtype === DType.DTYPE_FLOAT32) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint8Array(values.length * 2);
  for (let i = 0; i < values.length; i++) {
    const h = floatToHalfBits(values[i]);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >> 8;
  }
  return out;
}

export function bearer(token: string): Metadata {
  const md = new Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
}

export async function uploadContribution(client: CoordinatorClient, token: string, values: Float32Array, o: UploadOptions): Promise<UploadAck> {
  const dtype = o.dtype ?? DType.DTYPE_FLOAT32;
  const bytes = encode(values, dtype);
  // The protocol's rule: chunk_count equal chunks of ceil(total / chunk_count) bytes, the last shorter.
  const chunkCount = Math.ceil(bytes.length / (o.chunkBytes ?? 1 << 20));
  const chunkBytes = Math.ceil(bytes.length / chunkCount);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  // The norm of what is actually sent (after any float16 rounding).
  let sq = 0;
  if (dtype === DType.DTYPE_FLOAT32) for (const v of values) sq += v * v;
  else {
    const { halfTable } = await import('@synthgrad/core');
    const t = halfTable();
    for (let i = 0; i < values.length; i++) sq += t[bytes[2 * i] | (bytes[2 * i + 1] << 8)] ** 2;
  }
  const l2Norm = Math.sqrt(sq);
  return retry(
    async (attempt) => {
      const at = await uploadStatus(client, token, o);
      if (at.complete) return at; // already counted: nothing to send
      return sendFrom(at.chunksReceived, attempt === 0 ? o.dropAfterChunks : undefined);
    },
    { ...o.backoff, retryable: isTransient, onRetry: (e, d) => o.onRetry?.(e as ServiceError, d) },
  );

  async function sendFrom(first: number, dropAfter?: number): Promise<UploadAck> {
    if (first > 0) o.onResume?.(first, chunkCount);
    const deadline = new Date(Date.now() + (o.deadlineMs ?? 120_000));
    let stream!: ClientWritableStream<ContributionChunk>;
    const acked = new Promise<UploadAck>((resolve, reject) => {
      stream = client.uploadContribution(bearer(token), { deadline }, (e, ack) => (e ? reject(e) : resolve(ack!)));
    });
    // Respect flow control: wait for 'drain' instead of queueing the whole payload in memory.
    const write = async (m: ContributionChunk) => {
      if (!stream.write(m)) await Promise.race([once(stream, 'drain'), acked]);
    };
    await write({
      header: { sessionId: o.sessionId, uploadId: o.uploadId, classIndex: o.classIndex, shape: o.shape, dtype, totalBytes: bytes.length, sha256, chunkCount, noiseStd: o.noiseStd, clip: o.clip, firstChunk: first, l2Norm },
    });
    for (let i = first; i < chunkCount; i++) {
      if (dropAfter !== undefined && i - first >= dropAfter) {
        await new Promise((r) => setTimeout(r, 200)); // let what was written reach the coordinator
        stream.cancel();
        return acked;
      }
      await write({ chunk: { index: i, data: Buffer.from(bytes.buffer, bytes.byteOffset + i * chunkBytes, Math.min(chunkBytes, bytes.length - i * chunkBytes)) } });
      o.onChunk?.(i + 1, chunkCount);
    }
    stream.end();
    return acked;
  }
}

/** The coordinator's view of this upload: chunks held and whether it is counted (none yet: 0). */
function uploadStatus(client: CoordinatorClient, token: string, o: UploadOptions): Promise<UploadAck> {
  return new Promise((resolve, reject) =>
    client.getUploadStatus({ sessionId: o.sessionId, uploadId: o.uploadId }, bearer(token), { deadline: new Date(Date.now() + 30_000) }, (e, r) => {
      if (!e) resolve(r!);
      else if (e.code === status.NOT_FOUND && /^no upload /.test(e.details)) resolve({ uploadId: o.uploadId, chunksReceived: 0, complete: false });
      else reject(e);
    }),
  );
}
