/**
 * The session state machine, without transport (the way Flower keeps its link state apart from
 * its servicer): who may see and join a session, which uploads it accepts, when a contribution
 * counts, the quorum, deadlines and the job's outcome. Every refusal is a typed DomainError;
 * server/grpc-service.ts maps them to gRPC statuses. Unit-tested without processes or sockets.
 *
 * States: OPEN -> RUNNING (every joined client complete and at least min_clients, or the deadline
 * with at least min_clients complete) -> DONE | FAILED; OPEN -> EXPIRED (deadline without the
 * minimum); OPEN | RUNNING -> CANCELLED (the operator's stop). Only OPEN sessions take joins and
 * uploads.
 */
import {
  DEFAULT_ROUND_TIMEOUT_MS,
  releaseName,
  releasedRows,
  SecAggRound,
  secAggBlockLength,
  SessionState,
  type CreateSessionRequest,
  type SecureAggregation,
  type Session,
  type SessionEvent,
} from '@synthgrad/protocol';
import { PRESETS } from '@synthgrad/core/presets';
import { DomainError, failedPrecondition, invalidArgument, notFound, permissionDenied, quote } from '../domain/errors.js';
import { checkClientId, keyString, type UploadKey } from '../domain/names.js';
import { checkTaskSpec } from '../domain/task-spec.js';
import { requireOperator, type Principal } from '../auth/credentials.js';
import type { UploadTarget } from '../uploads/validate-header.js';
import type { SessionRecord, SessionStore } from './session-store.js';

export interface ModelInfo {
  sha256: string;
  vocabSize: number;
  dModel: number;
}

/** What the lifecycle asks of its host: run a job, stop one, tell watchers. */
export interface LifecycleHooks {
  startJob(rec: SessionRecord): void;
  /** End the session's job if one runs (a no-op otherwise); its outcome is no longer wanted. */
  stopJob(sessionId: string): void;
  publish(sessionId: string, event: SessionEvent): void;
  /** An event worth an operator's log line that watchers need not hear (a join, a counted class). */
  note?(sessionId: string, state: SessionState, line: string): void;
}

/** Without a value in the request: the most examples one participant may sum into a class. */
export const DEFAULT_MAX_EXAMPLES = 1000;

export const TERMINAL: ReadonlySet<SessionState> = new Set([
  SessionState.SESSION_STATE_DONE,
  SessionState.SESSION_STATE_FAILED,
  SessionState.SESSION_STATE_EXPIRED,
  SessionState.SESSION_STATE_CANCELLED,
]);

const stateName = (s: SessionState) => SessionState[s] ?? String(s);

export class SessionLifecycle {
  constructor(
    readonly store: SessionStore,
    private readonly model: ModelInfo,
    private readonly hooks: LifecycleHooks,
    private readonly now: () => number = Date.now,
  ) {}

  create(who: Principal, req: CreateSessionRequest): Session {
    requireOperator(who);
    const labels = req.task?.labels ?? [];
    if (labels.length < 2) throw invalidArgument('a task needs at least two labels');
    checkTaskSpec(req.task!);
    if (req.modelSha256 !== this.model.sha256) throw failedPrecondition(`this coordinator serves model ${this.model.sha256}, not ${quote(req.modelSha256)}`);
    if (!(req.minClients >= 1)) throw invalidArgument('min_clients must be at least 1');
    const p = req.privacy;
    if (!(p && Number.isFinite(p.clip) && p.clip > 0)) throw invalidArgument('privacy.clip must be a positive number');
    if (!(Number.isFinite(p.epsilon) && p.epsilon >= 0)) throw invalidArgument('privacy.epsilon must be a non-negative number');
    if (p.epsilon > 0 && !(p.delta > 0 && p.delta < 1)) throw invalidArgument('privacy.delta must be in (0, 1)');
    try {
      releaseName(p.release);
    } catch {
      throw invalidArgument(`privacy.release ${p.release} is not a known release (FULL or LABEL_ROWS)`);
    }
    if (!(req.syntheticPerClass >= 1)) throw invalidArgument('synthetic_per_class must be at least 1');
    // An unknown preset would only fail when the job starts, after every owner has uploaded.
    if (req.preset && !Object.hasOwn(PRESETS, req.preset)) throw invalidArgument(`preset ${quote(req.preset)} is not one of ${Object.keys(PRESETS).join(', ')}`);
    if (req.clientIds.length === 0) throw invalidArgument('client_ids must name at least one client');
    for (const c of req.clientIds) checkClientId(c);
    if (new Set(req.clientIds).size !== req.clientIds.length) throw invalidArgument('client_ids must not repeat a client');
    // The session fixes the bound every contribution is checked against (domain/contribution-bound.ts).
    const privacy = { ...p, maxExamples: p.maxExamples || DEFAULT_MAX_EXAMPLES };
    const secure = req.secureAggregation?.enabled ? this.secureAggregation(req) : undefined;
    const created = this.store.create({ ...req, privacy }, this.now(), secure).session;
    this.hooks.note?.(created.id, created.state, `created by ${who.id}: ${req.clientIds.length} invited, quorum ${req.minClients}${secure ? ', secure aggregation' : ''}`);
    return created;
  }

  /**
   * A secure-aggregation session's fixed parameters: every invited client is a party (in the
   * request's order), the Shamir threshold and noise quorum are min_clients, and the vector holds
   * every class's label rows. Only the label-rows release is small enough to mask whole.
   */
  private secureAggregation(req: CreateSessionRequest): SecureAggregation {
    const labels = req.task!.labels.length;
    if (releaseName(req.privacy!.release) !== 'label-rows') throw invalidArgument('secure aggregation needs privacy.release LABEL_ROWS (a whole-head vector of 28M words a class is too large to mask)');
    if (req.minClients < 2) throw invalidArgument('secure aggregation needs min_clients of at least 2 (the Shamir threshold and the noise quorum)');
    if (req.clientIds.length < req.minClients) throw invalidArgument(`secure aggregation: ${req.clientIds.length} invited clients cannot reach min_clients ${req.minClients}`);
    const timeout = req.secureAggregation!.roundTimeoutMs || DEFAULT_ROUND_TIMEOUT_MS;
    if (!(timeout >= 100 && timeout <= 24 * 3600_000)) throw invalidArgument('secure_aggregation.round_timeout_ms must be between 100 ms and a day');
    return {
      enabled: true,
      parties: [...req.clientIds],
      threshold: req.minClients,
      vectorLength: labels * secAggBlockLength(labels, this.model.dModel),
      roundTimeoutMs: timeout,
      round: SecAggRound.SEC_AGG_ROUND_ADVERTISE,
    };
  }

  list(who: Principal): Session[] {
    return this.store.list().filter((r) => who.role === 'operator' || r.invited.includes(who.id)).map((r) => r.session);
  }

  /** The session, if this principal may see it (operators see all; clients only their invitations). */
  visible(who: Principal, sessionId: string): SessionRecord {
    const rec = this.store.get(sessionId);
    if (!rec || (who.role === 'client' && !rec.invited.includes(who.id))) throw notFound(`no session ${quote(sessionId)}`);
    return rec;
  }

  join(who: Principal, sessionId: string, modelSha256: string): Session {
    if (who.role !== 'client') throw permissionDenied(`${who.id} is not a client`);
    const rec = this.visible(who, sessionId);
    if (modelSha256 !== rec.session.modelSha256) throw failedPrecondition(`session model is ${rec.session.modelSha256}; this client has ${quote(modelSha256)}`);
    // Joining again is idempotent (a restarted client follows its job); joining late is not possible.
    if (rec.joined.includes(who.id)) return rec.session;
    if (rec.session.state !== SessionState.SESSION_STATE_OPEN) throw failedPrecondition(`session is ${stateName(rec.session.state)}`);
    const round = rec.session.secureAggregation?.round;
    if (round !== undefined && round !== SecAggRound.SEC_AGG_ROUND_ADVERTISE) throw failedPrecondition('the session\'s secure aggregation has started; it takes no new participants');
    rec.joined.push(who.id);
    this.store.save(rec);
    this.hooks.note?.(rec.session.id, rec.session.state, `${who.id} joined (${rec.session.participants} of ${rec.invited.length})`);
    return rec.session;
  }

  /** What an upload to this session is checked against. */
  target(rec: SessionRecord): UploadTarget {
    const p = rec.session.privacy!;
    return {
      sessionId: rec.session.id,
      classes: rec.session.task!.labels.length,
      // A label-rows release holds one row per label (the verbaliser tokens, in label order).
      shape: [releasedRows(p.release, this.model.vocabSize, rec.session.task!.labels.length), this.model.dModel],
      privacy: { epsilon: p.epsilon, delta: p.delta, clip: p.clip, maxExamples: p.maxExamples || DEFAULT_MAX_EXAMPLES },
    };
  }

  /**
   * May this client upload `uploadId` for `classIndex` now? It must have joined an OPEN session,
   * and a class it already contributed to takes no second upload under another id.
   */
  admitUpload(who: Principal, sessionId: string, classIndex: number, key: UploadKey): { rec: SessionRecord; target: UploadTarget } {
    if (who.role !== 'client') throw permissionDenied(`${who.id} is not a client`);
    const rec = this.visible(who, sessionId);
    if (!rec.joined.includes(who.id)) throw failedPrecondition('join the session before uploading');
    if (rec.session.secureAggregation?.enabled) throw failedPrecondition('this session sums contributions under secure aggregation (SecureAggregate), not by upload');
    const recorded = rec.contributions[who.id]?.[classIndex];
    if (recorded !== undefined && recorded !== keyString(key)) {
      throw new DomainError('already-exists', `class ${classIndex} already has your contribution ${recorded.split('/')[1]}`);
    }
    if (recorded === undefined && rec.session.state !== SessionState.SESSION_STATE_OPEN) throw failedPrecondition(`session is ${stateName(rec.session.state)}`);
    return { rec, target: this.target(rec) };
  }

  isCommitted(sessionId: string, key: UploadKey, classIndex: number): boolean {
    return this.store.get(sessionId)?.contributions[key.clientId]?.[classIndex] === keyString(key);
  }

  /**
   * Count a verified upload: recorded durably in the session before anyone is told "complete".
   * Idempotent: the stream's end, a status query, a retry and the start-up reconciliation may all
   * commit the same upload. Returns the session after it (and starts the job on quorum).
   */
  commitUpload(sessionId: string, key: UploadKey, classIndex: number): Session {
    const rec = this.store.get(sessionId);
    if (!rec) throw notFound(`no session ${quote(sessionId)}`);
    const mine = (rec.contributions[key.clientId] ??= {});
    if (mine[classIndex] === keyString(key)) return rec.session;
    if (mine[classIndex] !== undefined) throw new DomainError('already-exists', `class ${classIndex} already has another contribution from ${key.clientId}`);
    if (rec.session.state !== SessionState.SESSION_STATE_OPEN) throw failedPrecondition(`session is ${stateName(rec.session.state)}; the upload came too late`);
    if (!rec.joined.includes(key.clientId)) throw failedPrecondition(`${key.clientId} has not joined`);
    mine[classIndex] = keyString(key);
    this.store.save(rec);
    const label = rec.session.task?.labels[classIndex]?.name ?? String(classIndex);
    this.hooks.note?.(sessionId, rec.session.state, `${key.clientId} contributed class ${label} (${rec.session.completeContributions} of ${rec.session.minClients} complete)`);
    this.maybeStart(rec);
    return rec.session;
  }

  /** Start the job once every joined client has uploaded every class and the quorum is met. */
  private maybeStart(rec: SessionRecord): void {
    const s = rec.session;
    if (s.state !== SessionState.SESSION_STATE_OPEN) return;
    if (s.completeContributions >= s.minClients && s.completeContributions === s.participants) {
      this.setState(rec, SessionState.SESSION_STATE_RUNNING);
      this.hooks.startJob(rec);
    }
  }

  /**
   * A secure sum is in (secure-aggregation.ts wrote it durably): the participants are the
   * survivors whose data it holds, and the job starts.
   */
  startAggregated(rec: SessionRecord, survivors: string[]): void {
    if (rec.session.state !== SessionState.SESSION_STATE_OPEN) return;
    rec.joined = rec.joined.filter((c) => survivors.includes(c));
    this.setState(rec, SessionState.SESSION_STATE_RUNNING, `secure sum of ${survivors.length} participants`);
    this.hooks.startJob(rec);
  }

  /** A line for the operator's log of the session (watchers do not hear it). */
  note(rec: SessionRecord, line: string): void {
    this.hooks.note?.(rec.session.id, rec.session.state, line);
  }

  setState(rec: SessionRecord, state: SessionState, message = '', progress?: number): void {
    rec.session.state = state;
    rec.session.message = message;
    this.store.save(rec);
    this.hooks.publish(rec.session.id, { state, progress: state === SessionState.SESSION_STATE_DONE ? 1 : (progress ?? 0), etaSeconds: 0, message });
  }

  /** Sessions past their deadline: run with what is in if the minimum is met, else expire. */
  checkDeadlines(now = this.now(), records = this.store.list()): void {
    for (const rec of records) {
      const s = rec.session;
      // Secure-aggregation sessions keep their own rounds and deadline (secure-aggregation.ts).
      if (s.secureAggregation?.enabled || s.state !== SessionState.SESSION_STATE_OPEN || !s.deadlineUnixMs || now < s.deadlineUnixMs) continue;
      if (s.completeContributions >= s.minClients) {
        rec.joined = rec.joined.filter((c) => Object.keys(rec.contributions[c] ?? {}).length === s.task!.labels.length);
        this.setState(rec, SessionState.SESSION_STATE_RUNNING);
        this.hooks.startJob(rec);
      } else this.setState(rec, SessionState.SESSION_STATE_EXPIRED, `deadline passed with ${s.completeContributions} of ${s.minClients} contributions`);
    }
  }

  /** A participant (or the operator) may download the results of a DONE session. */
  downloadable(who: Principal, sessionId: string): SessionRecord {
    const rec = this.visible(who, sessionId);
    if (who.role === 'client' && !rec.joined.includes(who.id)) throw permissionDenied('only participants may download the results');
    if (rec.session.state !== SessionState.SESSION_STATE_DONE) throw failedPrecondition(`results are not ready (session is ${stateName(rec.session.state)})`);
    return rec;
  }

  /**
   * The operator's stop: an OPEN or RUNNING session becomes CANCELLED (durably, before its job is
   * ended, so a restart does not resume it), and its watchers get the terminal event. Stopping an
   * ended session is refused, so a late stop cannot rewrite a DONE session's outcome.
   */
  stop(who: Principal, sessionId: string, reason = ''): Session {
    requireOperator(who);
    const rec = this.visible(who, sessionId);
    const s = rec.session;
    if (TERMINAL.has(s.state)) throw failedPrecondition(`session is already ${stateName(s.state)}`);
    const why = reason.trim().slice(0, 200);
    this.setState(rec, SessionState.SESSION_STATE_CANCELLED, `stopped by ${who.id}${why ? `: ${why}` : ''}`);
    this.hooks.stopJob(s.id);
    return rec.session;
  }

  onJobFinished(sessionId: string, outcome: { ok: true; examples: number } | { ok: false; message: string }): void {
    const rec = this.store.get(sessionId);
    // Only a RUNNING session takes its job's outcome: a cancelled one keeps its state.
    if (!rec || rec.session.state !== SessionState.SESSION_STATE_RUNNING) return;
    if (outcome.ok) this.setState(rec, SessionState.SESSION_STATE_DONE, `${outcome.examples} synthetic examples`);
    else this.setState(rec, SessionState.SESSION_STATE_FAILED, outcome.message);
  }

  /** Sessions whose job was running when the coordinator stopped. */
  running(): SessionRecord[] {
    return this.store.list().filter((r) => r.session.state === SessionState.SESSION_STATE_RUNNING);
  }
}
