/**
 * The UploadContribution client stream: header, chunks, half-close -> one UploadAck. The work is
 * the intake's (sessions/intake.ts); this file handles what only a stream has:
 *  - order: messages are handled one at a time, the half-close after the last of them;
 *  - one writer per upload: a second stream for the same upload takes over and the first is
 *    answered ABORTED (two writers used to interleave, and one discarding the upload under the
 *    other crashed the process at the other's half-close);
 *  - a per-message idle timeout, so a stream that stops sending frees its slot;
 *  - exactly one answer per stream, whatever throws, and no listener that can throw.
 */
import type { ServerReadableStream, sendUnaryData } from '@grpc/grpc-js';
import type { ContributionChunk, UploadAck } from '@synthgrad/protocol';
import type { Principal } from '../auth/credentials.js';
import { DomainError, invalidArgument } from '../domain/errors.js';
import { keyString } from '../domain/names.js';
import type { OpenUpload, UploadIntake } from '../sessions/intake.js';
import { isUndecodable } from './decode-guard.js';
import { toServiceError, type Logger } from './status.js';

export interface UploadStreamDeps {
  intake: UploadIntake;
  authenticate: (call: ServerReadableStream<ContributionChunk, UploadAck>) => Principal;
  log: Logger;
  /** A stream that sends nothing for this long is ended with DEADLINE_EXCEEDED. */
  messageIdleMs: number;
}

/** The stream currently writing each upload (`session/client/upload`), to supersede. */
type Leases = Map<string, () => void>;

export function uploadStreamHandler(deps: UploadStreamDeps) {
  const leases: Leases = new Map();
  return (call: ServerReadableStream<ContributionChunk, UploadAck>, cb: sendUnaryData<UploadAck>): void => {
    let settled = false;
    let upload: OpenUpload | undefined;
    let leaseId = '';
    let idle: NodeJS.Timeout | undefined;
    let queue: Promise<void> = Promise.resolve();

    const cleanup = () => {
      clearTimeout(idle);
      if (leaseId && leases.get(leaseId) === supersede) leases.delete(leaseId);
    };
    const answer = (e: unknown, ack?: UploadAck) => {
      if (settled) return;
      settled = true;
      cleanup();
      try {
        if (e) cb(toServiceError(e, deps.log));
        else cb(null, ack);
      } catch (err) {
        deps.log(`answering an upload stream failed: ${(err as Error).message}`);
      }
    };
    const supersede = () => answer(new DomainError('aborted', 'a newer stream took over this upload'));
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => answer(new DomainError('deadline-exceeded', `no message for ${deps.messageIdleMs} ms`)), deps.messageIdleMs);
      idle.unref();
    };

    let who: Principal;
    try {
      who = deps.authenticate(call);
    } catch (e) {
      answer(e);
      return;
    }
    touch();

    const handle = (m: ContributionChunk) => {
      if (isUndecodable(m)) throw invalidArgument(`the message could not be decoded: ${m.reason}`);
      if (m.header) {
        if (upload) throw invalidArgument('a stream carries one header');
        const opened = deps.intake.open(who, m.header);
        upload = opened.upload;
        leaseId = `${upload.sessionId}/${keyString(upload.key)}`;
        const previous = leases.get(leaseId);
        leases.set(leaseId, supersede);
        previous?.();
      } else if (m.chunk) {
        if (!upload) throw invalidArgument('the first message must be the header');
        deps.intake.chunk(upload, m.chunk.index, m.chunk.data);
      } else throw invalidArgument('empty message');
    };

    const guarded = (f: () => void | Promise<void>) => {
      queue = queue.then(async () => {
        if (settled) return;
        try {
          await f();
        } catch (e) {
          answer(e);
        }
      });
    };

    call.on('data', (m: ContributionChunk) => {
      if (settled) return;
      touch();
      guarded(() => handle(m));
    });
    call.on('end', () =>
      guarded(async () => {
        if (!upload) throw invalidArgument('the stream ended without a header');
        clearTimeout(idle); // verification of a large payload may take a while; the client waits
        answer(null, await deps.intake.finish(upload));
      }),
    );
    // The client went away (or was superseded): what was stored stays for a resume.
    call.on('error', () => {
      settled = true;
      cleanup();
    });
    call.on('cancelled', () => {
      settled = true;
      cleanup();
    });
  };
}

