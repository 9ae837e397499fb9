/** One call from a model file to a ready model and tokenizer. */
import { basename } from 'node:path';
import { Llama, type LlamaOptions } from './llama.js';
import { loadGGUFWeights } from './load-gguf.js';
import { Tokenizer } from '../tokenizer/gguf-tokenizer.js';
import type { LlamaConfig } from './config.js';
import type { GGUFFile } from '../gguf/file.js';
import { sha256File } from '../hub/models.js';
import { SynthgradError } from '../util/errors.js';

export interface LoadedModel {
  model: Llama;
  tokenizer: Tokenizer;
  config: LlamaConfig;
  path: string;
  /** The options it was loaded with (a worker thread loads the same model from `path` with them). */
  options?: LlamaOptions;
  name: string;
  file: GGUFFile;
  /** sha256 of the model file, computed on first use. */
  sha256(): Promise<string>;
  dispose(): void;
}

export async function loadModel(
  path: string,
  options: LlamaOptions = {},
  onProgress?: (done: number, total: number) => void,
): Promise<LoadedModel> {
  const { config, weights, file } = await loadGGUFWeights(path, onProgress);
  const tokenizer = Tokenizer.fromGGUF(file);
  // The embedding matrix may be padded beyond the tokenizer's vocabulary; fewer rows is an error.
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new SynthgradError(`${path}: tokenizer has ${tokenizer.vocabSize} tokens but the embedding matrix only ${config.vocabSize} rows`, 'E_SHAPE_MISMATCH');
  }
  const model = new Llama(config, weights, options);
  model.warmup();
  let hash: Promise<string> | undefined;
  return {
    model,
    tokenizer,
    config,
    path,
    options,
    name: String(file.meta('general.name') ?? basename(path)),
    file,
    sha256: () => (hash ??= sha256File(path)),
    dispose: () => model.dispose(),
  };
}
