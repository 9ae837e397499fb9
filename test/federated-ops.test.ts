/**
 * Operating a coordinator, with real processes on loopback (mutual TLS, a tiny model): the
 * operator RPCs and `coordinator sessions | session | stop | logs` against a running coordinator
 * with a session whose participants are in every upload state (a class complete, a class cut off
 * mid-upload, joined with nothing, invited and not joined); stopping an OPEN session tells its
 * watchers and its follower, stopping a RUNNING one ends its job; callers who are not operators
 * are refused with one line. The read-only status page (--status-port) answers GET only, 404s
 * unknown paths, carries no secrets, and headless Chromium renders it to a PNG that is the right
 * size, not blank, with the upload states' colours; its DOM holds the session id and participants.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status, type ServiceError } from '@grpc/grpc-js';
import { SessionState, type Session, type SessionEvent, type UploadAck } from '@synthgrad/protocol';
import { checkHealth, type SessionDetailJson } from '@synthgrad/coordinator';
import { uploadContribution } from '@synthgrad/client';
import { tinyConfig, tinyWeights, writeTinyLlamaGGUF } from './helpers/tiny-llama.js';
import { bin, built, chunksOf, cliAsync, gaussian, SESSION_SIGMA, tinyFederation, headerFor, kill, rawUpload, startCoordinatorProcess, waitFor, type CoordinatorProcess } from './helpers/federation.js';
import { decodePng } from './helpers/png.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`[synthgrad tests] ${CHROMIUM} is absent: the status page screenshot test is skipped (apt-get install chromium; .ci/run installs it)`);

const { dir, model, state, fed, shape: SHAPE, size: D } = tinyFederation('synthgrad-ops-');
const SIGMA = SESSION_SIGMA;
let coord: CoordinatorProcess;
let statusUrl = '';
/** The session every state is shown on (alpha: one class complete, one partial; beta joined; gamma invited). */
let watched = '';

/** The coordinator by name, as an operator would dial it (an IP address as the TLS server name makes Node warn). */
const byName = () => `localhost:${coord.port}`;

/** `coordinator OP ...` as the operator (or another party's credential and bundle). */
const op = (args: string[], as = 'op') => cliAsync(['coordinator', ...args, '--address', byName(), '--token', fed.tokens[as]!, '--tls', fed.bundle(as)]);

/** `coordinator logs ID --follow` as the operator, with its output readable while it runs. */
function follow(id: string) {
  const p = spawn(process.execPath, [bin, 'coordinator', 'logs', id, '--follow', '--address', byName(), '--token', fed.tokens.op!, '--tls', fed.bundle('op')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout!.on('data', (d) => (stdout += d));
  p.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ status: number | null; stdout: string; stderr: string }>((r) => p.on('close', (code) => r({ status: code, stdout, stderr })));
  return { out: () => stdout, done };
}

const call = <T>(f: (cb: (e: ServiceError | null, r?: T) => void) => void) => new Promise<T | ServiceError>((resolve) => f((e, r) => resolve(e ?? r!)));

beforeAll(async () => {
  if (!built) return;
  writeTinyLlamaGGUF(model, tinyConfig(), tinyWeights(tinyConfig(), 11));
  fed.init([['op', true], ['alpha', false], ['beta', false], ['gamma', false]]);
  coord = await startCoordinatorProcess(state, model, ['--status-port', '0']);
  statusUrl = await waitFor('the status page address', () => /status page on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(coord.stdout())?.[1]);
  watched = await fed.createSession(coord.address, ['alpha', 'beta', 'gamma'], ['--min-clients', '2']);
  await fed.join(coord.address, 'alpha', watched);
  await fed.join(coord.address, 'beta', watched);
  const c = fed.client(coord.address, 'alpha');
  const ack = await uploadContribution(c, fed.tokens.alpha!, gaussian(D, SIGMA, 5), { sessionId: watched, classIndex: 0, uploadId: 'alpha-class-0', shape: SHAPE, noiseStd: SIGMA, clip: 1 });
  expect(ack.complete).toBe(true);
  // Class 1: the first of three chunks, then the stream ends (a connection lost mid-upload).
  const payload = new Uint8Array(gaussian(D, SIGMA, 6).buffer);
  const cut = rawUpload(c, fed.md('alpha'), [{ header: headerFor(watched, 'alpha-class-1', payload, SHAPE, { classIndex: 1, chunkCount: 3, noiseStd: SIGMA }) }, chunksOf(payload, 3)[0]!]);
  expect(((await cut.answer) as UploadAck).complete).toBe(false);
  c.close();
}, 60_000);

afterAll(async () => {
  if (coord) await kill(coord.proc, 'SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

describe.runIf(built)('operating a coordinator', () => {
  it('lists sessions with participants, uploads per class and job progress (RPC, CLI --json and text)', async () => {
    const json = await op(['sessions', '--json']);
    expect(json.status, json.stderr).toBe(0);
    const list = JSON.parse(json.stdout) as SessionDetailJson[];
    const s = list.find((d) => d.id === watched)!;
    expect(s).toMatchObject({ state: 'OPEN', minClients: 2, joined: 2, invited: 3, completeContributions: 0, deadlineUnixMs: 0, labels: ['negative', 'positive'], progress: { fraction: 0 } });
    const by = Object.fromEntries(s.participants.map((p) => [p.clientId, p]));
    expect(Object.keys(by).sort()).toEqual(['alpha', 'beta', 'gamma']);
    expect(by.alpha!.joined).toBe(true);
    expect(by.alpha!.uploads).toEqual([
      { classIndex: 0, label: 'negative', state: 'complete', chunksReceived: 1, chunkCount: 1 },
      { classIndex: 1, label: 'positive', state: 'partial', chunksReceived: 1, chunkCount: 3 },
    ]);
    expect(by.beta!.joined).toBe(true);
    expect(by.beta!.uploads.map((u) => u.state)).toEqual(['none', 'none']);
    expect(by.gamma!.joined).toBe(false);

    const text = await op(['sessions']);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toContain(`${watched}  OPEN  quorum 0/2 complete, 2/3 joined  deadline none  job 0%`);
    expect(text.stdout).toMatch(/^ {2}alpha +joined +negative:complete {2}positive:partial 1\/3$/m);
    expect(text.stdout).toMatch(/^ {2}gamma +invited +negative:none {2}positive:none$/m);

    const one = await op(['session', watched]);
    expect(one.status, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/recent events:\n {2}\S+Z OPEN created by op/);
    expect(one.stdout).toContain('OPEN beta joined (2 of 3)');
    expect(one.stdout).toMatch(/beta +joined/);
  });

  it('refuses callers who are not operators, and unknown sessions, with one line', async () => {
    const asClient = await op(['sessions'], 'alpha');
    expect(asClient.status).toBe(1);
    expect(asClient.stderr).toBe('synthgrad: not authorised: alpha is not an operator\n');
    const stopAsClient = await op(['stop', watched], 'beta');
    expect(stopAsClient.stderr).toBe('synthgrad: not authorised: beta is not an operator\n');
    const forged = await cliAsync(['coordinator', 'sessions', '--address', byName(), '--token', 'sgt_forged', '--tls', fed.bundle('op')]);
    expect(forged.status).toBe(1);
    expect(forged.stderr).toBe('synthgrad: not authorised: unknown credential\n');
    const unknown = await op(['session', 's-00000000-0000-0000-0000-000000000000']);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toBe('synthgrad: unknown session: no session "s-00000000-0000-0000-0000-000000000000"\n');
    const noId = await op(['stop']);
    expect(noId.status).toBe(2);
    expect(noId.stderr).toMatch(/needs a session id/);
    // The RPCs themselves, as a client: PERMISSION_DENIED, and the session is untouched.
    const c = fed.client(coord.address, 'alpha');
    for (const e of [
      await call<unknown>((cb) => c.listSessionDetails({}, fed.md('alpha'), cb)),
      await call<unknown>((cb) => c.describeSession({ sessionId: watched }, fed.md('alpha'), cb)),
      await call<unknown>((cb) => c.stopSession({ sessionId: watched, reason: '' }, fed.md('alpha'), cb)),
    ]) expect((e as ServiceError).code).toBe(status.PERMISSION_DENIED);
    const s = (await call<Session>((cb) => c.getSession({ sessionId: watched }, fed.md('alpha'), cb))) as Session;
    expect(s.state).toBe(SessionState.SESSION_STATE_OPEN);
    c.close();
  });

  it('the status page: GET only, 404 elsewhere, no secrets; /status.json holds the same view', async () => {
    const page = await fetch(statusUrl);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await page.text();
    for (const name of [watched, 'alpha', 'beta', 'gamma', 'partial 1/3', 'complete']) expect(html).toContain(name);
    expect(html).not.toMatch(/<script|<link|src=|url\(/); // self-contained: nothing to fetch
    for (const t of Object.values(fed.tokens)) expect(html).not.toContain(t);
    expect(html).not.toMatch(/sgt_|BEGIN|PRIVATE|127\.0\.0\.1|tokenSha256/);
    const j = (await (await fetch(new URL('/status.json', statusUrl))).json()) as { sessions: SessionDetailJson[] };
    expect(j.sessions.find((d) => d.id === watched)?.participants.map((p) => p.clientId)).toEqual(['alpha', 'beta', 'gamma']);
    expect(JSON.stringify(j)).not.toMatch(/sgt_|BEGIN|tokenSha256/);
    expect((await fetch(new URL('/nope', statusUrl))).status).toBe(404);
    expect((await fetch(new URL('/../../etc/passwd', statusUrl))).status).toBe(404);
    const post = await fetch(statusUrl, { method: 'POST', body: 'x'.repeat(10_000) });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    // A garbage request line is dropped, and the coordinator keeps serving both ports.
    const { connect } = await import('node:net');
    const sock = connect(Number(new URL(statusUrl).port), '127.0.0.1');
    await new Promise<void>((r) => sock.on('connect', () => r()));
    sock.end('\u0000\u0001GARBAGE / HTTP/9\r\n\r\n');
    await new Promise((r) => sock.on('close', r));
    expect((await fetch(statusUrl)).status).toBe(200);
    expect(await checkHealth(coord.address, fed.channel('alpha'), 'synthgrad.v1.Coordinator')).toBe('SERVING');
  });

  it.runIf(haveChromium)('headless Chromium renders the status page: right size, not blank, the upload states drawn', () => {
    const png = join(dir, 'status.png');
    const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${join(dir, 'chromium-profile')}`, '--hide-scrollbars', '--window-size=1000,700'];
    const shot = spawnSync(CHROMIUM, [...flags, `--screenshot=${png}`, statusUrl], { encoding: 'utf8', timeout: 60_000 });
    expect(shot.status, shot.stderr).toBe(0);
    const img = decodePng(readFileSync(png));
    expect([img.width, img.height]).toEqual([1000, 700]);
    let ink = 0;
    const seen = new Set<string>();
    for (let y = 0; y < img.height; y += 2) {
      for (let x = 0; x < img.width; x += 2) {
        const [r, g, b] = img.pixel(x, y);
        if (r < 200 || g < 200 || b < 200) ink++;
        seen.add(`${r},${g},${b}`);
      }
    }
    expect(ink / ((img.width * img.height) / 4)).toBeGreaterThan(0.005); // text was drawn
    expect(seen.has('201,239,210')).toBe(true); // a complete upload's cell
    expect(seen.has('255,231,168')).toBe(true); // a partial one's
    // What the browser got (its DOM), not only what the server sent.
    const dom = spawnSync(CHROMIUM, [...flags, '--dump-dom', statusUrl], { encoding: 'utf8', timeout: 60_000 });
    expect(dom.status, dom.stderr).toBe(0);
    for (const name of [watched, 'alpha', 'beta', 'gamma']) expect(dom.stdout).toContain(name);
    expect(dom.stdout).toMatch(/<th scope="row" class="participant">alpha<\/th><td>joined<\/td><td class="complete">complete<\/td><td class="partial">partial 1\/3<\/td>/);
    if (process.env.SYNTHGRAD_KEEP_SCREENSHOT) {
      mkdirSync(process.env.SYNTHGRAD_KEEP_SCREENSHOT, { recursive: true });
      copyFileSync(png, join(process.env.SYNTHGRAD_KEEP_SCREENSHOT, 'status-page.png'));
      writeFileSync(join(process.env.SYNTHGRAD_KEEP_SCREENSHOT, 'status-page.html'), dom.stdout);
    }
  });

  it('stop: an OPEN session ends as CANCELLED; its follower and watchers are told; it takes nothing more', async () => {
    const follower = follow(watched);
    const c = fed.client(coord.address, 'beta');
    const events: SessionEvent[] = [];
    const watch = c.watchSession({ sessionId: watched }, fed.md('beta'));
    const ended = new Promise<void>((resolve, reject) => {
      watch.on('data', (e: SessionEvent) => events.push(e));
      watch.on('end', () => resolve());
      watch.on('error', reject);
    });
    await waitFor('the watch to open', () => events.length > 0);
    // The follower has printed the log and opened its stream: it must see the stop happen live.
    await waitFor('the follower to print the log', () => follower.out().includes('alpha joined'), 20_000);
    await new Promise((r) => setTimeout(r, 500));
    const stop = await op(['stop', watched, '--reason', 'wrong task file']);
    expect(stop.status, stop.stderr).toBe(0);
    expect(stop.stdout).toBe(`${watched} CANCELLED: stopped by op: wrong task file\n`);
    await ended;
    expect(events.at(-1)).toMatchObject({ state: SessionState.SESSION_STATE_CANCELLED, message: 'stopped by op: wrong task file' });
    const f = await follower.done;
    expect(f.status, f.stderr).toBe(1); // --follow exits 1 when the session did not end DONE
    expect(f.stdout).toMatch(/Z OPEN created by op: 3 invited, quorum 2\n.*Z OPEN alpha joined \(1 of 3\)\n.*Z OPEN alpha contributed class negative \(0 of 2 complete\)\n.*Z CANCELLED stopped by op: wrong task file\n$/s);
    expect(f.stdout.match(/CANCELLED/g)).toHaveLength(1);
    // Nothing more is taken, and a second stop is refused.
    const more = await uploadContribution(c, fed.tokens.beta!, gaussian(D, SIGMA, 7), { sessionId: watched, classIndex: 0, uploadId: 'beta-class-0', shape: SHAPE, noiseStd: SIGMA, clip: 1 }).catch((e: ServiceError) => e);
    expect((more as ServiceError).code).toBe(status.FAILED_PRECONDITION);
    c.close();
    const again = await op(['stop', watched]);
    expect(again.status).toBe(1);
    expect(again.stderr).toBe('synthgrad: coordinator refused: session is already SESSION_STATE_CANCELLED (gRPC status FAILED_PRECONDITION)\n');
    const logs = await op(['logs', watched]);
    expect(logs.stdout).toMatch(/CANCELLED stopped by op: wrong task file\n$/);
  });

  it('stop (RPC): a RUNNING session\'s job ends, its client is told, no results are written, and it stays CANCELLED', async () => {
    // Enough work for the tiny model that the job is still running when the stop arrives.
    const id = await fed.createSession(coord.address, ['beta'], ['--min-clients', '1', '--per-class', '48', '--text-length', '24']);
    const data = join(dir, 'beta.jsonl');
    writeFileSync(data, ['the great film', 'a great cast', 'a bad plot', 'bad acting'].map((t, i) => JSON.stringify({ text: t, label: i < 2 ? 1 : 0 })).join('\n') + '\n');
    const client = fed.runClient(byName(), 'beta', id, data, join(dir, 'beta-out'));
    // Stop once the job has reported progress: its worker is computing, not just loading the model.
    const opClient = fed.client(coord.address, 'op');
    const progressed = await new Promise<SessionEvent>((resolve, reject) => {
      const w = opClient.watchSession({ sessionId: id }, fed.md('op'));
      w.on('data', (e: SessionEvent) => {
        if (e.state === SessionState.SESSION_STATE_RUNNING && e.progress > 0) {
          resolve(e);
          w.cancel();
        }
      });
      w.on('error', (e: ServiceError) => (e.code === status.CANCELLED ? undefined : reject(e)));
      w.on('end', () => reject(new Error('the session ended before its job reported progress')));
    });
    expect(progressed.progress).toBeLessThan(1);
    const stopped = (await call<Session>((cb) => opClient.stopSession({ sessionId: id, reason: '' }, fed.md('op'), cb))) as Session;
    expect(stopped).toMatchObject({ state: SessionState.SESSION_STATE_CANCELLED, message: 'stopped by op' });
    opClient.close();
    const c = await client.done;
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/\nsynthgrad: session SESSION_STATE_CANCELLED: stopped by op\n$/);
    await new Promise((r) => setTimeout(r, 1000)); // a worker that was not ended would write its results meanwhile
    const after = JSON.parse((await op(['session', id, '--json'])).stdout) as SessionDetailJson;
    expect(after.state).toBe('CANCELLED');
    expect(after.log.join('\n')).toMatch(/RUNNING .*\n.*RUNNING \d+% class 1\/2 .*\n.*CANCELLED stopped by op$/s);
    expect(existsSync(join(state, 'sessions', id, 'synthetic.jsonl'))).toBe(false);
    expect(existsSync(join(dir, 'beta-out'))).toBe(false);
    expect(await checkHealth(coord.address, fed.channel('alpha'), 'synthgrad.v1.Coordinator')).toBe('SERVING');
    expect(coord.stderr()).not.toMatch(/internal error|synthesis worker exited/);
  });
});
