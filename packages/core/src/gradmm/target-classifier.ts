/**
 * A linear classifier of final hidden states built only from the released class targets, public
 * weights and public statistics: post-processing, so it inherits the targets' privacy guarantee.
 * By default ('head') it is the LM's own zero-shot classifier over the verbaliser tokens with its
 * threshold calibrated by the class means the targets carry; 'lda' is the whitened contrast below.
 *
 * Derivation. A class target is G_c = sum_{i in c} s_i h_i^T (clipped, maybe noised), with
 * s_i = softmax(W h_i) - e_{v_c}. Its row for the class's own verbaliser token is
 *
 *   r_c = -G_c[v_c] = sum_{i in c} (1 - p_i(v_c)) h_i          (a weighted class sum of states)
 *
 * With h_i = mu + delta_i, where mu is the public mean state and the deviations are roughly
 * orthogonal to it, r_c . mu = (sum of weights) |mu|^2, so m_c = r_c |mu|^2 / (r_c . mu) estimates
 * the class mean without any count being released. The classes' means differ by little next to
 * their shared part, so the discriminant is whitened by the public covariance, as in LDA:
 *
 *   w_c = S^{-1} (m_c - m_bar),   z_c(h) = tau * w_c . (h - m_bar),
 *
 * with S the public covariance shrunk toward a multiple of the identity (fewer public texts than
 * dimensions), and tau scaling the logits to unit spread on public text. On held-out real text
 * 25 texts a class turned out too few for this contrast (docs/METHOD.md section 8), so the
 * default 'head' discriminant keeps the LM's own verbaliser rows and uses the class means only
 * to place the threshold.
 */
import { SynthgradError } from '../util/errors.js';
import { targetRow, type ClassTarget } from './targets.js';
import type { PublicStats } from './public-stats.js';

export interface TargetClassifier {
  classes: number;
  dModel: number;
  /** W [d, K] row-major (h @ W + b are the logits), already scaled by the temperature. */
  weights: Float32Array;
  bias: Float32Array;
  /** Distance between the estimated class means along the discriminant, in public standard deviations. */
  separation: number;
  /** Per class, the estimated weight sum (r_c . mu / |mu|^2): <= 0 means the row is noise-dominated. */
  weightSums: number[];
  discriminant: Discriminant;
}

/** Solve A x = b for symmetric positive-definite A [n, n] (Cholesky, float64). */
export function solveSpd(A: Float64Array, n: number, rhs: Float64Array[]): Float64Array[] {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * n + j];
      for (let k = 0; k < j; k++) s -= L[i * n + k] * L[j * n + k];
      if (i === j) {
        if (!(s > 0)) throw new SynthgradError('solveSpd: matrix is not positive definite');
        L[i * n + i] = Math.sqrt(s);
      } else L[i * n + j] = s / L[j * n + j];
    }
  }
  return rhs.map((b) => {
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = b[i];
      for (let k = 0; k < i; k++) s -= L[i * n + k] * y[k];
      y[i] = s / L[i * n + i];
    }
    const x = new Float64Array(n);
    for (let i = n - 1; i >= 0; i--) {
      let s = y[i];
      for (let k = i + 1; k < n; k++) s -= L[k * n + i] * x[k];
      x[i] = s / L[i * n + i];
    }
    return x;
  });
}

export const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/** The average of equal-width vectors (float64), each entry summed as v[k] / n. */
export function meanVector(vs: readonly ArrayLike<number>[]): Float64Array {
  const n = vs.length;
  const out = new Float64Array(n > 0 ? vs[0].length : 0);
  for (const v of vs) for (let k = 0; k < out.length; k++) out[k] += v[k] / n;
  return out;
}

/**
 * Each target's own verbaliser row, r_c = -G_c[v_c] (float64), checked: width `d` (`widthOf`
 * names the mismatch) and the label row present.
 */
export function labelRowsOf(targets: ClassTarget[], labelTokens: number[], d: number, widthOf: (t: ClassTarget, c: number) => string): Float64Array[] {
  return targets.map((t, c) => {
    if (t.dModel !== d) throw new SynthgradError(widthOf(t, c), 'E_SHAPE_MISMATCH');
    const row = targetRow(t, labelTokens[c]);
    if (!row) throw new SynthgradError(`the target of class ${c} leaves out its label row`, 'E_SHAPE_MISMATCH');
    return Float64Array.from(row, (x) => -x);
  });
}

/**
 * Class-mean estimates from label rows (the derivation above): each row's weight along the shared
 * direction mu, w_c = r_c . mu / |mu|^2, and m_c = r_c / w_c. A noise-dominated row (w_c <= 0) has
 * no usable scale: it keeps its direction at mu's norm.
 */
export function classMeanEstimates(rows: Float64Array[], mu: ArrayLike<number>): { means: Float64Array[]; weightSums: number[]; scales: number[] } {
  const muSq = dot(mu, mu);
  const weightSums = rows.map((r) => dot(r, mu) / muSq);
  const scales = rows.map((r, c) => (weightSums[c] > 0 ? 1 / weightSums[c] : Math.sqrt(muSq / Math.max(dot(r, r), 1e-30))));
  return { means: rows.map((r, c) => r.map((x) => x * scales[c])), weightSums, scales };
}

/**
 * The public covariance, shrunk, with the shared direction set aside. Final states are RMS-normed,
 * so public text barely varies along mu, and whitening would amplify there the error of the
 * estimated scales r_c . mu (a 1% error in a weight sum moves m_c by 1% of |mu| along mu,
 * comparable to the true class contrast, |m_1 - m_0| ~ 0.1 |mu| on rtpolarity). So S is replaced
 * by P S P + (tr S / d) u u^T (u = mu / |mu|, P = I - u u^T), which maps the complement of u to
 * itself, then shrunk: (1 - a) S + a (tr S / d) I, plus a ridge that keeps it invertible.
 */
export function shrunkPublicCovariance(stats: PublicStats, alpha: number): { S: Float64Array; u: Float64Array; trace: number } {
  const d = stats.dModel;
  const mu = stats.mean;
  const muSq = dot(mu, mu);
  if (!(muSq > 0)) throw new SynthgradError('public statistics have a zero mean state');
  const u = Float64Array.from(mu, (x) => x / Math.sqrt(muSq));
  const S = new Float64Array(stats.covariance);
  let trace = 0;
  for (let k = 0; k < d; k++) trace += S[k * d + k];
  {
    const Su = new Float64Array(d);
    for (let a = 0; a < d; a++) Su[a] = dot(S.subarray(a * d, (a + 1) * d), u);
    const uSu = dot(u, Su);
    // P S P = S - u (Su)^T - (Su) u^T + (u^T S u) u u^T; then + (tr S / d) u u^T.
    for (let a = 0; a < d; a++)
      for (let b = 0; b < d; b++) S[a * d + b] += -u[a] * Su[b] - Su[a] * u[b] + (uSu + trace / d) * u[a] * u[b];
    trace = 0;
    for (let k = 0; k < d; k++) trace += S[k * d + k];
  }
  for (let i = 0; i < d * d; i++) S[i] *= 1 - alpha;
  // The ridge keeps S invertible even when the public texts barely vary (a degenerate sample).
  const ridge = Math.max((alpha * trace) / d, 1e-6 * (trace / d + muSq / d + 1e-12));
  for (let k = 0; k < d; k++) S[k * d + k] += ridge;
  return { S, u, trace };
}

/**
 * The whitened matching metric M = (tr S / d) P S^-1 P (matching.ts): the LDA geometry of public
 * LM text, the shared direction left out, scaled to average 1 on the diagonal's scale.
 */
export function whitenedMetric(stats: PublicStats, shrinkage = 0.2): Float32Array {
  if (!(shrinkage >= 0 && shrinkage < 1)) throw new SynthgradError(`shrinkage must be in [0, 1), got ${shrinkage}`);
  const d = stats.dModel;
  const { S, u, trace } = shrunkPublicCovariance(stats, shrinkage);
  // S maps the complement of u to itself, so S^-1 P = P S^-1 P: solve for the columns of P.
  const cols = Array.from({ length: d }, (_, b) => Float64Array.from({ length: d }, (_, a) => (a === b ? 1 : 0) - u[a] * u[b]));
  const X = solveSpd(S, d, cols);
  const M = new Float32Array(d * d);
  const scale = trace / d;
  for (let b = 0; b < d; b++) for (let a = 0; a < d; a++) M[a * d + b] = scale * 0.5 * (X[b][a] + X[a][b]);
  return M;
}

export type Discriminant = 'head' | 'lda';

export interface TargetClassifierOptions {
  /**
   * 'head' (the default of this function; GRADMM's method default is 'lda', see presets.ts): the LM's own verbaliser rows of the output head, with the bias calibrated so
   * that the boundary passes through the mean of the estimated class means (the targets' class
   * means calibrate the zero-shot classifier). 'lda': the whitened contrast of the class means.
   * Measured on rtpolarity (targets of 25 + 25 train texts, 400 other train texts, 2 seeds):
   * head 69%, uncalibrated zero-shot 57%, LDA 55-62% by shrinkage, raw mean difference 58%:
   * 25 texts a class do not estimate a 576-dimensional contrast, but they do place a threshold.
   */
  discriminant?: Discriminant;
  /** The head rows W[v_c] [d] of the label tokens, needed by 'head'. */
  headRows?: Float32Array[];
  /** Shrinkage of the public covariance toward (trace/d) I, in [0, 1) (default 0.2; 'lda' only). */
  shrinkage?: number;
}

export function buildTargetClassifier(targets: ClassTarget[], labelTokens: number[], stats: PublicStats, o: TargetClassifierOptions = {}): TargetClassifier {
  const K = targets.length;
  const d = stats.dModel;
  if (K < 2) throw new SynthgradError('a target classifier needs at least two classes');
  if (labelTokens.length !== K) throw new SynthgradError(`${K} targets but ${labelTokens.length} label tokens`);
  const alpha = o.shrinkage ?? 0.2;
  if (!(alpha >= 0 && alpha < 1)) throw new SynthgradError(`shrinkage must be in [0, 1), got ${alpha}`);
  const rows = labelRowsOf(targets, labelTokens, d, (t) => `target has width ${t.dModel}, public statistics ${d}`);
  const { means, weightSums } = classMeanEstimates(rows, stats.mean);
  const mBar = meanVector(means);
  const { S, u } = shrunkPublicCovariance(stats, alpha);
  const project = (v: Float64Array) => {
    const a = dot(v, u);
    return v.map((x, k) => x - a * u[k]);
  };
  const kind = o.discriminant ?? 'head';
  let ws: Float64Array[];
  if (kind === 'head') {
    if (!o.headRows || o.headRows.length !== K || o.headRows.some((r) => r.length !== d)) throw new SynthgradError(`the 'head' discriminant needs the ${K} head rows of the label tokens, each of width ${d}`);
    ws = o.headRows.map((r) => Float64Array.from(r));
  } else {
    const contrasts = means.map((m) => project(m.map((x, k) => x - mBar[k])));
    ws = solveSpd(S, d, contrasts);
  }
  // Spread of the logits on public text: (w_c - w_bar)^T Sigma (w_c - w_bar) averaged over classes
  // (the public covariance as measured); only differences between logits matter to a softmax.
  const wBar = meanVector(ws);
  let spread = 0;
  for (const w of ws) {
    const v = w.map((x, k) => x - wBar[k]);
    let q = 0;
    for (let a = 0; a < d; a++) q += v[a] * dot(stats.covariance.subarray(a * d, (a + 1) * d), v);
    spread += q / K;
  }
  const tau = 1 / Math.sqrt(Math.max(spread, 1e-30));
  const weights = new Float32Array(d * K);
  const bias = new Float32Array(K);
  ws.forEach((w, c) => {
    for (let k = 0; k < d; k++) weights[k * K + c] = tau * w[k];
    bias[c] = -tau * dot(w, mBar);
  });
  // Separation of classes 0 and 1 along their logit difference.
  const z = (m: Float64Array, c: number) => tau * dot(ws[c], m) + bias[c];
  const separation = Math.abs(z(means[1], 1) - z(means[1], 0) - (z(means[0], 1) - z(means[0], 0)));
  return { classes: K, dModel: d, weights, bias, separation, weightSums, discriminant: kind };
}

/**
 * What a text of class c is told by logits [K]: the class they put it in (the first of equal
 * highest) and its own class's logit over the best other one (negative: placed elsewhere).
 */
export function targetVerdict(logits: readonly number[], c: number): { target_label: number; target_margin: number } {
  return { target_label: logits.indexOf(Math.max(...logits)), target_margin: logits[c] - Math.max(...logits.filter((_, k) => k !== c)) };
}

/** Logits [N][K] of hidden-state rows [N, d] (plain arrays; for selection and reports). */
export function classifyStates(clf: TargetClassifier, rows: Float32Array, n: number): number[][] {
  const { dModel: d, classes: K, weights, bias } = clf;
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    const z = Array.from(bias);
    for (let k = 0; k < d; k++) {
      const h = rows[i * d + k];
      for (let c = 0; c < K; c++) z[c] += h * weights[k * K + c];
    }
    out.push(z);
  }
  return out;
}
