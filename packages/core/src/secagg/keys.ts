/**
 * Key agreement and share encryption for secure aggregation, all from node:crypto: X25519 key
 * pairs (RFC 7748), HKDF-SHA256 to derive purpose-bound keys from a shared secret, and AES-256-GCM
 * for the Shamir shares one party sends another through the coordinator (which can route them but
 * not read them). Public keys travel as base64url of their 32 raw bytes.
 */
import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { SynthgradError } from '../util/errors.js';

export interface AgreementKeyPair {
  /** base64url of the raw public key. */
  publicKey: string;
  /** The raw 32-byte private scalar (what Shamir shares). */
  secret: Buffer;
}

export function newAgreementKeyPair(): AgreementKeyPair {
  const { privateKey } = generateKeyPairSync('x25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return { publicKey: jwk.x!, secret: Buffer.from(jwk.d!, 'base64url') };
}

function publicKeyObject(publicKey: string): KeyObject {
  if (!/^[A-Za-z0-9_-]{43}$/.test(publicKey)) throw new SynthgradError('secure aggregation: a public key is 32 bytes in base64url', 'E_INPUT');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: publicKey }, format: 'jwk' });
}

/**
 * X25519(secret, peer) through HKDF-SHA256 with a purpose label: the same 32 bytes on both sides,
 * different for every purpose (share encryption, pairwise masks) and session.
 */
export function agree(secret: Uint8Array, peerPublicKey: string, purpose: string): Buffer {
  const shared = diffieHellman({ privateKey: privateKeyObject(secret), publicKey: publicKeyObject(peerPublicKey) });
  return Buffer.from(hkdfSync('sha256', shared, Buffer.alloc(0), purpose, 32));
}

/** The public key of a raw secret (to check a reconstructed secret). */
export function publicKeyOf(secret: Uint8Array): string {
  return createPublicKey(privateKeyObject(secret)).export({ format: 'jwk' }).x!;
}

/** A raw 32-byte X25519 scalar as a key object: PKCS#8 DER is a fixed 16-byte prefix and the scalar. */
function privateKeyObject(secret: Uint8Array): KeyObject {
  if (secret.length !== 32) throw new SynthgradError('secure aggregation: an agreement secret is 32 bytes', 'E_INPUT');
  const der = Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), Buffer.from(secret)]);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

/** AES-256-GCM: iv (12) || tag (16) || ciphertext, bound to `aad`. */
export function seal(key: Uint8Array, plaintext: Uint8Array, aad: string): Buffer {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad));
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]);
}

export function open(key: Uint8Array, sealed: Uint8Array, aad: string): Buffer {
  if (sealed.length < 28) throw new SynthgradError('secure aggregation: a sealed share is too short', 'E_INPUT');
  const b = Buffer.from(sealed);
  const d = createDecipheriv('aes-256-gcm', key, b.subarray(0, 12));
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(b.subarray(12, 28));
  try {
    return Buffer.concat([d.update(b.subarray(28)), d.final()]);
  } catch {
    throw new SynthgradError('secure aggregation: a sealed share failed authentication (wrong sender, recipient or session, or tampered)', 'E_INPUT');
  }
}
