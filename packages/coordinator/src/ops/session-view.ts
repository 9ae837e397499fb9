/**
 * The operator's view of sessions, without transport: for each session its record, every invited
 * client with its upload state per class (from the session's counted contributions and the upload
 * store), the job's latest progress and the recent log. Served by the operator RPCs and, without
 * a principal, by the loopback status page. It holds ids, labels, counts and states only: no
 * tokens, no hashes of them, no key material, no peer addresses.
 */
import { SessionState, UploadState, type ClassUpload, type ParticipantStatus, type SessionDetail, type SessionEvent } from '@synthgrad/protocol';
import { notFound, quote } from '../domain/errors.js';
import { requireOperator, type Principal } from '../auth/credentials.js';
import type { SessionRecord, SessionStore } from '../sessions/session-store.js';
import type { SessionLog } from './session-log.js';

export interface ViewSources {
  store: SessionStore;
  /** The latest progress event of a session, if any was published since the coordinator started. */
  progress(sessionId: string): SessionEvent | undefined;
  log: SessionLog;
}

export class SessionView {
  constructor(private readonly src: ViewSources) {}

  /** Every session, newest first. */
  all(): SessionDetail[] {
    return this.src.store
      .list()
      .sort((a, b) => b.session.createdUnixMs - a.session.createdUnixMs)
      .map((r) => this.detail(r));
  }

  list(who: Principal): SessionDetail[] {
    requireOperator(who);
    return this.all();
  }

  describe(who: Principal, sessionId: string): SessionDetail {
    requireOperator(who);
    const rec = this.src.store.get(sessionId);
    if (!rec) throw notFound(`no session ${quote(sessionId)}`);
    return this.detail(rec);
  }

  detail(rec: SessionRecord): SessionDetail {
    const s = rec.session;
    const last = this.src.progress(s.id);
    const progress: SessionEvent = {
      state: s.state,
      progress: s.state === SessionState.SESSION_STATE_DONE ? 1 : (last?.progress ?? 0),
      etaSeconds: last?.etaSeconds ?? 0,
      message: last?.message || s.message,
    };
    return { session: s, participants: this.participants(rec), progress, log: this.src.log.get(s.id) };
  }

  private participants(rec: SessionRecord): ParticipantStatus[] {
    const labels = rec.session.task?.labels ?? [];
    // Uploads on disk by client and class; an unreadable store is shown as "nothing received".
    let onDisk: ReturnType<ReturnType<SessionStore['uploads']>['list']> = [];
    try {
      onDisk = this.src.store.uploads(rec.session.id).list();
    } catch {
      onDisk = [];
    }
    return rec.invited.map((clientId) => {
      // Under secure aggregation one masked vector holds every class: complete once it is in (one "chunk").
      if (rec.session.secureAggregation?.enabled) {
        const inSum = (rec.aggregated ?? []).includes(clientId);
        const state = inSum ? UploadState.UPLOAD_STATE_COMPLETE : UploadState.UPLOAD_STATE_NONE;
        return { clientId, joined: rec.joined.includes(clientId), uploads: labels.map((l, c) => ({ classIndex: c, label: l.name, state, chunksReceived: inSum ? 1 : 0, chunkCount: inSum ? 1 : 0 })) };
      }
      const counted = rec.contributions[clientId] ?? {};
      const uploads: ClassUpload[] = labels.map((l, c) => {
        const key = counted[c];
        const mine = onDisk.filter((u) => u.key.clientId === clientId && u.progress.header.classIndex === c);
        const done = key ? mine.find((u) => `${u.key.clientId}/${u.key.uploadId}` === key) : undefined;
        if (key) {
          const n = done?.progress.header.chunkCount ?? 0;
          return { classIndex: c, label: l.name, state: UploadState.UPLOAD_STATE_COMPLETE, chunksReceived: n, chunkCount: n };
        }
        // The most advanced upload under way for this class (a new id replaces an old one).
        const open = mine.sort((a, b) => b.progress.received - a.progress.received)[0];
        if (open) return { classIndex: c, label: l.name, state: UploadState.UPLOAD_STATE_PARTIAL, chunksReceived: open.progress.received, chunkCount: open.progress.header.chunkCount };
        return { classIndex: c, label: l.name, state: UploadState.UPLOAD_STATE_NONE, chunksReceived: 0, chunkCount: 0 };
      });
      return { clientId, joined: rec.joined.includes(clientId), uploads };
    });
  }
}
