/**
 * The status page's HTTP handling and rendering without a coordinator: GET only, 404 for unknown
 * paths, a failure while building the page answered 500 (the server keeps serving), and every
 * value escaped (a task label is operator input and must not become markup).
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionState, TargetRelease, UploadState, type SessionDetail } from '@synthgrad/protocol';
import { renderStatusPage, startStatusServer, type StatusServer } from '@synthgrad/coordinator';

const detail = (): SessionDetail => ({
  session: {
    id: 's-11111111-2222-3333-4444-555555555555',
    task: { name: 't<b>', textField: 'text', labelField: 'label', labels: [{ value: '0', name: '<script>alert(1)</script>', verbalizer: ' bad' }, { value: '1', name: 'pos', verbalizer: ' great' }], suffix: '', sentenceEnd: '', contextPrefix: '', labelContext: '', demonstrations: [], instruction: '', symbols: '' },
    modelSha256: 'ab'.repeat(32),
    syntheticPerClass: 2,
    preset: 'cpu',
    privacy: { epsilon: 1, delta: 1e-5, clip: 1, maxExamples: 10, release: TargetRelease.TARGET_RELEASE_LABEL_ROWS },
    minClients: 1,
    deadlineUnixMs: 0,
    state: SessionState.SESSION_STATE_RUNNING,
    participants: 1,
    completeContributions: 1,
    createdUnixMs: 0,
    seed: 0,
    message: '',
    textLength: 4,
    secureAggregation: undefined,
  },
  participants: [{ clientId: 'alpha', joined: true, uploads: [{ classIndex: 0, label: 'x', state: UploadState.UPLOAD_STATE_COMPLETE, chunksReceived: 1, chunkCount: 1 }, { classIndex: 1, label: 'pos', state: UploadState.UPLOAD_STATE_COMPLETE, chunksReceived: 1, chunkCount: 1 }] }],
  progress: { state: SessionState.SESSION_STATE_RUNNING, progress: 0.42, etaSeconds: 0, message: 'class 1/2 batch 1/1' },
  log: ['2026-01-01T00:00:00.000Z RUNNING <img src=x>'],
});

let fail = false;
const logged: string[] = [];
let server: StatusServer;

beforeAll(async () => {
  server = await startStatusServer({
    host: '127.0.0.1',
    port: 0,
    sessions: () => {
      if (fail) throw new Error('the state directory went away');
      return [detail()];
    },
    log: (l) => logged.push(l),
  });
});
afterAll(() => server.close());

const get = (path: string, method = 'GET') =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port: server.port, path, method }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    r.on('error', reject);
    r.end();
  });

describe('status page', () => {
  it('escapes every value and shows progress', () => {
    const html = renderStatusPage([detail()], 0);
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('job 42% &middot; class 1/2 batch 1/1');
    expect(html).toContain('style="width:42%"');
  });

  it('answers GET / and /status.json, 404 and 405 otherwise, and 500 (logged) when the view fails', async () => {
    expect((await get('/')).status).toBe(200);
    const j = JSON.parse((await get('/status.json?x=1')).body);
    expect(j.sessions[0]).toMatchObject({ state: 'RUNNING', progress: { fraction: 0.42 }, participants: [{ clientId: 'alpha', joined: true }] });
    expect((await get('/favicon.ico')).status).toBe(404);
    expect((await get('/', 'DELETE')).status).toBe(405);
    fail = true;
    const broken = await get('/');
    expect(broken).toEqual({ status: 500, body: 'internal error (logged by the coordinator)\n' });
    expect(logged.join('\n')).toMatch(/state directory went away/);
    fail = false;
    expect((await get('/')).status).toBe(200);
  });
});
