/**
 * Class targets (METHOD.md sections 2 and 5): the sum over a class's real examples of the
 * last-layer gradient g_i = s_i h_i^T, s_i = softmax(W h_i) - e_{v_c}, each optionally clipped to
 * norm C (free, since |g_i| = |s_i||h_i| for a rank-one matrix), plus Gaussian noise once on the
 * sum. Sums (not means) are kept so contributions from several data owners add up; the matching
 * loss is a cosine, so the scale does not matter.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Llama } from '../model/llama.js';
import { lastPosition } from '../model/llama.js';
import type { Example } from '../task/data.js';
import { SynthgradError } from '../util/errors.js';
import { newSecretKey, SecureStream } from '../privacy/secure-stream.js';
import { analyticGaussianSigma } from '../privacy/analytic-gaussian.js';
import { leftPad } from './prompt.js';

export interface ClassTarget {
  /** Task label index. */
  label: number;
  vocabSize: number;
  dModel: number;
  /**
   * Vocabulary ids of the head rows held in `sum`, in order, or null for every row 0..V-1 (the
   * whole last-layer gradient). A 'label-rows' release keeps only the task's label tokens.
   */
  rows: number[] | null;
  /** sum_i clip_i * g_i (+ noise) restricted to `rows`, [rows.length or V, d] row-major. */
  sum: Float32Array;
  /** Examples summed. */
  count: number;
  /** Standard deviation of the noise added to every entry (0 when not private). */
  noiseStd: number;
  /** Clip norm C, or null when not clipped. */
  clip: number | null;
}

import { DEFAULT_RELEASE, TARGET_RELEASES, type TargetRelease } from './release.js';

export { DEFAULT_RELEASE, TARGET_RELEASES, type TargetRelease };

export interface PrivacyOptions {
  clip?: number;
  epsilon?: number;
  delta?: number;
  /** What each class target releases (default DEFAULT_RELEASE, 'label-rows'). */
  release?: TargetRelease;
}

/** The head rows a release keeps: null for 'full', else the label tokens (each once, in task order). */
export function releaseRows(release: TargetRelease | undefined, labelTokens: number[]): number[] | null {
  const r = release ?? DEFAULT_RELEASE;
  if (r === 'full') return null;
  if (r !== 'label-rows') throw new SynthgradError(`unknown target release '${r as string}' (one of ${TARGET_RELEASES.join(', ')})`, 'E_USAGE');
  if (new Set(labelTokens).size !== labelTokens.length) throw new SynthgradError('label-rows release: two labels share a verbaliser token', 'E_USAGE');
  return [...labelTokens];
}

/** Number of head rows a target holds. */
export const targetRowCount = (t: Pick<ClassTarget, 'rows' | 'vocabSize'>): number => t.rows?.length ?? t.vocabSize;

/** Row of vocabulary id v of a target [d] (a view), or null when the release left it out. */
export function targetRow(t: ClassTarget, v: number): Float32Array | null {
  const r = t.rows ? t.rows.indexOf(v) : v >= 0 && v < t.vocabSize ? v : -1;
  return r < 0 ? null : t.sum.subarray(r * t.dModel, (r + 1) * t.dModel);
}

export interface TargetOptions extends PrivacyOptions {
  /**
   * The data owner's secret noise key (32 bytes, privacy/secure-stream.ts): the noise of class c
   * is the ChaCha20 stream derived from (key, 'target-noise', c), so the owner can recompute it
   * (resume) and nobody else can. Absent: a fresh key from the OS, never reproducible.
   */
  noiseKey?: Uint8Array;
  /** Head rows to compute and release (releaseRows); absent or null: every row. */
  rows?: number[] | null;
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface PrivacyReport {
  mechanism: 'analytic-gaussian' | 'none';
  epsilon: number | null;
  delta: number | null;
  clip: number | null;
  sigma: number;
  neighbouring: string;
  /** What each class target released ('full' head gradient or its 'label-rows'). */
  release: TargetRelease;
  releases: number;
  accounting: string;
}

export function privacyReport(opts: PrivacyOptions, releases: number): PrivacyReport {
  const priv = opts.epsilon !== undefined;
  return {
    mechanism: priv ? 'analytic-gaussian' : 'none',
    epsilon: opts.epsilon ?? null,
    delta: opts.delta ?? null,
    clip: opts.clip ?? null,
    sigma: priv ? analyticGaussianSigma(opts.epsilon!, opts.delta!, opts.clip!) : 0,
    neighbouring: 'add or remove one example (L2 sensitivity of a class sum = clip, on the released rows)',
    release: opts.release ?? DEFAULT_RELEASE,
    releases,
    accounting: priv
      ? `${releases} releases (one per class); each example enters exactly one class sum, so by parallel composition the whole output is (${opts.epsilon}, ${opts.delta})-DP; optimisation and projection are post-processing`
      : 'no privacy: targets are exact',
  };
}

export function checkPrivacyOptions(opts: PrivacyOptions): void {
  const { clip, epsilon, delta, release } = opts;
  if (release !== undefined && !TARGET_RELEASES.includes(release)) throw new SynthgradError(`privacy: unknown release '${release as string}' (one of ${TARGET_RELEASES.join(', ')})`, 'E_USAGE');
  if ((epsilon === undefined) !== (delta === undefined)) throw new SynthgradError('privacy: epsilon and delta go together (give both or neither)', 'E_USAGE');
  if (epsilon !== undefined && clip === undefined) throw new SynthgradError('privacy: differential privacy needs clip (the per-example norm bound)', 'E_USAGE');
  if (clip !== undefined && !(clip > 0)) throw new SynthgradError(`privacy: clip must be positive, got ${clip}`, 'E_USAGE');
  if (epsilon !== undefined) analyticGaussianSigma(epsilon, delta!, clip!); // validates ranges
}

/** The target of one class from its examples. */
export function computeClassTarget(
  model: Llama,
  examples: Example[],
  label: number,
  labelToken: number,
  /** Prompt ids of a real text (see prompt.ts). */
  promptIds: (text: string) => number[],
  opts: TargetOptions,
): ClassTarget {
  checkPrivacyOptions(opts);
  const { vocabSize: V, dModel: d, contextLength } = model.config;
  const rows = opts.rows ?? null;
  if (rows) {
    if (rows.length === 0 || rows.some((v) => !(Number.isInteger(v) && v >= 0 && v < V))) throw new SynthgradError(`target rows must be vocabulary ids in [0, ${V})`, 'E_USAGE');
    if (!rows.includes(labelToken)) throw new SynthgradError(`target rows leave out the class's own label token ${labelToken}`, 'E_USAGE');
  }
  const R = rows?.length ?? V;
  const rowIds = rows ? tf.tensor1d(rows, 'int32') : null;
  const seqs = examples.map((e) => {
    const ids = promptIds(e.text);
    if (ids.length > contextLength) {
      throw new SynthgradError(`${e.source}:${e.line}: text is ${ids.length} tokens with the suffix, longer than the model's context of ${contextLength}`, 'E_DATA');
    }
    return ids;
  });
  const bs = opts.batchSize ?? 16;
  let acc = tf.zeros([R, d]) as tf.Tensor2D;
  for (let start = 0; start < seqs.length; start += bs) {
    const chunk = seqs.slice(start, start + bs);
    const { ids, mask } = leftPad(chunk, 0);
    const next = tf.tidy(() => {
      const { hidden, logits } = model.forward({ ids, attentionMask: mask, logits: 'last' });
      const h = lastPosition(hidden);
      const sFull = tf.sub(tf.softmax(logits!), tf.oneHot(tf.fill([chunk.length], labelToken, 'int32'), V));
      // Only the released rows: clipping bounds the norm of what leaves the owner.
      const s = rowIds ? tf.gather(sFull, rowIds, 1) : sFull;
      let scale: tf.Tensor = tf.ones([chunk.length, 1]);
      if (opts.clip !== undefined) {
        const norm = tf.mul(tf.norm(s, 2, 1, true), tf.norm(h, 2, 1, true));
        scale = tf.minimum(1, tf.div(opts.clip, tf.maximum(norm, 1e-12)));
      }
      return tf.add(acc, tf.matMul(tf.transpose(tf.mul(s, scale)), h)) as tf.Tensor2D;
    });
    acc.dispose();
    acc = next;
    opts.onProgress?.(Math.min(start + bs, seqs.length), seqs.length);
  }
  const sum = acc.dataSync() as Float32Array;
  acc.dispose();
  rowIds?.dispose();
  let noiseStd = 0;
  if (opts.epsilon !== undefined) {
    noiseStd = analyticGaussianSigma(opts.epsilon, opts.delta!, opts.clip!);
    const stream = SecureStream.derive(opts.noiseKey ?? newSecretKey(), 'target-noise', label);
    for (let i = 0; i < sum.length; i++) sum[i] += noiseStd * stream.normal();
  }
  return { label, vocabSize: V, dModel: d, rows, sum, count: examples.length, noiseStd, clip: opts.clip ?? null };
}

/**
 * Signal/noise of a noisy target, read from the released numbers only (post-processing, no
 * privacy cost): |t|^2 = |signal|^2 + N sigma^2 in expectation over N entries, so the signal norm
 * is estimated as sqrt(max(0, |t|^2 - N sigma^2)) against the noise norm sigma sqrt(N). Null
 * without noise.
 */
export function signalToNoise(t: ClassTarget): number | null {
  if (!(t.noiseStd > 0)) return null;
  let sq = 0;
  for (const x of t.sum) sq += x * x;
  const noiseSq = t.sum.length * t.noiseStd ** 2;
  return Math.sqrt(Math.max(0, sq - noiseSq) / noiseSq);
}

/** Sum of targets of the same class from several data owners. */
export function addTargets(targets: ClassTarget[]): ClassTarget {
  if (targets.length === 0) throw new SynthgradError('addTargets: nothing to add');
  const [first] = targets;
  const sum = new Float32Array(first.sum.length);
  for (const t of targets) {
    const sameRows = (t.rows === null) === (first.rows === null) && (t.rows ?? []).every((v, i) => v === first.rows![i]);
    if (t.label !== first.label || t.sum.length !== sum.length || !sameRows) throw new SynthgradError('addTargets: targets differ in class or shape', 'E_SHAPE_MISMATCH');
    for (let i = 0; i < sum.length; i++) sum[i] += t.sum[i];
  }
  return {
    ...first,
    sum,
    count: targets.reduce((a, t) => a + t.count, 0),
    noiseStd: Math.sqrt(targets.reduce((a, t) => a + t.noiseStd ** 2, 0)),
  };
}
