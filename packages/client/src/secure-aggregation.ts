/**
 * A data owner's side of a secure-aggregation session: answer the coordinator's rounds
 * (proto/synthgrad/v1/synthgrad.proto) with the library's SecAggParty, so that what leaves this
 * machine is public keys, shares sealed for other owners, one masked vector (uniformly random to
 * anyone without the masks) and, at the end, the shares that let the coordinator remove the masks
 * of the sum only.
 *
 * The vector is every class's clipped sum (no local Gaussian noise) in fixed point plus this
 * party's Skellam share of the central noise, drawn from the owner's secret noise key: the sum of
 * at least `threshold` parties carries the noise of one central (epsilon, delta) release.
 *
 * Restarts: the party's secrets and every message it sent are saved (mode 0600, in the owner's
 * SYNTHGRAD_HOME, never the shared output folder) before the message leaves, so a restarted owner
 * resends exactly what it sent before instead of fresh shares or a fresh noise draw, which the
 * coordinator would refuse (and which could leak more than one release's worth).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';
import { deriveKey, encodeWithNoise, SecAggParty, SecureStream, synthgradHome, writeFileAtomic, SynthgradError, type PartyState } from '@synthgrad/core';
import {
  isTransient,
  keysFromWire,
  keysToWire,
  retry,
  revealedToWire,
  SecAggRound,
  secAggNoisePlan,
  secAggParams,
  sealedFromWire,
  wordsToBytes,
  type BackoffOptions,
  type CoordinatorClient,
  type SecAggReply,
  type SecAggRequest,
  type Session,
} from '@synthgrad/protocol';
import type { Metadata } from '@grpc/grpc-js';

/** SYNTHGRAD_HOME/secagg: one file per session with this owner's secrets for it. */
export const defaultSecAggStateDir = (): string => join(synthgradHome(), 'secagg');

export interface SecureAggregateOptions {
  client: CoordinatorClient;
  metadata: () => Metadata;
  session: Session;
  /** Every class's clipped sum of released rows, in class order (the vector layout of protocol/secure-aggregation.ts). */
  values: Float32Array;
  /** The session's noise key (sessionNoiseKey): the Skellam share is drawn from it. */
  noiseKey: Uint8Array;
  stateDir?: string;
  /** How often to ask whether the round moved on (default 500 ms). */
  pollMs?: number;
  backoff?: BackoffOptions;
  log?: (m: string) => void;
}

export interface SecureAggregateResult {
  /** False: this owner missed a round and its data is not in the sum. */
  included: boolean;
  party: string;
}

interface SavedParty {
  version: 1;
  party: PartyState;
  /** What was sent for each round, resent verbatim after a restart (the masked words as base64). */
  sent: Partial<Record<'advertise' | 'share' | 'mask' | 'unmask', SavedRequest>>;
}

type SavedRequest = Omit<SecAggRequest, 'masked'> & { masked: string };
const toSaved = (m: SecAggRequest): SavedRequest => ({ ...m, masked: Buffer.from(m.masked).toString('base64') });
const fromSaved = (m: SavedRequest): SecAggRequest => ({ ...m, masked: Buffer.from(m.masked, 'base64') });

const roundName = (r: SecAggRound) => SecAggRound[r]?.replace('SEC_AGG_ROUND_', '').toLowerCase() ?? String(r);

export async function secureAggregate(o: SecureAggregateOptions): Promise<SecureAggregateResult> {
  const log = o.log ?? (() => {});
  const sessionId = o.session.id;
  const call = (req: SecAggRequest) =>
    retry(
      () =>
        new Promise<SecAggReply>((resolve, reject) =>
          o.client.secureAggregate(req, o.metadata(), { deadline: new Date(Date.now() + 30_000) }, (e, r) => (e ? reject(e) : resolve(r!))),
        ),
      { ...o.backoff, retryable: isTransient, onRetry: (e: unknown, d: number) => log(`secure aggregation: ${(e as ServiceError).details}; retrying in ${(d / 1000).toFixed(1)}s`) },
    );
  const params = secAggParams(o.session);
  if (o.values.length !== params.length) throw new SynthgradError(`secure aggregation: the contribution has ${o.values.length} numbers, the session's vector ${params.length}`, 'E_SHAPE_MISMATCH');
  const plan = secAggNoisePlan(o.session);
  /** A request for `round` with no field set yet (UNSPECIFIED: only asking where the aggregation is). */
  const base = (round = SecAggRound.SEC_AGG_ROUND_UNSPECIFIED): SecAggRequest => ({ sessionId, round, keys: undefined, shares: [], masked: Buffer.alloc(0), revealed: [], survivors: [] });
  let r = await call(base());
  const dir = o.stateDir ?? defaultSecAggStateDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${sessionId}.${r.party}.json`);
  const saved: SavedParty = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as SavedParty) : { version: 1, party: new SecAggParty(params, r.party).toState(), sent: {} };
  const party = SecAggParty.fromState(saved.party);
  const save = () => {
    saved.party = party.toState();
    writeFileAtomic(file, JSON.stringify(saved), { mode: 0o600 });
  };
  /** The message for this round: the one sent before, or a new one saved before it is sent. */
  const message = (key: keyof SavedParty['sent'], make: () => SecAggRequest): SecAggRequest => {
    const had = saved.sent[key];
    if (had) return fromSaved(had);
    const m = make();
    saved.sent[key] = toSaved(m);
    save();
    return m;
  };
  let lastRound = SecAggRound.SEC_AGG_ROUND_UNSPECIFIED;
  for (;;) {
    if (r.excluded) {
      log(`secure aggregation: ${r.message}`);
      return { included: false, party: r.party };
    }
    if (r.round !== lastRound) {
      log(`secure aggregation: round ${roundName(r.round)}`);
      lastRound = r.round;
    }
    if (r.round === SecAggRound.SEC_AGG_ROUND_DONE) return { included: true, party: r.party };
    if (r.answered) {
      await new Promise((res) => setTimeout(res, o.pollMs ?? 500));
      r = await call(base());
      continue;
    }
    let req: SecAggRequest;
    switch (r.round) {
      case SecAggRound.SEC_AGG_ROUND_ADVERTISE:
        req = message('advertise', () => ({ ...base(r.round), keys: keysToWire(party.advertise()) }));
        break;
      case SecAggRound.SEC_AGG_ROUND_SHARE: {
        const keys = r.keys.map(keysFromWire);
        req = message('share', () => ({ ...base(r.round), shares: party.shareKeys(keys) }));
        break;
      }
      case SecAggRound.SEC_AGG_ROUND_MASK: {
        const shares = r.shares.map(sealedFromWire);
        req = message('mask', () => {
          const noise = new SecureStream(deriveKey(o.noiseKey, 'secagg-skellam', sessionId));
          const y = party.maskedInput(shares, encodeWithNoise(o.values, plan, noise));
          return { ...base(r.round), masked: wordsToBytes(y) };
        });
        break;
      }
      case SecAggRound.SEC_AGG_ROUND_UNMASK: {
        const survivors = r.survivors;
        req = message('unmask', () => ({ ...base(r.round), survivors: [...survivors], revealed: party.unmask(survivors).map(revealedToWire) }));
        break;
      }
      default:
        throw new SynthgradError(`secure aggregation: the coordinator is in an unknown round ${r.round}`, 'E_PROTOCOL');
    }
    r = await call(req);
  }
}
