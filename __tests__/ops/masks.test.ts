import * as tf from '@tensorflow/tfjs';
import { causalMask, combineMasks, paddingMask } from '../../src';

/** Bool tensors read back as 0/1 (the cpu backend returns booleans, wasm numbers). */
const ints = (m: tf.Tensor): unknown => tf.tidy(() => m.cast('int32').arraySync());

describe('causalMask', () => {
  it.each([
    [3, 3, 0, [[1, 0, 0], [1, 1, 0], [1, 1, 1]]],
    [2, 4, 0, [[1, 0, 0, 0], [1, 1, 0, 0]]],
    [2, 4, 2, [[1, 1, 1, 0], [1, 1, 1, 1]]],
    [3, 2, 0, [[1, 0], [1, 1], [1, 1]]],
  ])('causalMask(%i, %i, %i) is the lower triangle j <= i + offset', (T, S, off, expected) => {
    const m = causalMask(T, S, off);
    expect(m.dtype).toBe('bool');
    expect(ints(m)).toEqual(expected);
    m.dispose();
  });

  it.each([
    [0, 3, 0, /causalMask: expected `queryLength` to be a positive integer, but got 0/],
    [2, 1.5, 0, /causalMask: expected `keyLength` to be a positive integer, but got 1.5/],
    [2, 2, 0.5, /causalMask: expected `offset` to be an integer, but got 0.5/],
  ])('rejects causalMask(%p, %p, %p)', (T, S, off, msg) => {
    const before = tf.memory().numTensors;
    expect(() => causalMask(T, S, off)).toThrow(msg);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('paddingMask', () => {
  it('marks the first lengths[b] keys of each example, with a unit query axis', () => {
    const m = paddingMask([2, 0, 4], 4);
    expect(m.shape).toEqual([3, 1, 4]);
    expect(ints(m)).toEqual([[[1, 1, 0, 0]], [[0, 0, 0, 0]], [[1, 1, 1, 1]]]);
    const fromTensor = tf.tensor1d([1], 'int32');
    const m2 = paddingMask(fromTensor, 2);
    expect(ints(m2)).toEqual([[[1, 0]]]);
    tf.dispose([m, m2, fromTensor]);
  });

  it.each([
    [[5], 4, /paddingMask: expected every length to be an integer in \[0, 4\], but got lengths\[0\]=5/],
    [[1, -1], 4, /but got lengths\[1\]=-1/],
    [[1.5], 4, /but got lengths\[0\]=1.5/],
    [[1], 0, /paddingMask: expected `keyLength` to be a positive integer, but got 0/],
    ['ab', 4, /paddingMask: expected `lengths` to be an array of integers, but got string/],
  ])('rejects lengths %j with S=%i', (lengths, S, msg) => {
    const before = tf.memory().numTensors;
    expect(() => paddingMask(lengths as number[], S)).toThrow(msg);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects a lengths tensor of rank 2', () => {
    const l = tf.tensor2d([[1]], [1, 1], 'int32');
    expect(() => paddingMask(l as unknown as tf.Tensor1D, 2)).toThrow(/expected `lengths` to have rank 1, but got shape \[1,1\]/);
    l.dispose();
  });
});

describe('combineMasks', () => {
  it('ANDs masks with broadcasting, skipping null and undefined', () => {
    const c = causalMask(3);
    const p = paddingMask([2, 3], 3);
    const m = combineMasks(c, null, p, undefined, [[1, 1, 0]])!;
    expect(m.shape).toEqual([2, 3, 3]);
    expect(ints(m)).toEqual([
      [[1, 0, 0], [1, 1, 0], [1, 1, 0]],
      [[1, 0, 0], [1, 1, 0], [1, 1, 0]],
    ]);
    tf.dispose([c, p, m]);
  });

  it('returns null for no masks, and a new tensor for a single one', () => {
    expect(combineMasks(null, undefined)).toBeNull();
    const c = causalMask(2);
    const m = combineMasks(c)!;
    expect(m).not.toBe(c);
    c.dispose();
    expect(ints(m)).toEqual([[1, 0], [1, 1]]);
    m.dispose();
  });

  it('converts numeric masks (nonzero = may attend) and does not leak', () => {
    const a = tf.tensor1d([0, 2, -1]);
    const before = tf.memory().numTensors;
    const m = combineMasks(a)!;
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(ints(m)).toEqual([0, 1, 1]);
    tf.dispose([a, m]);
  });

  it('rejects masks that do not broadcast, before allocating', () => {
    const a = tf.ones([2, 3], 'bool');
    const b = tf.ones([4], 'bool');
    const before = tf.memory().numTensors;
    expect(() => combineMasks(a, b)).toThrow(/combineMasks: expected shapes that broadcast together, but got \[2,3\], \[4\]/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, b]);
  });
});
