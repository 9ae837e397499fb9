/** The `synthgrad` command as a user runs it: a real child process on real files. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { HAVE_REAL_MODEL, REAL_MODEL_PATH } from './helpers/real-model.js';
import { tinyConfig, tinyWeights, writeTinyLlamaGGUF } from './helpers/tiny-llama.js';

const bin = fileURLToPath(new URL('../packages/cli/bin/synthgrad.js', import.meta.url));
const built = existsSync(fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url)));
const dir = mkdtempSync(join(tmpdir(), 'synthgrad-cli-'));
const tiny = join(dir, 'tiny.gguf');
writeTinyLlamaGGUF(tiny, tinyConfig(), tinyWeights(tinyConfig(), 3));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function synthgrad(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.runIf(built)('synthgrad CLI', () => {
  it('model inspect prints the config as JSON', () => {
    const r = synthgrad(['model', 'inspect', '--model', tiny]);
    expect(r.code).toBe(0);
    const cfg = JSON.parse(r.stdout);
    expect(cfg).toMatchObject({ architecture: 'llama', nLayers: 2, dModel: 32, nHeads: 4, nKvHeads: 2, tiedEmbeddings: true });
    expect(cfg.tensorTypes).toEqual({ F32: 2 + 2 * 9 });
  });

  it('model next-token --json --embedding-grad on a tiny model', () => {
    const r = synthgrad(['model', 'next-token', '--model', tiny, '--text', ' the great', '--top', '3', '--json', '--embedding-grad', '--verbose']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/backend: (tensorflow|wasm) \(/);
    const out = JSON.parse(r.stdout);
    expect(out.ids.length).toBe(2);
    expect(out.top).toHaveLength(3);
    expect(out.top[0].logit).toBeGreaterThanOrEqual(out.top[1].logit);
    for (const t of out.top) expect(Object.keys(t).sort()).toEqual(['id', 'logit', 'token']);
    expect(out.grad_norm).toBeGreaterThan(0);
    expect(Number.isFinite(out.grad_sum)).toBe(true);
  });

  it('--backend cpu and SYNTHGRAD_BACKEND choose the backend; an unknown one is a usage error', () => {
    const a = synthgrad(['model', 'next-token', '--model', tiny, '--text', 'hi', '--json', '--backend', 'cpu', '--verbose']);
    expect(a.code).toBe(0);
    expect(a.stderr).toMatch(/backend: cpu/);
    const b = synthgrad(['model', 'next-token', '--model', tiny, '--text', 'hi', '--json', '--verbose'], { SYNTHGRAD_BACKEND: 'cpu' });
    expect(b.stderr).toMatch(/backend: cpu/);
    expect(JSON.parse(a.stdout).top).toEqual(JSON.parse(b.stdout).top);
    const c = synthgrad(['model', 'next-token', '--model', tiny, '--text', 'hi', '--backend', 'quantum']);
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/unknown backend "quantum"/);
  });

  it('bad input gets one clear line and a non-zero exit', () => {
    const missing = synthgrad(['model', 'inspect', '--model', join(dir, 'absent.gguf')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^synthgrad: model file not found/);
    expect(missing.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const usage = synthgrad(['model', 'next-token', '--model', tiny, '--text', 'x', '--top', 'many']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--top must be an integer/);
    const unknown = synthgrad(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/);
    const empty = synthgrad(['model', 'next-token', '--model', tiny, '--text', '']);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/at least one token/);
  });

  it('model pull reports a missing python clearly and leaves the cache clean', () => {
    const cache = join(dir, 'cache');
    const r = synthgrad(['model', 'pull', '--cache-dir', cache], { SYNTHGRAD_PYTHON: 'no-such-python3' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no-such-python3 is not installed/);
    expect(existsSync(join(cache, 'SmolLM2-135M-Instruct.Q4_1.gguf'))).toBe(false);
  });

  it.runIf(HAVE_REAL_MODEL)('model pull is idempotent when the verified model is present', () => {
    const r = synthgrad(['model', 'pull'], { SYNTHGRAD_MODEL_DIR: join(REAL_MODEL_PATH, '..') });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/already present/);
    expect(r.stdout.trim()).toBe(REAL_MODEL_PATH);
  });

  it.runIf(HAVE_REAL_MODEL)('next-token on the real model agrees with the PyTorch fixture', () => {
    const fx = JSON.parse(readFileSync(new URL('./fixtures/smollm2/manifest.json', import.meta.url), 'utf8')).prompts[0];
    const r = synthgrad(['model', 'next-token', '--text', fx.text, '--top', '5', '--json', '--embedding-grad']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.ids).toEqual(fx.ids);
    expect(out.top.map((t: { id: number }) => t.id)).toEqual(fx.top5.map((t: { id: number }) => t.id));
    expect(out.top[0].token).toBe(fx.top1_text);
    expect(Math.abs(out.top[0].logit - fx.top5[0].logit)).toBeLessThan(1e-3);
    expect(Math.abs(out.grad_norm - fx.grad_norm) / fx.grad_norm).toBeLessThan(0.01);
  });
});

it.skipIf(built)('CLI tests need the build: run `npm run build` (npm test does)', () => {
  throw new Error('packages/cli/dist is missing; run `npm run build` before the tests');
});
