/**
 * Classes in worker threads, for the wasm backend (one thread per tfjs instance in Node): each
 * worker loads the model itself and runs whole classes, each in order (a class's batches may use
 * its earlier output as demonstrations), with the same class loop as the in-process path
 * (runClass). The main thread hands out classes one at a time, writes the checkpoint after every
 * batch a worker reports, calls afterClass in class order with a loss of its own, and returns the
 * classes' examples in class order: the same output as one thread, since every random stream is
 * derived from the seed, the class and the batch.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LoadedModel } from '../model/load.js';
import type { LlamaOptions } from '../model/llama.js';
import type { Task } from '../task/task.js';
import { SynthgradError, type SynthgradErrorCode } from '../util/errors.js';
import { activeBackend } from '../backend/select.js';
import { AdmmAborted } from './admm.js';
import type { DrawOptions, GenreJob, GenreScorer } from './domain.js';
import type { ClassProgress, SyntheticExample } from './generate.js';
import type { ClassTarget } from './targets.js';
import { publicStatsBatches, publicStatsOf, type PublicStats, type PublicStatsBatch } from './public-stats.js';
import { classLoss, type BatchDone, type ClassLoopEnv, type ClassLoopHooks, type ClassLoopParams, type ClassPlan } from './synthesize.js';

/** What a worker starts from (workerData). */
export interface SynthesisWorkerData {
  modelPath: string;
  modelOptions: LlamaOptions;
  /** The main thread's wasm transposed-matmul fix setting, so both compute alike. */
  transposeFix: boolean;
  /** The main thread's backend (each worker runs its own instance of it) and its intra-op threads. */
  backend: 'wasm' | 'tensorflow' | 'tensorflow-gpu' | 'cpu';
  threads: number;
  task: Task;
  params: ClassLoopParams;
  /** For a domain-search worker (startGenreScorers): every class's target, in class order. */
  targets?: ClassTarget[];
}

/** A job's draw options as sent to a worker: the allowed tokens are the worker's own (classLoopEnv's, the same set). */
export type WorkerDrawOptions = Omit<DrawOptions, 'allowed'>;

export type ToWorker =
  /** Run one class: its plan (the target's sum is a transferred copy) and its batches already saved. */
  | { type: 'class'; classIndex: number; plan: ClassPlan; saved: { batch: number; examples: SyntheticExample[] }[] }
  /** io.shouldStop() became true: abort the batch in flight (AdmmAborted). */
  | { type: 'stop' }
  /** Score one domain-search job (a domain-search worker). */
  | { type: 'score'; id: number; job: GenreJob; draw: WorkerDrawOptions }
  /** Sample and read texts start .. start + n - 1 of the public statistics (public-stats.ts), `length` tokens each. */
  | { type: 'public-batch'; id: number; start: number; n: number; length: number };

/** A job for startJobWorkers: a message to a worker, less the id the pool gives it. */
type Job = Omit<Extract<ToWorker, { type: 'score' }>, 'id'> | Omit<Extract<ToWorker, { type: 'public-batch' }>, 'id'>;
/** A job's answer: the worker's message carrying the job's id. */
type JobAnswer = Extract<FromWorker, { type: 'scored' }> | Extract<FromWorker, { type: 'public-batch-done' }>;

export type FromWorker =
  | { type: 'ready' }
  | { type: 'batch'; done: BatchDone }
  | { type: 'progress'; progress: ClassProgress }
  | { type: 'log'; message: string }
  | { type: 'class-done'; classIndex: number; examples: SyntheticExample[] }
  | { type: 'scored'; id: number; loss: number }
  | { type: 'public-batch-done'; id: number; batch: PublicStatsBatch }
  | { type: 'aborted' }
  | { type: 'error'; name: string; message: string; code?: string };

/** The worker's entry: next to this file in the build; from the TypeScript sources (tests), the build's copy. */
function workerEntry(): URL {
  const here = new URL('./synthesis-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  const built = new URL('../../dist/gradmm/synthesis-worker.js', import.meta.url);
  if (import.meta.url.endsWith('.ts') && existsSync(fileURLToPath(built))) return built;
  throw new SynthgradError(`the synthesis worker ${fileURLToPath(here)} is missing: run "npm run build" (or pass workers: 1)`);
}

let live = 0;

/** Synthesis worker threads alive in this process now (0 once every synthesize call has settled). */
export function liveSynthesisWorkers(): number {
  return live;
}

/** A worker's failure as the caller's error: a SynthgradError keeps its code, anything else its message. */
function workerError(m: { name: string; message: string; code?: string }): Error {
  if (m.name === 'SynthgradError' && m.code) return new SynthgradError(m.message, m.code as SynthgradErrorCode);
  return new Error(`synthesis worker: ${m.message}`);
}

/** What every worker starts from: the model's file and the main thread's backend, task and parameters. */
function workerDataOf(rt: LoadedModel, task: Task, params: ClassLoopParams): SynthesisWorkerData {
  return {
    modelPath: rt.path,
    modelOptions: rt.options ?? {},
    transposeFix: activeBackend()?.transposeFix ?? true,
    backend: activeBackend()?.choice ?? 'wasm',
    threads: activeBackend()?.threads ?? 1,
    task,
    params,
  };
}

/**
 * A worker thread (`entry`, workerEntry's) from `data`, counted in liveSynthesisWorkers until terminateWorker. Its stdout
 * goes to stderr (stdout is the caller's: JSON summaries); a thread error, an unreadable message
 * or an exit the pool did not ask for (`expected()` false) reaches `fail`.
 */
function spawnWorker(entry: URL, data: SynthesisWorkerData, onMessage: (m: FromWorker) => void, fail: (e: Error) => void, expected: () => boolean): Worker {
  const worker = new Worker(entry, { workerData: data, stdout: true });
  live++;
  worker.stdout.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  worker.on('message', onMessage);
  worker.on('error', (e) => fail(new Error(`synthesis worker: ${e.message}`)));
  worker.on('messageerror', (e) => fail(new Error(`synthesis worker: message could not be read (${e.message})`)));
  worker.on('exit', (code) => {
    if (!expected()) fail(new Error(`synthesis worker exited with code ${code} before finishing`));
  });
  return worker;
}

/** Ends a worker of spawnWorker; resolves once it has stopped, whether or not termination failed. */
function terminateWorker(worker: Worker): Promise<void> {
  return worker.terminate().then(
    () => void live--,
    () => void live--,
  );
}

/** A domain search's jobs on worker threads; close() ends every worker (also after a failure). */
export interface GenreScorerPool {
  score: GenreScorer;
  close(): Promise<void>;
}

/**
 * `count` worker threads that score domain-search jobs (domain.ts) for `targets`' classes, so a
 * search uses the cores as the classes' batches do. Each worker loads the model itself; jobs are
 * handed to whichever is free. Every job's stream is derived from the seed, round, genre and
 * class, so the scores equal one thread's. The first failure (a worker's error, a worker that
 * exits) rejects every job not yet scored, and every later one.
 */
export function startGenreScorers(rt: LoadedModel, task: Task, params: ClassLoopParams, targets: ClassTarget[], draw: WorkerDrawOptions, count: number): GenreScorerPool {
  const pool = startJobWorkers({ ...workerDataOf(rt, task, params), targets }, count, 'domain search');
  const score: GenreScorer = (job) => pool.run({ type: 'score', job, draw }).then((a) => (a as Extract<JobAnswer, { type: 'scored' }>).loss);
  return { score, close: pool.close };
}

/**
 * The public statistics' batches (public-stats.ts) on `count` worker threads, for `task` (the
 * one whose label-blind context the texts follow) and `params`' method and seed, texts of
 * `length` tokens: each batch draws its own part of the statistics' one stream, so the result
 * equals one thread's, bit for bit. `onBatch` hears the texts done so far. The workers end before
 * it resolves or rejects.
 */
export async function publicStatsInWorkers(
  rt: LoadedModel,
  task: Task,
  params: ClassLoopParams,
  length: number,
  count: number,
  onBatch?: (done: number, total: number) => void,
): Promise<PublicStats> {
  const pool = startJobWorkers(workerDataOf(rt, task, params), count, 'public statistics');
  try {
    const total = params.method.publicTexts;
    let done = 0;
    onBatch?.(0, total);
    const parts = await Promise.all(
      publicStatsBatches({ count: total }).map(({ start, n }) =>
        pool.run({ type: 'public-batch', start, n, length }).then((a) => {
          done += n;
          onBatch?.(done, total);
          return (a as Extract<JobAnswer, { type: 'public-batch-done' }>).batch;
        }),
      ),
    );
    return publicStatsOf(parts, total, rt.config.dModel);
  } finally {
    await pool.close();
  }
}

/**
 * `count` worker threads from `data` that take jobs, each answered by one message with the job's
 * id, handed to whichever worker is free. The first failure (a worker's error, a worker that
 * exits) rejects every job not yet answered, and every later one; close() ends every worker.
 */
function startJobWorkers(data: SynthesisWorkerData, count: number, what: string): { run: (job: Job) => Promise<JobAnswer>; close: () => Promise<void> } {
  const entry = workerEntry();
  const pending = new Map<number, { resolve: (a: JobAnswer) => void; reject: (e: Error) => void }>();
  const queue: ToWorker[] = [];
  const idle: Worker[] = [];
  const workers = new Set<Worker>();
  let failure: Error | null = null;
  let closing: Promise<void> | null = null;
  let nextId = 0;
  const close = (): Promise<void> => (closing ??= Promise.all([...workers].map(terminateWorker)).then(() => {}));
  const fail = (e: Error) => {
    if (failure || closing) return;
    failure = e;
    for (const p of pending.values()) p.reject(e);
    pending.clear();
    queue.length = 0;
    void close();
  };
  const pump = () => {
    while (idle.length > 0 && queue.length > 0) idle.pop()!.postMessage(queue.shift()!);
  };
  for (let i = 0; i < count; i++) {
    const worker: Worker = spawnWorker(
      entry,
      data,
      (m) => {
        if (m.type === 'error') return fail(workerError(m));
        if (m.type === 'scored' || m.type === 'public-batch-done') {
          pending.get(m.id)?.resolve(m);
          pending.delete(m.id);
        } else if (m.type !== 'ready') return;
        idle.push(worker);
        pump();
      },
      fail,
      () => closing !== null,
    );
    workers.add(worker);
  }
  const run = (job: Job) =>
    new Promise<JobAnswer>((resolve, reject) => {
      if (failure || closing) return reject(failure ?? new Error(`${what}: the workers are closed`));
      const id = nextId++;
      pending.set(id, { resolve, reject });
      queue.push({ ...job, id } as ToWorker);
      pump();
    });
  return { run, close };
}

interface Slot {
  worker: Worker;
  /** The class it runs, or null while it loads the model or waits. */
  classIndex: number | null;
  stopSent: boolean;
}

/**
 * Every class of `plans` on `count` workers; resolves to the examples of each class, in class
 * order. Rejects with the worker's error (every worker terminated first), or AdmmAborted once
 * io.shouldStop() is true and the workers have stopped (finished batches are checkpointed).
 */
export function runClassesInWorkers(env: ClassLoopEnv, plans: ClassPlan[], count: number, hooks: ClassLoopHooks): Promise<SyntheticExample[][]> {
  const { batches } = env;
  const savedOf = (c: number) =>
    Array.from({ length: batches }, (_, b) => ({ batch: b, examples: hooks.saved(c, b) })).filter((s): s is { batch: number; examples: SyntheticExample[] } => s.examples !== undefined);
  const results: (SyntheticExample[] | undefined)[] = plans.map(() => undefined);
  // Classes with nothing left to run are done already; the others go out in class order.
  const queue: number[] = [];
  for (const c of plans.keys()) {
    const saved = savedOf(c);
    if (saved.length === batches) results[c] = saved.flatMap((s) => s.examples);
    else queue.push(c);
  }
  let nextAfterClass = 0;
  const slots = new Set<Slot>();
  let settled = false;
  let stopping = false;
  const entry = workerEntry();
  const data = workerDataOf(env.rt, env.task, env.params);

  return new Promise<SyntheticExample[][]>((resolve, reject) => {
    let poll: NodeJS.Timeout | undefined;
    const ending: Promise<void>[] = [];
    const end = (slot: Slot): Promise<void> => {
      if (!slots.delete(slot)) return Promise.resolve();
      const p = terminateWorker(slot.worker);
      ending.push(p);
      return p;
    };
    const settle = (err: Error | null) => {
      if (settled) return;
      settled = true;
      clearInterval(poll);
      // Every worker has ended before the caller hears the outcome.
      for (const slot of [...slots]) void end(slot);
      void Promise.all(ending).then(() => (err ? reject(err) : resolve(results as SyntheticExample[][])));
    };
    const fail = (e: unknown) => settle(e instanceof Error ? e : new Error(String(e)));
    // afterClass in class order, with a loss built here (the worker's lives in its own thread).
    const flushAfterClass = () => {
      while (nextAfterClass < plans.length && results[nextAfterClass]) {
        const c = nextAfterClass++;
        if (!hooks.afterClass) continue;
        const loss = classLoss(env, c, plans[c]);
        try {
          hooks.afterClass(c, loss, results[c]!);
        } finally {
          loss.dispose();
        }
      }
    };
    const checkDone = () => {
      if (results.every((r) => r !== undefined)) settle(null);
      else if (stopping && slots.size === 0) settle(new AdmmAborted());
    };
    const stop = () => {
      if (stopping || settled || !hooks.shouldStop?.()) return;
      stopping = true;
      for (const slot of [...slots]) {
        if (slot.classIndex === null) void end(slot).then(checkDone);
        else if (!slot.stopSent) {
          slot.stopSent = true;
          slot.worker.postMessage({ type: 'stop' } satisfies ToWorker);
        }
      }
      checkDone();
    };
    /** Give the slot the next class, or end it. */
    const dispatch = (slot: Slot) => {
      const c = stopping ? undefined : queue.shift();
      if (c === undefined) {
        slot.classIndex = null;
        void end(slot).then(checkDone);
        return;
      }
      slot.classIndex = c;
      const plan = plans[c];
      const sum = plan.target.sum.slice();
      const msg: ToWorker = { type: 'class', classIndex: c, plan: { ...plan, target: { ...plan.target, sum } }, saved: savedOf(c) };
      slot.worker.postMessage(msg, [sum.buffer]);
    };
    // Batches done a class (the running batch's step as a fraction): every event carries their
    // sum, which only moves forward, however the classes' events interleave.
    const unitsDone = plans.map((_, c) => (results[c] ? batches : savedOf(c).length));
    const overall = () => ({ done: unitsDone.reduce((a, u) => a + u, 0), total: plans.length * batches });
    const onMessage = (slot: Slot, m: FromWorker) => {
      if (settled) return;
      try {
        switch (m.type) {
          case 'ready':
            dispatch(slot);
            break;
          case 'batch':
            hooks.batchDone(m.done);
            break;
          case 'progress': {
            const p = m.progress;
            if (p.phase === 'admm') unitsDone[p.classIndex] = Math.max(unitsDone[p.classIndex], p.batch + p.done / p.total);
            hooks.onProgress?.({ ...p, overall: overall() });
            break;
          }
          case 'log':
            hooks.log(m.message);
            break;
          case 'class-done':
            results[m.classIndex] = m.examples;
            unitsDone[m.classIndex] = batches;
            slot.classIndex = null;
            flushAfterClass();
            dispatch(slot);
            break;
          case 'aborted':
            if (!stopping) throw new Error('synthesis worker: aborted without being asked to stop');
            slot.classIndex = null;
            void end(slot).then(checkDone);
            break;
          case 'error':
            fail(workerError(m));
            return;
        }
        stop();
      } catch (e) {
        fail(e);
      }
    };
    try {
      flushAfterClass();
      const n = Math.min(count, queue.length);
      for (let i = 0; i < n; i++) {
        const slot: Slot = { worker: spawnWorker(entry, data, (m) => onMessage(slot, m), fail, () => !slots.has(slot)), classIndex: null, stopSent: false };
        slots.add(slot);
      }
      poll = setInterval(stop, 200);
      stop();
      checkDone();
    } catch (e) {
      fail(e);
    }
  });
}
