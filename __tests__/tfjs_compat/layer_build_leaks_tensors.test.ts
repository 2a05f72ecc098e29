/**
 * Pins tfjs 4.22 leaking tensors when it builds an LSTM with unitForgetBias
 * (Keras's default), and checks the workaround
 * (src/tfjs_compat/layer_build_leaks_tensors.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { withoutBuildLeaks } from '../../src/tfjs_compat/layer_build_leaks_tensors';

function lstmModelJson(): unknown {
  const inp = tf.input({ shape: [5, 3] });
  const out = tf.layers.lstm({ units: 2, unitForgetBias: true }).apply(inp) as tf.SymbolicTensor;
  const m = tf.model({ inputs: inp, outputs: out });
  const json = m.toJSON(null, false);
  m.dispose();
  return json;
}

describe('tfjs behaviour: building an LSTM with unitForgetBias leaks tensors', () => {
  it('pin: tensors remain after the built model is disposed', async () => {
    const json = lstmModelJson();
    const before = tf.memory().numTensors;
    const model = await tf.models.modelFromJSON(json as never);
    model.dispose();
    expect(tf.memory().numTensors).toBeGreaterThan(before);
  });
});

describe('withoutBuildLeaks', () => {
  it('frees what the build leaves behind and keeps the weights usable', async () => {
    const json = lstmModelJson();
    const before = tf.memory().numTensors;
    const model = await withoutBuildLeaks(() => tf.models.modelFromJSON(json as never));
    expect(model.weights.map((w) => w.read().shape)).toEqual([[3, 8], [2, 8], [8]]);
    const bias = Array.from(model.weights[2].read().dataSync());
    expect(bias).toEqual([0, 0, 1, 1, 0, 0, 0, 0]);   // unitForgetBias: ones for the forget gate
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('ends its scope when the build throws', () => {
    const before = tf.memory().numTensors;
    expect(() => withoutBuildLeaks(() => {
      tf.ones([2]);
      throw new Error('build failed');
    })).toThrow(/build failed/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
