/**
 * `synthgrad coordinator create-session`'s flags and config section, read and checked without the
 * ML stack or gRPC (light imports only), so a usage error comes back at once: main.ts checks them
 * before it loads the federated commands.
 */
import { DEFAULT_PRESET, DEFAULT_RELEASE } from '@synthgrad/core/presets';
import { resolveTask, type Task } from '@synthgrad/core/task';
import { SynthgradError } from '@synthgrad/core/errors';
import { parse } from '../args.js';
import { FlagReader } from '../flags.js';
import { mergeConfig, readConfig, type ConfigKeys } from '../config-file.js';
import { FEDERATED_HELP as FEDERATED_USAGE } from '../help.js';

export const TOKEN_FLAGS = { token: { type: 'string' }, 'token-file': { type: 'string' } } as const;

/** Flags that choose how a caller secures its connection to the coordinator. */
export const TLS_FLAGS = {
  tls: { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  insecure: { type: 'boolean', default: false },
} as const;

/** The "session" section of a --config file: SessionSpec names -> the flags they stand for. */
export const SESSION_CONFIG_KEYS: ConfigKeys = {
  address: 'address',
  clients: 'clientIds',
  task: 'task',
  'min-clients': 'minClients',
  'per-class': 'syntheticPerClass',
  preset: 'preset',
  seed: 'seed',
  epsilon: 'privacy.epsilon',
  delta: 'privacy.delta',
  clip: 'privacy.clip',
  'max-examples': 'privacy.maxExamples',
  release: 'privacy.release',
  'secure-aggregation': 'secureAggregation.enabled',
  'round-timeout-s': 'secureAggregation.roundTimeoutS',
  'deadline-minutes': 'deadlineMinutes',
  'text-length': 'textLength',
  model: 'model',
};

const CREATE_SESSION_FLAGS = {
  config: { type: 'string' },
  address: { type: 'string' },
  ...TOKEN_FLAGS,
  clients: { type: 'string' },
  task: { type: 'string' },
  'min-clients': { type: 'string' },
  'per-class': { type: 'string' },
  preset: { type: 'string' },
  seed: { type: 'string' },
  epsilon: { type: 'string' },
  delta: { type: 'string' },
  clip: { type: 'string' },
  'max-examples': { type: 'string' },
  release: { type: 'string' },
  'secure-aggregation': { type: 'boolean' },
  'round-timeout-s': { type: 'string' },
  'deadline-minutes': { type: 'string' },
  'text-length': { type: 'string' },
  model: { type: 'string' },
  ...TLS_FLAGS,
} as const;

/** A create-session request as the flags and config file give it: everything but the model's hash. */
export interface CreateSessionFlags {
  address: string;
  /** The raw connection flags (token and TLS), read by tokenFromFlags and channelFromFlags. */
  connection: { token?: string; 'token-file'?: string; tls?: string; ca?: string; cert?: string; key?: string; insecure?: boolean };
  /** --model as given (resolveModelPath picks the default). */
  model?: string;
  task: Task;
  syntheticPerClass: number;
  preset: string;
  privacy: { epsilon: number; delta: number; clip: number; maxExamples: number; release: 'full' | 'label-rows' };
  minClients: number;
  deadlineUnixMs: number;
  seed: number;
  clientIds: string[];
  textLength: number;
  secureAggregation?: { enabled: boolean; roundTimeoutMs: number };
}

export function parseCreateSessionFlags(argv: string[]): CreateSessionFlags {
  const { values: flagValues, explicit } = parse(argv, CREATE_SESSION_FLAGS, FEDERATED_USAGE);
  // Flags override the "session" section of --config (keys as in the library's SessionSpec).
  const config = flagValues.config ? readConfig(flagValues.config, 'session', SESSION_CONFIG_KEYS, ['generate', 'compare', 'eval']) : undefined;
  const merged = mergeConfig(flagValues as Record<string, string | boolean | undefined>, explicit, config);
  const r = new FlagReader(merged.values, merged.labels, 'coordinator create-session');
  const values = merged.values as typeof flagValues;
  if (!values.address || !values.clients) throw new SynthgradError(`--address and --clients are required\n\n${FEDERATED_USAGE}`, 'E_USAGE');
  const clients = String(values.clients).split(',').map((c) => c.trim()).filter(Boolean);
  const privacy = { epsilon: r.positive('epsilon', 0, true)!, delta: r.between('delta', 0, 1) ?? 0, clip: r.positive('clip', 1)!, maxExamples: r.int('max-examples', 1000), release: r.oneOf('release', ['full', 'label-rows'] as const, DEFAULT_RELEASE) };
  if ((privacy.epsilon > 0) !== (privacy.delta > 0)) r.fail(privacy.epsilon > 0 ? 'epsilon' : 'delta', `needs ${r.label(privacy.epsilon > 0 ? 'delta' : 'epsilon')} too (differential privacy takes both)`);
  const deadlineMinutes = r.positive('deadline-minutes');
  const secure = values['secure-aggregation'] === true;
  const roundTimeoutS = r.positive('round-timeout-s');
  if (roundTimeoutS !== undefined && !secure) r.fail('round-timeout-s', `only applies with ${r.label('secure-aggregation')}`);
  return {
    address: String(values.address),
    connection: values,
    model: r.str('model'),
    task: resolveTask(r.str('task') ?? 'sentiment'),
    syntheticPerClass: r.int('per-class', 30),
    preset: r.str('preset') ?? DEFAULT_PRESET,
    privacy,
    minClients: r.int('min-clients', clients.length),
    deadlineUnixMs: deadlineMinutes ? Date.now() + deadlineMinutes * 60_000 : 0,
    seed: r.int('seed', 0, 0),
    clientIds: clients,
    textLength: r.int('text-length', 25),
    secureAggregation: secure ? { enabled: true, roundTimeoutMs: roundTimeoutS ? Math.round(roundTimeoutS * 1000) : 0 } : undefined,
  };
}
