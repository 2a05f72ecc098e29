/**
 * Pins tfjs 4.22's recurrent layers repeating the last real output at masked
 * steps, and checks the workaround
 * (src/tfjs_compat/rnn_masked_steps_repeat_output.ts): Keras outputs zeros
 * there (checked against Keras itself in keras_real.wasm.test.ts,
 * model_embedding_bilstm).
 */
import * as tf from '@tensorflow/tfjs';
import { kerasZeroesMaskedSteps, zeroMaskedRecurrentSteps } from '../../src/tfjs_compat/rnn_masked_steps_repeat_output';
import { matchKerasMaskFlow } from '../../src/tfjs_compat/executor_mask_flow';

function model(): tf.LayersModel {
  const ids = tf.input({ shape: [4], dtype: 'int32' });
  const e = tf.layers.embedding({ inputDim: 6, outputDim: 3, maskZero: true, embeddingsInitializer: tf.initializers.randomNormal({ seed: 3 }) }).apply(ids);
  const l = tf.layers.lstm({ units: 2, returnSequences: true, name: 'lstm', kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }).apply(e as tf.SymbolicTensor);
  return tf.model({ inputs: ids, outputs: l as tf.SymbolicTensor });
}

const ids = () => tf.tensor2d([[2, 5, 0, 0]], undefined, 'int32');

describe('tfjs behaviour: a masked recurrent layer returning sequences', () => {
  it('pin: repeats the last real step\'s output at masked steps', () => {
    const x = ids();
    const y = (model().predict(x) as tf.Tensor).arraySync() as number[][][];
    expect(y[0][2]).toEqual(y[0][1]);
    expect(y[0][3]).toEqual(y[0][1]);
    expect(Math.abs(y[0][1][0]) + Math.abs(y[0][1][1])).toBeGreaterThan(0);
    x.dispose();
  });
});

describe('kerasZeroesMaskedSteps', () => {
  it('is on for a Bidirectional returning sequences and for zero_output_for_mask, off for a plain LSTM (Keras\'s default)', () => {
    expect(kerasZeroesMaskedSteps('Bidirectional', { layer: { config: { return_sequences: true } } })).toBe(true);
    expect(kerasZeroesMaskedSteps('Bidirectional', { layer: { config: { return_sequences: false } } })).toBe(false);
    expect(kerasZeroesMaskedSteps('LSTM', { return_sequences: true, zero_output_for_mask: true })).toBe(true);
    expect(kerasZeroesMaskedSteps('LSTM', { return_sequences: true, zero_output_for_mask: false })).toBe(false);
  });
});

describe('zeroMaskedRecurrentSteps', () => {
  it('outputs zeros at masked steps and leaves real steps as they were, leaking nothing', () => {
    const plain = model();
    const fixed = model();
    fixed.setWeights(plain.getWeights());
    zeroMaskedRecurrentSteps(fixed, new Set(['lstm']));
    matchKerasMaskFlow(fixed, '3.16.0');
    const x = ids();
    const want = (plain.predict(x) as tf.Tensor).arraySync() as number[][][];
    const before = tf.memory().numTensors;
    const got = fixed.predict(x) as tf.Tensor;
    const y = got.arraySync() as number[][][];
    got.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(y[0].slice(0, 2)).toEqual(want[0].slice(0, 2));
    expect(y[0].slice(2)).toEqual([[0, 0], [0, 0]]);
    x.dispose();
  });
});
