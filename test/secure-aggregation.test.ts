/**
 * Secure aggregation over gRPC, with real processes on loopback and a tiny model, under mutual
 * TLS: owners answer the coordinator's SecAgg+ rounds with one masked vector each, and the
 * coordinator recovers only the sum, also when an owner dies after masking; what it stores of an
 * owner is not that owner's data; owner and coordinator processes killed with SIGKILL between
 * rounds carry on from their saved state; malformed and out-of-turn messages are refused while
 * the coordinator keeps serving.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status, type ServiceError } from '@grpc/grpc-js';
import { computeContributions, secureAggregate } from '@synthgrad/client';
import { encodeFixed, initBackend, loadModel, quantisationBound, readExamples, type LoadedModel, type ServerState } from '@synthgrad/core';
import { CoordinatorClient, DType, SecAggRound, secAggNoisePlan, SessionState, taskFromSpec, type SecAggReply, type SecAggRequest, type Session } from '@synthgrad/protocol';
import { bin, built, cliAsync, kill, Proxy, rawUpload, startCoordinatorProcess, tinyFederation, waitFor, type CoordinatorProcess } from './helpers/federation.js';
import { tinyConfig, tinyWeights, writeTinyLlamaGGUF } from './helpers/tiny-llama.js';

const { dir, model, state, fed } = tinyFederation('synthgrad-secagg-');
const procs: ChildProcess[] = [];
let coord: CoordinatorProcess;
const proxy = new Proxy();
let rt: LoadedModel;

const DATA: Record<string, [string, number][]> = {
  alpha: [['the great film', 1], ['a bad plot', 0], ['great fun', 1]],
  beta: [['a great cast', 1], ['bad acting', 0]],
  gamma: [['great and fun', 1], ['bad and dull', 0], ['a bad end', 0]],
};

function writeData(id: string): string {
  const p = join(dir, `${id}.jsonl`);
  writeFileSync(p, DATA[id]!.map(([text, label]) => JSON.stringify({ text, label })).join('\n') + '\n');
  return p;
}

/** `synthgrad client run` with its own SYNTHGRAD_HOME (noise key, ledger, secure-aggregation secrets), as a separate owner has. */
function runOwner(address: string, id: string, sessionId: string) {
  const home = join(dir, `home-${sessionId}-${id}`); // one owner folder per session, so each test reads only its own ledger
  const proc = spawn(process.execPath, [bin, 'client', 'run', '--address', address, '--tls', fed.bundle(id), '--session', sessionId, '--data', writeData(id), '--out', join(dir, `out-${sessionId}-${id}`), '--model', model, '--seed', '1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SYNTHGRAD_TOKEN: fed.tokens[id]!, SYNTHGRAD_HOME: home },
  });
  procs.push(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d) => (stdout += d));
  proc.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((r) => proc.on('close', (code) => r({ code, stdout, stderr })));
  return { proc, done, home, stderr: () => stderr };
}

const sessionDir = (id: string) => join(state, 'sessions', id);
const secaggState = (id: string): { round: SecAggRound; survivors: string[]; server: ServerState } | undefined => {
  const f = join(sessionDir(id), 'secagg.json');
  try {
    return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) : undefined;
  } catch {
    return undefined; // mid-rename
  }
};

async function createSecure(clients: string[], extra: string[]): Promise<string> {
  const r = await cliAsync(['coordinator', 'create-session', '--address', proxy.address, '--token', fed.tokens.op!, '--tls', fed.bundle('op'), '--clients', clients.join(','), '--min-clients', '2', '--per-class', '2', '--text-length', '4', '--clip', '1', '--max-examples', '10', '--seed', '3', '--secure-aggregation', '--model', model, ...extra]);
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}

const call = (client: CoordinatorClient, id: string, req: Partial<SecAggRequest> & { sessionId: string }) =>
  new Promise<SecAggReply | ServiceError>((resolve) =>
    client.secureAggregate({ round: SecAggRound.SEC_AGG_ROUND_UNSPECIFIED, keys: undefined, shares: [], masked: Buffer.alloc(0), revealed: [], survivors: [], ...req }, fed.md(id), (e, r) => resolve(e ?? r!)),
  );

const getSession = (id: string, sessionId: string) => {
  const c = fed.client(proxy.address, id);
  return new Promise<Session>((resolve, reject) => c.getSession({ sessionId }, fed.md(id), (e, r) => (c.close(), e ? reject(e) : resolve(r!))));
};

/** Every class's clipped sum of released rows for one owner's data, as the client computes it (no noise). */
function plainValues(id: string, s: Session): Float32Array {
  const task = taskFromSpec(s.task!);
  const targets = computeContributions(rt, task, readExamples(writeData(id), task), { epsilon: 0, delta: 0, clip: 1, maxExamples: 10, release: 'label-rows' }, 1);
  const out = new Float32Array(targets.reduce((n, t) => n + t.sum.length, 0));
  let o = 0;
  for (const t of targets) {
    out.set(t.sum, o);
    o += t.sum.length;
  }
  return out;
}

const readF32 = (path: string) => {
  const b = readFileSync(path);
  return Float32Array.from({ length: b.length / 4 }, (_, i) => b.readFloatLE(4 * i));
};

beforeAll(async () => {
  if (!built) return;
  writeTinyLlamaGGUF(model, tinyConfig(), tinyWeights(tinyConfig(), 17));
  fed.init([['op', true], ['alpha', false], ['beta', false], ['gamma', false], ['delta', false]]);
  coord = await startCoordinatorProcess(state, model);
  procs.push(coord.proc);
  await proxy.start();
  proxy.upstream = coord.port;
  await initBackend({});
  rt = await loadModel(model);
});

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  rt?.dispose();
  await proxy.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.runIf(built)('secure aggregation over gRPC', () => {
  it('recovers the exact sum of three owners when one dies after masking, and stores nothing of an owner but masked words', async () => {
    const sessionId = await createSecure(['alpha', 'beta', 'gamma'], ['--round-timeout-s', '2']);
    const s = await getSession('alpha', sessionId);
    expect(s.secureAggregation).toMatchObject({ enabled: true, parties: ['alpha', 'beta', 'gamma'], threshold: 2, vectorLength: 2 * 2 * tinyConfig().dModel, round: SecAggRound.SEC_AGG_ROUND_ADVERTISE });
    const alpha = runOwner(proxy.address, 'alpha', sessionId);
    const beta = runOwner(proxy.address, 'beta', sessionId);
    await waitFor('alpha and beta joined', () => JSON.parse(readFileSync(join(sessionDir(sessionId), 'session.json'), 'utf8')).joined.length === 2, 60_000);
    // gamma runs in this process, through the library, and dies (its calls fail for good) as soon as its masked vector is in.
    await fed.join(proxy.address, 'gamma', sessionId);
    const real = fed.client(proxy.address, 'gamma');
    const dying = {
      secureAggregate: (req: SecAggRequest, md: unknown, opts: unknown, cb: (e: Error | null, r?: SecAggReply) => void) =>
        real.secureAggregate(req, md as never, opts as never, (e, r) => (req.round === SecAggRound.SEC_AGG_ROUND_MASK && !e ? cb(new Error('gamma is dead')) : cb(e, r))),
    } as unknown as CoordinatorClient;
    const gammaValues = plainValues('gamma', s);
    const gamma = secureAggregate({ client: dying, metadata: () => fed.md('gamma'), session: s, values: gammaValues, noiseKey: Buffer.alloc(32, 7), stateDir: join(dir, 'gamma-secagg'), pollMs: 100 });
    await expect(gamma).rejects.toThrow(/gamma is dead/);
    const [a, b] = await Promise.all([alpha.done, beta.done]);
    expect(a.code, `${a.stderr}\n--- beta:\n${b.stderr}`).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    real.close();
    // The sum holds all three owners' data: gamma's masked vector is in, and its self-mask was rebuilt from the others' shares.
    const st = secaggState(sessionId)!;
    expect(st.round).toBe(SecAggRound.SEC_AGG_ROUND_DONE);
    expect(st.survivors.sort()).toEqual(['alpha', 'beta', 'gamma']);
    expect(st.server.revealed.map(([p]) => p).sort()).toEqual(['alpha', 'beta']);
    const expected = plainValues('alpha', s).map((x, i) => x + plainValues('beta', s)[i]! + gammaValues[i]!);
    const got = readF32(join(sessionDir(sessionId), 'aggregate.f32'));
    const tol = quantisationBound(secAggNoisePlan(s).fixedPoint, 3) + 1e-4;
    expect(got.length).toBe(expected.length);
    for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - expected[i]!)).toBeLessThanOrEqual(tol + 1e-4 * Math.abs(expected[i]!));
    // What the coordinator keeps of gamma: masked words, unrelated to gamma's encoding.
    const masked = Buffer.from(st.server.masked.find(([p]) => p === 'gamma')![1], 'base64');
    const words = Float64Array.from({ length: masked.length / 4 }, (_, i) => masked.readUInt32LE(4 * i));
    const enc = Float64Array.from(encodeFixed(gammaValues, secAggNoisePlan(s).fixedPoint), (w) => w | 0);
    const corr = (x: Float64Array, y: Float64Array) => {
      const mx = x.reduce((p, v) => p + v, 0) / x.length;
      const my = y.reduce((p, v) => p + v, 0) / y.length;
      let sxy = 0;
      let sxx = 0;
      let syy = 0;
      for (let i = 0; i < x.length; i++) {
        sxy += (x[i]! - mx) * (y[i]! - my);
        sxx += (x[i]! - mx) ** 2;
        syy += (y[i]! - my) ** 2;
      }
      return sxy / Math.sqrt(sxx * syy);
    };
    expect(Math.abs(corr(words, enc))).toBeLessThan(5 / Math.sqrt(words.length));
    // Both survivors downloaded the same result, synthesised from the secure sum.
    const out = (id: string) => readFileSync(join(dir, `out-${sessionId}-${id}`, 'synthetic.jsonl'), 'utf8');
    expect(out('beta')).toBe(out('alpha'));
    expect(out('alpha').trim().split('\n')).toHaveLength(4);
    const meta = JSON.parse(readFileSync(join(dir, `out-${sessionId}-alpha`, 'synthetic.jsonl.meta.json'), 'utf8'));
    expect(meta.privacy.mechanism).toMatch(/secure aggregation \(SecAgg\+\) of 3 participants/);
    // The coordinator synthesised with the whole task: its label-conditioned context and public demonstrations.
    expect(meta.task).toMatchObject({ labelContext: 'A {label} movie review:', demonstrations: expect.arrayContaining([expect.objectContaining({ label: '1' })]) });
    expect(meta.task.demonstrations).toHaveLength(4);
    expect(JSON.parse(a.stdout).bytesSentPerClass).toEqual([2 * tinyConfig().dModel * 4, 2 * tinyConfig().dModel * 4]); // two label rows a class
    expect(a.stderr).toMatch(/secure aggregation: round unmask/);
  });

  it('carries on when an owner and then the coordinator are killed with SIGKILL between rounds, and counts the owner\'s release once', async () => {
    const sessionId = await createSecure(['alpha', 'beta', 'gamma'], ['--round-timeout-s', '60', '--epsilon', '4', '--delta', '1e-5']);
    const owners = Object.fromEntries(['alpha', 'beta', 'gamma'].map((id) => [id, runOwner(proxy.address, id, sessionId)]));
    // alpha dies once its key shares are in, and a new alpha process picks up from its saved secrets.
    await waitFor('alpha shared its keys', () => secaggState(sessionId)?.server.sealed.some(([p]) => p === 'alpha'), 60_000);
    await kill(owners.alpha!.proc);
    const alpha2 = runOwner(proxy.address, 'alpha', sessionId);
    // The coordinator dies once the masking round is open, and restarts from its secagg.json.
    await waitFor('the masking round', () => (secaggState(sessionId)?.round ?? 0) >= SecAggRound.SEC_AGG_ROUND_MASK, 60_000);
    proxy.upstream = undefined;
    await kill(coord.proc);
    proxy.cut();
    coord = await startCoordinatorProcess(state, model);
    procs.push(coord.proc);
    proxy.upstream = coord.port;
    const results = await Promise.all([alpha2.done, owners.beta!.done, owners.gamma!.done]);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const out = (id: string) => readFileSync(join(dir, `out-${sessionId}-${id}`, 'synthetic.jsonl'), 'utf8');
    expect(out('beta')).toBe(out('alpha'));
    expect(out('gamma')).toBe(out('alpha'));
    const st = secaggState(sessionId)!;
    expect(st.survivors.sort()).toEqual(['alpha', 'beta', 'gamma']);
    // One release in alpha's ledger, with the central Skellam sigma, marked as distributed noise.
    const ledger = JSON.parse(readFileSync(join(alpha2.home, 'privacy-ledger.json'), 'utf8'));
    const mine = ledger.entries.filter((e: { session: string }) => e.session === sessionId);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ noise: 'distributed', release: 'label-rows' });
    // Accounted as what it is: Skellam noise, by its Rényi bound (the plan's epsilon 4, not the Gaussian profile of its sigma).
    expect(mine[0].skellam.mu).toBeGreaterThan(0);
    expect(alpha2.stderr()).toMatch(/together are \(4\.00, 0\.00001\)-differentially private .* with distributed Skellam noise under secure aggregation/);
    expect(mine[0].sigma).toBeCloseTo(secAggNoisePlan(await getSession('alpha', sessionId)).sigma, 10);
    // alpha's secrets stay on alpha's side, private to its user.
    const secrets = join(alpha2.home, 'secagg', `${sessionId}.alpha.json`);
    expect(readFileSync(secrets, 'utf8')).toMatch(/"selfSeed"/);
    expect(statMode(secrets)).toBe(0o600);
  });

  it('refuses what does not belong to a round, and keeps serving', async () => {
    const sessionId = await createSecure(['beta', 'delta'], []);
    const c = fed.client(proxy.address, 'beta');
    // Before joining; then an upload instead of the rounds.
    const before = await call(c, 'beta', { sessionId });
    expect((before as ServiceError).details, JSON.stringify(before)).toMatch(/join the session first/);
    await fed.join(proxy.address, 'beta', sessionId);
    const up = await rawUpload(c, fed.md('beta'), [{ header: { sessionId, uploadId: 'upload-0001', classIndex: 0, shape: [2, tinyConfig().dModel], dtype: DType.DTYPE_FLOAT32, totalBytes: 8, sha256: '0'.repeat(64), chunkCount: 1, noiseStd: 0, clip: 1, firstChunk: 0, l2Norm: 0 } }]).answer;
    expect((up as ServiceError).details).toMatch(/secure aggregation \(SecureAggregate\), not by upload/);
    // Keys in another party's name, keys for a round that is not open, malformed keys.
    const other = await call(c, 'beta', { sessionId, round: SecAggRound.SEC_AGG_ROUND_ADVERTISE, keys: { party: 'delta', c: 'x', s: 'y' } });
    expect((other as ServiceError).code).toBe(status.INVALID_ARGUMENT);
    const early = await call(c, 'beta', { sessionId, round: SecAggRound.SEC_AGG_ROUND_MASK, masked: Buffer.alloc(8) });
    expect((early as ServiceError).details).toMatch(/round MASK is not open; the aggregation is in ADVERTISE/);
    const ok = await call(c, 'beta', { sessionId, round: SecAggRound.SEC_AGG_ROUND_ADVERTISE, keys: { party: 'beta', c: 'k1', s: 'k2' } });
    expect(ok).toMatchObject({ round: SecAggRound.SEC_AGG_ROUND_ADVERTISE, answered: true, party: 'beta' });
    const again = await call(c, 'beta', { sessionId, round: SecAggRound.SEC_AGG_ROUND_ADVERTISE, keys: { party: 'beta', c: 'k1', s: 'k2' } });
    expect(again).toMatchObject({ answered: true });
    const changed = await call(c, 'beta', { sessionId, round: SecAggRound.SEC_AGG_ROUND_ADVERTISE, keys: { party: 'beta', c: 'k3', s: 'k2' } });
    expect((changed as ServiceError).details).toMatch(/already sent its keys for this round, and this one differs/);
    c.close();
    // A plain session takes no secure-aggregation messages; a secure session needs label rows and a quorum of two.
    const plain = await cliAsync(['coordinator', 'create-session', '--address', proxy.address, '--token', fed.tokens.op!, '--tls', fed.bundle('op'), '--clients', 'beta', '--model', model]);
    expect(plain.status, plain.stderr).toBe(0);
    await fed.join(proxy.address, 'beta', plain.stdout.trim());
    const c2 = fed.client(proxy.address, 'beta');
    expect(((await call(c2, 'beta', { sessionId: plain.stdout.trim() })) as ServiceError).details).toMatch(/does not use secure aggregation/);
    c2.close();
    await expect(createSecure(['beta', 'delta'], ['--release', 'full'])).rejects.toThrow(/secure aggregation needs privacy.release LABEL_ROWS/);
    await expect(createSecure(['beta', 'delta'], ['--min-clients', '1'])).rejects.toThrow(/min_clients of at least 2/);
    const health = await cliAsync(['coordinator', 'health', '--address', proxy.address, '--tls', fed.bundle('beta')]);
    expect(health.status, health.stderr).toBe(0);
    expect((await getSession('beta', sessionId)).state).toBe(SessionState.SESSION_STATE_OPEN);
  });
});

const statMode = (path: string): number => statSync(path).mode & 0o777;
