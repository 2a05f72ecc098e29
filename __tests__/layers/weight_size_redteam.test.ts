/**
 * Red-team variation on issue 11 (extremely large sizes fail fast): a layer
 * whose weights would exceed 2^28 elements is refused with an AttentionError
 * before any initializer runs (before: a RangeError from tfjs's typed arrays,
 * or minutes in the initializer and an out-of-memory crash).
 */
import * as tf from '@tensorflow/tfjs';
import { AttentionError, layers } from '../../src';

describe('weights beyond 2^28 elements', () => {
  it('MultiHeadAttention, GroupedQueryAttention and SelfAttention refuse them by weight name', () => {
    const x = tf.ones([1, 2, 4]);
    const before = tf.memory().numTensors;
    expect(() => layers.multiHeadAttention({ numHeads: 2 ** 31, keyDim: 2 }).apply([x, x]))
      .toThrow(/^MultiHeadAttention: expected weight 'query\/kernel' of at most 268435456 elements, but got 4·2147483648·2 = 17179869184\. Check the layer's size arguments\.$/);
    expect(() => layers.groupedQueryAttention({ headDim: 2 ** 31, numQueryHeads: 2, numKeyValueHeads: 1 }).apply([x, x]))
      .toThrow(AttentionError);
    expect(() => layers.selfAttention({ numHeads: 2, keyDim: 2 ** 31 }).apply(x)).toThrow(/^SelfAttention: expected weight 'query\/kernel'/);
    expect(() => layers.positionEmbedding({ sequenceLength: 2 ** 31 }).apply(x))
      .toThrow(/^PositionEmbedding: expected weight 'embeddings' of at most 268435456 elements, but got 2147483648·4/);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('the Transformer blocks refuse a huge intermediateDim before making any weight', () => {
    const x = tf.ones([1, 2, 4]);
    const before = tf.memory().numTensors;
    expect(() => layers.transformerEncoder({ intermediateDim: 2 ** 31, numHeads: 2 }).apply(x))
      .toThrow(/^TransformerEncoder: expected weight 'feedforward_intermediate_dense\/kernel' of at most 268435456 elements, but got 4·2147483648 = 8589934592\. Check 'intermediateDim'\.$/);
    expect(() => layers.transformerDecoder({ intermediateDim: 2 ** 31, numHeads: 2 }).apply(x)).toThrow(AttentionError);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});

describe('MultiHeadAttention attentionMask that is not a tensor', () => {
  it('a nested array is an AttentionError, not a TypeError from reading its shape', () => {
    const x = tf.ones([1, 2, 4]);
    const mha = layers.multiHeadAttention({ numHeads: 1, keyDim: 2 });
    const before = tf.memory().numTensors;
    expect(() => mha.apply([x, x], { attentionMask: [[[1, 1], [1, 1]]] as never }))
      .toThrow(/^MultiHeadAttention: expected attentionMask to be a tf\.Tensor \[B, T, S\], but got an array\.$/);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});

describe('TokenAndPositionEmbedding of a huge vocabulary', () => {
  it('is refused by name before any weight is made (was a RangeError: Invalid typed array length)', () => {
    const ids = tf.tensor2d([[1, 2]], undefined, 'int32');
    const before = tf.memory().numTensors;
    expect(() => layers.tokenAndPositionEmbedding({ vocabularySize: 2 ** 31, sequenceLength: 2, embeddingDim: 4 }).apply(ids))
      .toThrow(/^TokenAndPositionEmbedding: expected weight 'token_embedding\/embeddings' of at most 268435456 elements, but got 2147483648·4 = 8589934592\. Check 'vocabularySize' and 'embeddingDim'\.$/);
    expect(() => layers.tokenAndPositionEmbedding({ vocabularySize: 10, sequenceLength: 2 ** 30, embeddingDim: 4 }).apply(ids))
      .toThrow(/^TokenAndPositionEmbedding: expected weight 'position_embedding\/embeddings'/);
    expect(tf.memory().numTensors).toBe(before);
    ids.dispose();
  });
});
