/**
 * The check of Keras masks (the `mask` call option, one per input, as tfjs
 * passes them from earlier layers): a mask of input `[B, T, ...]` is a bool
 * or 0/1 tensor `[B, T]`. One message for every layer, given before the
 * layer builds (a mask of the wrong shape reached the maths and failed as a
 * broadcast error, or in `scaledDotProductAttention`'s name).
 */
import * as tf from '@tensorflow/tfjs';
import { AttentionError } from '../../errors';
import { describeValue } from '../../ops/checks';

type Shape = ReadonlyArray<number | null>;
const showShape = (s: Shape) => `[${s.map((d) => (d === null ? 'null' : d)).join(',')}]`;

/**
 * Throws an AttentionError unless `mask` is absent or a bool / numeric
 * tensor of its input's `[B, T]` (unknown dimensions, null, match any).
 * Inputs of rank below 2 are not checked (their rank is refused elsewhere).
 *
 * @param layer The layer's class name, for the message.
 * @param role The input the mask belongs to (`query`, `value`, `the input`).
 * @param mask The mask given for that input.
 * @param input The input (a tensor or symbolic tensor: only its shape is read).
 */
export function checkKerasMask(layer: string, role: string, mask: unknown, input: { readonly shape: Shape } | undefined): void {
  if (mask === null || mask === undefined || input === undefined || input.shape.length < 2) return;
  const want = input.shape.slice(0, 2);
  if (!(mask instanceof tf.Tensor) && !(mask instanceof tf.SymbolicTensor)) {
    throw new AttentionError(`${layer}: expected the Keras mask of the ${role} to be a tensor ${showShape(want)} (batch, length), but got ${describeValue(mask)}.`);
  }
  const s = mask.shape as Shape;
  const fits = s.length === 2 && want.every((d, i) => d === null || s[i] === null || d === s[i]);
  if (fits && mask.dtype !== 'string' && mask.dtype !== 'complex64') return;
  throw new AttentionError(
    `${layer}: expected the Keras mask of the ${role} to be a bool or 0/1 tensor of shape ${showShape(want)} (batch, length), but got ${mask.dtype} ${showShape(s)}.` +
      (s.length === 3 && s[0] === 1 ? " (tfjs 4.22's Add and other merge layers give their output such a mask.)" : ''),
  );
}

/**
 * Checks the masks of the `mask` call option against the inputs they belong
 * to: a list gives one mask per input, a single tensor is the first input's.
 * Only the first `roles.length` inputs are checked, named by `roles`.
 */
export function checkKerasMasks(layer: string, inputs: ReadonlyArray<{ readonly shape: Shape } | undefined>, mask: unknown, roles: readonly string[]): void {
  if (mask === null || mask === undefined || roles.length === 0) return;
  const list: unknown[] = Array.isArray(mask) ? mask : [mask];
  roles.forEach((role, i) => checkKerasMask(layer, role, list[i], inputs[i]));
}
