/**
 * tfjs 4.22's `tf.broadcastTo` returns size 1, not 0, along an axis broadcast
 * to size 0: `tf.broadcastTo(tf.zeros([3, 4]), [0, 3, 4])` has shape
 * `[1, 3, 4]` (it tiles only axes whose target is above 1, and returns the
 * input otherwise). So the position layers gave a batch of 1 for a batch of
 * 0. A target with no elements has no data to broadcast: its result is an
 * empty tensor of the target shape; tfjs differentiates both.
 *
 * Pinned by __tests__/tfjs_compat/broadcast_to_empty.test.ts: when a tfjs
 * upgrade fixes it, the pin fails and this file can go.
 */
import * as tf from '@tensorflow/tfjs';

/** `tf.broadcastTo(x, shape)`, also when `shape` has a 0. */
export function broadcastTo<R extends tf.Rank>(x: tf.Tensor, shape: tf.ShapeMap[R]): tf.Tensor<R> {
  if (!(shape as number[]).includes(0)) return tf.broadcastTo(x, shape);
  // Checks that x broadcasts (throws tfjs's own error otherwise), on the shape with 0s as 1s.
  const probe = (shape as number[]).map((d) => (d === 0 ? 1 : d));
  tf.tidy(() => tf.broadcastTo(tf.zeros(x.shape.map((d) => (d === 0 ? 1 : d)), x.dtype), probe));
  return tf.zeros(shape, x.dtype) as tf.Tensor<R>;
}
