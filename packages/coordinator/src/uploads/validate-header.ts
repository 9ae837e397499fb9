/**
 * Checks of a contribution header against the session it targets, before any byte is stored:
 * class index, tensor shape (the model's head, V x d), dtype, declared sizes and chunking, size
 * limits, and the privacy parameters the client says it applied (clip no larger, noise no
 * smaller than the session demands).
 */
import { analyticGaussianSigma } from '@synthgrad/core';
import { DType, type ContributionHeader } from '@synthgrad/protocol';
import { DomainError, invalidArgument, quote } from '../domain/errors.js';
import { checkUploadId } from '../domain/names.js';
import { boundViolation, describeBound, fmt, normLimits, type SessionBound } from '../domain/contribution-bound.js';

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
  privacy: { epsilon: number; delta: number; clip: number; maxExamples: number };
}

/** The bound the session fixes for one contribution to it. */
export function sessionBound(target: UploadTarget): SessionBound {
  const { epsilon, delta, clip, maxExamples } = target.privacy;
  return { clip, maxExamples, sigma: epsilon > 0 ? analyticGaussianSigma(epsilon, delta, clip) : 0, elements: target.shape[0] * target.shape[1] };
}

export function bytesPerElement(dtype: DType): number {
  if (dtype === DType.DTYPE_FLOAT32) return 4;
  if (dtype === DType.DTYPE_FLOAT16) return 2;
  throw invalidArgument(`dtype ${DType[dtype] ?? dtype} is not supported (FLOAT32 or FLOAT16)`);
}

/** Bytes of chunk `index` for an upload of `total` bytes in `count` equal chunks (the last shorter). */
export function chunkLength(total: number, count: number, index: number): number {
  const size = Math.ceil(total / count);
  return Math.max(0, Math.min(size, total - index * size));
}

export function validateHeader(h: ContributionHeader, target: UploadTarget, limits: UploadLimits = DEFAULT_LIMITS): void {
  const bad = invalidArgument;
  const exhausted = (m: string) => new DomainError('resource-exhausted', m);
  if (h.sessionId !== target.sessionId) throw bad(`header names session ${quote(h.sessionId)}, the stream is for ${quote(target.sessionId)}`);
  checkUploadId(h.uploadId);
  if (!Number.isInteger(h.classIndex) || h.classIndex >= target.classes) throw bad(`class_index ${h.classIndex} is outside the session's ${target.classes} classes`);
  if (h.shape.length !== 2 || h.shape[0] !== target.shape[0] || h.shape[1] !== target.shape[1]) {
    throw bad(`shape [${h.shape.join(', ')}] does not match the session model's head [${target.shape.join(', ')}]`);
  }
  const expected = target.shape[0] * target.shape[1] * bytesPerElement(h.dtype);
  if (h.totalBytes !== expected) throw bad(`total_bytes ${h.totalBytes} != ${expected} for shape [${h.shape.join(', ')}] in ${DType[h.dtype]}`);
  if (expected > limits.maxTotalBytes) throw exhausted(`contribution of ${expected} bytes exceeds the limit of ${limits.maxTotalBytes}`);
  if (!Number.isInteger(h.chunkCount) || h.chunkCount < 1) throw bad('chunk_count must be at least 1');
  if (h.chunkCount > limits.maxChunks) throw exhausted(`chunk_count ${h.chunkCount} exceeds the limit of ${limits.maxChunks}`);
  if (Math.ceil(h.totalBytes / h.chunkCount) > limits.maxChunkBytes) {
    throw exhausted(`chunks of ${Math.ceil(h.totalBytes / h.chunkCount)} bytes exceed the limit of ${limits.maxChunkBytes}; use more chunks`);
  }
  if (chunkLength(h.totalBytes, h.chunkCount, h.chunkCount - 1) <= 0) throw bad(`chunk_count ${h.chunkCount} leaves empty chunks for ${h.totalBytes} bytes`);
  if (!/^[0-9a-f]{64}$/.test(h.sha256)) throw bad('sha256 must be 64 lower-case hex digits');
  // first_chunk == chunk_count: every chunk is in, the stream only asks for the verdict.
  if (!Number.isInteger(h.firstChunk) || h.firstChunk > h.chunkCount) throw bad(`first_chunk ${h.firstChunk} is past chunk_count ${h.chunkCount}`);
  if (!(Number.isFinite(h.l2Norm) && h.l2Norm >= 0)) throw bad('l2_norm must be a finite non-negative number');
  const bound = sessionBound(target);
  if (!(h.clip > 0) || h.clip > bound.clip * (1 + 1e-9)) {
    throw failed(`clip ${h.clip} is not within the session's per-example bound ${bound.clip}`);
  }
  // The session fixes the noise: less would weaken the owner's privacy, more would let a client
  // justify an arbitrarily large norm.
  if (bound.sigma > 0 && !(Math.abs(h.noiseStd - bound.sigma) <= 1e-6 * bound.sigma)) {
    const { epsilon, delta, clip } = target.privacy;
    throw failed(`noise_std ${h.noiseStd} is not the ${bound.sigma} the session's (epsilon ${epsilon}, delta ${delta}, clip ${clip}) fixes`);
  }
  // The declared norm is checked here, before any byte is stored; the actual one (which must
  // equal it) again after the last chunk.
  const l = normLimits(bound);
  if (h.l2Norm > l.maxNorm * (1 + 1e-6) || h.l2Norm < l.minNorm) {
    throw bad(`declared l2_norm ${h.l2Norm} is outside [${fmt(l.minNorm)}, ${fmt(l.maxNorm)}], what the session's bound allows (${describeBound(bound)})`);
  }
}

const failed = (m: string) => new DomainError('failed-precondition', m);

export { boundViolation };
