/** `synthgrad audit` end to end: a report naming the nearest real texts, with and without the model's embedding; clear usage errors. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tinyConfig, tinyWeights, writeTinyLlamaGGUF } from './helpers/tiny-llama.js';

const bin = fileURLToPath(new URL('../packages/cli/bin/synthgrad.js', import.meta.url));
const built = existsSync(fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url)));
const dir = mkdtempSync(join(tmpdir(), 'synthgrad-audit-'));
const jsonl = (name: string, rows: [string, number][]) => {
  const p = join(dir, name);
  writeFileSync(p, rows.map(([text, label]) => JSON.stringify({ text, label })).join('\n') + '\n');
  return p;
};
const real = jsonl('real.jsonl', [['the great film of the year by far', 1], ['a bad plot and worse acting', 0]]);
const syn = jsonl('syn.jsonl', [['the great film of the year by far', 1], ['worse acting than ever', 0], ['nothing alike here', 1]]);
const run = (args: string[]) => spawnSync(process.execPath, [bin, 'audit', ...args], { encoding: 'utf8', timeout: 120_000 });

describe.runIf(built)('synthgrad audit', () => {
  it('reports copies and the nearest real text of every synthetic one', () => {
    const out = join(dir, 'report.json');
    const r = run(['--synthetic', syn, '--data', real, '--no-embedding', '--out', out, '--near-run', '5']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/exact copies: 1; near-duplicates \(a shared run of >= 5 words\): 1/);
    const rep = JSON.parse(readFileSync(out, 'utf8'));
    expect(rep.items.map((i: { nearest_real_text: string | null }) => i.nearest_real_text)).toEqual(['the great film of the year by far', 'a bad plot and worse acting', null]);
  });

  it('adds the nearest real text by the model\'s embedding', () => {
    const model = join(dir, 'tiny.gguf');
    writeTinyLlamaGGUF(model, tinyConfig(), tinyWeights(tinyConfig(), 3));
    const r = run(['--synthetic', syn, '--data', real, '--model', model, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.maxCosine).toBeGreaterThan(0.999); // the copy
    expect(rep.items[0].nearestByEmbedding.real).toBe(0);
  });

  it('needs both files', () => {
    const r = run(['--synthetic', syn]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/audit needs --synthetic and --data/);
  });
});
