/**
 * The coordinator's gRPC service: sessions, joins, contribution uploads (validated, durable,
 * resumable), the synthesis job once the quorum is in, progress streams and result downloads.
 * Every call is authenticated by a bearer token; clients see only sessions they were invited to.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HealthImplementation } from 'grpc-health-check';
import { Server, ServerCredentials, status, type Metadata, type ServerWritableStream, type ServiceError } from '@grpc/grpc-js';
import {
  CoordinatorService,
  ResultFile,
  SessionState,
  type ContributionChunk,
  type CoordinatorServer,
  type SessionEvent,
} from '@synthgrad/protocol';
import { Credentials, credentialsFile, type Principal, type Role } from '../auth/credentials.js';
export { credentialsFile };
import { SessionStore, type SessionRecord } from '../sessions/session-store.js';
import type { UploadStore } from '../uploads/upload-store.js';
import { JobRunner } from '../job/job-runner.js';
import { UploadError } from '../uploads/upload-error.js';
import { DEFAULT_LIMITS, type UploadLimits } from '../uploads/validate-header.js';
import type { JobMessage } from '../job/job-worker.js';

export interface CoordinatorOptions {
  stateDir: string;
  modelPath: string;
  model: { sha256: string; vocabSize: number; dModel: number };
  limits?: UploadLimits;
  backend?: string;
  /** The credentials file (default STATE/credentials.json); re-read on every call, so a mounted Secret can rotate. */
  credentialsPath?: string;
  /** Under mutual TLS: every call must come with a certificate whose common name is the caller's id. */
  requireClientCertificate?: boolean;
  /** gRPC channel limits. */
  maxMessageBytes?: number;
  maxConcurrentStreams?: number;
}

/** What authentication needs of a call: its metadata and, over TLS, the peer's certificate. */
interface Caller {
  metadata: Metadata;
  // grpc-js does not export its AuthContext type; this is the part of it used here.
  getAuthContext?: () => { sslPeerCertificate?: { subject?: { CN?: string | string[] } } } | null;
}

const fail = (code: status, details: string): ServiceError => Object.assign(new Error(details), { code, details, metadata: undefined as unknown as Metadata }) as ServiceError;


export class Coordinator {
  readonly sessions: SessionStore;
  readonly jobs = new JobRunner();
  private readonly progress = new Map<string, SessionEvent>();
  private readonly watchers = new Map<string, Set<ServerWritableStream<unknown, SessionEvent>>>();

  constructor(private readonly opts: CoordinatorOptions) {
    this.sessions = new SessionStore(join(opts.stateDir, 'sessions'), opts.limits ?? DEFAULT_LIMITS);
    this.jobs.on('message', (id: string, m: JobMessage) => this.onJobMessage(id, m));
    // A job that was running when the coordinator stopped resumes from its checkpoint.
    for (const rec of this.sessions.list()) if (rec.session.state === SessionState.SESSION_STATE_RUNNING) this.startJob(rec);
  }

  private credentials(): Credentials {
    return new Credentials(this.opts.credentialsPath ?? credentialsFile(this.opts.stateDir));
  }

  /**
   * Who is calling: the bearer credential, and under mutual TLS also the certificate, whose
   * common name must be the same id (a stolen token alone, or a certificate alone, is not enough).
   */
  private auth(call: Caller, role?: Role): Principal {
    const header = String(call.metadata.get('authorization')[0] ?? '');
    const token = header.startsWith('Bearer ') ? header.slice(7) : undefined;
    const who = this.credentials().verify(token);
    if (!who) throw fail(status.UNAUTHENTICATED, token ? 'unknown credential' : 'missing credential: send "authorization: Bearer <token>"');
    const cn = call.getAuthContext?.()?.sslPeerCertificate?.subject?.CN;
    const peer = Array.isArray(cn) ? cn.join('+') : cn; // several CNs never equal one id
    if (peer !== undefined && peer !== who.id) throw fail(status.PERMISSION_DENIED, `the TLS certificate is for "${peer}" but the credential is for "${who.id}"`);
    if (peer === undefined && this.opts.requireClientCertificate) throw fail(status.UNAUTHENTICATED, 'this coordinator requires a client certificate');
    if (role && who.role !== role) throw fail(status.PERMISSION_DENIED, `${who.id} is not an ${role}`);
    return who;
  }

  /** The session, if this principal may see it (operators see all; clients only their invitations). */
  private visible(who: Principal, sessionId: string): SessionRecord {
    const rec = this.sessions.get(sessionId);
    if (!rec || (who.role === 'client' && !rec.invited.includes(who.id))) throw fail(status.NOT_FOUND, `no session ${sessionId}`);
    return rec;
  }

  private setState(rec: SessionRecord, state: SessionState, message = ''): void {
    rec.session.state = state;
    rec.session.message = message;
    this.sessions.save(rec);
    this.publish(rec.session.id, { state, progress: state === SessionState.SESSION_STATE_DONE ? 1 : (this.progress.get(rec.session.id)?.progress ?? 0), etaSeconds: 0, message });
  }

  private publish(id: string, e: SessionEvent): void {
    this.progress.set(id, e);
    for (const w of this.watchers.get(id) ?? []) {
      w.write(e);
      if (e.state === SessionState.SESSION_STATE_DONE || e.state === SessionState.SESSION_STATE_FAILED) w.end();
    }
  }

  private onJobMessage(id: string, m: JobMessage): void {
    const rec = this.sessions.get(id);
    if (!rec) return;
    if (m.type === 'progress') this.publish(id, { state: SessionState.SESSION_STATE_RUNNING, progress: m.fraction, etaSeconds: 0, message: m.message });
    else if (m.type === 'done') this.setState(rec, SessionState.SESSION_STATE_DONE, `${m.examples} synthetic examples`);
    else this.setState(rec, SessionState.SESSION_STATE_FAILED, m.message);
  }

  private startJob(rec: SessionRecord): void {
    this.jobs.start({ sessionsDir: this.sessions.dir, sessionId: rec.session.id, modelPath: this.opts.modelPath, backend: this.opts.backend });
  }

  /** Start the job once every joined client has uploaded every class and the quorum is met. */
  private maybeStart(rec: SessionRecord): void {
    const s = rec.session;
    if (s.state !== SessionState.SESSION_STATE_OPEN) return;
    if (s.completeContributions >= s.minClients && s.completeContributions === s.participants) {
      this.setState(rec, SessionState.SESSION_STATE_RUNNING);
      this.startJob(rec);
    }
  }

  /** Sessions past their deadline: run with what is in if the minimum is met, else expire. */
  checkDeadlines(now = Date.now()): void {
    for (const rec of this.sessions.list()) {
      const s = rec.session;
      if (s.state !== SessionState.SESSION_STATE_OPEN || !s.deadlineUnixMs || now < s.deadlineUnixMs) continue;
      if (s.completeContributions >= s.minClients) {
        rec.joined = rec.joined.filter((c) => Object.keys(rec.contributions[c] ?? {}).length === s.task!.labels.length);
        this.sessions.save(rec);
        this.setState(rec, SessionState.SESSION_STATE_RUNNING);
        this.startJob(rec);
      } else this.setState(rec, SessionState.SESSION_STATE_EXPIRED, `deadline passed with ${s.completeContributions} of ${s.minClients} contributions`);
    }
  }

  /** Wrap a unary handler: auth errors and thrown ServiceErrors become gRPC statuses. */
  private unary<Req, Res>(f: (req: Req, call: Caller) => Res) {
    return (call: Caller & { request: Req }, cb: (e: ServiceError | null, r?: Res) => void) => {
      try {
        cb(null, f(call.request, call));
      } catch (e) {
        cb(toServiceError(e));
      }
    };
  }

  service(): CoordinatorServer {
    return {
      createSession: this.unary((req, call) => {
        this.auth(call, 'operator');
        const labels = req.task?.labels ?? [];
        if (labels.length < 2) throw fail(status.INVALID_ARGUMENT, 'a task needs at least two labels');
        if (req.modelSha256 !== this.opts.model.sha256) throw fail(status.FAILED_PRECONDITION, `this coordinator serves model ${this.opts.model.sha256}, not ${req.modelSha256}`);
        if (!(req.minClients >= 1)) throw fail(status.INVALID_ARGUMENT, 'min_clients must be at least 1');
        if (!(req.privacy && req.privacy.clip > 0)) throw fail(status.INVALID_ARGUMENT, 'privacy.clip must be positive');
        if (!(req.syntheticPerClass >= 1)) throw fail(status.INVALID_ARGUMENT, 'synthetic_per_class must be at least 1');
        return this.sessions.create(req).session;
      }),
      listSessions: this.unary((_req, call) => {
        const who = this.auth(call);
        return { sessions: this.sessions.list().filter((r) => who.role === 'operator' || r.invited.includes(who.id)).map((r) => r.session) };
      }),
      getSession: this.unary((req, call) => this.visible(this.auth(call), req.sessionId).session),
      joinSession: this.unary((req, call) => {
        const who = this.auth(call, 'client');
        const rec = this.visible(who, req.sessionId);
        if (req.modelSha256 !== rec.session.modelSha256) {
          throw fail(status.FAILED_PRECONDITION, `session model is ${rec.session.modelSha256}; this client has ${req.modelSha256}`);
        }
        // Joining again is idempotent (a restarted client follows its job); joining late is not possible.
        if (rec.joined.includes(who.id)) return { session: rec.session };
        if (rec.session.state !== SessionState.SESSION_STATE_OPEN) throw fail(status.FAILED_PRECONDITION, `session is ${SessionState[rec.session.state]}`);
        rec.joined.push(who.id);
        this.sessions.save(rec);
        return { session: rec.session };
      }),
      getUploadStatus: this.unary((req, call) => {
        const who = this.auth(call, 'client');
        this.visible(who, req.sessionId);
        const p = this.sessions.uploads(req.sessionId).status(`${who.id}.${req.uploadId}`);
        if (!p) throw fail(status.NOT_FOUND, `no upload ${req.uploadId}`);
        return { uploadId: req.uploadId, chunksReceived: p.received, complete: p.complete };
      }),
      uploadContribution: (call, cb) => {
        let who: Principal;
        try {
          who = this.auth(call, 'client');
        } catch (e) {
          cb(toServiceError(e));
          return;
        }
        let rec: SessionRecord | undefined;
        let store: UploadStore | undefined; // opened once per stream, not per chunk
        let uploadId = '';
        let clientUploadId = '';
        let failed = false;
        const abort = (e: unknown) => {
          if (failed) return;
          failed = true;
          cb(toServiceError(e));
        };
        call.on('data', (m: ContributionChunk) => {
          if (failed) return;
          try {
            if (m.header) {
              if (rec) throw fail(status.INVALID_ARGUMENT, 'a stream carries one header');
              rec = this.visible(who, m.header.sessionId);
              if (!rec.joined.includes(who.id)) throw fail(status.FAILED_PRECONDITION, 'join the session before uploading');
              if (rec.session.state !== SessionState.SESSION_STATE_OPEN) throw fail(status.FAILED_PRECONDITION, `session is ${SessionState[rec.session.state]}`);
              clientUploadId = m.header.uploadId;
              // Upload ids are namespaced by client, so one client cannot touch another's uploads.
              uploadId = `${who.id}.${m.header.uploadId}`;
              const { vocabSize, dModel } = this.opts.model;
              store = this.sessions.uploads(rec.session.id);
              store.begin({ ...m.header, uploadId }, {
                sessionId: rec.session.id,
                classes: rec.session.task!.labels.length,
                shape: [vocabSize, dModel],
                privacy: rec.session.privacy!,
              });
            } else if (m.chunk) {
              if (!rec || !store) throw fail(status.INVALID_ARGUMENT, 'the first message must be the header');
              store.writeChunk(uploadId, m.chunk.index, m.chunk.data);
            } else throw fail(status.INVALID_ARGUMENT, 'empty message');
          } catch (e) {
            abort(e);
          }
        });
        call.on('error', () => {
          failed = true; // the client went away; what was stored stays for a resume
        });
        call.on('end', () => {
          if (failed) return;
          if (!rec || !store) return abort(fail(status.INVALID_ARGUMENT, 'no header'));
          const p = store.status(uploadId)!;
          if (p.complete) {
            const fresh = this.sessions.get(rec.session.id)!;
            (fresh.contributions[who.id] ??= {})[p.header.classIndex] = uploadId;
            this.sessions.save(fresh);
            this.maybeStart(fresh);
          }
          cb(null, { uploadId: clientUploadId, chunksReceived: p.received, complete: p.complete });
        });
      },
      watchSession: (call) => {
        try {
          const rec = this.visible(this.auth(call), call.request.sessionId);
          const id = rec.session.id;
          const now = this.progress.get(id) ?? { state: rec.session.state, progress: rec.session.state === SessionState.SESSION_STATE_DONE ? 1 : 0, etaSeconds: 0, message: rec.session.message };
          call.write({ ...now, state: rec.session.state });
          if (rec.session.state === SessionState.SESSION_STATE_DONE || rec.session.state === SessionState.SESSION_STATE_FAILED || rec.session.state === SessionState.SESSION_STATE_EXPIRED) {
            call.end();
            return;
          }
          const set = this.watchers.get(id) ?? new Set();
          set.add(call as ServerWritableStream<unknown, SessionEvent>);
          this.watchers.set(id, set);
          call.on('cancelled', () => set.delete(call as ServerWritableStream<unknown, SessionEvent>));
        } catch (e) {
          call.destroy(toServiceError(e));
        }
      },
      downloadResult: (call) => {
        try {
          const who = this.auth(call);
          const rec = this.visible(who, call.request.sessionId);
          if (who.role === 'client' && !rec.joined.includes(who.id)) throw fail(status.PERMISSION_DENIED, 'only participants may download the results');
          if (rec.session.state !== SessionState.SESSION_STATE_DONE) throw fail(status.FAILED_PRECONDITION, `results are not ready (session is ${SessionState[rec.session.state]})`);
          const name = call.request.file === ResultFile.RESULT_FILE_META ? 'meta.json' : 'synthetic.jsonl';
          const path = join(this.sessions.sessionDir(rec.session.id), name);
          if (!existsSync(path)) throw fail(status.DATA_LOSS, `${name} is missing`);
          const data = readFileSync(path);
          const sha256 = createHash('sha256').update(data).digest('hex');
          const step = 64 * 1024;
          for (let o = 0; o < data.length || o === 0; o += step) {
            call.write({ data: data.subarray(o, o + step), totalBytes: data.length, sha256: o === 0 ? sha256 : '' });
            if (data.length === 0) break;
          }
          call.end();
        } catch (e) {
          call.destroy(toServiceError(e));
        }
      },
    };
  }
}

export function toServiceError(e: unknown): ServiceError {
  if (e instanceof UploadError) return fail(e.code, e.message);
  if (e && typeof e === 'object' && 'code' in e && typeof (e as ServiceError).code === 'number') return e as ServiceError;
  return fail(status.INTERNAL, (e as Error)?.message ?? String(e));
}

export interface RunningCoordinator {
  coordinator: Coordinator;
  server: Server;
  port: number;
  close(): Promise<void>;
}

/** The name the gRPC health service reports the coordinator under (besides the server-wide ""). */
export const HEALTH_SERVICE_NAME = 'synthgrad.v1.Coordinator';

export async function startCoordinator(opts: CoordinatorOptions & { address: string; credentials: ServerCredentials }): Promise<RunningCoordinator> {
  const coordinator = new Coordinator(opts);
  const server = new Server({
    'grpc.max_receive_message_length': opts.maxMessageBytes ?? 8 * 2 ** 20,
    'grpc.max_send_message_length': opts.maxMessageBytes ?? 8 * 2 ** 20,
    'grpc.max_concurrent_streams': opts.maxConcurrentStreams ?? 32,
  });
  server.addService(CoordinatorService, coordinator.service());
  // The standard grpc.health.v1 service, for load balancers and orchestrators' probes.
  const health = new HealthImplementation({ '': 'SERVING', [HEALTH_SERVICE_NAME]: 'SERVING' });
  health.addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(opts.address, opts.credentials, (e, p) => (e ? reject(e) : resolve(p))),
  );
  const timer = setInterval(() => coordinator.checkDeadlines(), 1000);
  return {
    coordinator,
    server,
    port,
    close: async () => {
      clearInterval(timer);
      health.setStatus('', 'NOT_SERVING');
      health.setStatus(HEALTH_SERVICE_NAME, 'NOT_SERVING');
      await coordinator.jobs.stopAll();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
  };
}
