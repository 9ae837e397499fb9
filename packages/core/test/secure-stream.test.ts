/**
 * The secure random stream behind target noise and secure-aggregation masks: the ChaCha20
 * keystream of RFC 8439 (known answer), independent derived streams, and the moments of its
 * uniforms and normals.
 */
import { describe, expect, it } from 'vitest';
import { SecureStream, deriveKey, keyFromHex, newSecretKey } from '@synthgrad/core';

describe('secure stream', () => {
  it('is the ChaCha20 keystream of RFC 8439 (appendix A.1, test vector 1), read in any chunking', () => {
    const want = '76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586';
    expect(new SecureStream(Buffer.alloc(32)).bytes(64).toString('hex')).toBe(want);
    const s = new SecureStream(Buffer.alloc(32));
    expect(Buffer.concat([s.bytes(5), s.bytes(27), s.bytes(32)]).toString('hex')).toBe(want);
  });

  it('derives independent streams per purpose and reproduces them from the key', () => {
    const key = newSecretKey();
    const a = SecureStream.derive(key, 'target-noise', 0).bytes(32);
    expect(SecureStream.derive(Buffer.from(key), 'target-noise', 0).bytes(32)).toEqual(a);
    expect(SecureStream.derive(key, 'target-noise', 1).bytes(32)).not.toEqual(a);
    expect(deriveKey(key, 'a', 1)).toHaveLength(32);
    expect(newSecretKey()).not.toEqual(key);
    expect(() => new SecureStream(Buffer.alloc(16))).toThrow(/32 bytes/);
    expect(() => keyFromHex('abc')).toThrow(/64 hex digits/);
    expect(keyFromHex(key.toString('hex'))).toEqual(key);
  });

  it('gives uniforms in [0, 1) and standard normals with the right moments', () => {
    const s = SecureStream.derive(newSecretKey(), 'moments');
    const n = 200_000;
    let m = 0;
    let v = 0;
    let m4 = 0;
    let umin = 1;
    let umax = 0;
    for (let i = 0; i < n; i++) {
      const u = s.uniform();
      umin = Math.min(umin, u);
      umax = Math.max(umax, u);
      const x = s.normal();
      m += x;
      v += x * x;
      m4 += x ** 4;
    }
    expect(umin).toBeGreaterThanOrEqual(0);
    expect(umax).toBeLessThan(1);
    // Standard errors: mean 1/sqrt(n) = 0.0022, variance sqrt(2/n) = 0.0032, fourth moment sqrt(96/n) = 0.022.
    expect(Math.abs(m / n)).toBeLessThan(0.012);
    expect(Math.abs(v / n - 1)).toBeLessThan(0.016);
    expect(Math.abs(m4 / n - 3)).toBeLessThan(0.11);
  });
});
