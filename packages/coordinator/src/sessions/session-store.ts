/**
 * Durable sessions: one folder per session with its record (written atomically on every change)
 * and its contributions (an UploadStore). Everything survives a restart of the coordinator.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SessionState, type CreateSessionRequest, type Session } from '@synthgrad/protocol';
import { UploadStore } from '../uploads/upload-store.js';
import type { UploadLimits } from '../uploads/validate-header.js';

export interface SessionRecord {
  session: Session;
  /** Client ids allowed to join. */
  invited: string[];
  joined: string[];
  /** clientId -> class index -> upload id of a complete contribution. */
  contributions: Record<string, Record<number, string>>;
}

export class SessionStore {
  constructor(
    readonly dir: string,
    private readonly limits?: UploadLimits,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  sessionDir(id: string): string {
    return join(this.dir, id);
  }

  create(req: CreateSessionRequest, now = Date.now()): SessionRecord {
    const id = `s-${randomUUID()}`;
    const rec: SessionRecord = {
      session: {
        id,
        task: req.task,
        modelSha256: req.modelSha256,
        syntheticPerClass: req.syntheticPerClass,
        preset: req.preset || 'cpu',
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
    rec.session.completeContributions = rec.joined.filter((c) => Object.keys(rec.contributions[c] ?? {}).length === classes).length;
    const file = join(this.sessionDir(rec.session.id), 'session.json');
    writeFileSync(`${file}.tmp`, JSON.stringify(rec, null, 2));
    renameSync(`${file}.tmp`, file);
  }

  get(id: string): SessionRecord | undefined {
    if (!/^s-[0-9a-f-]{36}$/.test(id)) return undefined;
    const file = join(this.sessionDir(id), 'session.json');
    return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as SessionRecord) : undefined;
  }

  list(): SessionRecord[] {
    return readdirSync(this.dir)
      .map((id) => this.get(id))
      .filter((r): r is SessionRecord => r !== undefined);
  }

  uploads(id: string): UploadStore {
    return new UploadStore(join(this.sessionDir(id), 'uploads'), this.limits);
  }
}
