/**
 * The refusal sweep: for every layer class that src/index.ts exports (found
 * by enumeration, so a new layer fails the coverage test until it is added
 * to the table) and every kind of bad first call, the call is refused with an
 * AttentionError in the layer's name, leaves `tf.memory().numTensors` as it
 * was and the layer unbuilt, and a correct call afterwards gives the right
 * shape and the same weights as a fresh layer's. Then the same for symbolic
 * first calls (building a model), and for call options whose getter throws.
 *
 * Before the fix (src/layers/base/first_call.ts, keras_masks.ts): weights
 * built before the refusal stayed (MultiHeadAttention 8 tensors, the
 * Transformer blocks 16), the next correct call was refused as "built for
 * another width", and masks of the wrong shape were refused in
 * scaledDotProductAttention's name or by a raw tfjs broadcast error.
 */
import * as tf from '@tensorflow/tfjs';
import * as lib from '../../src';
import { AttentionError } from '../../src/errors';
import { encodeOperationCall } from '../../src/layers/keras_operation';

type LayerClass = abstract new (...args: never[]) => tf.layers.Layer;

/** Every layer class the package exports, by export name. */
const EXPORTED: Array<[string, LayerClass]> = Object.entries(lib)
  .filter(([, v]) => typeof v === 'function' && (v as { prototype?: unknown }).prototype instanceof tf.layers.Layer)
  .map(([k, v]) => [k, v as LayerClass]);

/** The kinds of bad first call. */
type Kind = 'wrong rank' | 'query and value of different widths' | 'int32 input' | 'Keras mask of the wrong shape' | 'unknown call option';
const KINDS: readonly Kind[] = ['wrong rank', 'query and value of different widths', 'int32 input', 'Keras mask of the wrong shape', 'unknown call option'];

/** A bad call: inputs and call options. */
type BadCall = { inputs: tf.Tensor[]; options?: Record<string, unknown> };

interface Spec {
  /** A fresh, unbuilt layer of the class. */
  make: () => tf.layers.Layer;
  /** The inputs of a correct first call (B = 2). */
  inputs: () => tf.Tensor[];
  /** The shape of the (first) output of that call. */
  output: number[];
  /**
   * For each kind: the bad call (default: made from the correct inputs by
   * `DEFAULT_BAD`), or why the kind is not bad for this layer.
   */
  kinds?: Partial<Record<Kind, ((good: tf.Tensor[]) => BadCall) | { notBad: string }>>;
}

const f32 = (shape: number[], seed = 1) => tf.randomNormal(shape, 0, 1, 'float32', seed);
const seq = () => [f32([2, 3, 4])];
const queryValue = () => [f32([2, 3, 4]), f32([2, 5, 4], 2)];

/** The bad call of each kind, made from the correct inputs. */
const DEFAULT_BAD: Record<Kind, (good: tf.Tensor[]) => BadCall> = {
  // The batch axis dropped: [2, 3, 4] → [3, 4].
  'wrong rank': (good) => ({ inputs: [f32(good[0].shape.slice(1)), ...good.slice(1)] }),
  'query and value of different widths': (good) => ({ inputs: [good[0], f32([...good[1].shape.slice(0, -1), good[1].shape[good[1].rank - 1] + 2])] }),
  'int32 input': (good) => ({ inputs: good.map((x) => tf.cast(x, 'int32')) }),
  // One [B, T] mask per input, all of the wrong batch and length.
  'Keras mask of the wrong shape': (good) => ({ inputs: good, options: { mask: good.map(() => tf.ones([1, 9], 'bool')) } }),
  'unknown call option': (good) => ({ inputs: good, options: { retrunAttentionScores: true } }),
};

const SINGLE_INPUT = { notBad: 'one input' };
const PASSES_MASKS = { notBad: 'passes masks through unread, as keras-hub\'s layer does' };
const SHAPE_ONLY = { notBad: 'reads only the input\'s shape' };

const SPECS: Record<string, Spec> = {
  SelfAttention: {
    make: () => new lib.SelfAttention({ numHeads: 2, keyDim: 2 }),
    inputs: seq,
    output: [2, 3, 4],
    kinds: { 'query and value of different widths': SINGLE_INPUT },
  },
  PositionalAttention: {
    make: () => new lib.PositionalAttention({ numHeads: 2, keyDim: 2, position: 'relative' }),
    inputs: seq,
    output: [2, 3, 4],
    kinds: { 'query and value of different widths': SINGLE_INPUT },
  },
  ContentAttention: {
    make: () => new lib.ContentAttention({ score: 'cosine' }),
    inputs: queryValue,
    output: [2, 3, 4],
  },
  MultiHeadAttention: {
    make: () => new lib.MultiHeadAttention({ numHeads: 2, keyDim: 2 }),
    inputs: queryValue,
    output: [2, 3, 4],
    kinds: { 'query and value of different widths': { notBad: 'query, value and key have their own projections (Keras too)' } },
  },
  GroupedQueryAttention: {
    make: () => new lib.GroupedQueryAttention({ numQueryHeads: 2, numKeyValueHeads: 1, headDim: 2 }),
    inputs: queryValue,
    output: [2, 3, 4],
    kinds: { 'query and value of different widths': { notBad: 'on concrete tensors query and value have their own projections (Keras too); symbolic calls refuse it, below' } },
  },
  GroupQueryAttention: {
    make: () => new lib.GroupQueryAttention({ numQueryHeads: 2, numKeyValueHeads: 1, headDim: 2 }),
    inputs: queryValue,
    output: [2, 3, 4],
    kinds: { 'query and value of different widths': { notBad: 'as GroupedQueryAttention' } },
  },
  Attention: {
    make: () => new lib.Attention({ useScale: true }),
    inputs: queryValue,
    output: [2, 3, 4],
  },
  AdditiveAttention: {
    make: () => new lib.AdditiveAttention(),
    inputs: queryValue,
    output: [2, 3, 4],
  },
  SinePositionEncoding: {
    make: () => new lib.SinePositionEncoding(),
    inputs: seq,
    output: [2, 3, 4],
    kinds: {
      'wrong rank': () => ({ inputs: [f32([4])] }),
      'query and value of different widths': SINGLE_INPUT,
      'int32 input': SHAPE_ONLY,
      'Keras mask of the wrong shape': PASSES_MASKS,
    },
  },
  PositionEmbedding: {
    make: () => new lib.PositionEmbedding({ sequenceLength: 8 }),
    inputs: seq,
    output: [2, 3, 4],
    kinds: {
      'wrong rank': () => ({ inputs: [f32([4])] }),
      'query and value of different widths': SINGLE_INPUT,
      'int32 input': SHAPE_ONLY,
      'Keras mask of the wrong shape': PASSES_MASKS,
    },
  },
  RotaryEmbedding: {
    make: () => new lib.RotaryEmbedding(),
    inputs: seq,
    output: [2, 3, 4],
    kinds: {
      'wrong rank': () => ({ inputs: [f32([4])] }),
      'query and value of different widths': SINGLE_INPUT,
      'int32 input': { notBad: 'rotates integers into float32, as keras-hub\'s layer does' },
      'Keras mask of the wrong shape': PASSES_MASKS,
    },
  },
  TransformerEncoder: {
    make: () => new lib.TransformerEncoder({ intermediateDim: 4, numHeads: 2 }),
    inputs: seq,
    output: [2, 3, 4],
    kinds: { 'query and value of different widths': SINGLE_INPUT },
  },
  TransformerDecoder: {
    make: () => new lib.TransformerDecoder({ intermediateDim: 4, numHeads: 2 }),
    inputs: () => [f32([2, 3, 4]), f32([2, 5, 4], 2)],
    output: [2, 3, 4],
    kinds: {
      'query and value of different widths': { notBad: 'the cross-attention projects the encoder sequence (keras-hub too)' },
    },
  },
  TokenAndPositionEmbedding: {
    make: () => new lib.TokenAndPositionEmbedding({ vocabularySize: 10, sequenceLength: 8, embeddingDim: 4 }),
    inputs: () => [tf.tensor2d([[1, 2, 3], [4, 5, 6]], undefined, 'int32')],
    output: [2, 3, 4],
    kinds: {
      'query and value of different widths': SINGLE_INPUT,
      'int32 input': { notBad: 'token ids are int32' },
      'Keras mask of the wrong shape': PASSES_MASKS,
    },
  },
  KerasOperation: {
    make: () => new lib.KerasOperation({ operation: 'NotEqual', call: encodeOperationCall({ args: [{ __input__: 0 }, 0], kwargs: {}, config: {} }) }),
    inputs: seq,
    output: [2, 3, 4],
    kinds: {
      'wrong rank': { notBad: 'keras.ops.not_equal takes any rank' },
      'query and value of different widths': SINGLE_INPUT,
      'int32 input': { notBad: 'keras.ops.not_equal takes any dtype' },
      'Keras mask of the wrong shape': { notBad: 'an operation node ignores masks (tfjs\'s executor passes them to every layer)' },
    },
  },
  MaskedGlobalAveragePooling1D: {
    make: () => new lib.MaskedGlobalAveragePooling1D(),
    inputs: seq,
    output: [2, 4],
    kinds: { 'query and value of different widths': SINGLE_INPUT },
  },
};

/** The (layer, kind, bad call) triples the table asks to be refused. */
const REFUSALS: Array<[string, Kind, (good: tf.Tensor[]) => BadCall]> = Object.entries(SPECS).flatMap(([name, spec]) =>
  KINDS.flatMap((kind): Array<[string, Kind, (good: tf.Tensor[]) => BadCall]> => {
    const given = spec.kinds?.[kind];
    if (given !== undefined && typeof given !== 'function') return [];
    return [[name, kind, given ?? DEFAULT_BAD[kind]]];
  }),
);

const outputsOf = (y: unknown): tf.Tensor[] => (Array.isArray(y) ? y : [y]) as tf.Tensor[];
const apply = (layer: tf.layers.Layer, inputs: tf.Tensor[], options?: Record<string, unknown>) =>
  layer.apply(inputs.length === 1 ? inputs[0] : inputs, options);

/** The weight shapes of a fresh layer after a correct first call. */
function freshWeights(spec: Spec, good: tf.Tensor[]): number[][] {
  const layer = spec.make();
  tf.dispose(outputsOf(apply(layer, good)));
  const shapes = layer.weights.map((w) => w.shape as number[]);
  layer.weights.forEach((w) => w.dispose());
  return shapes;
}

/** Runs `f`, expecting an AttentionError whose message starts with `name: `; returns it. */
function refusedAs(name: string, f: () => unknown): AttentionError {
  let err: unknown;
  try {
    tf.dispose(outputsOf(f()).filter((x) => x instanceof tf.Tensor));
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(AttentionError);
  expect((err as Error).message).toMatch(new RegExp(`^${name}: expected `));
  return err as AttentionError;
}

describe('the sweep covers the package', () => {
  it('has an entry for every layer class src/index.ts exports, and no other', () => {
    expect(EXPORTED.map(([k]) => k).sort()).toEqual(Object.keys(SPECS).sort());
    expect(EXPORTED.length).toBeGreaterThanOrEqual(16);
  });

  it('lists a bad call, or why there is none, for every kind and layer', () => {
    for (const spec of Object.values(SPECS)) {
      for (const kind of Object.keys(spec.kinds ?? {})) expect(KINDS).toContain(kind);
    }
    // Every kind is refused by some layer.
    expect(new Set(REFUSALS.map(([, kind]) => kind))).toEqual(new Set(KINDS));
  });
});

describe.each(REFUSALS)('%s: a first call with %s', (name, kind, badCall) => {
  it('is refused in the layer\'s name, leaves no tensor and the layer unbuilt; a correct call then works', () => {
    const spec = SPECS[name];
    const good = spec.inputs();
    const want = freshWeights(spec, good);
    const bad = badCall(good);
    const layer = spec.make();
    const before = tf.memory().numTensors;
    refusedAs(layer.getClassName(), () => apply(layer, bad.inputs, bad.options));
    expect(tf.memory().numTensors).toBe(before);
    expect(layer.built).toBe(false);
    expect(layer.weights).toEqual([]);

    const out = outputsOf(apply(layer, good));
    expect(out[0].shape).toEqual(spec.output);
    expect(layer.weights.map((w) => w.shape)).toEqual(want);
    // The weights and the outputs are all the call added.
    expect(tf.memory().numTensors).toBe(before + layer.weights.length + out.length);
    tf.dispose(out);
    layer.weights.forEach((w) => w.dispose());
    tf.dispose([...good, ...bad.inputs, ...outputsOf(bad.options?.['mask'] ?? [])]);
  });
});

/** The kinds a symbolic call (building a model) can show: shapes and dtypes. */
const SYMBOLIC = REFUSALS.filter(([, kind]) => kind === 'wrong rank' || kind === 'query and value of different widths' || kind === 'int32 input');
const symbolic = (x: tf.Tensor) => tf.input({ batchShape: [null, ...x.shape.slice(1)], dtype: x.dtype as 'float32' });

describe.each(SYMBOLIC)('%s: a symbolic first call with %s', (name, kind, badCall) => {
  it('is refused in the layer\'s name and leaves no tensor; a correct symbolic call then works', () => {
    const spec = SPECS[name];
    const good = spec.inputs();
    const bad = badCall(good);
    const layer = spec.make();
    const before = tf.memory().numTensors;
    refusedAs(layer.getClassName(), () => apply(layer, bad.inputs.map(symbolic) as never));
    expect(tf.memory().numTensors).toBe(before);
    expect(layer.built).toBe(false);
    const out = outputsOf(apply(layer, good.map(symbolic) as never));
    expect(out[0].shape).toEqual([null, ...spec.output.slice(1)]);
    layer.weights.forEach((w) => w.dispose());
    tf.dispose([...good, ...bad.inputs]);
  });
});

describe('GroupedQueryAttention: a symbolic first call with query and value of different widths', () => {
  it('is refused (Keras\'s compute_output_shape refuses it) after the build, and the weights it made are freed', () => {
    const gqa = new lib.GroupedQueryAttention({ numQueryHeads: 2, numKeyValueHeads: 1, headDim: 2 });
    const before = tf.memory().numTensors;
    refusedAs('GroupedQueryAttention', () => gqa.apply([tf.input({ shape: [3, 4] }), tf.input({ shape: [5, 6] })]));
    expect(tf.memory().numTensors).toBe(before);
    expect(gqa.built).toBe(false);
  });
});

/**
 * Call options whose getter throws: the user's own error is passed through
 * unchanged (it is not bad input the library could describe, and wrapping it
 * would hide the user's error class and stack), and nothing is left behind,
 * at whatever point of the call the getter is read.
 */
describe.each(Object.keys(SPECS))('%s: call options whose getter throws', (name) => {
  it('passes the user\'s error through unchanged and leaves no tensor, the layer unbuilt', () => {
    const spec = SPECS[name];
    const good = spec.inputs();
    const layer = spec.make();
    const userError = new TypeError('user getter failed');
    // A getter on every option the layer declares, so each is read wherever the layer reads it.
    const declared = (layer.constructor as unknown as { callSignature: { callOptions: readonly string[] } }).callSignature.callOptions;
    const options = {};
    for (const o of declared) Object.defineProperty(options, o, { enumerable: true, get: () => { throw userError; } });
    const before = tf.memory().numTensors;
    let err: unknown;
    try {
      tf.dispose(outputsOf(apply(layer, good, options)));
    } catch (e) {
      err = e;
    }
    expect(err).toBe(userError);
    expect(tf.memory().numTensors).toBe(before);
    expect(layer.built).toBe(false);
    const out = outputsOf(apply(layer, good));
    expect(out[0].shape).toEqual(spec.output);
    tf.dispose([...out, ...good]);
    layer.weights.forEach((w) => w.dispose());
  });
});

/** Refusals particular to one layer: mask inputs of the Transformer blocks, boolean call options. */
const PARTICULAR: Array<[string, () => tf.layers.Layer, () => BadCall, () => tf.Tensor[], RegExp]> = [
  ['TransformerEncoder: a paddingMask of the wrong length (was refused in scaledDotProductAttention\'s name)',
    SPECS.TransformerEncoder.make, () => ({ inputs: [f32([2, 3, 4]), tf.ones([2, 9])] }), seq,
    /^TransformerEncoder: expected paddingMask of shape \[B, T\] = \[2,3\], but got paddingMask \[2,9\]\.$/],
  ['TransformerEncoder: an attentionMask of the wrong shape (was a raw tfjs broadcast error)',
    SPECS.TransformerEncoder.make, () => ({ inputs: [f32([2, 3, 4]), tf.ones([2, 3]), tf.ones([2, 9, 9])] }), seq,
    /^TransformerEncoder: expected attentionMask of shape \[B, T, T\] = \[2,3,3\] \(or broadcastable to it\), but got attentionMask \[2,9,9\]\.$/],
  ['TransformerDecoder: a decoderPaddingMask of the wrong length',
    SPECS.TransformerDecoder.make, () => ({ inputs: [f32([2, 3, 4]), f32([2, 5, 4]), tf.ones([2, 9])] }), SPECS.TransformerDecoder.inputs,
    /^TransformerDecoder: expected decoderPaddingMask of shape \[B, T\] = \[2,3\], but got decoderPaddingMask \[2,9\]\.$/],
  ['TransformerDecoder: an encoderPaddingMask of the wrong length (named by inputNames)',
    SPECS.TransformerDecoder.make, () => ({ inputs: [f32([2, 3, 4]), f32([2, 5, 4]), tf.ones([2, 3])], options: { inputNames: ['encoderSequence', 'encoderPaddingMask'] } }), SPECS.TransformerDecoder.inputs,
    /^TransformerDecoder: expected encoderPaddingMask of shape \[B, S\] = \[2,5\], but got encoderPaddingMask \[2,3\]\.$/],
  ['TransformerDecoder: an encoderAttentionMask of the wrong shape',
    SPECS.TransformerDecoder.make, () => ({ inputs: [f32([2, 3, 4]), f32([2, 5, 4]), tf.ones([2, 3, 9])], options: { inputNames: ['encoderSequence', 'encoderAttentionMask'] } }), SPECS.TransformerDecoder.inputs,
    /^TransformerDecoder: expected encoderAttentionMask of shape \[B, T, S\] = \[2,3,5\] \(or broadcastable to it\), but got encoderAttentionMask \[2,3,9\]\.$/],
  ['TransformerDecoder: an encoder sequence of another batch size (was refused in MultiHeadAttention\'s name)',
    SPECS.TransformerDecoder.make, () => ({ inputs: [f32([2, 3, 4]), f32([3, 5, 4])] }), SPECS.TransformerDecoder.inputs,
    /^TransformerDecoder: expected decoderSequence and encoderSequence to have the same batch size, but got decoderSequence \[2,3,4\] and encoderSequence \[3,5,4\]\.$/],
  ['TransformerDecoder: an int32 encoder sequence',
    SPECS.TransformerDecoder.make, () => ({ inputs: [f32([2, 3, 4]), tf.ones([2, 5, 4], 'int32')] }), SPECS.TransformerDecoder.inputs,
    /^TransformerDecoder: expected encoderSequence to be float32, but got int32 \[2,5,4\]\.$/],
  ['MultiHeadAttention: an attentionMask input of the wrong shape',
    SPECS.MultiHeadAttention.make, () => ({ inputs: [f32([2, 3, 4]), f32([2, 5, 4]), f32([2, 5, 4]), tf.ones([2, 9, 9])] }), queryValue,
    /^MultiHeadAttention: expected attentionMask of shape \[B, T, S\] = \[2,3,5\]/],
  ['Attention: returnAttentionScores: "yes" (was taken as the default, false, silently)',
    SPECS.Attention.make, () => ({ inputs: queryValue(), options: { returnAttentionScores: 'yes' } }), queryValue,
    /^Attention: expected `returnAttentionScores` to be a boolean, but got "yes"\.$/],
  ['MultiHeadAttention: useCausalMask: 1 (was taken as the default, false, silently)',
    SPECS.MultiHeadAttention.make, () => ({ inputs: queryValue(), options: { useCausalMask: 1 } }), queryValue,
    /^MultiHeadAttention: expected `useCausalMask` to be a boolean, but got 1\.$/],
];

describe.each(PARTICULAR)('%s', (_what, make, badCall, goodInputs, message) => {
  it('is refused with its message, leaves no tensor and the layer unbuilt; a correct call then works', () => {
    const layer = make();
    const bad = badCall();
    const before = tf.memory().numTensors;
    expect(refusedAs(layer.getClassName(), () => apply(layer, bad.inputs, bad.options)).message).toMatch(message);
    expect(tf.memory().numTensors).toBe(before);
    expect(layer.built).toBe(false);
    const good = goodInputs();
    const out = outputsOf(apply(layer, good));
    expect(out[0].shape).toEqual([2, 3, 4]);
    tf.dispose([...out, ...good, ...bad.inputs]);
    layer.weights.forEach((w) => w.dispose());
  });
});

describe.each(EXPORTED)('new %s(args) whose every property getter throws', (_name, cls) => {
  it('passes the user\'s error through unchanged and allocates nothing', () => {
    const userError = new TypeError('user getter failed');
    const args = new Proxy({ numHeads: 2 }, { get: () => { throw userError; } });
    const before = tf.memory().numTensors;
    let err: unknown;
    try {
      new (cls as unknown as new (a: unknown) => tf.layers.Layer)(args);
    } catch (e) {
      err = e;
    }
    expect(err).toBe(userError);
    expect(tf.memory().numTensors).toBe(before);
  });
});
