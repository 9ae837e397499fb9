/**
 * The thin gRPC layer over the session lifecycle and the intake: read the caller's identity from
 * the call, decode-guard the request, call the domain, map what it throws to a status. Every
 * handler has a catch-all and every stream listener is guarded, so nothing a caller sends can
 * raise an exception out of a handler and end the process.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Metadata, ServerUnaryCall, ServerWritableStream, sendUnaryData } from '@grpc/grpc-js';
import { ResultFile, SessionState, type CoordinatorServer, type SessionEvent } from '@synthgrad/protocol';
import type { Principal } from '../auth/credentials.js';
import { authenticate } from '../auth/authenticate.js';
import { DomainError, invalidArgument } from '../domain/errors.js';
import { TERMINAL, type SessionLifecycle } from '../sessions/lifecycle.js';
import type { UploadIntake } from '../sessions/intake.js';
import type { SecureAggregationRounds } from '../sessions/secure-aggregation.js';
import type { SessionView } from '../ops/session-view.js';
import { isUndecodable } from './decode-guard.js';
import { toServiceError, type Logger } from './status.js';
import { uploadStreamHandler } from './upload-stream.js';
import type { WatchHub } from './watch-hub.js';

/** What authentication needs of a call: its metadata and, over TLS, the peer's certificate. */
interface Caller {
  metadata: Metadata;
  // grpc-js does not export its AuthContext type; this is the part of it used here.
  getAuthContext?: () => { sslPeerCertificate?: { subject?: { CN?: string | string[] } } } | null;
}

export interface ServiceDeps {
  lifecycle: SessionLifecycle;
  view: SessionView;
  intake: UploadIntake;
  secureAggregation: SecureAggregationRounds;
  watchers: WatchHub;
  credentialsPath: string;
  requireClientCertificate: boolean;
  messageIdleMs: number;
  log: Logger;
}

export function coordinatorService(d: ServiceDeps): CoordinatorServer {
  const auth = (call: Caller): Principal =>
    authenticate(d.credentialsPath, { authorization: String(call.metadata.get('authorization')[0] ?? ''), peerCommonName: call.getAuthContext?.()?.sslPeerCertificate?.subject?.CN }, d.requireClientCertificate);

  /** A unary handler with its catch-all (synchronous throws and rejected promises alike). */
  const unary =
    <Req, Res>(f: (req: Req, who: Principal) => Res | Promise<Res>) =>
    (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>) => {
      const reply = (e: unknown, r?: Res) => {
        try {
          if (e) cb(toServiceError(e, d.log));
          else cb(null, r);
        } catch (err) {
          d.log(`answering a call failed: ${(err as Error).message}`);
        }
      };
      try {
        const who = auth(call);
        if (isUndecodable(call.request)) throw invalidArgument(`the request could not be decoded: ${call.request.reason}`);
        Promise.resolve(f(call.request, who)).then(
          (r) => reply(null, r),
          (e) => reply(e),
        );
      } catch (e) {
        reply(e);
      }
    };

  /** A server-streaming handler with its catch-all; a failed write never throws out of a listener. */
  const serverStream =
    <Req, Res>(f: (call: ServerWritableStream<Req, Res>, who: Principal) => void) =>
    (call: ServerWritableStream<Req, Res>) => {
      call.on('error', (e) => d.log(`stream error: ${e.message}`));
      try {
        const who = auth(call);
        if (isUndecodable(call.request)) throw invalidArgument(`the request could not be decoded: ${call.request.reason}`);
        f(call, who);
      } catch (e) {
        try {
          call.destroy(toServiceError(e, d.log));
        } catch (err) {
          d.log(`ending a stream failed: ${(err as Error).message}`);
        }
      }
    };

  return {
    createSession: unary((req, who) => d.lifecycle.create(who, req)),
    listSessions: unary((_req, who) => ({ sessions: d.lifecycle.list(who) })),
    listSessionDetails: unary((_req, who) => ({ sessions: d.view.list(who) })),
    describeSession: unary((req, who) => d.view.describe(who, req.sessionId)),
    stopSession: unary((req, who) => d.lifecycle.stop(who, req.sessionId, req.reason)),
    getSession: unary((req, who) => d.lifecycle.visible(who, req.sessionId).session),
    joinSession: unary((req, who) => ({ session: d.lifecycle.join(who, req.sessionId, req.modelSha256) })),
    getUploadStatus: unary((req, who) => {
      if (who.role !== 'client') throw new DomainError('permission-denied', `${who.id} is not a client`);
      return d.intake.status(who, req.sessionId, req.uploadId);
    }),
    secureAggregate: unary((req, who) => d.secureAggregation.step(who, req)),
    uploadContribution: uploadStreamHandler({ intake: d.intake, authenticate: auth, log: d.log, messageIdleMs: d.messageIdleMs }),
    watchSession: serverStream((call, who) => {
      const rec = d.lifecycle.visible(who, call.request.sessionId);
      const s = rec.session;
      const now: SessionEvent = d.watchers.last(s.id) ?? { state: s.state, progress: s.state === SessionState.SESSION_STATE_DONE ? 1 : 0, etaSeconds: 0, message: s.message };
      call.write({ ...now, state: s.state, message: TERMINAL.has(s.state) ? s.message : now.message });
      // A session that has ended (EXPIRED included) ends the stream at once.
      if (TERMINAL.has(s.state)) call.end();
      else d.watchers.add(s.id, call as ServerWritableStream<unknown, SessionEvent>);
    }),
    downloadResult: serverStream((call, who) => {
      const rec = d.lifecycle.downloadable(who, call.request.sessionId);
      const name = call.request.file === ResultFile.RESULT_FILE_META ? 'meta.json' : 'synthetic.jsonl';
      const path = join(d.lifecycle.store.sessionDir(rec.session.id), name);
      if (!existsSync(path)) throw new DomainError('data-loss', `${name} is missing`);
      const data = readFileSync(path);
      const sha256 = createHash('sha256').update(data).digest('hex');
      const step = 64 * 1024;
      for (let o = 0; o < data.length || o === 0; o += step) {
        call.write({ data: data.subarray(o, o + step), totalBytes: data.length, sha256: o === 0 ? sha256 : '' });
        if (data.length === 0) break;
      }
      call.end();
    }),
  };
}
