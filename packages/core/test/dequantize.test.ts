import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { byteSize, dequantize, floatToHalfBits, halfTable } from '@synthgrad/core';

const dir = new URL('../../../test/fixtures/quant/', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('manifest.json', dir), 'utf8')) as {
  n: number;
  types: Record<string, { id: number; bytes: number }>;
};

describe('dequantisation against the gguf Python package', () => {
  for (const [name, { id, bytes }] of Object.entries(manifest.types)) {
    it(`${name} matches the reference bit for bit`, () => {
      const raw = new Uint8Array(readFileSync(new URL(`${name}.bin`, dir)));
      const want = new Float32Array(new Uint8Array(readFileSync(new URL(`${name}.f32`, dir))).buffer);
      expect(raw.length).toBe(bytes);
      expect(byteSize(id, manifest.n)).toBe(bytes);
      const got = dequantize(id, raw, manifest.n);
      expect(got.length).toBe(want.length);
      let maxDiff = 0;
      for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
      expect(maxDiff).toBe(0);
    });
  }

  it('rejects unsupported types with a message naming the type', () => {
    expect(() => dequantize(12 /* Q4_K */, new Uint8Array(144), 256, 'tensor x')).toThrow(/unsupported GGML tensor type Q4_K/);
  });

  it('rejects short data and partial blocks', () => {
    expect(() => dequantize(3, new Uint8Array(10), 32)).toThrow(/expected 20 bytes/);
    expect(() => byteSize(3, 33)).toThrow(/whole number of Q4_1 blocks/);
  });
});

describe('float16', () => {
  it('round-trips through the table for every finite half', () => {
    const t = halfTable();
    for (let h = 0; h < 65536; h++) {
      if (!Number.isFinite(t[h])) continue;
      const back = floatToHalfBits(t[h]);
      // +0 and -0 are distinct bit patterns with the same value
      expect(back === h || (t[h] === 0 && (back & 0x7fff) === 0)).toBe(true);
    }
  });
});
