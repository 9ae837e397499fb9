/**
 * The gradient-matching loss in closed form (METHOD.md section 2). For synthetic sequences with
 * last hidden states h_j and s_j = softmax(W h_j) - e_v:
 *
 *   G_syn = (1/B) sum_j s_j h_j^T                      (never materialised: V x d)
 *   <G_syn, G_c> = (1/B) sum_j s_j . (G_c h_j)
 *   |G_syn|^2    = (1/B^2) sum_jk (s_j . s_k)(h_j . h_k)
 *   D = 1 - <G_syn, G_c> / (|G_syn| |G_c|)             (cosine, the default)
 *   D = |G_syn - G_c / n|^2                             (L2 to the mean target, optional)
 *
 * D is a plain function of the h_j, so its gradient to the input embeddings is one forward and
 * one backward through the model, never a gradient of a gradient.
 *
 * Optional discriminative term (issue 10): with a classifier z(h) = h W + b built from the
 * released targets of every class and public statistics (target-classifier.ts), the objective
 * for a batch of class c becomes
 *
 *   D(X) + beta * (1/B) sum_j CE(z(h_j), c)
 *
 * which pulls each synthetic state toward its class's side of the discriminant the targets
 * imply, the contrast that per-class matching alone barely sees on a small model. Still a plain
 * function of the h_j: one forward, one backward.
 *
 * Matching in a metric (issue 10): on a small model every final state is h = a u + delta, one
 * shared direction u (|a u| ~ 39 of |h| ~ 42 on SmolLM2) plus the content delta that a classifier
 * on h actually learns from. The cosine above is then dominated by the u-part of both gradients,
 * so it mostly matches the next-token distribution, not the content. With a symmetric PSD metric
 * M [d, d] on the hidden side, <A, B>_M = tr(A M B^T), the same closed form holds:
 *
 *   <G_syn, G_c>_M = (1/B) sum_j s_j . (G_c M h_j)          (G_c M precomputed: post-processing)
 *   |G_syn|_M^2    = (1/B^2) sum_jk (s_j . s_k)(h_j^T M h_k)
 *   |G_c|_M^2      = sum_v g_v^T M g_v                       (g_v: row v of G_c)
 *
 * 'centred': M = P = I - u u^T, u read from the released targets (sharedDirection): both gradients
 * with the shared direction projected out. 'whitened': M = P S^-1 P with S the shrunk covariance
 * of final states on public LM text (public-stats.ts), u its mean direction: the LDA metric.
 * Still one forward, one backward.
 *
 * Row-restricted targets (issue 13): a 'label-rows' release holds only the rows R of the label
 * tokens. Both gradients are then compared on those rows, G_syn[R] = (1/B) sum_j s_j[R] h_j^T with
 * s_j[R] the softmax (normalised over the whole vocabulary) minus the one-hot, read on R: the same
 * closed form with s_j replaced by its restriction.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Llama } from '../model/llama.js';
import { transpose2d } from '../util/transpose.js';
import { SynthgradError } from '../util/errors.js';
import { targetRow, targetRowCount, type ClassTarget } from './targets.js';
import type { TargetClassifier } from './target-classifier.js';

export interface ClassifierTerm {
  classifier: TargetClassifier;
  /** Class index of the sequences this loss scores. */
  classIndex: number;
  /** beta: weight of the cross-entropy next to the matching loss. */
  weight: number;
}

export type MatchingDistance = 'cosine' | 'l2';

export class MatchingLoss {
  /** G_c^T [d, R] (R: the target's rows, V for a full target), scaled to the mean for 'l2'. */
  private readonly targetT: tf.Tensor2D;
  /**
   * Selection of the target's rows from a [B, V] softmax when it holds only some rows: the
   * one-hot matrix [V, R] (a matmul, whose gradient every backend has; gather's needs
   * UnsortedSegmentSum, which wasm lacks), else null.
   */
  private readonly rowSelect: tf.Tensor2D | null;
  /** Position of the label token among the target's rows. */
  private readonly labelRow: number;
  private readonly targetNormSq: number;
  private readonly clf?: { W: tf.Tensor2D; b: tf.Tensor1D; classIndex: number; weight: number; K: number };
  /** The hidden-side metric M [d, d], or null (raw matching: M = I). */
  private readonly metric: tf.Tensor2D | null;

  constructor(
    private readonly model: Llama,
    target: ClassTarget,
    readonly labelToken: number,
    readonly distance: MatchingDistance = 'cosine',
    term?: ClassifierTerm,
    /** Symmetric PSD metric M [d, d] row-major on the hidden side (centredMetric, whitenedMetric); default I. */
    metric?: Float32Array,
  ) {
    const { vocabSize: V, dModel: d } = model.config;
    const R = targetRowCount(target);
    if (target.vocabSize !== V || target.dModel !== d || target.sum.length !== R * d) {
      const shape = target.rows ? `${target.rows.length} label rows x ${target.dModel}` : `${target.vocabSize} x ${target.dModel}`;
      const held = target.sum.length !== R * target.dModel ? ` holding ${target.sum.length} numbers` : '';
      throw new SynthgradError(`target is ${shape}${held}, the model's head is ${V} x ${d}`, 'E_SHAPE_MISMATCH');
    }
    if (target.rows) {
      this.labelRow = target.rows.indexOf(labelToken);
      if (this.labelRow < 0) throw new SynthgradError(`target rows leave out the class's label token ${labelToken}`, 'E_SHAPE_MISMATCH');
      this.rowSelect = tf.tidy(() => tf.transpose(tf.oneHot(tf.tensor1d(target.rows!, 'int32'), V)) as tf.Tensor2D);
    } else {
      this.labelRow = labelToken;
      this.rowSelect = null;
    }
    const scale = distance === 'l2' ? 1 / target.count : 1;
    const t = transpose2d(target.sum, R, d);
    if (metric && metric.length !== d * d) throw new SynthgradError(`matching metric has ${metric.length} entries, the model's width needs ${d} x ${d}`, 'E_SHAPE_MISMATCH');
    if (metric && !metric.every(Number.isFinite)) throw new SynthgradError('matching metric contains non-finite values', 'E_INPUT');
    for (let i = 0; i < t.length; i++) t[i] *= scale;
    const raw = tf.tensor2d(t, [d, R]);
    this.metric = metric ? tf.tensor2d(metric, [d, d]) : null;
    // (G_c M)^T = M G_c^T, and |G_c|_M^2 = sum(G_c^T o M G_c^T).
    this.targetT = this.metric ? tf.tidy(() => tf.matMul(this.metric!, raw)) : raw;
    const sq = tf.tidy(() => tf.sum(tf.mul(raw, this.targetT)).dataSync()[0]);
    if (this.metric) raw.dispose();
    if (!Number.isFinite(sq)) {
      this.dispose();
      throw new SynthgradError('target contains non-finite values', 'E_INPUT');
    }
    if (!(sq > 0)) {
      this.dispose();
      throw new SynthgradError(metric ? 'target is zero in the matching metric' : 'target is all zeros', 'E_INPUT');
    }
    this.targetNormSq = sq;
    if (term && term.weight > 0) {
      const { classifier: c } = term;
      if (c.dModel !== d) throw new SynthgradError(`target classifier has width ${c.dModel}, the model ${d}`, 'E_SHAPE_MISMATCH');
      if (!(term.classIndex >= 0 && term.classIndex < c.classes)) throw new SynthgradError(`class ${term.classIndex} is not one of the classifier's ${c.classes}`);
      this.clf = { W: tf.tensor2d(c.weights, [d, c.classes]), b: tf.tensor1d(c.bias), classIndex: term.classIndex, weight: term.weight, K: c.classes };
    }
  }

  /** Target-classifier logits [B, K] of last hidden states, or null without a classifier term. */
  targetLogits(h: tf.Tensor2D): tf.Tensor2D | null {
    if (!this.clf) return null;
    return tf.tidy(() => tf.add(tf.matMul(h, this.clf!.W), this.clf!.b) as tf.Tensor2D);
  }

  /** beta * CE(z(h_j), c) per sequence [B], or null. */
  private classifierPenalty(h: tf.Tensor2D): tf.Tensor1D | null {
    if (!this.clf) return null;
    const { classIndex, weight, K } = this.clf;
    const logp = tf.logSoftmax(this.targetLogits(h)!);
    return tf.mul(tf.neg(tf.sum(tf.mul(logp, tf.oneHot(tf.fill([h.shape[0]], classIndex, 'int32'), K)), 1)), weight) as tf.Tensor1D;
  }

  /**
   * s_j on the target's rows and the target product G_c h_j for last hidden states h [B, d]. With
   * a row-restricted target the softmax still normalises over the whole vocabulary; only the
   * gradient rows outside the release are dropped from both sides of the cosine.
   */
  private parts(h: tf.Tensor2D): { s: tf.Tensor2D; gh: tf.Tensor2D } {
    const B = h.shape[0];
    const pFull = tf.softmax(this.model.logitsOf(h));
    const p = (this.rowSelect ? tf.matMul(pFull, this.rowSelect) : pFull) as tf.Tensor2D;
    const s = tf.sub(p, tf.oneHot(tf.fill([B], this.labelRow, 'int32'), p.shape[1])) as tf.Tensor2D;
    return { s, gh: tf.matMul(h, this.targetT) };
  }

  /** Gram matrix of the states in the metric: h h^T, or h M h^T. */
  private gram(h: tf.Tensor2D): tf.Tensor2D {
    return (this.metric ? tf.matMul(tf.matMul(h, this.metric), h, false, true) : tf.matMul(h, h, false, true)) as tf.Tensor2D;
  }

  /** Squared norms of the states in the metric [B]: h_j^T M h_j. */
  private normsSq(h: tf.Tensor2D): tf.Tensor1D {
    return tf.sum(tf.mul(this.metric ? tf.matMul(h, this.metric) : h, h), 1) as tf.Tensor1D;
  }

  /** D for the batch of last hidden states h [B, d]. */
  loss(h: tf.Tensor2D): tf.Scalar {
    return tf.tidy(() => {
      const B = h.shape[0];
      const { s, gh } = this.parts(h);
      const inner = tf.div(tf.sum(tf.mul(s, gh)), B);
      const synSq = tf.div(tf.sum(tf.mul(tf.matMul(s, s, false, true), this.gram(h))), B * B);
      const D =
        this.distance === 'l2'
          ? tf.add(tf.sub(synSq, tf.mul(2, inner)), this.targetNormSq)
          : tf.sub(1, tf.div(inner, tf.mul(tf.sqrt(tf.maximum(synSq, 1e-30)), Math.sqrt(this.targetNormSq))));
      const pen = this.classifierPenalty(h);
      return (pen ? tf.add(D, tf.mean(pen)) : D) as tf.Scalar;
    });
  }

  /** D of each sequence on its own (B = 1 each): [B]. */
  perExample(h: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => {
      const { s, gh } = this.parts(h);
      const inner = tf.sum(tf.mul(s, gh), 1);
      const synSq = tf.mul(tf.sum(tf.square(s), 1), this.normsSq(h));
      const D =
        this.distance === 'l2'
          ? tf.add(tf.sub(synSq, tf.mul(2, inner)), this.targetNormSq)
          : tf.sub(1, tf.div(inner, tf.mul(tf.sqrt(tf.maximum(synSq, 1e-30)), Math.sqrt(this.targetNormSq))));
      const pen = this.classifierPenalty(h);
      return (pen ? tf.add(D, pen) : D) as tf.Tensor1D;
    });
  }

  dispose(): void {
    this.targetT.dispose();
    this.rowSelect?.dispose();
    this.metric?.dispose();
    this.clf?.W.dispose();
    this.clf?.b.dispose();
  }
}

/**
 * The direction every class shares, read from the released targets (post-processing): the
 * normalised sum of each class's own verbaliser row. Row v_c of a class target is
 * -sum_i (1 - p_i(v_c)) h_i, a weighted class sum of final states, so the sum over classes points
 * along their common mean. Null with a single class (nothing to centre against) or a zero sum.
 */
export function sharedDirection(targets: ClassTarget[], labelTokens: number[]): Float32Array | null {
  if (targets.length < 2) return null;
  const d = targets[0].dModel;
  const u = new Float64Array(d);
  for (const [c, t] of targets.entries()) {
    const row = targetRow(t, labelTokens[c]);
    if (!row) throw new SynthgradError(`the target of class ${c} leaves out its label row`, 'E_SHAPE_MISMATCH');
    for (let k = 0; k < d; k++) u[k] -= row[k];
  }
  let n = 0;
  for (const x of u) n += x * x;
  n = Math.sqrt(n);
  if (!(n > 0) || !Number.isFinite(n)) return null;
  return Float32Array.from(u, (x) => x / n);
}

/** The centred metric P = I - u u^T for a unit vector u (sharedDirection). */
export function centredMetric(u: Float32Array): Float32Array {
  const d = u.length;
  let n = 0;
  for (const x of u) n += x * x;
  if (!(Math.abs(n - 1) < 1e-3)) throw new SynthgradError(`shared direction must be a unit vector (norm ${Math.sqrt(n)})`, 'E_INPUT');
  const M = new Float32Array(d * d);
  for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) M[a * d + b] = (a === b ? 1 : 0) - u[a] * u[b];
  return M;
}
