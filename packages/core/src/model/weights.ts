/**
 * Model weights as plain float32 arrays in Hugging Face layout (linear weights [out, in], row-major),
 * so tiny models can be built in code and real ones loaded from GGUF through the same checks.
 */
import type { LlamaConfig } from './config.js';
import { SynthgradError } from '../util/errors.js';
import { Rng } from '../util/rng.js';

export interface LlamaLayerWeights {
  attnNorm: Float32Array; // [d]
  wq: Float32Array; // [nHeads*headDim, d]
  wk: Float32Array; // [nKv*headDim, d]
  wv: Float32Array; // [nKv*headDim, d]
  wo: Float32Array; // [d, nHeads*headDim]
  ffnNorm: Float32Array; // [d]
  wGate: Float32Array; // [ffn, d]
  wUp: Float32Array; // [ffn, d]
  wDown: Float32Array; // [d, ffn]
}

export interface LlamaWeights {
  embed: Float32Array; // [V, d]
  layers: LlamaLayerWeights[];
  finalNorm: Float32Array; // [d]
  /** [V, d]; absent when the head is tied to `embed`. */
  head?: Float32Array;
}

export type LayerKey = keyof LlamaLayerWeights;

export function layerShapes(c: LlamaConfig): Record<LayerKey, number[]> {
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  return {
    attnNorm: [c.dModel],
    wq: [q, c.dModel],
    wk: [kv, c.dModel],
    wv: [kv, c.dModel],
    wo: [c.dModel, q],
    ffnNorm: [c.dModel],
    wGate: [c.ffnDim, c.dModel],
    wUp: [c.ffnDim, c.dModel],
    wDown: [c.dModel, c.ffnDim],
  };
}

export function checkShape(what: string, got: number[], want: number[]): void {
  if (got.length !== want.length || got.some((g, i) => g !== want[i])) {
    throw new SynthgradError(`${what}: shape [${got}] does not match the config's [${want}]`, 'E_SHAPE_MISMATCH');
  }
}

/** Check every array's length against the config (catches hand-built or corrupted weights). */
export function validateWeights(c: LlamaConfig, w: LlamaWeights): void {
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const expect = (what: string, arr: Float32Array | undefined, shape: number[]) => {
    if (!arr) throw new SynthgradError(`${what} is missing`, 'E_SHAPE_MISMATCH');
    if (arr.length !== size(shape)) {
      throw new SynthgradError(`${what}: ${arr.length} values do not match the config's shape [${shape}]`, 'E_SHAPE_MISMATCH');
    }
  };
  expect('embed', w.embed, [c.vocabSize, c.dModel]);
  expect('finalNorm', w.finalNorm, [c.dModel]);
  if (c.tiedEmbeddings !== (w.head === undefined)) {
    throw new SynthgradError(`config says tiedEmbeddings=${c.tiedEmbeddings} but the head is ${w.head ? 'present' : 'absent'}`, 'E_SHAPE_MISMATCH');
  }
  if (w.head) expect('head', w.head, [c.vocabSize, c.dModel]);
  if (w.layers.length !== c.nLayers) {
    throw new SynthgradError(`weights have ${w.layers.length} layers, config has ${c.nLayers}`, 'E_SHAPE_MISMATCH');
  }
  const shapes = layerShapes(c);
  w.layers.forEach((layer, i) => {
    for (const key of Object.keys(shapes) as LayerKey[]) expect(`layer ${i} ${key}`, layer[key], shapes[key]);
  });
}

/** Seeded random weights for tests and benchmarks. */
export function randomWeights(c: LlamaConfig, seed = 0, scale = 0.08): LlamaWeights {
  const rng = new Rng(seed);
  const normal = (n: number, sd: number) => rng.normals(n, sd);
  const norm = (n: number) => Float32Array.from(normal(n, 0.1), (x) => 1 + x);
  const shapes = layerShapes(c);
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const layers: LlamaLayerWeights[] = [];
  for (let i = 0; i < c.nLayers; i++) {
    layers.push({
      attnNorm: norm(c.dModel),
      wq: normal(size(shapes.wq), scale),
      wk: normal(size(shapes.wk), scale),
      wv: normal(size(shapes.wv), scale),
      wo: normal(size(shapes.wo), scale),
      ffnNorm: norm(c.dModel),
      wGate: normal(size(shapes.wGate), scale),
      wUp: normal(size(shapes.wUp), scale),
      wDown: normal(size(shapes.wDown), scale),
    });
  }
  return {
    embed: normal(c.vocabSize * c.dModel, 1),
    layers,
    finalNorm: norm(c.dModel),
    head: c.tiedEmbeddings ? undefined : normal(c.vocabSize * c.dModel, scale),
  };
}
