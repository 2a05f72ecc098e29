/**
 * The naive kernel: the batched composition `softmax(Q·Kᵀ·scale + bias | mask)·V`
 * in tfjs ops, differentiated by tfjs. Fast where batched products are
 * (webgl, tensorflow); the reference formulation everywhere. Also the
 * kernel of zero-size problems.
 *
 * Shape legend: "..." leading dimensions, T query length, S key length,
 * H depth, Hv value depth.
 */
import * as tf from '@tensorflow/tfjs';
import { capScores, finiteScores, maskedSoftmax, weightedSum } from '../ops/masked_softmax';
import { visibilityMask } from '../ops/masks';
import { paddingOnly } from './blocked';
import type { KernelInput, KernelOutput } from './contract';

/**
 * `Q·Kᵀ·scale (+ bias)` with the scale folded into Q (T·H multiplies instead
 * of T·S). Call inside `tf.tidy`.
 */
export function dotScores(q: tf.Tensor, k: tf.Tensor, scale: number, bias: tf.Tensor | null): tf.Tensor {
  const scores = finiteScores(tf.matMul(scale === 1 ? q : tf.mul(q, scale), k, false, true));
  return bias === null ? scores : capScores(tf.add(scores, bias));
}

/** Whether some weight can be exactly 0 by masking (then the weighted sum must keep hidden values out). */
export function mayHide(inp: KernelInput): boolean {
  return inp.mask !== null || inp.bias !== null || inp.causal || inp.window !== undefined;
}

/** The attention weights `[..., T, S]`, before dropout. Call inside `tf.tidy`. */
export function naiveWeights(inp: KernelInput): tf.Tensor {
  const [T, S] = [inp.query.shape[inp.query.rank - 2], inp.key.shape[inp.key.rank - 2]];
  const scores = dotScores(inp.query, inp.key, inp.scale, inp.bias);
  return maskedSoftmax(scores, visibilityMask(inp.mask, inp.causal, inp.window, T, S), inp.emptyRows, mayHide(inp));
}

/** The naive kernel. */
export function naiveAttention(inp: KernelInput): KernelOutput {
  return tf.tidy(() => {
    const weights = naiveWeights(inp);
    const drop = inp.training && inp.dropout > 0;
    if (paddingOnly(inp) && !drop && inp.emptyRows === 'zeros') {
      // The keys a padding mask hides are hidden from every query: zeroing their values is exact and cheap
      // (not with 'uniform' empty rows, which average every value, the hidden ones included).
      const m = inp.mask as tf.Tensor;
      const column = tf.reshape(m, [...m.shape.slice(0, Math.max(0, m.rank - 2)), m.shape[m.rank - 1], 1]);
      const output = tf.matMul(weights, tf.where(column, inp.value, tf.zerosLike(inp.value)));
      return inp.returnWeights ? { output, weights } : { output };
    }
    const output = weightedSum(weights, inp.value, inp.dropout, inp.training, inp.seed, mayHide(inp));
    return inp.returnWeights ? { output, weights } : { output };
  });
}

/**
 * A problem with a zero-size dimension (no slice, no query or no key): the
 * output `[..., T, Hv]` and weights `[..., T, S]` are zeros (a row with no
 * key is empty), and so is the gradient of every input.
 */
export function emptyAttention(inp: KernelInput): KernelOutput {
  const r = inp.query.rank;
  const outShape = [...inp.query.shape.slice(0, r - 1), inp.value.shape[r - 1]];
  const wShape = [...inp.query.shape.slice(0, r - 1), inp.key.shape[r - 2]];
  const inputs = [inp.query, inp.key, inp.value, ...(inp.bias === null ? [] : [inp.bias])];
  const run = tf.customGrad(((...args: unknown[]) => {
    const xs = args.slice(0, inputs.length) as tf.Tensor[];
    return { value: tf.zeros(outShape), gradFunc: () => xs.map((x) => tf.zerosLike(x)) };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const output = run(...inputs);
  return inp.returnWeights ? { output, weights: tf.zeros(wShape) } : { output };
}
