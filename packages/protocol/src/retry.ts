/**
 * The one retry policy of every synthgrad caller (data-owner clients and operator commands):
 * exponential backoff with jitter, bounded in total time. Defaults: 250 ms doubling to at most
 * 5 s, each delay drawn from [d/2, d] ("equal jitter": spread out so clients do not reconnect in
 * lockstep, but never collapsing to zero), for at most 2 minutes in all, which outlives a
 * coordinator restart (about 5 s) many times over while still failing in bounded time.
 */
import { status, type ServiceError } from '@grpc/grpc-js';

export interface BackoffOptions {
  baseMs?: number;
  capMs?: number;
  /** Wall-clock budget from the first attempt; no retry is scheduled past it. */
  totalMs?: number;
  /** Uniform in [0, 1); replaceable for tests. */
  random?: () => number;
  now?: () => number;
}

export class Backoff {
  private attempt = 0;
  private start: number;
  private readonly o: Required<BackoffOptions>;

  constructor(o: BackoffOptions = {}) {
    this.o = { baseMs: 250, capMs: 5000, totalMs: 120_000, random: Math.random, now: Date.now, ...o };
    this.start = this.o.now();
  }

  /** The next delay, or undefined when waiting it would overrun the total budget. */
  next(): number | undefined {
    const d = Math.min(this.o.capMs, this.o.baseMs * 2 ** this.attempt);
    const delay = Math.round(d / 2 + (this.o.random() * d) / 2);
    if (this.o.now() + delay - this.start > this.o.totalMs) return undefined;
    this.attempt++;
    return delay;
  }

  /** Progress was made: start again from the smallest delay and a fresh budget. */
  reset(): void {
    this.attempt = 0;
    this.start = this.o.now();
  }
}

/** Statuses worth retrying: the coordinator is away, busy, or cut the call short. */
export const TRANSIENT_CODES: ReadonlySet<status> = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.RESOURCE_EXHAUSTED, status.ABORTED, status.INTERNAL, status.CANCELLED]);

export const isTransient = (e: unknown): boolean => typeof (e as ServiceError)?.code === 'number' && TRANSIENT_CODES.has((e as ServiceError).code);

export const isUnavailable = (e: unknown): boolean => (e as ServiceError)?.code === status.UNAVAILABLE;

export interface RetryOptions extends BackoffOptions {
  retryable: (e: unknown) => boolean;
  onRetry?: (e: unknown, delayMs: number, attempt: number) => void;
}

export async function retry<T>(f: (attempt: number) => Promise<T>, o: RetryOptions): Promise<T> {
  const backoff = new Backoff(o);
  for (let attempt = 0; ; attempt++) {
    try {
      return await f(attempt);
    } catch (e) {
      if (!o.retryable(e)) throw e;
      const delay = backoff.next();
      if (delay === undefined) throw e;
      o.onRetry?.(e, delay, attempt);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
