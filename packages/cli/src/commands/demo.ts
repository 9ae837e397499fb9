/**
 * `synthgrad demo`: a coordinator and three data-owner clients as separate processes on loopback.
 * The default data set is split among the clients; each computes noisy per-class gradient sums,
 * the coordinator synthesises, and every client downloads the same synthetic text.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_PRESET, DEFAULT_RELEASE, defaultDataPath, readExamples, resolveModelPath, resolveTask, sha256File, SynthgradError, writeShards } from '@synthgrad/core';
import { addParty, initServerTls } from '@synthgrad/coordinator';
import { channelCredentials, type ReleaseName } from '@synthgrad/protocol';
import { intFlag, parse } from '../args.js';
import { createSession } from './federated.js';

export const DEMO_USAGE = `usage:
  synthgrad demo [--data FILE] [--dir synthgrad-demo] [--real-per-client 8] [--per-class 10] [--preset cpu-select|cpu|paper]
                 [--epsilon 8 --delta 1e-5 --clip 1] [--release label-rows|full] [--secure-aggregation] [--model FILE]
      a coordinator and three clients on loopback, as separate processes, on the default data set;
      --secure-aggregation: the coordinator sees only the sum (SecAgg+), and the three owners share one
      central noise calibrated to a quorum of two instead of each adding its own`;

const size = (b: number) => (b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(1)} MiB` : `${(b / 1024).toFixed(1)} KiB`);

const bin = fileURLToPath(new URL('../../bin/synthgrad.js', import.meta.url));

function spawnLogged(args: string[], tag: string, env: Record<string, string> = {}): ChildProcess {
  const p = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  p.stderr!.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n').filter(Boolean)) process.stderr.write(`[${tag}] ${line}\n`);
  });
  return p;
}

export async function demoCommand(argv: string[]): Promise<void> {
  const { values } = parse(
    argv,
    {
      data: { type: 'string' },
      dir: { type: 'string' },
      'real-per-client': { type: 'string' },
      'per-class': { type: 'string' },
      preset: { type: 'string' },
      epsilon: { type: 'string' },
      delta: { type: 'string' },
      clip: { type: 'string' },
      release: { type: 'string' },
      'secure-aggregation': { type: 'boolean', default: false },
      model: { type: 'string' },
    },
    DEMO_USAGE,
  );
  const dir = resolve(values.dir ?? 'synthgrad-demo');
  const dataPath = values.data ?? defaultDataPath();
  const task = resolveTask('sentiment');
  const modelPath = resolveModelPath(values.model);
  const perClient = intFlag(values['real-per-client'], 'real-per-client', 8);
  mkdirSync(dir, { recursive: true });
  // Nothing the demo writes belongs in a repository (one `git add -A` used to commit its keys).
  writeFileSync(join(dir, '.gitignore'), '# written by synthgrad demo\n*\n');
  // The coordinator's state holds its TLS private keys and every party's: a private folder
  // (0700) outside the working tree, removed when the demo ends.
  const state = mkdtempSync(join(tmpdir(), 'synthgrad-demo-state-'));
  // Mutual TLS on loopback, as in production: a CA, the server certificate, one bundle per party.
  initServerTls(state, ['localhost', '127.0.0.1']);
  const clients = ['hospital-a', 'bank-b', 'company-c'];
  const tokens: Record<string, string> = {};
  const bundles: Record<string, string> = {};
  for (const id of ['operator', ...clients]) {
    const party = addParty(state, id, id === 'operator' ? 'operator' : 'client');
    tokens[id] = party.token;
    bundles[id] = party.bundle!; // the CA exists (initServerTls above), so every party gets a bundle
  }
  // Each owner gets its own disjoint random sample of each class.
  const shards = writeShards(readExamples(dataPath, task), task, clients, dir, perClient, 0);
  process.stderr.write(`demo in ${dir}: ${clients.length} clients with ${perClient} examples per class each, from ${dataPath}\n`);
  const coordinator = spawnLogged(['coordinator', 'start', '--state', state, '--address', '127.0.0.1:0', '--model', modelPath, '--mtls'], 'coordinator');
  const children: ChildProcess[] = [coordinator];
  try {
    const address = await new Promise<string>((res, rej) => {
      let out = '';
      coordinator.stdout!.on('data', (d) => {
        out += d;
        const m = /listening on port (\d+)/.exec(out);
        if (m) res(`localhost:${m[1]}`); // a host name: TLS server names must not be IP addresses (RFC 6066)
      });
      coordinator.on('exit', (code) => rej(new SynthgradError(`the coordinator exited with code ${code}`)));
    });
    const epsilon = Number(values.epsilon ?? 8);
    const release = (values.release ?? DEFAULT_RELEASE) as ReleaseName;
    if (release !== 'full' && release !== 'label-rows') throw new SynthgradError(`--release must be full or label-rows, got "${values.release}"`, 'E_USAGE');
    const secure = values['secure-aggregation'] === true;
    if (secure && release !== 'label-rows') throw new SynthgradError('--secure-aggregation needs --release label-rows', 'E_USAGE');
    const session = await createSession(address, tokens.operator!, channelCredentials({ bundle: bundles.operator }), {
      task,
      modelSha256: await sha256File(modelPath),
      syntheticPerClass: intFlag(values['per-class'], 'per-class', 10),
      preset: values.preset ?? DEFAULT_PRESET,
      privacy: { epsilon, delta: Number(values.delta ?? 1e-5), clip: Number(values.clip ?? 1), release },
      // Under secure aggregation the quorum is also the Shamir threshold: two of three, so one owner may drop out.
      minClients: secure ? 2 : clients.length,
      clientIds: clients,
      seed: 0,
      textLength: 20,
      secureAggregation: secure ? { enabled: true } : undefined,
    });
    process.stderr.write(`session ${session} (epsilon ${epsilon}, ${release} release, ${secure ? 'secure aggregation, ' : ''}mutual TLS); starting the clients\n`);
    const results = await Promise.all(
      clients.map(
        (name, k) =>
          new Promise<{ name: string; out: string; result: { synthetic: string; bytesSentPerClass: number[]; uploadSeconds: number } }>((res, rej) => {
            const out = join(dir, `${name}-result`);
            const p = spawnLogged(['client', 'run', '--address', address, '--tls', bundles[name]!, '--session', session, '--data', shards[k]!, '--out', out, '--model', modelPath], name, {
              SYNTHGRAD_TOKEN: tokens[name]!, // not on the command line, where ps would show it
              // Each owner has its own private folder (noise key, ledger, secure-aggregation secrets), as separate owners would.
              SYNTHGRAD_HOME: join(state, 'owners', name),
            });
            children.push(p);
            let stdout = '';
            p.stdout!.on('data', (d) => (stdout += d));
            p.on('close', (code) => (code === 0 ? res({ name, out, result: JSON.parse(stdout) }) : rej(new SynthgradError(`client ${name} exited with code ${code}`))));
          }),
      ),
    );
    process.stdout.write('\nsynthetic data (identical for every participant):\n');
    for (const r of results) {
      const bytes = r.result.bytesSentPerClass.reduce((a, b) => a + b, 0);
      process.stdout.write(
        `  ${r.name}: ${r.result.synthetic}  (sent ${r.result.bytesSentPerClass.map(size).join(' + ')} for ${r.result.bytesSentPerClass.length} classes${secure ? ', masked' : `, ${(bytes / 2 ** 20 / r.result.uploadSeconds).toFixed(1)} MiB/s upload`})\n`,
      );
    }
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500)); // let the coordinator close its files
    rmSync(state, { recursive: true, force: true });
  }
}
