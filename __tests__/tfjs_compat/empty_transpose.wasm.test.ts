/**
 * Pins tfjs 4.22's wasm Transpose failure on a tensor with no elements, and
 * checks the workaround in src/tfjs_compat/empty_transpose.ts on both
 * backends (this file runs in the cpu and the wasm jest projects).
 */
import * as tf from '@tensorflow/tfjs';
import { transpose } from '../../src/tfjs_compat/empty_transpose';

describe('transpose of a tensor with no elements', () => {
  it('tf.transpose fails on wasm (pin: remove the workaround when this fails)', () => {
    const x = tf.zeros([0, 3, 2, 4]);
    if (tf.getBackend() === 'wasm') {
      expect(() => tf.transpose(x, [0, 2, 1, 3])).toThrow(/divide by zero/);
    } else {
      expect(tf.transpose(x, [0, 2, 1, 3]).shape).toEqual([0, 2, 3, 4]);
    }
    x.dispose();
  });

  it('the workaround gives the permuted shape, and the usual transpose otherwise', () => {
    const e = transpose(tf.zeros([0, 3, 2, 4]), [0, 2, 1, 3]);
    expect(e.shape).toEqual([0, 2, 3, 4]);
    const x = tf.tensor([[1, 2, 3], [4, 5, 6]]);
    expect(transpose(x, [1, 0]).arraySync()).toEqual([[1, 4], [2, 5], [3, 6]]);
    tf.dispose([e, x]);
  });
});
