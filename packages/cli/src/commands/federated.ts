/** `synthgrad coordinator ...` and `synthgrad client ...`: the federated system's commands. */
import { existsSync, readFileSync } from 'node:fs';
import type { ChannelCredentials } from '@grpc/grpc-js';
import {
  GGUFFile,
  configFromGGUF,
  initBackend,
  loadModel,
  resolveModelPath,
  sha256File,
  SynthgradError,
  type Task,
} from '@synthgrad/core';
import { channelCredentials, CoordinatorClient, isUnavailable, releaseToWire, retry, serverCredentials, specFromTask, taskFromSpec, type ReleaseName, type Session } from '@synthgrad/protocol';
import {
  addParty,
  checkHealth,
  Credentials,
  credentialsFile,
  HEALTH_SERVICE_NAME,
  parseLimits,
  initServerTls,
  serverTlsFiles,
  startCoordinator,
  tlsDir,
} from '@synthgrad/coordinator';
import { bearer, runClient, SessionEnded } from '@synthgrad/client';
import { intFlag, parse } from '../args.js';
import { parseCreateSessionFlags, TLS_FLAGS, TOKEN_FLAGS, type CreateSessionFlags } from './session-flags.js';

import { FEDERATED_HELP as FEDERATED_USAGE } from '../help.js';
export { FEDERATED_USAGE };

export { TOKEN_FLAGS, TLS_FLAGS, SESSION_CONFIG_KEYS } from './session-flags.js';

/** The caller's bearer token: --token, else --token-file, else $SYNTHGRAD_TOKEN. */
export function tokenFromFlags(v: { token?: string; 'token-file'?: string }): string {
  if (v.token && v['token-file']) throw new SynthgradError('give --token or --token-file, not both', 'E_USAGE');
  if (v.token) return v.token;
  if (v['token-file']) {
    if (!existsSync(v['token-file'])) throw new SynthgradError(`token file ${v['token-file']} does not exist`, 'E_USAGE');
    const t = readFileSync(v['token-file'], 'utf8').trim();
    if (!t) throw new SynthgradError(`token file ${v['token-file']} is empty`, 'E_USAGE');
    return t;
  }
  const env = process.env.SYNTHGRAD_TOKEN?.trim();
  if (env) return env;
  throw new SynthgradError(`a credential is required: --token, --token-file or $SYNTHGRAD_TOKEN\n\n${FEDERATED_USAGE}`, 'E_USAGE');
}

export function channelFromFlags(v: { tls?: string; ca?: string; cert?: string; key?: string; insecure?: boolean }): ChannelCredentials {
  try {
    return channelCredentials({ bundle: v.tls, ca: v.ca, cert: v.cert, key: v.key, insecure: v.insecure });
  } catch (e) {
    throw new SynthgradError((e as Error).message, 'E_USAGE');
  }
}

export async function coordinatorCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === 'sessions' || sub === 'session' || sub === 'stop' || sub === 'logs') return (await import('./operate.js')).operateCommand(sub, rest);
  if (sub === 'tls-init') {
    const { values } = parse(rest, { state: { type: 'string' }, hosts: { type: 'string' }, force: { type: 'boolean', default: false } }, FEDERATED_USAGE);
    if (!values.state) throw new SynthgradError(`--state is required\n\n${FEDERATED_USAGE}`, 'E_USAGE');
    const hosts = (values.hosts ?? 'localhost,127.0.0.1').split(',').map((h) => h.trim()).filter(Boolean);
    const r = initServerTls(values.state, hosts, values.force);
    process.stdout.write(r.created ? `created ${r.ca} and ${r.cert} (for ${hosts.join(', ')})\n` : `TLS material already in ${tlsDir(values.state)} (--force to replace it)\n`);
    return;
  }
  if (sub === 'add-client') {
    const { values } = parse(rest, { state: { type: 'string' }, id: { type: 'string' }, operator: { type: 'boolean', default: false }, 'tls-out': { type: 'string' } }, FEDERATED_USAGE);
    if (!values.state || !values.id) throw new SynthgradError(`--state and --id are required\n\n${FEDERATED_USAGE}`, 'E_USAGE');
    try {
      const { token, bundle } = addParty(values.state, values.id, values.operator ? 'operator' : 'client', values['tls-out']);
      if (bundle) process.stderr.write(`TLS bundle for ${values.id} in ${bundle} (give it to the client with its token)\n`);
      process.stdout.write(`${token}\n`);
    } catch (e) {
      throw new SynthgradError((e as Error).message, 'E_USAGE');
    }
    return;
  }
  if (sub === 'health') {
    const { values } = parse(rest, { address: { type: 'string' }, service: { type: 'string' }, ...TLS_FLAGS }, FEDERATED_USAGE);
    if (!values.address) throw new SynthgradError(`--address is required\n\n${FEDERATED_USAGE}`, 'E_USAGE');
    const service = values.service ?? HEALTH_SERVICE_NAME;
    let state: string;
    try {
      state = await checkHealth(values.address, channelFromFlags(values), service);
    } catch (e) {
      throw new SynthgradError(`health check of ${values.address} failed: ${(e as { details?: string }).details ?? (e as Error).message}`);
    }
    process.stdout.write(`${service || '(server)'}: ${state}\n`);
    if (state !== 'SERVING') process.exitCode = 1;
    return;
  }
  if (sub === 'start') {
    const { values } = parse(
      rest,
      {
        state: { type: 'string' },
        address: { type: 'string' },
        model: { type: 'string' },
        mtls: { type: 'boolean', default: false },
        insecure: { type: 'boolean', default: false },
        credentials: { type: 'string' },
        'tls-dir': { type: 'string' },
        limits: { type: 'string' },
        'status-port': { type: 'string' },
        'status-host': { type: 'string' },
      },
      FEDERATED_USAGE,
    );
    if (!values.state) throw new SynthgradError(`--state is required\n\n${FEDERATED_USAGE}`, 'E_USAGE');
    let limits = {};
    try {
      if (values.limits) limits = parseLimits(JSON.parse(readFileSync(values.limits, 'utf8')));
      // Fail at start, with a clear message, rather than on every call.
      new Credentials(values.credentials ?? credentialsFile(values.state));
    } catch (e) {
      throw new SynthgradError((e as Error).message, 'E_USAGE');
    }
    if (values.mtls && values.insecure) throw new SynthgradError('--mtls and --insecure exclude each other', 'E_USAGE');
    const tls = serverTlsFiles(values.state, values['tls-dir']);
    if (!values.insecure && !existsSync(tls.cert)) {
      throw new SynthgradError(`no TLS certificate in ${values['tls-dir'] ?? tlsDir(values.state)}: run "synthgrad coordinator tls-init --state ${values.state}" first, or pass --insecure (plaintext, loopback tests only)`, 'E_USAGE');
    }
    // Checked before the model loads. Loopback unless told: the page shows no secrets, but it is an inventory of sessions.
    const statusHost = values['status-host'] ?? '127.0.0.1';
    const statusAddress = values['status-port'] === undefined ? undefined : `${statusHost.includes(':') ? `[${statusHost}]` : statusHost}:${intFlag(values['status-port'], 'status-port', 0, 0)}`;
    const modelPath = resolveModelPath(values.model);
    const config = configFromGGUF(await GGUFFile.open(modelPath));
    const sha256 = await sha256File(modelPath);
    const running = await startCoordinator({
      stateDir: values.state,
      modelPath,
      model: { sha256, vocabSize: config.vocabSize, dModel: config.dModel },
      address: values.address ?? '127.0.0.1:50051',
      backend: values.backend,
      credentials: serverCredentials(values.insecure ? 'insecure' : { cert: tls.cert, key: tls.key, clientCa: values.mtls ? tls.ca : undefined }),
      requireClientCertificate: values.mtls,
      credentialsPath: values.credentials,
      server: limits,
      statusAddress,
    });
    const security = values.insecure ? 'PLAINTEXT' : values.mtls ? 'mutual TLS' : 'TLS';
    process.stdout.write(`coordinator listening on port ${running.port} (${security}, model ${sha256.slice(0, 12)}, state ${values.state})\n`);
    if (running.status) process.stdout.write(`status page on http://${statusAddress!.replace(/:\d+$/, '')}:${running.status.port}/ (read-only)\n`);
    const stop = async () => {
      await running.close();
      process.exit(0);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    await new Promise(() => {}); // serve until a signal
  }
  if (sub === 'create-session') return createSessionCommand(parseCreateSessionFlags(rest));
  throw new SynthgradError(sub ? `unknown coordinator command "${sub}"\n\n${FEDERATED_USAGE}` : FEDERATED_USAGE, 'E_USAGE');
}

/** `coordinator create-session` once its flags are read (main.ts reads them before this module loads). */
export async function createSessionCommand(f: CreateSessionFlags): Promise<void> {
  const { address, connection, model, ...spec } = f;
  const id = await createSession(address, tokenFromFlags(connection), channelFromFlags(connection), { ...spec, modelSha256: await sha256File(resolveModelPath(model)) });
  process.stdout.write(`${id}\n`);
}

export async function clientCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== 'run') throw new SynthgradError(sub ? `unknown client command "${sub}"\n\n${FEDERATED_USAGE}` : FEDERATED_USAGE, 'E_USAGE');
  const { values } = parse(
    rest,
    {
      address: { type: 'string' },
      ...TOKEN_FLAGS,
      session: { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string' },
      model: { type: 'string' },
      'chunk-kib': { type: 'string' },
      seed: { type: 'string' },
      ...TLS_FLAGS,
    },
    FEDERATED_USAGE,
  );
  if (!values.address || !values.session || !values.data || !values.out) {
    throw new SynthgradError(`--address, --session, --data and --out are required\n\n${FEDERATED_USAGE}`, 'E_USAGE');
  }
  const channel = channelFromFlags(values);
  const token = tokenFromFlags(values);
  await initBackend({ backend: values.backend });
  const rt = await loadModel(resolveModelPath(values.model));
  try {
    const res = await runClient(rt, {
      address: values.address,
      token,
      sessionId: values.session,
      channel,
      dataPath: values.data,
      outDir: values.out,
      seed: values.seed === undefined ? undefined : intFlag(values.seed, 'seed', 0, 0),
      chunkBytes: values['chunk-kib'] ? intFlag(values['chunk-kib'], 'chunk-kib', 1024) * 1024 : undefined,
      taskFromSession: (s) => taskFromSpec(s.task!),
      log: (m) => process.stderr.write(`${m}\n`),
    });
    process.stdout.write(`${JSON.stringify(res)}\n`);
  } catch (e) {
    // A session that ended without results is the operator's decision or the job's failure, not a crash.
    if (e instanceof SessionEnded) throw new SynthgradError(e.message);
    const err = e as { code?: number; details?: string };
    if (typeof err.code === 'number' && err.details) throw new SynthgradError(`coordinator refused: ${err.details} (gRPC status ${err.code})`);
    throw e;
  } finally {
    rt.dispose();
  }
}

export interface SessionSpec {
  task: Task;
  modelSha256: string;
  syntheticPerClass: number;
  preset: string;
  /** release: what each class contribution holds (default 'label-rows', the label tokens' rows; 'full': the whole head gradient). */
  privacy: { epsilon: number; delta: number; clip: number; maxExamples?: number; release?: ReleaseName };
  minClients: number;
  deadlineUnixMs?: number;
  seed: number;
  clientIds: string[];
  textLength: number;
  /**
   * Sum the contributions under secure aggregation (SecAgg+ with distributed Skellam noise; the
   * coordinator sees only the sum). Needs the label-rows release and minClients >= 2;
   * roundTimeoutMs: how long a round waits for stragglers (0: 120 s).
   */
  secureAggregation?: { enabled: boolean; roundTimeoutMs?: number };
}

/**
 * Create a session as the operator; returns its id. A coordinator that is not reachable yet (just
 * starting, restarting) is retried with the shared backoff; any answer it gives is final.
 */
export async function createSession(address: string, token: string, channel: ChannelCredentials, spec: SessionSpec): Promise<string> {
  const client = new CoordinatorClient(address, channel);
  try {
    const request = { ...spec, task: specFromTask(spec.task), privacy: { maxExamples: 0, ...spec.privacy, release: releaseToWire(spec.privacy.release) }, deadlineUnixMs: spec.deadlineUnixMs ?? 0, secureAggregation: spec.secureAggregation ? { enabled: spec.secureAggregation.enabled, roundTimeoutMs: spec.secureAggregation.roundTimeoutMs ?? 0 } : undefined };
    const session = await retry(
      () => new Promise<Session>((resolve, reject) => client.createSession(request, bearer(token), { deadline: new Date(Date.now() + 30_000) }, (e, r) => (e ? reject(e) : resolve(r!)))),
      { retryable: isUnavailable, totalMs: 30_000, onRetry: (e, d) => process.stderr.write(`create-session: ${(e as { details?: string }).details}; retrying in ${(d / 1000).toFixed(1)}s\n`) },
    ).catch((e: { code?: number; details?: string }) => {
      throw typeof e.code === 'number' ? new SynthgradError(`create-session refused: ${e.details}`) : e;
    });
    return session.id;
  } finally {
    client.close();
  }
}
