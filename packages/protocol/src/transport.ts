/**
 * Transport security for both ends of a synthgrad connection. TLS is the default everywhere;
 * plaintext needs an explicit `insecure` (loopback experiments only), so nobody ships gradients
 * in the clear by forgetting a flag.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, ServerCredentials, type ChannelCredentials } from '@grpc/grpc-js';

export interface ChannelTlsOptions {
  /** PEM of the CA that signed the coordinator's certificate. */
  ca?: string;
  /** Client certificate and key (PEM files), for a coordinator that requires mutual TLS. */
  cert?: string;
  key?: string;
  /** A folder holding ca.pem and, for mutual TLS, cert.pem and key.pem (what add-client writes). */
  bundle?: string;
  /** Plaintext; refuses to combine with any of the above. */
  insecure?: boolean;
}

function readPem(path: string, what: string): Buffer {
  if (!existsSync(path)) throw new Error(`${what} ${path} does not exist`);
  const pem = readFileSync(path);
  if (!pem.includes('-----BEGIN ')) throw new Error(`${what} ${path} is not a PEM file`);
  return pem;
}

/** Resolve the flags into file paths (a bundle fills in what was not given explicitly). */
export function resolveChannelTls(o: ChannelTlsOptions): ChannelTlsOptions {
  if (!o.bundle) return o;
  const opt = (name: string) => (existsSync(join(o.bundle!, name)) ? join(o.bundle!, name) : undefined);
  return { ...o, ca: o.ca ?? join(o.bundle, 'ca.pem'), cert: o.cert ?? opt('cert.pem'), key: o.key ?? opt('key.pem') };
}

export function channelCredentials(options: ChannelTlsOptions): ChannelCredentials {
  const o = resolveChannelTls(options);
  if (o.insecure) {
    if (o.ca || o.cert || o.key) throw new Error('--insecure cannot be combined with TLS files');
    return credentials.createInsecure();
  }
  if (!o.ca) throw new Error('TLS needs the coordinator\'s CA certificate (--ca FILE or --tls DIR); --insecure turns TLS off for loopback tests');
  if (Boolean(o.cert) !== Boolean(o.key)) throw new Error('a client certificate needs both --cert and --key');
  return credentials.createSsl(
    readPem(o.ca, 'CA certificate'),
    o.key ? readPem(o.key, 'client key') : null,
    o.cert ? readPem(o.cert, 'client certificate') : null,
  );
}

export interface ServerTlsOptions {
  cert: string;
  key: string;
  /** When given, clients must present a certificate signed by this CA (mutual TLS). */
  clientCa?: string;
}

export function serverCredentials(o: ServerTlsOptions | 'insecure'): ServerCredentials {
  if (o === 'insecure') return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(
    o.clientCa ? readPem(o.clientCa, 'client CA certificate') : null,
    [{ cert_chain: readPem(o.cert, 'server certificate'), private_key: readPem(o.key, 'server key') }],
    Boolean(o.clientCa),
  );
}
