/** Contribution uploads: every malformed header or payload gets its gRPC status; resume and retries work across restarts. */
import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyticGaussianSigma, floatToHalfBits } from '@synthgrad/core';
import { DType, type ContributionHeader } from '@synthgrad/protocol';
import { DomainError, UploadStore, chunkLength, type UploadKey, type UploadTarget } from '@synthgrad/coordinator';

const target: UploadTarget = { sessionId: 'sess-1', classes: 2, shape: [6, 5], privacy: { epsilon: 1, delta: 1e-5, clip: 1, maxExamples: 10 } };
const SIGMA = analyticGaussianSigma(1, 1e-5, 1); // 3.73...
const KEY: UploadKey = { clientId: 'client-a', uploadId: 'class-0-upload' };

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
    uploadId: KEY.uploadId,
    classIndex: 0,
    shape: [6, 5],
    dtype,
    totalBytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    chunkCount: 4,
    noiseStd: SIGMA,
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

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof DomainError) return e.kind;
    throw e;
  }
  return undefined;
}

async function asyncCodeOf(f: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await f();
  } catch (e) {
    if (e instanceof DomainError) return e.kind;
    throw e;
  }
  return undefined;
}

const IA = 'invalid-argument';
const FP = 'failed-precondition';
const RE = 'resource-exhausted';

describe('upload validation', () => {
  const cases: [string, Partial<ContributionHeader>, string][] = [
    ['another session', { sessionId: 'sess-2' }, IA],
    ['a bad upload id', { uploadId: 'x' }, IA],
    ['an upload id under 8 characters', { uploadId: 'class-0' }, IA],
    ['an upload id with a path', { uploadId: '../../../etc/passwd' }, IA],
    ['an upload id starting with a dot', { uploadId: '.hidden-upload' }, IA],
    ['an unknown class', { classIndex: 2 }, IA],
    ['a wrong shape', { shape: [5, 6] }, IA],
    ['an unknown dtype', { dtype: DType.DTYPE_UNSPECIFIED }, IA],
    ['a size that does not match the shape', { totalBytes: 100 }, IA],
    ['too many chunks', { chunkCount: 10_000 }, RE],
    ['empty trailing chunks', { chunkCount: 100 }, IA],
    ['a malformed sha256', { sha256: 'abc' }, IA],
    ['a non-finite norm', { l2Norm: NaN }, IA],
    ['a declared norm beyond clip x max_examples + noise', { l2Norm: 5e7 }, IA],
    ['a clip looser than the session', { clip: 2 }, FP],
    ['less noise than the session requires', { noiseStd: SIGMA * 0.9 }, FP],
    ['more noise than the session fixes (it would excuse any norm)', { noiseStd: SIGMA * 1e6 }, FP],
  ];
  for (const [what, over, code] of cases) {
    it(`refuses ${what}`, () => {
      expect(codeOf(() => store().begin(KEY, upload(values, over).header, target))).toBe(code);
    });
  }

  it('names the bound when it refuses a norm', () => {
    expect(() => store().begin(KEY, upload(values, { l2Norm: 5e7 }).header, target)).toThrow(/outside \[0, 60\.\d+\], what the session's bound allows \(clip 1 x max_examples 10 \+ noise sigma 3\.73063/);
  });

  it('refuses payloads larger than the limits', () => {
    const s = new UploadStore(mkdtempSync(join(tmpdir(), 'synthgrad-uploads-')), { maxTotalBytes: 64, maxChunkBytes: 1 << 20, maxChunks: 10 });
    expect(codeOf(() => s.begin(KEY, upload(values).header, target))).toBe(RE);
  });
});

describe('upload storage', () => {
  it('assembles chunks, verifies them and reads the tensor back (float32 and float16)', async () => {
    for (const dtype of [DType.DTYPE_FLOAT32, DType.DTYPE_FLOAT16]) {
      const s = store();
      const { header, chunks } = upload(values, {}, dtype);
      s.begin(KEY, header, target);
      chunks.forEach((c, i) => s.writeChunk(KEY, i, c));
      const p = await s.seal(KEY, target);
      expect(p.complete).toBe(true);
      const back = s.read(`${KEY.clientId}/${KEY.uploadId}`);
      back.forEach((v, i) => expect(v).toBeCloseTo(values[i], dtype === DType.DTYPE_FLOAT32 ? 6 : 2));
    }
  });

  it('resumes from the last acknowledged chunk after a restart, ignoring re-sent chunks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'synthgrad-uploads-'));
    const { header, chunks } = upload(values);
    const first = new UploadStore(dir);
    first.begin(KEY, header, target);
    first.writeChunk(KEY, 0, chunks[0]);
    first.writeChunk(KEY, 1, chunks[1]);
    const again = new UploadStore(dir); // the coordinator restarted
    expect(again.begin(KEY, { ...header, firstChunk: 2 }, target).received).toBe(2);
    expect(again.writeChunk(KEY, 1, chunks[1]).received).toBe(2); // retry: ignored
    expect(codeOf(() => again.writeChunk(KEY, 3, chunks[3]))).toBe('out-of-range');
    again.writeChunk(KEY, 2, chunks[2]);
    expect(again.writeChunk(KEY, 3, chunks[3]).received).toBe(4);
    expect((await again.seal(KEY, target)).complete).toBe(true);
    expect(Array.from(again.read(`${KEY.clientId}/${KEY.uploadId}`))).toEqual(Array.from(values));
  });

  it('re-derives progress from the part file when the record lags behind it (a crash between the two)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'synthgrad-uploads-'));
    const { header, chunks } = upload(values);
    const s = new UploadStore(dir);
    s.begin(KEY, header, target);
    s.writeChunk(KEY, 0, chunks[0]);
    // Half of chunk 1 reached the file, its record never did.
    appendFileSync(join(dir, KEY.clientId, `${KEY.uploadId}.part`), chunks[1].subarray(0, 3));
    expect(new UploadStore(dir).begin(KEY, { ...header, firstChunk: 1 }, target).received).toBe(1);
    expect(statSync(join(dir, KEY.clientId, `${KEY.uploadId}.part`)).size).toBe(chunks[0].length);
  });

  it('keeps each client\'s uploads apart, whatever dots their ids contain', () => {
    const s = store();
    const { header, chunks } = upload(values);
    s.begin({ clientId: 'a', uploadId: 'b.class-0-x' }, header, target);
    s.writeChunk({ clientId: 'a', uploadId: 'b.class-0-x' }, 0, chunks[0]);
    // Under the old flat names "a" + "b.class-0-x" and "a.b" + "class-0-x" were the same file.
    expect(s.status({ clientId: 'a.b', uploadId: 'class-0-x' })).toBeUndefined();
    expect(s.begin({ clientId: 'a.b', uploadId: 'class-0-x' }, header, target).received).toBe(0);
  });

  it('refuses a resume point past what was received, and an upload id reused for other data', () => {
    const s = store();
    const { header, chunks } = upload(values);
    s.begin(KEY, header, target);
    s.writeChunk(KEY, 0, chunks[0]);
    expect(codeOf(() => s.begin(KEY, { ...header, firstChunk: 3 }, target))).toBe('out-of-range');
    expect(codeOf(() => s.begin(KEY, { ...header, classIndex: 1 }, target))).toBe('already-exists');
    expect(codeOf(() => s.writeChunk(KEY, 1, chunks[1].subarray(1)))).toBe(IA);
  });

  it('discards a payload whose sha256, values or norm are wrong', async () => {
    const bad: [string, (u: ReturnType<typeof upload>) => void, string][] = [
      ['sha256', (u) => (u.chunks[2] = Uint8Array.from(u.chunks[2], (b) => b ^ 1)), 'data-loss'],
      ['norm', (u) => (u.header.l2Norm *= 2), IA],
    ];
    for (const [, spoil, code] of bad) {
      const s = store();
      const u = upload(values);
      spoil(u);
      s.begin(KEY, u.header, target);
      u.chunks.forEach((c, i) => s.writeChunk(KEY, i, c));
      expect(await asyncCodeOf(() => s.seal(KEY, target))).toBe(code);
      expect(s.status(KEY)).toBeUndefined();
    }
    const nan = Float32Array.from(values);
    nan[7] = NaN;
    const s = store();
    const u = upload(nan, { l2Norm: 1 });
    s.begin(KEY, u.header, target);
    u.chunks.forEach((c, i) => s.writeChunk(KEY, i, c));
    await expect(s.seal(KEY, target)).rejects.toThrow(/value 7 of the contribution is not finite/);
  });
});

describe('the session bound on a contribution', () => {
  // 5,000 entries, sigma 3.73, at most 10 examples of clip 1: an honest payload has norm ~264
  // and about 3,085 entries of at least sigma/2.
  const wide: UploadTarget = { ...target, shape: [100, 50] };
  const noise = (scale: number, seed = 1) => {
    let x = seed;
    const rand = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) + 0.5) / 2 ** 31;
    return Float32Array.from({ length: 5000 }, () => scale * SIGMA * Math.sqrt(-2 * Math.log(rand())) * Math.cos(2 * Math.PI * rand()));
  };
  const send = async (v: Float32Array) => {
    const s = store();
    const u = upload(v, { shape: [100, 50], chunkCount: 2 });
    s.begin(KEY, u.header, wide);
    u.chunks.forEach((c, i) => s.writeChunk(KEY, i, c));
    return s.seal(KEY, wide);
  };

  it('accepts honest noise', async () => {
    expect((await send(noise(1))).complete).toBe(true);
  });

  it('refuses an all-zero "noised" payload and shrunken noise at the header, naming the bound', () => {
    for (const v of [new Float32Array(5000), noise(0.3)]) {
      expect(() => store().begin(KEY, upload(v, { shape: [100, 50], chunkCount: 2 }).header, wide)).toThrow(/declared l2_norm .* is outside \[2\d\d\.\d+, 3\d\d\.\d+\]/);
    }
  });

  it('refuses a payload whose norm is plausible but whose noise is missing (one spike)', async () => {
    const spike = new Float32Array(5000);
    spike[0] = 250;
    await expect(send(spike)).rejects.toThrow(/only 1 of 5000 entries are at least sigma\/2 .* the noise is missing or too small/);
  });
});
