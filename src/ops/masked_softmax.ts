/**
 * The two steps every attention variant shares once it has its scores:
 * the masked softmax over the key axis, and the weighted sum of the values.
 */
import * as tf from '@tensorflow/tfjs';

/** Added to the score of a masked position; exp() of it underflows to 0 in float32. */
export const MASK_NEGATIVE = -1e9;

/** What a query row with no visible key gets. */
export type EmptyRows = 'zeros' | 'uniform';

/**
 * Turns a bool mask (true = may attend) into an additive bias of 0 / -1e9.
 * @param mask bool, broadcastable to the scores.
 * @returns float32 of the mask's shape.
 */
export function maskToBias(mask: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.sub(1, tf.cast(mask, 'float32')), MASK_NEGATIVE));
}

/**
 * `softmax(scores + bias)` over the last axis, where `bias` is 0 where the
 * mask allows and -1e9 where it does not.
 *
 * Rows where the mask allows nothing: with `emptyRows: 'zeros'` (the default)
 * their weights are all zero, so the attention output there is zero, never
 * NaN; with `'uniform'` every score of the row is pushed to -1e9 (float32
 * absorbs the score itself), so the weights are uniform, 1/S, which is what
 * Keras's layers return.
 *
 * @param scores float32 `[..., T, S]`.
 * @param mask bool broadcastable to `[..., T, S]`, or null for no mask.
 * @param emptyRows See above. Default `'zeros'`.
 * @returns float32 `[..., T, S]`, each visible row summing to 1.
 */
export function maskedSoftmax(scores: tf.Tensor, mask: tf.Tensor | null, emptyRows: EmptyRows = 'zeros'): tf.Tensor {
  return tf.tidy(() => {
    if (mask === null) {
      return tf.softmax(scores);
    }
    const weights = tf.softmax(tf.add(scores, maskToBias(mask)));
    if (emptyRows === 'uniform') {
      return weights;
    }
    // [..., T, 1]: 1 where the row has at least one visible key.
    const rowHasKey = tf.cast(tf.any(mask, -1, true), 'float32');
    return tf.mul(weights, rowHasKey);
  });
}

/**
 * Dropout on attention weights (only when training with a positive rate),
 * then the weighted sum of the values.
 *
 * @param weights float32 `[..., T, S]`.
 * @param value float32 `[..., S, Hv]`.
 * @returns float32 `[..., T, Hv]`.
 */
export function weightedSum(
  weights: tf.Tensor,
  value: tf.Tensor,
  dropout = 0,
  training = false,
  seed?: number,
): tf.Tensor {
  return tf.tidy(() => {
    const w = training && dropout > 0 ? tf.dropout(weights, dropout, undefined, seed) : weights;
    return tf.matMul(w, value);
  });
}
