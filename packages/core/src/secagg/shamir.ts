/**
 * Shamir secret sharing of 32-byte secrets over the prime field GF(p), p = 2^521 - 1 (a Mersenne
 * prime, so every 256-bit secret is a field element). A secret is the constant term of a random
 * polynomial of degree threshold - 1; party x (1, 2, ...) holds its value at x. Any `threshold`
 * shares give the secret back by Lagrange interpolation at 0; fewer reveal nothing about it.
 * Coefficients are drawn uniformly by rejection from the OS's CSPRNG.
 */
import { randomBytes } from 'node:crypto';
import { SynthgradError } from '../util/errors.js';

export const P = (1n << 521n) - 1n;

export interface Share {
  /** The party's evaluation point, 1-based. */
  x: number;
  /** The polynomial's value there, in [0, p). */
  y: bigint;
}

const mod = (a: bigint) => ((a % P) + P) % P;

function randomFieldElement(): bigint {
  for (;;) {
    const b = randomBytes(66);
    b[0] &= 0x01; // 66 bytes = 528 bits; keep the low 521
    const v = BigInt(`0x${b.toString('hex')}`);
    if (v < P) return v;
  }
}

function modPow(base: bigint, exp: bigint): bigint {
  let r = 1n;
  let b = mod(base);
  let e = exp;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return r;
}

const inverse = (a: bigint) => modPow(a, P - 2n);

/** Shares of `secret` (at most 64 bytes) for parties 1..parties, any `threshold` of which recover it. */
export function split(secret: Uint8Array, threshold: number, parties: number): Share[] {
  if (secret.length === 0 || secret.length > 64) throw new SynthgradError(`shamir: a secret is 1 to 64 bytes, got ${secret.length}`, 'E_USAGE');
  if (!(Number.isInteger(threshold) && threshold >= 1 && Number.isInteger(parties) && parties >= threshold)) {
    throw new SynthgradError(`shamir: need 1 <= threshold (${threshold}) <= parties (${parties})`, 'E_USAGE');
  }
  const coeffs = [BigInt(`0x${Buffer.from(secret).toString('hex')}`)];
  for (let i = 1; i < threshold; i++) coeffs.push(randomFieldElement());
  return Array.from({ length: parties }, (_, k) => {
    const x = BigInt(k + 1);
    let y = 0n;
    for (let i = coeffs.length - 1; i >= 0; i--) y = (y * x + coeffs[i]) % P; // Horner
    return { x: k + 1, y };
  });
}

/** The secret (of `bytes` bytes) from at least `threshold` distinct shares. */
export function combine(shares: Share[], threshold: number, bytes = 32): Buffer {
  const distinct = [...new Map(shares.map((s) => [s.x, s])).values()];
  if (distinct.length < threshold) throw new SynthgradError(`shamir: ${distinct.length} distinct shares, ${threshold} needed`, 'E_THRESHOLD');
  const use = distinct.slice(0, threshold);
  let secret = 0n;
  for (const [i, si] of use.entries()) {
    let num = 1n;
    let den = 1n;
    for (const [j, sj] of use.entries()) {
      if (i === j) continue;
      num = (num * BigInt(-sj.x)) % P;
      den = (den * BigInt(si.x - sj.x)) % P;
    }
    secret = mod(secret + si.y * mod(num) * inverse(mod(den)));
  }
  const hex = secret.toString(16);
  if (hex.length > 2 * bytes) throw new SynthgradError('shamir: the shares do not belong to one secret of this size', 'E_INPUT');
  return Buffer.from(hex.padStart(2 * bytes, '0'), 'hex');
}

/** A share as text (for the wire and for storage). */
export const shareToString = (s: Share): string => `${s.x}:${s.y.toString(16)}`;

export function shareFromString(t: string): Share {
  const m = /^(\d+):([0-9a-f]+)$/.exec(t);
  if (!m) throw new SynthgradError('shamir: malformed share', 'E_INPUT');
  const y = BigInt(`0x${m[2]}`);
  const x = Number(m[1]);
  if (!(x >= 1 && y < P)) throw new SynthgradError('shamir: share out of range', 'E_INPUT');
  return { x, y };
}
