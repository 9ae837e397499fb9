/** Tiny random llamas for tests: built in code, optionally written to a real GGUF file. */
import { bytesToUnicode, randomWeights, type LlamaConfig, type LlamaWeights } from '@synthgrad/core';
import { f32Bytes, writeGGUF, type MetaValue, type TensorSpec } from './gguf-writer.js';

/** A byte-level vocabulary: 256 byte tokens, a few merges, one control token. */
export function tinyVocab(): { tokens: string[]; merges: string[]; types: number[] } {
  const bytes = [...bytesToUnicode().values()];
  const merges = ['Ġ t', 'h e', 'Ġt he', 'Ġ a', 'i n', 'Ġ g', 'r e', 'Ġg re', 'a t', 'Ġgre at', 'Ġ b', 'a d', 'Ġb ad'];
  const tokens = ['<|endoftext|>', ...bytes, ...merges.map((m) => m.replace(' ', ''))];
  const types = tokens.map((_, i) => (i === 0 ? 3 : 1));
  return { tokens, merges, types };
}

export function tinyConfig(overrides: Partial<LlamaConfig> = {}): LlamaConfig {
  return {
    architecture: 'llama',
    vocabSize: tinyVocab().tokens.length,
    dModel: 32,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    headDim: 8,
    ffnDim: 48,
    ropeTheta: 10000,
    rmsEps: 1e-5,
    contextLength: 64,
    tiedEmbeddings: true,
    ...overrides,
  };
}

export function tinyWeights(config: LlamaConfig, seed = 1): LlamaWeights {
  return randomWeights(config, seed, 0.2);
}

/** llama.cpp's Q/K row permutation (Hugging Face layout -> GGUF layout). */
export function permuteQK(w: Float32Array, nHeads: number, headDim: number, inDim: number): Float32Array {
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let c = 0; c < 2; c++) {
        const hf = (h * headDim + c * half + i) * inDim;
        const gg = (h * headDim + 2 * i + c) * inDim;
        out.set(w.subarray(hf, hf + inDim), gg);
      }
    }
  }
  return out;
}

export interface TinyGGUFOptions {
  /** Replace a tensor's type id (data left as F32 bytes) to provoke unsupported-type errors. */
  typeOverride?: Record<string, number>;
  /** Replace a tensor's shape to provoke shape errors. */
  shapeOverride?: Record<string, number[]>;
  metadataOverride?: Record<string, MetaValue>;
}

export function tinyGGUFMetadata(c: LlamaConfig): Record<string, MetaValue> {
  const v = tinyVocab();
  return {
    'general.architecture': 'llama',
    'general.name': 'tiny-test-llama',
    'llama.block_count': c.nLayers,
    'llama.context_length': c.contextLength,
    'llama.embedding_length': c.dModel,
    'llama.feed_forward_length': c.ffnDim,
    'llama.attention.head_count': c.nHeads,
    'llama.attention.head_count_kv': c.nKvHeads,
    'llama.rope.freq_base': c.ropeTheta,
    'llama.attention.layer_norm_rms_epsilon': c.rmsEps,
    'llama.vocab_size': c.vocabSize,
    'tokenizer.ggml.model': 'gpt2',
    'tokenizer.ggml.pre': 'smollm',
    'tokenizer.ggml.tokens': v.tokens,
    'tokenizer.ggml.token_type': v.types,
    'tokenizer.ggml.merges': v.merges,
    'tokenizer.ggml.bos_token_id': 0,
    'tokenizer.ggml.eos_token_id': 0,
    'tokenizer.ggml.add_bos_token': false,
  };
}

export function writeTinyLlamaGGUF(path: string, c: LlamaConfig, w: LlamaWeights, opts: TinyGGUFOptions = {}): void {
  const tensors: TensorSpec[] = [];
  const add = (name: string, shape: number[], data: Float32Array) =>
    tensors.push({ name, shape: opts.shapeOverride?.[name] ?? shape, type: opts.typeOverride?.[name] ?? 0, data: f32Bytes(data) });
  add('token_embd.weight', [c.vocabSize, c.dModel], w.embed);
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  w.layers.forEach((l, i) => {
    add(`blk.${i}.attn_norm.weight`, [c.dModel], l.attnNorm);
    add(`blk.${i}.attn_q.weight`, [q, c.dModel], permuteQK(l.wq, c.nHeads, c.headDim, c.dModel));
    add(`blk.${i}.attn_k.weight`, [kv, c.dModel], permuteQK(l.wk, c.nKvHeads, c.headDim, c.dModel));
    add(`blk.${i}.attn_v.weight`, [kv, c.dModel], l.wv);
    add(`blk.${i}.attn_output.weight`, [c.dModel, q], l.wo);
    add(`blk.${i}.ffn_norm.weight`, [c.dModel], l.ffnNorm);
    add(`blk.${i}.ffn_gate.weight`, [c.ffnDim, c.dModel], l.wGate);
    add(`blk.${i}.ffn_up.weight`, [c.ffnDim, c.dModel], l.wUp);
    add(`blk.${i}.ffn_down.weight`, [c.dModel, c.ffnDim], l.wDown);
  });
  add('output_norm.weight', [c.dModel], w.finalNorm);
  if (w.head) add('output.weight', [c.vocabSize, c.dModel], w.head);
  writeGGUF(path, { ...tinyGGUFMetadata(c), ...opts.metadataOverride }, tensors);
}
