/**
 * Real parts for federated tests: coordinator and client processes, credentials and TLS bundles
 * issued by the CLI, mutual-TLS gRPC clients, and a TCP proxy between a client and the
 * coordinator that can throttle the bytes (to catch an upload in the middle) and keep a fixed
 * address across coordinator restarts. Loopback (127.0.0.1) only.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { CoordinatorClient, DType, type ContributionHeader, type UploadAck } from '@synthgrad/protocol';
import { analyticGaussianSigma } from '@synthgrad/core';
import { tinyConfig } from './tiny-llama.js';

export const bin = fileURLToPath(new URL('../../packages/cli/bin/synthgrad.js', import.meta.url));
export const built = (() => {
  try {
    readFileSync(fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url)));
    return true;
  } catch {
    return false;
  }
})();

export const cli = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000 });

/** The CLI without blocking this process (whose event loop may be serving a proxy the child dials). */
export function cliAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const p = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout!.on('data', (d) => (stdout += d));
  p.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve) => p.on('close', (status) => resolve({ status, stdout, stderr })));
}

export const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

export interface CoordinatorProcess {
  proc: ChildProcess;
  port: number;
  address: string;
  stderr: () => string;
  /** What it printed on stdout so far (the listening line, the status page's address). */
  stdout: () => string;
  exited: Promise<number | null>;
}

/** `synthgrad coordinator start --mtls` as a child process; resolves once it listens. */
export function startCoordinatorProcess(state: string, model: string, extra: string[] = []): Promise<CoordinatorProcess> {
  const proc = spawn(process.execPath, [bin, 'coordinator', 'start', '--state', state, '--address', '127.0.0.1:0', '--model', model, '--mtls', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on port (\d+)/.exec(out);
      if (m) resolve({ proc, port: Number(m[1]), address: `127.0.0.1:${m[1]}`, stderr: () => err, stdout: () => out, exited });
    });
    void exited.then((code) => reject(new Error(`coordinator exited with ${code}: ${err}`)));
  });
}

export async function kill(p: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill(signal);
  await gone;
}

/** Each client's noise std in the sessions Federation.createSession makes (--clip 1 --epsilon 4 --delta 1e-5). */
export const SESSION_SIGMA = analyticGaussianSigma(4, 1e-5, 1);

/**
 * A federation in a fresh folder, on a tiny model the test writes to `model`: the folder, the
 * state folder, and the tiny model's class-target shape (vocabulary x width) with its size.
 */
export function tinyFederation(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const model = join(dir, 'tiny.gguf');
  const state = join(dir, 'state');
  const c = tinyConfig();
  const shape: [number, number] = [c.vocabSize, c.dModel];
  return { dir, model, state, fed: new Federation(state, model), shape, size: shape[0] * shape[1] };
}

export class Federation {
  readonly tokens: Record<string, string> = {};

  constructor(
    readonly state: string,
    readonly model: string,
  ) {}

  init(parties: [string, boolean][]): void {
    const r = cli(['coordinator', 'tls-init', '--state', this.state, '--hosts', 'localhost,127.0.0.1']);
    if (r.status !== 0) throw new Error(r.stderr);
    for (const [id, op] of parties) {
      const a = cli(['coordinator', 'add-client', '--state', this.state, '--id', id, ...(op ? ['--operator'] : [])]);
      if (a.status !== 0) throw new Error(a.stderr);
      this.tokens[id] = a.stdout.trim();
    }
  }

  bundle(id: string): string {
    return join(this.state, 'tls', 'clients', id);
  }

  channel(id: string) {
    const f = (n: string) => readFileSync(join(this.bundle(id), n));
    return credentials.createSsl(f('ca.pem'), f('key.pem'), f('cert.pem'));
  }

  md(id: string): Metadata {
    const m = new Metadata();
    m.set('authorization', `Bearer ${this.tokens[id]}`);
    return m;
  }

  client(address: string, id: string): CoordinatorClient {
    return new CoordinatorClient(address, this.channel(id));
  }

  /** A session of full (V x d) contributions unless `extra` says otherwise: these tests exercise uploads, bounds and faults on the large payloads. */
  async createSession(address: string, clients: string[], extra: string[] = []): Promise<string> {
    const r = await cliAsync(['coordinator', 'create-session', '--address', address, '--token', this.tokens.op!, '--tls', this.bundle('op'), '--clients', clients.join(','), '--per-class', '2', '--text-length', '4', '--clip', '1', '--epsilon', '4', '--delta', '1e-5', '--max-examples', '10', '--seed', '3', '--release', 'full', '--model', this.model, ...extra]);
    if (r.status !== 0) throw new Error(r.stderr);
    return r.stdout.trim();
  }

  modelSha(): string {
    return sha256(readFileSync(this.model));
  }

  join(address: string, id: string, sessionId: string): Promise<void> {
    const c = this.client(address, id);
    return new Promise<void>((resolve, reject) => c.joinSession({ sessionId, modelSha256: this.modelSha() }, this.md(id), (e) => (c.close(), e ? reject(e) : resolve())));
  }

  /** `synthgrad client run` as a child process. */
  runClient(address: string, id: string, sessionId: string, data: string, out: string, extra: string[] = []) {
    const proc = spawn(process.execPath, [bin, 'client', 'run', '--address', address, '--tls', this.bundle(id), '--session', sessionId, '--data', data, '--out', out, '--model', this.model, '--seed', '1', ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SYNTHGRAD_TOKEN: this.tokens[id]! },
    });
    let stdout = '';
    let stderr = '';
    proc.stdout!.on('data', (d) => (stdout += d));
    proc.stderr!.on('data', (d) => (stderr += d));
    const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((r) => proc.on('close', (code) => r({ code, stdout, stderr })));
    return { proc, done, stderr: () => stderr };
  }
}

/** Everything a raw upload stream can be sent, for abuse tests. */
export function rawUpload(client: CoordinatorClient, md: Metadata, messages: ({ header: ContributionHeader } | { chunk: { index: number; data: Uint8Array } })[], end = true) {
  let stream!: ReturnType<CoordinatorClient['uploadContribution']>;
  const answer = new Promise<ServiceError | UploadAck>((resolve) => {
    stream = client.uploadContribution(md, (e, r) => resolve(e ?? r!));
  });
  // The generated type wants a Buffer for bytes; a Buffer view of the same memory, not a copy.
  for (const m of messages) stream.write('chunk' in m ? { chunk: { index: m.chunk.index, data: Buffer.from(m.chunk.data.buffer, m.chunk.data.byteOffset, m.chunk.data.byteLength) } } : m);
  if (end) stream.end();
  return { stream, answer };
}

export function headerFor(sessionId: string, uploadId: string, payload: Uint8Array, shape: [number, number], over: Partial<ContributionHeader> = {}): ContributionHeader {
  const values = new Float32Array(payload.buffer, payload.byteOffset, payload.byteLength / 4);
  let sq = 0;
  for (const v of values) sq += v * v;
  return { sessionId, uploadId, classIndex: 0, shape, dtype: DType.DTYPE_FLOAT32, totalBytes: payload.length, sha256: sha256(payload), chunkCount: 1, noiseStd: 0, clip: 1, firstChunk: 0, l2Norm: Math.sqrt(sq), ...over };
}

export function chunksOf(payload: Uint8Array, count: number): { chunk: { index: number; data: Uint8Array } }[] {
  const size = Math.ceil(payload.length / count);
  return Array.from({ length: count }, (_, i) => ({ chunk: { index: i, data: Buffer.from(payload.subarray(i * size, Math.min(payload.length, (i + 1) * size))) } }));
}

/** Gaussian noise of standard deviation `sigma` (Box-Muller over a seeded LCG). */
export function gaussian(n: number, sigma: number, seed = 7): Float32Array {
  let x = seed;
  const u = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) + 0.5) / 2 ** 31;
  return Float32Array.from({ length: n }, () => sigma * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

/**
 * A TCP proxy on 127.0.0.1: clients dial its fixed port, it dials the coordinator's current
 * port. `bytesPerSecond` throttles client -> coordinator traffic; with no upstream (the
 * coordinator is down) it refuses connections, as a restarting host would.
 */
export class Proxy {
  upstream: number | undefined;
  bytesPerSecond = Infinity;
  private server!: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;

  async start(): Promise<this> {
    this.server = createServer((c) => {
      this.sockets.add(c);
      c.on('close', () => this.sockets.delete(c));
      c.on('error', () => c.destroy());
      if (this.upstream === undefined) return c.destroy();
      const u = connect(this.upstream, '127.0.0.1');
      this.sockets.add(u);
      u.on('close', () => (this.sockets.delete(u), c.destroy()));
      u.on('error', () => u.destroy());
      c.on('close', () => u.destroy());
      u.pipe(c);
      // Forward in slices of 1 KiB at the current rate, so that what reaches the coordinator is
      // what the test allows: a socket read can hold a whole tiny upload.
      const queue: Buffer[] = [];
      let pumping = false;
      const pump = () => {
        const slice = queue.shift();
        if (!slice) {
          pumping = false;
          c.resume();
          return;
        }
        if (u.destroyed) return;
        u.write(slice);
        if (Number.isFinite(this.bytesPerSecond)) setTimeout(pump, (slice.length / this.bytesPerSecond) * 1000);
        else pump();
      };
      c.on('data', (d: Buffer) => {
        for (let o = 0; o < d.length; o += 1024) queue.push(d.subarray(o, o + 1024));
        c.pause();
        if (!pumping) {
          pumping = true;
          pump();
        }
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Cut every connection (what a dying coordinator does to its clients). */
  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((r) => this.server.close(() => r()));
  }
}

export async function waitFor<T>(what: string, f: () => T | undefined | false, timeoutMs = 30_000, everyMs = 10): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
