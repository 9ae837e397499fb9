// Forward + backward to the input embeddings on the real model (bench model's step: B = 10,
// L = 32, one thread), run RUNS times after a warm-up; with --cpu-prof, where its time goes.
// GRADIENT=autodiff runs plain tfjs autodiff instead of the closed-form linear-layer gradients.
// Fortieth stop: the closed form's two transposes were 13% of the profile; without them (the
// native kernels take the weight transposed in place) 2.1 s against 2.2-2.8 s, the same gradient.
//
//   node [--cpu-prof --cpu-prof-dir=DIR] scripts/experiments/fwd-bwd-profile.mjs [B=10] [L=32] [runs=3]
import * as tf from '@tensorflow/tfjs-core';
import * as core from '@synthgrad/core';

const [B = 10, L = 32, RUNS = 3] = process.argv.slice(2).map(Number);
await core.initBackend({ threads: Number(process.env.THREADS ?? 1) });
const rt = await core.loadModel(core.resolveModelPath(), process.env.GRADIENT ? { gradient: process.env.GRADIENT } : {});
const m = rt.model;
const x = m.embed(Array.from({ length: B }, (_, b) => Array.from({ length: L }, (_, i) => 300 + ((b * 131 + i * 7919) % 20000))));
const once = () => {
  const { grad } = m.valueAndGradWrtEmbeddings(x, (h) => tf.tidy(() => tf.sum(m.logitsOf(core.lastPosition(h)))));
  grad.dataSync();
  grad.dispose();
};
once();
const ms = [];
for (let r = 0; r < RUNS; r++) {
  const t = performance.now();
  once();
  ms.push(performance.now() - t);
}
console.log(JSON.stringify({ B, L, gradient: process.env.GRADIENT ?? 'custom', ms: ms.map((v) => +v.toFixed(0)) }));
x.dispose();
rt.dispose();
