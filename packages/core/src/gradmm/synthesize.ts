/**
 * The optimisation half of GRADMM: from class targets (computed locally, or summed from several
 * data owners' contributions) to synthetic examples, batch by batch, with a checkpoint after each
 * batch. Shared by `generate` and the federated coordinator's job.
 */
import type { LoadedModel } from '../model/load.js';
import type { Task } from '../task/task.js';
import { Rng } from '../util/rng.js';
import { SynthgradError } from '../util/errors.js';
import { taskTokens } from './prompt.js';
import type { ClassTarget } from './targets.js';
import { MatchingLoss, type MatchingDistance } from './matching.js';
import { Projector } from './projection.js';
import { allowedTokenIds } from './vocab.js';
import { runAdmm, type AdmmSettings } from './admm.js';
import { perplexities } from './scoring.js';
import type { Checkpoint } from './checkpoint.js';
import type { Preset } from './presets.js';
import type { GenerateProgress, SyntheticExample } from './generate.js';
import * as tf from '@tensorflow/tfjs-core';

export interface ClassPlan {
  target: ClassTarget;
  /** Synthetic text tokens per sequence. */
  textLength: number;
}

export interface SynthesisOptions {
  settings: Preset['settings'];
  perClass: number;
  seed: number;
  distance: MatchingDistance;
}

export interface SynthesisIO {
  checkpoint: Checkpoint<SyntheticExample>;
  onProgress?: (p: GenerateProgress) => void;
  shouldStop?: () => boolean;
  log?: (msg: string) => void;
  /** Called once per class with its loss (still alive) and examples. */
  afterClass?: (classIndex: number, loss: MatchingLoss, examples: SyntheticExample[]) => void;
}

export interface SynthesisResult {
  examples: SyntheticExample[];
  timings: { init_s: number; x_step_s: number; z_step_s: number; scoring_s: number };
  adamSteps: number;
}

export function medianAllowedNorm(rt: LoadedModel, allowed: number[]): number {
  const norms = tf.tidy(() => tf.norm(tf.gather(rt.model.embeddingT, tf.tensor1d(allowed, 'int32'), 1), 2, 0).dataSync());
  const sorted = Array.from(norms).sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

export async function synthesize(rt: LoadedModel, task: Task, plans: ClassPlan[], opts: SynthesisOptions, io: SynthesisIO): Promise<SynthesisResult> {
  const log = io.log ?? (() => {});
  const toks = taskTokens(task, rt.tokenizer);
  const batchSize = opts.settings.batchSize;
  const batches = Math.ceil(opts.perClass / batchSize);
  const allowed = allowedTokenIds(rt.tokenizer);
  const allowedSet = new Set(allowed);
  const initNorm = opts.settings.initNorm === 'auto' ? medianAllowedNorm(rt, allowed) : opts.settings.initNorm;
  const projector = new Projector(rt.model, allowed, opts.settings.topK, toks.contextPrefix);
  const timings = { init_s: 0, x_step_s: 0, z_step_s: 0, scoring_s: 0 };
  const out: SyntheticExample[] = [];
  let adamSteps = 0;
  try {
    for (const [c, plan] of plans.entries()) {
      const label = task.labels[c];
      const loss = new MatchingLoss(rt.model, plan.target, toks.labelTokens[c], opts.distance);
      const mine: SyntheticExample[] = [];
      try {
        for (let b = 0; b < batches; b++) {
          const saved = io.checkpoint.get(c, b);
          if (saved) {
            mine.push(...saved.examples);
            continue;
          }
          const settings: AdmmSettings = { ...opts.settings, textLength: plan.textLength, initNorm, batchSize };
          const ctx = { model: rt.model, loss, projector, suffix: toks.syntheticSuffix, allowed: allowedSet, context: toks.contextPrefix };
          const res = await runAdmm(ctx, settings, Rng.derive(opts.seed, 'admm', c, b), {
            onStep: (done, total) => io.onProgress?.({ phase: 'admm', classIndex: c, batch: b, batches, done, total }),
            shouldStop: io.shouldStop,
          });
          const ts = performance.now();
          const ppl = perplexities(rt.model, res.ids);
          timings.scoring_s += (performance.now() - ts) / 1000;
          const batchExamples = res.ids.map((ids, j) => ({
            text: rt.tokenizer.decode(ids),
            label: label.value,
            labelIndex: c,
            ids,
            matching_loss: res.lossPerExample[j],
            perplexity: ppl[j],
            batch: b,
          }));
          timings.init_s += res.timings.init_s;
          timings.x_step_s += res.timings.x_step_s;
          timings.z_step_s += res.timings.z_step_s;
          adamSteps += res.adamSteps;
          io.checkpoint.add({ classIndex: c, batch: b, examples: batchExamples, timings: res.timings });
          mine.push(...batchExamples);
          log(`class ${JSON.stringify(label.value)} batch ${b + 1}/${batches}: batch loss ${res.lossBatch.toFixed(4)} (outputs from iterations ${res.bestIteration.join(',')})`);
        }
        io.afterClass?.(c, loss, mine);
        out.push(...mine);
      } finally {
        loss.dispose();
      }
    }
  } finally {
    projector.dispose();
  }
  if (out.length === 0) throw new SynthgradError('nothing was generated');
  return { examples: out, timings, adamSteps };
}
