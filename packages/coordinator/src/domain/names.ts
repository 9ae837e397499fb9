/**
 * Names that become file names under the coordinator's state directory: client ids (from the
 * operator's credentials) and upload ids (chosen by clients). Both are checked against one
 * conservative pattern before they touch a path, so no id can climb out of its folder, and
 * uploads are stored per client folder, so no choice of ids can make one client's upload collide
 * with another's (the old flat `client.upload` name let client "a" squat "a.b"'s uploads).
 */
import { invalidArgument, quote } from './errors.js';

/** 1-64 characters of [A-Za-z0-9._-], not starting with a dot (no ".", "..", hidden files). */
export const CLIENT_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;
/** 8-128 characters of [A-Za-z0-9._-], not starting with a dot. */
export const UPLOAD_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{7,127}$/;

export function checkUploadId(id: string): string {
  if (typeof id !== 'string' || !UPLOAD_ID.test(id)) throw invalidArgument(`upload_id ${quote(id)} must be 8-128 characters of [A-Za-z0-9._-], not starting with "."`);
  return id;
}

export function checkClientId(id: string): string {
  if (typeof id !== 'string' || !CLIENT_ID.test(id)) throw invalidArgument(`client id ${quote(id)} must be 1-64 characters of [A-Za-z0-9._-], not starting with "."`);
  return id;
}

/** Where one client's upload lives: a key that is a safe relative path, `client/upload`. */
export interface UploadKey {
  clientId: string;
  uploadId: string;
}

export const keyString = (k: UploadKey) => `${k.clientId}/${k.uploadId}`;

export function parseKey(s: string): UploadKey {
  const [clientId, uploadId, ...rest] = s.split('/');
  if (rest.length || !clientId || !uploadId) throw invalidArgument(`malformed upload key ${quote(s)}`);
  return { clientId: checkClientId(clientId), uploadId: checkUploadId(uploadId) };
}
