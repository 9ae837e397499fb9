/**
 * Secure aggregation (Bonawitz et al., CCS 2017, with the sparse neighbour graph of SecAgg+,
 * Bell et al., CCS 2020, as in Flower): the coordinator learns the sum of the parties' ring
 * vectors and nothing else about any one of them, even when parties drop out after masking.
 * Transport-agnostic state machines: every method takes and returns plain messages, so a test
 * can run the rounds in memory and the federation can carry them over gRPC.
 *
 * Rounds, for party i with neighbours N(i) (everyone, or a Harary graph of degree k on a public
 * seeded ordering):
 *   0. advertise: two fresh X25519 public keys, c_i (share encryption) and s_i (masks).
 *   1. share keys: a random self-mask seed b_i and the mask secret s_i^SK are each split
 *      t-of-(|N(i)| + 1) (Shamir) among i and its neighbours; neighbour j's shares go to j sealed
 *      under AES-GCM with agree(c_i, c_j), i keeps its own.
 *   2. masked input: y_i = x_i + PRG(b_i) + sum_{j in N(i) that shared} sign(i, j) PRG(s_ij) mod 2^32,
 *      s_ij = agree(s_i, s_j), sign +1 when i precedes j and -1 otherwise, so pairwise masks
 *      cancel in the sum.
 *   3. unmask: given who sent y (survivors), each survivor reveals, for each neighbour j that
 *      shared, the share of b_j if j survived and the share of s_j^SK if it did not (never both:
 *      an honest party refuses a survivor set smaller than the threshold). The coordinator
 *      rebuilds each survivor's b_j and subtracts PRG(b_j), and each dropped party's s_j^SK to
 *      remove the pairwise masks it left in its survivors' vectors.
 * The sum is that of the survivors' x. A single y_i is x_i plus PRG(b_i): uniformly distributed
 * whatever x_i is, for anyone without b_i (which needs t colluding neighbours).
 *
 * Threat model (stated in the README): an honest-but-curious coordinator that follows the
 * protocol, fewer than t colluding parties per neighbourhood. Without signatures on round 0
 * (SecAgg's active-security variant) a malicious coordinator could substitute keys.
 */
import { randomBytes } from 'node:crypto';
import { SecureStream } from '../privacy/secure-stream.js';
import { Rng } from '../util/rng.js';
import { SynthgradError } from '../util/errors.js';
import { agree, newAgreementKeyPair, open, publicKeyOf, seal, type AgreementKeyPair } from './keys.js';
import { combine, shareFromString, shareToString, split, type Share } from './shamir.js';
import { addInto, subInto } from './ring.js';

export interface SecAggParams {
  /** Binds every key, mask and sealed share to this aggregation (a session and class, say). */
  sessionId: string;
  /** Every party, in the order that fixes mask signs and evaluation points. */
  parties: string[];
  /** Shares needed to rebuild a party's secret, out of its neighbours' and its own: at least 2, at most the smallest neighbourhood plus one. */
  threshold: number;
  /** Neighbours of each party (even; default every other party). */
  degree?: number;
  /** Ring words in each vector. */
  length: number;
}

export interface Advertisement {
  party: string;
  /** Share-encryption public key. */
  c: string;
  /** Mask-agreement public key. */
  s: string;
}

export interface SealedShare {
  from: string;
  to: string;
  /** base64 of iv || tag || AES-GCM(JSON { b, s }) */
  sealed: string;
}

export interface RevealedShare {
  /** Whose secret this share is of. */
  of: string;
  kind: 'self-mask' | 'mask-key';
  share: string;
}

/** Neighbours of every party: the complete graph, or the Harary graph H(degree, n) on a seeded order. */
export function neighbourGraph(p: SecAggParams): Map<string, string[]> {
  const n = p.parties.length;
  if (new Set(p.parties).size !== n) throw new SynthgradError('secure aggregation: party ids must be distinct', 'E_USAGE');
  const k = p.degree ?? n - 1;
  if (k >= n - 1) return new Map(p.parties.map((a) => [a, p.parties.filter((b) => b !== a)]));
  if (!(k >= 2 && k % 2 === 0)) throw new SynthgradError(`secure aggregation: degree must be even and at least 2, got ${k}`, 'E_USAGE');
  const ring = Rng.derive(0, 'secagg-graph', p.sessionId).shuffle(p.parties);
  const g = new Map<string, string[]>();
  ring.forEach((a, i) => {
    const ns: string[] = [];
    for (let d = 1; d <= k / 2; d++) ns.push(ring[(i + d) % n], ring[(i - d + n) % n]);
    g.set(a, ns);
  });
  return g;
}

export function checkParams(p: SecAggParams): Map<string, string[]> {
  if (!p.sessionId) throw new SynthgradError('secure aggregation: a session id is required', 'E_USAGE');
  if (!(Number.isInteger(p.length) && p.length >= 1)) throw new SynthgradError(`secure aggregation: vector length must be a positive integer, got ${p.length}`, 'E_USAGE');
  if (p.parties.length < 2) throw new SynthgradError('secure aggregation needs at least two parties', 'E_USAGE');
  const g = neighbourGraph(p);
  const smallest = Math.min(...[...g.values()].map((ns) => ns.length)) + 1;
  if (!(Number.isInteger(p.threshold) && p.threshold >= 2 && p.threshold <= smallest)) {
    throw new SynthgradError(`secure aggregation: threshold must be an integer in [2, ${smallest}] (the smallest neighbourhood with its party), got ${p.threshold}`, 'E_USAGE');
  }
  return g;
}

const order = (p: SecAggParams, a: string) => p.parties.indexOf(a);
/** PRG expansion of a 32-byte seed into `length` ring words. */
const prg = (seed: Uint8Array, length: number) => new SecureStream(seed).uint32s(length);
const maskPurpose = (p: SecAggParams) => `synthgrad-secagg/v1/mask/${p.sessionId}`;
const sealPurpose = (p: SecAggParams) => `synthgrad-secagg/v1/share/${p.sessionId}`;
const aad = (p: SecAggParams, from: string, to: string) => `${p.sessionId}/${from}/${to}`;

/**
 * Everything a party must keep to finish after a restart: its secrets (store it like a private
 * key: mode 0600, on the owner's machine), the keys it was relayed, the shares it holds, and the
 * survivor set it answered, so that it never answers the unmasking round for two different sets.
 */
export interface PartyState {
  version: 1;
  params: SecAggParams;
  id: string;
  c: { publicKey: string; secret: string };
  s: { publicKey: string; secret: string };
  selfSeed: string;
  keys: Advertisement[];
  held: [string, { b: string; s: string }][];
  ownShares: { b: string; s: string } | null;
  answered: string[] | null;
}

/** One party's side. Its secrets never leave it except as sealed shares and, in round 3, the shares the protocol allows. */
export class SecAggParty {
  private readonly graph: Map<string, string[]>;
  private readonly c: AgreementKeyPair;
  private readonly s: AgreementKeyPair;
  private readonly selfSeed: Buffer;
  private keys = new Map<string, Advertisement>();
  /** Shares other parties sealed for this one: party -> { b, s }. */
  private held = new Map<string, { b: string; s: string }>();
  /** The survivor set this party answered round 3 for (null: not yet). */
  private answered: string[] | null = null;
  /** This party's own share of its secrets (it reveals the self-mask one if it survives). */
  private ownShares: { b: string; s: string } | null = null;

  constructor(
    readonly params: SecAggParams,
    readonly id: string,
    state?: PartyState,
  ) {
    this.graph = checkParams(params);
    if (!params.parties.includes(id)) throw new SynthgradError(`secure aggregation: ${id} is not a party`, 'E_USAGE');
    if (state) {
      if (state.version !== 1 || state.id !== id || JSON.stringify(state.params) !== JSON.stringify(params)) throw new SynthgradError('secure aggregation: the saved party state is for another party or aggregation', 'E_INPUT');
      this.c = { publicKey: state.c.publicKey, secret: Buffer.from(state.c.secret, 'hex') };
      this.s = { publicKey: state.s.publicKey, secret: Buffer.from(state.s.secret, 'hex') };
      this.selfSeed = Buffer.from(state.selfSeed, 'hex');
      this.keys = new Map(state.keys.map((a) => [a.party, a]));
      this.held = new Map(state.held);
      this.ownShares = state.ownShares;
      this.answered = state.answered;
    } else {
      this.c = newAgreementKeyPair();
      this.s = newAgreementKeyPair();
      this.selfSeed = randomBytes(32);
    }
  }

  /** What to save after every round (see PartyState). */
  toState(): PartyState {
    return {
      version: 1,
      params: this.params,
      id: this.id,
      c: { publicKey: this.c.publicKey, secret: this.c.secret.toString('hex') },
      s: { publicKey: this.s.publicKey, secret: this.s.secret.toString('hex') },
      selfSeed: this.selfSeed.toString('hex'),
      keys: [...this.keys.values()],
      held: [...this.held.entries()],
      ownShares: this.ownShares,
      answered: this.answered,
    };
  }

  static fromState(state: PartyState): SecAggParty {
    return new SecAggParty(state.params, state.id, state);
  }

  get neighbours(): string[] {
    return this.graph.get(this.id)!;
  }

  /** Who holds a share of this party's secrets: itself first, then its neighbours (evaluation points 1, 2, ...). */
  private get holders(): string[] {
    return [this.id, ...this.neighbours];
  }

  /** Round 0. */
  advertise(): Advertisement {
    return { party: this.id, c: this.c.publicKey, s: this.s.publicKey };
  }

  /** Round 1: from the advertisements the coordinator relays, sealed shares for each neighbour that advertised. */
  shareKeys(ads: Advertisement[]): SealedShare[] {
    for (const a of ads) if (this.params.parties.includes(a.party)) this.keys.set(a.party, a);
    const mine = this.keys.get(this.id);
    if (!mine || mine.c !== this.c.publicKey || mine.s !== this.s.publicKey) throw new SynthgradError('secure aggregation: the relayed keys do not include this party\'s own', 'E_PROTOCOL');
    const present = this.neighbours.filter((j) => this.keys.has(j));
    if (present.length + 1 < this.params.threshold) throw new SynthgradError(`secure aggregation: ${present.length} neighbours advertised keys, the threshold is ${this.params.threshold}`, 'E_THRESHOLD');
    // Evaluation point of holder j: its position among the holders, plus one.
    const bShares = split(this.selfSeed, this.params.threshold, this.holders.length);
    const sShares = split(this.s.secret, this.params.threshold, this.holders.length);
    this.ownShares = { b: shareToString(bShares[0]), s: shareToString(sShares[0]) };
    return present.map((j) => {
      const x = this.holders.indexOf(j);
      const key = agree(this.c.secret, this.keys.get(j)!.c, sealPurpose(this.params));
      const body = Buffer.from(JSON.stringify({ b: shareToString(bShares[x]), s: shareToString(sShares[x]) }));
      return { from: this.id, to: j, sealed: seal(key, body, aad(this.params, this.id, j)).toString('base64') };
    });
  }

  /** Round 2: open the shares sealed for this party, then mask `value` (a ring vector). */
  maskedInput(received: SealedShare[], value: Uint32Array): Uint32Array {
    if (value.length !== this.params.length) throw new SynthgradError(`secure aggregation: the input has ${value.length} words, the session ${this.params.length}`, 'E_SHAPE_MISMATCH');
    for (const m of received) {
      if (m.to !== this.id || !this.neighbours.includes(m.from) || !this.keys.has(m.from)) throw new SynthgradError(`secure aggregation: a share from ${m.from} to ${m.to} is not for this party`, 'E_PROTOCOL');
      const key = agree(this.c.secret, this.keys.get(m.from)!.c, sealPurpose(this.params));
      this.held.set(m.from, JSON.parse(open(key, Buffer.from(m.sealed, 'base64'), aad(this.params, m.from, this.id)).toString()) as { b: string; s: string });
    }
    const y = Uint32Array.from(value);
    addInto(y, prg(this.selfSeed, y.length));
    for (const j of this.held.keys()) {
      const mask = prg(agree(this.s.secret, this.keys.get(j)!.s, maskPurpose(this.params)), y.length);
      if (order(this.params, this.id) < order(this.params, j)) addInto(y, mask);
      else subInto(y, mask);
    }
    return y;
  }

  /** Round 3: the shares that let the coordinator unmask the sum of `survivors` (who sent masked input). */
  unmask(survivors: string[]): RevealedShare[] {
    // Asked again (a retry, or after a restart) for the same set: the same answer. For another set: never,
    // since two answers could hand out both kinds of share of one party.
    const key = [...new Set(survivors)].sort();
    if (this.answered && JSON.stringify(this.answered) !== JSON.stringify(key)) throw new SynthgradError('secure aggregation: this party has already answered the unmasking round for another survivor set', 'E_PROTOCOL');
    if (!survivors.includes(this.id)) throw new SynthgradError('secure aggregation: the survivor set leaves out this party', 'E_PROTOCOL');
    const alive = new Set(survivors.filter((p) => this.params.parties.includes(p)));
    // Bonawitz et al.: with fewer survivors than t, revealing could hand a cheating coordinator enough shares of both kinds.
    if (alive.size < this.params.threshold) throw new SynthgradError(`secure aggregation: ${alive.size} parties survive, the threshold is ${this.params.threshold}`, 'E_THRESHOLD');
    this.answered = key;
    const own: RevealedShare[] = this.ownShares ? [{ of: this.id, kind: 'self-mask', share: this.ownShares.b }] : [];
    return [...own, ...[...this.held.entries()].map(([j, sh]): RevealedShare => (alive.has(j) ? { of: j, kind: 'self-mask', share: sh.b } : { of: j, kind: 'mask-key', share: sh.s }))];
  }
}

/** The coordinator's durable record of an aggregation: nothing secret (sealed shares, masked vectors, revealed shares as the protocol allows). */
export interface ServerState {
  version: 1;
  params: SecAggParams;
  round: 'sharing' | 'masking' | 'unmasking';
  ads: Advertisement[];
  sealed: [string, SealedShare[]][];
  /** base64 of each masked vector's little-endian words. */
  masked: [string, string][];
  revealed: [string, RevealedShare[]][];
}

/** The coordinator's side: it routes messages and ends with the sum. */
export class SecAggServer {
  private readonly graph: Map<string, string[]>;
  private readonly ads = new Map<string, Advertisement>();
  private readonly sealed = new Map<string, SealedShare[]>();
  private readonly masked = new Map<string, Uint32Array>();
  private readonly revealed = new Map<string, RevealedShare[]>();
  /** Round 1 closes when the first party asks for its shares, round 2 when survivors are named: late messages would break the masks' bookkeeping. */
  private round: 'sharing' | 'masking' | 'unmasking' = 'sharing';

  constructor(readonly params: SecAggParams) {
    this.graph = checkParams(params);
  }

  toState(): ServerState {
    return {
      version: 1,
      params: this.params,
      round: this.round,
      ads: [...this.ads.values()],
      sealed: [...this.sealed.entries()],
      masked: [...this.masked.entries()].map(([p, y]) => [p, Buffer.from(y.buffer, y.byteOffset, y.byteLength).toString('base64')]),
      revealed: [...this.revealed.entries()],
    };
  }

  static fromState(st: ServerState): SecAggServer {
    if (st.version !== 1) throw new SynthgradError('secure aggregation: unknown saved server state', 'E_INPUT');
    const srv = new SecAggServer(st.params);
    for (const a of st.ads) srv.ads.set(a.party, a);
    for (const [p, m] of st.sealed) srv.sealed.set(p, m);
    for (const [p, b64] of st.masked) {
      const b = Buffer.from(b64, 'base64');
      if (b.length !== 4 * st.params.length) throw new SynthgradError(`secure aggregation: the saved masked vector of ${p} has the wrong length`, 'E_INPUT');
      srv.masked.set(p, new Uint32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length)));
    }
    for (const [p, r] of st.revealed) srv.revealed.set(p, r);
    srv.round = st.round;
    return srv;
  }

  private party(id: string): void {
    if (!this.params.parties.includes(id)) throw new SynthgradError(`secure aggregation: ${id} is not a party`, 'E_PROTOCOL');
  }

  advertise(a: Advertisement): void {
    this.party(a.party);
    if (this.ads.has(a.party)) throw new SynthgradError(`secure aggregation: ${a.party} advertised twice`, 'E_PROTOCOL');
    this.ads.set(a.party, a);
  }

  /** The advertisements to relay in round 1 (every party's; a party uses its neighbours'). */
  advertisements(): Advertisement[] {
    return [...this.ads.values()];
  }

  shares(from: string, msgs: SealedShare[]): void {
    this.party(from);
    if (!this.ads.has(from)) throw new SynthgradError(`secure aggregation: ${from} sent shares without advertising keys`, 'E_PROTOCOL');
    if (this.round !== 'sharing') throw new SynthgradError(`secure aggregation: ${from}'s shares came after round 1 closed`, 'E_PROTOCOL');
    if (msgs.some((m) => m.from !== from)) throw new SynthgradError(`secure aggregation: ${from} sent a share in another party's name`, 'E_PROTOCOL');
    this.sealed.set(from, msgs);
  }

  /** Round 2 input for one party: the shares sealed for it by parties that completed round 1. */
  sharesFor(to: string): SealedShare[] {
    this.round = this.round === 'sharing' ? 'masking' : this.round;
    return [...this.sealed.values()].flat().filter((m) => m.to === to);
  }

  maskedInput(from: string, y: Uint32Array): void {
    this.party(from);
    if (!this.sealed.has(from)) throw new SynthgradError(`secure aggregation: ${from} sent masked input without sharing keys`, 'E_PROTOCOL');
    if (this.round === 'unmasking') throw new SynthgradError(`secure aggregation: ${from}'s masked input came after round 2 closed`, 'E_PROTOCOL');
    if (y.length !== this.params.length) throw new SynthgradError(`secure aggregation: ${from}'s masked input has ${y.length} words, the session ${this.params.length}`, 'E_SHAPE_MISMATCH');
    this.masked.set(from, Uint32Array.from(y));
  }

  /** Who sent masked input: the round 3 question to every survivor. */
  survivors(): string[] {
    this.round = 'unmasking';
    return this.params.parties.filter((p) => this.masked.has(p));
  }

  reveal(from: string, shares: RevealedShare[]): void {
    this.party(from);
    if (!this.masked.has(from)) throw new SynthgradError(`secure aggregation: ${from} is not a survivor`, 'E_PROTOCOL');
    this.revealed.set(from, shares);
  }

  /** What the coordinator holds of one party (for the independence test): its masked vector. */
  maskedOf(party: string): Uint32Array | undefined {
    return this.masked.get(party);
  }

  /**
   * The sum of the survivors' inputs (mod 2^32). Fails with E_THRESHOLD when a secret cannot be
   * rebuilt from the shares revealed (too many parties dropped).
   */
  sum(): { sum: Uint32Array; survivors: string[]; dropped: string[] } {
    const survivors = this.survivors();
    if (survivors.length < this.params.threshold) throw new SynthgradError(`secure aggregation: ${survivors.length} parties sent masked input, at least ${this.params.threshold} are needed`, 'E_THRESHOLD');
    const shared = new Set(this.sealed.keys());
    const dropped = [...shared].filter((p) => !this.masked.has(p));
    const sharesOf = (j: string, kind: RevealedShare['kind']): Share[] =>
      [...this.revealed.values()].flat().filter((r) => r.of === j && r.kind === kind).map((r) => shareFromString(r.share));
    const rebuild = (j: string, kind: RevealedShare['kind']) => {
      const got = sharesOf(j, kind);
      if (got.length < this.params.threshold) {
        throw new SynthgradError(`secure aggregation: ${got.length} shares of ${j}'s ${kind} came back, ${this.params.threshold} are needed (too many parties dropped out)`, 'E_THRESHOLD');
      }
      return combine(got, this.params.threshold);
    };
    const total = new Uint32Array(this.params.length);
    for (const i of survivors) {
      addInto(total, this.masked.get(i)!);
      subInto(total, prg(rebuild(i, 'self-mask'), total.length));
    }
    for (const j of dropped) {
      const sk = rebuild(j, 'mask-key');
      if (publicKeyOf(sk) !== this.ads.get(j)!.s) throw new SynthgradError(`secure aggregation: the shares of ${j}'s mask key do not rebuild it`, 'E_INPUT');
      // Survivor i added sign(i, j) PRG(s_ij) for the dropped j; take it back out.
      for (const i of survivors) {
        if (!this.graph.get(i)!.includes(j)) continue;
        const mask = prg(agree(sk, this.ads.get(i)!.s, maskPurpose(this.params)), total.length);
        if (order(this.params, i) < order(this.params, j)) subInto(total, mask);
        else addInto(total, mask);
      }
    }
    return { sum: total, survivors, dropped };
  }
}
