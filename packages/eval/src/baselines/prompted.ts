/**
 * The "just ask the LLM" baseline: the instruction-tuned model writes texts of a given label,
 * zero-shot or with k real examples of that label in the prompt. Top-k sampling with the KV cache
 * from a shared prompt; a text ends at the end of the assistant turn or the first line break.
 */
import { Rng, sampleFromContext, SynthgradError, type Example, type LoadedModel, type Task } from '@synthgrad/core';

export interface PromptedOptions {
  label: number;
  n: number;
  /** Real examples of this label shown in the prompt (0 = zero-shot). */
  k: number;
  pool: Example[];
  /** What the texts are ("movie review"). */
  domain: string;
  seed: number;
  batchSize?: number;
  maxTokens?: number;
  temperature?: number;
  topK?: number;
  onProgress?: (done: number, total: number) => void;
}

/** The chat prompt (SmolLM2's ChatML) asking for one text of the label. */
export function promptFor(task: Task, o: Pick<PromptedOptions, 'label' | 'domain'>, examples: string[]): string {
  const name = task.labels[o.label]!.name;
  const shown = examples.length ? `Here are some ${name} ${o.domain}s:\n${examples.map((t) => `- ${t}`).join('\n')}\n\n` : '';
  return `<|im_start|>user\n${shown}Write one new ${name} ${o.domain}, a single sentence. Reply with the ${o.domain} only.<|im_end|>\n<|im_start|>assistant\n`;
}

export function generatePrompted(rt: LoadedModel, task: Task, o: PromptedOptions): string[] {
  const { model, tokenizer } = rt;
  const pool = o.pool.filter((e) => e.label === o.label);
  if (o.k > 0 && pool.length < o.k) throw new SynthgradError(`few-shot prompting needs ${o.k} examples of label ${o.label}; the pool has ${pool.length}`, 'E_DATA');
  const rng = Rng.derive(o.seed, 'prompted', o.label, o.k);
  const stop = new Set<number>([...tokenizer.encode('<|im_end|>'), ...(tokenizer.info.eosId !== undefined ? [tokenizer.info.eosId] : [])]);
  const batch = o.batchSize ?? 10;
  const maxTokens = o.maxTokens ?? 40;
  const out: string[] = [];
  const seen = new Set<string>();
  for (let attempt = 0; out.length < o.n; attempt++) {
    if (attempt > 4 * Math.ceil(o.n / batch) + 4) throw new SynthgradError(`the model produced only ${out.length} usable texts of ${o.n} for label ${o.label}`);
    const shown = o.k > 0 ? rng.shuffle(pool).slice(0, o.k).map((e) => e.text) : [];
    const prompt = tokenizer.encode(promptFor(task, o, shown));
    const ids = sampleFromContext(model, prompt, batch, maxTokens, rng, {
      topK: o.topK ?? 50,
      temperature: o.temperature ?? 0.8,
      stop: (id) => stop.has(id) || tokenizer.decode([id]).includes('\n'),
    });
    for (const seq of ids) {
      const text = cleanText(tokenizer.decode(seq, true));
      if (text.split(/\s+/).length >= 3 && !seen.has(text) && out.length < o.n) {
        seen.add(text);
        out.push(text);
      }
    }
    o.onProgress?.(out.length, o.n);
  }
  return out;
}

/** Strip list markers, surrounding quotes and whitespace the model tends to add. */
export function cleanText(s: string): string {
  return s
    .trim()
    .replace(/^[-*•]\s*/, '')
    .replace(/^["'“]+|["'”]+$/g, '')
    .trim();
}

/**
 * A prompted baseline set of n texts over all of the task's labels (the remainder to the first
 * labels), each written by generatePrompted with the same k, pool, domain and seed.
 */
export function generatePromptedSet(
  rt: LoadedModel,
  task: Task,
  o: Omit<PromptedOptions, 'label' | 'onProgress'> & { source: string; onProgress?: (label: number, done: number, total: number) => void },
): Example[] {
  const K = task.labels.length;
  return task.labels.flatMap((_, c) =>
    generatePrompted(rt, task, { ...o, label: c, n: Math.floor(o.n / K) + (c < o.n % K ? 1 : 0), onProgress: o.onProgress && ((d, n) => o.onProgress!(c, d, n)) }).map((text, i) => ({ text, label: c, line: i + 1, source: o.source })),
  );
}

/**
 * The domain the prompted baseline writes in ("Write one new positive movie review"): the one asked
 * for, else the task's own, else "movie review" for the built-in sentiment task and "text".
 */
export function promptedDomain(task: Task, given?: string): string {
  return given ?? task.domain ?? (task.name === 'sentiment' ? 'movie review' : 'text');
}
