/**
 * Per-client credentials issued by the operator (`synthgrad coordinator add-client`). Only the
 * sha256 of each bearer token is stored, so the credentials file leaks nothing usable.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Where a coordinator keeps its credentials unless told otherwise. */
export function credentialsFile(stateDir: string): string {
  return join(stateDir, 'credentials.json');
}

export type Role = 'operator' | 'client';

export interface Principal {
  id: string;
  role: Role;
}

interface Entry extends Principal {
  tokenSha256: string;
}

const hash = (token: string) => createHash('sha256').update(token).digest();

export class Credentials {
  private entries: Entry[];

  constructor(private readonly file: string) {
    this.entries = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Entry[]) : [];
  }

  /** Issue (or re-issue) a credential; returns the token, which is shown once and never stored. */
  add(id: string, role: Role): string {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) throw new Error(`client id must be 1-64 characters of [A-Za-z0-9._-], got ${JSON.stringify(id)}`);
    const token = `sgt_${randomBytes(24).toString('hex')}`;
    this.entries = this.entries.filter((e) => e.id !== id);
    this.entries.push({ id, role, tokenSha256: hash(token).toString('hex') });
    mkdirSync(dirname(this.file), { recursive: true });
    writeFileSync(`${this.file}.tmp`, JSON.stringify(this.entries, null, 2), { mode: 0o600 });
    renameSync(`${this.file}.tmp`, this.file);
    return token;
  }

  verify(token: string | undefined): Principal | undefined {
    if (!token) return undefined;
    const h = hash(token);
    const e = this.entries.find((x) => timingSafeEqual(Buffer.from(x.tokenSha256, 'hex'), h));
    return e ? { id: e.id, role: e.role } : undefined;
  }
}
