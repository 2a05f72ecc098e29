/**
 * The two steps every attention variant shares once it has its scores:
 * the masked softmax over the key axis, and the weighted sum of the values.
 *
 * Masking is exact: a hidden key's score is replaced by -Infinity (not
 * offset by a large negative number), so its weight is exactly 0 whatever
 * the magnitude of the scores, and a hidden key's value never reaches the
 * output (see `weightedSum`).
 */
import * as tf from '@tensorflow/tfjs';

/** What a query row with no visible key gets. */
export type EmptyRows = 'zeros' | 'uniform';

/**
 * `softmax(scores)` over the last axis with hidden keys weighted exactly 0.
 *
 * A key is hidden where `mask` is false or its score is -Infinity (a bias of
 * -Infinity hides a key too). A row with no visible key (every key hidden,
 * whatever hid it) gets, with `emptyRows: 'zeros'` (the default), all-zero
 * weights, so the attention output there is zero, never NaN; with
 * `'uniform'`, weights 1/S over every key, which is what Keras's layers
 * return for a fully masked row. The gradient is finite in every case.
 *
 * Costs, beyond tfjs's softmax: one `where` when there is a mask, and a row
 * max, a compare and two `where`s over `[..., T, S]` to find and neutralise
 * empty rows (skipped when `mayBeEmpty` is false).
 *
 * @param scores float32 `[..., T, S]`.
 * @param mask bool broadcastable to `[..., T, S]`, or null for no mask.
 * @param emptyRows See above. Default `'zeros'`.
 * @param mayBeEmpty Whether a row can have no visible key at all (false only
 *   when the caller knows every row sees a finite score). Default true.
 * @returns float32 `[..., T, S]`, each non-empty row summing to 1.
 */
export function maskedSoftmax(
  scores: tf.Tensor,
  mask: tf.Tensor | null,
  emptyRows: EmptyRows = 'zeros',
  mayBeEmpty = true,
): tf.Tensor {
  return tf.tidy(() => {
    const { weights, empty } = maskedSoftmaxRows(scores, mask, mayBeEmpty);
    if (empty === null || emptyRows === 'zeros') return weights;
    const S = scores.shape[scores.rank - 1];
    return tf.where(empty, tf.fill(weights.shape, 1 / S), weights);
  });
}

/**
 * The masked softmax with empty rows zeroed, and which rows are empty
 * (bool `[..., T, 1]`, or null when `mayBeEmpty` is false), for kernels that
 * see a block of keys and decide what an empty row gets over all of them.
 * Every indicator is built from ops whose gradient tfjs defines (`isInf`,
 * `relu`; tfjs has none for `equal` or `greater`), so the result is
 * differentiable. Call inside `tf.tidy`.
 */
export function maskedSoftmaxRows(
  scores: tf.Tensor,
  mask: tf.Tensor | null,
  mayBeEmpty = true,
): { weights: tf.Tensor; empty: tf.Tensor | null } {
  const x = mask === null ? scores : tf.add(scores, maskToLogits(mask));
  if (!mayBeEmpty) return { weights: tf.softmax(x), empty: null };
  // True where the row max is -Infinity: relu(-max) is +Infinity only then.
  const empty = tf.isInf(tf.relu(tf.neg(tf.max(x, -1, true))));
  // Empty rows are softmaxed as all-zero scores (finite, with a finite gradient), then zeroed.
  const zeros = tf.zerosLike(x);
  const weights = tf.softmax(tf.where(empty, zeros, x));
  return { weights: tf.where(empty, zeros, weights), empty };
}

/**
 * The magnitude scores are clamped to: 1e38 (as a float32, so JavaScript and tfjs agree), below float32's largest finite
 * value (3.4e38) with room for the online softmax's sentinel log-sum-exp
 * (-3e38, `kernels/online.ts`) to stay below any real one.
 */
export const SCORE_LIMIT = Math.fround(1e38);

/**
 * Dot-product scores with float32 overflow undone: a product beyond
 * ±SCORE_LIMIT (±Infinity, as `q = k = [1e20]` gives) becomes ±SCORE_LIMIT,
 * so the softmax gives the limit it tends to (weight 1 on the largest
 * score, 0 on a score that overflowed below) instead of `Inf - Inf = NaN`,
 * and an overflow to -Infinity does not read as a hidden key. Scores that
 * all overflow the same way share the weight equally. NaN stays NaN.
 * Call inside `tf.tidy`.
 */
export function finiteScores(scores: tf.Tensor): tf.Tensor {
  return tf.clipByValue(scores, -SCORE_LIMIT, SCORE_LIMIT);
}

/**
 * Scores plus a bias, with anything above SCORE_LIMIT (a `+Infinity` bias,
 * or an overflow of the sum) capped at it; -Infinity stays: a `-Infinity`
 * bias hides a key. Call inside `tf.tidy`.
 */
export function capScores(scores: tf.Tensor): tf.Tensor {
  return tf.minimum(scores, SCORE_LIMIT);
}

/**
 * A bool mask as additive logits: 0 where true, -Infinity where false
 * (`log` of the mask as 1/0). Adding it hides a key exactly, whatever the
 * score (`s + -Infinity = -Infinity` for every finite `s`), and broadcasts
 * without materialising the mask at the scores' shape (unlike `where`).
 * Call inside `tf.tidy`.
 */
export function maskToLogits(mask: tf.Tensor): tf.Tensor {
  return tf.log(tf.cast(mask, 'float32'));
}

/**
 * `f(x)` with a zero gradient with respect to `x`: for indicators computed
 * from a differentiable tensor (which tfjs would otherwise try to
 * differentiate, through ops such as `cumsum` whose gradient it gets wrong
 * in 4.22 for axis 0 of a 2-D tensor).
 */
export function withoutGradient(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor): tf.Tensor {
  const run = tf.customGrad(((input: tf.Tensor) => ({
    value: f(input),
    gradFunc: (_dy: tf.Tensor) => tf.zerosLike(input),
  })) as unknown as Parameters<typeof tf.customGrad>[0]);
  return run(x);
}

/**
 * A value tensor split for `exactProduct`: its finite part (non-finite
 * entries replaced by 0) and the float32 1/0 indicator of its non-finite
 * entries. Call inside `tf.tidy`.
 */
export function splitFinite(value: tf.Tensor): { clean: tf.Tensor; bad: tf.Tensor } {
  const ok = tf.isFinite(value);
  return { clean: tf.where(ok, value, tf.zerosLike(value)), bad: tf.sub(1, tf.cast(ok, 'float32')) };
}

/**
 * `weights · value` from the split value (`splitFinite`), in which a key of
 * weight exactly 0 does not reach the output:
 * `weights · clean`, and NaN where `step(weights) · bad > 0`.
 * Call inside `tf.tidy`.
 */
export function exactProduct(weights: tf.Tensor, clean: tf.Tensor, bad: tf.Tensor): tf.Tensor {
  const out = tf.matMul(weights, clean);
  // step(w) is 1 where w > 0; its gradient, like cast's, is defined (zero).
  const reached = tf.step(tf.matMul(tf.step(weights), bad));
  return tf.where(tf.cast(reached, 'bool'), tf.fill(out.shape, NaN), out);
}

/**
 * `weights · value` in which a key of weight exactly 0 does not reach the
 * output: a NaN or ±Infinity in the value of a hidden key leaves the result
 * finite, where plain `matMul` computes `0 · NaN = NaN`.
 *
 * Formulation: `weights · clean(value)`, with NaN where
 * `step(weights) · bad(value) > 0`; `clean` replaces non-finite values by 0
 * and `bad` is 1 where a value is not finite. A non-finite value of a key
 * with positive weight makes that output element NaN (±Infinity included).
 * Cost: a second product of the size of the first, and elementwise passes
 * over `value` and `weights`; no data is read back. Callers pass
 * `exact: false` when no weight can be 0 by masking (no mask, causal,
 * window, bias or dropout), and then pay nothing.
 *
 * @param weights float32 `[..., T, S]`.
 * @param value float32 `[..., S, Hv]`.
 * @returns float32 `[..., T, Hv]`.
 */
export function exactMatMul(weights: tf.Tensor, value: tf.Tensor, exact = true): tf.Tensor {
  return tf.tidy(() => {
    if (!exact) return tf.matMul(weights, value);
    const { clean, bad } = splitFinite(value);
    return exactProduct(weights, clean, bad);
  });
}

/**
 * Dropout on attention weights (only when training with a positive rate),
 * then the weighted sum of the values, exact with respect to hidden keys
 * (see `exactMatMul`).
 *
 * @param weights float32 `[..., T, S]`.
 * @param value float32 `[..., S, Hv]`.
 * @param exact Whether some weight may be 0 by masking. Default true.
 * @returns float32 `[..., T, Hv]`.
 */
export function weightedSum(
  weights: tf.Tensor,
  value: tf.Tensor,
  dropout = 0,
  training = false,
  seed?: number,
  exact = true,
): tf.Tensor {
  return tf.tidy(() => {
    const drop = training && dropout > 0;
    const w = drop ? tf.dropout(weights, dropout, undefined, seed) : weights;
    return exactMatMul(w, value, exact || drop);
  });
}
