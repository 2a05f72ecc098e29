/**
 * Attention masks. Every mask here is a `bool` tensor in which `true` means
 * "this query position may attend to this key position". Shape legend:
 * B batch, T query length, S key length.
 */
import { AttentionError } from '../errors';
import * as tf from '@tensorflow/tfjs';
import { checkTableSize, fmt, inspect, TensorInput, toBoolMask } from './checks';

function checkLength(fn: string, name: string, v: unknown): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new AttentionError(`${fn}: expected \`${name}\` to be a positive integer, but got ${String(v)}.`);
  }
}

/**
 * The causal (lower-triangular) mask: query `i` may attend to key `j` iff
 * `j <= i + offset`.
 *
 * With the default `offset = 0` the mask is aligned to the top-left corner, as
 * Keras's `use_causal_mask` and PyTorch's `is_causal` are: when T ≠ S, query
 * `i` sees keys `0..i`. For decoding with a cache, where the T queries are the
 * last T of S positions, pass `offset = S - T` (bottom-right alignment).
 *
 * @param queryLength T, a positive integer.
 * @param keyLength S, a positive integer. Default: T.
 * @param offset Shifts the diagonal right (positive) or left. Default 0.
 * @returns bool `[T, S]`.
 * @throws Error if a length is not a positive integer or offset not an integer.
 *
 * @example
 * ```ts
 * causalMask(3).print();   // [[true,false,false],[true,true,false],[true,true,true]]
 * ```
 */
export function causalMask(queryLength: number, keyLength: number = queryLength, offset = 0): tf.Tensor2D {
  checkLength('causalMask', 'queryLength', queryLength);
  checkLength('causalMask', 'keyLength', keyLength);
  if (!Number.isInteger(offset)) {
    throw new AttentionError(`causalMask: expected \`offset\` to be an integer, but got ${String(offset)}.`);
  }
  checkTableSize('causalMask', 'a [queryLength, keyLength] mask', [queryLength, keyLength], "For long sequences pass `causal: true` to scaledDotProductAttention, which never builds the whole mask.");
  return bandMask(queryLength, keyLength, Infinity, offset);
}

/**
 * A band mask: query `i` may attend to key `j` iff
 * `i + offset - left <= j <= i + offset + right`. The building block of causal
 * and sliding-window (local) masks.
 *
 * @param queryLength T.
 * @param keyLength S.
 * @param left How many keys before the diagonal are visible (Infinity = all).
 * @param offset Shift of the diagonal, as in `causalMask`. Default 0.
 * @param right How many keys after the diagonal are visible. Default 0.
 * @returns bool `[T, S]`.
 */
export function bandMask(
  queryLength: number,
  keyLength: number,
  left: number,
  offset = 0,
  right = 0,
): tf.Tensor2D {
  const data = new Uint8Array(queryLength * keyLength);
  for (let i = 0; i < queryLength; i++) {
    const lo = Math.max(0, i + offset - left);
    const hi = Math.min(keyLength - 1, i + offset + right);
    for (let j = lo; j <= hi; j++) data[i * keyLength + j] = 1;
  }
  return tf.tensor2d(data, [queryLength, keyLength], 'bool');
}

/**
 * The padding mask of a batch of sequences of the given lengths: key `j` of
 * example `b` may be attended to iff `j < lengths[b]`.
 *
 * The result has a unit query axis so that it broadcasts against scores
 * `[B, T, S]`; for multi-head scores `[B, N, T, S]`, `expandDims(1)` it.
 *
 * @param lengths The valid length of each example, `[B]`, integers in `[0, S]`.
 * @param keyLength S, a positive integer.
 * @returns bool `[B, 1, S]`.
 * @throws Error if a length is negative, fractional or greater than S.
 *
 * @example
 * ```ts
 * paddingMask([2, 3], 4).shape;  // [2, 1, 4]
 * ```
 */
export function paddingMask(lengths: readonly number[] | Int32Array | tf.Tensor1D, keyLength: number): tf.Tensor3D {
  checkLength('paddingMask', 'keyLength', keyLength);
  let values: ArrayLike<number>;
  if (lengths instanceof tf.Tensor) {
    if (lengths.rank !== 1) {
      throw new AttentionError(`paddingMask: expected \`lengths\` to have rank 1, but got shape ${fmt(lengths.shape)}.`);
    }
    values = lengths.dataSync();
  } else if (Array.isArray(lengths) || lengths instanceof Int32Array) {
    values = lengths;
  } else {
    throw new AttentionError(`paddingMask: expected \`lengths\` to be an array of integers, but got ${typeof lengths}.`);
  }
  checkTableSize('paddingMask', 'a [B, 1, keyLength] mask', [values.length, keyLength]);
  for (let b = 0; b < values.length; b++) {
    const n = values[b];
    if (!Number.isInteger(n) || n < 0 || n > keyLength) {
      throw new AttentionError(
        `paddingMask: expected every length to be an integer in [0, ${keyLength}], but got lengths[${b}]=${n}.`,
      );
    }
  }
  const data = new Uint8Array(values.length * keyLength);
  for (let b = 0; b < values.length; b++) {
    data.fill(1, b * keyLength, b * keyLength + values[b]);
  }
  return tf.tensor3d(data, [values.length, 1, keyLength], 'bool');
}

/**
 * The logical AND of several masks, broadcast together. `null` and
 * `undefined` entries are skipped, so optional masks can be passed directly.
 *
 * @param masks bool or 0/1 numeric tensors (or nested arrays) whose shapes
 *   broadcast together.
 * @returns A bool tensor of the broadcast shape, or `null` if every entry was
 *   empty.
 * @throws Error if the shapes do not broadcast together.
 *
 * @example
 * ```ts
 * combineMasks(causalMask(4), paddingMask([2, 4], 4)).shape;  // [2, 4, 4]
 * ```
 */
export function combineMasks(...masks: Array<TensorInput | null | undefined>): tf.Tensor | null {
  const present = masks.filter((m): m is TensorInput => m !== null && m !== undefined);
  if (present.length === 0) {
    return null;
  }
  const shapes = present.map((m, i) => {
    const info = inspect('combineMasks', `masks[${i}]`, m);
    if (info.dtype === 'string' || info.dtype === 'complex64') {
      throw new AttentionError(`combineMasks: expected bool or 0/1 numeric masks, but got masks[${i}] of dtype ${info.dtype}.`);
    }
    return info.shape;
  });
  broadcastShapes('combineMasks', shapes);
  return tf.tidy(() => {
    let out = toBoolMask(present[0]);
    for (let i = 1; i < present.length; i++) {
      out = tf.logicalAnd(out, toBoolMask(present[i]));
    }
    // A single bool tensor input is returned as a new tensor so the caller
    // owns the result in every case.
    return present.length === 1 && out === present[0] ? out.clone() : out;
  });
}

/** The numpy broadcast of several shapes; throws naming them if they do not broadcast. */
export function broadcastShapes(fn: string, shapes: readonly (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = new Array(rank).fill(1);
  for (const s of shapes) {
    const off = rank - s.length;
    for (let i = 0; i < s.length; i++) {
      const d = s[i];
      if (d === 1) continue;
      if (out[off + i] === 1) out[off + i] = d;
      else if (out[off + i] !== d) {
        throw new AttentionError(`${fn}: expected shapes that broadcast together, but got ${shapes.map(fmt).join(', ')}.`);
      }
    }
  }
  return out;
}

/**
 * Which keys each query sees under a padding/attention mask, `causal` and
 * `window` together: the one place these three are combined.
 *
 * @param mask bool (or 0/1) broadcastable to `[..., T, S]`, or null.
 * @param causal Query `i` sees keys `0..i` (top-left aligned).
 * @param window Query `i` sees keys with `|i - j| <= window` (`i - window <= j <= i` with causal).
 * @returns bool broadcastable to `[..., T, S]`, or null when every key is visible.
 *   Call inside `tf.tidy`.
 */
export function visibilityMask(
  mask: TensorInput | null | undefined,
  causal: boolean,
  window: number | undefined,
  T: number,
  S: number,
): tf.Tensor | null {
  let out = mask === undefined || mask === null ? null : toBoolMask(mask);
  if (causal || window !== undefined) {
    const band = bandMask(T, S, window ?? Infinity, 0, causal ? 0 : (window ?? Infinity));
    out = out === null ? band : tf.logicalAnd(out, band);
  }
  return out;
}
