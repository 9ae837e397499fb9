/**
 * A synthesis worker thread (started by synthesis-pool.ts): the main thread's backend and
 * the model from its file, then whole classes as the main thread hands them out, through the same
 * class loop as the in-process path. Every finished batch goes to the main thread, which writes
 * the checkpoint; a 'stop' aborts the batch in flight, as io.shouldStop() does in one thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../backend/select.js';
import { loadModel } from '../model/load.js';
import { AdmmAborted } from './admm.js';
import { classLoopEnv, runClass, type ClassLoopEnv } from './synthesize.js';
import type { FromWorker, SynthesisWorkerData, ToWorker } from './synthesis-pool.js';

const port = parentPort;
if (!port) throw new Error('synthesis-worker.js runs as a worker thread of synthesize()');
const post = (m: FromWorker) => port.postMessage(m);

function fail(e: unknown): void {
  const err = (e ?? {}) as { name?: unknown; message?: unknown; code?: unknown };
  post({ type: 'error', name: String(err.name ?? 'Error'), message: String(err.message ?? e), code: typeof err.code === 'string' ? err.code : undefined });
}

let stopping = false;
let env: ClassLoopEnv | undefined;

async function runOne(m: Extract<ToWorker, { type: 'class' }>): Promise<void> {
  const saved = new Map(m.saved.map((s) => [s.batch, s.examples]));
  try {
    const examples = await runClass(env!, m.classIndex, m.plan, {
      saved: (_, b) => saved.get(b),
      batchDone: (done) => post({ type: 'batch', done }),
      onProgress: (progress) => post({ type: 'progress', progress }),
      shouldStop: () => stopping,
      log: (message) => post({ type: 'log', message }),
    });
    post({ type: 'class-done', classIndex: m.classIndex, examples });
  } catch (e) {
    if (e instanceof AdmmAborted) post({ type: 'aborted' });
    else fail(e);
  }
}

port.on('message', (m: ToWorker) => {
  if (m.type === 'stop') stopping = true;
  else if (m.type === 'class') void runOne(m);
});

async function start(job: SynthesisWorkerData): Promise<void> {
  // The native library reads its intra-op thread count from the process environment, which the
  // main thread set when it loaded it: every worker's instance uses the same count.
  await initBackend({ backend: job.backend, threads: job.threads, transposeFix: job.transposeFix });
  const rt = await loadModel(job.modelPath, job.modelOptions);
  env = classLoopEnv(rt, job.task, job.params);
  post({ type: 'ready' });
}

start(workerData as SynthesisWorkerData).catch(fail);
