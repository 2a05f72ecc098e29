/**
 * Misspelled or foreign-spelled options of the attention functions
 * (`causel`, PyTorch's `is_causal`, `return_weights`) were silently ignored:
 * `scaledDotProductAttention(q, k, v, { is_causal: true })` returned
 * non-causal attention. They are refused by name, with the likely option.
 */
import * as tf from '@tensorflow/tfjs';
import { additiveAttention, attentionWeights, scaledDotProductAttention } from '../../src';
import { AttentionError } from '../../src/errors';

function refuses(f: () => unknown, message: RegExp): void {
  const before = tf.memory().numTensors;
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(AttentionError);
  expect((err as Error).message).toMatch(message);
  expect(tf.memory().numTensors).toBe(before);
}

const q = [[[1, 0], [0, 1], [1, 1]]]; // [1, 3, 2]

describe('unknown options of the attention functions', () => {
  it('scaledDotProductAttention names the unknown option and suggests the right one', () => {
    refuses(
      () => scaledDotProductAttention(q, q, q, { is_causal: true } as never),
      /^scaledDotProductAttention: expected options among mask, causal, dropout, training, seed, emptyRows, window, scale, bias, implementation, memoryBudget, blockSize, chunkSize, returnWeights, but got the unknown option is_causal \(did you mean causal\?\)\.$/,
    );
    refuses(() => scaledDotProductAttention(q, q, q, { causel: true } as never), /unknown option causel \(did you mean causal\?\)\.$/);
    refuses(() => scaledDotProductAttention(q, q, q, { return_weights: true, windw: 1 } as never), /unknown options return_weights \(did you mean returnWeights\?\), windw \(did you mean window\?\)\.$/);
    refuses(() => scaledDotProductAttention(q, q, q, { attn_mask: null } as never), /unknown option attn_mask/);
  });

  it('attentionWeights and additiveAttention check theirs (returnWeights is not an option of attentionWeights)', () => {
    refuses(() => attentionWeights(q, q, { returnWeights: true } as never), /^attentionWeights: expected options among .*chunkSize, but got the unknown option returnWeights\.$/);
    refuses(() => additiveAttention(q, q, q, { implementation: 'naive' } as never), /^additiveAttention: expected options among mask, causal, dropout, training, seed, emptyRows, window, scale, returnWeights, but got the unknown option implementation\.$/);
    refuses(() => additiveAttention(q, q, q, { scael: 2 } as never), /scael \(did you mean scale\?\)/);
  });

  it('every valid option, and an undefined one, still runs; the causal option is applied', () => {
    const w = scaledDotProductAttention(q, q, q, {
      mask: null, causal: true, dropout: 0, training: false, seed: 1, emptyRows: 'zeros', window: undefined, scale: 1, bias: null,
      implementation: 'naive', memoryBudget: 1 << 20, blockSize: 2, chunkSize: 2, returnWeights: true, unknownButUndefined: undefined,
    } as never) as unknown as { output: tf.Tensor; weights: tf.Tensor };
    const weights = w.weights.arraySync() as number[][][];
    expect(weights[0][0]).toEqual([1, 0, 0]); // query 0 sees key 0 only
    expect(weights[0][1][2]).toBe(0);
    tf.dispose([w.output, w.weights]);
  });
});

describe("the layers' names given to the functions", () => {
  it('suggests the function’s name for the same concept', () => {
    refuses(() => scaledDotProductAttention(q, q, q, { useCausalMask: true } as never), /unknown option useCausalMask \(did you mean causal\?\)\.$/);
    refuses(() => scaledDotProductAttention(q, q, q, { returnAttentionScores: true } as never), /unknown option returnAttentionScores \(did you mean returnWeights\?\)\.$/);
    refuses(() => scaledDotProductAttention(q, q, q, { attentionMask: null } as never), /unknown option attentionMask \(did you mean mask\?\)\.$/);
  });
});
