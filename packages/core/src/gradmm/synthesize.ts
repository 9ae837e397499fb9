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
import { MatchingLoss, sharedDirection, type MatchingDistance } from './matching.js';
import { Projector } from './projection.js';
import { allowedTokenIds } from './vocab.js';
import { runAdmm, type AdmmSettings } from './admm.js';
import { perplexities } from './scoring.js';
import type { Checkpoint } from './checkpoint.js';
import { DEFAULT_METHOD, type MethodSettings, type Preset } from './presets.js';
import { classDemonstrations, labelContextText } from '../task/task.js';
import { publicHiddenStats, type PublicStats } from './public-stats.js';
import { buildTargetClassifier, type TargetClassifier } from './target-classifier.js';
import { lastPosition } from '../model/llama.js';
import { leftPad } from './prompt.js';
import type { GenerateProgress, SyntheticExample } from './generate.js';
import * as tf from '@tensorflow/tfjs-core';

export interface ClassPlan {
  target: ClassTarget;
  /** Synthetic text tokens per sequence. */
  textLength: number;
}

export interface SynthesisOptions {
  settings: Preset['settings'];
  /** Issue 10's additions; default DEFAULT_METHOD. */
  method?: Partial<MethodSettings>;
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
  timings: { init_s: number; x_step_s: number; z_step_s: number; scoring_s: number; public_s: number };
  adamSteps: number;
  method: MethodSettings;
  /** The classifier the released targets imply (null with one class), and how far apart it puts the classes. */
  targetClassifier: { separation: number; weightSums: number[]; discriminant: string } | null;
}

/**
 * The label context for class c with as many demonstrations as fit before `room` more tokens in
 * the model's context: the task's public ones first, then `synthetic` (earlier output of the
 * same class); the last ones are dropped first.
 */
function fittingLabelContext(rt: LoadedModel, task: Task, c: number, demonstrations: number, room: number, synthetic: string[] = []): number[] {
  const publicOnes = Math.min(demonstrations, classDemonstrations(task, c).length);
  for (let k = publicOnes + synthetic.length; k > 0; k--) {
    const ids = rt.tokenizer.encode(labelContextText(task, c, Math.min(k, publicOnes), synthetic.slice(0, Math.max(0, k - publicOnes))));
    if (ids.length + room <= rt.config.contextLength) return ids;
  }
  return rt.tokenizer.encode(labelContextText(task, c, 0));
}

/**
 * Bootstrapped demonstrations for the next batch of a class: `n` texts drawn (seeded) from the
 * better half, by matching loss, of the class's earlier batches. Synthetic text is already
 * released output, so using it costs no privacy; drawing anew each batch keeps the batches from
 * all copying the same few texts.
 */
export function bootstrapDemonstrations(earlier: SyntheticExample[], n: number, rng: Rng): string[] {
  if (n <= 0 || earlier.length === 0) return [];
  const pool = [...earlier].sort((a, b) => a.matching_loss - b.matching_loss).slice(0, Math.max(n, Math.ceil(earlier.length / 2)));
  return rng.shuffle(pool.map((e) => e.text.replace(/\s+/g, ' ').trim()).filter((t) => t.length > 0)).slice(0, n);
}

/**
 * The classifier implied by the targets of every class plus public statistics (post-processing:
 * no privacy cost). Public texts are sampled after the label-blind context at the classes' mean
 * text length.
 */
export function targetClassifierFor(rt: LoadedModel, task: Task, plans: ClassPlan[], method: MethodSettings, seed: number): { classifier: TargetClassifier; stats: PublicStats } {
  const toks = taskTokens(task, rt.tokenizer);
  const length = Math.max(2, Math.round(plans.reduce((a, p) => a + p.textLength, 0) / plans.length));
  const stats = publicHiddenStats(rt.model, { context: toks.contextPrefix, suffix: toks.syntheticSuffix, allowed: new Set(allowedTokenIds(rt.tokenizer)), length, count: method.publicTexts, seed });
  const headRows = tf.tidy(() => tf.transpose(rt.model.headColumns(toks.labelTokens)).arraySync() as number[][]).map((r) => Float32Array.from(r));
  const classifier = buildTargetClassifier(plans.map((p) => p.target), toks.labelTokens, stats, { discriminant: method.discriminant, headRows, shrinkage: method.shrinkage });
  return { classifier, stats };
}

/** Target-classifier predictions for token sequences (text ids + suffix): label index and margin over the runner-up. */
export function targetPredictions(rt: LoadedModel, classifier: TargetClassifier, prompts: number[][], batchSize = 16): { label: number; margin: number; logits: number[] }[] {
  const out: { label: number; margin: number; logits: number[] }[] = [];
  const W = tf.tensor2d(classifier.weights, [classifier.dModel, classifier.classes]);
  const b = tf.tensor1d(classifier.bias);
  try {
    for (let i = 0; i < prompts.length; i += batchSize) {
      const { ids, mask } = leftPad(prompts.slice(i, i + batchSize), 0);
      const z = tf.tidy(() => tf.add(tf.matMul(lastPosition(rt.model.forward({ ids, attentionMask: mask, logits: 'none' }).hidden), W), b).arraySync() as number[][]);
      for (const logits of z) {
        const order = logits.map((v, k) => [v, k]).sort((x, y) => y[0] - x[0]);
        out.push({ label: order[0][1], margin: order[0][0] - order[1][0], logits });
      }
    }
  } finally {
    W.dispose();
    b.dispose();
  }
  return out;
}

/** Logit of class c over the best other class (negative: the classifier puts the text elsewhere). */
const ownMargin = (logits: number[], c: number) => logits[c] - Math.max(...logits.filter((_, k) => k !== c));

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
  const method: MethodSettings = { ...DEFAULT_METHOD, ...opts.method };
  const timings = { init_s: 0, x_step_s: 0, z_step_s: 0, scoring_s: 0, public_s: 0 };
  // The discriminant needs every class's target; with one class there is nothing to contrast.
  let classifier: TargetClassifier | null = null;
  if (plans.length > 1 && (method.classifierWeight > 0 || method.targetFilter)) {
    const t = performance.now();
    classifier = targetClassifierFor(rt, task, plans, method, opts.seed).classifier;
    timings.public_s = (performance.now() - t) / 1000;
    log(`target classifier from public statistics (${method.publicTexts} LM texts): class separation ${classifier.separation.toFixed(2)} public std`);
  }
  // Centred matching projects the shared direction of all classes out of both gradients.
  const shared = method.centredMatching ? sharedDirection(plans.map((p) => p.target), toks.labelTokens) : null;
  if (method.centredMatching && !shared) log('centred matching needs at least two classes with non-zero targets: matching the raw gradients');
  const out: SyntheticExample[] = [];
  let adamSteps = 0;
  for (const [c, plan] of plans.entries()) {
    const label = task.labels[c];
    const room = plan.textLength + toks.syntheticSuffix.length;
    const contextFor = (synthetic: string[]) => (method.labelContext ? fittingLabelContext(rt, task, c, method.demonstrations, room, synthetic) : toks.contextPrefix);
    const term = classifier && method.classifierWeight > 0 ? { classifier, classIndex: c, weight: method.classifierWeight } : undefined;
    const loss = new MatchingLoss(rt.model, plan.target, toks.labelTokens[c], opts.distance, term, shared ?? undefined);
    const mine: SyntheticExample[] = [];
    try {
      for (let b = 0; b < batches; b++) {
        const saved = io.checkpoint.get(c, b);
        if (saved) {
          mine.push(...saved.examples);
          continue;
        }
        const synthetic = method.labelContext ? bootstrapDemonstrations(mine, method.bootstrapDemonstrations, Rng.derive(opts.seed, 'demos', c, b)) : [];
        const context = contextFor(synthetic);
        const projector = new Projector(rt.model, allowed, opts.settings.topK, context);
        const settings: AdmmSettings = { ...opts.settings, textLength: plan.textLength, initNorm, batchSize };
        const ctx = { model: rt.model, loss, projector, suffix: toks.syntheticSuffix, allowed: allowedSet, context };
        let res;
        try {
          res = await runAdmm(ctx, settings, Rng.derive(opts.seed, 'admm', c, b), {
            onStep: (done, total) => io.onProgress?.({ phase: 'admm', classIndex: c, batch: b, batches, done, total }),
            shouldStop: io.shouldStop,
          });
        } finally {
          projector.dispose();
        }
        const ts = performance.now();
        const ppl = perplexities(rt.model, res.ids);
        const pred = classifier ? targetPredictions(rt, classifier, res.ids.map((ids) => [...ids, ...toks.syntheticSuffix])) : [];
        timings.scoring_s += (performance.now() - ts) / 1000;
        const batchExamples: SyntheticExample[] = res.ids.map((ids, j) => ({
          text: rt.tokenizer.decode(ids),
          label: label.value,
          labelIndex: c,
          ids,
          matching_loss: res.lossPerExample[j],
          perplexity: ppl[j],
          batch: b,
          ...(pred[j] ? { target_label: pred[j].label, target_margin: ownMargin(pred[j].logits, c) } : {}),
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
  if (out.length === 0) throw new SynthgradError('nothing was generated');
  return { examples: out, timings, adamSteps, method, targetClassifier: classifier ? { separation: classifier.separation, weightSums: classifier.weightSums, discriminant: classifier.discriminant } : null };
}
