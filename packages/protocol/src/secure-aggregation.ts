/**
 * What both ends of a secure-aggregation session derive from the session alone, so they agree
 * without a further message: the SecAgg+ parameters, the fixed-point and distributed-noise plan,
 * the layout of the masked vector, and the conversions between the library's round messages
 * (packages/core/src/secagg) and the wire's.
 *
 * Vector layout: class c's released rows (its label rows, [labels, d_model], row-major) at words
 * [c * labels * d_model, (c + 1) * labels * d_model). Under add/remove-one an example moves one
 * class block only, so the noise plan's sensitivities are those of one block (parallel
 * composition over classes, as without secure aggregation).
 */
import {
  fixedPoint,
  planDistributedNoise,
  type Advertisement,
  type DistributedNoisePlan,
  type RevealedShare,
  type SealedShare,
  type SecAggParams,
} from '@synthgrad/core';
import { SecAggShareKind, type SecAggKeys, type SecAggRevealedShare, type SecAggSealedShare, type Session } from './gen/synthgrad/v1/synthgrad.js';

/** Without a value in the request: how long a round after ADVERTISE waits for stragglers. */
export const DEFAULT_ROUND_TIMEOUT_MS = 120_000;

/** Coordinates of one class block of the masked vector: the class's label rows, [labels, d_model]. */
export const secAggBlockLength = (labels: number, dModel: number): number => labels * dModel;

/** The session's SecAgg+ parameters (complete neighbour graph: sessions have few owners). */
export function secAggParams(s: Session): SecAggParams {
  const a = s.secureAggregation;
  if (!a?.enabled) throw new RangeError(`session ${s.id} does not use secure aggregation`);
  return { sessionId: s.id, parties: [...a.parties], threshold: a.threshold, length: a.vectorLength };
}

/**
 * The fixed point and the Skellam noise each party adds, calibrated to the session's quorum
 * (min_clients): with at least that many parties' noise in the sum, the release of each class
 * block is (epsilon, delta)-DP. Without epsilon, fixed point alone (no noise, no guarantee).
 */
export function secAggNoisePlan(s: Session): DistributedNoisePlan {
  const a = s.secureAggregation!;
  const p = s.privacy!;
  const labels = s.task!.labels.length;
  const maxNorm = (p.maxExamples || 1000) * p.clip;
  const parties = a.parties.length;
  const blockLength = a.vectorLength / labels;
  if (!(p.epsilon > 0)) {
    const fp = fixedPoint(maxNorm, parties);
    return { fixedPoint: fp, muTotal: 0, muPerParty: 0, minParties: a.threshold, l1: 0, l2: 0, sigma: 0, epsilon: Infinity, delta: 0 };
  }
  return planDistributedNoise({ epsilon: p.epsilon, delta: p.delta, clip: p.clip, maxNorm, minParties: a.threshold, maxParties: parties, length: blockLength });
}

export const keysToWire = (a: Advertisement): SecAggKeys => ({ party: a.party, c: a.c, s: a.s });
export const keysFromWire = (k: SecAggKeys): Advertisement => ({ party: k.party, c: k.c, s: k.s });
export const sealedToWire = (m: SealedShare): SecAggSealedShare => ({ from: m.from, to: m.to, sealed: m.sealed });
export const sealedFromWire = (m: SecAggSealedShare): SealedShare => ({ from: m.from, to: m.to, sealed: m.sealed });

export function revealedToWire(r: RevealedShare): SecAggRevealedShare {
  return { of: r.of, kind: r.kind === 'self-mask' ? SecAggShareKind.SEC_AGG_SHARE_KIND_SELF_MASK : SecAggShareKind.SEC_AGG_SHARE_KIND_MASK_KEY, share: r.share };
}

export function revealedFromWire(r: SecAggRevealedShare): RevealedShare {
  if (r.kind === SecAggShareKind.SEC_AGG_SHARE_KIND_SELF_MASK) return { of: r.of, kind: 'self-mask', share: r.share };
  if (r.kind === SecAggShareKind.SEC_AGG_SHARE_KIND_MASK_KEY) return { of: r.of, kind: 'mask-key', share: r.share };
  throw new RangeError(`a revealed share of ${r.of} has no kind`);
}

/** Ring words to the wire's little-endian bytes and back (a length that is not a multiple of 4 is refused). */
export function wordsToBytes(y: Uint32Array): Buffer {
  const b = Buffer.alloc(y.length * 4);
  for (let i = 0; i < y.length; i++) b.writeUInt32LE(y[i], 4 * i);
  return b;
}

export function wordsFromBytes(b: Uint8Array): Uint32Array {
  if (b.length % 4 !== 0) throw new RangeError(`a masked vector of ${b.length} bytes is not whole 32-bit words`);
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const y = new Uint32Array(b.length / 4);
  for (let i = 0; i < y.length; i++) y[i] = buf.readUInt32LE(4 * i);
  return y;
}
