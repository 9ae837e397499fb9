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
 * Centred matching (issue 10): on a small model every final state is h = a u + delta, one shared
 * direction u (|a u| ~ 39 of |h| ~ 42 on SmolLM2) plus the content delta that a classifier on h
 * actually learns from. The cosine above is then dominated by the u-part of both gradients, so
 * it mostly matches the next-token distribution, not the content. Matching instead the
 * gradients of the projected states P h, P = I - u u^T:
 *
 *   G P = sum_i s_i (P h_i)^T   (the target's columns projected: post-processing of G)
 *   <G_syn P, G_c P> = (1/B) sum_j s_j . (G_c P h_j)
 *   |G_syn P|^2      = (1/B^2) sum_jk (s_j . s_k)(h_j . h_k - (h_j . u)(h_k . u))
 *
 * u comes from the released targets themselves (the normalised sum of every class's own
 * verbaliser row, see sharedDirection), so nothing new is released. Same closed form: one
 * forward, one backward.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Llama } from '../model/llama.js';
import { transpose2d } from '../util/transpose.js';
import { SynthgradError } from '../util/errors.js';
import type { ClassTarget } from './targets.js';
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
  /** G_c^T [d, V], scaled to the mean for 'l2'. */
  private readonly targetT: tf.Tensor2D;
  private readonly targetNormSq: number;
  private readonly clf?: { W: tf.Tensor2D; b: tf.Tensor1D; classIndex: number; weight: number; K: number };
  /** The shared direction u [d, 1] projected out of both gradients, or null (raw matching). */
  private readonly shared: tf.Tensor2D | null;

  constructor(
    private readonly model: Llama,
    target: ClassTarget,
    readonly labelToken: number,
    readonly distance: MatchingDistance = 'cosine',
    term?: ClassifierTerm,
    /** Unit vector u of length d: match in the space orthogonal to it (centred matching). */
    shared?: Float32Array,
  ) {
    const { vocabSize: V, dModel: d } = model.config;
    if (target.vocabSize !== V || target.dModel !== d || target.sum.length !== V * d) {
      throw new SynthgradError(`target is ${target.vocabSize} x ${target.dModel}, the model's head is ${V} x ${d}`, 'E_SHAPE_MISMATCH');
    }
    const scale = distance === 'l2' ? 1 / target.count : 1;
    const t = transpose2d(target.sum, V, d);
    if (shared) {
      if (shared.length !== d) throw new SynthgradError(`shared direction has length ${shared.length}, the model's width is ${d}`, 'E_SHAPE_MISMATCH');
      let n = 0;
      for (const x of shared) n += x * x;
      if (!(Math.abs(n - 1) < 1e-3)) throw new SynthgradError(`shared direction must be a unit vector (norm ${Math.sqrt(n)})`, 'E_INPUT');
      // G^T [d, V] -> (I - u u^T) G^T: subtract u (u . column) from every column.
      const proj = new Float64Array(V);
      for (let k = 0; k < d; k++) for (let v = 0, o = k * V; v < V; v++) proj[v] += shared[k] * t[o + v];
      for (let k = 0; k < d; k++) for (let v = 0, o = k * V; v < V; v++) t[o + v] -= shared[k] * proj[v];
    }
    this.shared = shared ? tf.tensor2d(shared, [d, 1]) : null;
    let sq = 0;
    for (let i = 0; i < t.length; i++) {
      t[i] *= scale;
      sq += t[i] * t[i];
    }
    if (!Number.isFinite(sq)) throw new SynthgradError('target contains non-finite values', 'E_INPUT');
    if (sq === 0) throw new SynthgradError('target is all zeros', 'E_INPUT');
    this.targetNormSq = sq;
    this.targetT = tf.tensor2d(t, [d, V]);
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

  /** s_j and the target product G_c h_j for last hidden states h [B, d]. */
  private parts(h: tf.Tensor2D): { s: tf.Tensor2D; gh: tf.Tensor2D } {
    const V = this.model.config.vocabSize;
    const B = h.shape[0];
    const p = tf.softmax(this.model.logitsOf(h));
    const s = tf.sub(p, tf.oneHot(tf.fill([B], this.labelToken, 'int32'), V)) as tf.Tensor2D;
    return { s, gh: tf.matMul(h, this.targetT) };
  }

  /** Gram matrix of the states in the matching space: h h^T, or (P h)(P h)^T when centred. */
  private gram(h: tf.Tensor2D): tf.Tensor2D {
    const hh = tf.matMul(h, h, false, true) as tf.Tensor2D;
    if (!this.shared) return hh;
    const a = tf.matMul(h, this.shared);
    return tf.sub(hh, tf.matMul(a, a, false, true)) as tf.Tensor2D;
  }

  /** Squared norms of the states in the matching space [B]. */
  private normsSq(h: tf.Tensor2D): tf.Tensor1D {
    const n = tf.sum(tf.square(h), 1);
    if (!this.shared) return n as tf.Tensor1D;
    return tf.sub(n, tf.square(tf.reshape(tf.matMul(h, this.shared), [-1]))) as tf.Tensor1D;
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
    this.shared?.dispose();
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
    const row = labelTokens[c] * t.dModel;
    for (let k = 0; k < d; k++) u[k] -= t.sum[row + k];
  }
  let n = 0;
  for (const x of u) n += x * x;
  n = Math.sqrt(n);
  if (!(n > 0) || !Number.isFinite(n)) return null;
  return Float32Array.from(u, (x) => x / n);
}
