export { fixedPoint, encodeFixed, decodeFixed, addInto, subInto, quantisationBound, RING_BITS, type FixedPoint } from './ring.js';
export { split, combine, shareToString, shareFromString, P as SHAMIR_PRIME, type Share } from './shamir.js';
export { newAgreementKeyPair, agree, publicKeyOf, seal, open, type AgreementKeyPair } from './keys.js';
export { SecAggParty, SecAggServer, neighbourGraph, checkParams, type SecAggParams, type PartyState, type ServerState, type Advertisement, type SealedShare, type RevealedShare } from './protocol.js';
export { planDistributedNoise, encodeWithNoise, assertNoiseQuorum, type DistributedNoiseOptions, type DistributedNoisePlan } from './distributed-noise.js';
