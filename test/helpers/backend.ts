/** Tests run on the backend a user gets by default (wasm with the transpose fix) unless told otherwise. */
import { initBackend } from '@synthgrad/core';

export async function useTestBackend(): Promise<string> {
  const b = await initBackend({ backend: process.env.SYNTHGRAD_TEST_BACKEND ?? 'wasm' });
  return b.name;
}
