/**
 * ADMM over embeddings and tokens (METHOD.md section 3). Each outer iteration:
 *   Z-step  Z = project(X + Lam/rho)                    (readable tokens, KV-cached decode)
 *   X-step  K steps of Adam on D(X) + rho/2 |X - Z + Lam/rho|^2, gradient norm clipped,
 *           suffix positions frozen (they are not part of X)
 *   dual    Lam += rho (X - Z)
 * The output is, per sequence, the projection with the lowest matching loss of its own token ids
 * over all iterations (the best iterate), including the projection of the final X.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Llama } from '../model/llama.js';
import { lastPosition } from '../model/llama.js';
import { Rng } from '../util/rng.js';
import { SynthgradError } from '../util/errors.js';
import type { MatchingLoss } from './matching.js';
import type { Projector } from './projection.js';
import { eitherBan, NgramBan, type NextTokenBan } from './copy-ban.js';
import { sampleAllowed } from './sample.js';
import { RAW_START_MODES, type RawStart } from './presets.js';

export interface AdmmSettings {
  batchSize: number;
  /** Synthetic text tokens per sequence (the suffix comes after them). */
  textLength: number;
  outer: number;
  inner: number;
  lr: number;
  /** lr is multiplied by lrDecay every lrDecayEvery Adam steps. */
  lrDecay: number;
  lrDecayEvery: number;
  gradClip: number;
  rho: number;
  topK: number;
  /**
   * How the Z-step chooses among the top-k candidates: 0 (default) the LM's likeliest, as the
   * reference; T > 0 a draw from the LM's distribution over the candidates at temperature T.
   */
  projectionTemperature: number;
  /**
   * n >= 1: the Z-step passes over candidates that would repeat an n-gram of the sequence
   * (projection.ts); 0 or absent (settings saved before it existed): off, as the reference.
   */
  noRepeatNgram?: number;
  /**
   * n >= 2: neither the 'lm' start nor the Z-step writes an n-gram that the LM context holds
   * (its demonstrations; copy-ban.ts), so the text takes the demonstrations' form, not their
   * words. 0 or absent (settings saved before it existed): off.
   */
  noCopyNgram?: number;
  /** Random initialisations tried; the one with the lowest D is kept. */
  candidates: number;
  /** Norm every initial row is rescaled to (random initialisation). */
  initNorm: number;
  /** 'random': best of `candidates` random-normal starts (the reference); 'lm': best of
   * `candidates` batches of LM-sampled text, embedded (readable from the first projection). */
  init: 'random' | 'lm';
  /**
   * Temperature of the LM draw behind an 'lm' start (top-40 of the allowed tokens). Absent
   * (settings saved before it existed): 1, the LM's own distribution; below 1 the draw keeps to
   * the LM's likelier continuations.
   */
  initTemperature?: number;
  /**
   * Contrastive guidance of the 'lm' start (sample.ts Contrast): w > 0 draws each token by
   * (1 + w) log p(token | label context) - w log p(token | the other labels' contexts), among the
   * label context's own top-40, so tokens that carry the label are favoured. Absent or 0: off.
   * Each other label costs one more decode of the start. The class loop builds the other labels'
   * contexts from the class's own demonstration lines (synthesize.ts guidanceContexts).
   */
  initGuidance?: number;
  /**
   * Fraction of an 'lm' start's tokens that open it label-neutrally and identically in every
   * class (sample.ts SharedOpening; the contexts and the shared stream come with the AdmmContext):
   * round(f * textLength) tokens drawn from the geometric mean of all labels' contexts, the rest
   * under the class's own. Absent or 0: off. At 1 the whole start is shared, and the classes'
   * texts differ where their projections do (each label context's choice among the neighbours of
   * the same start tokens): counterfactual pairs.
   */
  sharedOpening?: number;
  /**
   * What becomes of an 'lm' start's own token ids: 'off' (absent: settings saved before it
   * existed) they are only the anchor of the first projection, as before; 'candidate' they are
   * scored like a projection and compete with them for each sequence's output (iteration -1);
   * 'only' they are the output: no ADMM iteration and no projection, the LM's text as sampled,
   * scored by the matching loss for selection to rank (the cheapest candidate: one decode and one
   * forward a batch).
   */
  rawStart?: RawStart;
}

export interface AdmmContext {
  model: Llama;
  loss: MatchingLoss;
  projector: Projector;
  /** Frozen tail after the synthetic tokens (sentence end + task suffix). */
  suffix: number[];
  /** Allowed token ids and LM context, for the 'lm' initialisation. */
  allowed?: Set<number>;
  context?: number[];
  /** The other labels' contexts (the same demonstration lines, another label's line last), for initGuidance > 0. */
  contrastContexts?: number[][];
  /** Every label's context (label order) and a stream shared by all classes, for sharedOpening > 0. */
  opening?: { contexts: number[][]; rng: Rng };
  /** A rule on the LM start's next token besides noCopyNgram (the stray-space ban of a task with symbols). */
  ban?: NextTokenBan;
}

export interface AdmmIteration {
  outer: number;
  /** D(X) after the X-step. */
  lossX: number;
  /** D of the token ids of the projection made at the start of this iteration (batch, and mean per sequence). */
  lossZ: number;
  lossZMean: number;
}

export interface AdmmResult {
  ids: number[][];
  /** Per-sequence matching loss of the chosen ids. */
  lossPerExample: number[];
  /** Batch matching loss of the chosen ids. */
  lossBatch: number;
  /** Per sequence, the outer iteration its output comes from (-1: the LM start itself, rawStart). */
  bestIteration: number[];
  history: AdmmIteration[];
  timings: { init_s: number; x_step_s: number; z_step_s: number };
  adamSteps: number;
}

export interface AdmmHooks {
  /** Called when the batch starts (done 0) and after every Adam step and projection. */
  onStep?: (done: number, total: number) => void;
  /** Polled between steps; true aborts the batch (it throws AdmmAborted). */
  shouldStop?: () => boolean;
}

export class AdmmAborted extends Error {
  constructor() {
    super('ADMM batch aborted');
  }
}

export function validateSettings(s: AdmmSettings): void {
  const pos: (keyof AdmmSettings)[] = ['batchSize', 'textLength', 'topK', 'candidates'];
  for (const k of pos) if (!Number.isInteger(s[k]) || (s[k] as number) < 1) throw new SynthgradError(`${k} must be a positive integer, got ${s[k]}`, 'E_USAGE');
  if (!(Number.isFinite(s.projectionTemperature) && s.projectionTemperature >= 0)) throw new SynthgradError(`projectionTemperature must be >= 0 (0: the likeliest candidate), got ${s.projectionTemperature}`, 'E_USAGE');
  if (s.initTemperature !== undefined && !(Number.isFinite(s.initTemperature) && s.initTemperature > 0)) throw new SynthgradError(`initTemperature must be positive, got ${s.initTemperature}`, 'E_USAGE');
  if (s.sharedOpening !== undefined && !(Number.isFinite(s.sharedOpening) && s.sharedOpening >= 0 && s.sharedOpening <= 1)) throw new SynthgradError(`sharedOpening must be in [0, 1] (0: off; 1: the whole start), got ${s.sharedOpening}`, 'E_USAGE');
  if (s.initGuidance !== undefined && !(Number.isFinite(s.initGuidance) && s.initGuidance >= 0)) throw new SynthgradError(`initGuidance must be >= 0 (0: off), got ${s.initGuidance}`, 'E_USAGE');
  if (s.noCopyNgram !== undefined && s.noCopyNgram !== 0 && !(Number.isInteger(s.noCopyNgram) && s.noCopyNgram >= 2)) throw new SynthgradError(`noCopyNgram must be an integer >= 2 (0: off), got ${s.noCopyNgram}`, 'E_USAGE');
  if (s.noRepeatNgram !== undefined && (!Number.isInteger(s.noRepeatNgram) || s.noRepeatNgram < 0)) throw new SynthgradError(`noRepeatNgram must be an integer >= 0 (0: off), got ${s.noRepeatNgram}`, 'E_USAGE');
  // outer 0: no ADMM iteration, the output is the projection of the start (with init 'lm': the
  // LM's text projected once, the cheapest candidate, for presets that select among many).
  if (!Number.isInteger(s.outer) || s.outer < 0) throw new SynthgradError(`outer must be a non-negative integer (0: only the start, projected), got ${s.outer}`, 'E_USAGE');
  if (s.rawStart !== undefined && !RAW_START_MODES.includes(s.rawStart)) throw new SynthgradError(`rawStart must be off, candidate or only, got ${String(s.rawStart)}`, 'E_USAGE');
  if (s.rawStart !== undefined && s.rawStart !== 'off' && s.init !== 'lm') throw new SynthgradError(`rawStart ${s.rawStart} needs init 'lm' (a random start has no text)`, 'E_USAGE');
  if (!Number.isInteger(s.inner) || s.inner < 0) throw new SynthgradError(`inner must be a non-negative integer, got ${s.inner}`, 'E_USAGE');
  for (const k of ['lr', 'rho', 'gradClip', 'initNorm', 'lrDecay', 'lrDecayEvery'] as const) {
    if (!(s[k] > 0)) throw new SynthgradError(`${k} must be positive, got ${s[k]}`, 'E_USAGE');
  }
}

export async function runAdmm(ctx: AdmmContext, s: AdmmSettings, rng: Rng, hooks: AdmmHooks = {}): Promise<AdmmResult> {
  validateSettings(s);
  const { model, loss, projector, suffix } = ctx;
  if (s.init === 'lm' && (!ctx.allowed || !ctx.context)) throw new SynthgradError("init 'lm' needs the allowed tokens and the LM context");
  const { dModel: d } = model.config;
  const B = s.batchSize;
  const Lt = s.textLength;
  const rawStart = s.rawStart ?? 'off';
  const total = rawStart === 'only' ? 1 : s.outer * (s.inner + 1) + 1;
  let done = 0;
  // The batch's start too: its LM start and first projection take seconds before the first step
  // ends, and a progress bar should say the batch is under way (the first of a run: workers loading).
  hooks.onStep?.(0, total);
  // Yield to the event loop after every step so signals (Ctrl-C) and progress output get through.
  const tick = async () => {
    hooks.onStep?.(++done, total);
    await new Promise((resolve) => setImmediate(resolve));
    if (hooks.shouldStop?.()) throw new AdmmAborted();
  };
  const timings = { init_s: 0, x_step_s: 0, z_step_s: 0 };
  const clock = () => performance.now() / 1000;

  const suffixB = tf.tidy(() => tf.tile(model.embed([suffix]), [B, 1, 1])) as tf.Tensor3D;
  const withSuffix = (x: tf.Tensor3D) => tf.concat([x, suffixB], 1) as tf.Tensor3D;
  const objective = (h: tf.Tensor3D) => loss.loss(lastPosition(h));
  /** Final hidden states at the last position of X plus the frozen suffix (call inside a tidy). */
  const lastStates = (x: tf.Tensor3D) => lastPosition(model.forward({ embeds: withSuffix(x), logits: 'none' }).hidden);
  const lossOf = (x: tf.Tensor3D) => tf.tidy(() => loss.loss(lastStates(x)).dataSync()[0]);

  const startBan = eitherBan((s.noCopyNgram ?? 0) > 0 && ctx.context ? new NgramBan(ctx.context, s.noCopyNgram!) : undefined, ctx.ban);
  // Initialisation: the best (lowest D) of several candidates.
  let t0 = clock();
  let X: tf.Tensor3D | null = null;
  let startIds: number[][] | null = null;
  let bestInit = Infinity;
  for (let c = 0; c < s.candidates; c++) {
    const sampled =
      s.init === 'lm'
        ? sampleAllowed(model, ctx.allowed!, ctx.context!, B, Lt, rng, {
            temperature: s.initTemperature,
            // sampleFromContext draws plainly at weight 0 or without contexts.
            contrast: ctx.contrastContexts && { contexts: ctx.contrastContexts, weight: s.initGuidance ?? 0 },
            opening: ctx.opening && { ...ctx.opening, length: Math.round((s.sharedOpening ?? 0) * Lt) },
            ban: startBan,
          })
        : null;
    const cand = sampled
      ? model.embed(sampled)
      : (tf.tidy(() => {
            const r = tf.tensor3d(rng.normals(B * Lt * d), [B, Lt, d]);
            return tf.mul(tf.div(r, tf.norm(r, 2, 2, true)), s.initNorm);
          }) as tf.Tensor3D);
    // One candidate needs no comparison: its loss would cost a forward of the batch for nothing.
    const v = s.candidates > 1 ? lossOf(cand) : -Infinity;
    if (v < bestInit) {
      X?.dispose();
      X = cand;
      startIds = sampled;
      bestInit = v;
    } else cand.dispose();
  }
  timings.init_s += clock() - t0;
  let x = X!;
  let lam = tf.zerosLike(x) as tf.Tensor3D;
  let m = tf.zerosLike(x) as tf.Tensor3D;
  let v2 = tf.zerosLike(x) as tf.Tensor3D;
  const beta1 = 0.9;
  const beta2 = 0.999;
  const adamEps = 1e-8;
  let step = 0;
  const history: AdmmIteration[] = [];
  // Best iterate, per sequence: the projection whose own token ids match the target best.
  // `from`: which entry of scoredStates holds the best iterate's final state.
  const best = { ids: [] as number[][], per: new Array<number>(B).fill(Infinity), iteration: new Array<number>(B).fill(-1), from: new Array<number>(B).fill(-1) };
  // Each scored batch's final states [B, d], so the batch loss of the best iterates is read from
  // them instead of another forward of the batch (a causal LM's rows do not see each other).
  const scoredStates: tf.Tensor2D[] = [];
  const replace = <T extends tf.Tensor>(old: T, next: T): T => {
    old.dispose();
    return next;
  };

  // Scores token ids as the output of `iteration` and keeps, per sequence, the better of them and
  // what it had.
  const score = (ids: number[][], iteration: number, t: number): { ids: number[][]; lossZ: number; lossZMean: number } => {
    // One forward of the text scores both the batch and each sequence.
    const { per, lossZ, h } = tf.tidy(() => {
      const h = tf.keep(lastStates(model.embed(ids)));
      return { per: Array.from(loss.perExample(h).dataSync()), lossZ: loss.loss(h).dataSync()[0], h };
    });
    timings.z_step_s += clock() - t;
    scoredStates.push(h);
    per.forEach((l, j) => {
      if (l < best.per[j]) {
        best.per[j] = l;
        best.ids[j] = ids[j];
        best.from[j] = scoredStates.length - 1;
        best.iteration[j] = iteration;
      }
    });
    return { ids, lossZ, lossZMean: per.reduce((a, b) => a + b, 0) / per.length };
  };
  const projectAndScore = (iteration: number): { ids: number[][]; lossZ: number; lossZMean: number } => {
    const t = clock();
    const Y = tf.tidy(() => tf.add(x, tf.div(lam, s.rho))) as tf.Tensor3D;
    const ids = projector.project(Y, s.projectionTemperature > 0 ? { rng, temperature: s.projectionTemperature } : undefined);
    Y.dispose();
    return score(ids, iteration, t);
  };

  let lossBatch = NaN;
  try {
    if (rawStart !== 'off') score(startIds!, -1, clock());
    if (rawStart === 'only') await tick();
    for (let it = 0; rawStart !== 'only' && it < s.outer; it++) {
      const { ids, lossZ, lossZMean } = projectAndScore(it);
      await tick();
      const Z = model.embed(ids);
      t0 = clock();
      let lossX = NaN;
      for (let k = 0; k < s.inner; k++) {
        const full = withSuffix(x);
        const { value, grad } = model.valueAndGradWrtEmbeddings(full, objective);
        full.dispose();
        lossX = value;
        const lr = s.lr * Math.pow(s.lrDecay, Math.floor(step / s.lrDecayEvery));
        step++;
        const next = tf.tidy(() => {
          const gD = tf.slice(grad, [0, 0, 0], [B, Lt, d]);
          const gPen = tf.mul(tf.add(tf.sub(x, Z), tf.div(lam, s.rho)), s.rho);
          let g = tf.add(gD, gPen);
          const norm = tf.norm(g);
          g = tf.mul(g, tf.minimum(1, tf.div(s.gradClip, tf.maximum(norm, 1e-12))));
          const m1 = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
          const v1 = tf.add(tf.mul(v2, beta2), tf.mul(tf.square(g), 1 - beta2));
          const mHat = tf.div(m1, 1 - Math.pow(beta1, step));
          const vHat = tf.div(v1, 1 - Math.pow(beta2, step));
          const x1 = tf.sub(x, tf.mul(lr, tf.div(mHat, tf.add(tf.sqrt(vHat), adamEps))));
          return { x1, m1, v1 } as { x1: tf.Tensor3D; m1: tf.Tensor3D; v1: tf.Tensor3D };
        });
        grad.dispose();
        x = replace(x, next.x1);
        m = replace(m, next.m1);
        v2 = replace(v2, next.v1);
        await tick();
      }
      if (s.inner > 0) lossX = lossOf(x); // D(X) after the last step
      timings.x_step_s += clock() - t0;
      lam = replace(lam, tf.tidy(() => tf.add(lam, tf.mul(tf.sub(x, Z), s.rho))) as tf.Tensor3D);
      Z.dispose();
      history.push({ outer: it, lossX, lossZ, lossZMean });
    }
    if (rawStart !== 'only') projectAndScore(s.outer);
    lossBatch = tf.tidy(() => {
      const all = tf.concat(scoredStates) as tf.Tensor2D;
      const rows = tf.tensor1d(best.from.map((f, j) => f * B + j), 'int32');
      return loss.loss(tf.gather(all, rows) as tf.Tensor2D).dataSync()[0];
    });
    await tick();
  } finally {
    for (const t of [x, lam, m, v2, suffixB, ...scoredStates]) t.dispose();
  }
  return {
    ids: best.ids,
    lossPerExample: best.per,
    lossBatch,
    bestIteration: best.iteration,
    history,
    timings,
    adamSteps: step,
  };
}
