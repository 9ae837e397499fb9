/**
 * Contribution intake, between the session lifecycle and the upload store, without transport:
 * open (or resume) an upload, take its chunks, verify and commit it, answer status queries, and
 * after a restart reconcile what is on disk. The invariant: "complete" is only ever reported for
 * an upload that is verified and recorded in its session, durably; an upload that is verified
 * but not yet recorded (a crash, a full disk between the two) is recorded by the next status
 * query, retry or start-up.
 */
import type { ContributionHeader, UploadAck } from '@synthgrad/protocol';
import { SessionState } from '@synthgrad/protocol';
import { checkUploadId, type UploadKey } from '../domain/names.js';
import { DomainError, notFound } from '../domain/errors.js';
import type { Principal } from '../auth/credentials.js';
import type { UploadProgress, UploadStore } from '../uploads/upload-store.js';
import type { UploadTarget } from '../uploads/validate-header.js';
import { TERMINAL, type SessionLifecycle } from './lifecycle.js';

export interface OpenUpload {
  sessionId: string;
  key: UploadKey;
  classIndex: number;
  target: UploadTarget;
  store: UploadStore;
}

export class UploadIntake {
  constructor(private readonly lifecycle: SessionLifecycle) {}

  private uploads(sessionId: string): UploadStore {
    return this.lifecycle.store.uploads(sessionId);
  }

  open(who: Principal, header: ContributionHeader): { upload: OpenUpload; progress: UploadProgress } {
    const key = { clientId: who.id, uploadId: checkUploadId(header.uploadId) };
    const { rec, target } = this.lifecycle.admitUpload(who, header.sessionId, header.classIndex, key);
    const store = this.uploads(rec.session.id);
    const fresh = store.status(key) === undefined;
    const progress = store.begin(key, header, target);
    // One upload in progress per client and class: a new id replaces an unfinished one, so no
    // client can fill the disk with abandoned ids (each may be 113 MB).
    if (fresh) {
      for (const other of store.list(who.id)) {
        if (other.key.uploadId !== key.uploadId && other.progress.header.classIndex === header.classIndex && !other.progress.complete) store.discard(other.key);
      }
    }
    return { upload: { sessionId: rec.session.id, key, classIndex: header.classIndex, target, store }, progress };
  }

  chunk(u: OpenUpload, index: number, data: Uint8Array): UploadProgress {
    return u.store.writeChunk(u.key, index, data);
  }

  /** The answer at the end of a stream: verify and commit when every chunk is in. */
  async finish(u: OpenUpload): Promise<UploadAck> {
    const p = u.store.status(u.key);
    if (!p) throw new DomainError('aborted', `upload ${u.key.uploadId} was discarded; start it again`);
    return this.settle(u.sessionId, u.key, p, u.target);
  }

  /** GetUploadStatus: what the client should do next. */
  async status(who: Principal, sessionId: string, uploadId: string): Promise<UploadAck> {
    const key = { clientId: who.id, uploadId: checkUploadId(uploadId) };
    const rec = this.lifecycle.visible(who, sessionId);
    const p = this.uploads(rec.session.id).status(key);
    if (!p) throw notFound(`no upload ${uploadId}`);
    return this.settle(rec.session.id, key, p, this.lifecycle.target(rec));
  }

  private async settle(sessionId: string, key: UploadKey, p: UploadProgress, target: UploadTarget): Promise<UploadAck> {
    const ack = (complete: boolean, received = p.received): UploadAck => ({ uploadId: key.uploadId, chunksReceived: received, complete });
    if (p.received < p.header.chunkCount) return ack(false);
    const sealed = p.complete ? p : await this.uploads(sessionId).seal(key, target);
    this.lifecycle.commitUpload(sessionId, key, sealed.header.classIndex);
    return ack(true, sealed.received);
  }

  /**
   * After a restart: every verified upload of an OPEN session is counted, and one whose chunks
   * were all in but whose verification was cut off is verified now. Returns how many were
   * committed; failures are reported to `log` and left for the client's retry.
   */
  async reconcile(log: (m: string) => void = () => {}): Promise<number> {
    let committed = 0;
    for (const rec of this.lifecycle.store.list()) {
      if (rec.session.state !== SessionState.SESSION_STATE_OPEN) continue;
      const store = this.uploads(rec.session.id);
      for (const { key, progress } of store.list()) {
        if (progress.received < progress.header.chunkCount || !rec.joined.includes(key.clientId)) continue;
        if (this.lifecycle.isCommitted(rec.session.id, key, progress.header.classIndex)) continue;
        try {
          await this.settle(rec.session.id, key, progress, this.lifecycle.target(rec));
          committed++;
        } catch (e) {
          log(`reconcile ${rec.session.id} ${key.clientId}/${key.uploadId}: ${(e as Error).message}`);
        }
      }
    }
    return committed;
  }

  /**
   * Clean-up: an upload that has not moved for `ttlMs` is abandoned and removed (each can be
   * 113 MB with the real model), and so is anything that can no longer count because its
   * session left OPEN. Recorded contributions are kept. Returns how many were removed.
   */
  sweep(ttlMs: number, now = Date.now()): number {
    let removed = 0;
    for (const rec of this.lifecycle.store.list()) {
      const closed = rec.session.state !== SessionState.SESSION_STATE_OPEN;
      const store = this.uploads(rec.session.id);
      for (const { key, progress, mtimeMs } of store.list()) {
        const recorded = rec.contributions[key.clientId]?.[progress.header.classIndex] === `${key.clientId}/${key.uploadId}`;
        if (recorded) continue;
        const stale = !progress.complete && now - mtimeMs > ttlMs;
        const useless = closed && (TERMINAL.has(rec.session.state) || rec.session.state === SessionState.SESSION_STATE_RUNNING);
        if (stale || useless) {
          store.discard(key);
          removed++;
        }
      }
    }
    return removed;
  }
}
