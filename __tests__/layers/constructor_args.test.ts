/**
 * Misspelled or Python-spelled constructor arguments of the library's layers
 * (`useCasualMask`, `num_heads`, `numHead`) were silently ignored in plain
 * JavaScript: the layer was built without them. They are refused by name,
 * with the argument the user most likely meant, while every key that tfjs's
 * own (de)serialization passes (name, trainable, dtype, batchInputShape,
 * customObjects, ...) and the keys Keras writes in its configs still load.
 */
import * as tf from '@tensorflow/tfjs';
import { layers, MultiHeadAttention, GroupQueryAttention } from '../../src';
import { refuses } from '../refuses';
import { TFJS_LAYER_ARGS } from '../../src/layers/base/layer_guards';


type Factory = (args: Record<string, unknown>) => tf.layers.Layer;
/** Valid arguments for every factory of `layers`, and an input to build it with. */
const VALID: Record<keyof typeof layers, { args: Record<string, unknown>; input: () => tf.Tensor | tf.Tensor[] }> = {
  selfAttention: { args: { numHeads: 2, keyDim: 2 }, input: () => tf.ones([1, 3, 4]) },
  contentAttention: { args: { score: 'general' }, input: () => [tf.ones([1, 3, 4]), tf.ones([1, 2, 4])] },
  positionalAttention: { args: { numHeads: 2, keyDim: 2, position: 'relative' }, input: () => tf.ones([1, 3, 4]) },
  multiHeadAttention: { args: { numHeads: 2, keyDim: 2, outputShape: 3 }, input: () => [tf.ones([1, 3, 4]), tf.ones([1, 2, 4])] },
  groupedQueryAttention: { args: { headDim: 2, numQueryHeads: 2, numKeyValueHeads: 1 }, input: () => [tf.ones([1, 3, 4]), tf.ones([1, 2, 4])] },
  attention: { args: { useScale: true, scoreMode: 'concat' }, input: () => [tf.ones([1, 3, 4]), tf.ones([1, 2, 4])] },
  additiveAttention: { args: { useScale: true }, input: () => [tf.ones([1, 3, 4]), tf.ones([1, 2, 4])] },
  sinePositionEncoding: { args: { maxWavelength: 100 }, input: () => tf.ones([1, 3, 4]) },
  positionEmbedding: { args: { sequenceLength: 5 }, input: () => tf.ones([1, 3, 4]) },
  rotaryEmbedding: { args: { maxWavelength: 100 }, input: () => tf.ones([1, 3, 4]) },
  transformerEncoder: { args: { intermediateDim: 4, numHeads: 2 }, input: () => tf.ones([1, 3, 4]) },
  transformerDecoder: { args: { intermediateDim: 4, numHeads: 2 }, input: () => [tf.ones([1, 3, 4]), tf.ones([1, 2, 4])] },
  tokenAndPositionEmbedding: { args: { vocabularySize: 5, sequenceLength: 4, embeddingDim: 4 }, input: () => tf.tensor2d([[1, 2, 3]], undefined, 'int32') },
};
const names = Object.keys(layers) as Array<keyof typeof layers>;

describe('unknown constructor arguments are refused by name', () => {
  it.each(names)('layers.%s: a misspelled argument is an AttentionError naming it', (name) => {
    const factory = layers[name] as unknown as Factory;
    refuses(() => factory({ ...VALID[name].args, nmae: 'x' }), /: expected arguments among .*, but got the unknown argument nmae \(did you mean name\?\)\.$/);
    refuses(() => factory({ ...VALID[name].args, fooBar: 1, bazQux: 2 }), /but got unknown arguments fooBar, bazQux\.$/);
  });

  it('suggests the right name for a typo, a Python spelling and a near miss', () => {
    refuses(
      () => new MultiHeadAttention({ numHeads: 2, keyDim: 4, useCasualMask: true } as never),
      /^MultiHeadAttention: expected arguments among numHeads, keyDim, .*useCausalMask \(and tf\.layers\.Layer's name, trainable, .*\), but got the unknown argument useCasualMask \(did you mean useCausalMask\?\)\.$/,
    );
    refuses(() => new MultiHeadAttention({ num_heads: 2, key_dim: 4 } as never), /unknown arguments num_heads \(did you mean numHeads\?\), key_dim \(did you mean keyDim\?\)\.$/);
    refuses(() => new MultiHeadAttention({ numHead: 2, keyDim: 4 } as never), /unknown argument numHead \(did you mean numHeads\?\)\.$/);
    refuses(() => layers.attention({ use_scale: true } as never), /^Attention: .*unknown argument use_scale \(did you mean useScale\?\)\.$/);
    refuses(() => layers.transformerEncoder({ intermediate_dim: 8, numHeads: 2 } as never), /^TransformerEncoder: .*intermediate_dim \(did you mean intermediateDim\?\)/);
    refuses(() => layers.tokenAndPositionEmbedding({ vocabularySize: 5, sequenceLength: 4, embeddingDim: 4, mask_zero: true } as never), /mask_zero \(did you mean maskZero\?\)/);
    refuses(() => layers.groupedQueryAttention({ headDim: 4, numQueryHeads: 2, numKeyValueHeads: 1, slidingWindw: 2 } as never), /^GroupedQueryAttention: .*slidingWindw \(did you mean slidingWindow\?\)/);
    refuses(() => new GroupQueryAttention({ headDim: 4, numQueryHeads: 2, numKeyValueHeads: 1, use_gate: true } as never), /^GroupQueryAttention: .*use_gate \(did you mean useGate\?\)/);
    refuses(() => layers.contentAttention({ scor: 'additive' } as never), /^ContentAttention: .*unknown argument scor \(did you mean score\?\)/);
    refuses(() => layers.selfAttention({ numHeads: 2, keyDim: 2, useCasualMask: true } as never), /^SelfAttention: .*useCasualMask \(did you mean useCausalMask\?\)/);
  });

  it('keeps the messages of the renamed and the MultiHeadAttention-only arguments', () => {
    refuses(() => layers.selfAttention({ numHeads: 2, keyDim: 2, causal: true } as never), /^SelfAttention: expected useCausalMask \(causal was renamed useCausalMask/);
    refuses(() => layers.groupedQueryAttention({ headDim: 2, numQueryHeads: 2, numKeyValueHeads: 1, numHeads: 2 } as never), /expected no numHeads/);
    refuses(() => layers.additiveAttention({ scoreMode: 'concat' } as never), /^AdditiveAttention: scoreMode is not an argument of AdditiveAttention/);
  });

  it('the Keras-only keys: build shapes load with any value; features the layer lacks only when unset (null)', () => {
    const m = new MultiHeadAttention({ numHeads: 2, keyDim: 2, queryShape: [null, 3, 4], valueShape: [null, 2, 4], keyShape: null, activityRegularizer: null } as never);
    expect(m.getConfig()).not.toHaveProperty('queryShape');
    refuses(() => new MultiHeadAttention({ numHeads: 2, keyDim: 2, activityRegularizer: { className: 'L2', config: { l2: 0.01 } } } as never), /^MultiHeadAttention: expected activityRegularizer to be null or absent \(this layer does not implement it; Keras configs write null\), but got activityRegularizer=\{"className":"L2"/);
    refuses(() => layers.transformerEncoder({ intermediateDim: 4, numHeads: 2, kernelRegularizer: 'l2' } as never), /^TransformerEncoder: expected kernelRegularizer to be null or absent.*but got kernelRegularizer="l2"\.$/);
    expect(() => layers.transformerDecoder({ intermediateDim: 4, numHeads: 2, decoderSequenceShape: [null, 6, 8], encoderSequenceShape: null, kernelRegularizer: null } as never)).not.toThrow();
    refuses(() => layers.attention({ queryShape: [null, 3, 4] } as never), /^Attention: .*unknown argument queryShape/);
  });

  it('ignores keys whose value is undefined, as tfjs does', () => {
    const m = new MultiHeadAttention({ numHeads: 2, keyDim: 3, useCasualMask: undefined } as never);
    expect(m.getConfig()['keyDim']).toBe(3);
  });

  it("accepts tfjs's own layer arguments", () => {
    const m = new MultiHeadAttention({ numHeads: 2, keyDim: 2, name: 'mha', trainable: false, dtype: 'float32', inputDType: 'float32', batchSize: 1, inputShape: [3, 4] } as never);
    expect([m.name, m.trainable, m.dtype]).toEqual(['mha', false, 'float32']);
    expect(TFJS_LAYER_ARGS).toEqual(expect.arrayContaining(['name', 'trainable', 'inputShape', 'batchInputShape', 'batchSize', 'dtype', 'inputDType', 'weights', 'customObjects']));
  });

  it("does not check a user's subclass, whose constructor may take arguments of its own", () => {
    class Mine extends MultiHeadAttention {
      static override className = 'MineForConstructorArgsTest';
      readonly extra: number;
      constructor(args: { extra: number; numHeads: number; keyDim: number }) {
        const { extra, ...rest } = args;
        super(rest);
        this.extra = extra;
      }
    }
    expect(new Mine({ extra: 3, numHeads: 2, keyDim: 2 }).extra).toBe(3);
  });
});

describe('what (de)serialization passes still loads', () => {
  afterEach(() => tf.disposeVariables());

  it.each(names)('layers.%s: fromConfig(getConfig()) after a call, and a model of it through JSON, load', (name) => {
    const { args, input } = VALID[name];
    const layer = (layers[name] as unknown as Factory)({ ...args, name: `l_${name}`, trainable: true, dtype: 'float32' });
    const x = input();
    layer.apply(x);
    const cls = layer.constructor as unknown as tf.serialization.SerializableConstructor<tf.layers.Layer> & {
      fromConfig: (c: typeof cls, cfg: tf.serialization.ConfigDict) => tf.layers.Layer;
    };
    const config = layer.getConfig();
    const again = cls.fromConfig(cls, config);
    expect(again.getConfig()).toEqual(config);
    // A model JSON goes through tfjs's deserializer (which adds customObjects to each layer's config).
    const xs = Array.isArray(x) ? x : [x];
    const inputs = xs.map((t) => tf.input({ shape: t.shape.slice(1), dtype: t.dtype }));
    const out = (layers[name] as unknown as Factory)({ ...args }).apply(inputs.length === 1 ? inputs[0] : inputs) as tf.SymbolicTensor;
    const model = tf.model({ inputs, outputs: out });
    const json = model.toJSON(undefined, false) as tf.serialization.ConfigDict;
    const reloaded = tf.models.modelFromJSON as unknown as (j: tf.serialization.ConfigDict) => Promise<tf.LayersModel>;
    return reloaded({ modelTopology: json }).then((m) => {
      expect(m.layers.map((l) => l.getClassName())).toEqual(model.layers.map((l) => l.getClassName()));
      tf.dispose(xs);
    });
  });
});

describe('wrong values of known arguments', () => {
  it('are AttentionErrors showing the value as written (a string quoted)', () => {
    refuses(() => new MultiHeadAttention({ numHeads: 2, keyDim: '4' } as never), /^MultiHeadAttention: expected keyDim to be a positive integer, but got keyDim="4"\.$/);
    refuses(() => new MultiHeadAttention({ keyDim: 4 } as never), /^MultiHeadAttention: expected numHeads to be a positive integer, but got numHeads=undefined\.$/);
    refuses(() => layers.attention({ dropout: '0.1' } as never), /^Attention: expected dropout to be a number in \[0, 1\), but got dropout="0\.1"\.$/);
    refuses(() => layers.attention({ useScale: 'true' } as never), /^Attention: expected useScale to be a boolean, but got useScale="true"\.$/);
    refuses(() => layers.attention({ scoreMode: 'dott' } as never), /^Attention: expected scoreMode to be one of 'dot', 'concat', but got scoreMode="dott"\.$/);
  });
});
