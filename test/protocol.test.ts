/**
 * The generated synthgrad.v1 code works over a real gRPC connection on loopback: unary calls,
 * a client stream of contribution chunks, and a server stream, with status codes intact.
 */
import { credentials, Server, ServerCredentials, status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ContributionChunk,
  CoordinatorClient,
  CoordinatorService,
  DType,
  SessionState,
  TargetRelease,
  type CoordinatorServer,
  type Session,
} from '@synthgrad/protocol';

let server: Server;
let client: CoordinatorClient;

const session: Session = {
  id: 's1',
  task: { name: 'sentiment', textField: 'text', labelField: 'label', labels: [{ value: '0', name: 'negative', verbalizer: ' bad' }], suffix: ' It was', sentenceEnd: ' .', contextPrefix: 'Movie review:', labelContext: 'A {label} movie review:', demonstrations: [{ text: 'a tedious mess .', label: '0' }], instruction: '', symbols: '' },
  modelSha256: 'ab'.repeat(32),
  syntheticPerClass: 30,
  preset: 'cpu',
  privacy: { epsilon: 1, delta: 1e-5, clip: 1, maxExamples: 1000, release: TargetRelease.TARGET_RELEASE_LABEL_ROWS },
  minClients: 3,
  deadlineUnixMs: 1_800_000_000_000,
  state: SessionState.SESSION_STATE_OPEN,
  participants: 0,
  completeContributions: 0,
  createdUnixMs: 1_700_000_000_000,
  seed: 7,
  message: '',
  textLength: 20,
  secureAggregation: undefined,
};

const unimplemented = (_: unknown, cb: (e: Partial<ServiceError>) => void) => cb({ code: status.UNIMPLEMENTED, details: 'not in this test' });

beforeAll(async () => {
  server = new Server();
  const impl: CoordinatorServer = {
    createSession: (call, cb) => cb(null, { ...session, task: call.request.task, seed: call.request.seed }),
    listSessions: (_call, cb) => cb(null, { sessions: [session] }),
    getSession: (call, cb) =>
      call.request.sessionId === 's1' ? cb(null, session) : cb({ code: status.NOT_FOUND, details: `no session ${call.request.sessionId}` } as ServiceError, null),
    joinSession: unimplemented as never,
    uploadContribution: (call, cb) => {
      let header: ContributionChunk['header'];
      let chunks = 0;
      let bytes = 0;
      call.on('data', (m: ContributionChunk) => {
        if (m.header) header = m.header;
        else if (m.chunk) {
          chunks++;
          bytes += m.chunk.data.length;
        }
      });
      call.on('end', () => cb(null, { uploadId: header?.uploadId ?? '', chunksReceived: chunks, complete: bytes === header?.totalBytes }));
    },
    getUploadStatus: unimplemented as never,
    watchSession: (call) => {
      for (const p of [0.25, 0.5, 1]) call.write({ state: p < 1 ? SessionState.SESSION_STATE_RUNNING : SessionState.SESSION_STATE_DONE, progress: p, etaSeconds: 0, message: '' });
      call.end();
    },
    downloadResult: unimplemented as never,
    listSessionDetails: unimplemented as never,
    describeSession: unimplemented as never,
    stopSession: unimplemented as never,
    secureAggregate: unimplemented as never,
  };
  server.addService(CoordinatorService, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  client = new CoordinatorClient(`127.0.0.1:${port}`, credentials.createInsecure());
});

afterAll(() => {
  client?.close();
  server?.forceShutdown();
});

describe('synthgrad.v1 over gRPC', () => {
  it('unary calls carry nested messages, enums and 64-bit fields', async () => {
    const created = await new Promise<Session>((resolve, reject) =>
      client.createSession(
        { task: session.task, modelSha256: session.modelSha256, syntheticPerClass: 30, preset: 'cpu', privacy: session.privacy, minClients: 3, deadlineUnixMs: session.deadlineUnixMs, seed: 123456789012, clientIds: ['a', 'b'], textLength: 20, secureAggregation: undefined },
        (e, r) => (e ? reject(e) : resolve(r)),
      ),
    );
    expect(created.task).toEqual(session.task);
    expect(created.seed).toBe(123456789012);
    expect(created.state).toBe(SessionState.SESSION_STATE_OPEN);
  });

  it('errors arrive with their gRPC status', async () => {
    const err = await new Promise<ServiceError>((resolve) => client.getSession({ sessionId: 'nope' }, (e) => resolve(e!)));
    expect(err.code).toBe(status.NOT_FOUND);
    expect(err.details).toBe('no session nope');
  });

  it('a client stream of chunks is received whole', async () => {
    const data = new Uint8Array(3000).map((_, i) => i % 251);
    const ack = await new Promise<{ chunksReceived: number; complete: boolean }>((resolve, reject) => {
      const stream = client.uploadContribution((e, r) => (e ? reject(e) : resolve(r)));
      stream.write({ header: { sessionId: 's1', uploadId: 'u1', classIndex: 0, shape: [10, 75], dtype: DType.DTYPE_FLOAT32, totalBytes: 3000, sha256: '', chunkCount: 3, noiseStd: 0, clip: 1, firstChunk: 0, l2Norm: 0 } });
      for (let i = 0; i < 3; i++) stream.write({ chunk: { index: i, data: Buffer.from(data.subarray(i * 1000, (i + 1) * 1000)) } });
      stream.end();
    });
    expect(ack).toMatchObject({ chunksReceived: 3, complete: true });
  });

  it('a server stream delivers every event in order', async () => {
    const events: number[] = [];
    await new Promise<void>((resolve, reject) => {
      const s = client.watchSession({ sessionId: 's1' });
      s.on('data', (e: { progress: number }) => events.push(e.progress));
      s.on('end', resolve);
      s.on('error', reject);
    });
    expect(events).toEqual([0.25, 0.5, 1]);
  });
});
