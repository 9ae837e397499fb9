/**
 * A data owner's privacy ledger: every release made from a data set (a `generate` run, a
 * contribution to a coordinator session), kept in one JSON file on the owner's side, and the
 * guarantee of all of them together (accountant.ts). A release is keyed by (data fingerprint,
 * session): a restarted client that re-sends the same contribution (same noise key, same
 * numbers) is not counted twice, while a second session on the same data is.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { SynthgradError } from '../util/errors.js';
import { composedMu, epsilonFromRdp, gdpEpsilon, rdpEpsilon } from './accountant.js';
import { skellamRdp } from './skellam.js';

export interface LedgerEntry {
  /** sha256 of the data the release was computed from. */
  data: string;
  /** Where it went: 'generate:<output path>' or the coordinator session id. */
  session: string;
  /** ISO time of recording. */
  at: string;
  /** Classes released; under add/remove-one each example is in one class (parallel composition). */
  classes: number;
  /** Noise std on every released coordinate, as the recipient sees it (0: not private). */
  sigma: number;
  /** L2 sensitivity of one class sum (the clip norm). */
  sensitivity: number;
  /** What each class release held. */
  release: 'full' | 'label-rows';
  /** How the noise was made: by this owner alone, or its share of the central noise under secure aggregation. */
  noise: 'local' | 'distributed';
  /**
   * Under secure aggregation the central noise is Skellam, not Gaussian: its parameter and the
   * release's sensitivities in grid units (secagg/distributed-noise.ts), accounted by its Rényi
   * bound (sigma above is then only its standard deviation, for display).
   */
  skellam?: { mu: number; l1: number; l2: number };
}

export interface Guarantee {
  data: string;
  releases: number;
  /** Composed Gaussian-DP parameter (Infinity if any release had no noise). */
  mu: number;
  delta: number;
  /** Exact epsilon at delta of the composition. */
  epsilon: number;
  /** What Rényi accounting gives (never smaller). */
  epsilonRdp: number;
  sentence: string;
}

/** The data owner's private synthgrad folder: $SYNTHGRAD_HOME, else ~/.synthgrad. */
export function synthgradHome(): string {
  return process.env.SYNTHGRAD_HOME ?? join(homedir(), '.synthgrad');
}

/** $SYNTHGRAD_LEDGER, else SYNTHGRAD_HOME/privacy-ledger.json. */
export function defaultLedgerPath(): string {
  return process.env.SYNTHGRAD_LEDGER ?? join(synthgradHome(), 'privacy-ledger.json');
}

export class PrivacyLedger {
  private constructor(
    readonly path: string,
    private entries: LedgerEntry[],
  ) {}

  static open(path = defaultLedgerPath()): PrivacyLedger {
    if (!existsSync(path)) return new PrivacyLedger(path, []);
    let data: { version?: number; entries?: LedgerEntry[] };
    try {
      data = JSON.parse(readFileSync(path, 'utf8')) as typeof data;
    } catch (e) {
      throw new SynthgradError(`${path}: the privacy ledger is unreadable (${(e as Error).message}); it records every release of your data, so repair it rather than delete it`, 'E_INPUT');
    }
    if (data.version !== 1 || !Array.isArray(data.entries)) throw new SynthgradError(`${path}: not a synthgrad privacy ledger (version 1)`, 'E_INPUT');
    return new PrivacyLedger(path, data.entries);
  }

  /** Record a release (idempotent per data and session) and save. */
  record(e: Omit<LedgerEntry, 'at'> & { at?: string }): LedgerEntry {
    if (!/^[0-9a-f]{64}$/.test(e.data)) throw new SynthgradError('ledger: data must be a sha256 fingerprint', 'E_INPUT');
    if (!(e.sensitivity > 0) || !(e.sigma >= 0) || !(e.classes >= 1)) throw new SynthgradError('ledger: a release needs sensitivity > 0, sigma >= 0 and at least one class', 'E_INPUT');
    const have = this.entries.find((x) => x.data === e.data && x.session === e.session);
    if (have) return have;
    const entry: LedgerEntry = { ...e, at: e.at ?? new Date().toISOString() };
    this.entries.push(entry);
    mkdirSync(dirname(this.path), { recursive: true });
    writeFileAtomic(this.path, `${JSON.stringify({ version: 1, entries: this.entries }, null, 2)}\n`);
    return entry;
  }

  /** Fingerprints of every data set with a release, in order of first release. */
  datasets(): string[] {
    return [...new Set(this.entries.map((e) => e.data))];
  }

  releasesOf(data: string): LedgerEntry[] {
    return this.entries.filter((x) => x.data === data);
  }

  /** The guarantee of every release of `data` together. */
  guarantee(data: string, delta: number): Guarantee {
    return guaranteeOf(data, this.releasesOf(data), delta);
  }
}

export function guaranteeOf(data: string, releases: LedgerEntry[], delta: number): Guarantee {
  if (releases.some((r) => r.skellam && r.sigma > 0)) return mixedGuarantee(data, releases, delta);
  const mu = releases.length === 0 ? 0 : composedMu(releases.map((r) => ({ sigma: r.sigma, sensitivity: r.sensitivity })));
  const epsilon = gdpEpsilon(mu, delta);
  const epsilonRdp = Number.isFinite(mu) ? rdpEpsilon(mu, delta).epsilon : Infinity;
  const n = releases.length;
  const what = `${n} release${n === 1 ? '' : 's'} of data ${data.slice(0, 12)}`;
  const sentence = !Number.isFinite(mu)
    ? `${what}: at least one had no noise, so there is no differential-privacy guarantee.`
    : `${what} together are (${fmt(epsilon)}, ${delta})-differentially private for adding or removing one example (clipped gradient sums with Gaussian noise; exact Gaussian-DP composition, mu = ${fmt(mu)}; Rényi accounting would give epsilon ${fmt(epsilonRdp)}).`;
  return { data, releases: n, mu, delta, epsilon, epsilonRdp, sentence };
}

/**
 * With Skellam releases among them: Rényi composition of every release (Gaussian ones at
 * alpha mu_i^2 / 2, Skellam ones at their bound, privacy/skellam.ts), converted as dp-accounting
 * does. There is no exact Gaussian-DP profile for Skellam noise, so mu is NaN.
 */
function mixedGuarantee(data: string, releases: LedgerEntry[], delta: number): Guarantee {
  const n = releases.length;
  const what = `${n} release${n === 1 ? '' : 's'} of data ${data.slice(0, 12)}`;
  const gaussian = releases.filter((r) => !r.skellam);
  const muG = gaussian.length === 0 ? 0 : composedMu(gaussian.map((r) => ({ sigma: r.sigma, sensitivity: r.sensitivity })));
  if (!Number.isFinite(muG) || releases.some((r) => r.sigma === 0)) {
    return { data, releases: n, mu: Infinity, delta, epsilon: Infinity, epsilonRdp: Infinity, sentence: `${what}: at least one had no noise, so there is no differential-privacy guarantee.` };
  }
  const skellams = releases.filter((r) => r.skellam).map((r) => r.skellam!);
  const { epsilon } = epsilonFromRdp((a) => (a * muG * muG) / 2 + skellams.reduce((t, k) => t + skellamRdp(a, k.mu, k.l1, k.l2), 0), delta);
  const sentence = `${what} together are (${fmt(epsilon)}, ${delta})-differentially private for adding or removing one example (clipped gradient sums; ${skellams.length} with distributed Skellam noise under secure aggregation${gaussian.length ? `, ${gaussian.length} with Gaussian noise` : ''}; Rényi accounting).`;
  return { data, releases: n, mu: NaN, delta, epsilon, epsilonRdp: epsilon, sentence };
}

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toPrecision(3));
