/**
 * The target classifier's threshold refitted on the generated texts (method.targetThreshold
 * 'generated'): post-processing of synthetic output, so free under DP.
 *
 * Why. The 'head' classifier places its threshold through the class means the targets carry,
 * which are means of *real* texts' final states. Generated text sits elsewhere in that space, and
 * on rtpolarity the threshold was off for it: the classifier called 65-77 of 300 generated
 * negative texts positive, most of them (45-58) negative by the judge (a head on all real data),
 * and only 35-39 of 300 positive texts negative, most of them truly off-label. The surplus filter
 * then dropped good negative texts and kept off-label positive ones (docs/EXPERIMENTS.md, twenty-eighth
 * stop). The texts themselves say where the threshold belongs: each was written for a known label.
 *
 * Derivation. With the classifier's logits z_i (weights and biases as built) and the label y_i
 * each text was generated for, refit only the K biases: the shift b that maximises
 *
 *   L(b) = sum_i log softmax(z_i + b)[y_i].
 *
 * L is concave (a multinomial logistic likelihood in its intercepts), invariant to adding a
 * constant to every b_k (fixed here by sum_k b_k = 0), and its gradient is
 *
 *   dL/db_k = n_k - sum_i p_ik,   p_i = softmax(z_i + b),
 *
 * so at the optimum the classifier's mean predicted distribution over the generated texts equals
 * their label mix (n_k texts of class k): the classes are balanced the way the generation was,
 * while the weights (which texts look more like which class) are untouched. Newton's method with
 * the Hessian sum_i (diag p_i - p_i p_i^T), whose null direction (the all-ones vector) is filled
 * by adding (n / K) 1 1^T, and a step capped in length and backtracked. Two labels reduce it to
 * fitting one threshold on the logit difference. The optimum is finite whenever every class has a text; with a class
 * that has none the refit does not apply (its bias would go to minus infinity).
 */
import { SynthgradError } from '../util/errors.js';
import { solveSpd, targetVerdict } from './target-classifier.js';

/** The largest change of any bias in one Newton iteration, in logits (e^4: odds moved 55-fold). */
const MAX_STEP = 4;

/** log sum_k exp(v_k), stable. */
function logSumExp(v: readonly number[]): number {
  const m = Math.max(...v);
  return m + Math.log(v.reduce((s, x) => s + Math.exp(x - m), 0));
}

/** The log-likelihood L(b) of the labels under logits shifted by b. */
export function labelLogLikelihood(logits: readonly (readonly number[])[], labels: readonly number[], shift: readonly number[]): number {
  let s = 0;
  logits.forEach((z, i) => {
    const v = z.map((x, k) => x + shift[k]);
    s += v[labels[i]] - logSumExp(v);
  });
  return s;
}

export interface BiasFitOptions {
  /** Newton iterations at most (default 100; a few suffice). */
  maxIterations?: number;
  /** Stop once the largest |dL/db_k| / n is under this (default 1e-9). */
  tolerance?: number;
}

/**
 * The bias shift b (sum zero) that maximises L(b) above, for logits [n][K] and labels in [0, K).
 * Throws when a class has no text or an input is malformed.
 */
export function fitClassBiases(logits: readonly (readonly number[])[], labels: readonly number[], K: number, o: BiasFitOptions = {}): number[] {
  const n = logits.length;
  if (!(K >= 2)) throw new SynthgradError(`a bias fit needs at least two classes, got ${K}`);
  if (labels.length !== n) throw new SynthgradError(`${n} logit rows but ${labels.length} labels`, 'E_SHAPE_MISMATCH');
  const counts = new Array<number>(K).fill(0);
  logits.forEach((z, i) => {
    if (z.length !== K || !z.every(Number.isFinite)) throw new SynthgradError(`logit row ${i} is not ${K} finite numbers`, 'E_SHAPE_MISMATCH');
    const y = labels[i];
    if (!(Number.isInteger(y) && y >= 0 && y < K)) throw new SynthgradError(`label ${y} of row ${i} is not a class index below ${K}`);
    counts[y]++;
  });
  const empty = counts.findIndex((c) => c === 0);
  if (empty >= 0) throw new SynthgradError(`class ${empty} has no text: its bias has no finite fit`);
  const maxIterations = o.maxIterations ?? 100;
  const tolerance = o.tolerance ?? 1e-9;
  let b = new Array<number>(K).fill(0);
  let value = labelLogLikelihood(logits, labels, b);
  for (let it = 0; it < maxIterations; it++) {
    const g = counts.slice();
    const H = new Float64Array(K * K);
    for (const z of logits) {
      const v = z.map((x, k) => x + b[k]);
      const lse = logSumExp(v);
      const p = v.map((x) => Math.exp(x - lse));
      for (let a = 0; a < K; a++) {
        g[a] -= p[a];
        H[a * K + a] += p[a];
        for (let c = 0; c < K; c++) H[a * K + c] -= p[a] * p[c];
      }
    }
    if (Math.max(...g.map(Math.abs)) / n < tolerance) break;
    // The all-ones direction changes nothing: fill it so H is positive definite (g sums to zero,
    // so the step does too).
    for (let k = 0; k < K * K; k++) H[k] += n / K;
    // Confident logits leave almost no curvature; a ridge keeps the factorisation defined.
    for (let k = 0; k < K; k++) H[k * K + k] += 1e-9 * n;
    const [step] = solveSpd(H, K, [Float64Array.from(g)]);
    // Far from the optimum (every text confidently in one class) the curvature vanishes and the
    // Newton step explodes: cap it at MAX_STEP logits, then backtrack. Near the optimum the full
    // step is taken.
    const longest = Math.max(...step.map(Math.abs));
    let t = longest > MAX_STEP ? MAX_STEP / longest : 1;
    let next = b.map((x, k) => x + t * step[k]);
    let nextValue = labelLogLikelihood(logits, labels, next);
    const floor = t * 1e-6;
    while (!(nextValue >= value) && t > floor) {
      t /= 2;
      next = b.map((x, k) => x + t * step[k]);
      nextValue = labelLogLikelihood(logits, labels, next);
    }
    if (!(nextValue >= value)) break;
    b = next;
    value = nextValue;
  }
  const mean = b.reduce((s, x) => s + x, 0) / K;
  return b.map((x) => x - mean);
}

/** What the refit needs of a generated text: its class and the classifier's logits. */
export interface Scored {
  labelIndex: number;
  /** The target classifier's logits as built (before any refit). */
  target_logits?: number[];
  target_label?: number;
  target_margin?: number;
}

export interface ThresholdRefit<T> {
  /** The texts with target_label and target_margin under the refitted biases (target_logits kept as built). */
  examples: T[];
  /** The bias shift (sum zero) added to the classifier's biases. */
  shift: number[];
  /** Texts whose target_label changed. */
  changed: number;
}

/**
 * Refit the classifier's biases on `examples` (every one must carry target_logits) and recompute
 * each text's target_label (argmax of the shifted logits) and target_margin (its own class's
 * shifted logit over the best other one).
 */
export function refitThreshold<T extends Scored>(examples: readonly T[], K: number): ThresholdRefit<T> {
  const missing = examples.findIndex((e) => !e.target_logits);
  if (missing >= 0) throw new SynthgradError(`text ${missing} carries no target classifier logits to refit on`);
  const shift = fitClassBiases(
    examples.map((e) => e.target_logits!),
    examples.map((e) => e.labelIndex),
    K,
  );
  let changed = 0;
  const out = examples.map((e) => {
    const verdict = targetVerdict(e.target_logits!.map((x, k) => x + shift[k]), e.labelIndex);
    if (verdict.target_label !== e.target_label) changed++;
    return { ...e, ...verdict };
  });
  return { examples: out, shift, changed };
}
