/**
 * Progress streams by session: the last event of each session, the open WatchSession streams,
 * and the rule that a terminal state (DONE, FAILED, EXPIRED) ends every stream of that session.
 */
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { SessionEvent } from '@synthgrad/protocol';
import { TERMINAL } from '../sessions/lifecycle.js';
import type { Logger } from './status.js';

type Watcher = ServerWritableStream<unknown, SessionEvent>;

export class WatchHub {
  private readonly latest = new Map<string, SessionEvent>();
  private readonly streams = new Map<string, Set<Watcher>>();

  constructor(private readonly log: Logger = () => {}) {}

  last(sessionId: string): SessionEvent | undefined {
    return this.latest.get(sessionId);
  }

  add(sessionId: string, w: Watcher): void {
    const set = this.streams.get(sessionId) ?? new Set();
    set.add(w);
    this.streams.set(sessionId, set);
    const drop = () => set.delete(w);
    w.on('cancelled', drop);
    w.on('close', drop);
  }

  publish(sessionId: string, e: SessionEvent): void {
    this.latest.set(sessionId, e);
    const set = this.streams.get(sessionId);
    if (!set) return;
    for (const w of [...set]) {
      try {
        w.write(e);
        if (TERMINAL.has(e.state)) {
          w.end();
          set.delete(w);
        }
      } catch (err) {
        set.delete(w);
        this.log(`dropping a progress stream: ${(err as Error).message}`);
      }
    }
    if (TERMINAL.has(e.state)) this.streams.delete(sessionId);
  }

  /** Open streams (for tests and logs). */
  count(): number {
    let n = 0;
    for (const s of this.streams.values()) n += s.size;
    return n;
  }
}
