/**
 * A data owner's node, end to end: dial out to the coordinator, join the session (refused if the
 * local model differs), compute and upload the noisy per-class contributions, follow the job and
 * download the shared result. No text and no per-example value leaves this process.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials as grpcCredentials, type ChannelCredentials } from '@grpc/grpc-js';
import { analyticGaussianSigma, readExamples, type LoadedModel, type Task } from '@synthgrad/core';
import { CoordinatorClient, ResultFile, SessionState, type Session, type SessionEvent } from '@synthgrad/protocol';
import { computeContributions } from './contribution.js';
import { bearer, uploadContribution } from './upload.js';

export interface ClientRunOptions {
  address: string;
  token: string;
  sessionId: string;
  dataPath: string;
  outDir: string;
  seed?: number;
  channel?: ChannelCredentials;
  log?: (msg: string) => void;
  chunkBytes?: number;
  /** Task fields of the local data (the session's labels, suffix and verbalisers are used). */
  taskFromSession: (s: Session) => Task;
}

export interface ClientRunResult {
  synthetic: string;
  meta: string;
  bytesSentPerClass: number[];
  uploadSeconds: number;
}

export async function runClient(rt: LoadedModel, o: ClientRunOptions): Promise<ClientRunResult> {
  const log = o.log ?? (() => {});
  const client = new CoordinatorClient(o.address, o.channel ?? grpcCredentials.createInsecure());
  try {
    const md = () => bearer(o.token);
    const sha = await rt.sha256();
    const joined = await new Promise<Session>((resolve, reject) =>
      client.joinSession({ sessionId: o.sessionId, modelSha256: sha }, md(), { deadline: new Date(Date.now() + 30_000) }, (e, r) => (e ? reject(e) : resolve(r!.session!))),
    );
    log(`joined ${joined.id} (${joined.participants} participant(s), quorum ${joined.minClients})`);
    const task = o.taskFromSession(joined);
    const examples = readExamples(o.dataPath, task);
    const privacy = joined.privacy!;
    const targets = computeContributions(rt, task, examples, privacy, o.seed ?? Number.parseInt(createHash('sha256').update(o.token).digest('hex').slice(0, 8), 16));
    const sigma = privacy.epsilon > 0 ? analyticGaussianSigma(privacy.epsilon, privacy.delta, privacy.clip) : 0;
    const t0 = performance.now();
    const bytesSentPerClass: number[] = [];
    for (const t of targets) {
      await uploadContribution(client, o.token, t.sum, {
        sessionId: joined.id,
        classIndex: t.label,
        uploadId: `class-${t.label}`,
        shape: [t.vocabSize, t.dModel],
        noiseStd: sigma,
        clip: privacy.clip,
        chunkBytes: o.chunkBytes,
      });
      bytesSentPerClass.push(t.sum.byteLength);
      log(`uploaded class ${t.label}: ${t.sum.byteLength} bytes`);
    }
    const uploadSeconds = (performance.now() - t0) / 1000;
    await new Promise<void>((resolve, reject) => {
      const s = client.watchSession({ sessionId: joined.id }, md());
      s.on('data', (e: SessionEvent) => {
        log(`session ${SessionState[e.state]} ${(e.progress * 100).toFixed(0)}% ${e.message}`);
        if (e.state === SessionState.SESSION_STATE_FAILED || e.state === SessionState.SESSION_STATE_EXPIRED) reject(new Error(`session ${SessionState[e.state]}: ${e.message}`));
      });
      s.on('end', resolve);
      s.on('error', reject);
    });
    mkdirSync(o.outDir, { recursive: true });
    const files: string[] = [];
    for (const [file, name] of [
      [ResultFile.RESULT_FILE_JSONL, 'synthetic.jsonl'],
      [ResultFile.RESULT_FILE_META, 'synthetic.jsonl.meta.json'],
    ] as const) {
      const data = await download(client, md(), joined.id, file);
      const path = join(o.outDir, name);
      writeFileSync(path, data);
      files.push(path);
    }
    return { synthetic: files[0], meta: files[1], bytesSentPerClass, uploadSeconds };
  } finally {
    client.close();
  }
}

function download(client: CoordinatorClient, md: ReturnType<typeof bearer>, sessionId: string, file: ResultFile): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let sha = '';
    const s = client.downloadResult({ sessionId, file }, md);
    s.on('data', (c: { data: Uint8Array; sha256: string }) => {
      if (c.sha256) sha = c.sha256;
      parts.push(Buffer.from(c.data));
    });
    s.on('error', reject);
    s.on('end', () => {
      const data = Buffer.concat(parts);
      const got = createHash('sha256').update(data).digest('hex');
      if (got !== sha) reject(new Error(`downloaded result is corrupt (sha256 ${got}, expected ${sha})`));
      else resolve(data);
    });
  });
}
