/**
 * Durable, resumable storage of class contributions, one folder per client:
 * `DIR/<client>/<upload>.part` (append-only chunks), `.json` (the progress record, written
 * atomically after every chunk) and, once verified, `.bin`. A client that loses its connection,
 * or a coordinator that is killed, resumes from the last recorded chunk; re-sent chunks below it
 * are ignored, so retries are idempotent. After the last chunk the payload is verified off the
 * event loop's critical path (verify-payload.ts) against the header and the session's bound, and
 * only then committed: `.bin` and the record are fsynced before anyone is told "complete".
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DType, type ContributionHeader } from '@synthgrad/protocol';
import { DomainError } from '../domain/errors.js';
import { checkClientId, checkUploadId, keyString, parseKey, type UploadKey } from '../domain/names.js';
import { boundViolation } from '../domain/contribution-bound.js';
import { fsyncPathAsync, writeFileDurably } from './durable-file.js';
import { verifyPayload } from './verify-payload.js';
import { chunkLength, sessionBound, validateHeader, DEFAULT_LIMITS, type UploadLimits, type UploadTarget } from './validate-header.js';
import { halfTable } from '@synthgrad/core';

export interface UploadProgress {
  header: ContributionHeader;
  /** Contiguous chunks stored. */
  received: number;
  /** Verified and committed (the `.bin` is on disk). */
  complete: boolean;
}

/** Header fields that identify an upload (first_chunk changes between attempts). */
const identity = (h: ContributionHeader) => JSON.stringify({ ...h, firstChunk: 0 });

export class UploadStore {
  private readonly sealing = new Map<string, Promise<UploadProgress>>();

  constructor(
    readonly dir: string,
    private readonly limits: UploadLimits = DEFAULT_LIMITS,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  private paths(k: UploadKey) {
    const base = join(this.dir, checkClientId(k.clientId), checkUploadId(k.uploadId));
    return { meta: `${base}.json`, part: `${base}.part`, data: `${base}.bin` };
  }

  status(k: UploadKey): UploadProgress | undefined {
    const { meta } = this.paths(k);
    if (!existsSync(meta)) return undefined;
    try {
      return JSON.parse(readFileSync(meta, 'utf8')) as UploadProgress;
    } catch {
      // Never echo the file: say which record is broken, not what is in it.
      throw new DomainError('data-loss', `the record of upload ${k.uploadId} is unreadable`);
    }
  }

  private save(k: UploadKey, p: UploadProgress, durable = false): void {
    const { meta } = this.paths(k);
    if (durable) writeFileDurably(meta, JSON.stringify(p));
    else {
      // Between chunks a crash may lose the last record; begin() then re-derives it from the part file.
      writeFileSync(`${meta}.tmp`, JSON.stringify(p));
      renameSync(`${meta}.tmp`, meta);
    }
  }

  /** Start or resume an upload. */
  begin(k: UploadKey, header: ContributionHeader, target: UploadTarget): UploadProgress {
    validateHeader(header, target, this.limits);
    const { part } = this.paths(k);
    const existing = this.status(k);
    if (existing) {
      if (identity(existing.header) !== identity(header)) {
        throw new DomainError('already-exists', `upload_id ${k.uploadId} was used for a different contribution`);
      }
      if (!existing.complete) this.realign(k, existing);
      if (header.firstChunk > existing.received) {
        throw new DomainError('out-of-range', `first_chunk ${header.firstChunk} is past the ${existing.received} chunks received; resume from ${existing.received}`);
      }
      return existing;
    }
    if (header.firstChunk !== 0) throw new DomainError('out-of-range', `upload ${k.uploadId} is unknown; start from chunk 0`);
    mkdirSync(join(this.dir, k.clientId), { recursive: true });
    const p: UploadProgress = { header, received: 0, complete: false };
    writeFileSync(part, new Uint8Array(0));
    this.save(k, p);
    return p;
  }

  /**
   * Make the record and the part file agree after a crash: the record may be one chunk behind
   * the file (killed between append and record) or the file may hold half a chunk.
   */
  private realign(k: UploadKey, p: UploadProgress): void {
    const { part } = this.paths(k);
    const { totalBytes, chunkCount } = p.header;
    const size = Math.ceil(totalBytes / chunkCount);
    const have = existsSync(part) ? statSync(part).size : 0;
    const chunks = Math.min(chunkCount, have >= totalBytes ? chunkCount : Math.floor(have / size));
    const want = Math.min(totalBytes, chunks * size);
    if (!existsSync(part)) appendFileSync(part, new Uint8Array(0));
    if (have !== want) truncateSync(part, want);
    if (chunks !== p.received) {
      p.received = chunks;
      this.save(k, p);
    }
  }

  /** Store chunk `index`; returns the progress after it (call seal() once received == chunk_count). */
  writeChunk(k: UploadKey, index: number, data: Uint8Array): UploadProgress {
    const p = this.status(k);
    if (!p) throw new DomainError('aborted', `upload ${k.uploadId} was discarded; start it again`);
    if (p.complete || index < p.received) return p; // a retry of something already stored
    if (index > p.received) throw new DomainError('out-of-range', `chunk ${index} arrived before chunk ${p.received}`);
    const { totalBytes, chunkCount } = p.header;
    if (index >= chunkCount) throw new DomainError('out-of-range', `chunk ${index} is past chunk_count ${chunkCount}`);
    const want = chunkLength(totalBytes, chunkCount, index);
    if (data.length !== want) throw new DomainError('invalid-argument', `chunk ${index} has ${data.length} bytes, expected ${want}`);
    appendFileSync(this.paths(k).part, data);
    p.received++;
    this.save(k, p);
    return p;
  }

  /**
   * Verify an upload whose chunks are all in and commit it; concurrent calls for one upload share
   * one verification. A payload that fails is discarded, so the client can start over.
   */
  seal(k: UploadKey, target: UploadTarget): Promise<UploadProgress> {
    const id = keyString(k);
    let pending = this.sealing.get(id);
    if (!pending) {
      pending = this.verifyAndCommit(k, target).finally(() => this.sealing.delete(id));
      this.sealing.set(id, pending);
    }
    return pending;
  }

  private async verifyAndCommit(k: UploadKey, target: UploadTarget): Promise<UploadProgress> {
    const p = this.status(k);
    if (!p) throw new DomainError('aborted', `upload ${k.uploadId} was discarded; start it again`);
    if (p.complete) return p;
    if (p.received < p.header.chunkCount) throw new DomainError('failed-precondition', `upload ${k.uploadId} has ${p.received} of ${p.header.chunkCount} chunks`);
    const { part, data } = this.paths(k);
    const bound = sessionBound(target);
    const r = await verifyPayload(part, p.header.dtype, bound.sigma);
    const refuse = (kind: DomainError['kind'], msg: string) => {
      this.discard(k);
      return new DomainError(kind, msg);
    };
    if (r.sha256 !== p.header.sha256) throw refuse('data-loss', `sha256 of the received payload is ${r.sha256}, the header declared ${p.header.sha256}`);
    if (r.nonFinite) throw refuse('invalid-argument', `value ${r.nonFinite.index} of the contribution is not finite (${r.nonFinite.value})`);
    if (Math.abs(r.norm - p.header.l2Norm) > 1e-3 * Math.max(1, r.norm)) {
      throw refuse('invalid-argument', `payload norm ${r.norm} does not match the declared l2_norm ${p.header.l2Norm}`);
    }
    const why = boundViolation({ norm: r.norm, largeEntries: r.largeEntries }, bound);
    if (why) throw refuse('invalid-argument', why);
    // Commit: the payload under its final name, on disk, before the record says complete.
    await fsyncPathAsync(part);
    renameSync(part, data);
    await fsyncPathAsync(join(this.dir, k.clientId));
    p.complete = true;
    this.save(k, p, true);
    return p;
  }

  /**
   * Removes an upload. The record goes last: `list` finds uploads by their record, so a crash
   * (or a reader in another process) between the removals sees a record whose sweep is still to
   * come, never a `.part` or `.bin` that nothing points to any more.
   */
  discard(k: UploadKey): void {
    const { meta, part, data } = this.paths(k);
    for (const f of [data, part, meta]) rmSync(f, { force: true });
  }

  /** Every upload on disk (or one client's), with the age of its last record (for reconciliation and clean-up). */
  list(onlyClient?: string): { key: UploadKey; progress: UploadProgress; mtimeMs: number }[] {
    const out: { key: UploadKey; progress: UploadProgress; mtimeMs: number }[] = [];
    for (const clientId of onlyClient === undefined ? safeReaddir(this.dir) : [checkClientId(onlyClient)]) {
      const folder = join(this.dir, clientId);
      if (!existsSync(folder) || !statSync(folder).isDirectory()) continue;
      for (const f of safeReaddir(folder)) {
        if (!f.endsWith('.json')) continue;
        const key = { clientId, uploadId: f.slice(0, -5) };
        try {
          const progress = this.status(key);
          if (progress) out.push({ key, progress, mtimeMs: statSync(join(folder, f)).mtimeMs });
        } catch {
          // a name that is not ours, or an unreadable record: skipped (and reported by status())
        }
      }
    }
    return out;
  }

  /** The stored contribution as float32 (complete uploads only); `key` as recorded in the session. */
  read(key: string): Float32Array {
    const k = parseKey(key);
    const p = this.committed(key);
    return decode(readFileSync(this.paths(k).data), p.header.dtype);
  }

  /** The record of a complete upload, by the key recorded in the session. */
  committed(key: string): UploadProgress {
    const p = this.status(parseKey(key));
    if (!p?.complete) throw new DomainError('failed-precondition', `upload ${key} is not complete`);
    return p;
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
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
