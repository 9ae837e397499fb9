/**
 * The recent events of each session, in memory, for operators (`coordinator logs`, the status
 * page): creation, joins, counted contributions, state changes and changes of the job's progress
 * message, one line each ("ISO-TIME STATE what happened"). Bounded per
 * session, so a long job cannot grow the coordinator's memory; after a restart it starts empty
 * (the durable record is the session itself).
 */
import { SessionState, type SessionEvent } from '@synthgrad/protocol';

export const LOG_LINES = 200;

export class SessionLog {
  private readonly lines = new Map<string, string[]>();
  private readonly lastKey = new Map<string, string>();

  constructor(
    private readonly max = LOG_LINES,
    private readonly now: () => number = Date.now,
  ) {}

  /** Record an event unless it only moves the fraction of the previous one (progress ticks). */
  record(sessionId: string, e: SessionEvent): void {
    const key = `${e.state}|${e.message}`;
    if (this.lastKey.get(sessionId) === key) return;
    this.lastKey.set(sessionId, key);
    this.push(sessionId, formatEvent(e, this.now()));
  }

  /** A line that is not a progress event (a join, a counted contribution): always recorded. */
  note(sessionId: string, state: SessionState, line: string): void {
    this.push(sessionId, `${new Date(this.now()).toISOString()} ${stateLabel(state)} ${line}`);
  }

  private push(sessionId: string, line: string): void {
    const list = this.lines.get(sessionId) ?? [];
    list.push(line);
    if (list.length > this.max) list.splice(0, list.length - this.max);
    this.lines.set(sessionId, list);
  }

  get(sessionId: string): string[] {
    return [...(this.lines.get(sessionId) ?? [])];
  }
}

export const stateLabel = (s: SessionState): string => (SessionState[s] ?? String(s)).replace(/^SESSION_STATE_/, '');

/** "2026-12-01T15:00:00.000Z RUNNING 42% class 1/2 batch 1/1" */
export function formatEvent(e: SessionEvent, at: number): string {
  const pct = e.state === SessionState.SESSION_STATE_RUNNING || e.progress > 0 ? ` ${Math.round(e.progress * 100)}%` : '';
  return `${new Date(at).toISOString()} ${stateLabel(e.state)}${pct}${e.message ? ` ${e.message}` : ''}`;
}
