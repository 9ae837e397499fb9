/**
 * Where the real model is, for tests that need it. Locally a missing model skips those tests
 * with a message; in CI (CI=true) it fails them, because .ci/run pulls the model first.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_MODEL, modelCacheDir } from '@synthgrad/core';

export const REAL_MODEL_PATH = process.env.SYNTHGRAD_MODEL ?? join(modelCacheDir(), DEFAULT_MODEL.fileName);
export const HAVE_REAL_MODEL = existsSync(REAL_MODEL_PATH);

if (!HAVE_REAL_MODEL) {
  if (process.env.CI) throw new Error(`real model missing at ${REAL_MODEL_PATH}; .ci/run must run \`npx synthgrad model pull\` first`);
  console.warn(`[synthgrad tests] real model not found at ${REAL_MODEL_PATH}: real-model tests skipped (run \`npx synthgrad model pull\`)`);
}
