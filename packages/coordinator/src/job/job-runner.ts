/** Starts synthesis jobs in worker threads and relays their progress to watchers. */
import { EventEmitter } from 'node:events';
import { SHARE_ENV, Worker } from 'node:worker_threads';
import type { JobInput, JobMessage } from './job-worker.js';

export class JobRunner extends EventEmitter {
  private readonly running = new Map<string, Worker>();

  /** Emits 'message' (sessionId, JobMessage) for progress, completion and failure. */
  start(input: JobInput): void {
    if (this.running.has(input.sessionId)) return;
    // SHARE_ENV: the job sets the native library's thread count in the process environment (job-worker.ts).
    const worker = new Worker(new URL('./job-worker.js', import.meta.url), { workerData: input, env: SHARE_ENV });
    this.running.set(input.sessionId, worker);
    const finish = (m: JobMessage) => {
      this.running.delete(input.sessionId);
      this.emit('message', input.sessionId, m);
    };
    worker.on('message', (m: JobMessage) => (m.type === 'progress' ? this.emit('message', input.sessionId, m) : finish(m)));
    worker.on('error', (e) => finish({ type: 'error', message: e.message }));
    worker.on('exit', (code) => {
      if (this.running.has(input.sessionId)) finish({ type: 'error', message: `synthesis worker exited with code ${code}` });
    });
  }

  isRunning(sessionId: string): boolean {
    return this.running.has(sessionId);
  }

  /** End one session's job; no message is emitted for it (the caller already decided its outcome). */
  async stop(sessionId: string): Promise<void> {
    const w = this.running.get(sessionId);
    if (!w) return;
    this.running.delete(sessionId); // first, so the worker's exit is not reported as a failure
    await w.terminate();
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.running.values()].map((w) => w.terminate()));
    this.running.clear();
  }
}
