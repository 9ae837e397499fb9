// The KV-cached decode step (what the projection and the LM start run L times a batch), timed on
// the real model through the one-token decode path (llama.ts decodeStates) and through the general
// layers (ForwardInput.generalPath), with a check that both give the same logits bit for bit.
// Forty-ninth stop, one thread, nothing else running: B = 10 after a 70-token context, 167.8 ms a
// step against 184.1 ms through the general layers; B = 1, 111.6 ms against 134.8 ms; identical
// logits both times.
//
//   node scripts/experiments/decode-profile.mjs [B=10] [context=70] [steps=25]   (THREADS=n)
import * as core from '@synthgrad/core';

const [B = 10, C = 70, L = 25] = process.argv.slice(2).map(Number);
await core.initBackend({ threads: Number(process.env.THREADS ?? 1) });
const rt = await core.loadModel(core.resolveModelPath());
const m = rt.model;
m.warmup();
const context = Array.from({ length: C }, (_, i) => 300 + ((i * 7919) % 20000));
const run = (generalPath) => {
  const prefix = m.createCache(1);
  const first = m.forward({ ids: [context], cache: prefix, logits: 'last' });
  first.hidden.dispose();
  first.logits.dispose();
  const cache = prefix.expand(B);
  prefix.dispose();
  const logits = [];
  let ms = 0;
  for (let i = 0; i < L; i++) {
    const t = performance.now();
    const out = m.forward({ ids: Array.from({ length: B }, (_, b) => [400 + b * 13 + i]), cache, logits: 'last', generalPath });
    logits.push(out.logits.dataSync().slice());
    ms += performance.now() - t;
    out.hidden.dispose();
    out.logits.dispose();
  }
  cache.dispose();
  return { logits, ms: ms / L };
};
run(false); // warm both paths' kernels
const general = run(true);
const decode = run(false);
const identical = general.logits.every((row, i) => row.every((v, j) => v === decode.logits[i][j]));
console.log(JSON.stringify({ B, context: C, steps: L, ms_per_step: { decode_path: +decode.ms.toFixed(1), general_layers: +general.ms.toFixed(1) }, speedup: +(general.ms / decode.ms).toFixed(2), identical }));
rt.dispose();
