import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the TypeScript sources, not the build output.
    alias: {
      // The light entry points (no ML stack), before the package itself so they match first.
      '@synthgrad/core/errors': fileURLToPath(new URL('./packages/core/src/util/errors.ts', import.meta.url)),
      '@synthgrad/core/presets': fileURLToPath(new URL('./packages/core/src/gradmm/presets.ts', import.meta.url)),
      '@synthgrad/eval/defaults': fileURLToPath(new URL('./packages/eval/src/defaults.ts', import.meta.url)),
      '@synthgrad/core/task': fileURLToPath(new URL('./packages/core/src/task/task.ts', import.meta.url)), '@synthgrad/core': src('core'), '@synthgrad/protocol': src('protocol'), '@synthgrad/coordinator': src('coordinator'), '@synthgrad/client': src('client'), '@synthgrad/eval': src('eval') },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Model tests are memory- and CPU-heavy; files run one at a time in forked processes.
    pool: 'forks',
    fileParallelism: false,
    // Generate and client runs keep a privacy ledger and a noise key in the owner's folder; tests keep theirs out of $HOME.
    env: { SYNTHGRAD_HOME: join(tmpdir(), `synthgrad-test-home-${process.pid}`) },
  },
});
