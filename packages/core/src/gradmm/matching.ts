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
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Llama } from '../model/llama.js';
import { transpose2d } from '../util/transpose.js';
import { SynthgradError } from '../util/errors.js';
import type { ClassTarget } from './targets.js';

export type MatchingDistance = 'cosine' | 'l2';

export class MatchingLoss {
  /** G_c^T [d, V], scaled to the mean for 'l2'. */
  private readonly targetT: tf.Tensor2D;
  private readonly targetNormSq: number;

  constructor(
    private readonly model: Llama,
    target: ClassTarget,
    readonly labelToken: number,
    readonly distance: MatchingDistance = 'cosine',
  ) {
    const { vocabSize: V, dModel: d } = model.config;
    if (target.vocabSize !== V || target.dModel !== d || target.sum.length !== V * d) {
      throw new SynthgradError(`target is ${target.vocabSize} x ${target.dModel}, the model's head is ${V} x ${d}`, 'E_SHAPE_MISMATCH');
    }
    const scale = distance === 'l2' ? 1 / target.count : 1;
    const t = transpose2d(target.sum, V, d);
    let sq = 0;
    for (let i = 0; i < t.length; i++) {
      t[i] *= scale;
      sq += t[i] * t[i];
    }
    if (!Number.isFinite(sq)) throw new SynthgradError('target contains non-finite values', 'E_INPUT');
    if (sq === 0) throw new SynthgradError('target is all zeros', 'E_INPUT');
    this.targetNormSq = sq;
    this.targetT = tf.tensor2d(t, [d, V]);
  }

  /** s_j and the target product G_c h_j for last hidden states h [B, d]. */
  private parts(h: tf.Tensor2D): { s: tf.Tensor2D; gh: tf.Tensor2D } {
    const V = this.model.config.vocabSize;
    const B = h.shape[0];
    const p = tf.softmax(this.model.logitsOf(h));
    const s = tf.sub(p, tf.oneHot(tf.fill([B], this.labelToken, 'int32'), V)) as tf.Tensor2D;
    return { s, gh: tf.matMul(h, this.targetT) };
  }

  /** D for the batch of last hidden states h [B, d]. */
  loss(h: tf.Tensor2D): tf.Scalar {
    return tf.tidy(() => {
      const B = h.shape[0];
      const { s, gh } = this.parts(h);
      const inner = tf.div(tf.sum(tf.mul(s, gh)), B);
      const synSq = tf.div(tf.sum(tf.mul(tf.matMul(s, s, false, true), tf.matMul(h, h, false, true))), B * B);
      if (this.distance === 'l2') return tf.add(tf.sub(synSq, tf.mul(2, inner)), this.targetNormSq) as tf.Scalar;
      return tf.sub(1, tf.div(inner, tf.mul(tf.sqrt(tf.maximum(synSq, 1e-30)), Math.sqrt(this.targetNormSq)))) as tf.Scalar;
    });
  }

  /** D of each sequence on its own (B = 1 each): [B]. */
  perExample(h: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => {
      const { s, gh } = this.parts(h);
      const inner = tf.sum(tf.mul(s, gh), 1);
      const synSq = tf.mul(tf.sum(tf.square(s), 1), tf.sum(tf.square(h), 1));
      if (this.distance === 'l2') return tf.add(tf.sub(synSq, tf.mul(2, inner)), this.targetNormSq) as tf.Tensor1D;
      return tf.sub(1, tf.div(inner, tf.mul(tf.sqrt(tf.maximum(synSq, 1e-30)), Math.sqrt(this.targetNormSq)))) as tf.Tensor1D;
    });
  }

  dispose(): void {
    this.targetT.dispose();
  }
}
