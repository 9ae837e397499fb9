/**
 * Fixed point in the ring Z_{2^32}, where secure aggregation adds masked vectors. A real value x
 * with |x| <= bound is encoded as round(x * scale) mod 2^32; a sum of k encodings decodes
 * exactly (as a signed 32-bit integer, divided by scale) as long as no partial sum leaves
 * (-2^31, 2^31), which `fixedPoint` guarantees by choosing scale <= (2^31 - 1 - k) / (k bound):
 * |sum of k rounded values| <= k (bound scale + 1/2) < 2^31. Rounding costs at most 1/(2 scale)
 * per value, k/(2 scale) per decoded coordinate: the quantisation bound the tests check.
 */
import { SynthgradError } from '../util/errors.js';

export const RING_BITS = 32;
const HALF = 2 ** 31;

export interface FixedPoint {
  /** Largest |value| one party may encode (larger values are refused, not wrapped). */
  bound: number;
  /** Parties whose encodings may be summed. */
  parties: number;
  /** Encoding scale: x -> round(x * scale). */
  scale: number;
}

/** The largest scale at which `parties` values of magnitude <= bound sum without overflow. */
export function fixedPoint(bound: number, parties: number): FixedPoint {
  if (!(bound > 0 && Number.isFinite(bound))) throw new SynthgradError(`fixed point: the value bound must be a positive number, got ${bound}`, 'E_USAGE');
  if (!(Number.isInteger(parties) && parties >= 1)) throw new SynthgradError(`fixed point: parties must be a positive integer, got ${parties}`, 'E_USAGE');
  const scale = (HALF - 1 - parties) / (parties * bound);
  if (!(scale >= 1)) throw new SynthgradError(`fixed point: ${parties} values of magnitude ${bound} do not fit 32 bits at unit resolution`, 'E_USAGE');
  return { bound, parties, scale };
}

/** Largest error of one decoded coordinate of a sum of `parties` encodings. */
export const quantisationBound = (fp: FixedPoint, parties = fp.parties): number => parties / (2 * fp.scale);

/** Encode values in the ring; a non-finite value or one beyond the bound is an error. */
export function encodeFixed(values: ArrayLike<number>, fp: FixedPoint): Uint32Array {
  const out = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (!Number.isFinite(x) || Math.abs(x) > fp.bound) throw new SynthgradError(`fixed point: value ${x} at ${i} is outside [-${fp.bound}, ${fp.bound}]`, 'E_INPUT');
    out[i] = Math.round(x * fp.scale) >>> 0; // two's complement: negatives wrap to the top half
  }
  return out;
}

/** Decode a ring vector (a sum of at most fp.parties encodings) to reals. */
export function decodeFixed(ring: Uint32Array, fp: FixedPoint): Float64Array {
  const out = new Float64Array(ring.length);
  for (let i = 0; i < ring.length; i++) out[i] = (ring[i] | 0) / fp.scale;
  return out;
}

/** a += b (mod 2^32), in place. */
export function addInto(a: Uint32Array, b: Uint32Array): Uint32Array {
  if (a.length !== b.length) throw new SynthgradError(`ring vectors differ in length (${a.length} vs ${b.length})`, 'E_SHAPE_MISMATCH');
  for (let i = 0; i < a.length; i++) a[i] = (a[i] + b[i]) >>> 0;
  return a;
}

/** a -= b (mod 2^32), in place. */
export function subInto(a: Uint32Array, b: Uint32Array): Uint32Array {
  if (a.length !== b.length) throw new SynthgradError(`ring vectors differ in length (${a.length} vs ${b.length})`, 'E_SHAPE_MISMATCH');
  for (let i = 0; i < a.length; i++) a[i] = (a[i] - b[i]) >>> 0;
  return a;
}
