/**
 * The real SmolLM2-135M GGUF against fixtures computed by PyTorch + Hugging Face transformers on
 * the same file (scripts/fixtures/make_fixtures.py): token ids, last-position logits, and the
 * gradient of the top-1 log-probability with respect to the input embeddings.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastPosition, loadModel, type LoadedModel } from '@synthgrad/core';
import { useTestBackend } from './helpers/backend.js';
import { HAVE_REAL_MODEL, REAL_MODEL_PATH } from './helpers/real-model.js';

const dir = new URL('./fixtures/smollm2/', import.meta.url);
interface Prompt {
  text: string;
  ids: number[];
  top1: number;
  logits_file: string;
  grad_file: string;
  grad_shape: [number, number];
}
const manifest = JSON.parse(readFileSync(new URL('manifest.json', dir), 'utf8')) as {
  model_sha256: string;
  tokens: { text: string; ids: number[] }[];
  prompts: Prompt[];
};
const f32 = (name: string) => new Float32Array(new Uint8Array(readFileSync(new URL(name, dir))).buffer);

describe.skipIf(!HAVE_REAL_MODEL)('SmolLM2-135M against PyTorch + transformers', () => {
  let rt: LoadedModel;
  beforeAll(async () => {
    await useTestBackend();
    rt = await loadModel(REAL_MODEL_PATH);
  });
  afterAll(() => rt?.dispose());

  it('is the file the fixtures were made from', async () => {
    expect(await rt.sha256()).toBe(manifest.model_sha256);
  });

  it(`tokenises all ${manifest.tokens.length} fixture strings to the same ids`, () => {
    expect(manifest.tokens.length).toBeGreaterThanOrEqual(200);
    const mismatches = manifest.tokens.filter((t) => JSON.stringify(rt.tokenizer.encode(t.text)) !== JSON.stringify(t.ids));
    expect(mismatches.map((m) => m.text)).toEqual([]);
  });

  for (const [i, p] of manifest.prompts.entries()) {
    it(`prompt ${i}: last-position logits within 1e-3 and embedding gradient cosine >= 0.999`, () => {
      expect(rt.tokenizer.encode(p.text)).toEqual(p.ids);
      const out = rt.model.forward({ ids: [p.ids], logits: 'last' });
      const got = out.logits!.dataSync();
      const want = f32(p.logits_file);
      let maxDiff = 0;
      let argmax = 0;
      for (let j = 0; j < want.length; j++) {
        maxDiff = Math.max(maxDiff, Math.abs(got[j] - want[j]));
        if (got[j] > got[argmax]) argmax = j;
      }
      out.hidden.dispose();
      out.logits!.dispose();
      expect(maxDiff).toBeLessThanOrEqual(1e-3);
      expect(argmax).toBe(p.top1);

      const x = rt.model.embed([p.ids]);
      const { grad } = rt.model.valueAndGradWrtEmbeddings(x, (h) =>
        tf.tidy(() => tf.squeeze(tf.slice(tf.logSoftmax(rt.model.logitsOf(lastPosition(h))), [0, p.top1], [1, 1])) as tf.Scalar),
      );
      expect(grad.shape).toEqual([1, ...p.grad_shape]);
      const g = grad.dataSync();
      const r = f32(p.grad_file);
      let dot = 0;
      let ng = 0;
      let nr = 0;
      for (let j = 0; j < r.length; j++) {
        dot += g[j] * r[j];
        ng += g[j] * g[j];
        nr += r[j] * r[j];
      }
      x.dispose();
      grad.dispose();
      expect(dot / Math.sqrt(ng * nr)).toBeGreaterThanOrEqual(0.999);
    });
  }

  it("the KV-cached one-token decode gives PyTorch's logits, and the general layers' bit for bit", () => {
    // The projection and the LM start decode one token a step (llama.ts decodeStates): the last
    // prompt's tokens go in one by one after a one-token prefix, two sequences at once.
    const p = manifest.prompts[manifest.prompts.length - 1]!;
    const run = (generalPath: boolean) => {
      const cache = rt.model.createCache(2);
      let logits: Float32Array = new Float32Array();
      for (let t = 0; t < p.ids.length; t++) {
        const ids = [[p.ids[t]!], [p.ids[t]!]];
        const out = t === 0 ? rt.model.forward({ ids, cache, logits: 'last' }) : rt.model.forward({ ids, cache, logits: 'last', generalPath });
        logits = out.logits!.dataSync() as Float32Array;
        out.hidden.dispose();
        out.logits!.dispose();
      }
      cache.dispose();
      return logits;
    };
    const fast = run(false);
    const general = run(true);
    let maxDiff = 0;
    let same = true;
    const want = f32(p.logits_file);
    for (let j = 0; j < fast.length; j++) {
      same &&= fast[j] === general[j];
      maxDiff = Math.max(maxDiff, Math.abs(fast[j]! - want[j % want.length]!));
    }
    expect(fast.length).toBe(2 * want.length);
    expect(same).toBe(true);
    expect(maxDiff).toBeLessThanOrEqual(1e-3);
  });
});
