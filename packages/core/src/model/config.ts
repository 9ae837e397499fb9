/** Llama-family configuration, read from GGUF metadata and checked for consistency. */
import type { GGUFFile } from '../gguf/file.js';
import { SynthgradError } from '../util/errors.js';

export interface LlamaConfig {
  architecture: 'llama';
  vocabSize: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  ffnDim: number;
  ropeTheta: number;
  rmsEps: number;
  contextLength: number;
  /** True when the output head reuses the input embedding matrix. */
  tiedEmbeddings: boolean;
}

export function validateConfig(c: LlamaConfig, where = 'config'): LlamaConfig {
  const ints: (keyof LlamaConfig)[] = ['vocabSize', 'dModel', 'nLayers', 'nHeads', 'nKvHeads', 'headDim', 'ffnDim', 'contextLength'];
  for (const k of ints) {
    const v = c[k] as number;
    if (!Number.isInteger(v) || v <= 0) throw new SynthgradError(`${where}: ${k} must be a positive integer, got ${v}`, 'E_MODEL_INVALID');
  }
  if (c.nHeads * c.headDim !== c.dModel) {
    throw new SynthgradError(`${where}: nHeads (${c.nHeads}) x headDim (${c.headDim}) != dModel (${c.dModel})`, 'E_MODEL_INVALID');
  }
  if (c.nHeads % c.nKvHeads !== 0) {
    throw new SynthgradError(`${where}: nHeads (${c.nHeads}) is not a multiple of nKvHeads (${c.nKvHeads})`, 'E_MODEL_INVALID');
  }
  if (c.headDim % 2 !== 0) throw new SynthgradError(`${where}: headDim must be even for RoPE, got ${c.headDim}`, 'E_MODEL_INVALID');
  if (!(c.ropeTheta > 0) || !(c.rmsEps > 0)) throw new SynthgradError(`${where}: ropeTheta and rmsEps must be positive`, 'E_MODEL_INVALID');
  return c;
}

export function configFromGGUF(file: GGUFFile): LlamaConfig {
  const arch = file.requireMeta<string>('general.architecture');
  if (arch !== 'llama') {
    throw new SynthgradError(`${file.path}: architecture "${arch}" is not supported (supported: llama)`, 'E_MODEL_UNSUPPORTED');
  }
  const num = (key: string, fallback?: number): number => {
    const v = file.meta(key);
    if (v === undefined) {
      if (fallback === undefined) throw new SynthgradError(`${file.path}: metadata key ${key} is missing`, 'E_MODEL_INVALID');
      return fallback;
    }
    return Number(v);
  };
  const dModel = num('llama.embedding_length');
  const nHeads = num('llama.attention.head_count');
  const tokens = file.meta<string[]>('tokenizer.ggml.tokens');
  const embed = file.tensor('token_embd.weight');
  const config: LlamaConfig = {
    architecture: 'llama',
    vocabSize: num('llama.vocab_size', tokens?.length ?? embed.shape[0]),
    dModel,
    nLayers: num('llama.block_count'),
    nHeads,
    nKvHeads: num('llama.attention.head_count_kv', nHeads),
    headDim: num('llama.attention.key_length', dModel / nHeads),
    ffnDim: num('llama.feed_forward_length'),
    ropeTheta: num('llama.rope.freq_base', 10000),
    rmsEps: num('llama.attention.layer_norm_rms_epsilon', 1e-5),
    contextLength: num('llama.context_length', 2048),
    tiedEmbeddings: !file.has('output.weight'),
  };
  return validateConfig(config, file.path);
}
