/**
 * Typed domain errors of the coordinator. Sessions, uploads and authentication throw these and
 * know nothing of gRPC; the service layer (server/status.ts) maps each kind to a status code.
 * Anything else that is thrown is a bug or an environment failure and becomes INTERNAL or
 * UNAVAILABLE there, never a crash.
 */
export type ErrorKind =
  | 'invalid-argument'
  | 'not-found'
  | 'already-exists'
  | 'permission-denied'
  | 'unauthenticated'
  | 'failed-precondition'
  | 'out-of-range'
  | 'resource-exhausted'
  | 'data-loss'
  | 'aborted'
  | 'unavailable'
  | 'deadline-exceeded';

export class DomainError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DomainError';
  }
}

export const invalidArgument = (m: string) => new DomainError('invalid-argument', m);
export const notFound = (m: string) => new DomainError('not-found', m);
export const failedPrecondition = (m: string) => new DomainError('failed-precondition', m);
export const permissionDenied = (m: string) => new DomainError('permission-denied', m);
export const unauthenticated = (m: string) => new DomainError('unauthenticated', m);

/** A caller-supplied string for an error message: quoted, and cut short so nothing large is echoed. */
export function quote(s: unknown, max = 64): string {
  const str = String(s);
  return JSON.stringify(str.length > max ? `${str.slice(0, max)}...` : str);
}
