/**
 * The coordinator assembled: durable sessions (sessions/), their lifecycle and the contribution
 * intake (transport-free), the synthesis job runner, progress streams, and the gRPC server with
 * its limits. On start it resumes running jobs, reconciles every complete upload on disk into
 * its session, and then sweeps deadlines and abandoned uploads periodically.
 */
import { HealthImplementation } from 'grpc-health-check';
import { Server, type ServerCredentials } from '@grpc/grpc-js';
import { CoordinatorService, SessionState, type SessionEvent } from '@synthgrad/protocol';
import { credentialsFile } from '../auth/credentials.js';
import { SessionStore, type SessionRecord } from '../sessions/session-store.js';
import { SessionLifecycle, type ModelInfo } from '../sessions/lifecycle.js';
import { UploadIntake } from '../sessions/intake.js';
import { SecureAggregationRounds } from '../sessions/secure-aggregation.js';
import { JobRunner } from '../job/job-runner.js';
import type { JobMessage } from '../job/job-worker.js';
import { DEFAULT_LIMITS, type UploadLimits } from '../uploads/validate-header.js';
import { callLimits, type CallLimiter } from './call-limits.js';
import { guardDecoding } from './decode-guard.js';
import { coordinatorService } from './grpc-service.js';
import { DEFAULT_SERVER_LIMITS, type ServerLimits } from './limits.js';
import { listen, parseAddress, type Listener } from './listener.js';
import type { Logger } from './status.js';
import { WatchHub } from './watch-hub.js';
import { startStatusServer, type StatusServer } from './status-http.js';
import { SessionLog } from '../ops/session-log.js';
import { SessionView } from '../ops/session-view.js';

export { credentialsFile };

export interface CoordinatorOptions {
  stateDir: string;
  modelPath: string;
  model: ModelInfo;
  limits?: UploadLimits;
  backend?: string;
  /** The credentials file (default STATE/credentials.json); re-read on every call, so a mounted Secret can rotate. */
  credentialsPath?: string;
  /** Under mutual TLS: every call must come with a certificate whose common name is the caller's id. */
  requireClientCertificate?: boolean;
  /** Connection, call and clean-up limits (defaults in limits.ts). */
  server?: Partial<ServerLimits>;
  /** Where operational messages go (default stderr). */
  log?: Logger;
  /** HOST:PORT of the read-only HTTP status page (off unless given; see server/status-http.ts). */
  statusAddress?: string;
}

export class Coordinator {
  readonly sessions: SessionStore;
  readonly lifecycle: SessionLifecycle;
  readonly intake: UploadIntake;
  readonly secureAggregation: SecureAggregationRounds;
  readonly jobs = new JobRunner();
  readonly watchers: WatchHub;
  /** Recent events per session and the operator's view of sessions (RPCs and the status page). */
  readonly events = new SessionLog();
  readonly view: SessionView;
  readonly limits: ServerLimits;
  readonly log: Logger;

  constructor(private readonly opts: CoordinatorOptions) {
    this.log = opts.log ?? ((m) => process.stderr.write(`coordinator: ${m}\n`));
    this.limits = { ...DEFAULT_SERVER_LIMITS, ...opts.server };
    this.sessions = new SessionStore(`${opts.stateDir}/sessions`, opts.limits ?? DEFAULT_LIMITS);
    this.watchers = new WatchHub(this.log);
    const startJob = (rec: SessionRecord) => this.jobs.start({ sessionsDir: this.sessions.dir, sessionId: rec.session.id, modelPath: opts.modelPath, backend: opts.backend });
    this.lifecycle = new SessionLifecycle(this.sessions, opts.model, {
      startJob,
      stopJob: (id) => this.guard('stopping a job', () => this.jobs.stop(id)),
      publish: (id, e) => this.publish(id, e),
      note: (id, state, line) => this.events.note(id, state, line),
    });
    this.view = new SessionView({ store: this.sessions, progress: (id) => this.watchers.last(id), log: this.events });
    this.intake = new UploadIntake(this.lifecycle);
    this.secureAggregation = new SecureAggregationRounds(this.lifecycle, Date.now, this.log);
    this.jobs.on('message', (id: string, m: JobMessage) => this.guard('job message', () => this.onJobMessage(id, m)));
    // A job that was running when the coordinator stopped resumes from its checkpoint.
    for (const rec of this.lifecycle.running()) startJob(rec);
  }

  /** Run periodic or event-driven work so that a failure is logged, never thrown into the event loop. */
  guard(what: string, f: () => unknown): void {
    try {
      const r = f();
      if (r instanceof Promise) r.catch((e: Error) => this.log(`${what}: ${e?.stack ?? e}`));
    } catch (e) {
      this.log(`${what}: ${(e as Error)?.stack ?? e}`);
    }
  }

  /** Every event goes to the operator log and to the session's watchers. */
  private publish(id: string, e: SessionEvent): void {
    this.events.record(id, e);
    this.watchers.publish(id, e);
  }

  private onJobMessage(id: string, m: JobMessage): void {
    if (m.type === 'progress') {
      // A tick that was in flight when the session was stopped is dropped: the session has ended.
      const state = this.sessions.get(id)?.session.state;
      if (state === SessionState.SESSION_STATE_RUNNING) this.publish(id, { state, progress: m.fraction, etaSeconds: 0, message: m.message });
    } else if (m.type === 'done') this.lifecycle.onJobFinished(id, { ok: true, examples: m.examples });
    else this.lifecycle.onJobFinished(id, { ok: false, message: m.message });
  }

  /** Count every verified upload left on disk by a crash (see sessions/intake.ts). */
  reconcile(): Promise<number> {
    return this.intake.reconcile(this.log);
  }

  private lastSweep = 0;

  /** One round of periodic work: deadlines (every call), abandoned uploads (every sweepIntervalMs). */
  tick(now = Date.now()): void {
    // One read of the session records for both periodic checks.
    let records: SessionRecord[] = [];
    this.guard('reading sessions', () => (records = this.sessions.list()));
    this.guard('deadlines', () => this.lifecycle.checkDeadlines(now, records));
    this.guard('secure aggregation', () => this.secureAggregation.tick(records));
    if (now - this.lastSweep < this.limits.sweepIntervalMs) return;
    this.lastSweep = now;
    this.guard('sweep', () => {
      const n = this.intake.sweep(this.limits.uploadTtlMs, now);
      if (n) this.log(`removed ${n} abandoned upload(s)`);
    });
  }

  service() {
    return coordinatorService({
      lifecycle: this.lifecycle,
      view: this.view,
      intake: this.intake,
      secureAggregation: this.secureAggregation,
      watchers: this.watchers,
      credentialsPath: this.opts.credentialsPath ?? credentialsFile(this.opts.stateDir),
      requireClientCertificate: Boolean(this.opts.requireClientCertificate),
      messageIdleMs: this.limits.messageIdleMs,
      log: this.log,
    });
  }
}

export interface RunningCoordinator {
  coordinator: Coordinator;
  server: Server;
  port: number;
  calls: CallLimiter;
  listener: Listener;
  /** The status page, when statusAddress was given. */
  status?: StatusServer;
  close(): Promise<void>;
}

/** The name the gRPC health service reports the coordinator under (besides the server-wide ""). */
export const HEALTH_SERVICE_NAME = 'synthgrad.v1.Coordinator';

export async function startCoordinator(opts: CoordinatorOptions & { address: string; credentials: ServerCredentials }): Promise<RunningCoordinator> {
  const coordinator = new Coordinator(opts);
  const l = coordinator.limits;
  const calls = callLimits({ maxCalls: l.maxCalls, firstMessageMs: l.firstMessageMs, exempt: (path) => path.startsWith('/grpc.health.v1.') });
  const server = new Server({
    'grpc.max_receive_message_length': l.maxMessageBytes,
    'grpc.max_send_message_length': l.maxMessageBytes,
    'grpc.max_concurrent_streams': l.maxConcurrentStreams,
    'grpc.keepalive_time_ms': l.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': l.keepaliveTimeoutMs,
    'grpc.max_connection_idle_ms': l.connectionIdleMs,
    interceptors: [calls.interceptor],
  });
  server.addService(guardDecoding(CoordinatorService), coordinator.service());
  // The standard grpc.health.v1 service, for load balancers and orchestrators' probes.
  const health = new HealthImplementation({ '': 'SERVING', [HEALTH_SERVICE_NAME]: 'SERVING' });
  health.addToServer(server);
  const committed = await coordinator.reconcile();
  if (committed) coordinator.log(`reconciled ${committed} complete upload(s) found on disk`);
  const listener = await listen(server, opts.credentials, { ...parseAddress(opts.address), maxConnections: l.maxConnections, handshakeTimeoutMs: l.handshakeTimeoutMs });
  const status = opts.statusAddress
    ? await startStatusServer({ ...parseAddress(opts.statusAddress), sessions: () => coordinator.view.all(), log: coordinator.log })
    : undefined;
  const timer = setInterval(() => coordinator.tick(), Math.min(1000, l.sweepIntervalMs));
  return {
    coordinator,
    server,
    port: listener.port,
    calls,
    listener,
    status,
    close: async () => {
      clearInterval(timer);
      await status?.close();
      health.setStatus('', 'NOT_SERVING');
      health.setStatus(HEALTH_SERVICE_NAME, 'NOT_SERVING');
      await coordinator.jobs.stopAll();
      // Open progress streams would hold a graceful shutdown for good: give calls 2 s, then cut.
      const force = setTimeout(() => server.forceShutdown(), 2000);
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      clearTimeout(force);
      await listener.close();
    },
  };
}
