/** The shared backoff: jittered exponential delays within bounds, and a total budget it never overruns. */
import { describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { Backoff, isTransient, retry } from '@synthgrad/protocol';

describe('backoff', () => {
  it('doubles from 250 ms to a 5 s cap, each delay jittered within [d/2, d]', () => {
    for (const r of [0, 0.5, 0.999]) {
      const b = new Backoff({ random: () => r, now: () => 0 });
      const delays = Array.from({ length: 8 }, () => b.next()!);
      const nominal = [250, 500, 1000, 2000, 4000, 5000, 5000, 5000];
      delays.forEach((d, i) => {
        expect(d).toBeGreaterThanOrEqual(nominal[i]! / 2);
        expect(d).toBeLessThanOrEqual(nominal[i]!);
      });
    }
  });

  it('stops when the next wait would overrun the total budget, and starts over on reset', () => {
    let t = 0;
    const b = new Backoff({ random: () => 0.999, now: () => t, totalMs: 10_000 });
    let waited = 0;
    for (let d = b.next(); d !== undefined; d = b.next()) {
      t += d;
      waited += d;
    }
    expect(waited).toBeLessThanOrEqual(10_000);
    expect(waited).toBeGreaterThan(5_000); // outlives a coordinator restart of ~5 s
    b.reset();
    expect(b.next()).toBeLessThanOrEqual(250);
  });

  it('retries transient statuses only', async () => {
    let calls = 0;
    const transient = Object.assign(new Error('down'), { code: status.UNAVAILABLE });
    expect(await retry(async () => (++calls < 3 ? Promise.reject(transient) : 'ok'), { retryable: isTransient, baseMs: 1 })).toBe('ok');
    expect(calls).toBe(3);
    const fatal = Object.assign(new Error('bad'), { code: status.INVALID_ARGUMENT });
    await expect(retry(async () => Promise.reject(fatal), { retryable: isTransient, baseMs: 1 })).rejects.toBe(fatal);
  });
});
