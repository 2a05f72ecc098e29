/**
 * Pins tfjs 4.22's GlobalAveragePooling1D ignoring masks, and tests the
 * library's mask-aware replacement (src/layers/pooling.ts) against a plain
 * float64 loop of Keras's definition, sum(where(mask, x, 0)) / sum(mask).
 */
import * as tf from '@tensorflow/tfjs';
import { MaskedGlobalAveragePooling1D } from '../../src/layers/pooling';
import { MASK_AWARE_REPLACEMENTS } from '../../src/tfjs_compat/global_pooling_ignores_mask';

const X = [
  [[1, 10], [3, 30], [100, -100]],
  [[2, 4], [6, 8], [-1, 1]],
];
const MASK = [[1, 1, 0], [1, 0, 0]];

/** Keras's masked mean over axis 1, in float64 loops. */
function reference(x: number[][][], mask: number[][] | null): number[][] {
  return x.map((row, b) => {
    const d = row[0].length;
    const out = new Array(d).fill(0);
    let n = 0;
    row.forEach((step, t) => {
      if (mask === null || mask[b][t]) {
        n += 1;
        step.forEach((v, j) => (out[j] += v));
      }
    });
    return out.map((v) => v / n);
  });
}

describe('tfjs behaviour: GlobalAveragePooling1D ignores the mask', () => {
  it('pin: the masked and the unmasked call give the plain mean', () => {
    const pool = tf.layers.globalAveragePooling1d();
    const x = tf.tensor3d(X);
    const m = tf.tensor2d(MASK).cast('bool');
    const y = pool.apply(x, { mask: m }) as tf.Tensor;
    expect(y).toBeAllClose(reference(X, null), 1e-5);
    tf.dispose([x, m, y]);
  });
});

describe('MaskedGlobalAveragePooling1D', () => {
  it('is what the Keras loader builds for Keras\'s GlobalAveragePooling1D', () => {
    expect(MASK_AWARE_REPLACEMENTS.GlobalAveragePooling1D).toBe(MaskedGlobalAveragePooling1D.className);
  });

  it('averages over the real steps, with the mask as an input or flowing in, and leaks nothing', () => {
    const pool = new MaskedGlobalAveragePooling1D();
    const x = tf.tensor3d(X);
    const m = tf.tensor2d(MASK);
    const flowing = m.cast('bool');
    const before = tf.memory().numTensors;
    const a = pool.apply([x, m]) as tf.Tensor;
    const b = pool.apply(x, { mask: flowing }) as tf.Tensor;
    expect(a).toBeAllClose(reference(X, MASK), 1e-5);
    expect(b).toBeAllClose(reference(X, MASK), 1e-5);
    const c = pool.apply(x) as tf.Tensor;
    expect(c).toBeAllClose(reference(X, null), 1e-5);
    tf.dispose([a, b, c]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, m, flowing]);
  });

  it('keeps the axis with keepdims, pools axis 2 with channelsFirst, and gives NaN for a row with no real step (as Keras)', () => {
    const x = tf.tensor3d(X);
    const m = tf.tensor2d([[1, 1, 0], [0, 0, 0]]);
    const k = new MaskedGlobalAveragePooling1D({ keepdims: true }).apply([x, m]) as tf.Tensor;
    expect(k.shape).toEqual([2, 1, 2]);
    const row0 = (k.arraySync() as number[][][])[0][0];
    expect(row0).toEqual([2, 20]);
    expect((k.arraySync() as number[][][])[1][0].every(Number.isNaN)).toBe(true);
    const xt = tf.transpose(x, [0, 2, 1]);
    const cf = new MaskedGlobalAveragePooling1D({ dataFormat: 'channelsFirst' }).apply([xt, tf.tensor2d(MASK)]) as tf.Tensor;
    expect(cf).toBeAllClose(reference(X, MASK), 1e-5);
    const snake = new MaskedGlobalAveragePooling1D({ dataFormat: 'channels_first' as never });
    expect(snake.getConfig().dataFormat).toBe('channelsFirst');
    tf.dispose([x, m, k, xt, cf]);
  });

  it('round-trips its config and gives the output shape it computes', () => {
    const pool = new MaskedGlobalAveragePooling1D({ keepdims: true, name: 'p' });
    const config = pool.getConfig();
    const again = new MaskedGlobalAveragePooling1D(config as never);
    expect(again.getConfig()).toEqual(config);
    expect(pool.computeOutputShape([null, 7, 4])).toEqual([null, 1, 4]);
    expect(new MaskedGlobalAveragePooling1D().computeOutputShape([[null, 7, 4], [null, 7]])).toEqual([null, 4]);
    expect(pool.computeMask()).toBeNull();
  });

  it.each([
    ['a bad dataFormat', () => new MaskedGlobalAveragePooling1D({ dataFormat: 'nchw' as never }), /expected dataFormat 'channelsLast' or 'channelsFirst', but got dataFormat="nchw"/],
    ['a non-boolean keepdims', () => new MaskedGlobalAveragePooling1D({ keepdims: 1 as never }), /expected keepdims to be a boolean, but got keepdims=1/],
    ['a rank-2 input shape', () => new MaskedGlobalAveragePooling1D().computeOutputShape([null, 4]), /expected an input of rank 3, but got shape \[,4\]/],
  ])('refuses %s', (_name, f, message) => {
    expect(f).toThrow(message);
  });

  it.each([
    ['three inputs', [[1, 2, 3], [1, 2], [1, 2]], /expected inputs x or \[x, mask\], but got 3 inputs/],
    ['a rank-2 x', [[2, 3]], /expected x of rank 3, but got shape \[2,3\]/],
    ['a mask of the wrong shape', [[1, 2, 3], [1, 3]], /expected a mask of shape \[1,2\], but got \[1,3\]/],
  ])('refuses %s before allocating anything', (_name, shapes, message) => {
    const pool = new MaskedGlobalAveragePooling1D();
    pool.build([1, 2, 3]);
    const inputs = (shapes as number[][]).map((sh) => tf.ones(sh));
    const before = tf.memory().numTensors;
    expect(() => pool.call(inputs.length === 1 ? inputs[0] : inputs, {})).toThrow(message as RegExp);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(inputs);
  });
});
