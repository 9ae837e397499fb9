/**
 * The session lifecycle and the contribution intake without processes or sockets: visibility,
 * joins, admission of uploads, idempotent commits, quorum, deadlines, reconciliation after a
 * crash, clean-up of abandoned uploads, and the typed errors each refusal carries.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyticGaussianSigma, DEFAULT_PRESET } from '@synthgrad/core';
import { DType, SessionState, TargetRelease, specFromTask, taskFromSpec, type CreateSessionRequest, type SessionEvent } from '@synthgrad/protocol';
import { DomainError, SessionLifecycle, SessionStore, UploadIntake, type Principal, type SessionRecord } from '@synthgrad/coordinator';

const model = { sha256: 'ab'.repeat(32), vocabSize: 6, dModel: 5 };
const op: Principal = { id: 'op', role: 'operator' };
const alpha: Principal = { id: 'alpha', role: 'client' };
const beta: Principal = { id: 'beta', role: 'client' };
const outsider: Principal = { id: 'mallory', role: 'client' };
const SIGMA = analyticGaussianSigma(1, 1e-5, 1);

function world(now = () => Date.now()) {
  const store = new SessionStore(mkdtempSync(join(tmpdir(), 'synthgrad-life-')));
  const started: string[] = [];
  const events: [string, SessionEvent][] = [];
  const stopped: string[] = [];
  const lifecycle = new SessionLifecycle(store, model, { startJob: (r: SessionRecord) => started.push(r.session.id), stopJob: (id) => stopped.push(id), publish: (id, e) => events.push([id, e]) }, now);
  return { store, lifecycle, intake: new UploadIntake(lifecycle), started, stopped, events };
}

const request = (over: Partial<CreateSessionRequest> = {}): CreateSessionRequest => ({
  task: { name: 't', textField: 'text', labelField: 'label', labels: [{ value: '0', name: 'neg', verbalizer: ' bad' }, { value: '1', name: 'pos', verbalizer: ' great' }], suffix: ' It was', sentenceEnd: '', contextPrefix: '', labelContext: 'A {label} text:', demonstrations: [{ text: 'good', label: '1' }], instruction: '', symbols: '@#' },
  modelSha256: model.sha256,
  syntheticPerClass: 2,
  preset: 'cpu',
  privacy: { epsilon: 1, delta: 1e-5, clip: 1, maxExamples: 10, release: TargetRelease.TARGET_RELEASE_UNSPECIFIED },
  minClients: 2,
  deadlineUnixMs: 0,
  seed: 0,
  clientIds: ['alpha', 'beta'],
  textLength: 4,
  secureAggregation: undefined,
  ...over,
});

const kindOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    if (e instanceof DomainError) return e.kind;
    throw e;
  }
  return undefined;
};

const values = Float32Array.from({ length: 30 }, (_, i) => Math.sin(i) * 3);
const bytes = new Uint8Array(values.buffer);
const header = (sessionId: string, classIndex: number, uploadId = `class-${classIndex}-upload`) => ({
  sessionId,
  uploadId,
  classIndex,
  shape: [6, 5],
  dtype: DType.DTYPE_FLOAT32,
  totalBytes: bytes.length,
  sha256: createHash('sha256').update(bytes).digest('hex'),
  chunkCount: 1,
  noiseStd: SIGMA,
  clip: 1,
  firstChunk: 0,
  l2Norm: Math.hypot(...values),
});

async function contribute(w: ReturnType<typeof world>, who: Principal, sessionId: string, classIndex: number) {
  const { upload } = w.intake.open(who, header(sessionId, classIndex));
  w.intake.chunk(upload, 0, bytes);
  return w.intake.finish(upload);
}

describe('session lifecycle', () => {
  it('validates a new session and fixes its bound', () => {
    const w = world();
    expect(kindOf(() => w.lifecycle.create(alpha, request()))).toBe('permission-denied');
    expect(kindOf(() => w.lifecycle.create(op, request({ modelSha256: 'cd'.repeat(32) })))).toBe('failed-precondition');
    expect(kindOf(() => w.lifecycle.create(op, request({ minClients: 0 })))).toBe('invalid-argument');
    expect(kindOf(() => w.lifecycle.create(op, request({ clientIds: ['../etc'] })))).toBe('invalid-argument');
    expect(kindOf(() => w.lifecycle.create(op, request({ privacy: { epsilon: 1, delta: 0, clip: 1, maxExamples: 0, release: TargetRelease.TARGET_RELEASE_UNSPECIFIED } })))).toBe('invalid-argument');
    expect(kindOf(() => w.lifecycle.create(op, request({ preset: 'gpu' })))).toBe('invalid-argument');
    expect(kindOf(() => w.lifecycle.create(op, request({ preset: 'toString' })))).toBe('invalid-argument');
    // No preset named: the library's default, recorded in the session so its job and report name it.
    expect(w.lifecycle.create(op, request({ preset: '' })).preset).toBe(DEFAULT_PRESET);
    const s = w.lifecycle.create(op, request({ privacy: { epsilon: 1, delta: 1e-5, clip: 1, maxExamples: 0, release: TargetRelease.TARGET_RELEASE_UNSPECIFIED } }));
    expect(s.privacy!.maxExamples).toBe(1000); // the default, recorded in the session
    // The task's public parts travel whole (the projection's label context and demonstrations) and are checked.
    expect(s.task).toMatchObject({ labelContext: 'A {label} text:', demonstrations: [{ text: 'good', label: '1' }], symbols: '@#' });
    // ... and reach the synthesis as the library's task, symbols included.
    expect(taskFromSpec(s.task!)).toMatchObject({ labelContext: 'A {label} text:', symbols: '@#' });
    expect(taskFromSpec({ ...s.task!, symbols: '' }).symbols).toBeUndefined();
    expect(specFromTask(taskFromSpec(s.task!))).toEqual({ ...s.task!, contextPrefix: 'The' });
    const task = request().task!;
    const bad = (over: Partial<typeof task>) => kindOf(() => w.lifecycle.create(op, request({ task: { ...task, ...over } })));
    expect(bad({ demonstrations: [{ text: 'good', label: '7' }] })).toBe('invalid-argument');
    expect(bad({ demonstrations: [{ text: 'x'.repeat(5000), label: '1' }] })).toBe('invalid-argument');
    expect(bad({ demonstrations: Array.from({ length: 65 }, () => ({ text: 'good', label: '1' })) })).toBe('invalid-argument');
    expect(bad({ labelContext: 'x'.repeat(1001) })).toBe('invalid-argument');
    expect(bad({ symbols: '@a' })).toBe('invalid-argument');
    expect(bad({ symbols: '#\n' })).toBe('invalid-argument');
    expect(bad({ symbols: '@'.repeat(257) })).toBe('invalid-argument');
    expect(bad({ labels: [task.labels[0]!, { ...task.labels[1]!, value: '0' }] })).toBe('invalid-argument');
  });

  it('shows a session only to its invited clients; joins are idempotent and never late', () => {
    const w = world();
    const s = w.lifecycle.create(op, request());
    expect(kindOf(() => w.lifecycle.visible(outsider, s.id))).toBe('not-found');
    expect(kindOf(() => w.lifecycle.join(alpha, s.id, 'cd'.repeat(32)))).toBe('failed-precondition');
    expect(w.lifecycle.join(alpha, s.id, model.sha256).participants).toBe(1);
    expect(w.lifecycle.join(alpha, s.id, model.sha256).participants).toBe(1);
    expect(w.lifecycle.list(outsider)).toEqual([]);
    expect(w.lifecycle.list(op).map((x) => x.id)).toEqual([s.id]);
  });

  it('counts a contribution once, starts the job on quorum, and refuses a second upload for a counted class', async () => {
    const w = world();
    const s = w.lifecycle.create(op, request());
    expect(kindOf(() => w.intake.open(alpha, header(s.id, 0)))).toBe('failed-precondition'); // not joined
    w.lifecycle.join(alpha, s.id, model.sha256);
    w.lifecycle.join(beta, s.id, model.sha256);
    expect(await contribute(w, alpha, s.id, 0)).toMatchObject({ complete: true, chunksReceived: 1 });
    // Idempotent: a re-run client asking again is told "complete", and nothing is counted twice.
    expect(await w.intake.status(alpha, s.id, 'class-0-upload')).toMatchObject({ complete: true });
    expect(kindOf(() => w.intake.open(alpha, header(s.id, 0, 'another-upload')))).toBe('already-exists');
    await contribute(w, alpha, s.id, 1);
    expect(w.store.get(s.id)!.session.completeContributions).toBe(1);
    expect(w.started).toEqual([]);
    await contribute(w, beta, s.id, 0);
    await contribute(w, beta, s.id, 1);
    expect(w.started).toEqual([s.id]);
    expect(w.store.get(s.id)!.session.state).toBe(SessionState.SESSION_STATE_RUNNING);
    expect(w.store.get(s.id)!.contributions).toEqual({ alpha: { 0: 'alpha/class-0-upload', 1: 'alpha/class-1-upload' }, beta: { 0: 'beta/class-0-upload', 1: 'beta/class-1-upload' } });
  });

  it('validates upload ids in status queries too (no paths, no file contents in errors)', async () => {
    const w = world();
    const s = w.lifecycle.create(op, request());
    w.lifecycle.join(alpha, s.id, model.sha256);
    for (const id of ['/../../../../etc/passwd', '../session.json', 'short', '.hidden-upload']) {
      const e = await w.intake.status(alpha, s.id, id).catch((x: DomainError) => x);
      expect((e as DomainError).kind).toBe('invalid-argument');
      expect((e as DomainError).message).not.toMatch(/root:x|invited|contributions/);
    }
    await expect(w.intake.status(alpha, s.id, 'class-9-upload')).rejects.toMatchObject({ kind: 'not-found' });
  });

  it('expires a session at its deadline without the minimum and tells the watchers (a terminal event)', () => {
    let t = 1000;
    const w = world(() => t);
    const s = w.lifecycle.create(op, request({ deadlineUnixMs: 5000 }));
    w.lifecycle.checkDeadlines(4000);
    expect(w.events).toEqual([]);
    t = 6000;
    w.lifecycle.checkDeadlines();
    expect(w.store.get(s.id)!.session.state).toBe(SessionState.SESSION_STATE_EXPIRED);
    expect(w.events.map(([, e]) => e.state)).toEqual([SessionState.SESSION_STATE_EXPIRED]);
    expect(kindOf(() => w.lifecycle.join(alpha, s.id, model.sha256))).toBe('failed-precondition');
  });

  it('stops an OPEN or RUNNING session as CANCELLED (operator only), ends its job, and ignores the job\'s late outcome', async () => {
    const w = world();
    const open = w.lifecycle.create(op, request());
    expect(kindOf(() => w.lifecycle.stop(alpha, open.id))).toBe('permission-denied');
    expect(kindOf(() => w.lifecycle.stop(op, 's-00000000-0000-0000-0000-000000000000'))).toBe('not-found');
    expect(w.lifecycle.stop(op, open.id, ' wrong task ').message).toBe('stopped by op: wrong task');
    expect(w.events.at(-1)![1]).toMatchObject({ state: SessionState.SESSION_STATE_CANCELLED, message: 'stopped by op: wrong task' });
    expect(kindOf(() => w.lifecycle.stop(op, open.id))).toBe('failed-precondition');
    expect(kindOf(() => w.lifecycle.join(alpha, open.id, model.sha256))).toBe('failed-precondition');
    const run = w.lifecycle.create(op, request({ minClients: 1, clientIds: ['alpha'] }));
    w.lifecycle.join(alpha, run.id, model.sha256);
    await contribute(w, alpha, run.id, 0);
    await contribute(w, alpha, run.id, 1);
    expect(w.started).toEqual([run.id]);
    w.lifecycle.stop(op, run.id);
    expect(w.stopped).toEqual([open.id, run.id]);
    // A worker that finished just as it was stopped does not turn the session DONE.
    w.lifecycle.onJobFinished(run.id, { ok: true, examples: 4 });
    expect(w.store.get(run.id)!.session.state).toBe(SessionState.SESSION_STATE_CANCELLED);
    expect(w.lifecycle.running()).toEqual([]); // not resumed after a restart
    expect(kindOf(() => w.lifecycle.downloadable(alpha, run.id))).toBe('failed-precondition');
  });

  it('runs at the deadline with the clients that are complete when the minimum is met', async () => {
    const w = world();
    const s = w.lifecycle.create(op, request({ minClients: 1, deadlineUnixMs: 5000 }));
    w.lifecycle.join(alpha, s.id, model.sha256);
    w.lifecycle.join(beta, s.id, model.sha256);
    await contribute(w, alpha, s.id, 0);
    await contribute(w, alpha, s.id, 1);
    w.lifecycle.checkDeadlines(6000);
    expect(w.started).toEqual([s.id]);
    expect(w.store.get(s.id)!.joined).toEqual(['alpha']);
  });
});

describe('contribution intake after a crash', () => {
  it('reconciles a verified upload that was never recorded, and verifies one whose chunks were all in', async () => {
    const w = world();
    const s = w.lifecycle.create(op, request());
    w.lifecycle.join(alpha, s.id, model.sha256);
    const uploads = w.store.uploads(s.id);
    const target = w.lifecycle.target(w.store.get(s.id)!);
    // Class 0: verified and committed on disk, but the session record was never written (killed).
    uploads.begin({ clientId: 'alpha', uploadId: 'class-0-upload' }, header(s.id, 0), target);
    uploads.writeChunk({ clientId: 'alpha', uploadId: 'class-0-upload' }, 0, bytes);
    await uploads.seal({ clientId: 'alpha', uploadId: 'class-0-upload' }, target);
    // Class 1: every chunk in, killed before verification.
    uploads.begin({ clientId: 'alpha', uploadId: 'class-1-upload' }, header(s.id, 1), target);
    uploads.writeChunk({ clientId: 'alpha', uploadId: 'class-1-upload' }, 0, bytes);
    expect(w.store.get(s.id)!.contributions).toEqual({});
    const again = new UploadIntake(new SessionLifecycle(new SessionStore(w.store.dir), model, { startJob: () => {}, stopJob: () => {}, publish: () => {} }));
    expect(await again.reconcile()).toBe(2);
    expect(new SessionStore(w.store.dir).get(s.id)!.contributions).toEqual({ alpha: { 0: 'alpha/class-0-upload', 1: 'alpha/class-1-upload' } });
    expect(await again.reconcile()).toBe(0);
  });

  it('a client that resumes with every chunk already in (first_chunk = chunk_count) gets the verdict', async () => {
    const w = world();
    const s = w.lifecycle.create(op, request());
    w.lifecycle.join(alpha, s.id, model.sha256);
    const { upload } = w.intake.open(alpha, header(s.id, 0));
    w.intake.chunk(upload, 0, bytes); // ... and the stream died before its half-close
    const again = w.intake.open(alpha, { ...header(s.id, 0), firstChunk: 1 });
    expect(again.progress.received).toBe(1);
    expect(await w.intake.finish(again.upload)).toMatchObject({ complete: true, chunksReceived: 1 });
  });

  it('keeps one upload in progress per client and class: a new id replaces an unfinished one', () => {
    const w = world();
    const s = w.lifecycle.create(op, request());
    w.lifecycle.join(alpha, s.id, model.sha256);
    const ids = Array.from({ length: 5 }, (_, i) => `flood-upload-${i}`);
    for (const id of ids) w.intake.open(alpha, { ...header(s.id, 0, id), chunkCount: 2 });
    w.intake.open(alpha, { ...header(s.id, 1, 'other-class-upload'), chunkCount: 2 });
    expect(w.store.uploads(s.id).list('alpha').map((u) => u.key.uploadId).sort()).toEqual(['flood-upload-4', 'other-class-upload']);
  });

  it('removes uploads abandoned for longer than the TTL, and keeps counted ones', async () => {
    const w = world();
    const s = w.lifecycle.create(op, request());
    w.lifecycle.join(alpha, s.id, model.sha256);
    await contribute(w, alpha, s.id, 0);
    const target = w.lifecycle.target(w.store.get(s.id)!);
    const key = { clientId: 'alpha', uploadId: 'class-1-upload' };
    w.store.uploads(s.id).begin(key, { ...header(s.id, 1), chunkCount: 2 }, target);
    const record = join(w.store.uploads(s.id).dir, 'alpha', 'class-1-upload.json');
    expect(w.intake.sweep(60_000)).toBe(0);
    utimesSync(record, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    expect(w.intake.sweep(60_000)).toBe(1);
    expect(existsSync(record)).toBe(false);
    expect(existsSync(join(w.store.uploads(s.id).dir, 'alpha', 'class-0-upload.bin'))).toBe(true);
  });
});
