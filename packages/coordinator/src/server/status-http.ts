/**
 * The read-only HTTP status page on its own, opt-in port (loopback by default): GET / (HTML) and
 * GET /status.json; 404 for any other path, 405 for any other method. Every request is answered
 * inside a catch-all, so nothing a browser or a scanner sends can throw out of a handler and end
 * the coordinator; request bodies are never read.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { SessionDetail } from '@synthgrad/protocol';
import { sessionDetailJson } from '../ops/session-json.js';
import { renderStatusPage } from '../ops/status-page.js';
import type { Logger } from './status.js';

export interface StatusServer {
  port: number;
  close(): Promise<void>;
}

/** No external assets, no scripts: the page works offline and cannot be made to load anything. */
const HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
};

function answer(res: ServerResponse, code: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(code, { ...HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body), ...extra });
  res.end(body);
}

export function handleStatusRequest(req: IncomingMessage, res: ServerResponse, sessions: () => SessionDetail[], log: Logger): void {
  try {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(res, 405, 'text/plain; charset=utf-8', 'read-only: GET only\n', { allow: 'GET, HEAD' });
    if (path === '/' || path === '/index.html') return answer(res, 200, 'text/html; charset=utf-8', renderStatusPage(sessions()));
    if (path === '/status.json') return answer(res, 200, 'application/json', `${JSON.stringify({ sessions: sessions().map(sessionDetailJson) }, null, 2)}\n`);
    answer(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  } catch (e) {
    log(`status page: ${(e as Error)?.stack ?? e}`);
    try {
      if (!res.headersSent) answer(res, 500, 'text/plain; charset=utf-8', 'internal error (logged by the coordinator)\n');
      else res.destroy();
    } catch {
      res.destroy();
    }
  }
}

export async function startStatusServer(o: { host: string; port: number; sessions: () => SessionDetail[]; log: Logger }): Promise<StatusServer> {
  const server: Server = createServer((req, res) => handleStatusRequest(req, res, o.sessions, o.log));
  // Slow or idle browsers must not hold sockets for good.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 100;
  server.on('clientError', (_e, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  server.on('error', (e) => o.log(`status page: ${e.message}`));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : o.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
