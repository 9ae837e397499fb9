/** The one mapping from errors to gRPC statuses: domain kinds keep their message; a full disk is retryable; anything else is INTERNAL without detail. */
import { describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { DomainError, toServiceError } from '@synthgrad/coordinator';

describe('toServiceError', () => {
  it('maps domain errors by kind, with their message', () => {
    expect(toServiceError(new DomainError('invalid-argument', 'bad id'))).toMatchObject({ code: status.INVALID_ARGUMENT, details: 'bad id' });
    expect(toServiceError(new DomainError('aborted', 'taken over')).code).toBe(status.ABORTED);
  });

  it('answers a full disk with RESOURCE_EXHAUSTED and logs it', () => {
    const logged: string[] = [];
    const e = toServiceError(Object.assign(new Error("ENOSPC: no space left on device, write '/state/x'"), { code: 'ENOSPC' }), (l) => logged.push(l));
    expect(e.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(e.details).not.toMatch(/state/);
    expect(logged[0]).toMatch(/ENOSPC/);
  });

  it('answers anything else with INTERNAL, keeping the detail (paths, contents) in the log', () => {
    const logged: string[] = [];
    const e = toServiceError(new TypeError("Cannot read properties of undefined (reading 'complete') at /srv/secret"), (l) => logged.push(l));
    expect(e).toMatchObject({ code: status.INTERNAL, details: 'internal error in the coordinator (logged there)' });
    expect(logged[0]).toMatch(/secret/);
  });
});
