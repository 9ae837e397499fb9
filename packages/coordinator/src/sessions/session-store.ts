/**
 * Durable sessions: one folder per session with its record (written atomically and fsynced on
 * every change) and its contributions (an UploadStore). Everything survives a restart of the
 * coordinator; a record that was acknowledged is on disk.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_PRESET } from '@synthgrad/core/presets';
import { SessionState, type CreateSessionRequest, type SecureAggregation, type Session } from '@synthgrad/protocol';
import { DomainError } from '../domain/errors.js';
import { UploadStore } from '../uploads/upload-store.js';
import { writeFileDurably } from '../uploads/durable-file.js';
import type { UploadLimits } from '../uploads/validate-header.js';

export interface SessionRecord {
  session: Session;
  /** Client ids allowed to join. */
  invited: string[];
  joined: string[];
  /** clientId -> class index -> key ("client/upload") of a complete contribution. */
  contributions: Record<string, Record<number, string>>;
  /** Under secure aggregation: who has a masked vector in (their contribution, all classes at once). */
  aggregated?: string[];
}

const SESSION_ID = /^s-[0-9a-f-]{36}$/;

export class SessionStore {
  private readonly stores = new Map<string, UploadStore>();

  constructor(
    readonly dir: string,
    private readonly limits?: UploadLimits,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  sessionDir(id: string): string {
    if (!SESSION_ID.test(id)) throw new DomainError('invalid-argument', 'malformed session id');
    return join(this.dir, id);
  }

  /** A new OPEN session from a request the lifecycle has validated. */
  create(req: CreateSessionRequest, now = Date.now(), secureAggregation?: SecureAggregation): SessionRecord {
    const id = `s-${randomUUID()}`;
    const rec: SessionRecord = {
      session: {
        id,
        task: req.task,
        modelSha256: req.modelSha256,
        syntheticPerClass: req.syntheticPerClass,
        preset: req.preset || DEFAULT_PRESET,
        privacy: req.privacy,
        minClients: req.minClients,
        deadlineUnixMs: req.deadlineUnixMs,
        state: SessionState.SESSION_STATE_OPEN,
        participants: 0,
        completeContributions: 0,
        createdUnixMs: now,
        seed: req.seed,
        message: '',
        textLength: req.textLength || 25,
        secureAggregation,
      },
      invited: [...req.clientIds],
      joined: [],
      contributions: {},
    };
    mkdirSync(this.sessionDir(id), { recursive: true });
    this.save(rec);
    return rec;
  }

  save(rec: SessionRecord): void {
    const classes = rec.session.task?.labels.length ?? 0;
    rec.session.participants = rec.joined.length;
    rec.session.completeContributions = rec.session.secureAggregation?.enabled
      ? (rec.aggregated ?? []).length
      : rec.joined.filter((c) => Object.keys(rec.contributions[c] ?? {}).length === classes).length;
    writeFileDurably(join(this.sessionDir(rec.session.id), 'session.json'), JSON.stringify(rec, null, 2));
  }

  get(id: string): SessionRecord | undefined {
    if (typeof id !== 'string' || !SESSION_ID.test(id)) return undefined;
    const file = join(this.sessionDir(id), 'session.json');
    if (!existsSync(file)) return undefined;
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as SessionRecord;
    } catch {
      throw new DomainError('data-loss', `the record of session ${id} is unreadable`);
    }
  }

  list(): SessionRecord[] {
    const out: SessionRecord[] = [];
    for (const id of readdirSync(this.dir)) {
      try {
        const r = this.get(id);
        if (r) out.push(r);
      } catch {
        // an unreadable record is skipped here and reported when the session is asked for
      }
    }
    return out;
  }

  /** The session's upload store (one instance per session, so concurrent verifications of an upload are shared). */
  uploads(id: string): UploadStore {
    let u = this.stores.get(id);
    if (!u) {
      u = new UploadStore(join(this.sessionDir(id), 'uploads'), this.limits);
      this.stores.set(id, u);
    }
    return u;
  }
}
