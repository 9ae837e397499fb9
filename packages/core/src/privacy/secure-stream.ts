/**
 * Cryptographically secure random streams for everything privacy rests on: the Gaussian noise of
 * a released target and the masks of secure aggregation. A stream is the ChaCha20 keystream of a
 * 32-byte key (node:crypto, RFC 8439 with a zero nonce and counter 0), so it is unpredictable to
 * anyone without the key and reproducible by its holder: a restarted data owner recomputes
 * exactly the noise it drew before, and never releases two noise draws of the same sum.
 *
 * Why not util/rng.ts: mulberry32 from a 32-bit seed is fine for sampling and shuffles, but noise
 * that anyone can regenerate from the seed protects nothing (an earlier client seeded its noise
 * from the sha256 of its bearer token, which the coordinator stores).
 */
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { SynthgradError } from '../util/errors.js';

export const KEY_BYTES = 32;

/** A fresh secret key from the operating system's CSPRNG. */
export function newSecretKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/** Parse a key written as 64 hex digits (what a key file holds). */
export function keyFromHex(hex: string, what = 'secret key'): Buffer {
  const s = hex.trim();
  if (!/^[0-9a-f]{64}$/i.test(s)) throw new SynthgradError(`${what} must be ${KEY_BYTES * 2} hex digits`, 'E_INPUT');
  return Buffer.from(s, 'hex');
}

export class SecureStream {
  private readonly cipher;
  private buf = Buffer.alloc(0);
  private pos = 0;
  private spare: number | null = null;

  constructor(key: Uint8Array) {
    if (key.length !== KEY_BYTES) throw new SynthgradError(`a stream key is ${KEY_BYTES} bytes, got ${key.length}`, 'E_INPUT');
    this.cipher = createCipheriv('chacha20', key, Buffer.alloc(16));
  }

  /** A sub-stream for a purpose: the key HMAC-SHA256(key, parts joined by '/'). Independent streams for different parts. */
  static derive(key: Uint8Array, ...parts: (string | number)[]): SecureStream {
    return new SecureStream(deriveKey(key, ...parts));
  }

  /** The next n bytes of the keystream. */
  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    let filled = 0;
    while (filled < n) {
      if (this.pos >= this.buf.length) {
        this.buf = this.cipher.update(Buffer.alloc(Math.max(4096, n - filled)));
        this.pos = 0;
      }
      const take = Math.min(n - filled, this.buf.length - this.pos);
      this.buf.copy(out, filled, this.pos, this.pos + take);
      this.pos += take;
      filled += take;
    }
    return out;
  }

  /** n uniform 32-bit words (little-endian). */
  uint32s(n: number): Uint32Array {
    const b = this.bytes(4 * n);
    return new Uint32Array(b.buffer, b.byteOffset, n).slice();
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const w = this.bytes(8);
    const hi = w.readUInt32LE(0) >>> 5; // 27 bits
    const lo = w.readUInt32LE(4) >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal by Box-Muller (both values of a pair are used). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const u = 1 - this.uniform(); // (0, 1]: the log is finite
    const r = Math.sqrt(-2 * Math.log(u));
    const t = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(t);
    return r * Math.cos(t);
  }
}

/** HMAC-SHA256(key, parts joined by '/'): a 32-byte key for one purpose. */
export function deriveKey(key: Uint8Array, ...parts: (string | number)[]): Buffer {
  return createHmac('sha256', key).update(parts.join('/')).digest();
}
