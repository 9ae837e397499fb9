/** Build a Llama from a GGUF file: config from metadata, weights dequantised and shape-checked. */
import { GGUFFile } from '../gguf/file.js';
import { configFromGGUF, type LlamaConfig } from './config.js';
import { checkShape, layerShapes, type LayerKey, type LlamaLayerWeights, type LlamaWeights } from './weights.js';

const LAYER_TENSORS: Record<LayerKey, string> = {
  attnNorm: 'attn_norm',
  wq: 'attn_q',
  wk: 'attn_k',
  wv: 'attn_v',
  wo: 'attn_output',
  ffnNorm: 'ffn_norm',
  wGate: 'ffn_gate',
  wUp: 'ffn_up',
  wDown: 'ffn_down',
};

/**
 * llama.cpp's converter permutes the rows of Q and K so that RoPE rotates adjacent pairs
 * (row h*hd + 2i + c holds Hugging Face row h*hd + c*hd/2 + i). Undo it, exactly as
 * transformers does when it loads a GGUF, so the model uses the rotate-half layout.
 */
export function unpermuteQK(w: Float32Array, nHeads: number, headDim: number, inDim: number): Float32Array {
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let c = 0; c < 2; c++) {
        const src = (h * headDim + 2 * i + c) * inDim;
        const dst = (h * headDim + c * half + i) * inDim;
        out.set(w.subarray(src, src + inDim), dst);
      }
    }
  }
  return out;
}

export interface LoadedWeights {
  config: LlamaConfig;
  weights: LlamaWeights;
  file: GGUFFile;
}

export async function loadGGUFWeights(path: string, onProgress?: (done: number, total: number) => void): Promise<LoadedWeights> {
  const file = await GGUFFile.open(path);
  const config = configFromGGUF(file);
  const shapes = layerShapes(config);
  const total = 2 + config.nLayers * 9 + (config.tiedEmbeddings ? 0 : 1);
  let done = 0;
  const read = (name: string, shape: number[]): Float32Array => {
    const t = file.readFloat32(name);
    checkShape(`${path}: tensor ${name}`, t.shape, shape);
    onProgress?.(++done, total);
    return t.data;
  };
  const embed = read('token_embd.weight', [config.vocabSize, config.dModel]);
  const layers: LlamaLayerWeights[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const lw = {} as LlamaLayerWeights;
    for (const key of Object.keys(LAYER_TENSORS) as LayerKey[]) {
      lw[key] = read(`blk.${l}.${LAYER_TENSORS[key]}.weight`, shapes[key]);
    }
    lw.wq = unpermuteQK(lw.wq, config.nHeads, config.headDim, config.dModel);
    lw.wk = unpermuteQK(lw.wk, config.nKvHeads, config.headDim, config.dModel);
    layers.push(lw);
  }
  const finalNorm = read('output_norm.weight', [config.dModel]);
  const head = config.tiedEmbeddings ? undefined : read('output.weight', [config.vocabSize, config.dModel]);
  return { config, weights: { embed, layers, finalNorm, head }, file };
}
