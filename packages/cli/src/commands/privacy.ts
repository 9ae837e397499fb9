/**
 * `synthgrad privacy`: what the owner's privacy ledger holds (core/src/privacy/ledger.ts), per
 * data set: every release and the guarantee of all of them together.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse } from '../args.js';

export const PRIVACY_HELP = `synthgrad privacy [--ledger FILE] [--data FILE] [--delta 1e-5] [--json]

Every release recorded in the privacy ledger (default $SYNTHGRAD_LEDGER, else
~/.synthgrad/privacy-ledger.json): each generate run and each coordinator session, per data set,
and the guarantee of all releases of a data set together (exact Gaussian-DP composition, Rényi
accounting alongside). --data FILE: only that data set (by its sha256).`;

const OPTIONS = {
  ledger: { type: 'string' },
  data: { type: 'string' },
  delta: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

export async function privacyCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, OPTIONS, PRIVACY_HELP, 'privacy');
  const core = await import('@synthgrad/core');
  const delta = values.delta === undefined ? 1e-5 : Number(values.delta);
  if (!(delta > 0 && delta < 1)) throw new core.SynthgradError(`--delta must be in (0, 1), got "${values.delta}"`, 'E_USAGE');
  let only: string | undefined;
  if (values.data) {
    try {
      only = createHash('sha256').update(readFileSync(values.data)).digest('hex');
    } catch (e) {
      throw new core.SynthgradError(`--data ${values.data}: ${(e as Error).message}`, 'E_USAGE');
    }
  }
  const ledger = core.PrivacyLedger.open(values.ledger ?? core.defaultLedgerPath());
  const datasets = only ? [only] : ledger.datasets();
  const out = datasets.map((d) => ({ data: d, releases: ledger.releasesOf(d), guarantee: ledger.guarantee(d, delta) }));
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ ledger: ledger.path, delta, datasets: out }, (_, v) => (v === Infinity ? null : v))}\n`);
    return;
  }
  const lines = [`privacy ledger ${ledger.path}: ${datasets.length} data set(s)`];
  for (const o of out) {
    lines.push('', o.guarantee.sentence);
    for (const r of o.releases) lines.push(`  ${r.at}  ${r.session}: ${r.classes} classes, ${r.release}, sigma ${r.sigma.toPrecision(3)} at clip ${r.sensitivity} (${r.noise} noise)`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
