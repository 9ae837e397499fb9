/** Contribution uploads: every malformed header or payload gets its gRPC status; resume and retries work across restarts. */
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { floatToHalfBits } from '@synthgrad/core';
import { DType, type ContributionHeader } from '@synthgrad/protocol';
import { UploadError, UploadStore, chunkLength, type UploadTarget } from '@synthgrad/coordinator';

const target: UploadTarget = { sessionId: 'sess-1', classes: 2, shape: [6, 5], privacy: { epsilon: 1, delta: 1e-5, clip: 1 } };
const SIGMA = 3.7306316; // analytic Gaussian for (1, 1e-5) at clip 1

function payload(values: Float32Array, dtype = DType.DTYPE_FLOAT32): Uint8Array {
  if (dtype === DType.DTYPE_FLOAT32) return new Uint8Array(values.buffer.slice(0));
  const out = new Uint8Array(values.length * 2);
  values.forEach((v, i) => {
    const h = floatToHalfBits(v);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >> 8;
  });
  return out;
}

function upload(values: Float32Array, over: Partial<ContributionHeader> = {}, dtype = DType.DTYPE_FLOAT32) {
  const bytes = payload(values, dtype);
  const header: ContributionHeader = {
    sessionId: 'sess-1',
    uploadId: 'client-a.class-0',
    classIndex: 0,
    shape: [6, 5],
    dtype,
    totalBytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    chunkCount: 4,
    noiseStd: 4,
    clip: 1,
    firstChunk: 0,
    l2Norm: Math.hypot(...values),
    ...over,
  };
  const chunks = Array.from({ length: header.chunkCount }, (_, i) => {
    const size = Math.ceil(bytes.length / header.chunkCount);
    return bytes.subarray(i * size, i * size + chunkLength(bytes.length, header.chunkCount, i));
  });
  return { header, chunks };
}

const values = Float32Array.from({ length: 30 }, (_, i) => Math.sin(i) * 3);
const store = () => new UploadStore(mkdtempSync(join(tmpdir(), 'synthgrad-uploads-')));

function codeOf(f: () => unknown): number | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof UploadError) return e.code;
    throw e;
  }
  return undefined;
}

describe('upload validation', () => {
  const cases: [string, Partial<ContributionHeader>, number][] = [
    ['another session', { sessionId: 'sess-2' }, status.INVALID_ARGUMENT],
    ['a bad upload id', { uploadId: 'x' }, status.INVALID_ARGUMENT],
    ['an unknown class', { classIndex: 2 }, status.INVALID_ARGUMENT],
    ['a wrong shape', { shape: [5, 6] }, status.INVALID_ARGUMENT],
    ['an unknown dtype', { dtype: DType.DTYPE_UNSPECIFIED }, status.INVALID_ARGUMENT],
    ['a size that does not match the shape', { totalBytes: 100 }, status.INVALID_ARGUMENT],
    ['too many chunks', { chunkCount: 10_000 }, status.RESOURCE_EXHAUSTED],
    ['empty trailing chunks', { chunkCount: 100 }, status.INVALID_ARGUMENT],
    ['a malformed sha256', { sha256: 'abc' }, status.INVALID_ARGUMENT],
    ['a non-finite norm', { l2Norm: NaN }, status.INVALID_ARGUMENT],
    ['a clip looser than the session', { clip: 2 }, status.FAILED_PRECONDITION],
    ['less noise than the session requires', { noiseStd: SIGMA * 0.9 }, status.FAILED_PRECONDITION],
  ];
  for (const [what, over, code] of cases) {
    it(`refuses ${what}`, () => {
      expect(codeOf(() => store().begin(upload(values, over).header, target))).toBe(code);
    });
  }

  it('refuses payloads larger than the limits', () => {
    const s = new UploadStore(mkdtempSync(join(tmpdir(), 'synthgrad-uploads-')), { maxTotalBytes: 64, maxChunkBytes: 1 << 20, maxChunks: 10 });
    expect(codeOf(() => s.begin(upload(values).header, target))).toBe(status.RESOURCE_EXHAUSTED);
  });
});

describe('upload storage', () => {
  it('assembles chunks, verifies them and reads the tensor back (float32 and float16)', () => {
    for (const dtype of [DType.DTYPE_FLOAT32, DType.DTYPE_FLOAT16]) {
      const s = store();
      const { header, chunks } = upload(values, {}, dtype);
      s.begin(header, target);
      let p = s.status(header.uploadId)!;
      chunks.forEach((c, i) => (p = s.writeChunk(header.uploadId, i, c)));
      expect(p.complete).toBe(true);
      const back = s.read(header.uploadId);
      back.forEach((v, i) => expect(v).toBeCloseTo(values[i], dtype === DType.DTYPE_FLOAT32 ? 6 : 2));
    }
  });

  it('resumes from the last acknowledged chunk after a restart, ignoring re-sent chunks', () => {
    const dir = mkdtempSync(join(tmpdir(), 'synthgrad-uploads-'));
    const { header, chunks } = upload(values);
    const first = new UploadStore(dir);
    first.begin(header, target);
    first.writeChunk(header.uploadId, 0, chunks[0]);
    first.writeChunk(header.uploadId, 1, chunks[1]);
    const again = new UploadStore(dir); // the coordinator restarted
    expect(again.begin({ ...header, firstChunk: 2 }, target).received).toBe(2);
    expect(again.writeChunk(header.uploadId, 1, chunks[1]).received).toBe(2); // retry: ignored
    expect(codeOf(() => again.writeChunk(header.uploadId, 3, chunks[3]))).toBe(status.OUT_OF_RANGE);
    again.writeChunk(header.uploadId, 2, chunks[2]);
    expect(again.writeChunk(header.uploadId, 3, chunks[3]).complete).toBe(true);
    expect(Array.from(again.read(header.uploadId))).toEqual(Array.from(values));
  });

  it('refuses a resume point past what was received, and an upload id reused for other data', () => {
    const s = store();
    const { header, chunks } = upload(values);
    s.begin(header, target);
    s.writeChunk(header.uploadId, 0, chunks[0]);
    expect(codeOf(() => s.begin({ ...header, firstChunk: 3 }, target))).toBe(status.OUT_OF_RANGE);
    expect(codeOf(() => s.begin({ ...header, classIndex: 1 }, target))).toBe(status.ALREADY_EXISTS);
    expect(codeOf(() => s.writeChunk(header.uploadId, 1, chunks[1].subarray(1)))).toBe(status.INVALID_ARGUMENT);
  });

  it('discards a payload whose sha256, values or norm are wrong', () => {
    const bad: [string, (u: ReturnType<typeof upload>) => void, number][] = [
      ['sha256', (u) => (u.chunks[2] = Uint8Array.from(u.chunks[2], (b) => b ^ 1)), status.DATA_LOSS],
      ['norm', (u) => (u.header.l2Norm *= 2), status.INVALID_ARGUMENT],
    ];
    for (const [, spoil, code] of bad) {
      const s = store();
      const u = upload(values);
      spoil(u);
      s.begin(u.header, target);
      u.chunks.slice(0, 3).forEach((c, i) => s.writeChunk(u.header.uploadId, i, c));
      expect(codeOf(() => s.writeChunk(u.header.uploadId, 3, u.chunks[3]))).toBe(code);
      expect(s.status(u.header.uploadId)).toBeUndefined();
    }
    const nan = Float32Array.from(values);
    nan[7] = NaN;
    const s = store();
    const u = upload(nan, { l2Norm: 1 });
    s.begin(u.header, target);
    u.chunks.slice(0, 3).forEach((c, i) => s.writeChunk(u.header.uploadId, i, c));
    expect(() => s.writeChunk(u.header.uploadId, 3, u.chunks[3])).toThrow(/value 7 of the contribution is not finite/);
  });
});
