/**
 * Durability with real processes: a coordinator killed with SIGKILL in the middle of a synthesis
 * job resumes it on restart and produces exactly the output of an uninterrupted run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { credentials, Metadata } from '@grpc/grpc-js';
import { CoordinatorClient, ResultFile, SessionState, type Session } from '@synthgrad/protocol';
import { tinyConfig, tinyWeights, writeTinyLlamaGGUF } from './helpers/tiny-llama.js';

const bin = fileURLToPath(new URL('../packages/cli/bin/synthgrad.js', import.meta.url));
const built = existsSync(fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url)));
const dir = mkdtempSync(join(tmpdir(), 'synthgrad-dur-'));
const model = join(dir, 'tiny.gguf');
writeTinyLlamaGGUF(model, tinyConfig(), tinyWeights(tinyConfig(), 13));
const data = join(dir, 'data.jsonl');
writeFileSync(data, ['the great film', 'a great cast', 'a bad plot', 'bad acting'].map((t, i) => JSON.stringify({ text: t, label: i < 2 ? 1 : 0 })).join('\n') + '\n');
// A task with a short projection context keeps every step cheap.
const task = join(dir, 'task.json');
writeFileSync(task, JSON.stringify({ name: 'sentiment-short', labels: [{ value: 0, name: 'negative', verbalizer: ' bad' }, { value: 1, name: 'positive', verbalizer: ' great' }], suffix: ' It was', contextPrefix: 'Review:', labelContext: 'A {label} review:' }));
const procs: ChildProcess[] = [];
afterAll(() => {
  for (const p of procs) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const cli = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000 });

function startCoordinator(state: string): Promise<{ proc: ChildProcess; address: string }> {
  const proc = spawn(process.execPath, [bin, 'coordinator', 'start', '--insecure', '--state', state, '--address', '127.0.0.1:0', '--model', model], { stdio: ['ignore', 'pipe', 'inherit'] });
  procs.push(proc);
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on port (\d+)/.exec(out);
      if (m) resolve({ proc, address: `127.0.0.1:${m[1]}` });
    });
    proc.on('exit', (code) => reject(new Error(`coordinator exited with ${code}`)));
  });
}

async function setup(name: string) {
  const state = join(dir, name);
  const op = cli(['coordinator', 'add-client', '--state', state, '--id', 'op', '--operator']).stdout.trim();
  const alpha = cli(['coordinator', 'add-client', '--state', state, '--id', 'alpha']).stdout.trim();
  const { proc, address } = await startCoordinator(state);
  // The cpu preset on a tiny model: about a second a batch, two batches a class (16 kept of 20
  // generated), so a job killed after its first checkpointed batch has work left even with the
  // classes running at once on worker threads.
  const r = cli(['coordinator', 'create-session', '--insecure', '--address', address, '--token', op, '--clients', 'alpha', '--min-clients', '1', '--per-class', '16', '--preset', 'cpu', '--task', task, '--text-length', '4', '--seed', '5', '--model', model]);
  expect(r.status, r.stderr).toBe(0);
  return { state, op, alpha, proc, address, session: r.stdout.trim() };
}

function runClient(address: string, token: string, session: string, out: string) {
  const p = spawn(process.execPath, [bin, 'client', 'run', '--insecure', '--address', address, '--token', token, '--session', session, '--data', data, '--out', out, '--model', model, '--seed', '1'], { stdio: 'ignore' });
  procs.push(p);
  return new Promise<number | null>((resolve) => p.on('close', resolve));
}

function md(token: string) {
  const m = new Metadata();
  m.set('authorization', `Bearer ${token}`);
  return m;
}

async function waitDone(address: string, token: string, session: string): Promise<string> {
  const client = new CoordinatorClient(address, credentials.createInsecure());
  try {
    for (;;) {
      const s = await new Promise<Session>((resolve, reject) => client.getSession({ sessionId: session }, md(token), (e, r) => (e ? reject(e) : resolve(r!))));
      if (s.state === SessionState.SESSION_STATE_DONE) break;
      if (s.state === SessionState.SESSION_STATE_FAILED) throw new Error(s.message);
      await new Promise((r) => setTimeout(r, 200));
    }
    return await new Promise<string>((resolve, reject) => {
      const parts: Buffer[] = [];
      const st = client.downloadResult({ sessionId: session, file: ResultFile.RESULT_FILE_JSONL }, md(token));
      st.on('data', (c: { data: Uint8Array }) => parts.push(Buffer.from(c.data)));
      st.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
      st.on('error', reject);
    });
  } finally {
    client.close();
  }
}

describe.runIf(built)('coordinator durability', () => {
  it('a coordinator killed mid-job resumes from its checkpoint with the same output', async () => {
    const ref = await setup('reference');
    expect(await runClient(ref.address, ref.alpha, ref.session, join(dir, 'ref-out'))).toBe(0);
    const expected = readFileSync(join(dir, 'ref-out', 'synthetic.jsonl'), 'utf8');
    ref.proc.kill('SIGTERM');

    const k = await setup('killed');
    void runClient(k.address, k.alpha, k.session, join(dir, 'k-out')); // dies with the coordinator
    const checkpoint = join(k.state, 'sessions', k.session, 'checkpoint.json');
    await new Promise<void>((resolve, reject) => {
      const t0 = Date.now();
      const poll = setInterval(() => {
        if (existsSync(checkpoint) && JSON.parse(readFileSync(checkpoint, 'utf8')).batches.length >= 1) {
          clearInterval(poll);
          resolve();
        } else if (Date.now() - t0 > 120_000) reject(new Error('no batch was checkpointed'));
      }, 20);
    });
    k.proc.kill('SIGKILL');
    await new Promise((r) => k.proc.on('exit', r));
    const done = JSON.parse(readFileSync(checkpoint, 'utf8')).batches.length;
    expect(done).toBeLessThan(4); // of 2 classes x 2 batches
    const restarted = await startCoordinator(k.state);
    const got = await waitDone(restarted.address, k.op, k.session);
    expect(got).toBe(expected);
    restarted.proc.kill('SIGTERM');
  }, 240_000); // two whole jobs of the cpu preset, a few seconds each on 2 cores
});
