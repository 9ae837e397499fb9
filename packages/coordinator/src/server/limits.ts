/** Resource limits of a coordinator, with the defaults `coordinator start` uses. */
export interface ServerLimits {
  /** Largest gRPC message either way (a chunk is at most 4 MiB, see DEFAULT_LIMITS). */
  maxMessageBytes: number;
  /** Concurrent streams on one connection (HTTP/2 SETTINGS). */
  maxConcurrentStreams: number;
  /** Open connections in all; more are closed at accept. */
  maxConnections: number;
  /** Calls in progress across all connections (health checks exempt). */
  maxCalls: number;
  /** A connection must complete its TLS handshake (or, in plaintext, send its first byte) within this. */
  handshakeTimeoutMs: number;
  /** HTTP/2 keepalive pings from the server, and how long to wait for their answer. */
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
  /** A connection without calls for this long is closed (GOAWAY). */
  connectionIdleMs: number;
  /** A call must send its request message within this. */
  firstMessageMs: number;
  /** An upload stream that sends nothing for this long is ended. */
  messageIdleMs: number;
  /** An incomplete upload that has not moved for this long is removed. */
  uploadTtlMs: number;
  /** How often deadlines are checked and abandoned uploads swept. */
  sweepIntervalMs: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  maxMessageBytes: 8 * 2 ** 20,
  maxConcurrentStreams: 32,
  maxConnections: 512,
  maxCalls: 1024,
  handshakeTimeoutMs: 10_000,
  keepaliveTimeMs: 30_000,
  keepaliveTimeoutMs: 10_000,
  connectionIdleMs: 5 * 60_000,
  firstMessageMs: 15_000,
  messageIdleMs: 60_000,
  uploadTtlMs: 6 * 3600_000,
  sweepIntervalMs: 60_000,
};

/** Overrides from a JSON object (`coordinator start --limits FILE`), checked. */
export function parseLimits(json: unknown): Partial<ServerLimits> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('limits must be a JSON object');
  const out: Partial<ServerLimits> = {};
  for (const [k, v] of Object.entries(json)) {
    if (!(k in DEFAULT_SERVER_LIMITS)) throw new Error(`unknown limit "${k}" (known: ${Object.keys(DEFAULT_SERVER_LIMITS).join(', ')})`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`limit "${k}" must be a positive number`);
    out[k as keyof ServerLimits] = v;
  }
  return out;
}
