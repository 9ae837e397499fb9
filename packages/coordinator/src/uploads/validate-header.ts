/**
 * Checks of a contribution header against the session it targets, before any byte is stored:
 * class index, tensor shape (the model's head, V x d), dtype, declared sizes and chunking, size
 * limits, and the privacy parameters the client says it applied (clip no larger, noise no
 * smaller than the session demands).
 */
import { analyticGaussianSigma } from '@synthgrad/core';
import { DType, type ContributionHeader } from '@synthgrad/protocol';
import { status, UploadError } from './upload-error.js';

export interface UploadLimits {
  /** Largest accepted payload of one class contribution. */
  maxTotalBytes: number;
  /** Largest accepted chunk. */
  maxChunkBytes: number;
  maxChunks: number;
}

export const DEFAULT_LIMITS: UploadLimits = {
  maxTotalBytes: 512 * 2 ** 20,
  maxChunkBytes: 4 * 2 ** 20,
  maxChunks: 4096,
};

/** What the coordinator knows about a session when it validates an upload. */
export interface UploadTarget {
  sessionId: string;
  classes: number;
  /** [vocab_size, d_model] of the session's model head. */
  shape: [number, number];
  privacy: { epsilon: number; delta: number; clip: number };
}

export function bytesPerElement(dtype: DType): number {
  if (dtype === DType.DTYPE_FLOAT32) return 4;
  if (dtype === DType.DTYPE_FLOAT16) return 2;
  throw new UploadError(status.INVALID_ARGUMENT, `dtype ${DType[dtype] ?? dtype} is not supported (FLOAT32 or FLOAT16)`);
}

/** Bytes of chunk `index` for an upload of `total` bytes in `count` equal chunks (the last shorter). */
export function chunkLength(total: number, count: number, index: number): number {
  const size = Math.ceil(total / count);
  return Math.max(0, Math.min(size, total - index * size));
}

export function validateHeader(h: ContributionHeader, target: UploadTarget, limits: UploadLimits = DEFAULT_LIMITS): void {
  const bad = (msg: string) => new UploadError(status.INVALID_ARGUMENT, msg);
  if (h.sessionId !== target.sessionId) throw bad(`header names session ${JSON.stringify(h.sessionId)}, the stream is for ${JSON.stringify(target.sessionId)}`);
  if (!/^[A-Za-z0-9._-]{8,128}$/.test(h.uploadId)) throw bad('upload_id must be 8-128 characters of [A-Za-z0-9._-]');
  if (!Number.isInteger(h.classIndex) || h.classIndex >= target.classes) throw bad(`class_index ${h.classIndex} is outside the session's ${target.classes} classes`);
  if (h.shape.length !== 2 || h.shape[0] !== target.shape[0] || h.shape[1] !== target.shape[1]) {
    throw bad(`shape [${h.shape.join(', ')}] does not match the session model's head [${target.shape.join(', ')}]`);
  }
  const expected = target.shape[0] * target.shape[1] * bytesPerElement(h.dtype);
  if (h.totalBytes !== expected) throw bad(`total_bytes ${h.totalBytes} != ${expected} for shape [${h.shape.join(', ')}] in ${DType[h.dtype]}`);
  if (expected > limits.maxTotalBytes) throw new UploadError(status.RESOURCE_EXHAUSTED, `contribution of ${expected} bytes exceeds the limit of ${limits.maxTotalBytes}`);
  if (!Number.isInteger(h.chunkCount) || h.chunkCount < 1) throw bad('chunk_count must be at least 1');
  if (h.chunkCount > limits.maxChunks) throw new UploadError(status.RESOURCE_EXHAUSTED, `chunk_count ${h.chunkCount} exceeds the limit of ${limits.maxChunks}`);
  if (Math.ceil(h.totalBytes / h.chunkCount) > limits.maxChunkBytes) {
    throw new UploadError(status.RESOURCE_EXHAUSTED, `chunks of ${Math.ceil(h.totalBytes / h.chunkCount)} bytes exceed the limit of ${limits.maxChunkBytes}; use more chunks`);
  }
  if (chunkLength(h.totalBytes, h.chunkCount, h.chunkCount - 1) <= 0) throw bad(`chunk_count ${h.chunkCount} leaves empty chunks for ${h.totalBytes} bytes`);
  if (!/^[0-9a-f]{64}$/.test(h.sha256)) throw bad('sha256 must be 64 lower-case hex digits');
  if (h.firstChunk >= h.chunkCount) throw bad(`first_chunk ${h.firstChunk} is past the last chunk`);
  if (!(Number.isFinite(h.l2Norm) && h.l2Norm >= 0)) throw bad('l2_norm must be a finite non-negative number');
  const { epsilon, delta, clip } = target.privacy;
  if (!(h.clip > 0) || h.clip > clip * (1 + 1e-9)) {
    throw new UploadError(status.FAILED_PRECONDITION, `clip ${h.clip} is not within the session's per-example bound ${clip}`);
  }
  if (epsilon > 0) {
    const sigma = analyticGaussianSigma(epsilon, delta, clip);
    if (!(h.noiseStd >= sigma * (1 - 1e-9))) {
      throw new UploadError(status.FAILED_PRECONDITION, `noise_std ${h.noiseStd} is below the ${sigma} the session's (epsilon ${epsilon}, delta ${delta}, clip ${clip}) requires`);
    }
  }
}
