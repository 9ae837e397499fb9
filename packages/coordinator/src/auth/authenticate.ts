/**
 * Who is calling, without transport: the bearer credential and, over TLS, the common name of the
 * peer's certificate, which must be the same id (a stolen token alone, or a certificate alone, is
 * not enough). The service layer extracts both from the call.
 */
import { DomainError, permissionDenied, unauthenticated } from '../domain/errors.js';
import { Credentials, type Principal } from './credentials.js';

export interface CallerIdentity {
  /** The value of the `authorization` header. */
  authorization: string;
  /** The certificate's common name(s), when the peer presented one. */
  peerCommonName?: string | string[];
}

export function authenticate(credentialsPath: string, caller: CallerIdentity, requireClientCertificate: boolean): Principal {
  const header = caller.authorization;
  const token = header.startsWith('Bearer ') ? header.slice(7) : undefined;
  let creds: Credentials;
  try {
    creds = new Credentials(credentialsPath);
  } catch (e) {
    // The operator's file is broken: not the caller's fault, and retryable once it is fixed.
    // The detail (a path) goes to the coordinator's log via `cause`, not to the caller.
    throw new DomainError('unavailable', 'the coordinator cannot read its credentials file; its operator must restore it', { cause: e });
  }
  const who = creds.verify(token);
  if (!who) throw unauthenticated(token ? 'unknown credential' : 'missing credential: send "authorization: Bearer <token>"');
  const cn = caller.peerCommonName;
  const peer = Array.isArray(cn) ? cn.join('+') : cn; // several CNs never equal one id
  if (peer !== undefined && peer !== who.id) throw permissionDenied(`the TLS certificate is for "${peer}" but the credential is for "${who.id}"`);
  if (peer === undefined && requireClientCertificate) throw unauthenticated('this coordinator requires a client certificate');
  return who;
}
