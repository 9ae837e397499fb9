/**
 * Dequantisation of GGML tensor data to float32.
 *
 * Block layouts follow ggml-common.h (all little-endian):
 *   Q8_0: { f16 d; i8 qs[32] }            x = d * q
 *   Q4_0: { f16 d; u8 qs[16] }            x[j] = d * (lo(qs[j]) - 8), x[j+16] = d * (hi(qs[j]) - 8)
 *   Q4_1: { f16 d; f16 m; u8 qs[16] }     x[j] = d * lo(qs[j]) + m,   x[j+16] = d * hi(qs[j]) + m
 * @huggingface/gguf parses headers but does not dequantise, hence this file.
 */
import { GGMLQuantizationType } from '@huggingface/gguf';
import { SynthgradError } from '../util/errors.js';
import { halfTable } from '../util/half.js';

interface BlockFormat {
  /** Elements per block. */
  blockSize: number;
  /** Bytes per block. */
  blockBytes: number;
  decode(src: Uint8Array, out: Float32Array, nBlocks: number): void;
}

const QK = 32;

const FORMATS: Partial<Record<GGMLQuantizationType, BlockFormat>> = {
  [GGMLQuantizationType.F32]: {
    blockSize: 1,
    blockBytes: 4,
    decode(src, out, n) {
      const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
    },
  },
  [GGMLQuantizationType.F16]: {
    blockSize: 1,
    blockBytes: 2,
    decode(src, out, n) {
      const t = halfTable();
      for (let i = 0; i < n; i++) out[i] = t[src[2 * i] | (src[2 * i + 1] << 8)];
    },
  },
  [GGMLQuantizationType.Q8_0]: {
    blockSize: QK,
    blockBytes: 2 + QK,
    decode(src, out, nBlocks) {
      const t = halfTable();
      for (let b = 0; b < nBlocks; b++) {
        const o = b * 34;
        const d = t[src[o] | (src[o + 1] << 8)];
        const base = b * QK;
        for (let j = 0; j < QK; j++) out[base + j] = d * ((src[o + 2 + j] << 24) >> 24);
      }
    },
  },
  [GGMLQuantizationType.Q4_0]: {
    blockSize: QK,
    blockBytes: 2 + QK / 2,
    decode(src, out, nBlocks) {
      const t = halfTable();
      for (let b = 0; b < nBlocks; b++) {
        const o = b * 18;
        const d = t[src[o] | (src[o + 1] << 8)];
        const base = b * QK;
        for (let j = 0; j < QK / 2; j++) {
          const q = src[o + 2 + j];
          out[base + j] = d * ((q & 0x0f) - 8);
          out[base + j + QK / 2] = d * ((q >> 4) - 8);
        }
      }
    },
  },
  [GGMLQuantizationType.Q4_1]: {
    blockSize: QK,
    blockBytes: 4 + QK / 2,
    decode(src, out, nBlocks) {
      const t = halfTable();
      for (let b = 0; b < nBlocks; b++) {
        const o = b * 20;
        const d = t[src[o] | (src[o + 1] << 8)];
        const m = t[src[o + 2] | (src[o + 3] << 8)];
        const base = b * QK;
        for (let j = 0; j < QK / 2; j++) {
          const q = src[o + 4 + j];
          out[base + j] = d * (q & 0x0f) + m;
          out[base + j + QK / 2] = d * (q >> 4) + m;
        }
      }
    },
  },
};

export const SUPPORTED_TYPES = Object.keys(FORMATS).map((k) => GGMLQuantizationType[Number(k)]);

export function typeName(type: GGMLQuantizationType): string {
  return GGMLQuantizationType[type] ?? `type ${type}`;
}

function formatOf(type: GGMLQuantizationType, what: string): BlockFormat {
  const fmt = FORMATS[type];
  if (!fmt) {
    throw new SynthgradError(
      `${what}: unsupported GGML tensor type ${typeName(type)}; supported: ${SUPPORTED_TYPES.join(', ')}`,
      'E_UNSUPPORTED_QUANT',
    );
  }
  return fmt;
}

/** Bytes that `nElements` of `type` occupy on disk. */
export function byteSize(type: GGMLQuantizationType, nElements: number, what = 'tensor'): number {
  const fmt = formatOf(type, what);
  if (nElements % fmt.blockSize !== 0) {
    throw new SynthgradError(`${what}: ${nElements} elements is not a whole number of ${typeName(type)} blocks`);
  }
  return (nElements / fmt.blockSize) * fmt.blockBytes;
}

/** Decode `nElements` values of `type` from `src` (exactly byteSize bytes) into a new Float32Array. */
export function dequantize(type: GGMLQuantizationType, src: Uint8Array, nElements: number, what = 'tensor'): Float32Array {
  const fmt = formatOf(type, what);
  const need = byteSize(type, nElements, what);
  if (src.byteLength < need) {
    throw new SynthgradError(`${what}: expected ${need} bytes of ${typeName(type)} data, got ${src.byteLength}`);
  }
  const out = new Float32Array(nElements);
  fmt.decode(src, out, nElements / fmt.blockSize);
  return out;
}
