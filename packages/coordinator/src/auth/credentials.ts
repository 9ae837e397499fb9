/**
 * Per-client credentials issued by the operator (`synthgrad coordinator add-client`). Only the
 * sha256 of each bearer token is stored, so the credentials file leaks nothing usable.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CLIENT_ID } from '../domain/names.js';
import { permissionDenied } from '../domain/errors.js';

/** Where a coordinator keeps its credentials unless told otherwise. */
export function credentialsFile(stateDir: string): string {
  return join(stateDir, 'credentials.json');
}

export type Role = 'operator' | 'client';

export interface Principal {
  id: string;
  role: Role;
}

/** Operator-only calls (create, stop, the operator view) refuse anyone else. */
export function requireOperator(who: Principal): void {
  if (who.role !== 'operator') throw permissionDenied(`${who.id} is not an operator`);
}

interface Entry extends Principal {
  tokenSha256: string;
}

/**
 * The credentials file, checked: a truncated or hand-edited file gets a message that says which
 * file and what to do, not a bare JSON parse error (and never its content: it holds hashes).
 */
function parseEntries(file: string, text: string): Entry[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error(`credentials file ${file} is not valid JSON (${text.length} bytes; truncated?): restore it from a backup or re-issue credentials with "synthgrad coordinator add-client"`);
  }
  const ok = (e: unknown): e is Entry =>
    typeof e === 'object' && e !== null && typeof (e as Entry).id === 'string' && ((e as Entry).role === 'client' || (e as Entry).role === 'operator') && /^[0-9a-f]{64}$/.test(String((e as Entry).tokenSha256));
  if (!Array.isArray(data) || !data.every(ok)) throw new Error(`credentials file ${file} is not a list of {id, role, tokenSha256} entries: restore it or re-issue credentials with "synthgrad coordinator add-client"`);
  return data;
}

const hash = (token: string) => createHash('sha256').update(token).digest();

export class Credentials {
  private entries: Entry[];

  constructor(private readonly file: string) {
    this.entries = existsSync(file) ? parseEntries(file, readFileSync(file, 'utf8')) : [];
  }

  /** Issue (or re-issue) a credential; returns the token, which is shown once and never stored. */
  add(id: string, role: Role): string {
    if (!CLIENT_ID.test(id)) throw new Error(`client id must be 1-64 characters of [A-Za-z0-9._-], not starting with ".", got ${JSON.stringify(id)}`);
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
