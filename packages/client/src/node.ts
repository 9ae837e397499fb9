/**
 * A data owner's node, end to end: dial out to the coordinator, join the session (refused if the
 * local model differs), compute and upload the noisy per-class contributions, follow the job and
 * download the shared result. No text and no per-example value leaves this process.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChannelCredentials } from '@grpc/grpc-js';
import { analyticGaussianSigma, defaultLedgerPath, PrivacyLedger, readExamples, type LoadedModel, type Task } from '@synthgrad/core';
import { Backoff, CoordinatorClient, isTransient, isUnavailable, ResultFile, releaseName, retry, secAggNoisePlan, SessionState, type BackoffOptions, type Session, type SessionEvent } from '@synthgrad/protocol';
import type { ServiceError } from '@grpc/grpc-js';
import { computeContributions } from './contribution.js';
import { defaultNoiseKeyPath, loadOrCreateNoiseKey, sessionNoiseKey } from './noise-key.js';
import { bearer, uploadContribution } from './upload.js';
import { secureAggregate } from './secure-aggregation.js';

/** The session ended without results (FAILED, EXPIRED, or CANCELLED by the operator): nothing to download. */
export class SessionEnded extends Error {
  constructor(
    readonly state: SessionState,
    detail: string,
  ) {
    super(`session ${SessionState[state]}: ${detail}`);
    this.name = 'SessionEnded';
  }
}

export interface ClientRunOptions {
  address: string;
  token: string;
  sessionId: string;
  dataPath: string;
  outDir: string;
  /** Seed of the subsample when a class has more examples than the session takes (default from the token). */
  seed?: number;
  /** The owner's secret noise key file (default defaultNoiseKeyPath(): SYNTHGRAD_HOME/noise-key; created on first use, mode 0600). */
  noiseKeyPath?: string;
  /** The owner's privacy ledger (default defaultLedgerPath(): $SYNTHGRAD_LEDGER or SYNTHGRAD_HOME/privacy-ledger.json). */
  ledgerPath?: string;
  /** Transport security (see channelCredentials in @synthgrad/protocol); there is no plaintext default. */
  channel: ChannelCredentials;
  log?: (msg: string) => void;
  chunkBytes?: number;
  /** Task fields of the local data (the session's labels, suffix and verbalisers are used). */
  taskFromSession: (s: Session) => Task;
  /** Retry policy for every call (default: the shared backoff of @synthgrad/protocol). */
  backoff?: BackoffOptions;
  /** Where a secure-aggregation session keeps this owner's secrets (default SYNTHGRAD_HOME/secagg). */
  secAggStateDir?: string;
  /** How often to ask whether a secure-aggregation round moved on (default 500 ms). */
  secAggPollMs?: number;
}

export interface ClientRunResult {
  synthetic: string;
  meta: string;
  bytesSentPerClass: number[];
  uploadSeconds: number;
  /** The ledger's guarantee for this data after this session (null when this run uploaded nothing). */
  privacy: { epsilon: number | null; delta: number; releases: number; sentence: string } | null;
}

export async function runClient(rt: LoadedModel, o: ClientRunOptions): Promise<ClientRunResult> {
  const log = o.log ?? (() => {});
  const client = new CoordinatorClient(o.address, o.channel);
  try {
    const md = () => bearer(o.token);
    const sha = await rt.sha256();
    const retrying = (what: string) => ({
      ...o.backoff,
      retryable: isUnavailable,
      onRetry: (e: unknown, d: number) => log(`${what}: ${(e as ServiceError).details}; retrying in ${(d / 1000).toFixed(1)}s`),
    });
    const joined = await retry(
      () =>
        new Promise<Session>((resolve, reject) =>
          client.joinSession({ sessionId: o.sessionId, modelSha256: sha }, md(), { deadline: new Date(Date.now() + 30_000) }, (e, r) => (e ? reject(e) : resolve(r!.session!))),
        ),
      retrying('join'),
    );
    log(`joined ${joined.id} (${joined.participants} participant(s), quorum ${joined.minClients})`);
    const bytesSentPerClass: number[] = [];
    let uploadSeconds = 0;
    let guarantee: ClientRunResult['privacy'] = null;
    if (joined.state === SessionState.SESSION_STATE_OPEN) {
      const task = o.taskFromSession(joined);
      const examples = readExamples(o.dataPath, task);
      const privacy = joined.privacy!;
      for (let c = 0; c < task.labels.length; c++) {
        const n = examples.filter((e) => e.label === c).length;
        if (privacy.maxExamples && n > privacy.maxExamples) log(`class ${c}: ${n} examples, the session takes at most ${privacy.maxExamples}; using a seeded sample of ${privacy.maxExamples}`);
      }
      const noiseKey = sessionNoiseKey(loadOrCreateNoiseKey(o.noiseKeyPath ?? defaultNoiseKeyPath()), joined.id);
      const release = releaseName(privacy.release);
      const secure = joined.secureAggregation?.enabled === true;
      const seed = o.seed ?? Number.parseInt(createHash('sha256').update(o.token).digest('hex').slice(0, 8), 16);
      // Under secure aggregation the clipped sums go out masked, with a share of the central noise instead of a whole local draw.
      const targets = computeContributions(rt, task, examples, secure ? { ...privacy, epsilon: 0, release } : { ...privacy, release }, seed, noiseKey);
      const plan = secure ? secAggNoisePlan(joined) : undefined;
      const sigma = privacy.epsilon > 0 ? (plan ? plan.sigma : analyticGaussianSigma(privacy.epsilon, privacy.delta, privacy.clip)) : 0;
      for (const t of targets) {
        // What the owner should know before sending: with few examples the noise drowns the signal.
        const n = Math.min(examples.filter((e) => e.label === t.label).length, privacy.maxExamples || Infinity);
        const noiseNorm = sigma * Math.sqrt(t.sum.length);
        const ratio = noiseNorm > 0 ? (n * privacy.clip) / noiseNorm : Infinity;
        const whose = secure ? ` (the central noise on the sum of at least ${joined.secureAggregation!.threshold} owners)` : '';
        log(`class ${t.label}: ${n} examples, signal norm <= ${(n * privacy.clip).toFixed(1)}, noise norm ~ ${noiseNorm.toFixed(1)}${whose}${ratio < 1 ? ` (signal/noise <= ${ratio.toFixed(3)}: the noise dominates; more examples or a larger epsilon would help)` : ''}`);
      }
      // Counted before the first byte leaves: a partly sent contribution is already a release.
      const book = PrivacyLedger.open(o.ledgerPath ?? defaultLedgerPath());
      const dataFingerprint = createHash('sha256').update(readFileSync(o.dataPath)).digest('hex');
      book.record({ data: dataFingerprint, session: joined.id, classes: task.labels.length, sigma, sensitivity: privacy.clip, release, noise: secure ? 'distributed' : 'local', ...(plan && plan.muTotal > 0 ? { skellam: { mu: plan.muTotal, l1: plan.l1, l2: plan.l2 } } : {}) });
      const g = book.guarantee(dataFingerprint, privacy.delta > 0 ? privacy.delta : 1e-5);
      guarantee = { epsilon: Number.isFinite(g.epsilon) ? g.epsilon : null, delta: g.delta, releases: g.releases, sentence: g.sentence };
      log(`privacy ledger (${book.path}): ${g.sentence}`);
      const t0 = performance.now();
      if (secure) {
        const values = new Float32Array(targets.reduce((n, t) => n + t.sum.length, 0));
        let off = 0;
        for (const t of targets) {
          values.set(t.sum, off);
          off += t.sum.length;
        }
        const res = await secureAggregate({ client, metadata: md, session: joined, values, noiseKey, stateDir: o.secAggStateDir, pollMs: o.secAggPollMs, backoff: o.backoff, log });
        if (!res.included) throw new Error(`${res.party} missed a secure-aggregation round of session ${joined.id}: its data is not in the sum, and only the owners in the sum receive the result`);
        bytesSentPerClass.push(...targets.map((t) => t.sum.length * 4));
        log(`secure aggregation: ${values.length * 4} masked bytes sent for ${targets.length} classes`);
      } else {
        for (const t of targets) {
          await uploadContribution(client, o.token, t.sum, {
            sessionId: joined.id,
            classIndex: t.label,
            uploadId: `contribution-${t.label}`, // stable across re-runs: a restarted client resumes or is told "complete"
            shape: [t.sum.length / t.dModel, t.dModel],
            noiseStd: sigma,
            clip: privacy.clip,
            chunkBytes: o.chunkBytes,
            backoff: o.backoff,
            onRetry: (e, d) => log(`class ${t.label}: ${e.details}; retrying in ${(d / 1000).toFixed(1)}s`),
            onResume: (first, total) => log(`class ${t.label}: the coordinator already holds ${first}/${total} chunks; resuming`),
          });
          bytesSentPerClass.push(t.sum.byteLength);
          log(`uploaded class ${t.label}: ${t.sum.byteLength} bytes`);
        }
      }
      uploadSeconds = (performance.now() - t0) / 1000;
    } else {
      // A restarted client whose contributions are already in: just follow the job and download.
      log(`session is ${SessionState[joined.state]}; contributions already in, following the job`);
    }
    await followJob(client, md, joined.id, log, o.backoff);
    mkdirSync(o.outDir, { recursive: true });
    const files: string[] = [];
    for (const [file, name] of [
      [ResultFile.RESULT_FILE_JSONL, 'synthetic.jsonl'],
      [ResultFile.RESULT_FILE_META, 'synthetic.jsonl.meta.json'],
    ] as const) {
      const data = await retry(() => download(client, md(), joined.id, file), { ...retrying('download'), retryable: isTransient });
      const path = join(o.outDir, name);
      writeFileSync(`${path}.tmp`, data); // never a half-written result under the final name
      renameSync(`${path}.tmp`, path);
      files.push(path);
    }
    return { synthetic: files[0], meta: files[1], bytesSentPerClass, uploadSeconds, privacy: guarantee };
  } finally {
    client.close();
  }
}

/**
 * Follow the session's progress stream until the job ends. A dropped connection (the coordinator
 * restarting, a network blip) is retried with the shared backoff; every event received resets
 * it, so only a coordinator silent for the whole budget (15 minutes by default) gives up.
 */
async function followJob(client: CoordinatorClient, md: () => ReturnType<typeof bearer>, sessionId: string, log: (m: string) => void, backoff?: BackoffOptions): Promise<void> {
  const b = new Backoff({ totalMs: 15 * 60_000, ...backoff });
  for (;;) {
    const err = await new Promise<ServiceError | undefined>((resolve, reject) => {
      const s = client.watchSession({ sessionId }, md());
      s.on('data', (e: SessionEvent) => {
        b.reset();
        log(`session ${SessionState[e.state]} ${(e.progress * 100).toFixed(0)}% ${e.message}`);
        if (e.state === SessionState.SESSION_STATE_FAILED || e.state === SessionState.SESSION_STATE_EXPIRED || e.state === SessionState.SESSION_STATE_CANCELLED) reject(new SessionEnded(e.state, e.message));
      });
      s.on('end', () => resolve(undefined));
      s.on('error', (e: ServiceError) => resolve(e));
    });
    if (!err) return;
    const delay = isTransient(err) ? b.next() : undefined;
    if (delay === undefined) throw err;
    log(`lost the progress stream (${err.details}); retrying in ${(delay / 1000).toFixed(1)}s`);
    await new Promise((r) => setTimeout(r, delay));
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
