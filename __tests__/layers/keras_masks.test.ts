/**
 * checkKerasMask / checkKerasMasks (src/layers/base/keras_masks.ts): the one
 * check of the `mask` call option, run by every layer that reads masks
 * before it builds.
 */
import * as tf from '@tensorflow/tfjs';
import { layers } from '../../src';
import { checkKerasMask, checkKerasMasks } from '../../src/layers/base/keras_masks';
import { refuses } from '../refuses';

describe('checkKerasMask', () => {
  const query = { shape: [2, 3, 4] };

  it('accepts an absent mask, a bool or 0/1 [B, T] mask, and unknown (null) dimensions', () => {
    const ok = tf.ones([2, 3], 'bool');
    const numeric = tf.ones([2, 3]);
    expect(() => checkKerasMask('L', 'query', null, query)).not.toThrow();
    expect(() => checkKerasMask('L', 'query', undefined, query)).not.toThrow();
    expect(() => checkKerasMask('L', 'query', ok, query)).not.toThrow();
    expect(() => checkKerasMask('L', 'query', numeric, query)).not.toThrow();
    expect(() => checkKerasMask('L', 'query', tf.input({ batchShape: [null, 3], dtype: 'bool' }), { shape: [null, 3, 4] })).not.toThrow();
    tf.dispose([ok, numeric]);
  });

  it('refuses a mask that is not a tensor, naming what came', () => {
    refuses(() => checkKerasMask('L', 'query', [[1, 1, 0], [1, 0, 0]], query),
      /^L: expected the Keras mask of the query to be a tensor \[2,3\] \(batch, length\), but got an array\.$/);
  });

  it('refuses a string mask and a mask of the wrong shape, with dtype and shape', () => {
    const text = tf.tensor([['a', 'b', 'c'], ['d', 'e', 'f']]);
    refuses(() => checkKerasMask('L', 'value', text, query), /^L: expected the Keras mask of the value to be a bool or 0\/1 tensor of shape \[2,3\] \(batch, length\), but got string \[2,3\]\.$/);
    const long = tf.ones([2, 4], 'bool');
    refuses(() => checkKerasMask('L', 'query', long, query), /^L: expected the Keras mask of the query to be a bool or 0\/1 tensor of shape \[2,3\] \(batch, length\), but got bool \[2,4\]\.$/);
    tf.dispose([text, long]);
  });

  it('leaves the rank of an input of rank below 2 to the layer (not checked here)', () => {
    const m = tf.ones([2, 9], 'bool');
    expect(() => checkKerasMask('L', 'query', m, { shape: [4] })).not.toThrow();
    m.dispose();
  });
});

describe('checkKerasMasks', () => {
  it('takes a single tensor as the first input\'s mask and a list as one per input, checking only the named roles', () => {
    const inputs = [{ shape: [2, 3, 4] }, { shape: [2, 5, 4] }];
    const q = tf.ones([2, 3], 'bool');
    const v = tf.ones([2, 5], 'bool');
    expect(() => checkKerasMasks('L', inputs, q, ['query', 'value'])).not.toThrow();
    refuses(() => checkKerasMasks('L', inputs, v, ['query', 'value']), /^L: expected the Keras mask of the query .* but got bool \[2,5\]\.$/);
    refuses(() => checkKerasMasks('L', inputs, [q, q], ['query', 'value']), /^L: expected the Keras mask of the value .* shape \[2,5\] .* but got bool \[2,3\]\.$/);
    expect(() => checkKerasMasks('L', inputs, [q, q], ['query'])).not.toThrow();
    expect(() => checkKerasMasks('L', inputs, [q, q], [])).not.toThrow();
    tf.dispose([q, v]);
  });

  it('is what a layer says for a nested-array mask, before it builds', () => {
    const x = tf.ones([2, 3, 4]);
    const layer = layers.selfAttention({ numHeads: 2, keyDim: 2 });
    refuses(() => layer.apply(x, { mask: [[1, 1, 0], [1, 0, 0]] } as never), /^SelfAttention: expected the Keras mask of the input to be a tensor \[2,3\] \(batch, length\), but got an array\.$/);
    expect(layer.built).toBe(false);
    x.dispose();
  });
});
