/**
 * tfjs 4.22's wasm backend fails on `tf.transpose` of a tensor with no
 * elements (`RuntimeError: divide by zero` from the Transpose kernel), which
 * made every multi-head layer throw on a batch of 0 on wasm. A tensor with no
 * elements has no data to move, so its transpose is a reshape to the permuted
 * shape; tfjs differentiates both.
 *
 * Pinned by __tests__/tfjs_compat/empty_transpose.test.ts: when a tfjs
 * upgrade fixes the kernel, the pin fails and this file can go.
 */
import * as tf from '@tensorflow/tfjs';

/** `tf.transpose(x, perm)`, also for tensors with no elements on wasm. */
export function transpose<T extends tf.Tensor>(x: T, perm: number[]): T {
  if (x.size !== 0) return tf.transpose(x, perm);
  return tf.reshape(x, perm.map((p) => x.shape[p])) as T;
}
