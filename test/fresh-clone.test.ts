/**
 * `npm test` must pass on a fresh clone after the README's setup, with no ../shared beside it:
 * no test may read the development workspace's ../shared (benchmarks and experiments may, and say
 * so). A static check, so a new test that reaches for ../shared fails here on every machine, not
 * only on the machines that lack it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

function files(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) files(p, out);
    else if (/\.(ts|mjs|js)$/.test(name)) out.push(p);
  }
  return out;
}

describe('a fresh clone', () => {
  it('no test or test helper reads ../shared', () => {
    const testDirs = [join(root, 'test'), ...readdirSync(join(root, 'packages')).map((p) => join(root, 'packages', p, 'test'))].filter((d) => {
      try {
        return statSync(d).isDirectory();
      } catch {
        return false;
      }
    });
    const offenders = testDirs
      .flatMap((d) => files(d))
      .filter((f) => f !== fileURLToPath(import.meta.url))
      .filter((f) => /\.\.\/(\.\.\/)*shared\//.test(readFileSync(f, 'utf8')))
      .map((f) => relative(root, f));
    expect(offenders).toEqual([]);
  });

  it('the README links the project\'s own method document, which exists', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).not.toMatch(/\.\.\/shared\/docs/);
    expect(readme).toContain('(docs/METHOD.md)');
    const method = readFileSync(join(root, 'docs/METHOD.md'), 'utf8');
    expect(method).toMatch(/^## 7\. What synthgrad does differently/m);
  });
});
