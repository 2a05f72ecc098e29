/**
 * Additive (Bahdanau) attention: `softmax(Σ_h scale_h·tanh(q_h + k_h) + mask)·V`,
 * the maths of Keras's `AdditiveAttention` layer.
 *
 * Shape legend: "..." leading dimensions (batch), T query length, S key
 * length, H depth of query and key, Hv value depth.
 */
import { AttentionError } from '../errors';
import * as tf from '@tensorflow/tfjs';
import { checkFloat, checkOptionNames, checkOptions, fmt, inspect, TensorInput, toTensor } from './checks';
import { maskedSoftmax, weightedSum } from './masked_softmax';
import { visibilityMask } from './masks';
import { ATTENTION_OPTION_NAMES, AttentionOptions, AttentionResult, checkAttentionInputs } from '../functional/scaled_dot_product';

/** Options of `additiveAttention`. */
export interface AdditiveAttentionOptions extends AttentionOptions {
  /**
   * Weights of the sum over the depth axis: a number, or a float32 vector
   * `[H]` (Keras's learned `scale` when `use_scale=True`). Default 1.
   */
  scale?: number | tf.Tensor | number[];
  /** Also return the weights. Default false. */
  returnWeights?: boolean;
}

/**
 * Additive scores `Σ_h scale_h·tanh(q_h + k_h)`, `[..., T, S]`. This
 * materialises a `[..., T, S, H]` intermediate, as Keras does.
 * Call inside `tf.tidy`.
 */
export function additiveScores(query: tf.Tensor, key: tf.Tensor, scale: tf.Tensor | number): tf.Tensor {
  const r = query.rank;
  const q = tf.expandDims(query, r - 1); // [..., T, 1, H]
  const k = tf.expandDims(key, r - 2); // [..., 1, S, H]
  return tf.sum(tf.mul(scale, tf.tanh(tf.add(q, k))), -1);
}

function checkScaleArg(fn: string, scale: unknown, H: number): void {
  if (scale === undefined || (typeof scale === 'number' && Number.isFinite(scale))) {
    return;
  }
  if (typeof scale === 'number') {
    throw new AttentionError(`${fn}: expected \`scale\` to be a finite number or a vector [${H}], but got ${scale}.`);
  }
  const info = inspect(fn, 'scale', scale);
  if (info.dtype !== 'float32' || info.shape.length !== 1 || info.shape[0] !== H) {
    throw new AttentionError(
      `${fn}: expected \`scale\` to be a number or a float32 vector [${H}], but got dtype ${info.dtype} with shape ${fmt(info.shape)}.`,
    );
  }
}

/**
 * Additive (Bahdanau) attention.
 *
 * @param query float32 `[..., T, H]`.
 * @param key float32 `[..., S, H]`.
 * @param value float32 `[..., S, Hv]`.
 * @param options `mask` (broadcastable to `[..., T, S]`, true = may attend),
 *   `causal`, `scale` (number or `[H]`, default 1), `dropout` with `training`
 *   and `seed`, `returnWeights`, `emptyRows`.
 * @returns `[..., T, Hv]`, or `{ output, weights }` with weights `[..., T, S]`.
 * @throws Error on mismatched shapes, non-float inputs, a mask that does not
 *   broadcast, a scale that is not finite or not `[H]`, a dropout rate
 *   outside [0, 1).
 *
 * @example
 * ```ts
 * additiveAttention(tf.randomNormal([2, 3, 8]), tf.randomNormal([2, 5, 8]), tf.randomNormal([2, 5, 4])).shape;  // [2, 3, 4]
 * ```
 */
export function additiveAttention(
  query: TensorInput,
  key: TensorInput,
  value: TensorInput,
  options?: AdditiveAttentionOptions & { returnWeights?: false },
): tf.Tensor;
export function additiveAttention(
  query: TensorInput,
  key: TensorInput,
  value: TensorInput,
  options: AdditiveAttentionOptions & { returnWeights: true },
): AttentionResult;
export function additiveAttention(
  query: TensorInput,
  key: TensorInput,
  value: TensorInput,
  options: AdditiveAttentionOptions = {},
): tf.Tensor | AttentionResult {
  const fn = 'additiveAttention';
  checkOptions(fn, options);
  checkOptionNames(fn, options, [...ATTENTION_OPTION_NAMES, 'scale', 'returnWeights']);
  if (value === undefined) checkFloat(fn, 'value', value);
  const { scale, ...rest } = options;
  const { lead, T, S, H, Hv } = checkAttentionInputs(fn, query, key, value, rest);
  checkScaleArg(fn, scale, H);
  return tf.tidy(() => {
    if (T === 0 || S === 0 || lead.includes(0)) {
      // Nothing to attend to: zeros, as every attention path gives.
      const output = tf.zeros([...lead, T, Hv]);
      return options.returnWeights === true ? { output, weights: tf.zeros([...lead, T, S]) } : output;
    }
    const s = scale === undefined ? 1 : typeof scale === 'number' ? scale : toTensor(scale);
    const scores = additiveScores(toTensor(query), toTensor(key), s);
    const mask = visibilityMask(options.mask, options.causal === true, options.window, T, S);
    const weights = maskedSoftmax(scores, mask, options.emptyRows);
    const output = weightedSum(weights, toTensor(value), options.dropout, options.training, options.seed, mask !== null);
    return options.returnWeights === true ? { output, weights } : output;
  });
}
