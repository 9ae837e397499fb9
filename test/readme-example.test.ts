/**
 * The README's "Use it from code" example, run as written: extracted from README.md, executed by
 * Node as an ES module next to the workspace (so `@synthgrad/*` resolve as for a user), on a tiny
 * model ($SYNTHGRAD_MODEL) and small data files in its working folder.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tinyConfig, tinyWeights, writeTinyLlamaGGUF } from './helpers/tiny-llama.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const built = existsSync(join(root, 'packages/core/dist/index.js')) && existsSync(join(root, 'packages/eval/dist/index.js'));
// Inside the repository (git-ignored), so Node resolves @synthgrad/* through its node_modules.
const dir = mkdtempSync(join(root, '.readme-example-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function readmeExample(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Use it from code'));
  const m = /```js\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('README.md: no js block under "## Use it from code"');
  return m[1];
}

describe.runIf(built)('README "Use it from code"', () => {
  it('runs as written and prints the set, its diagnostics and an accuracy', () => {
    const model = join(dir, 'tiny.gguf');
    writeTinyLlamaGGUF(model, tinyConfig(), tinyWeights(tinyConfig(), 9));
    const words = ['the', 'great', 'bad', 'at', 'in', 'a', 'he'];
    const rows = (n: number, seed: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ text: `${words[(i * 3 + seed) % 7]} ${i % 2 ? 'great' : 'bad'} ${words[(i + seed) % 7]}`, label: i % 2 })).join('\n') + '\n';
    writeFileSync(join(dir, 'reviews.jsonl'), rows(30, 1));
    writeFileSync(join(dir, 'test.jsonl'), rows(20, 2));
    writeFileSync(join(dir, 'example.mjs'), readmeExample());
    const r = spawnSync(process.execPath, ['example.mjs'], { cwd: dir, encoding: 'utf8', timeout: 300_000, env: { ...process.env, SYNTHGRAD_MODEL: model, SYNTHGRAD_BACKEND: 'wasm' } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^20 synthetic texts, e\.g\. ".*"$/m);
    expect(r.stdout).toMatch(/^class\s+label check/m);
    expect(r.stdout).toMatch(/^privacy: none/m);
    expect(r.stdout).toMatch(/^test accuracy \d+\.\d% over 2 seeds$/m);
    expect(readFileSync(join(dir, 'out/synthetic.jsonl'), 'utf8').trim().split('\n')).toHaveLength(20);
    expect(JSON.parse(readFileSync(join(dir, 'out/synthetic.jsonl.meta.json'), 'utf8')).label_consistency).toHaveLength(2);
  });
});
