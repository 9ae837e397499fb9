/**
 * Durable, resumable storage of class contributions. Each upload is an append-only part file
 * plus a small progress record written atomically after every chunk, so a client that loses its
 * connection (or a coordinator that is killed) resumes from the last acknowledged chunk. Re-sent
 * chunks below that point are ignored: retries are idempotent. On the last chunk the payload is
 * checked (sha256, finite values, the declared norm) before it counts.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { halfTable } from '@synthgrad/core';
import { DType, type ContributionHeader } from '@synthgrad/protocol';
import { status, UploadError } from './upload-error.js';
import { chunkLength, validateHeader, DEFAULT_LIMITS, type UploadLimits, type UploadTarget } from './validate-header.js';

export interface UploadProgress {
  header: ContributionHeader;
  /** Contiguous chunks stored. */
  received: number;
  complete: boolean;
}

/** Header fields that identify an upload (first_chunk changes between attempts). */
const identity = (h: ContributionHeader) => JSON.stringify({ ...h, firstChunk: 0 });

export class UploadStore {
  constructor(
    readonly dir: string,
    private readonly limits: UploadLimits = DEFAULT_LIMITS,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  private paths(uploadId: string) {
    return { meta: join(this.dir, `${uploadId}.json`), part: join(this.dir, `${uploadId}.part`), data: join(this.dir, `${uploadId}.bin`) };
  }

  status(uploadId: string): UploadProgress | undefined {
    const { meta } = this.paths(uploadId);
    return existsSync(meta) ? (JSON.parse(readFileSync(meta, 'utf8')) as UploadProgress) : undefined;
  }

  private save(p: UploadProgress): void {
    const { meta } = this.paths(p.header.uploadId);
    writeFileSync(`${meta}.tmp`, JSON.stringify(p));
    renameSync(`${meta}.tmp`, meta);
  }

  /** Start or resume an upload. */
  begin(header: ContributionHeader, target: UploadTarget): UploadProgress {
    validateHeader(header, target, this.limits);
    const existing = this.status(header.uploadId);
    if (existing) {
      if (identity(existing.header) !== identity(header)) {
        throw new UploadError(status.ALREADY_EXISTS, `upload_id ${header.uploadId} was used for a different contribution`);
      }
      if (header.firstChunk > existing.received) {
        throw new UploadError(status.OUT_OF_RANGE, `first_chunk ${header.firstChunk} is past the ${existing.received} chunks received; resume from ${existing.received}`);
      }
      return existing;
    }
    if (header.firstChunk !== 0) throw new UploadError(status.OUT_OF_RANGE, `upload ${header.uploadId} is unknown; start from chunk 0`);
    const p: UploadProgress = { header, received: 0, complete: false };
    writeFileSync(this.paths(header.uploadId).part, new Uint8Array(0));
    this.save(p);
    return p;
  }

  /** Store chunk `index`; returns the progress after it. */
  writeChunk(uploadId: string, index: number, data: Uint8Array): UploadProgress {
    const p = this.status(uploadId);
    if (!p) throw new UploadError(status.FAILED_PRECONDITION, `upload ${uploadId} has no header`);
    if (p.complete || index < p.received) return p; // a retry of something already stored
    if (index > p.received) throw new UploadError(status.OUT_OF_RANGE, `chunk ${index} arrived before chunk ${p.received}`);
    const { totalBytes, chunkCount } = p.header;
    if (index >= chunkCount) throw new UploadError(status.OUT_OF_RANGE, `chunk ${index} is past chunk_count ${chunkCount}`);
    const want = chunkLength(totalBytes, chunkCount, index);
    if (data.length !== want) throw new UploadError(status.INVALID_ARGUMENT, `chunk ${index} has ${data.length} bytes, expected ${want}`);
    appendFileSync(this.paths(uploadId).part, data);
    p.received++;
    if (p.received === chunkCount) this.finish(p);
    else this.save(p);
    return p;
  }

  /** Verify the assembled payload; a bad one is discarded so the client can start over. */
  private finish(p: UploadProgress): void {
    const { part, data } = this.paths(p.header.uploadId);
    const bytes = readFileSync(part);
    const discard = (code: status, msg: string) => {
      this.discard(p.header.uploadId);
      return new UploadError(code, msg);
    };
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (sha !== p.header.sha256) throw discard(status.DATA_LOSS, `sha256 of the received payload is ${sha}, the header declared ${p.header.sha256}`);
    const values = decode(bytes, p.header.dtype);
    let sq = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!Number.isFinite(v)) throw discard(status.INVALID_ARGUMENT, `value ${i} of the contribution is not finite (${v})`);
      sq += v * v;
    }
    const norm = Math.sqrt(sq);
    if (Math.abs(norm - p.header.l2Norm) > 1e-3 * Math.max(1, norm)) {
      throw discard(status.INVALID_ARGUMENT, `payload norm ${norm} does not match the declared l2_norm ${p.header.l2Norm}`);
    }
    renameSync(part, data);
    p.complete = true;
    this.save(p);
  }

  discard(uploadId: string): void {
    for (const f of Object.values(this.paths(uploadId))) rmSync(f, { force: true });
  }

  /** The stored contribution as float32 (complete uploads only). */
  read(uploadId: string): Float32Array {
    const p = this.status(uploadId);
    if (!p?.complete) throw new UploadError(status.FAILED_PRECONDITION, `upload ${uploadId} is not complete`);
    return decode(readFileSync(this.paths(uploadId).data), p.header.dtype);
  }
}

export function decode(bytes: Uint8Array, dtype: DType): Float32Array {
  if (dtype === DType.DTYPE_FLOAT32) {
    const out = new Float32Array(bytes.length / 4);
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const table = halfTable();
  const out = new Float32Array(bytes.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = table[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
  return out;
}
