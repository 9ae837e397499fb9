/**
 * Federated synthesis with real processes on loopback and a tiny model, over mutual TLS: a
 * coordinator and three data-owner clients produce shared synthetic text; the health service
 * answers; plaintext, certificate-less and mismatched callers and clients without a valid
 * credential are refused; malformed uploads get their status and the coordinator keeps serving.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { CoordinatorClient, DType, type UploadAck } from '@synthgrad/protocol';
import { uploadContribution } from '@synthgrad/client';
import { analyticGaussianSigma } from '@synthgrad/core';
import { tinyConfig, tinyWeights, writeTinyLlamaGGUF } from './helpers/tiny-llama.js';

const bin = fileURLToPath(new URL('../packages/cli/bin/synthgrad.js', import.meta.url));
const built = existsSync(fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url)));
const dir = mkdtempSync(join(tmpdir(), 'synthgrad-fed-'));
const model = join(dir, 'tiny.gguf');
const state = join(dir, 'state');
let coordinator: ChildProcess | undefined;
let address = '';
const tokens: Record<string, string> = {};
let sessionId = '';
/** A second session, never started (quorum 2 of 1 invited), for the resume test. */
let spareSession = '';
/** A session whose contributions hold only the label tokens' rows. */
let rowsSession = '';

const cli = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000 });

function writeData(name: string, rows: [string, number][]): string {
  const p = join(dir, `${name}.jsonl`);
  writeFileSync(p, rows.map(([text, label]) => JSON.stringify({ text, label })).join('\n') + '\n');
  return p;
}

beforeAll(async () => {
  if (!built) return;
  writeTinyLlamaGGUF(model, tinyConfig(), tinyWeights(tinyConfig(), 11));
  const init = cli(['coordinator', 'tls-init', '--state', state, '--hosts', 'localhost,127.0.0.1']);
  expect(init.status, init.stderr).toBe(0);
  for (const [id, op] of [['op', true], ['alpha', false], ['beta', false], ['gamma', false]] as const) {
    const r = cli(['coordinator', 'add-client', '--state', state, '--id', id, ...(op ? ['--operator'] : [])]);
    expect(r.status, r.stderr).toBe(0);
    tokens[id] = r.stdout.trim();
    expect(r.stderr).toContain(bundle(id));
  }
  coordinator = spawn(process.execPath, [bin, 'coordinator', 'start', '--state', state, '--address', '127.0.0.1:0', '--model', model, '--mtls'], { stdio: ['ignore', 'pipe', 'pipe'] });
  address = await new Promise<string>((resolve, reject) => {
    let out = '';
    coordinator!.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on port (\d+)/.exec(out);
      if (m) resolve(`127.0.0.1:${m[1]}`);
    });
    coordinator!.on('exit', (code) => reject(new Error(`coordinator exited with ${code}`)));
  });
  const r = cli(['coordinator', 'create-session', '--address', address, '--token', tokens.op, '--tls', bundle('op'), '--clients', 'alpha,beta,gamma', '--per-class', '4', '--text-length', '4', '--clip', '1', '--epsilon', '4', '--delta', '1e-5', '--release', 'full', '--seed', '3', '--model', model]);
  expect(r.status, r.stderr).toBe(0);
  sessionId = r.stdout.trim();
  const r2 = cli(['coordinator', 'create-session', '--address', address, '--token', tokens.op, '--tls', bundle('op'), '--clients', 'beta', '--min-clients', '2', '--per-class', '4', '--clip', '1', '--epsilon', '4', '--delta', '1e-5', '--release', 'full', '--model', model]);
  expect(r2.status, r2.stderr).toBe(0);
  spareSession = r2.stdout.trim();
  // The default release: label rows.
  const r3 = cli(['coordinator', 'create-session', '--address', address, '--token', tokens.op, '--tls', bundle('op'), '--clients', 'alpha,beta', '--per-class', '2', '--text-length', '4', '--clip', '1', '--epsilon', '4', '--delta', '1e-5', '--seed', '5', '--model', model]);
  expect(r3.status, r3.stderr).toBe(0);
  rowsSession = r3.stdout.trim();
});

afterAll(() => {
  coordinator?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

/** The TLS bundle (ca.pem, cert.pem, key.pem) add-client wrote for a party. */
const bundle = (id: string) => join(state, 'tls', 'clients', id);

/** Channel credentials from a party's bundle (mutual TLS). */
function tls(id: string) {
  const f = (n: string) => readFileSync(join(bundle(id), n));
  return credentials.createSsl(f('ca.pem'), f('key.pem'), f('cert.pem'));
}

function raw(token: string, id = Object.keys(tokens).find((k) => tokens[k] === token)!) {
  const client = new CoordinatorClient(address, tls(id));
  const md = new Metadata();
  md.set('authorization', `Bearer ${token}`);
  return { client, md };
}

describe.runIf(built)('federated synthesis on loopback', () => {
  it('serves the gRPC health service over TLS and refuses plaintext', () => {
    const ok = cli(['coordinator', 'health', '--address', address, '--tls', bundle('alpha')]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toBe('synthgrad.v1.Coordinator: SERVING\n');
    const plain = cli(['coordinator', 'health', '--address', address, '--insecure']);
    expect(plain.status).toBe(1);
    expect(plain.stderr).toMatch(/health check of .* failed/);
  });

  it('under mutual TLS refuses a client without a certificate, and a certificate used with another party\'s token', async () => {
    const noCert = new CoordinatorClient(address, credentials.createSsl(readFileSync(join(bundle('alpha'), 'ca.pem'))));
    const md = new Metadata();
    md.set('authorization', `Bearer ${tokens.alpha}`);
    const e1 = await new Promise<ServiceError>((resolve) => noCert.listSessions({}, md, { deadline: new Date(Date.now() + 10_000) }, (e) => resolve(e!)));
    expect(e1.code).toBe(status.UNAVAILABLE); // the handshake fails: no certificate, no connection
    noCert.close();
    const swapped = raw(tokens.beta, 'alpha'); // alpha's certificate, beta's token
    const e2 = await new Promise<ServiceError>((resolve) => swapped.client.listSessions({}, swapped.md, (e) => resolve(e!)));
    expect(e2.code).toBe(status.PERMISSION_DENIED);
    expect(e2.details).toMatch(/certificate is for "alpha" but the credential is for "beta"/);
    swapped.client.close();
  });

  it('refuses a client without a valid credential', () => {
    const data = writeData('intruder', [['the great film', 1], ['a bad plot', 0]]);
    const r = cli(['client', 'run', '--address', address, '--token', 'sgt_forged', '--tls', bundle('alpha'), '--session', sessionId, '--data', data, '--out', join(dir, 'x'), '--model', model]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/unknown credential/);
  });

  it('answers malformed uploads with a precise status and keeps serving', async () => {
    const { client, md } = raw(tokens.gamma);
    await new Promise<void>((resolve, reject) => client.joinSession({ sessionId, modelSha256: createHash('sha256').update(readFileSync(model)).digest('hex') }, md, (e) => (e ? reject(e) : resolve())));
    const send = (header: Record<string, unknown>) =>
      new Promise<ServiceError | UploadAck>((resolve) => {
        const s = client.uploadContribution(md, (e, r) => resolve(e ?? r!));
        s.write({ header: { sessionId, uploadId: 'malformed-1', classIndex: 0, shape: [tinyConfig().vocabSize, 32], dtype: DType.DTYPE_FLOAT32, totalBytes: tinyConfig().vocabSize * 32 * 4, sha256: '0'.repeat(64), chunkCount: 1, noiseStd: 10, clip: 1, firstChunk: 0, l2Norm: 0, ...header } });
        s.end();
      });
    expect(((await send({ shape: [3, 3] })) as ServiceError).code).toBe(status.INVALID_ARGUMENT);
    expect(((await send({ classIndex: 9 })) as ServiceError).code).toBe(status.INVALID_ARGUMENT);
    expect(((await send({ noiseStd: 0.01 })) as ServiceError).code).toBe(status.FAILED_PRECONDITION);
    expect(((await send({ dtype: DType.DTYPE_UNSPECIFIED })) as ServiceError).code).toBe(status.INVALID_ARGUMENT);
    const session = await new Promise<{ id: string }>((resolve, reject) => client.getSession({ sessionId }, md, (e, r) => (e ? reject(e) : resolve(r!))));
    expect(session.id).toBe(sessionId);
    const other = raw(tokens.alpha);
    const err = await new Promise<ServiceError>((resolve) => other.client.getSession({ sessionId: 's-00000000-0000-0000-0000-000000000000' }, other.md, (e) => resolve(e!)));
    expect(err.code).toBe(status.NOT_FOUND);
    client.close();
    other.client.close();
  });

  it('an upload cut off mid-stream resumes from the last acknowledged chunk', async () => {
    const V = tinyConfig().vocabSize;
    const values = Float32Array.from({ length: V * 32 }, (_, i) => Math.sin(i));
    const { client, md } = raw(tokens.beta);
    await new Promise<void>((resolve, reject) => client.joinSession({ sessionId: spareSession, modelSha256: createHash('sha256').update(readFileSync(model)).digest('hex') }, md, (err) => (err ? reject(err) : resolve())));
    let writes = 0;
    const resumedAt: number[] = [];
    const ack = await uploadContribution(client, tokens.beta, values, {
      sessionId: spareSession,
      classIndex: 1,
      uploadId: 'resume-test',
      shape: [V, 32],
      noiseStd: analyticGaussianSigma(4, 1e-5, 1), // the session fixes the noise
      clip: 1,
      chunkBytes: 1024,
      dropAfterChunks: 5,
      onChunk: () => writes++,
      onResume: (first) => resumedAt.push(first),
    });
    expect(resumedAt).toEqual([5]);
    const chunks = Math.ceil((V * 32 * 4) / 1024);
    expect(ack).toMatchObject({ uploadId: 'resume-test', chunksReceived: chunks, complete: true });
    expect(writes).toBe(chunks); // 5 before the cut, the rest after it: nothing sent twice
    client.close();
  });

  it('three clients upload noisy gradient sums and all receive the same synthetic text', async () => {
    const shards = {
      alpha: writeData('alpha', [['the great film', 1], ['a great cast', 1], ['a bad plot', 0]]),
      beta: writeData('beta', [['great fun', 1], ['bad acting', 0], ['the end was bad', 0]]),
      gamma: writeData('gamma', [['a great story', 1], ['the film was bad', 0]]),
    };
    const runs = Object.entries(shards).map(
      ([id, data]) =>
        new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
          const p = spawn(process.execPath, [bin, 'client', 'run', '--address', address, '--token', tokens[id], '--tls', bundle(id), '--session', sessionId, '--data', data, '--out', join(dir, `out-${id}`), '--model', model]);
          let stdout = '';
          let stderr = '';
          p.stdout.on('data', (d) => (stdout += d));
          p.stderr.on('data', (d) => (stderr += d));
          p.on('close', (code) => resolve({ code, stdout, stderr }));
        }),
    );
    const results = await Promise.all(runs);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const outputs = Object.keys(shards).map((id) => readFileSync(join(dir, `out-${id}`, 'synthetic.jsonl'), 'utf8'));
    expect(outputs[1]).toBe(outputs[0]);
    expect(outputs[2]).toBe(outputs[0]);
    const rows = outputs[0].trim().split('\n').map((l) => JSON.parse(l));
    expect(rows).toHaveLength(8);
    expect(new Set(rows.map((r) => r.label))).toEqual(new Set(['0', '1']));
    const meta = JSON.parse(readFileSync(join(dir, 'out-alpha', 'synthetic.jsonl.meta.json'), 'utf8'));
    expect(meta.participants).toBe(3);
    const res = JSON.parse(results[0].stdout);
    expect(res.bytesSentPerClass).toEqual([tinyConfig().vocabSize * 32 * 4, tinyConfig().vocabSize * 32 * 4]);
    // The owner's ledger counted this session: one release at the session's (4, 1e-5).
    expect(res.privacy).toMatchObject({ releases: 1, delta: 1e-5 });
    expect(res.privacy.epsilon).toBeCloseTo(4, 4);
    expect(results[0].stderr).toMatch(/privacy ledger \(.*\): 1 release of data [0-9a-f]{12} together are \(4\.00, 0\.00001\)-differentially private/);
  });

  it('a label-rows session takes contributions of one row per label, refuses the full head, and synthesises from them', async () => {
    const d = tinyConfig().dModel;
    const { client, md } = raw(tokens.beta);
    await new Promise<void>((resolve, reject) => client.joinSession({ sessionId: rowsSession, modelSha256: createHash('sha256').update(readFileSync(model)).digest('hex') }, md, (e) => (e ? reject(e) : resolve())));
    const full = await new Promise<ServiceError | UploadAck>((resolve) => {
      const s = client.uploadContribution(md, (e, r) => resolve(e ?? r!));
      s.write({ header: { sessionId: rowsSession, uploadId: 'full-head-1', classIndex: 0, shape: [tinyConfig().vocabSize, d], dtype: DType.DTYPE_FLOAT32, totalBytes: tinyConfig().vocabSize * d * 4, sha256: '0'.repeat(64), chunkCount: 1, noiseStd: analyticGaussianSigma(4, 1e-5, 1), clip: 1, firstChunk: 0, l2Norm: 0 } });
      s.end();
    });
    expect((full as ServiceError).code).toBe(status.INVALID_ARGUMENT);
    expect((full as ServiceError).details).toMatch(/does not match the session model's head \[2, 32\]/);
    client.close();
    const shards = { alpha: writeData('rows-alpha', [['the great film', 1], ['a bad plot', 0]]), beta: writeData('rows-beta', [['great fun', 1], ['bad acting', 0]]) };
    const results = await Promise.all(
      Object.entries(shards).map(
        ([id, data]) =>
          new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
            const p = spawn(process.execPath, [bin, 'client', 'run', '--address', address, '--token', tokens[id], '--tls', bundle(id), '--session', rowsSession, '--data', data, '--out', join(dir, `rows-out-${id}`), '--model', model]);
            let stdout = '';
            let stderr = '';
            p.stdout.on('data', (x) => (stdout += x));
            p.stderr.on('data', (x) => (stderr += x));
            p.on('close', (code) => resolve({ code, stdout, stderr }));
          }),
      ),
    );
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    // Two labels x d numbers a class, not V x d.
    expect(JSON.parse(results[0].stdout).bytesSentPerClass).toEqual([2 * d * 4, 2 * d * 4]);
    const out = readFileSync(join(dir, 'rows-out-alpha', 'synthetic.jsonl'), 'utf8');
    expect(readFileSync(join(dir, 'rows-out-beta', 'synthetic.jsonl'), 'utf8')).toBe(out);
    expect(out.trim().split('\n')).toHaveLength(4);
  });
});
