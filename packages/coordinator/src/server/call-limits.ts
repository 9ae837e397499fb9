/**
 * Limits on calls, as a grpc-js server interceptor, so they hold for every method alike:
 *  - a global cap on calls in progress across all connections (grpc.max_concurrent_streams is
 *    per connection, and connections were unlimited); health checks are exempt, so probes still
 *    answer when the cap is reached;
 *  - a first-message deadline: a call that sends its headers but no request message within
 *    `firstMessageMs` is ended with DEADLINE_EXCEEDED (header-only streams were held for good).
 */
import { ServerInterceptingCall, status, type ServerInterceptor } from '@grpc/grpc-js';

export interface CallLimitOptions {
  maxCalls: number;
  firstMessageMs: number;
  /** Methods (by path) outside the cap and the deadline. */
  exempt: (path: string) => boolean;
}

export interface CallLimiter {
  interceptor: ServerInterceptor;
  /** Calls in progress now (for tests and logs). */
  active(): number;
}

export function callLimits(o: CallLimitOptions): CallLimiter {
  let active = 0;
  const interceptor: ServerInterceptor = (method, call) => {
    if (o.exempt(method.path)) return new ServerInterceptingCall(call);
    let counted = false;
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const release = () => {
      done = true;
      clearTimeout(timer);
      if (counted) {
        counted = false;
        active--;
      }
    };
    return new ServerInterceptingCall(call, {
      start: (next) => {
        if (active >= o.maxCalls) {
          done = true;
          // The handler never sees this call: its messages are dropped here.
          next({ onReceiveMessage: () => {}, onReceiveHalfClose: () => {}, onReceiveMetadata: (_m, n) => n(_m) });
          call.sendStatus({ code: status.RESOURCE_EXHAUSTED, details: `the coordinator is serving its limit of ${o.maxCalls} calls; retry later` });
          return;
        }
        active++;
        counted = true;
        timer = setTimeout(() => {
          if (done) return;
          release();
          call.sendStatus({ code: status.DEADLINE_EXCEEDED, details: `no request message within ${o.firstMessageMs} ms` });
        }, o.firstMessageMs);
        timer.unref();
        next({
          onReceiveMessage: (m, n) => {
            clearTimeout(timer);
            if (!done) n(m);
          },
          onReceiveHalfClose: (n) => {
            if (!done) n();
          },
          onCancel: () => release(),
        });
      },
      sendStatus: (st, next) => {
        release();
        next(st);
      },
    });
  };
  return { interceptor, active: () => active };
}
