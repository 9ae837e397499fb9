/** `synthgrad privacy`: the ledger's releases per data set and their composed guarantee, as text and JSON. */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { analyticGaussianSigma, gdpEpsilon, PrivacyLedger } from '@synthgrad/core';

const bin = fileURLToPath(new URL('../packages/cli/bin/synthgrad.js', import.meta.url));
const built = existsSync(fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url)));
const run = (args: string[]) => spawnSync(process.execPath, [bin, 'privacy', ...args], { encoding: 'utf8', timeout: 60_000 });

describe.runIf(built)('synthgrad privacy', () => {
  it('lists every release of a data set and the guarantee of all of them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'synthgrad-privacy-'));
    const data = join(dir, 'mine.jsonl');
    writeFileSync(data, '{"text":"a","label":0}\n');
    const fp = createHash('sha256').update('{"text":"a","label":0}\n').digest('hex');
    const ledger = join(dir, 'ledger.json');
    const book = PrivacyLedger.open(ledger);
    const sigma = analyticGaussianSigma(1, 1e-5, 1);
    for (const session of ['s-one', 's-two']) book.record({ data: fp, session, classes: 2, sigma, sensitivity: 1, release: 'label-rows', noise: 'local' });
    book.record({ data: 'f'.repeat(64), session: 'other', classes: 2, sigma: 0, sensitivity: 1, release: 'full', noise: 'local' });
    const text = run(['--ledger', ledger]);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/2 data set\(s\)/);
    expect(text.stdout).toMatch(/2 releases of data .* together are \(1\.\d\d, 0\.00001\)-differentially private/);
    expect(text.stdout).toMatch(/no differential-privacy guarantee/);
    const json = JSON.parse(run(['--ledger', ledger, '--data', data, '--json']).stdout);
    expect(json.datasets).toHaveLength(1);
    expect(json.datasets[0].releases.map((r: { session: string }) => r.session)).toEqual(['s-one', 's-two']);
    expect(json.datasets[0].guarantee.epsilon).toBeCloseTo(gdpEpsilon(Math.SQRT2 / sigma, 1e-5), 9);
  });

  it('refuses a bad delta and a missing data file', () => {
    expect(run(['--delta', '2']).status).toBe(2);
    const r = run(['--data', '/nonexistent/file.jsonl']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--data \/nonexistent\/file\.jsonl/);
  });
});
