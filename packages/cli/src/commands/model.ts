/** `synthgrad model pull | inspect | next-token`. */
import type * as Tf from '@tensorflow/tfjs-core';
import { intFlag, parse } from '../args.js';
import { startRuntime } from '../runtime.js';
import { MODEL_HELP } from '../help.js';
import { UsageError } from '../usage-error.js';
import { didYouMean } from '../suggest.js';

const MODEL_USAGE = MODEL_HELP;
const SUBCOMMANDS = ['pull', 'inspect', 'next-token'];

export async function modelCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'pull':
      return pull(rest);
    case 'inspect':
      return inspect(rest);
    case 'next-token':
      return nextToken(rest);
    default:
      throw new UsageError(`unknown model command "${sub}"${didYouMean(sub ?? '', SUBCOMMANDS, (s) => `"${s}"`)}`, 'model');
  }
}

async function pull(argv: string[]): Promise<void> {
  const { values } = parse(argv, { 'cache-dir': { type: 'string' } }, MODEL_USAGE, 'model');
  const { pullModel } = await import('@synthgrad/core');
  const res = await pullModel({ cacheDir: values['cache-dir'], log: (m) => process.stderr.write(`${m}\n`) });
  process.stdout.write(`${res.path}\n`);
}

async function inspect(argv: string[]): Promise<void> {
  const { values } = parse(argv, { model: { type: 'string' } }, MODEL_USAGE, 'model');
  const { GGUFFile, configFromGGUF, resolveModelPath } = await import('@synthgrad/core');
  const path = resolveModelPath(values.model);
  const file = await GGUFFile.open(path);
  const config = configFromGGUF(file);
  const tensorTypes: Record<string, number> = {};
  for (const t of file.tensors.values()) tensorTypes[t.typeName] = (tensorTypes[t.typeName] ?? 0) + 1;
  const out = { ...config, name: file.meta('general.name') ?? null, file: path, tensorTypes };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

async function nextToken(argv: string[]): Promise<void> {
  const { values } = parse(
    argv,
    {
      text: { type: 'string' },
      top: { type: 'string' },
      json: { type: 'boolean', default: false },
      'embedding-grad': { type: 'boolean', default: false },
      model: { type: 'string' },
    },
    MODEL_USAGE,
    'model',
  );
  if (values.text === undefined) throw new UsageError('--text is required', 'model');
  const k = intFlag(values.top, 'top', 5);
  const { lastPosition, SynthgradError } = await import('@synthgrad/core');
  const tf: typeof Tf = await import('@tensorflow/tfjs-core');
  const rt = await startRuntime(values);
  try {
    const ids = rt.tokenizer.encode(values.text);
    if (ids.length === 0) throw new SynthgradError('--text must contain at least one token');
    if (ids.length > rt.config.contextLength) throw new SynthgradError(`--text has ${ids.length} tokens, more than the model's context of ${rt.config.contextLength}`);
    const { hidden, logits } = rt.model.forward({ ids: [ids], logits: 'last' });
    const row = logits!.dataSync() as Float32Array;
    hidden.dispose();
    logits!.dispose();
    const top = topK(row, k).map(({ id, value }) => ({ id, token: rt.tokenizer.tokenText(id), logit: value }));
    const result: Record<string, unknown> = { ids, top };
    if (values['embedding-grad']) {
      const target = top[0].id;
      const embeds = rt.model.embed([ids]);
      const { value, grad } = rt.model.valueAndGradWrtEmbeddings(embeds, (h) =>
        tf.tidy(() => tf.squeeze(tf.slice(tf.logSoftmax(rt.model.logitsOf(lastPosition(h))), [0, target], [1, 1])) as Tf.Scalar),
      );
      const g = grad.dataSync() as Float32Array;
      let sq = 0;
      let sum = 0;
      for (const x of g) {
        sq += x * x;
        sum += x;
      }
      Object.assign(result, { logprob: value, grad_norm: Math.sqrt(sq), grad_sum: sum });
      embeds.dispose();
      grad.dispose();
    }
    if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      process.stdout.write(`ids: ${ids.join(' ')}\n`);
      for (const t of top) process.stdout.write(`${String(t.id).padStart(6)}  ${t.logit.toFixed(4).padStart(9)}  ${JSON.stringify(t.token)}\n`);
      if ('grad_norm' in result) process.stdout.write(`embedding grad: norm ${result.grad_norm} sum ${result.grad_sum}\n`);
    }
  } finally {
    rt.dispose();
  }
}

export function topK(values: Float32Array, k: number): { id: number; value: number }[] {
  const best: { id: number; value: number }[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (best.length < k || v > best[best.length - 1].value) {
      best.push({ id: i, value: v });
      best.sort((a, b) => b.value - a.value);
      if (best.length > k) best.pop();
    }
  }
  return best;
}
