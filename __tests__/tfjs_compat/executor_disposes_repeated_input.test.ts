/**
 * Pins tfjs 4.22's executor freeing a tensor that one layer receives twice,
 * and checks the workaround (src/tfjs_compat/executor_disposes_repeated_input.ts).
 * Expected values are computed here by hand: y = x + (x + x) = 3·x.
 */
import * as tf from '@tensorflow/tfjs';
import { aliasRepeatedInputs } from '../../src/tfjs_compat/executor_disposes_repeated_input';

/** input → linear activation (x, not a model input) → s = Add([x, x]) → y = Add([x, s]). */
function repeated(alias: boolean): tf.LayersModel {
  const inp = tf.input({ shape: [3] });
  const x = tf.layers.activation({ activation: 'linear' }).apply(inp) as tf.SymbolicTensor;
  let s = tf.layers.add().apply([x, x]) as tf.SymbolicTensor;
  if (alias) s = aliasRepeatedInputs(s);
  const y = tf.layers.add().apply([x, s]) as tf.SymbolicTensor;
  return tf.model({ inputs: inp, outputs: y });
}

describe('tfjs behaviour: the executor disposes a tensor one layer receives twice', () => {
  it('pin: predict fails with "disposed" (if this fails, tfjs fixed it: drop the workaround)', () => {
    const model = repeated(false);
    const x = tf.tensor2d([[1, 2, 3]]);
    expect(() => model.predict(x)).toThrow(/disposed/);
    x.dispose();
  });
});

describe('aliasRepeatedInputs', () => {
  it('makes predict and execute compute y = 3·x, leaving no tensors behind', () => {
    const model = repeated(true);
    const x = tf.tensor2d([[1, 2, 3], [-1, 0, 0.5]]);
    const before = tf.memory().numTensors;
    const p = model.predict(x) as tf.Tensor;
    expect(p).toBeAllClose([[3, 6, 9], [-3, 0, 1.5]], 1e-6);
    const e = model.execute(x, model.outputs[0].name) as tf.Tensor;
    expect(e).toBeAllClose([[3, 6, 9], [-3, 0, 1.5]], 1e-6);
    tf.dispose([p, e]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('leaves the model as built: no alias among its layers or in its config', () => {
    const model = repeated(true);
    expect(model.layers.map((l) => l.getClassName())).toEqual(['InputLayer', 'Activation', 'Add', 'Add']);
    expect(JSON.stringify(model.toJSON(null, false))).not.toMatch(/RepeatedInputAlias/);
  });

  it('changes nothing for concrete tensors or nodes without a repeated input', () => {
    const t = tf.tensor1d([1]);
    expect(aliasRepeatedInputs(t)).toBe(t);
    t.dispose();
    const a = tf.input({ shape: [2] });
    const b = tf.input({ shape: [2] });
    const s = tf.layers.add().apply([a, b]) as tf.SymbolicTensor;
    const inputs = s.inputs.slice();
    expect(aliasRepeatedInputs(s)).toBe(s);
    expect(s.inputs).toEqual(inputs);
  });
});
