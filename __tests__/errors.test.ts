/**
 * One voice: every refusal of the public API is an AttentionError, whatever
 * module raises it (these calls raised plain Errors before the library's
 * error class reached every module).
 */
import * as tf from '@tensorflow/tfjs';
import {
  AttentionError, additiveAttention, alibiSlopes, attention, causalMask, combineMasks, heatmapSvg, layers, model,
  paddingMask, relativePositionBucket, scaledDotProductAttention,
} from '../src';

const cases: Array<[string, () => unknown, RegExp]> = [
  ['model with the article\'s own shapes', () => model([tf.zeros([1, 10, 20]), tf.zeros([1, 20, 10]), tf.zeros([1, 20, 20])]), /^model: Q·Kᵀ needs/],
  ['attention with mismatched depths', () => attention(tf.zeros([1, 2, 3]), tf.zeros([1, 2, 4]), tf.zeros([1, 2, 4])), /^attention: /],
  ['scaledDotProductAttention with mismatched depths', () => scaledDotProductAttention([[1, 2]], [[1, 2, 3]], [[1]]), /^scaledDotProductAttention: expected query and key to have the same last dimension/],
  ['additiveAttention with a bad scale', () => additiveAttention([[1, 2]], [[1, 2]], [[1]], { scale: [1, 2, 3] }), /^additiveAttention: /],
  ['causalMask with a negative length', () => causalMask(-1), /^causalMask: /],
  ['paddingMask with a length beyond S', () => paddingMask([5], 3), /^paddingMask: /],
  ['combineMasks with masks that do not broadcast', () => combineMasks([[true, false]], [[true, false, true]]), /^combineMasks: /],
  ['alibiSlopes(0)', () => alibiSlopes(0), /^alibiSlopes: /],
  ['relativePositionBucket(NaN)', () => relativePositionBucket(NaN, true, 32, 128), /^relativePositionBucket: /],
  ['heatmapSvg with a NaN weight', () => heatmapSvg([[NaN]]), /^heatmapSvg: /],
  ['selfAttention with numHeads 0', () => layers.selfAttention({ numHeads: 0, keyDim: 4 }), /^SelfAttention: /],
  ['positionalAttention with an unknown position', () => layers.positionalAttention({ numHeads: 2, keyDim: 4, position: 'sideways' as 'rotary' }), /^PositionalAttention: /],
  ['multiHeadAttention with keyDim 0', () => layers.multiHeadAttention({ numHeads: 2, keyDim: 0 }), /^MultiHeadAttention: /],
  ['transformerEncoder with intermediateDim 0', () => layers.transformerEncoder({ numHeads: 2, intermediateDim: 0 }), /^TransformerEncoder: /],
  ['tokenAndPositionEmbedding with a sequence longer than its table', () => layers.tokenAndPositionEmbedding({ vocabularySize: 10, sequenceLength: 2, embeddingDim: 4 }).apply(tf.zeros([1, 3], 'int32')), /^TokenAndPositionEmbedding: /],
];

describe('AttentionError', () => {
  it.each(cases)('%s is refused with an AttentionError in the function\'s or layer\'s name, leaving no tensors', (_name, call, message) => {
    const before = tf.memory().numTensors;
    let err: unknown;
    tf.tidy(() => {
      try {
        call();
      } catch (e) {
        err = e;
      }
    });
    expect(err).toBeInstanceOf(AttentionError);
    expect((err as Error).message).toMatch(message);
    expect(tf.memory().numTensors).toBe(before);
  });
});
