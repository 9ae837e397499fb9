/**
 * The listening socket, ours rather than grpc-js's, so connections can be limited before any
 * TLS or HTTP/2 work: a global cap on open connections, and a deadline for the first byte of a
 * connection (silent sockets were held for good). Accepted sockets are handed to grpc-js through
 * its connection injector; the TLS handshake deadline is Node's `handshakeTimeout` option.
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { Server, ServerCredentials } from '@grpc/grpc-js';

export interface ListenOptions {
  host: string;
  port: number;
  maxConnections: number;
  handshakeTimeoutMs: number;
}

export interface Listener {
  port: number;
  /** Open connections now. */
  connections(): number;
  close(): Promise<void>;
}

/** Credentials whose TLS server has a handshake deadline (grpc-js passes these options to tls.Server). */
export function withHandshakeTimeout(creds: ServerCredentials, ms: number): ServerCredentials {
  const c = creds as ServerCredentials & { _getConstructorOptions?: () => object | null };
  const base = c._getConstructorOptions?.bind(c);
  if (base) c._getConstructorOptions = () => ({ ...(base() ?? {}), handshakeTimeout: ms });
  return creds;
}

export function parseAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address);
  if (!m) throw new Error(`address must be HOST:PORT, got ${JSON.stringify(address)}`);
  return { host: m[1] ?? m[2]!, port: Number(m[3]) };
}

export async function listen(server: Server, creds: ServerCredentials, o: ListenOptions): Promise<Listener> {
  const injector = server.createConnectionInjector(withHandshakeTimeout(creds, o.handshakeTimeoutMs));
  const sockets = new Set<Socket>();
  const net: NetServer = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const t = setTimeout(() => {
      if (socket.bytesRead === 0) socket.destroy();
    }, o.handshakeTimeoutMs);
    t.unref();
    socket.on('close', () => clearTimeout(t));
    injector.injectConnection(socket);
  });
  net.maxConnections = o.maxConnections;
  await new Promise<void>((resolve, reject) => {
    net.once('error', reject);
    net.listen(o.port, o.host, () => resolve());
  });
  net.on('error', () => {});
  const addr = net.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : o.port,
    connections: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        injector.destroy();
        for (const s of sockets) s.destroy();
        net.close(() => resolve());
      }),
  };
}
