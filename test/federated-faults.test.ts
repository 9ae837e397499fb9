/**
 * Fault and abuse tests of the federated system with real processes on loopback (mutual TLS, a
 * tiny model): one test per failure class an outside attack run found, each of which failed
 * before the coordinator was hardened. Crashes (two streams on one upload, a full disk at the
 * commit), accepted work lost (a coordinator killed after the last chunk, a client killed
 * mid-upload and re-run, a restart longer than the old retry budget), poisoning (a norm beyond
 * the session's bound, missing noise), names (path probes, squatting across dotted client ids,
 * short ids) and the small ones (undecodable requests, uint64 above 2^53, watches on expired
 * sessions, a truncated credentials file). Every client talks through a TCP proxy, so the
 * coordinator can be killed and restarted behind a fixed address.
 */
import { existsSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeGenericClientConstructor, status, type ServiceError } from '@grpc/grpc-js';
import { SessionState, type Session, type SessionEvent, type UploadAck } from '@synthgrad/protocol';
import { checkHealth } from '@synthgrad/coordinator';
import { uploadContribution } from '@synthgrad/client';
import { tinyConfig, tinyWeights, writeTinyLlamaGGUF } from './helpers/tiny-llama.js';
import { built, chunksOf, cli, gaussian, SESSION_SIGMA, tinyFederation, headerFor, kill, Proxy, rawUpload, startCoordinatorProcess, waitFor, type CoordinatorProcess } from './helpers/federation.js';

const { dir, model, state, fed, shape: SHAPE, size: D } = tinyFederation('synthgrad-faults-');
const SIGMA = SESSION_SIGMA;
let coord: CoordinatorProcess;
const proxy = new Proxy();
/** Sessions: abuse (never starts), kill (a client killed and re-run), restart (the coordinator restarted). */
const S: Record<string, string> = {};
const data = join(dir, 'data.jsonl');
/** Exits of coordinators nobody killed: must stay empty. */
const crashes: string[] = [];

async function start(): Promise<void> {
  coord = await startCoordinatorProcess(state, model);
  const c = coord;
  void c.exited.then((code) => {
    if (!killedOnPurpose.has(c.proc)) crashes.push(`coordinator exited with ${code}: ${c.stderr().slice(-2000)}`);
  });
  proxy.upstream = coord.port;
}
const killedOnPurpose = new Set<unknown>();
async function killCoordinator(): Promise<void> {
  killedOnPurpose.add(coord.proc);
  proxy.upstream = undefined;
  await kill(coord.proc);
  proxy.cut();
}

const addr = () => proxy.address;
const record = (session: string, client: string, upload: string) => join(state, 'sessions', session, 'uploads', client, `${upload}.json`);
const readRecord = (session: string, client: string, upload: string) => {
  try {
    return JSON.parse(readFileSync(record(session, client, upload), 'utf8')) as { received: number; complete: boolean; header: { chunkCount: number } };
  } catch {
    return undefined;
  }
};

function status_(id: string, sessionId: string, uploadId: string): Promise<ServiceError | UploadAck> {
  const c = fed.client(addr(), id);
  return new Promise((resolve) => c.getUploadStatus({ sessionId, uploadId }, fed.md(id), (e, r) => (c.close(), resolve(e ?? r!))));
}

async function healthy(): Promise<void> {
  expect(crashes).toEqual([]);
  expect(await checkHealth(addr(), fed.channel('alpha'), 'synthgrad.v1.Coordinator')).toBe('SERVING');
}

beforeAll(async () => {
  if (!built) return;
  writeTinyLlamaGGUF(model, tinyConfig(), tinyWeights(tinyConfig(), 11));
  writeFileSync(data, ['the great film', 'a great cast', 'a bad plot', 'bad acting'].map((t, i) => JSON.stringify({ text: t, label: i < 2 ? 1 : 0 })).join('\n') + '\n');
  fed.init([['op', true], ['alpha', false], ['beta', false], ['acme', false], ['acme.eu', false], ['delta', false], ['echo', false]]);
  await proxy.start();
  await start();
  S.abuse = await fed.createSession(addr(), ['alpha', 'beta', 'acme', 'acme.eu'], ['--min-clients', '4']);
  S.kill = await fed.createSession(addr(), ['delta'], ['--min-clients', '1']);
  S.restart = await fed.createSession(addr(), ['echo'], ['--min-clients', '1']);
  for (const id of ['alpha', 'beta', 'acme', 'acme.eu']) await fed.join(addr(), id, S.abuse);
});

afterAll(async () => {
  if (coord) {
    killedOnPurpose.add(coord.proc);
    await kill(coord.proc, 'SIGTERM');
  }
  await proxy.close();
  rmSync(dir, { recursive: true, force: true });
});

const honest = () => new Uint8Array(gaussian(D, SIGMA).buffer);

describe.runIf(built)('crashes: no participant input, and no full disk, ends the coordinator', () => {
  it('two streams on one upload, one ending in DATA_LOSS while the other is open', async () => {
    const c = fed.client(addr(), 'alpha');
    const payload = honest();
    const h = headerFor(S.abuse, 'twin-streams-0', payload, SHAPE, { noiseStd: SIGMA, chunkCount: 4 });
    const chunks = chunksOf(payload, 4);
    const b = rawUpload(c, fed.md('alpha'), [{ header: h }, chunks[0]!, chunks[1]!], false);
    await waitFor('two chunks stored', () => readRecord(S.abuse, 'alpha', 'twin-streams-0')?.received === 2);
    const spoilt = { chunk: { index: 3, data: Buffer.from(chunks[3]!.chunk.data).map((x) => x ^ 1) } };
    const a = rawUpload(c, fed.md('alpha'), [{ header: h }, chunks[2]!, spoilt]);
    expect(((await a.answer) as ServiceError).code).toBe(status.DATA_LOSS);
    b.stream.end(); // the half-close that used to dereference the discarded upload
    const bAnswer = (await b.answer) as ServiceError;
    expect(bAnswer.code).toBe(status.ABORTED);
    expect(bAnswer.details).toMatch(/a newer stream took over this upload/);
    await healthy();
    // The id is usable again from scratch.
    const ack = await uploadContribution(c, fed.tokens.alpha!, new Float32Array(payload.buffer), { sessionId: S.abuse, classIndex: 0, uploadId: 'twin-streams-0', shape: SHAPE, noiseStd: SIGMA, clip: 1, chunkBytes: 4096 });
    expect(ack.complete).toBe(true);
    c.close();
  });

  it('a disk that fills between the last chunk and the commit: RESOURCE_EXHAUSTED, and the client\'s retry is counted', async () => {
    // /dev/full answers every write with ENOSPC: the session record's temporary file points there.
    const tmp = join(state, 'sessions', S.abuse, 'session.json.tmp');
    symlinkSync('/dev/full', tmp);
    const c = fed.client(addr(), 'beta');
    const retries: string[] = [];
    const ack = await uploadContribution(c, fed.tokens.beta!, gaussian(D, SIGMA, 3), {
      sessionId: S.abuse,
      classIndex: 0,
      uploadId: 'disk-full-0',
      shape: SHAPE,
      noiseStd: SIGMA,
      clip: 1,
      chunkBytes: 8192,
      onRetry: (e) => {
        retries.push(`${e.code} ${e.details}`);
        if (existsSync(tmp)) unlinkSync(tmp); // space is freed
      },
    });
    expect(retries[0]).toMatch(new RegExp(`^${status.RESOURCE_EXHAUSTED} the coordinator is out of disk space`));
    expect(ack.complete).toBe(true);
    const rec = JSON.parse(readFileSync(join(state, 'sessions', S.abuse, 'session.json'), 'utf8'));
    expect(rec.contributions.beta).toEqual({ 0: 'beta/disk-full-0' });
    await healthy();
    c.close();
  });

  it('a corrupt record on disk is answered with DATA_LOSS, its content never echoed', async () => {
    const folder = join(state, 'sessions', S.abuse, 'uploads', 'alpha');
    writeFileSync(join(folder, 'corrupt-record-0.json'), 'root:x:0:0:root:/root:/bin/bash\n');
    const e = (await status_('alpha', S.abuse, 'corrupt-record-0')) as ServiceError;
    expect(e.code).toBe(status.DATA_LOSS);
    expect(e.details).toBe('the record of upload corrupt-record-0 is unreadable');
    rmSync(join(folder, 'corrupt-record-0.json'));
    await healthy();
  });
});

describe.runIf(built)('accepted work is never lost, and clients come back', () => {
  it('a coordinator killed after the last chunk, before the half-close: counted at restart; the client is told "complete"', async () => {
    const c = fed.client(addr(), 'alpha');
    const payload = honest();
    const h = headerFor(S.abuse, 'killed-before-end-1', payload, SHAPE, { classIndex: 1, noiseStd: SIGMA, chunkCount: 3 });
    const s = rawUpload(c, fed.md('alpha'), [{ header: h }, ...chunksOf(payload, 3)], false);
    void s.answer;
    await waitFor('all chunks stored', () => readRecord(S.abuse, 'alpha', 'killed-before-end-1')?.received === 3);
    await killCoordinator();
    c.close();
    const t0 = Date.now();
    await start();
    const restartMs = Date.now() - t0;
    // Reconciled at start-up, before any client asked.
    const rec = JSON.parse(readFileSync(join(state, 'sessions', S.abuse, 'session.json'), 'utf8'));
    expect(rec.contributions.alpha[1]).toBe('alpha/killed-before-end-1');
    expect(coord.stderr()).toMatch(/reconciled 1 complete upload/);
    let sent = 0;
    const c2 = fed.client(addr(), 'alpha');
    const ack = await uploadContribution(c2, fed.tokens.alpha!, new Float32Array(payload.buffer), { sessionId: S.abuse, classIndex: 1, uploadId: 'killed-before-end-1', shape: SHAPE, noiseStd: SIGMA, clip: 1, chunkBytes: Math.ceil(payload.length / 3), onChunk: () => sent++ });
    expect(ack).toMatchObject({ complete: true, chunksReceived: 3 });
    expect(sent).toBe(0); // "already complete" is success, nothing is sent again
    console.log(`coordinator restart (SIGKILL to listening): ${restartMs} ms`);
    c2.close();
  });

  it('a client run SIGKILLed mid-upload, after one class finished, is re-run and finishes', async () => {
    proxy.bytesPerSecond = 20_000; // about 1.7 s per class of the tiny model
    const first = fed.runClient(addr(), 'delta', S.kill, data, join(dir, 'out-delta'), ['--chunk-kib', '1']);
    const at = await waitFor('class 0 complete and class 1 under way', () => {
      const r1 = readRecord(S.kill, 'delta', 'contribution-1');
      return readRecord(S.kill, 'delta', 'contribution-0')?.complete && r1 && r1.received >= 1 && r1.received < r1.header.chunkCount && r1;
    }, 60_000, 5);
    await kill(first.proc);
    proxy.cut(); // what the dead client had in flight is lost with it
    proxy.bytesPerSecond = Infinity;
    const t0 = Date.now();
    const again = fed.runClient(addr(), 'delta', S.kill, data, join(dir, 'out-delta'), ['--chunk-kib', '1']);
    const r = await again.done;
    expect(r.code, r.stderr).toBe(0);
    console.log(r.stderr.split("\n").filter((l) => !/Deprecation|trace-deprecation/.test(l)).join("\n"));
    expect(r.stderr).toMatch(/class 1: the coordinator already holds \d+\/\d+ chunks; resuming/);
    expect(readFileSync(join(dir, 'out-delta', 'synthetic.jsonl'), 'utf8').trim().split('\n')).toHaveLength(4);
    console.log(`client killed at class 1 chunk ${at.received}/${at.header.chunkCount}; the re-run finished (job included) in ${Date.now() - t0} ms`);
    await healthy();
  }, 180_000);

  it('a client outlives a coordinator restart of 5 s in the middle of its upload', async () => {
    proxy.bytesPerSecond = 20_000;
    const run = fed.runClient(addr(), 'echo', S.restart, data, join(dir, 'out-echo'), ['--chunk-kib', '1']);
    await waitFor('the upload under way', () => (readRecord(S.restart, 'echo', 'contribution-0')?.received ?? 0) >= 1, 60_000, 5);
    await killCoordinator();
    proxy.bytesPerSecond = Infinity;
    await new Promise((r) => setTimeout(r, 5000));
    await start();
    const t0 = Date.now();
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    const retries = r.stderr.match(/retrying in/g)?.length ?? 0;
    expect(retries).toBeGreaterThan(0);
    console.log(`client finished ${Date.now() - t0} ms after the coordinator came back (down 5 s, ${retries} retries logged)`);
    await healthy();
  }, 180_000);
});

describe.runIf(built)('poisoning: the session fixes the bound, the coordinator refuses what no honest client sends', () => {
  const send = async (values: Float32Array, uploadId: string, over = {}) => {
    const c = fed.client(addr(), 'acme');
    const payload = new Uint8Array(values.buffer);
    const r = (await rawUpload(c, fed.md('acme'), [{ header: headerFor(S.abuse, uploadId, payload, SHAPE, { noiseStd: SIGMA, chunkCount: 2, ...over }) }, ...chunksOf(payload, 2)]).answer) as ServiceError;
    c.close();
    return r;
  };

  it('a norm of 5e7 (an honest one is about 100)', async () => {
    const big = gaussian(D, SIGMA).map((v) => v * 5e5);
    const e = await send(big, 'huge-norm-0');
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(e.details).toMatch(/declared l2_norm 5\d+\.?\d* is outside \[\d+\.?\d*, \d+\.?\d*\], what the session's bound allows \(clip 1 x max_examples 10 \+ noise sigma/);
  });

  it('an all-zero "noised" payload, and one spike of plausible norm without noise', async () => {
    const zero = await send(new Float32Array(D), 'all-zero-0');
    expect(zero.code).toBe(status.INVALID_ARGUMENT);
    expect(zero.details).toMatch(/declared l2_norm 0 is outside .* what the session's bound allows/);
    const spike = new Float32Array(D);
    spike[0] = SIGMA * Math.sqrt(D); // the norm of honest noise, in one entry
    const e = await send(spike, 'spike-payload-0');
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(e.details).toMatch(/only 1 of \d+ entries are at least sigma\/2 in magnitude.*the noise is missing or too small/);
    await healthy();
  });
});

describe.runIf(built)('names', () => {
  it('GetUploadStatus validates upload_id: no path probes, no file contents in errors', async () => {
    for (const id of ['/../../../../etc/passwd', '../../session.json', '..', 'short']) {
      const e = (await status_('alpha', S.abuse, id)) as ServiceError;
      expect(e.code).toBe(status.INVALID_ARGUMENT);
      expect(e.details).toMatch(/upload_id .* must be 8-128 characters/);
      expect(e.details).not.toMatch(/root:|invited|contributions/);
    }
  });

  it('upload ids under 8 characters are refused', async () => {
    const c = fed.client(addr(), 'alpha');
    const payload = honest();
    const e = (await rawUpload(c, fed.md('alpha'), [{ header: headerFor(S.abuse, 'class-0', payload, SHAPE, { noiseStd: SIGMA }) }]).answer) as ServiceError;
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    c.close();
  });

  it('a client id with dots cannot squat another client\'s upload ids', async () => {
    // Under `client.upload` names, "acme" + "eu.contribution-0" was "acme.eu" + "contribution-0".
    const c = fed.client(addr(), 'acme');
    const payload = honest();
    const h = headerFor(S.abuse, 'eu.contribution-0', payload, SHAPE, { noiseStd: SIGMA, chunkCount: 4 });
    const ack = (await rawUpload(c, fed.md('acme'), [{ header: h }, chunksOf(payload, 4)[0]!]).answer) as UploadAck;
    expect(ack).toMatchObject({ chunksReceived: 1, complete: false });
    c.close();
    expect(((await status_('acme.eu', S.abuse, 'contribution-0')) as ServiceError).code).toBe(status.NOT_FOUND);
    const eu = fed.client(addr(), 'acme.eu');
    const mine = await uploadContribution(eu, fed.tokens['acme.eu']!, gaussian(D, SIGMA, 5), { sessionId: S.abuse, classIndex: 0, uploadId: 'contribution-0', shape: SHAPE, noiseStd: SIGMA, clip: 1 });
    expect(mine.complete).toBe(true);
    eu.close();
  });
});

describe.runIf(built)('small ones', () => {
  type Raw = { call(req: Buffer, md: unknown, cb: (e: ServiceError | null) => void): void; close(): void };
  const rawUnary = (path: string) => {
    const Ctor = makeGenericClientConstructor({ call: { path, requestStream: false, responseStream: false, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b } }, 'raw');
    return (id: string, body: Buffer) => {
      const c = new Ctor(addr(), fed.channel(id)) as unknown as Raw;
      return new Promise<ServiceError>((resolve) => c.call(body, fed.md(id), (e) => (c.close(), resolve(e!))));
    };
  };
  /** A protobuf varint. */
  const varint = (n: bigint) => {
    const out: number[] = [];
    do {
      let b = Number(n & 0x7fn);
      n >>= 7n;
      if (n) b |= 0x80;
      out.push(b);
    } while (n);
    return out;
  };

  it('an undecodable request and a uint64 above 2^53 get INVALID_ARGUMENT, not INTERNAL', async () => {
    const garbage = await rawUnary('/synthgrad.v1.Coordinator/GetSession')('alpha', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]));
    expect(garbage.code).toBe(status.INVALID_ARGUMENT);
    expect(garbage.details).toMatch(/could not be decoded/);
    // CreateSessionRequest.seed (field 8, varint) = 2^60.
    const huge = await rawUnary('/synthgrad.v1.Coordinator/CreateSession')('op', Buffer.from([0x40, ...varint(2n ** 60n)]));
    expect(huge.code).toBe(status.INVALID_ARGUMENT);
    expect(huge.details).toMatch(/outside \+-2\^53/);
    // In a stream too: ContributionChunk.header (field 1) with total_bytes (field 6) = 2^60.
    const inner = [0x30, ...varint(2n ** 60n)];
    const StreamCtor = makeGenericClientConstructor({ call: { path: '/synthgrad.v1.Coordinator/UploadContribution', requestStream: true, responseStream: false, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b } }, 'raw');
    const sc = new StreamCtor(addr(), fed.channel('alpha')) as unknown as { call(md: unknown, cb: (e: ServiceError | null) => void): { write(b: Buffer): void; end(): void }; close(): void };
    const streamed = await new Promise<ServiceError>((resolve) => {
      const st = sc.call(fed.md('alpha'), (e) => resolve(e!));
      st.write(Buffer.from([0x0a, inner.length, ...inner]));
      st.end();
    });
    sc.close();
    expect(streamed.code).toBe(status.INVALID_ARGUMENT);
    expect(streamed.details).toMatch(/outside \+-2\^53/);
    await healthy();
  });

  it('a watch on a session that expires ends with the EXPIRED event', async () => {
    const id = await fed.createSession(addr(), ['alpha'], ['--min-clients', '1', '--deadline-minutes', '0.03']);
    const c = fed.client(addr(), 'alpha');
    const events: SessionState[] = [];
    const t0 = Date.now();
    await new Promise<void>((resolve, reject) => {
      const s = c.watchSession({ sessionId: id }, fed.md('alpha'));
      s.on('data', (e: SessionEvent) => events.push(e.state));
      s.on('end', resolve);
      s.on('error', reject);
      setTimeout(() => reject(new Error(`the watch did not end; events ${events.join(',')}`)), 15_000).unref();
    });
    expect(events[0]).toBe(SessionState.SESSION_STATE_OPEN);
    expect(events.at(-1)).toBe(SessionState.SESSION_STATE_EXPIRED);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const s = await new Promise<Session>((resolve, reject) => c.getSession({ sessionId: id }, fed.md('alpha'), (e, r) => (e ? reject(e) : resolve(r!))));
    expect(s.message).toMatch(/deadline passed/);
    c.close();
  });

  it('a truncated credentials file: a clear message, at start and at add-client', () => {
    const full = readFileSync(join(state, 'credentials.json'), 'utf8');
    const truncated = join(dir, 'truncated-credentials.json');
    writeFileSync(truncated, full.slice(0, Math.floor(full.length / 2)));
    const r = cli(['coordinator', 'start', '--state', state, '--credentials', truncated, '--address', '127.0.0.1:0', '--model', model, '--mtls']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/synthgrad: credentials file .*truncated-credentials\.json is not valid JSON \(\d+ bytes; truncated\?\)/);
    const other = join(dir, 'broken-state');
    cli(['coordinator', 'add-client', '--state', other, '--id', 'x']);
    writeFileSync(join(other, 'credentials.json'), '[{"id": "x", "ro');
    const a = cli(['coordinator', 'add-client', '--state', other, '--id', 'y']);
    expect(a.status).not.toBe(0);
    expect(a.stderr).toMatch(/not valid JSON .*truncated\?/);
  });

  it('the coordinator never exited on its own', async () => {
    await healthy();
  });
});
