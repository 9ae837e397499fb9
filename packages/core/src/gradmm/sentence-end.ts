/**
 * Ending synthetic texts where a sentence would end (issue 10). ADMM optimises sequences of one
 * fixed length, so most stop mid-phrase ("... to lazy storytelling to"), and the classifier's
 * feature, the final state after "text . It was", is then read after a broken sentence, unlike
 * any real text. Each text is cut at the position in its last part after which the LM gives the
 * sentence end its highest probability: post-processing of the output with public weights, no
 * privacy cost.
 *
 * Measured (docs/METHOD.md section 8): on six saved rtpolarity generations, the same 100 texts
 * before and after the cut, 3 student seeds, cutting anywhere in the second half raised what they
 * taught in all six, by 0.9 to 1.9 points (mean 1.4), and the protocol gave 76.6% -> 77.7%; on
 * imdb, whose real reviews are cut at 256 characters mid-sentence, 86.3% -> 85.4%. Measured again
 * over three generations and ten training seeds each (docs/EXPERIMENTS.md, "Measured again"), it
 * gained on both sets (rtpolarity 73.2% -> 74.0%, imdb 85.2% -> 86.1%), so it is on by default
 * (MethodSettings.sentenceEndCut 0.5).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Llama } from '../model/llama.js';
import { SynthgradError } from '../util/errors.js';
import { afterEachPrefix } from './scoring.js';

/**
 * The fewest tokens a cut keeps of an n-token text: floor(minFraction * n), and at least 2 (a
 * one-token text has no perplexity and is rarely a sentence) unless the text is shorter.
 */
const shortestCut = (n: number, minFraction: number): number => Math.min(n, Math.max(2, Math.floor(minFraction * n)));

/**
 * For each sequence, how many of its tokens to keep: the k in [shortestCut(n), n] that maximises
 * log p(endToken | context, seq[0..k)). With minFraction 1 nothing is cut.
 */
export function sentenceEndLengths(model: Llama, context: number[], seqs: number[][], endToken: number, minFraction: number, batchSize = 8): number[] {
  if (!(minFraction > 0 && minFraction <= 1)) throw new SynthgradError(`the sentence-end cut keeps at least a fraction in (0, 1] of a text, got ${minFraction}`, 'E_USAGE');
  if (!(endToken >= 0 && endToken < model.config.vocabSize)) throw new SynthgradError(`sentence-end token ${endToken} is not in the model's vocabulary`, 'E_USAGE');
  // log p(end) after every prefix.
  const logp = afterEachPrefix(model, context, seqs, [(lp) => tf.squeeze(tf.slice(lp, [0, 0, endToken], [-1, -1, 1]), [2]) as tf.Tensor2D], batchSize);
  return seqs.map((seq, i) => {
    const n = seq.length;
    let best = n;
    let bestScore = -Infinity;
    for (let k = shortestCut(n, minFraction); k <= n; k++) {
      const v = logp[i]![0]![k]!;
      if (v > bestScore) {
        bestScore = v;
        best = k;
      }
    }
    return best;
  });
}
