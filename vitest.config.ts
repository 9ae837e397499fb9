import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the TypeScript sources, not the build output.
    alias: { '@synthgrad/core': src('core'), '@synthgrad/protocol': src('protocol'), '@synthgrad/coordinator': src('coordinator'), '@synthgrad/client': src('client'), '@synthgrad/eval': src('eval') },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Model tests are memory- and CPU-heavy; files run one at a time in forked processes.
    pool: 'forks',
    fileParallelism: false,
  },
});
