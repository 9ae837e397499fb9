/**
 * `synthgrad coordinator sessions | session ID | stop ID | logs ID [--follow]`: the operator's
 * view of a running coordinator over the operator RPCs (ListSessionDetails, DescribeSession,
 * StopSession) and the WatchSession progress stream. Refusals are one line: an unknown session,
 * a caller who is not an operator, a coordinator that cannot be reached.
 */
import { status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { SynthgradError } from '@synthgrad/core/errors';
import { CoordinatorClient, SessionState, type SessionDetail, UploadState, type Session, type SessionEvent } from '@synthgrad/protocol';
import { bearer } from '@synthgrad/client';
import { formatEvent, sessionDetailJson, stateLabel } from '@synthgrad/coordinator';
import { parse } from '../args.js';
import { channelFromFlags, FEDERATED_USAGE, TLS_FLAGS, TOKEN_FLAGS, tokenFromFlags } from './federated.js';

export type OperateCommand = 'sessions' | 'session' | 'stop' | 'logs';

const CALL_MS = 30_000;

/** A gRPC refusal as the one line an operator can act on. */
export function refusal(e: unknown, address: string): SynthgradError {
  const err = e as Partial<ServiceError>;
  if (typeof err.code !== 'number') return new SynthgradError((e as Error)?.message ?? String(e));
  // grpc-js appends an empty "Resolution note:" to connection errors.
  const d = (err.details ?? '').replace(/\s*Resolution note:\s*$/, '');
  if (err.code === grpcStatus.NOT_FOUND) return new SynthgradError(`unknown session: ${d}`);
  if (err.code === grpcStatus.PERMISSION_DENIED || err.code === grpcStatus.UNAUTHENTICATED) return new SynthgradError(`not authorised: ${d}`);
  if (err.code === grpcStatus.UNAVAILABLE) return new SynthgradError(`cannot reach the coordinator at ${address}: ${d}`);
  return new SynthgradError(`coordinator refused: ${d} (gRPC status ${grpcStatus[err.code] ?? err.code})`);
}

const unary = <T>(f: (cb: (e: ServiceError | null, r?: T) => void) => void) => new Promise<T>((resolve, reject) => f((e, r) => (e ? reject(e) : resolve(r!))));

const deadline = () => ({ deadline: new Date(Date.now() + CALL_MS) });

const time = (ms: number) => (ms ? new Date(ms).toISOString().slice(0, 16).replace('T', ' ') : 'none');
const pct = (d: SessionDetail) => `${Math.round((d.progress?.progress ?? 0) * 100)}%`;

const UPLOAD: Record<number, string> = { [UploadState.UPLOAD_STATE_COMPLETE]: 'complete', [UploadState.UPLOAD_STATE_PARTIAL]: 'partial', [UploadState.UPLOAD_STATE_NONE]: 'none' };

/** Lines for a session: a summary, then one per invited participant with its uploads by class. */
export function describeLines(d: SessionDetail): string[] {
  const s: Session = d.session!;
  const msg = d.progress?.message ? `  ${d.progress.message}` : '';
  const out = [
    `${s.id}  ${stateLabel(s.state)}  quorum ${s.completeContributions}/${s.minClients} complete, ${s.participants}/${d.participants.length} joined  deadline ${time(s.deadlineUnixMs)}  job ${pct(d)}${msg}`,
  ];
  for (const p of d.participants) {
    const ups = p.uploads.map((u) => `${u.label}:${UPLOAD[u.state] ?? '?'}${u.state === UploadState.UPLOAD_STATE_PARTIAL ? ` ${u.chunksReceived}/${u.chunkCount}` : ''}`);
    out.push(`  ${p.clientId.padEnd(16)} ${(p.joined ? 'joined' : 'invited').padEnd(8)} ${ups.join('  ')}`);
  }
  return out;
}

export async function operateCommand(sub: OperateCommand, argv: string[]): Promise<void> {
  // The session id comes first (`coordinator stop ID ...`) or as --session.
  const positional = argv[0] !== undefined && !argv[0].startsWith('-') ? argv[0] : undefined;
  const rest = positional === undefined ? argv : argv.slice(1);
  const { values } = parse(
    rest,
    { address: { type: 'string' }, session: { type: 'string' }, json: { type: 'boolean', default: false }, follow: { type: 'boolean', default: false }, reason: { type: 'string' }, ...TOKEN_FLAGS, ...TLS_FLAGS },
    FEDERATED_USAGE,
    `coordinator ${sub}`,
  );
  const sessionId = positional ?? values.session;
  if (!values.address) throw new SynthgradError(`--address is required\n\n${FEDERATED_USAGE}`, 'E_USAGE');
  if (sub !== 'sessions' && !sessionId) throw new SynthgradError(`"coordinator ${sub}" needs a session id: synthgrad coordinator ${sub} ID --address HOST:PORT ...`, 'E_USAGE');
  const token = tokenFromFlags(values);
  const client = new CoordinatorClient(values.address, channelFromFlags(values));
  const md = () => bearer(token);
  const out = (s: string): void => void process.stdout.write(`${s}\n`);
  try {
    if (sub === 'sessions') {
      const r = await unary<{ sessions: SessionDetail[] }>((cb) => client.listSessionDetails({}, md(), deadline(), cb));
      if (values.json) return out(JSON.stringify(r.sessions.map(sessionDetailJson), null, 2));
      if (r.sessions.length === 0) return out('no sessions');
      for (const d of r.sessions) out(describeLines(d).join('\n'));
      return;
    }
    if (sub === 'session') {
      const d = await unary<SessionDetail>((cb) => client.describeSession({ sessionId: sessionId! }, md(), deadline(), cb));
      if (values.json) return out(JSON.stringify(sessionDetailJson(d), null, 2));
      out(describeLines(d).join('\n'));
      if (d.log.length) out(`recent events:\n${d.log.map((l) => `  ${l}`).join('\n')}`);
      return;
    }
    if (sub === 'stop') {
      const s = await unary<Session>((cb) => client.stopSession({ sessionId: sessionId!, reason: values.reason ?? '' }, md(), deadline(), cb));
      return out(`${s.id} ${stateLabel(s.state)}: ${s.message}`);
    }
    await logs(client, md, sessionId!, values.follow === true, out);
  } catch (e) {
    throw refusal(e, values.address);
  } finally {
    client.close();
  }
}

/** The recent events; with `follow`, then every change of the progress stream until the session ends. */
async function logs(client: CoordinatorClient, md: () => ReturnType<typeof bearer>, sessionId: string, follow: boolean, out: (s: string) => void): Promise<void> {
  // DescribeSession first: it is operator-only, so a client credential is refused here too.
  const d = await unary<SessionDetail>((cb) => client.describeSession({ sessionId }, md(), deadline(), cb));
  for (const l of d.log) out(l);
  if (!follow) return;
  let lastKey = '';
  let lastPct = -1;
  const final = await new Promise<SessionState>((resolve, reject) => {
    let state = d.session!.state;
    const s = client.watchSession({ sessionId }, md());
    s.on('data', (e: SessionEvent) => {
      state = e.state;
      const key = `${e.state}|${e.message}`;
      const p = Math.round(e.progress * 100);
      // One line per change of state, message or whole percent; the first event repeats the log's last line.
      if (key !== lastKey || p !== lastPct) {
        if (lastKey || !d.log.length) out(formatEvent(e, Date.now()));
        lastKey = key;
        lastPct = p;
      }
    });
    s.on('end', () => resolve(state));
    s.on('error', (e: ServiceError) => reject(e));
  });
  if (final !== SessionState.SESSION_STATE_DONE) process.exitCode = 1;
}
