import * as tf from '@tensorflow/tfjs';
import { TransformerEncoder } from '../../src/layers/transformer_encoder';
import { TransformerDecoder } from '../../src/layers/transformer_decoder';
import { TokenAndPositionEmbedding } from '../../src/layers/token_and_position_embedding';
import { layers } from '../../src/layers';
import {
  arr, map, nested, randn, refTokenAndPositionEmbedding, refTransformerDecoder, refTransformerEncoder,
} from '../reference';
import type { Arr, RefWeights } from '../reference';

// Reference values: computed by the float64 reference in __tests__/reference.ts.

const f32 = (a: Arr): Arr => map(a, (x) => Math.fround(x));
const tensor = (a: Arr, dtype: 'float32' | 'int32' = 'float32'): tf.Tensor => tf.tensor(Array.from(a.data), a.shape, dtype);

/** Builds a layer the way models do (apply opens its name scope, so weights get `<layer>/<sublayer>/...` names). */
function build(layer: tf.layers.Layer, ...shapes: Array<Array<number | null>>): void {
  const inputs = shapes.map((s) => tf.input({ batchShape: s, dtype: layer instanceof TokenAndPositionEmbedding ? 'int32' : 'float32' }));
  layer.apply(inputs.length === 1 ? inputs[0] : inputs);
}

/** Seeds every weight of a built layer and returns them keyed by Keras name (without the layer prefix). */
function seedWeights(layer: tf.layers.Layer, seed: number): RefWeights {
  const out: RefWeights = {};
  const values = layer.weights.map((w, i) => {
    const name = w.originalName.slice(layer.name.length + 1);
    let a = f32(randn(w.shape as number[], seed + i, 0.4));
    if (name.endsWith('/gamma')) a = map(a, (x) => Math.fround(1 + x / 2));
    out[name] = a;
    return tensor(a);
  });
  layer.setWeights(values);
  tf.dispose(values);
  return out;
}

const ENCODER_WEIGHTS = [
  'self_attention_layer/query/kernel', 'self_attention_layer/query/bias',
  'self_attention_layer/key/kernel', 'self_attention_layer/key/bias',
  'self_attention_layer/value/kernel', 'self_attention_layer/value/bias',
  'self_attention_layer/attention_output/kernel', 'self_attention_layer/attention_output/bias',
  'self_attention_layer_norm/gamma', 'self_attention_layer_norm/beta',
  'feedforward_layer_norm/gamma', 'feedforward_layer_norm/beta',
  'feedforward_intermediate_dense/kernel', 'feedforward_intermediate_dense/bias',
  'feedforward_output_dense/kernel', 'feedforward_output_dense/bias',
];

const mha = (p: string): string[] => ['query', 'key', 'value', 'attention_output'].flatMap((n) => [`${p}/${n}/kernel`, `${p}/${n}/bias`]);
const ln = (p: string): string[] => [`${p}/gamma`, `${p}/beta`];
const ffn = ['feedforward_intermediate_dense/kernel', 'feedforward_intermediate_dense/bias', 'feedforward_output_dense/kernel', 'feedforward_output_dense/bias'];

const padding = arr([2, 5], [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);

describe('TransformerEncoder', () => {
  it('has keras-hub sublayer weight names, shapes and order', () => {
    const enc = new TransformerEncoder({ name: 'transformer_encoder', intermediateDim: 12, numHeads: 2 });
    build(enc, [null, 5, 8]);
    expect(enc.weights.map((w) => w.originalName)).toEqual(ENCODER_WEIGHTS.map((n) => `transformer_encoder/${n}`));
    expect(enc.weights[0].shape).toEqual([8, 2, 4]);
    expect(enc.weights[14].shape).toEqual([12, 8]);
    enc.dispose();
  });

  it.each([false, true])('matches the float64 reference with a padding mask (normalizeFirst=%s)', (normalizeFirst) => {
    const enc = new TransformerEncoder({ intermediateDim: 12, numHeads: 2, normalizeFirst, layerNormEpsilon: 1e-3 });
    build(enc, [null, 5, 8]);
    const w = seedWeights(enc, 100);
    const x = f32(randn([2, 5, 8], 7));
    const got = enc.apply([tensor(x), tensor(padding)]) as tf.Tensor;
    expect(got).toBeAllClose(nested(refTransformerEncoder(x, w, { normalizeFirst, eps: 1e-3 }, padding)), 1e-4);
    enc.dispose();
  });

  it('and-s the padding mask with an attention mask, and uses gelu when asked', () => {
    const enc = new TransformerEncoder({ intermediateDim: 6, numHeads: 1, activation: 'gelu' });
    build(enc, [null, 3, 4]);
    const w = seedWeights(enc, 200);
    const x = f32(randn([1, 3, 4], 8));
    const pad = arr([1, 3], [1, 1, 0]);
    const att = arr([1, 3, 3], [1, 0, 1, 1, 1, 1, 0, 1, 1]);
    const gelu = (v: number): number => 0.5 * v * (1 + erf(v / Math.SQRT2));
    const got = enc.apply([tensor(x), tensor(pad), tensor(att)]) as tf.Tensor;
    expect(got).toBeAllClose(nested(refTransformerEncoder(x, w, { activation: gelu }, pad, att)), 1e-4);
    enc.dispose();
  });

  it('takes its inputs by name with inputNames (constructor or call kwarg), skipping absent masks', () => {
    const enc = new TransformerEncoder({ intermediateDim: 6, numHeads: 1, inputNames: ['attentionMask'] });
    build(enc, [null, 3, 4], [null, 3, 3]);
    const w = seedWeights(enc, 250);
    const x = f32(randn([1, 3, 4], 13));
    const att = arr([1, 3, 3], [1, 0, 0, 1, 1, 0, 1, 1, 1]);
    const want = nested(refTransformerEncoder(x, w, {}, undefined, att));
    expect(enc.apply([tensor(x), tensor(att)]) as tf.Tensor).toBeAllClose(want, 1e-4);
    const plain = new TransformerEncoder({ intermediateDim: 6, numHeads: 1 });
    build(plain, [null, 3, 4]);
    plain.setWeights(enc.getWeights());
    expect(plain.apply([tensor(x), tensor(att)], { inputNames: ['attentionMask'] }) as tf.Tensor).toBeAllClose(want, 1e-4);
    expect(enc.getConfig().inputNames).toEqual(['attentionMask']);
    expect(() => plain.apply([tensor(x), tensor(att)], { inputNames: ['bogus'] }))
      .toThrow(/expected inputNames to be distinct names among paddingMask, attentionMask, but got \["bogus"\]/);
    expect(() => plain.apply([tensor(x), tensor(att)], { inputNames: ['paddingMask', 'attentionMask'] }))
      .toThrow(/expected 3 inputs for inputNames \["paddingMask","attentionMask"\], but got 2/);
    enc.dispose();
    plain.dispose();
  });

  it('works in a functional model, reports its output shape, and its config round-trips', () => {
    const args = { intermediateDim: 12, numHeads: 2, dropout: 0.1, normalizeFirst: true, name: 'enc' };
    const enc = layers.transformerEncoder(args);
    const input = tf.input({ shape: [5, 8] });
    const out = enc.apply(input) as tf.SymbolicTensor;
    expect(out.shape).toEqual([null, 5, 8]);
    const copy = TransformerEncoder.fromConfig(TransformerEncoder, JSON.parse(JSON.stringify(enc.getConfig()))) as TransformerEncoder;
    expect(copy.getConfig()).toEqual(enc.getConfig());
    expect(enc.getConfig()).toMatchObject({ intermediateDim: 12, numHeads: 2, dropout: 0.1, activation: 'relu', layerNormEpsilon: 1e-5, normalizeFirst: true });
    enc.dispose();
  });

  it.each([
    [{ intermediateDim: 0, numHeads: 2 }, /expected intermediateDim to be a positive integer, but got intermediateDim=0/],
    [{ intermediateDim: 4, numHeads: 1.5 }, /expected numHeads to be a positive integer, but got numHeads=1.5/],
    [{ intermediateDim: 4, numHeads: 2, dropout: 1 }, /expected dropout to be a number in \[0, 1\), but got dropout=1/],
    [{ intermediateDim: 4, numHeads: 2, layerNormEpsilon: 0 }, /expected layerNormEpsilon to be a positive number/],
    [{ intermediateDim: 4, numHeads: 2, activation: 'nope' }, /expected activation to be a tfjs activation name, but got activation="nope"/],
    [{ intermediateDim: 4, numHeads: 2, normalizeFirst: 1 }, /expected normalizeFirst to be a boolean/],
  ])('rejects bad arguments (%o)', (args, message) => {
    expect(() => new TransformerEncoder(args as never)).toThrow(message);
  });

  it('rejects fewer features than heads, a wrong rank and too many inputs', () => {
    expect(() => new TransformerEncoder({ intermediateDim: 4, numHeads: 4 }).apply(tf.input({ shape: [3, 2] })))
      .toThrow(/expected the feature dimension to be at least numHeads, but got D=2 and numHeads=4/);
    const enc = new TransformerEncoder({ intermediateDim: 4, numHeads: 1 });
    build(enc, [null, 3, 2]);
    expect(() => enc.call(tf.ones([3, 2]), {})).toThrow(/expected x of rank 3 \[B, T, D\], but got \[3,2\]/);
    expect(() => enc.call([tf.ones([1, 3, 2]), tf.ones([1, 3]), tf.ones([1, 3, 3]), tf.ones([1])], {}))
      .toThrow(/expected inputs x or \[x, paddingMask\?, attentionMask\?\], but got 4 inputs/);
    enc.dispose();
  });

  it('does not leak memory', () => {
    const enc = new TransformerEncoder({ intermediateDim: 6, numHeads: 2 });
    const x = tf.ones([1, 3, 4]);
    (enc.apply(x) as tf.Tensor).dispose();
    const before = tf.memory().numTensors;
    (enc.apply([x, tf.tensor([[1, 1, 0]])]) as tf.Tensor).dispose();
    expect(tf.memory().numTensors).toBe(before + 1); // the mask tensor created by the test
    enc.dispose();
    x.dispose();
  });
});

describe('TransformerDecoder', () => {
  it('has keras-hub sublayer weight names and order, with and without cross-attention', () => {
    const dec = new TransformerDecoder({ name: 'transformer_decoder', intermediateDim: 12, numHeads: 2 });
    build(dec, [null, 4, 8], [null, 6, 8]);
    expect(dec.weights.map((w) => w.originalName.replace('transformer_decoder/', ''))).toEqual([
      ...mha('self_attention'), ...ln('self_attention_layer_norm'), ...mha('cross_attention'), ...ln('cross_attention_layer_norm'),
      ...ffn, ...ln('feedforward_layer_norm'),
    ]);
    const only = new TransformerDecoder({ name: 'gpt_block', intermediateDim: 12, numHeads: 2 });
    build(only, [null, 4, 8]);
    expect(only.weights.map((w) => w.originalName.replace('gpt_block/', ''))).toEqual([
      ...mha('self_attention'), ...ln('self_attention_layer_norm'), ...ffn, ...ln('feedforward_layer_norm'),
    ]);
    dec.dispose();
    only.dispose();
  });

  it.each([false, true])('matches the float64 reference with cross-attention and padding masks (normalizeFirst=%s)', (normalizeFirst) => {
    const dec = new TransformerDecoder({ intermediateDim: 10, numHeads: 2, normalizeFirst });
    build(dec, [null, 5, 8], [null, 4, 8]);
    const w = seedWeights(dec, 300);
    const x = f32(randn([2, 5, 8], 9));
    const e = f32(randn([2, 4, 8], 10));
    const encPad = arr([2, 4], [1, 1, 1, 0, 1, 1, 1, 1]);
    const got = dec.apply([tensor(x), tensor(e), tensor(padding), tf.ones([2, 5, 5]), tensor(encPad)]) as tf.Tensor;
    expect(got).toBeAllClose(nested(refTransformerDecoder(x, w, { normalizeFirst }, e, { decoderPadding: padding, encoderPadding: encPad })), 1e-4);
    dec.dispose();
  });

  it('matches the reference as a decoder-only block, causal by default and not with useCausalMask false', () => {
    const dec = new TransformerDecoder({ intermediateDim: 10, numHeads: 2 });
    build(dec, [null, 5, 8]);
    const w = seedWeights(dec, 400);
    const x = f32(randn([2, 5, 8], 11));
    expect(dec.apply(tensor(x)) as tf.Tensor).toBeAllClose(nested(refTransformerDecoder(x, w)), 1e-4);
    expect(dec.apply(tensor(x), { useCausalMask: false }) as tf.Tensor).toBeAllClose(nested(refTransformerDecoder(x, w, { causal: false })), 1e-4);
    dec.dispose();
  });

  it('is causal: changing later tokens leaves earlier outputs unchanged', () => {
    const dec = new TransformerDecoder({ intermediateDim: 10, numHeads: 2 });
    const a = f32(randn([1, 6, 8], 12));
    const b = map(a, (v, i) => (i >= 3 * 8 ? v + 5 : v)); // tokens 3.. differ
    const ya = (dec.apply(tensor(a)) as tf.Tensor).arraySync() as number[][][];
    const yb = (dec.apply(tensor(b)) as tf.Tensor).arraySync() as number[][][];
    expect(yb[0].slice(0, 3)).toBeAllClose(ya[0].slice(0, 3), 1e-6);
    expect(Math.abs(yb[0][5][0] - ya[0][5][0])).toBeGreaterThan(1e-3);
    dec.dispose();
  });

  it('config round-trips and the output shape is the decoder sequence shape', () => {
    const dec = layers.transformerDecoder({ intermediateDim: 12, numHeads: 2, useCausalMask: false });
    const out = dec.apply([tf.input({ shape: [4, 8] }), tf.input({ shape: [6, 8] })]) as tf.SymbolicTensor;
    expect(out.shape).toEqual([null, 4, 8]);
    const config = dec.getConfig();
    expect(config).toMatchObject({ useCausalMask: false, hasCrossAttention: true });
    const copy = TransformerDecoder.fromConfig(TransformerDecoder, JSON.parse(JSON.stringify(config))) as TransformerDecoder;
    expect(copy.getConfig()).toEqual(config);
    dec.dispose();
  });

  it('rejects a missing encoder sequence, too many inputs and bad arguments', () => {
    const dec = new TransformerDecoder({ intermediateDim: 4, numHeads: 1, hasCrossAttention: true });
    expect(() => dec.build([null, 3, 2])).toThrow(/expected an encoder sequence \[B, S, D\] as input 1 for cross-attention, but got none/);
    const only = new TransformerDecoder({ intermediateDim: 4, numHeads: 1 });
    build(only, [null, 3, 2]);
    expect(() => only.call([tf.ones([1, 3, 2]), tf.ones([1, 3]), tf.ones([1, 3, 3]), tf.ones([1, 3])], {}))
      .toThrow(/expected inputs \[decoderSequence, decoderPaddingMask\?, decoderAttentionMask\?\], but got 4 inputs/);
    expect(() => only.call(tf.ones([3, 2]), {})).toThrow(/expected decoderSequence of rank 3 \[B, T, D\], but got \[3,2\]/);
    expect(() => new TransformerDecoder({ intermediateDim: 4, numHeads: 1, useCausalMask: 'yes' as never })).toThrow(/expected useCausalMask to be a boolean/);
    only.dispose();
  });

  it('does not leak memory', () => {
    const dec = new TransformerDecoder({ intermediateDim: 6, numHeads: 2 });
    const x = tf.ones([1, 3, 4]);
    const e = tf.ones([1, 2, 4]);
    (dec.apply([x, e]) as tf.Tensor).dispose();
    const before = tf.memory().numTensors;
    (dec.apply([x, e]) as tf.Tensor).dispose();
    expect(tf.memory().numTensors).toBe(before);
    dec.dispose();
    tf.dispose([x, e]);
  });
});

describe('training the blocks', () => {
  it('fit updates every weight of an embedding → encoder → decoder model, and dropout acts only in training', async () => {
    const ids = tf.input({ shape: [4], dtype: 'int32' });
    const emb = new TokenAndPositionEmbedding({ vocabularySize: 6, sequenceLength: 4, embeddingDim: 4 }).apply(ids) as tf.SymbolicTensor;
    const enc = new TransformerEncoder({ intermediateDim: 8, numHeads: 2, dropout: 0.3 });
    const h = enc.apply(emb) as tf.SymbolicTensor;
    const out = new TransformerDecoder({ intermediateDim: 8, numHeads: 2 }).apply([emb, h]) as tf.SymbolicTensor;
    const model = tf.model({ inputs: ids, outputs: out });
    const x = tf.tensor2d([[1, 2, 3, 4], [5, 0, 1, 2]], undefined, 'int32');
    const y = tf.randomNormal([2, 4, 4], 0, 1, 'float32', 3);
    const before = model.getWeights().map((w) => w.dataSync().slice());
    model.compile({ optimizer: tf.train.adam(0.05), loss: 'meanSquaredError' });
    await model.fit(x, y, { epochs: 2, batchSize: 2, verbose: 0 });
    const after = model.getWeights().map((w) => w.dataSync());
    const unchanged = before.filter((b, i) => b.every((v, j) => v === after[i][j]));
    expect(model.trainableWeights.length).toBe(2 + 16 + 26);
    expect(unchanged.length).toBe(0);
    const e = tf.randomNormal([1, 4, 4], 0, 1, 'float32', 4);
    const inference = (enc.apply(e) as tf.Tensor).dataSync();
    const training = (enc.apply(e, { training: true }) as tf.Tensor).dataSync();
    expect(Array.from((enc.apply(e) as tf.Tensor).dataSync())).toEqual(Array.from(inference));
    expect(Array.from(training)).not.toEqual(Array.from(inference));
    tf.dispose([x, y, e]);
    model.dispose();
  });
});

describe('TokenAndPositionEmbedding', () => {
  it('adds token and position embeddings as the reference does, with keras-hub weight names', () => {
    const emb = new TokenAndPositionEmbedding({ name: 'token_and_position_embedding', vocabularySize: 9, sequenceLength: 6, embeddingDim: 4 });
    build(emb, [null, 3]);
    expect(emb.weights.map((w) => w.originalName)).toEqual(
      ['token_and_position_embedding/token_embedding/embeddings', 'token_and_position_embedding/position_embedding/embeddings']);
    const w = seedWeights(emb, 500);
    const ids = arr([2, 3], [1, 8, 0, 4, 4, 2]);
    expect(emb.apply(tensor(ids, 'int32')) as tf.Tensor).toBeAllClose(
      nested(refTokenAndPositionEmbedding(ids, w['token_embedding/embeddings'], w['position_embedding/embeddings'])), 1e-6);
    expect(emb.apply(tensor(ids, 'int32'), { startIndex: 2 }) as tf.Tensor).toBeAllClose(
      nested(refTokenAndPositionEmbedding(ids, w['token_embedding/embeddings'], w['position_embedding/embeddings'], 2)), 1e-6);
    emb.dispose();
  });

  it('masks token 0 with maskZero, owns reverse_embeddings when untied, and its config round-trips', () => {
    const emb = layers.tokenAndPositionEmbedding({ vocabularySize: 5, sequenceLength: 4, embeddingDim: 2, maskZero: true, tieWeights: false });
    const ids = tf.tensor2d([[3, 0, 1]], undefined, 'int32');
    expect(emb.computeMask(ids) as tf.Tensor).toBeAllClose([[1, 0, 1]], 0);
    build(emb, [null, 3]);
    expect(emb.weights.map((w) => w.shape)).toEqual([[5, 2], [2, 5], [4, 2]]);
    const copy = TokenAndPositionEmbedding.fromConfig(TokenAndPositionEmbedding, JSON.parse(JSON.stringify(emb.getConfig()))) as TokenAndPositionEmbedding;
    expect(copy.getConfig()).toEqual(emb.getConfig());
    expect((emb.apply(tf.input({ shape: [3], dtype: 'int32' })) as tf.SymbolicTensor).shape).toEqual([null, 3, 2]);
    emb.dispose();
  });

  it('rejects bad arguments and inputs', () => {
    expect(() => new TokenAndPositionEmbedding({ vocabularySize: 0, sequenceLength: 4, embeddingDim: 2 })).toThrow(/expected vocabularySize to be a positive integer, but got vocabularySize=0/);
    expect(() => new TokenAndPositionEmbedding({ vocabularySize: 3, sequenceLength: -1, embeddingDim: 2 })).toThrow(/expected sequenceLength to be a positive integer/);
    expect(() => new TokenAndPositionEmbedding({ vocabularySize: 3, sequenceLength: 4, embeddingDim: 2.5 })).toThrow(/expected embeddingDim to be a positive integer/);
    const emb = new TokenAndPositionEmbedding({ vocabularySize: 3, sequenceLength: 2, embeddingDim: 2 });
    expect(() => emb.build([null, 3, 2])).toThrow(/expected token ids of rank 2 \[B, T\], but got shape \[,3,2\]/);
    expect(() => emb.apply(tf.tensor2d([[1, 1, 1]], undefined, 'int32'))).toThrow(/PositionEmbedding: expected at most sequenceLength=2 positions/);
  });

  it('does not leak memory', () => {
    const emb = new TokenAndPositionEmbedding({ vocabularySize: 5, sequenceLength: 4, embeddingDim: 2 });
    const ids = tf.tensor2d([[3, 0, 1]], undefined, 'int32');
    (emb.apply(ids) as tf.Tensor).dispose();
    const before = tf.memory().numTensors;
    (emb.apply(ids) as tf.Tensor).dispose();
    expect(tf.memory().numTensors).toBe(before);
    emb.dispose();
    ids.dispose();
  });
});

/** erf by Abramowitz-Stegun 7.1.26 refined with a series: enough for 1e-7 here. */
function erf(x: number): number {
  // Maclaurin series converges fast for |x| < 3; beyond, erf is ±1 to 1e-5.
  if (Math.abs(x) > 3) return Math.sign(x) * (1 - 2.2e-5);
  let sum = 0;
  let term = x;
  for (let n = 0; n < 60; n++) {
    sum += term / (2 * n + 1);
    term *= (-x * x) / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
