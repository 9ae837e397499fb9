/**
 * Nothing silent for more than a few seconds, even while the main thread is busy in a long
 * synchronous computation (a model forward on wasm blocks the event loop, so timers there cannot
 * fire). A worker thread watches when the progress last reported and, after `quietAfterMs` of
 * silence, writes a line itself, straight to file descriptor 2 (not through process.stderr, whose
 * writes the blocked main thread would have to flush). The state it shows is shared through a
 * SharedArrayBuffer: the main thread only copies a few bytes per update.
 */
import { Worker } from 'node:worker_threads';

export type HeartbeatMode = 'tty' | 'plain' | 'json';

export interface HeartbeatState {
  command: string;
  phase: string;
  detail: string;
}

const TEXT_BYTES = 2048;

// Run with `eval: true`, so it needs no file of its own next to the build output; builtins come from
// process.getBuiltinModule (Node >= 20.16), which works whether the code is read as CommonJS or ESM.
const WORKER = `
const { workerData } = process.getBuiltinModule('node:worker_threads');
const fs = process.getBuiltinModule('node:fs');
const { buf, mode, quietAfterMs, t0 } = workerData;
const meta = new Float64Array(buf, 0, 1);
const len = new Int32Array(buf, 8, 1);
const bytes = new Uint8Array(buf, 12);
const fmt = (s) => { s = Math.round(s); const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? h + 'h' + String(m).padStart(2, '0') + 'm' : m ? m + 'm' + String(r).padStart(2, '0') + 's' : r + 's'; };
let lastBeat = 0;
setInterval(() => {
  const last = meta[0];
  const now = Date.now();
  if (!last || now - last < quietAfterMs || now - lastBeat < quietAfterMs) return;
  lastBeat = now;
  let st;
  try { st = JSON.parse(Buffer.from(bytes.slice(0, len[0])).toString('utf8')); } catch { return; }
  const elapsed = (now - t0) / 1000, silent = (now - last) / 1000;
  let line;
  if (mode === 'json') line = JSON.stringify({ type: 'heartbeat', command: st.command, phase: st.phase, detail: st.detail, elapsed_s: Math.round(elapsed), silent_s: Math.round(silent) }) + '\\n';
  else {
    const text = st.command + ' busy in ' + st.phase + (st.detail ? ': ' + st.detail : '') + ' (' + fmt(elapsed) + ' elapsed, last report ' + fmt(silent) + ' ago)';
    line = mode === 'tty' ? '\\r\\x1b[K' + text.slice(0, (workerData.columns || 120) - 1) : text + '\\n';
  }
  try { fs.writeSync(2, line); } catch {}
}, 1000);
`;

export class Heartbeat {
  private readonly buf = new SharedArrayBuffer(12 + TEXT_BYTES);
  private readonly meta = new Float64Array(this.buf, 0, 1);
  private readonly len = new Int32Array(this.buf, 8, 1);
  private readonly bytes = new Uint8Array(this.buf, 12);
  private readonly worker: Worker;

  constructor(mode: HeartbeatMode, quietAfterMs = 4000, columns?: number) {
    this.worker = new Worker(WORKER, { eval: true, workerData: { buf: this.buf, mode, quietAfterMs, t0: Date.now(), columns }, execArgv: [] });
    this.worker.unref(); // never keeps the process alive
  }

  /** The progress just reported this state. */
  beat(state: HeartbeatState): void {
    const enc = Buffer.from(JSON.stringify(state), 'utf8');
    const n = Math.min(enc.length, TEXT_BYTES);
    // A truncated JSON would not parse: drop the detail rather than cut it.
    const data = n < enc.length ? Buffer.from(JSON.stringify({ ...state, detail: '' }), 'utf8') : enc;
    this.bytes.set(data.subarray(0, TEXT_BYTES));
    Atomics.store(this.len, 0, Math.min(data.length, TEXT_BYTES));
    this.meta[0] = Date.now();
  }

  stop(): void {
    this.meta[0] = 0;
    void this.worker.terminate();
  }
}
