/**
 * Tests run on the backend a user gets by default ('auto': tensorflow where `npm run setup`
 * built it, else wasm) unless SYNTHGRAD_TEST_BACKEND names one; `npm test` runs the oracle
 * files a second time on wasm (`test:wasm`), so both backends are checked in CI.
 */
import { initBackend } from '@synthgrad/core';

export async function useTestBackend(): Promise<string> {
  const b = await initBackend({ backend: process.env.SYNTHGRAD_TEST_BACKEND ?? 'auto' });
  return b.name;
}
