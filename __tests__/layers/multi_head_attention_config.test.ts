/**
 * Saved configs stay clean (issue 9, item 9): tfjs's deserializer writes
 * `customObjects` into the config objects it is given; no layer may pass
 * that on, and a config round trip gives the same JSON whatever ran before.
 */
import * as tf from '@tensorflow/tfjs';
import { GroupedQueryAttention, MultiHeadAttention } from '../../src';
import { TransformerDecoder } from '../../src/layers/transformer_decoder';
import { TransformerEncoder } from '../../src/layers/transformer_encoder';

const initializers = {
  kernelInitializer: { className: 'GlorotUniform', config: { seed: null } },
  biasInitializer: { className: 'RandomNormal', config: { mean: 0, stddev: 0.05, seed: null } },
};

const makers: Array<[string, () => tf.layers.Layer]> = [
  ['MultiHeadAttention', () => new MultiHeadAttention({ numHeads: 2, keyDim: 3, name: 'mha', kernelRegularizer: { className: 'L1L2', config: { l1: 0.01, l2: 0 } }, ...initializers } as never)],
  ['GroupedQueryAttention', () => new GroupedQueryAttention({ headDim: 3, numQueryHeads: 2, numKeyValueHeads: 1, name: 'gqa', ...initializers } as never)],
  ['TransformerEncoder', () => new TransformerEncoder({ intermediateDim: 8, numHeads: 2, name: 'enc', ...initializers } as never)],
  ['TransformerDecoder', () => new TransformerDecoder({ intermediateDim: 8, numHeads: 2, name: 'dec', ...initializers } as never)],
];

/** A model with every layer above (and a tfjs Dense), as JSON. */
function modelJson(): string {
  const x = tf.input({ shape: [4, 6] });
  const a = makers[0][1]().apply([x, x]) as tf.SymbolicTensor;
  const b = makers[1][1]().apply([a, x]) as tf.SymbolicTensor;
  const c = makers[2][1]().apply(b) as tf.SymbolicTensor;
  const d = makers[3][1]().apply([c, x]) as tf.SymbolicTensor;
  const y = tf.layers.dense({ units: 2, kernelInitializer: 'heNormal' }).apply(d) as tf.SymbolicTensor;
  const m = tf.model({ inputs: x, outputs: y });
  const json = JSON.stringify(m.toJSON(undefined, false));
  m.dispose();
  return json;
}

describe('saved configs stay clean', () => {
  it.each(makers)('%s: building from a config leaves that config as it was', (_name, make) => {
    const layer = make();
    const config = JSON.parse(JSON.stringify(layer.getConfig())) as tf.serialization.ConfigDict;
    const before = JSON.stringify(config);
    const cls = layer.constructor as unknown as { fromConfig: (c: unknown, cfg: tf.serialization.ConfigDict) => tf.layers.Layer };
    const copy = cls.fromConfig(layer.constructor, config);
    expect(JSON.stringify(config)).toBe(before);
    expect(JSON.stringify(copy.getConfig())).toBe(before);
  });

  it('a config round trip gives the same JSON before and after tfjs has deserialized a model, with no customObjects anywhere', async () => {
    const fresh = makers.map(([, make]) => JSON.stringify(make().getConfig()));
    const json = modelJson();
    expect(json).not.toMatch(/customObjects/);
    const loaded = await tf.models.modelFromJSON(JSON.parse(json) as never);
    const again = JSON.stringify(loaded.toJSON(undefined, false));
    expect(again).not.toMatch(/customObjects/);
    expect(again).toBe(json);
    // Fresh layers made after the deserialization: the same configs as before it.
    expect(makers.map(([, make]) => JSON.stringify(make().getConfig()))).toEqual(fresh);
    // And a second load of the same JSON is still the same.
    const twice = await tf.models.modelFromJSON(JSON.parse(again) as never);
    expect(JSON.stringify(twice.toJSON(undefined, false))).toBe(json);
    loaded.dispose();
    twice.dispose();
  });
});

describe('MultiHeadAttention Keras masks of the wrong shape', () => {
  it('are refused by name before anything is computed, with a hint for the mask tfjs 4.22\'s Add gives', () => {
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 2 });
    const x = tf.ones([3, 4, 6]);
    tf.dispose(layer.apply([x, x]) as tf.Tensor); // builds the weights
    const before = tf.memory().numTensors;
    const addStyle = tf.ones([1, 3, 4], 'bool');
    expect(() => layer.apply([x, x], { mask: [addStyle, null] })).toThrow(
      /^MultiHeadAttention: expected the Keras mask of the query to be a bool or 0\/1 tensor of shape \[3,4\] \(batch, length\), but got bool \[1,3,4\]\. \(tfjs 4\.22's Add and other merge layers give their output such a mask\.\)/,
    );
    const wrongLength = tf.ones([3, 5], 'bool');
    expect(() => layer.apply([x, x], { mask: [null, wrongLength] })).toThrow(/^MultiHeadAttention: expected the Keras mask of the value to be a bool or 0\/1 tensor of shape \[3,4\] \(batch, length\), but got bool \[3,5\]\.$/);
    expect(tf.memory().numTensors).toBe(before + 2);
  });

  it('pins tfjs 4.22: Add gives its output a [1, B, T] mask (Keras: [B, T], the OR of its inputs\' masks)', () => {
    const add = tf.layers.add();
    const a = tf.ones([3, 4, 2]);
    const m = add.computeMask([a, a], [tf.ones([3, 4], 'bool'), tf.ones([3, 4], 'bool')]) as tf.Tensor;
    expect(m.shape).toEqual([1, 3, 4]);
  });
});
