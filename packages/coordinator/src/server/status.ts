/**
 * The one place errors become gRPC statuses. Domain errors keep their message; a full disk is
 * RESOURCE_EXHAUSTED (the client retries later); anything else is a bug or an environment
 * failure: logged here with its stack, answered as INTERNAL without detail (an exception's
 * message can carry paths or file contents).
 */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { DomainError, type ErrorKind } from '../domain/errors.js';

const CODES: Record<ErrorKind, status> = {
  'invalid-argument': status.INVALID_ARGUMENT,
  'not-found': status.NOT_FOUND,
  'already-exists': status.ALREADY_EXISTS,
  'permission-denied': status.PERMISSION_DENIED,
  unauthenticated: status.UNAUTHENTICATED,
  'failed-precondition': status.FAILED_PRECONDITION,
  'out-of-range': status.OUT_OF_RANGE,
  'resource-exhausted': status.RESOURCE_EXHAUSTED,
  'data-loss': status.DATA_LOSS,
  aborted: status.ABORTED,
  unavailable: status.UNAVAILABLE,
  'deadline-exceeded': status.DEADLINE_EXCEEDED,
};

export type Logger = (line: string) => void;

export const serviceError = (code: status, details: string): ServiceError =>
  Object.assign(new Error(details), { code, details, metadata: new Metadata() }) as ServiceError;

const DISK_FULL = new Set(['ENOSPC', 'EDQUOT']);

export function toServiceError(e: unknown, log: Logger = () => {}): ServiceError {
  if (e instanceof DomainError) {
    if (e.cause) log(`${e.message}: ${(e.cause as Error)?.message ?? e.cause}`);
    return serviceError(CODES[e.kind], e.message);
  }
  const code = (e as NodeJS.ErrnoException)?.code;
  if (typeof code === 'string' && DISK_FULL.has(code)) {
    log(`disk full: ${(e as Error).message}`);
    return serviceError(status.RESOURCE_EXHAUSTED, 'the coordinator is out of disk space; what was acknowledged is kept, retry later');
  }
  if (typeof code === 'string' && (code === 'EMFILE' || code === 'ENFILE')) {
    log(`out of file descriptors: ${(e as Error).message}`);
    return serviceError(status.RESOURCE_EXHAUSTED, 'the coordinator is out of file descriptors; retry later');
  }
  log(`internal error: ${(e as Error)?.stack ?? String(e)}`);
  return serviceError(status.INTERNAL, 'internal error in the coordinator (logged there)');
}
