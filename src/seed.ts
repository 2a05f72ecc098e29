/**
 * The article's two functions, reproduced exactly: `attention(Q, K, V)` is
 * `softmax(Q·Kᵀ)·V` with no scaling, written as `tf.matMul` with
 * `transposeB`, `tf.softmax` and `tf.matMul`, batched over the leading
 * dimensions as TensorFlow's `tf.matmul` is; `model([query, key, value])`
 * calls it.
 *
 * The article's own example passes Q `[1,10,20]`, K `[1,20,10]` and
 * V `[1,20,20]`, for which `Q·Kᵀ` is undefined (inner sizes 20 and 10). The
 * port answers those inputs with an error naming both shapes, raised before
 * any tensor is allocated. For scaled, masked, causal or fast attention use
 * `scaledDotProductAttention`.
 */
import { AttentionError } from './errors';
import * as tf from '@tensorflow/tfjs';
import { broadcastTo } from './tfjs_compat/broadcast_to_empty';
import { checkFloat, fmt, TensorInput, toTensor } from './ops/checks';
import { broadcastShapes } from './ops/masks';

function checkSeedShapes(fn: string, Q: unknown, K: unknown, V: unknown): number[] {
  const q = checkFloat(fn, 'Q', Q).shape;
  const k = checkFloat(fn, 'K', K).shape;
  const v = checkFloat(fn, 'V', V).shape;
  const qd = q[q.length - 1];
  const kd = k[k.length - 1];
  if (qd !== kd) {
    throw new AttentionError(
      `${fn}: Q·Kᵀ needs Q and K to have the same last dimension, but got Q ${fmt(q)} and K ${fmt(k)} ` +
        `(${qd} ≠ ${kd}).`,
    );
  }
  const ks = k[k.length - 2];
  const vs = v[v.length - 2];
  if (ks !== vs) {
    throw new AttentionError(
      `${fn}: weights·V needs K and V to have the same length (axis -2), but got K ${fmt(k)} and V ${fmt(v)} ` +
        `(${ks} ≠ ${vs}).`,
    );
  }
  return broadcastShapes(`${fn}: batch dimensions of Q, K and V`, [q.slice(0, -2), k.slice(0, -2), v.slice(0, -2)]);
}

/**
 * Broadcasts `x` to the batch dimensions `batch` when they differ. tfjs 4.22's
 * `matMul` gives wrong values when both operands broadcast batch dimensions
 * (say `[2,1]` against `[1,5]`): it flattens each side's batch dimensions
 * before broadcasting. Broadcasting first sidesteps that.
 */
function toBatch(x: tf.Tensor, batch: number[]): tf.Tensor {
  const own = x.shape.slice(0, -2);
  if (own.length === batch.length && own.every((d, i) => d === batch[i])) {
    return x;
  }
  return broadcastTo(x, [...batch, ...x.shape.slice(-2)]);
}

/**
 * The article's attention: `softmax(Q·Kᵀ)·V`, unscaled.
 *
 * Shape legend: "..." batch dimensions (broadcast as `tf.matMul` does),
 * T query length, S key length, D query/key depth, Dv value depth.
 *
 * tfjs's `matMul` mis-broadcasts when both operands broadcast batch
 * dimensions, so differing batch dimensions are broadcast explicitly first.
 *
 * @param Q float32 `[..., T, D]`.
 * @param K float32 `[..., S, D]`.
 * @param V float32 `[..., S, Dv]`.
 * @returns float32 `[..., T, Dv]`.
 * @throws Error if Q and K differ in their last dimension, or K and V in
 *   their length, naming both shapes; checked before anything is allocated.
 *
 * @example
 * ```ts
 * attention(tf.randomNormal([1, 10, 20]), tf.randomNormal([1, 20, 20]), tf.randomNormal([1, 20, 20])).shape;
 * // [1, 10, 20]
 * ```
 */
export function attention(Q: TensorInput, K: TensorInput, V: TensorInput): tf.Tensor {
  const batch = checkSeedShapes('attention', Q, K, V);
  return tf.tidy(() => {
    // Attention scores.
    const attentionScores = tf.matMul(toBatch(toTensor(Q), batch), toBatch(toTensor(K), batch), false, true);
    // Attention weights.
    const attentionWeights = tf.softmax(attentionScores);
    // Weighted sum.
    return tf.matMul(attentionWeights, toBatch(toTensor(V), batch));
  });
}

/**
 * The article's model: unpacks `[query, key, value]` and returns
 * `attention(query, key, value)`.
 *
 * @param inputData `[query, key, value]`, shapes as in `attention`.
 * @returns float32 `[..., T, Dv]`.
 * @throws Error if `inputData` is not three tensors, or their shapes do not fit.
 *
 * @example
 * ```ts
 * model([tf.randomNormal([1, 10, 20]), tf.randomNormal([1, 20, 20]), tf.randomNormal([1, 20, 20])]).shape;
 * // [1, 10, 20]
 * ```
 */
export function model(inputData: readonly [TensorInput, TensorInput, TensorInput]): tf.Tensor {
  if (!Array.isArray(inputData) || inputData.length !== 3) {
    const got = Array.isArray(inputData) ? `an array of length ${inputData.length}` : typeof inputData;
    throw new AttentionError(`model: expected inputData to be [query, key, value], but got ${got}.`);
  }
  const [query, key, value] = inputData;
  checkSeedShapes('model', query, key, value);
  return attention(query, key, value);
}
