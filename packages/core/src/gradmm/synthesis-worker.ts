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
import { scoreGenreJob } from './domain.js';
import { MatchingLoss } from './matching.js';
import { publicStatsBatch } from './public-stats.js';
import { classLoopEnv, publicStatsOptions, runClass, type ClassLoopEnv } from './synthesize.js';
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

/** A domain-search worker's losses, one per class, built from workerData's targets on first use. */
const losses = new Map<number, MatchingLoss>();

function scoreOne(m: Extract<ToWorker, { type: 'score' }>): void {
  try {
    const targets = (workerData as SynthesisWorkerData).targets;
    const c = m.job.classIndex;
    if (!targets?.[c]) throw new Error(`no target for class ${c}: a domain-search worker is started with every class's target`);
    let loss = losses.get(c);
    if (!loss) losses.set(c, (loss = new MatchingLoss(env!.rt.model, targets[c], env!.toks.labelTokens[c], env!.distance)));
    post({ type: 'scored', id: m.id, loss: scoreGenreJob(env!.rt, env!.task, loss, m.job, { ...m.draw, allowed: env!.allowedSet }) });
  } catch (e) {
    fail(e);
  }
}

/** A batch of the public statistics, as the main thread's publicStatsFor would sample and read it. */
function publicBatchOne(m: Extract<ToWorker, { type: 'public-batch' }>): void {
  try {
    const { task, params } = workerData as SynthesisWorkerData;
    const o = publicStatsOptions(env!.rt, task, params.method, params.seed, m.length);
    post({ type: 'public-batch-done', id: m.id, batch: publicStatsBatch(env!.rt.model, o, m.start, m.n) });
  } catch (e) {
    fail(e);
  }
}

port.on('message', (m: ToWorker) => {
  if (m.type === 'stop') stopping = true;
  else if (m.type === 'class') void runOne(m);
  else if (m.type === 'score') scoreOne(m);
  else if (m.type === 'public-batch') publicBatchOne(m);
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
