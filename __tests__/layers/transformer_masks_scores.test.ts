/**
 * The keras-hub blocks: a padding mask riding on a tensor against the same
 * mask given as an input (issue 9, item 7), and their attention scores
 * (item 8). Reference values: computed by the float64 reference of Keras's
 * and keras-hub's source in ./keras_attention_reference.ts (keras-hub's rules:
 * the encoder's MultiHeadAttention also takes the query's and value's Keras
 * masks; the decoder's cached attention takes none).
 */
import * as tf from '@tensorflow/tfjs';
import { TransformerDecoder } from '../../src/layers/transformer_decoder';
import { TransformerEncoder } from '../../src/layers/transformer_encoder';
import { TokenAndPositionEmbedding } from '../../src/layers/token_and_position_embedding';
import { arr, Arr, map, nested, randn } from '../reference';
import { HubWeights, kerasMask, refHubDecoder, refHubEncoder } from './keras_attention_reference';
import { layerBattery } from './battery';

const f32 = (a: Arr): Arr => map(a, (x) => Math.fround(x));
const tensor = (a: Arr, dtype: 'float32' | 'int32' | 'bool' = 'float32'): tf.Tensor => tf.tensor(Array.from(a.data), a.shape, dtype);

/** Seeds every weight of a built layer; returns them keyed by keras-hub name (without the layer prefix). */
function seedWeights(layer: tf.layers.Layer, seed: number): HubWeights {
  const out: HubWeights = {};
  const values = layer.weights.map((w, i) => {
    const name = w.originalName.slice(w.originalName.indexOf('/') + 1);
    let a = f32(randn(w.shape as number[], seed + i, 0.4));
    if (name.endsWith('/gamma')) a = map(a, (x) => Math.fround(1 + x / 2));
    out[name] = a;
    return tensor(a);
  });
  layer.setWeights(values);
  tf.dispose(values);
  return out;
}

const B = 2;
const T = 5;
const D = 8;
// Batch 0 has two padded positions, batch 1 one.
const pad = arr([B, T], [1, 1, 1, 0, 0, 1, 1, 1, 1, 0]);
const ids = arr([B, T], [3, 1, 4, 0, 0, 2, 7, 1, 8, 0]);

/** Rows of [B, T, D] whose query is a real token. */
function realRows(y: number[][][]): number[][] {
  return y.flatMap((rows, b) => rows.filter((_, i) => pad.data[b * T + i] !== 0));
}

describe('TransformerEncoder: a mask on x and the same mask as paddingMask', () => {
  it.each([false, true])('agree on real tokens, and each matches keras-hub (normalizeFirst=%s)', (normalizeFirst) => {
    const enc = new TransformerEncoder({ intermediateDim: 12, numHeads: 2, normalizeFirst });
    enc.apply(tf.input({ shape: [T, D] }));
    const w = seedWeights(enc, 100);
    const x = f32(randn([B, T, D], 7));
    const onX = enc.apply(tensor(x), { mask: tensor(pad, 'bool') }) as tf.Tensor;
    const asInput = enc.apply([tensor(x), tensor(pad)]) as tf.Tensor;
    expect(realRows(onX.arraySync() as number[][][])).toBeAllClose(realRows(asInput.arraySync() as number[][][]), 1e-5);
    // keras-hub: a mask on x also masks the padded query rows (which then attend uniformly, the fused path).
    const maskOnX = kerasMask(B, T, T, { queryMask: pad, valueMask: pad })!;
    const maskAsInput = kerasMask(B, T, T, { valueMask: pad })!;
    expect(onX).toBeAllClose(nested(refHubEncoder(x, w, maskOnX, 'fused', { normalizeFirst }).output), 1e-4);
    expect(asInput).toBeAllClose(nested(refHubEncoder(x, w, maskAsInput, 'fused', { normalizeFirst }).output), 1e-4);
    // The padded rows do differ between the two ways, as in keras-hub: the test can fail.
    expect(onX.slice([0, 3, 0], [1, 2, D])).not.toBeAllClose(asInput.slice([0, 3, 0], [1, 2, D]), 1e-3);
    enc.dispose();
  });

  it('in a model: TokenAndPositionEmbedding(maskZero) → encoder equals the keyword model on real tokens', () => {
    const emb = new TokenAndPositionEmbedding({ vocabularySize: 10, sequenceLength: T, embeddingDim: D, maskZero: true });
    const enc = new TransformerEncoder({ intermediateDim: 12, numHeads: 2 });
    const tokens = tf.input({ shape: [T], dtype: 'int32' });
    const masked = tf.model({ inputs: tokens, outputs: enc.apply(emb.apply(tokens) as tf.SymbolicTensor) as tf.SymbolicTensor });
    const emb2 = new TokenAndPositionEmbedding({ vocabularySize: 10, sequenceLength: T, embeddingDim: D });
    const padIn = tf.input({ shape: [T] });
    const enc2 = new TransformerEncoder({ intermediateDim: 12, numHeads: 2 });
    const kw = tf.model({ inputs: [tokens, padIn], outputs: enc2.apply([emb2.apply(tokens) as tf.SymbolicTensor, padIn]) as tf.SymbolicTensor });
    seedWeights(emb, 200);
    const w = seedWeights(enc, 300);
    emb2.setWeights(emb.getWeights());
    enc2.setWeights(enc.getWeights());
    const a = masked.predict(tensor(ids, 'int32')) as tf.Tensor;
    const b = kw.predict([tensor(ids, 'int32'), tensor(pad)]) as tf.Tensor;
    expect(realRows(a.arraySync() as number[][][])).toBeAllClose(realRows(b.arraySync() as number[][][]), 1e-5);
    const x = f32(arr([B, T, D], (emb.apply(tensor(ids, 'int32')) as tf.Tensor).dataSync()));
    expect(a).toBeAllClose(nested(refHubEncoder(x, w, kerasMask(B, T, T, { queryMask: pad, valueMask: pad }), 'fused').output), 1e-4);
  });
});

describe('TransformerEncoder attention scores (keras-hub return_attention_scores)', () => {
  it('returns [output, scores] from the call, as keras-hub computes them (scores path)', () => {
    const enc = new TransformerEncoder({ intermediateDim: 12, numHeads: 2 });
    enc.apply(tf.input({ shape: [T, D] }));
    const w = seedWeights(enc, 400);
    const x = f32(randn([B, T, D], 8));
    const [out, scores] = enc.apply(tensor(x), { mask: tensor(pad, 'bool'), returnAttentionScores: true }) as tf.Tensor[];
    const ref = refHubEncoder(x, w, kerasMask(B, T, T, { queryMask: pad, valueMask: pad }), 'scores');
    expect(scores.shape).toEqual([B, 2, T, T]);
    expect(scores).toBeAllClose(nested(ref.scores), 1e-5);
    expect(out).toBeAllClose(nested(ref.output), 1e-4);
    // Padded query rows have all-zero scores (Keras ≥ 3.10's Softmax).
    expect(scores.slice([0, 0, 3, 0], [1, 2, 2, T]).sum().dataSync()[0]).toBe(0);
    // The plain call returns one tensor.
    expect((enc.apply(tensor(x)) as tf.Tensor).shape).toEqual([B, T, D]);
    enc.dispose();
  });

  it('in a model with returnAttentionScores: two outputs with the right shapes, masks [x\'s, none], config round trip', () => {
    const enc = new TransformerEncoder({ intermediateDim: 12, numHeads: 2, returnAttentionScores: true });
    const inp = tf.input({ shape: [T, D] });
    const outs = enc.apply(inp) as tf.SymbolicTensor[];
    expect(outs.map((o) => o.shape)).toEqual([[null, T, D], [null, 2, T, T]]);
    const model = tf.model({ inputs: inp, outputs: outs });
    const x = tf.randomNormal([B, T, D], 0, 1, 'float32', 3);
    const [o, s] = model.predict(x) as tf.Tensor[];
    expect(s.sum(-1)).toBeAllClose(tf.ones([B, 2, T]), 1e-5);
    expect(enc.computeOutputShape([B, T, D])).toEqual([o.shape, s.shape]);
    const copy = TransformerEncoder.fromConfig(TransformerEncoder, JSON.parse(JSON.stringify(enc.getConfig()))) as TransformerEncoder;
    expect(copy.getConfig()).toEqual(enc.getConfig());
    expect(enc.getConfig().returnAttentionScores).toBe(true);
    const m = tf.ones([B, T], 'bool');
    const masks = enc.computeMask(x, m) as tf.Tensor[];
    expect(masks).toEqual([m, null]);
    expect(() => new TransformerEncoder({ intermediateDim: 4, numHeads: 2 }).apply(inp, { returnAttentionScores: true }))
      .toThrow(/TransformerEncoder: tfjs models do not keep call arguments, so returnAttentionScores would be lost/);
    expect(() => new TransformerEncoder({ intermediateDim: 4, numHeads: 2, returnAttentionScores: 1 as never }))
      .toThrow(/TransformerEncoder: expected returnAttentionScores to be a boolean, but got returnAttentionScores=1/);
  });
});

describe('TransformerDecoder: masks on the sequences and the same masks as inputs', () => {
  const S = 4;
  const encPad = arr([B, S], [1, 1, 0, 0, 1, 1, 1, 0]);

  it('act exactly alike (keras-hub\'s cached attention takes no Keras masks), and match keras-hub', () => {
    const dec = new TransformerDecoder({ intermediateDim: 10, numHeads: 2 });
    dec.apply([tf.input({ shape: [T, D] }), tf.input({ shape: [S, D] })]);
    const w = seedWeights(dec, 500);
    const x = f32(randn([B, T, D], 9));
    const e = f32(randn([B, S, D], 10));
    const et = tensor(e);
    et.kerasMask = tensor(encPad, 'bool');
    const onTensors = dec.apply([tensor(x), et], { mask: tensor(pad, 'bool') }) as tf.Tensor;
    const asInputs = dec.apply([tensor(x), tensor(e), tensor(pad), tensor(encPad)], {
      inputNames: ['encoderSequence', 'decoderPaddingMask', 'encoderPaddingMask'],
    }) as tf.Tensor;
    expect(onTensors).toBeAllClose(asInputs, 1e-6);
    const selfMask = kerasMask(B, T, T, { valueMask: pad, causal: true });
    const crossMask = kerasMask(B, T, S, { valueMask: encPad });
    expect(onTensors).toBeAllClose(nested(refHubDecoder(x, w, e, selfMask, crossMask, 'fused').output), 1e-4);
    dec.dispose();
  });

  it('in a model, the encoder\'s padding reaches the decoder\'s cross-attention through the encoder\'s output mask', () => {
    const tokens = tf.input({ shape: [S], dtype: 'int32' });
    const target = tf.input({ shape: [T, D] });
    const emb = new TokenAndPositionEmbedding({ vocabularySize: 10, sequenceLength: S, embeddingDim: D, maskZero: true });
    const enc = new TransformerEncoder({ intermediateDim: 8, numHeads: 2 });
    const dec = new TransformerDecoder({ intermediateDim: 8, numHeads: 2 });
    const encoded = enc.apply(emb.apply(tokens) as tf.SymbolicTensor) as tf.SymbolicTensor;
    const model = tf.model({ inputs: [tokens, target], outputs: dec.apply([target, encoded]) as tf.SymbolicTensor });
    seedWeights(emb, 600);
    seedWeights(enc, 610);
    const wd = seedWeights(dec, 640);
    const encIds = arr([B, S], [4, 2, 0, 0, 5, 6, 7, 0]);
    const y = f32(randn([B, T, D], 11));
    const got = model.predict([tensor(encIds, 'int32'), tensor(y)]) as tf.Tensor;
    // The encoder's output as the model computes it, then the decoder by the reference with the encoder padding.
    const e = f32(arr([B, S, D], (enc.apply(emb.apply(tensor(encIds, 'int32')) as tf.Tensor) as tf.Tensor).dataSync()));
    const want = refHubDecoder(y, wd, e, kerasMask(B, T, T, { causal: true }), kerasMask(B, T, S, { valueMask: encPad }), 'fused');
    expect(got).toBeAllClose(nested(want.output), 1e-4);
    // Without the padding the result differs: the test can fail.
    const unmasked = refHubDecoder(y, wd, e, kerasMask(B, T, T, { causal: true }), undefined, 'fused');
    expect(got).not.toBeAllClose(nested(unmasked.output), 1e-3);
  });
});

describe('TransformerDecoder attention scores', () => {
  const S = 4;

  it('returns [output, selfScores, crossScores] as keras-hub\'s attentions compute them', () => {
    const dec = new TransformerDecoder({ intermediateDim: 10, numHeads: 2 });
    dec.apply([tf.input({ shape: [T, D] }), tf.input({ shape: [S, D] })]);
    const w = seedWeights(dec, 700);
    const x = f32(randn([B, T, D], 12));
    const e = f32(randn([B, S, D], 13));
    const encPad = arr([B, S], [1, 1, 1, 0, 0, 0, 0, 0]); // batch 1: nothing to attend to in cross-attention
    const r = dec.apply([tensor(x), tensor(e), tensor(encPad)], { inputNames: ['encoderSequence', 'encoderPaddingMask'], returnAttentionScores: true }) as tf.Tensor[];
    expect(r.map((s) => s.shape)).toEqual([[B, T, D], [B, 2, T, T], [B, 2, T, S]]);
    const ref = refHubDecoder(x, w, e, kerasMask(B, T, T, { causal: true }), kerasMask(B, T, S, { valueMask: encPad }), 'scores');
    expect(r[0]).toBeAllClose(nested(ref.output), 1e-4);
    expect(r[1]).toBeAllClose(nested(ref.selfScores), 1e-5);
    expect(r[2]).toBeAllClose(nested(ref.crossScores!), 1e-5);
    expect(r[2].slice([1, 0, 0, 0], [1, 2, T, S]).sum().dataSync()[0]).toBe(0);
    dec.dispose();
  });

  it('decoder-only with returnAttentionScores in a model: [output, selfScores] and masks for each', () => {
    const dec = new TransformerDecoder({ intermediateDim: 10, numHeads: 2, returnAttentionScores: true });
    const inp = tf.input({ shape: [T, D] });
    const outs = dec.apply(inp) as tf.SymbolicTensor[];
    expect(outs.map((o) => o.shape)).toEqual([[null, T, D], [null, 2, T, T]]);
    const model = tf.model({ inputs: inp, outputs: outs });
    const [, s] = model.predict(tf.randomNormal([1, T, D], 0, 1, 'float32', 4)) as tf.Tensor[];
    // Causal: nothing above the diagonal.
    const a = s.arraySync() as number[][][][];
    for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) expect(a[0][0][i][j]).toBe(0);
    const cross = new TransformerDecoder({ intermediateDim: 10, numHeads: 2, returnAttentionScores: true });
    const o3 = cross.apply([inp, tf.input({ shape: [S, D] })]) as tf.SymbolicTensor[];
    expect(o3.map((o) => o.shape)).toEqual([[null, T, D], [null, 2, T, T], [null, 2, T, S]]);
    expect(cross.getConfig().returnAttentionScores).toBe(true);
  });
});

const mhaWeights = (p: string, D: number, N: number): Array<[string, number[]]> => {
  const K = D / N;
  return [
    [`${p}/query/kernel`, [D, N, K]], [`${p}/query/bias`, [N, K]], [`${p}/key/kernel`, [D, N, K]], [`${p}/key/bias`, [N, K]],
    [`${p}/value/kernel`, [D, N, K]], [`${p}/value/bias`, [N, K]], [`${p}/attention_output/kernel`, [N, K, D]], [`${p}/attention_output/bias`, [D]],
  ];
};
const ln = (p: string, D: number): Array<[string, number[]]> => [[`${p}/gamma`, [D]], [`${p}/beta`, [D]]];
const ffn = (D: number, I: number): Array<[string, number[]]> => [
  ['feedforward_intermediate_dense/kernel', [D, I]], ['feedforward_intermediate_dense/bias', [I]],
  ['feedforward_output_dense/kernel', [I, D]], ['feedforward_output_dense/bias', [D]],
];

layerBattery({
  title: 'TransformerEncoder returning scores',
  make: () => new TransformerEncoder({ intermediateDim: 6, numHeads: 2, returnAttentionScores: true }),
  inputShapes: [[4, 6]],
  weights: [...mhaWeights('self_attention_layer', 6, 2), ...ln('self_attention_layer_norm', 6), ...ln('feedforward_layer_norm', 6), ...ffn(6, 6)],
  outputShapes: [[4, 6], [2, 4, 4]],
});

layerBattery({
  title: 'TransformerDecoder with cross-attention',
  make: () => new TransformerDecoder({ intermediateDim: 6, numHeads: 2 }),
  inputShapes: [[4, 6], [5, 6]],
  weights: [
    ...mhaWeights('self_attention', 6, 2), ...ln('self_attention_layer_norm', 6), ...mhaWeights('cross_attention', 6, 2),
    ...ln('cross_attention_layer_norm', 6), ...ffn(6, 6), ...ln('feedforward_layer_norm', 6),
  ],
  outputShapes: [[4, 6]],
});

describe('tfjs 4.22 behaviour behind ownCopy (src/layers/common.ts)', () => {
  it('pins it: disposing a tensor disposes its kerasMask, so an output must not share its input\'s mask', () => {
    const x = tf.ones([1, 3, 4]);
    const mask = tf.tensor2d([[1, 1, 0]], [1, 3], 'bool');
    x.kerasMask = mask;
    x.dispose();
    expect(mask.isDisposed).toBe(true);
  });

  it('so an encoder\'s output keeps a usable mask after its input is disposed', () => {
    const enc = new TransformerEncoder({ intermediateDim: 4, numHeads: 2 });
    const x = tf.randomNormal([1, 3, 4]);
    x.kerasMask = tf.tensor2d([[1, 1, 0]], [1, 3], 'bool');
    const y = enc.apply(x) as tf.Tensor;
    x.dispose();
    expect(y.kerasMask!.isDisposed).toBe(false);
    expect(y.kerasMask!).toBeAllClose([[1, 1, 0]], 0);
    const before = tf.memory().numTensors;
    y.dispose();
    expect(tf.memory().numTensors).toBe(before - 2); // the output and its own mask
    enc.dispose();
  });
});
