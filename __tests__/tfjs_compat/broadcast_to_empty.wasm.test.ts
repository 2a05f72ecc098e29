/**
 * Pins tfjs 4.22's `tf.broadcastTo` to a shape with a 0 (it gives size 1
 * there), and checks the workaround in src/tfjs_compat/broadcast_to_empty.ts
 * and the layers that use it, on both backends (this file runs in the cpu and
 * the wasm jest projects).
 */
import * as tf from '@tensorflow/tfjs';
import { broadcastTo } from '../../src/tfjs_compat/broadcast_to_empty';
import { layers } from '../../src';

describe('broadcastTo a shape with no elements', () => {
  it('tf.broadcastTo gives size 1 where 0 was asked (pin: remove the workaround when this fails)', () => {
    const x = tf.zeros([3, 4]);
    const y = tf.broadcastTo(x, [0, 3, 4]);
    expect(y.shape).toEqual([1, 3, 4]);
    tf.dispose([x, y]);
  });

  it('the workaround gives the asked shape, refuses what does not broadcast, and broadcasts as usual otherwise', () => {
    const x = tf.tensor([[1, 2]]);
    const e = broadcastTo(x, [0, 1, 2]);
    expect(e.shape).toEqual([0, 1, 2]);
    const before = tf.memory().numTensors;
    expect(() => broadcastTo(tf.zeros([5, 2]), [0, 2])).toThrow();
    expect(tf.memory().numTensors).toBe(before + 1); // the zeros([5, 2]) made for the call, nothing else
    const y = broadcastTo(x, [3, 2]);
    expect(y.arraySync()).toEqual([[1, 2], [1, 2], [1, 2]]);
    tf.dispose([x, e, y]);
  });

  it.each([
    ['PositionEmbedding', () => layers.positionEmbedding({ sequenceLength: 4 })],
    ['SinePositionEncoding', () => layers.sinePositionEncoding({})],
  ])('%s keeps a batch of 0', (_name, make) => {
    const x = tf.zeros([0, 3, 4]);
    const y = make().apply(x) as tf.Tensor;
    expect(y.shape).toEqual([0, 3, 4]);
    tf.dispose([x, y]);
  });
});

describe('attention layers refuse non-float inputs in their own name', () => {
  it.each([
    ['Attention', () => layers.attention({})],
    ['AdditiveAttention', () => layers.additiveAttention({})],
    ['MultiHeadAttention', () => layers.multiHeadAttention({ numHeads: 2, keyDim: 2 })],
  ])('%s: int32 query is an AttentionError and leaves nothing behind', (name, make) => {
    const q = tf.ones([1, 2, 4], 'int32');
    const v = tf.ones([1, 3, 4]);
    const layer = make();
    const before = tf.memory().numTensors;
    expect(() => layer.apply([q, v])).toThrow(new RegExp(`^${name}: expected query to be float32, but got int32 query \\[1,2,4\\]\\.$`));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([q, v]);
  });
});
