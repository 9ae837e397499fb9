/**
 * `synthgrad demo` keeps TLS private keys out of the working tree: the coordinator's state
 * (its CA, server and party keys) lives in a private temporary folder that is removed at the
 * end, and the demo folder it leaves (shards, results) carries a `.gitignore` of everything.
 * Before, `./synthgrad-demo/coordinator-state/tls/*.pem` sat in the working tree, not ignored.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tinyConfig, tinyWeights, writeTinyLlamaGGUF } from './helpers/tiny-llama.js';
import { bin, built } from './helpers/federation.js';

const dir = mkdtempSync(join(tmpdir(), 'synthgrad-demo-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const files = (d: string): string[] => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? files(join(d, f)) : [join(d, f)]));

describe.runIf(built)('demo', () => {
  it('leaves no private key in the working tree, and git-ignores what it leaves', async () => {
    const model = join(dir, 'tiny.gguf');
    writeTinyLlamaGGUF(model, tinyConfig(), tinyWeights(tinyConfig(), 11));
    const data = join(dir, 'data.jsonl');
    const rows = Array.from({ length: 12 }, (_, i) => JSON.stringify({ text: i % 2 ? `a great film ${i}` : `a bad plot ${i}`, label: i % 2 }));
    writeFileSync(data, rows.join('\n') + '\n');
    const checkout = mkdtempSync(join(dir, 'checkout-')); // the demo's working directory
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [bin, 'demo', '--data', data, '--model', model, '--real-per-client', '2', '--per-class', '2', '--epsilon', '4'], { cwd: checkout, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      p.stderr!.on('data', (d) => (stderr += d));
      p.on('close', (code) => resolve({ code, stderr }));
    });
    expect(r.code, r.stderr).toBe(0);
    const left = files(checkout);
    expect(left.some((f) => f.endsWith('synthetic.jsonl'))).toBe(true);
    expect(left.filter((f) => f.endsWith('.pem') || /PRIVATE KEY/.test(readFileSync(f, 'utf8')))).toEqual([]);
    expect(readFileSync(join(checkout, 'synthgrad-demo', '.gitignore'), 'utf8')).toMatch(/^\*$/m);
  }, 180_000);

  it('--secure-aggregation: three owners through the SecAgg+ rounds get one result, and no owner secret is left behind', async () => {
    const model = join(dir, 'tiny.gguf');
    const data = join(dir, 'data.jsonl');
    const checkout = mkdtempSync(join(dir, 'checkout-secure-'));
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [bin, 'demo', '--data', data, '--model', model, '--real-per-client', '2', '--per-class', '2', '--epsilon', '4', '--secure-aggregation'], { cwd: checkout, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout!.on('data', (d) => (stdout += d));
      p.stderr!.on('data', (d) => (stderr += d));
      p.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/secure aggregation, mutual TLS/);
    for (const owner of ['hospital-a', 'bank-b', 'company-c']) expect(r.stderr).toContain(`[${owner}] secure aggregation: round unmask`);
    expect(r.stdout).toMatch(/masked\)/);
    const results = files(checkout).filter((f) => f.endsWith('synthetic.jsonl'));
    expect(results).toHaveLength(3);
    expect(new Set(results.map((f) => readFileSync(f, 'utf8'))).size).toBe(1);
    expect(files(checkout).filter((f) => /selfSeed|noise-key/.test(readFileSync(f, 'utf8')) || f.endsWith('noise-key'))).toEqual([]);
  }, 180_000);
});
