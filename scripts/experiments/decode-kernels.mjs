// Which kernels one KV-cached decode step dispatches (tf.profile), by name and count, on the real
// model: what the per-op overhead of the decode path is made of. Fortieth stop, B = 10 after 70
// tokens: 1,606 records, 53.5 a layer (BatchMatMul 301 with the head's, Multiply 272, Reshape
// 245, Add 151, Concat 90; Square, Cast, Mean and Rsqrt 61 each: tfjs-node's Mean casts first).
//
//   node scripts/experiments/decode-kernels.mjs [B=10] [context=70]
import * as tf from '@tensorflow/tfjs-core';
import * as core from '@synthgrad/core';

const [B = 10, C = 70] = process.argv.slice(2).map(Number);
await core.initBackend({ threads: 1 });
const rt = await core.loadModel(core.resolveModelPath());
const m = rt.model;
const context = Array.from({ length: C }, (_, i) => 300 + ((i * 7919) % 20000));
const { cache: prefix, last } = m.prefill(context);
last.dispose();
const cache = prefix.expand(B);
const step = () => {
  const out = m.forward({ ids: Array.from({ length: B }, (_, b) => [400 + b]), cache, logits: 'last' });
  out.hidden.dispose();
  out.logits.dispose();
};
step();
const info = await tf.profile(step);
const counts = {};
for (const k of info.kernels) counts[k.name] = (counts[k.name] ?? 0) + 1;
const layers = m.config.nLayers;
console.log(JSON.stringify({ kernels: info.kernels.length, per_layer: +(info.kernels.length / layers).toFixed(1), by_name: Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1])) }));
cache.dispose();
prefix.dispose();
rt.dispose();
