/** The GGUF loader on real files written to disk: tiny llamas, and files broken in each way a user can meet. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GGUFFile, Llama, loadGGUFWeights, loadModel, unpermuteQK } from '@synthgrad/core';
import { useTestBackend } from '../../../test/helpers/backend.js';
import { permuteQK, tinyConfig, tinyWeights, writeTinyLlamaGGUF } from '../../../test/helpers/tiny-llama.js';

const dir = mkdtempSync(join(tmpdir(), 'synthgrad-gguf-'));
const config = tinyConfig();
const weights = tinyWeights(config, 7);
const good = join(dir, 'tiny.gguf');

beforeAll(async () => {
  await useTestBackend();
  writeTinyLlamaGGUF(good, config, weights);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('GGUF loading', () => {
  it('unpermuteQK inverts llama.cpp permutation', () => {
    const w = Float32Array.from({ length: 16 * 3 }, (_, i) => i);
    expect([...unpermuteQK(permuteQK(w, 2, 8, 3), 2, 8, 3)]).toEqual([...w]);
    expect([...permuteQK(w, 2, 8, 3)]).not.toEqual([...w]);
  });

  it('a tiny llama written to GGUF loads to the same config and the same logits', async () => {
    const loaded = await loadGGUFWeights(good);
    // rmsEps travels as float32 in GGUF
    expect(loaded.config).toEqual({ ...config, rmsEps: Math.fround(config.rmsEps) });
    const fromFile = new Llama(loaded.config, loaded.weights);
    const direct = new Llama(config, weights);
    const ids = [[3, 50, 100, 7, 200]];
    const a = fromFile.forward({ ids });
    const b = direct.forward({ ids });
    expect(Array.from(a.logits!.dataSync())).toEqual(Array.from(b.logits!.dataSync()));
    for (const t of [a.hidden, a.logits!, b.hidden, b.logits!]) t.dispose();
    fromFile.dispose();
    direct.dispose();
  });

  it('loadModel builds the tokenizer from the file metadata', async () => {
    const m = await loadModel(good);
    expect(m.tokenizer.encode(' the great')).toEqual([m.tokenizer.info.tokens.indexOf('Ġthe'), m.tokenizer.info.tokens.indexOf('Ġgreat')]);
    expect(m.tokenizer.decode(m.tokenizer.encode('héllo, wörld'))).toBe('héllo, wörld');
    expect(m.tokenizer.encode('')).toEqual([]);
    m.dispose();
  });

  it('a missing file says how to get the model', async () => {
    await expect(GGUFFile.open(join(dir, 'nope.gguf'))).rejects.toThrow(/model file not found.*model pull/);
  });

  it('a truncated file is reported as truncated', async () => {
    const bytes = readFileSync(good);
    const cut = join(dir, 'cut.gguf');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 100));
    await expect(GGUFFile.open(cut)).rejects.toThrow(/truncated/);
    const header = join(dir, 'header.gguf');
    writeFileSync(header, bytes.subarray(0, 200));
    await expect(GGUFFile.open(header)).rejects.toThrow(/not a readable GGUF file|truncated/);
  });

  it('a file that is not GGUF is rejected', async () => {
    const junk = join(dir, 'junk.gguf');
    writeFileSync(junk, 'this is not a model');
    await expect(GGUFFile.open(junk)).rejects.toThrow(/not a readable GGUF file/);
  });

  it('an unsupported quantisation names the tensor and the type', async () => {
    const p = join(dir, 'q4k.gguf');
    writeTinyLlamaGGUF(p, config, weights, { typeOverride: { 'blk.0.ffn_up.weight': 12 } });
    await expect(loadGGUFWeights(p)).rejects.toThrow(/blk\.0\.ffn_up\.weight: unsupported GGML tensor type Q4_K/);
  });

  it('a tensor shape that does not match the config is an error', async () => {
    const p = join(dir, 'shape.gguf');
    writeTinyLlamaGGUF(p, config, weights, { metadataOverride: { 'llama.feed_forward_length': 40 } });
    await expect(loadGGUFWeights(p)).rejects.toThrow(/blk\.0\.ffn_gate\.weight: shape \[48,32\] does not match the config's \[40,32\]/);
  });

  it('an architecture other than llama is refused', async () => {
    const p = join(dir, 'gpt2.gguf');
    writeTinyLlamaGGUF(p, config, weights, { metadataOverride: { 'general.architecture': 'gpt2' } });
    await expect(loadGGUFWeights(p)).rejects.toThrow(/architecture "gpt2" is not supported/);
  });
});
