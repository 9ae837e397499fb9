/**
 * Model runtime benchmark: plain and transposed matmul throughput on the active backend, and the
 * forward and forward+backward (gradient to the input embeddings) of the real model at B x L,
 * with and without the wasm transposed-matmul fix.
 */
import * as tf from '@tensorflow/tfjs-core';
import { allowedTokenIds, installTransposeFix, lastPosition, Projector, uninstallTransposeFix, type Llama, type LlamaConfig, type LoadedModel } from '@synthgrad/core';
import { round, time } from './stats.js';

/** Multiply-adds x2 of one forward at B x L with last-position logits only. */
export function forwardFlops(c: LlamaConfig, B: number, L: number): number {
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  const linear = c.dModel * (2 * q + 2 * kv) + 3 * c.dModel * c.ffnDim;
  const perLayer = 2 * B * L * linear + 4 * B * c.nHeads * L * L * c.headDim;
  return c.nLayers * perLayer + 2 * B * c.dModel * c.vocabSize;
}

async function matmulGflops(transposeB: boolean): Promise<number> {
  const [m, k, n] = [320, 576, 1536];
  const a = tf.randomNormal([m, k]);
  const b = tf.randomNormal(transposeB ? [n, k] : [k, n]);
  const t = await time(() => tf.tidy(() => void tf.matMul(a, b, false, transposeB).dataSync()), { warmup: 2, runs: 5 });
  a.dispose();
  b.dispose();
  return round((2 * m * k * n) / t.median_s / 1e9, 2);
}

export interface ModelBenchOptions {
  batch: number;
  length: number;
  runs: number;
  backend: string;
  /** 'synthgrad': the model as shipped; 'autodiff': plain tfjs autodiff (the baseline). */
  variant: 'synthgrad' | 'autodiff';
  log: (m: string) => void;
}

export async function benchModel(rt: LoadedModel, opts: ModelBenchOptions): Promise<Record<string, unknown>> {
  const { config } = rt;
  const { batch: B, length: L } = opts;
  const ids = Array.from({ length: B }, (_, b) => Array.from({ length: L }, (_, i) => 100 + ((b * 7919 + i * 104729) % 40000)));
  // Embeddings are looked up once, before any model is freed.
  const embeds = rt.model.embed(ids);
  const flops = forwardFlops(config, B, L);
  // Input gradients only: the backward pass costs about one more forward in matmul FLOPs.
  const fbFlops = 2 * flops;
  const result: Record<string, unknown> = { backend: opts.backend, model: rt.name, batch: B, length: L, forward_gflop: round(flops / 1e9, 2) };

  const wasm = opts.backend === 'wasm';
  for (const fix of wasm && opts.variant === 'synthgrad' ? [true, false] : []) {
    if (fix) installTransposeFix();
    else uninstallTransposeFix();
    opts.log(`matmul (transpose fix ${fix ? 'on' : 'off'}) ...`);
    result[fix ? 'matmul_with_fix' : 'matmul_without_fix'] = {
      plain_gflops: await matmulGflops(false),
      transposed_b_gflops: await matmulGflops(true),
    };
  }
  const measure = async (name: string, model: Llama, fix: boolean) => {
    if (fix) installTransposeFix();
    else uninstallTransposeFix();
    const objective = (h: tf.Tensor3D) => tf.tidy(() => tf.mean(tf.max(tf.logSoftmax(model.logitsOf(lastPosition(h))), 1)) as tf.Scalar);
    const forward = () => {
      const out = model.forward({ embeds, logits: 'last' });
      out.logits!.dataSync();
      out.hidden.dispose();
      out.logits!.dispose();
    };
    const backward = () => {
      const { grad } = model.valueAndGradWrtEmbeddings(embeds, objective);
      grad.dataSync();
      grad.dispose();
    };
    opts.log(`${name}: forward ...`);
    const fwd = await time(forward, { warmup: 1, runs: opts.runs });
    opts.log(`${name}: forward+backward ...`);
    const slow = !fix && wasm;
    const fb = await time(backward, { warmup: slow ? 0 : 1, runs: slow ? 1 : opts.runs });
    result[name] = {
      forward_s: fwd.median_s,
      forward_backward_s: fb.median_s,
      backward_over_forward: round(fb.median_s / fwd.median_s, 2),
      forward_gflops: round(flops / fwd.median_s / 1e9, 2),
      forward_backward_gflops: round(fbFlops / fb.median_s / 1e9, 2),
    };
  };
  if (opts.variant === 'synthgrad') {
    await measure('synthgrad', rt.model, true);
    // One Z-step: top-200 allowed tokens by cosine per position, the LM's pick with a KV cache.
    const projector = new Projector(rt.model, allowedTokenIds(rt.tokenizer), 200, rt.tokenizer.encode('Movie review:'));
    opts.log('synthgrad: projection ...');
    const proj = await time(() => void projector.project(embeds), { warmup: 1, runs: Math.max(1, opts.runs - 1) });
    (result.synthgrad as Record<string, unknown>).projection_s = proj.median_s;
    projector.dispose();
  } else {
    // Baseline: the same weights left to plain tfjs autodiff, with and without the transpose fix.
    // Run in its own process (see commands/bench.ts): wasm memory is 4 GiB and XNNPACK keeps a
    // packed copy of every weight it has multiplied, so two models do not fit side by side.
    await measure('autodiff_with_fix', rt.model, true);
    if (wasm) await measure('autodiff_without_fix', rt.model, false);
  }
  installTransposeFix();
  embeds.dispose();
  return result;
}

/** Ratios of the synthgrad path to the plain-autodiff baseline, and of the fix alone. */
export function speedups(ours: Record<string, unknown>, baseline: Record<string, unknown>): Record<string, number> {
  const o = ours.synthgrad as Record<string, number>;
  const withFix = baseline.autodiff_with_fix as Record<string, number>;
  const without = baseline.autodiff_without_fix as Record<string, number> | undefined;
  const out: Record<string, number> = {
    forward_backward_synthgrad_vs_autodiff_with_fix: round(withFix.forward_backward_s / o.forward_backward_s, 2),
  };
  const mm = ours.matmul_with_fix as Record<string, number> | undefined;
  const mmOff = ours.matmul_without_fix as Record<string, number> | undefined;
  if (mm && mmOff) out.transposed_matmul_from_fix = round(mm.transposed_b_gflops / mmOff.transposed_b_gflops, 2);
  if (without) {
    out.forward_backward_from_fix_alone = round(without.forward_backward_s / withFix.forward_backward_s, 2);
    out.forward_backward_synthgrad_vs_autodiff_without_fix = round(without.forward_backward_s / o.forward_backward_s, 2);
  }
  return out;
}
