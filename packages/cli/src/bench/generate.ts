/**
 * Generation benchmark: one batch per class with a preset on a real data file, reporting seconds
 * per synthetic example split into target computation, initialisation, X-steps and Z-steps, and
 * the FLOP rate achieved by the X-step's forward+backward passes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate, readExamples, resolvePreset, SENTIMENT_TASK, type LoadedModel } from '@synthgrad/core';
import { forwardFlops } from './model.js';
import { round } from './stats.js';

export async function benchGenerate(rt: LoadedModel, opts: { data: string; preset: string; workers?: number; log: (m: string) => void }) {
  const preset = resolvePreset(opts.preset);
  const task = SENTIMENT_TASK;
  const examples = readExamples(opts.data, task);
  const dir = mkdtempSync(join(tmpdir(), 'synthgrad-bench-'));
  try {
    const res = await generate(
      rt,
      examples,
      { task, preset: opts.preset, settings: preset.settings, perClass: preset.settings.batchSize, realPerClass: 25, seed: 0, privacy: {}, distance: 'cosine' },
      {
        checkpointPath: join(dir, 'cp.json'),
        resume: false,
        modelSha256: 'bench',
        dataFingerprint: 'bench',
        log: opts.log,
        workers: opts.workers,
      },
    );
    const n = res.examples.length;
    const t = res.timings;
    // Each Adam step is one forward+backward over B sequences of (text + suffix) tokens.
    const suffixLen = rt.tokenizer.encode((task.sentenceEnd ?? '') + task.suffix).length;
    const flops = res.classes.reduce(
      (acc, c) => acc + (res.adamSteps / res.classes.length) * 2 * forwardFlops(rt.config, preset.settings.batchSize, c.textLength + suffixLen),
      0,
    );
    return {
      preset: opts.preset,
      data: opts.data,
      synthetic_examples: n,
      // Threads that ran classes: 2 on wasm (one class each), 1 natively; the split below adds up every thread's time.
      workers: res.workers,
      seconds_per_example: round(t.total_s / n, 2),
      split_seconds_per_example: {
        targets: round(t.targets_s / n, 3),
        public_statistics: round(t.public_s / n, 3),
        init: round(t.init_s / n, 3),
        x_steps: round(t.x_step_s / n, 3),
        z_steps: round(t.z_step_s / n, 3),
        scoring: round(t.scoring_s / n, 3),
        punctuation: round(t.punctuation_s / n, 3),
      },
      adam_steps: res.adamSteps,
      x_step_gflops: round(flops / t.x_step_s / 1e9, 2),
      comparison_with_real: res.comparison,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
