/**
 * The coordinator's side of secure aggregation, without transport: the rounds of a session
 * created with secure_aggregation.enabled (proto/synthgrad/v1/synthgrad.proto says when each
 * round closes), on top of the library's SecAggServer (packages/core/src/secagg/protocol.ts).
 *
 * Durability: the whole aggregation (round, when it opened, every advertisement, sealed share,
 * masked vector and revealed share — nothing secret) is one small file, `secagg.json`, written
 * atomically and fsynced before a message is acknowledged; a restarted coordinator carries on from
 * it. When the last round closes, the decoded sum is written (`aggregate.f32`) before the session
 * is marked RUNNING, so the job always finds it; closing is idempotent, so a crash between the two
 * is finished by the next tick.
 *
 * What it refuses, each with a typed error and never a crash: a message from someone who is not a
 * party, in another party's name, for a round that is not open, different from what the same
 * party sent before (a retry must repeat itself), of the wrong length or with malformed shares.
 * What it cannot check: the size of a masked contribution (that is the point of masking), so a
 * dishonest participant can skew the sum; see the README's trust model.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertNoiseQuorum, decodeFixed, SecAggServer, shareFromString, SynthgradError, type ServerState } from '@synthgrad/core';
import {
  keysFromWire,
  keysToWire,
  revealedFromWire,
  revealedToWire,
  SecAggRound,
  secAggNoisePlan,
  secAggParams,
  sealedFromWire,
  sealedToWire,
  SessionState,
  wordsFromBytes,
  type SecAggReply,
  type SecAggRequest,
} from '@synthgrad/protocol';
import type { Principal } from '../auth/credentials.js';
import { DomainError, failedPrecondition, invalidArgument, permissionDenied } from '../domain/errors.js';
import { writeFileDurably } from '../uploads/durable-file.js';
import type { SessionLifecycle } from './lifecycle.js';
import type { SessionRecord } from './session-store.js';

/** The file a secure-aggregation session keeps its rounds in. */
export const SECAGG_FILE = 'secagg.json';
/** The decoded sum: float32 little-endian, the vector layout of protocol/secure-aggregation.ts. */
export const AGGREGATE_FILE = 'aggregate.f32';

interface RoundsFile {
  version: 1;
  round: SecAggRound;
  roundStartedMs: number;
  /** Fixed when MASK closes: who sent a masked vector. */
  survivors: string[];
  server: ServerState;
}

/** Limits on what a party may send (far above honest sizes; they keep a hostile party's messages small). */
const MAX_KEY_CHARS = 512;
const MAX_SEALED_CHARS = 4096;
const MAX_SHARE_CHARS = 1024;

const roundName = (r: SecAggRound) => SecAggRound[r]?.replace('SEC_AGG_ROUND_', '') ?? String(r);

/** The library's protocol errors as domain errors (a peer's mistake, never an exception out of a handler). */
function domainError(e: unknown): unknown {
  if (!(e instanceof SynthgradError)) return e;
  return e.code === 'E_SHAPE_MISMATCH' || e.code === 'E_INPUT' ? invalidArgument(e.message) : failedPrecondition(e.message);
}

export class SecureAggregationRounds {
  constructor(
    private readonly lifecycle: SessionLifecycle,
    private readonly now: () => number = Date.now,
    private readonly log: (m: string) => void = () => {},
  ) {}

  private path(rec: SessionRecord, name: string): string {
    return join(this.lifecycle.store.sessionDir(rec.session.id), name);
  }

  private load(rec: SessionRecord): RoundsFile {
    const file = this.path(rec, SECAGG_FILE);
    if (!existsSync(file)) {
      const server = new SecAggServer(secAggParams(rec.session)).toState();
      return { version: 1, round: SecAggRound.SEC_AGG_ROUND_ADVERTISE, roundStartedMs: rec.session.createdUnixMs, survivors: [], server };
    }
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as RoundsFile;
    } catch {
      throw new DomainError('data-loss', `the secure-aggregation record of session ${rec.session.id} is unreadable`);
    }
  }

  private save(rec: SessionRecord, st: RoundsFile): void {
    writeFileDurably(this.path(rec, SECAGG_FILE), JSON.stringify(st));
    // The session's view follows the round (and, in MASK, how many vectors are in).
    const a = rec.session.secureAggregation!;
    const aggregated = st.server.masked.map(([p]) => p);
    if (a.round !== st.round || (rec.aggregated ?? []).length !== aggregated.length) {
      a.round = st.round;
      rec.aggregated = aggregated;
      this.lifecycle.store.save(rec);
    }
  }

  /** One call of SecureAggregate: take the caller's message for the open round (if any) and say what comes next. */
  step(who: Principal, req: SecAggRequest): SecAggReply {
    if (who.role !== 'client') throw permissionDenied(`${who.id} is not a client`);
    const rec = this.lifecycle.visible(who, req.sessionId);
    const a = rec.session.secureAggregation;
    if (!a?.enabled) throw failedPrecondition('this session does not use secure aggregation; upload contributions instead');
    if (!rec.joined.includes(who.id) && !(rec.aggregated ?? []).includes(who.id)) throw failedPrecondition('join the session first');
    const s = rec.session.state;
    if (s !== SessionState.SESSION_STATE_OPEN && s !== SessionState.SESSION_STATE_RUNNING && s !== SessionState.SESSION_STATE_DONE) {
      throw failedPrecondition(`session is ${SessionState[s]}: ${rec.session.message}`);
    }
    let st = this.load(rec);
    if (s === SessionState.SESSION_STATE_OPEN) st = this.advance(rec, st);
    if (req.round !== SecAggRound.SEC_AGG_ROUND_UNSPECIFIED && req.round === st.round) {
      let changed: boolean;
      try {
        changed = this.accept(who.id, req, st);
      } catch (e) {
        throw domainError(e);
      }
      if (changed) {
        this.save(rec, st);
        st = this.advance(rec, st);
      }
    } else if (req.round > st.round && st.round !== SecAggRound.SEC_AGG_ROUND_DONE) {
      throw failedPrecondition(`round ${roundName(req.round)} is not open; the aggregation is in ${roundName(st.round)}`);
    }
    return this.reply(who.id, st);
  }

  /**
   * Record one party's message for the open round. The same message again is a retry (false:
   * nothing changed, nothing to write); a different one for the same round is refused.
   */
  private accept(from: string, req: SecAggRequest, st: RoundsFile): boolean {
    const srv = SecAggServer.fromState(st.server);
    const repeated = <T>(have: T | undefined, got: T, what: string): boolean => {
      if (have === undefined) return false;
      if (JSON.stringify(have) !== JSON.stringify(got)) throw failedPrecondition(`${from} already sent its ${what} for this round, and this one differs`);
      return true;
    };
    const parties = st.server.params.parties;
    switch (req.round) {
      case SecAggRound.SEC_AGG_ROUND_ADVERTISE: {
        const k = req.keys;
        if (!k || k.party !== from) throw invalidArgument('an advertisement must carry the caller\'s own keys');
        if (k.c.length > MAX_KEY_CHARS || k.s.length > MAX_KEY_CHARS || !k.c || !k.s) throw invalidArgument('malformed public keys');
        const ad = keysFromWire(k);
        if (repeated(st.server.ads.find((x) => x.party === from), ad, 'keys')) return false;
        srv.advertise(ad);
        // ADVERTISE waits a round's time after the latest newcomer (see advance).
        st.roundStartedMs = this.now();
        break;
      }
      case SecAggRound.SEC_AGG_ROUND_SHARE: {
        if (!st.server.ads.some((x) => x.party === from)) throw failedPrecondition(`${from} did not advertise keys and is not in this aggregation`);
        if (req.shares.length > parties.length) throw invalidArgument('more shares than parties');
        for (const m of req.shares) if (!parties.includes(m.to) || m.sealed.length > MAX_SEALED_CHARS) throw invalidArgument('a sealed share is malformed or for no party');
        const msgs = req.shares.map(sealedFromWire);
        if (repeated(st.server.sealed.find(([p]) => p === from)?.[1], msgs, 'shares')) return false;
        srv.shares(from, msgs);
        break;
      }
      case SecAggRound.SEC_AGG_ROUND_MASK: {
        let y: Uint32Array;
        try {
          y = wordsFromBytes(req.masked);
        } catch (e) {
          throw invalidArgument((e as Error).message);
        }
        // Compared as ServerState stores it: base64 of the words.
        const b64 = Buffer.from(y.buffer, y.byteOffset, y.byteLength).toString('base64');
        if (repeated(st.server.masked.find(([p]) => p === from)?.[1], b64, 'masked vector')) return false;
        srv.maskedInput(from, y);
        break;
      }
      case SecAggRound.SEC_AGG_ROUND_UNMASK: {
        if (!st.survivors.includes(from)) throw failedPrecondition(`${from} sent no masked vector and is not a survivor`);
        if (JSON.stringify([...req.survivors].sort()) !== JSON.stringify([...st.survivors].sort())) throw invalidArgument('the reveal answers another survivor set than this aggregation\'s');
        if (req.revealed.length > 2 * parties.length) throw invalidArgument('more revealed shares than parties');
        const shares = req.revealed.map((r) => {
          if (!parties.includes(r.of) || r.share.length > MAX_SHARE_CHARS) throw invalidArgument('a revealed share is malformed or of no party');
          try {
            shareFromString(r.share);
            return revealedFromWire(r);
          } catch (e) {
            throw invalidArgument(`a revealed share of ${r.of} is malformed: ${(e as Error).message}`);
          }
        });
        if (repeated(st.server.revealed.find(([p]) => p === from)?.[1], shares, 'revealed shares')) return false;
        srv.reveal(from, shares);
        break;
      }
      default:
        throw invalidArgument(`no message belongs to round ${roundName(req.round)}`);
    }
    st.server = srv.toState();
    return true;
  }

  private reply(party: string, st: RoundsFile): SecAggReply {
    const srv = st.server;
    const advertised = srv.ads.map((x) => x.party);
    const shared = srv.sealed.map(([p]) => p);
    const masked = srv.masked.map(([p]) => p);
    const revealed = srv.revealed.map(([p]) => p);
    const r: SecAggReply = { round: st.round, answered: false, excluded: false, keys: [], shares: [], survivors: [], message: '', party };
    switch (st.round) {
      case SecAggRound.SEC_AGG_ROUND_ADVERTISE:
        r.answered = advertised.includes(party);
        r.message = `${advertised.length} of ${srv.params.parties.length} parties have advertised keys`;
        break;
      case SecAggRound.SEC_AGG_ROUND_SHARE:
        r.excluded = !advertised.includes(party);
        r.answered = shared.includes(party);
        r.keys = srv.ads.map(keysToWire);
        break;
      case SecAggRound.SEC_AGG_ROUND_MASK:
        r.excluded = !shared.includes(party);
        r.answered = masked.includes(party);
        r.shares = srv.sealed.flatMap(([, ms]) => ms.filter((m) => m.to === party)).map(sealedToWire);
        break;
      case SecAggRound.SEC_AGG_ROUND_UNMASK:
        r.excluded = !st.survivors.includes(party);
        r.answered = revealed.includes(party);
        r.survivors = [...st.survivors];
        break;
      default:
        r.excluded = !st.survivors.includes(party);
        r.answered = true;
        r.survivors = [...st.survivors];
    }
    if (r.excluded) r.message = `${party} missed a round; its data is not in this session's sum`;
    return r;
  }

  /** Close rounds whose answers are all in (or whose time is up); fail or expire the session when too few remain. */
  private advance(rec: SessionRecord, st: RoundsFile): RoundsFile {
    const a = rec.session.secureAggregation!;
    const t = a.threshold;
    const now = this.now();
    const srv = st.server;
    for (;;) {
      const timedOut = now - st.roundStartedMs >= a.roundTimeoutMs;
      const open = (expected: string[], got: string[], what: string): boolean | 'failed' => {
        const all = expected.every((p) => got.includes(p));
        if (all && got.length >= t) return false;
        if (!timedOut) return true;
        if (got.length >= t) return false;
        this.lifecycle.setState(rec, SessionState.SESSION_STATE_FAILED, `secure aggregation: ${got.length} of ${expected.length} parties ${what} within ${a.roundTimeoutMs} ms; at least ${t} are needed`);
        return 'failed';
      };
      let next: SecAggRound;
      if (st.round === SecAggRound.SEC_AGG_ROUND_ADVERTISE) {
        const advertised = srv.ads.map((x) => x.party);
        const pastDeadline = Boolean(rec.session.deadlineUnixMs) && now >= rec.session.deadlineUnixMs;
        if (pastDeadline && advertised.length < t) {
          this.lifecycle.setState(rec, SessionState.SESSION_STATE_EXPIRED, `deadline passed with ${advertised.length} of ${t} parties ready for secure aggregation`);
          return st;
        }
        // Everyone invited is in; or enough are, nobody who joined is still computing, and nobody new came for a round's time.
        const everyone = srv.params.parties.every((p) => advertised.includes(p));
        const settled = advertised.length >= t && rec.joined.every((p) => advertised.includes(p)) && timedOut;
        if (!(everyone || settled || (pastDeadline && advertised.length >= t))) return st;
        next = SecAggRound.SEC_AGG_ROUND_SHARE;
      } else if (st.round === SecAggRound.SEC_AGG_ROUND_SHARE) {
        const o = open(srv.ads.map((x) => x.party), srv.sealed.map(([p]) => p), 'sent their key shares');
        if (o) return st;
        next = SecAggRound.SEC_AGG_ROUND_MASK;
      } else if (st.round === SecAggRound.SEC_AGG_ROUND_MASK) {
        const o = open(srv.sealed.map(([p]) => p), srv.masked.map(([p]) => p), 'sent masked vectors');
        if (o) return st;
        const server = SecAggServer.fromState(srv);
        st.survivors = server.survivors();
        st.server = server.toState();
        next = SecAggRound.SEC_AGG_ROUND_UNMASK;
      } else if (st.round === SecAggRound.SEC_AGG_ROUND_UNMASK) {
        const o = open(st.survivors, srv.revealed.map(([p]) => p), 'revealed their shares');
        if (o) return st;
        if (!this.finish(rec, st)) return st;
        next = SecAggRound.SEC_AGG_ROUND_DONE;
      } else {
        // DONE: the sum is on disk; a crash may have come before the session was told.
        this.lifecycle.startAggregated(rec, st.survivors);
        return st;
      }
      const line = `secure aggregation: ${roundName(st.round)} -> ${roundName(next)}`;
      this.log(`session ${rec.session.id}: ${line}`);
      this.lifecycle.note(rec, line);
      st.round = next;
      st.roundStartedMs = now;
      this.save(rec, st);
    }
  }

  /** Unmask, check the noise quorum, decode and write the sum. False (and the session FAILED) when that is impossible. */
  private finish(rec: SessionRecord, st: RoundsFile): boolean {
    try {
      const { sum, survivors, dropped } = SecAggServer.fromState(st.server).sum();
      const plan = secAggNoisePlan(rec.session);
      // Dropped-after-masking parties count: their masked vector, noise included, is in the sum.
      assertNoiseQuorum(survivors.length, plan);
      const decoded = decodeFixed(sum, plan.fixedPoint);
      const out = Buffer.alloc(decoded.length * 4);
      for (let i = 0; i < decoded.length; i++) out.writeFloatLE(decoded[i], 4 * i);
      writeFileDurably(this.path(rec, AGGREGATE_FILE), out);
      const gone = dropped.length ? `; ${dropped.join(', ')} dropped after sharing keys` : '';
      this.lifecycle.note(rec, `secure sum of ${survivors.length} parties (${survivors.join(', ')})${gone}`);
      return true;
    } catch (e) {
      this.lifecycle.setState(rec, SessionState.SESSION_STATE_FAILED, `secure aggregation could not unmask the sum: ${(e as Error).message}`);
      return false;
    }
  }

  /** The periodic check: close timed-out rounds and pass deadlines for every open secure-aggregation session. */
  tick(records = this.lifecycle.store.list()): void {
    for (const rec of records) {
      if (!rec.session.secureAggregation?.enabled || rec.session.state !== SessionState.SESSION_STATE_OPEN) continue;
      try {
        this.advance(rec, this.load(rec));
      } catch (e) {
        this.log(`secure aggregation of ${rec.session.id}: ${(e as Error).message}`);
      }
    }
  }
}

/** The decoded secure sum of a session (for the job): one float per word of the masked vector. */
export function readAggregate(sessionDir: string, length: number): Float32Array {
  const b = readFileSync(join(sessionDir, AGGREGATE_FILE));
  if (b.length !== 4 * length) throw new SynthgradError(`${AGGREGATE_FILE} has ${b.length} bytes, the session's vector ${4 * length}`, 'E_INPUT');
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = b.readFloatLE(4 * i);
  return out;
}
