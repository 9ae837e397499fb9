/** `synthgrad coordinator ...` and `synthgrad client ...`: the federated system's commands. */
import { credentials as grpcCredentials } from '@grpc/grpc-js';
import {
  GGUFFile,
  configFromGGUF,
  initBackend,
  loadModel,
  resolveModelPath,
  resolveTask,
  sha256File,
  SynthgradError,
  type Task,
} from '@synthgrad/core';
import { CoordinatorClient, specFromTask, taskFromSpec, type Session } from '@synthgrad/protocol';
import { Credentials, credentialsFile, startCoordinator } from '@synthgrad/coordinator';
import { bearer, runClient } from '@synthgrad/client';
import { intFlag, parse } from '../args.js';

export const FEDERATED_USAGE = `usage:
  synthgrad coordinator add-client --state DIR --id NAME [--operator]
      issue a credential (printed once; only its hash is stored in DIR/credentials.json)
  synthgrad coordinator start --state DIR [--address 127.0.0.1:50051] [--model FILE]
      serve sessions; state (sessions, contributions, checkpoints, results) lives in DIR
  synthgrad coordinator create-session --address HOST:PORT --token T --clients a,b,c
      [--task sentiment|T.json] [--min-clients N] [--per-class M] [--preset cpu|paper] [--seed S]
      [--epsilon E --delta D] [--clip C] [--deadline-minutes M] [--text-length L] [--model FILE]
      prints the session id
  synthgrad client run --address HOST:PORT --token T --session ID --data FILE --out DIR [--model FILE] [--seed S]
      join, upload noisy per-class gradient sums, wait for the job, download the synthetic data`;

export async function coordinatorCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === 'add-client') {
    const { values } = parse(rest, { state: { type: 'string' }, id: { type: 'string' }, operator: { type: 'boolean', default: false } }, FEDERATED_USAGE);
    if (!values.state || !values.id) throw new SynthgradError(`--state and --id are required\n\n${FEDERATED_USAGE}`, 'E_USAGE');
    try {
      process.stdout.write(`${new Credentials(credentialsFile(values.state)).add(values.id, values.operator ? 'operator' : 'client')}\n`);
    } catch (e) {
      throw new SynthgradError((e as Error).message, 'E_USAGE');
    }
    return;
  }
  if (sub === 'start') {
    const { values } = parse(rest, { state: { type: 'string' }, address: { type: 'string' }, model: { type: 'string' } }, FEDERATED_USAGE);
    if (!values.state) throw new SynthgradError(`--state is required\n\n${FEDERATED_USAGE}`, 'E_USAGE');
    const modelPath = resolveModelPath(values.model);
    const config = configFromGGUF(await GGUFFile.open(modelPath));
    const sha256 = await sha256File(modelPath);
    const running = await startCoordinator({
      stateDir: values.state,
      modelPath,
      model: { sha256, vocabSize: config.vocabSize, dModel: config.dModel },
      address: values.address ?? '127.0.0.1:50051',
      backend: values.backend,
    });
    process.stdout.write(`coordinator listening on port ${running.port} (model ${sha256.slice(0, 12)}, state ${values.state})\n`);
    const stop = async () => {
      await running.close();
      process.exit(0);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    await new Promise(() => {}); // serve until a signal
  }
  if (sub === 'create-session') {
    const { values } = parse(
      rest,
      {
        address: { type: 'string' },
        token: { type: 'string' },
        clients: { type: 'string' },
        task: { type: 'string' },
        'min-clients': { type: 'string' },
        'per-class': { type: 'string' },
        preset: { type: 'string' },
        seed: { type: 'string' },
        epsilon: { type: 'string' },
        delta: { type: 'string' },
        clip: { type: 'string' },
        'deadline-minutes': { type: 'string' },
        'text-length': { type: 'string' },
        model: { type: 'string' },
      },
      FEDERATED_USAGE,
    );
    if (!values.address || !values.token || !values.clients) throw new SynthgradError(`--address, --token and --clients are required\n\n${FEDERATED_USAGE}`, 'E_USAGE');
    const clients = values.clients.split(',').map((c) => c.trim()).filter(Boolean);
    const task = resolveTask(values.task ?? 'sentiment');
    const sha = await sha256File(resolveModelPath(values.model));
    const id = await createSession(values.address, values.token, {
      task,
      modelSha256: sha,
      syntheticPerClass: intFlag(values['per-class'], 'per-class', 30),
      preset: values.preset ?? 'cpu',
      privacy: { epsilon: Number(values.epsilon ?? 0), delta: Number(values.delta ?? 0), clip: Number(values.clip ?? 1) },
      minClients: intFlag(values['min-clients'], 'min-clients', clients.length),
      deadlineUnixMs: values['deadline-minutes'] ? Date.now() + Number(values['deadline-minutes']) * 60_000 : 0,
      seed: intFlag(values.seed, 'seed', 0, 0),
      clientIds: clients,
      textLength: intFlag(values['text-length'], 'text-length', 25),
    });
    process.stdout.write(`${id}\n`);
    return;
  }
  throw new SynthgradError(sub ? `unknown coordinator command "${sub}"\n\n${FEDERATED_USAGE}` : FEDERATED_USAGE, 'E_USAGE');
}

export async function clientCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== 'run') throw new SynthgradError(sub ? `unknown client command "${sub}"\n\n${FEDERATED_USAGE}` : FEDERATED_USAGE, 'E_USAGE');
  const { values } = parse(
    rest,
    { address: { type: 'string' }, token: { type: 'string' }, session: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' }, model: { type: 'string' }, 'chunk-kib': { type: 'string' }, seed: { type: 'string' } },
    FEDERATED_USAGE,
  );
  if (!values.address || !values.token || !values.session || !values.data || !values.out) {
    throw new SynthgradError(`--address, --token, --session, --data and --out are required\n\n${FEDERATED_USAGE}`, 'E_USAGE');
  }
  await initBackend({ backend: values.backend });
  const rt = await loadModel(resolveModelPath(values.model));
  try {
    const res = await runClient(rt, {
      address: values.address,
      token: values.token,
      sessionId: values.session,
      dataPath: values.data,
      outDir: values.out,
      seed: values.seed === undefined ? undefined : intFlag(values.seed, 'seed', 0, 0),
      chunkBytes: values['chunk-kib'] ? intFlag(values['chunk-kib'], 'chunk-kib', 1024) * 1024 : undefined,
      taskFromSession: (s) => taskFromSpec(s.task!),
      log: (m) => process.stderr.write(`${m}\n`),
    });
    process.stdout.write(`${JSON.stringify(res)}\n`);
  } catch (e) {
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
  privacy: { epsilon: number; delta: number; clip: number };
  minClients: number;
  deadlineUnixMs?: number;
  seed: number;
  clientIds: string[];
  textLength: number;
}

/** Create a session as the operator; returns its id. */
export async function createSession(address: string, token: string, spec: SessionSpec): Promise<string> {
  const client = new CoordinatorClient(address, grpcCredentials.createInsecure());
  try {
    const session = await new Promise<Session>((resolve, reject) =>
      client.createSession(
        { ...spec, task: specFromTask(spec.task), deadlineUnixMs: spec.deadlineUnixMs ?? 0 },
        bearer(token),
        (e, r) => (e ? reject(new SynthgradError(`create-session refused: ${e.details}`)) : resolve(r!)),
      ),
    );
    return session.id;
  } finally {
    client.close();
  }
}
