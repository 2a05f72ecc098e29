import * as tf from '@tensorflow/tfjs';
import { layers, MultiHeadAttention } from '../../src';
import { arr, nested, randn, refMultiHead } from '../reference';
import { expectConfigRoundTrip, fitLosses, mhaList, mhaWeights, t } from './helpers';

describe('MultiHeadAttention', () => {
  const B = 2;
  const T = 4;
  const S = 5;
  const D = 6;
  const N = 2;
  const K = 3;

  function built(args: Partial<ConstructorParameters<typeof MultiHeadAttention>[0]> = {}, seed = 1) {
    const layer = new MultiHeadAttention({ numHeads: N, keyDim: K, ...args });
    const Hv = args.valueDim ?? K;
    const Dout = (args.outputShape as number | undefined) ?? D;
    const w = mhaWeights(D, D, D, N, K, Hv, Dout, seed);
    layer.apply([tf.zeros([1, T, D]), tf.zeros([1, S, D])]);
    layer.setWeights(mhaList(w));
    return { layer, w };
  }

  it("has Keras's weight names, shapes and order", () => {
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 3, valueDim: 4, outputShape: 7 });
    layer.apply([tf.zeros([1, 4, 6]), tf.zeros([1, 5, 8]), tf.zeros([1, 5, 9])]);
    const got = layer.weights.map((w) => [w.originalName.split('/').slice(1).join('/'), w.shape]);
    expect(got).toEqual([
      ['query/kernel', [6, 2, 3]],
      ['query/bias', [2, 3]],
      ['key/kernel', [9, 2, 3]],
      ['key/bias', [2, 3]],
      ['value/kernel', [8, 2, 4]],
      ['value/bias', [2, 4]],
      ['attention_output/kernel', [2, 4, 7]],
      ['attention_output/bias', [7]],
    ]);
    const noBias = new MultiHeadAttention({ numHeads: 2, keyDim: 3, useBias: false });
    noBias.apply([tf.zeros([1, 4, 6]), tf.zeros([1, 5, 6])]);
    expect(noBias.weights.map((w) => w.originalName.split('/').slice(1).join('/'))).toEqual([
      'query/kernel',
      'key/kernel',
      'value/kernel',
      'attention_output/kernel',
    ]);
  });

  it("matches Keras's maths (float64 reference) with a separate key, value dim and output shape", () => {
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 3, valueDim: 4, outputShape: 5 });
    const q = randn([B, T, 6], 10);
    const v = randn([B, S, 7], 11);
    const k = randn([B, S, 8], 12);
    const w = mhaWeights(6, 8, 7, 2, 3, 4, 5, 13);
    layer.apply([t(q), t(v), t(k)]);
    layer.setWeights(mhaList(w));
    const [out, scores] = layer.apply([t(q), t(v), t(k)], { returnAttentionScores: true }) as tf.Tensor[];
    // computed by the float64 reference in __tests__/reference.ts
    const ref = refMultiHead(q, v, k, w);
    expect(out).toBeAllClose(nested(ref.output), 1e-4);
    expect(scores.shape).toEqual([B, 2, T, S]);
    expect(scores).toBeAllClose(nested(ref.scores), 1e-5);
  });

  it('combines query, value and explicit masks and the causal mask as Keras does', () => {
    const { layer, w } = built({}, 20);
    const q = randn([B, T, D], 21);
    const v = randn([B, S, D], 22);
    const qMask = arr([B, T], [1, 1, 1, 0, 1, 1, 0, 0]);
    const vMask = arr([B, S], [1, 1, 0, 1, 1, 1, 1, 1, 0, 0]);
    const explicit = arr([B, T, S], Array.from({ length: B * T * S }, (_, i) => (i % 7 === 3 ? 0 : 1)));
    const out = layer.call([t(q), t(v), t(v), t(explicit)], {
      mask: [t(qMask), t(vMask), t(vMask)],
      useCausalMask: true,
    }) as tf.Tensor;
    const full = arr([B, T, S]);
    for (let b = 0; b < B; b++)
      for (let i = 0; i < T; i++)
        for (let j = 0; j < S; j++)
          full.data[(b * T + i) * S + j] = qMask.data[b * T + i] * vMask.data[b * S + j] * explicit.data[(b * T + i) * S + j];
    const mask4 = { shape: [B, 1, T, S], data: full.data };
    // Fully masked rows (padded queries) get uniform weights, as in Keras.
    const ref = refMultiHead(q, v, v, w, { mask: mask4, causal: true, emptyRows: 'uniform' });
    expect(out).toBeAllClose(nested(ref.output), 1e-4);
  });

  it('honours a padding mask from an embedding with maskZero in a functional model, and passes the query mask on', () => {
    const ids = tf.input({ shape: [5], dtype: 'int32' });
    const emb = tf.layers.embedding({ inputDim: 10, outputDim: 4, maskZero: true, embeddingsInitializer: 'randomNormal' });
    const x = emb.apply(ids) as tf.SymbolicTensor;
    const mha = layers.multiHeadAttention({ numHeads: 2, keyDim: 2 });
    const y = mha.apply([x, x]) as tf.SymbolicTensor;
    const model = tf.model({ inputs: ids, outputs: y });
    const tokens = tf.tensor2d([[3, 1, 4, 0, 0], [2, 7, 1, 8, 0]], [2, 5], 'int32');
    const out = model.predict(tokens) as tf.Tensor;
    // Changing padded positions' tokens (still id 0 → masked) cannot change unpadded outputs;
    // changing the embedding of id 0 must not change them either, since padded keys are hidden.
    const table = emb.getWeights()[0];
    const changed = tf.tidy(() => tf.concat([tf.fill([1, 4], 50), table.slice([1, 0], [9, 4])]));
    emb.setWeights([changed]);
    const out2 = model.predict(tokens) as tf.Tensor;
    expect(out2.slice([0, 0, 0], [1, 3, 4])).toBeAllClose(out.slice([0, 0, 0], [1, 3, 4]), 1e-5);
    expect(out2.slice([1, 0, 0], [1, 4, 4])).toBeAllClose(out.slice([1, 0, 0], [1, 4, 4]), 1e-5);
    // The query mask passes on to the next layer.
    const mask = mha.computeMask([out, out], [tf.ones([2, 5], 'bool'), tf.ones([2, 5], 'bool')]) as tf.Tensor;
    expect(mask.shape).toEqual([2, 5]);
  });

  it('honours the padding mask of a separate memory (cross-attention) in a functional model', () => {
    const qIn = tf.input({ shape: [3, 4] });
    const ids = tf.input({ shape: [5], dtype: 'int32' });
    const emb = tf.layers.embedding({ inputDim: 10, outputDim: 4, maskZero: true, embeddingsInitializer: 'randomNormal' });
    const memory = emb.apply(ids) as tf.SymbolicTensor;
    const y = layers.multiHeadAttention({ numHeads: 2, keyDim: 2 }).apply([qIn, memory]) as tf.SymbolicTensor;
    const model = tf.model({ inputs: [qIn, ids], outputs: y });
    const q = tf.randomNormal([1, 3, 4], 0, 1, 'float32', 3);
    const tokens = tf.tensor2d([[4, 2, 0, 0, 0]], [1, 5], 'int32');
    const a = model.predict([q, tokens]) as tf.Tensor;
    // Move the embedding of the padding id: the output must not move.
    const table = emb.getWeights()[0];
    emb.setWeights([tf.tidy(() => tf.concat([tf.fill([1, 4], -9), table.slice([1, 0], [9, 4])]))]);
    const b = model.predict([q, tokens]) as tf.Tensor;
    expect(b).toBeAllClose(a, 1e-5);
    // Un-padding the last position does move it: the test can fail.
    const c = model.predict([q, tf.tensor2d([[4, 2, 0, 0, 7]], [1, 5], 'int32')]) as tf.Tensor;
    expect(c).not.toBeAllClose(a, 1e-3);
  });

  it('computeOutputShape equals the real output shape, with and without scores', () => {
    const layer = new MultiHeadAttention({ numHeads: 3, keyDim: 2, outputShape: 7 });
    const real = layer.apply([tf.zeros([2, 4, 5]), tf.zeros([2, 6, 3])]) as tf.Tensor;
    expect(layer.computeOutputShape([[2, 4, 5], [2, 6, 3]])).toEqual(real.shape);
    const withScores = new MultiHeadAttention({ numHeads: 3, keyDim: 2, returnAttentionScores: true });
    const [o, s] = withScores.apply([tf.zeros([2, 4, 5]), tf.zeros([2, 6, 3])]) as tf.Tensor[];
    expect(withScores.computeOutputShape([[2, 4, 5], [2, 6, 3]])).toEqual([o.shape, s.shape]);
    const sym = withScores.apply([tf.input({ shape: [4, 5] }), tf.input({ shape: [6, 3] })]) as tf.SymbolicTensor[];
    expect(sym.map((x) => x.shape)).toEqual([[null, 4, 5], [null, 3, 4, 6]]);
  });

  it('round-trips its config', () => {
    expectConfigRoundTrip(
      new MultiHeadAttention({
        numHeads: 2,
        keyDim: 3,
        valueDim: 5,
        dropout: 0.1,
        useBias: false,
        outputShape: 4,
        kernelInitializer: 'heNormal',
        kernelRegularizer: 'l1l2',
        biasConstraint: 'nonNeg',
        seed: 3,
        useCausalMask: true,
      }),
    );
  });

  it.each([
    [{ numHeads: 0, keyDim: 2 }, /MultiHeadAttention: expected numHeads to be a positive integer, but got numHeads=0/],
    [{ numHeads: 2, keyDim: 1.5 }, /expected keyDim to be a positive integer, but got keyDim=1.5/],
    [{ numHeads: 2, keyDim: 2, valueDim: -1 }, /expected valueDim to be a positive integer, but got valueDim=-1/],
    [{ numHeads: 2, keyDim: 2, dropout: 1.2 }, /expected dropout to be a number in \[0, 1\), but got dropout=1.2/],
    [{ numHeads: 2, keyDim: 2, outputShape: [3, 4] }, /expected outputShape to be a positive integer, but got outputShape=\[3,4\]/],
    [{ numHeads: 2, keyDim: 2, attentionAxes: [2] }, /only the default attentionAxes .* but got attentionAxes=\[2\]/],
    [{ numHeads: 2, keyDim: 2, kernelInitializer: 'nope' }, /expected kernelInitializer to be an initializer name or config, but got "nope"/],
    [{ numHeads: 2, keyDim: 2, seed: 0.5 }, /expected seed to be an integer, but got seed=0.5/],
  ])('rejects %j', (args, msg) => {
    expect(() => new MultiHeadAttention(args as ConstructorParameters<typeof MultiHeadAttention>[0])).toThrow(msg);
  });

  it('is causal inside a model when built with useCausalMask, and refuses the call argument there', () => {
    const inp = tf.input({ shape: [5, 4] });
    const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 2, useCausalMask: true });
    const model = tf.model({ inputs: inp, outputs: mha.apply([inp, inp]) as tf.SymbolicTensor });
    const x = randn([1, 5, 4], 30);
    const x2 = arr(x.shape, x.data);
    for (let i = 12; i < 20; i++) x2.data[i] += 5; // positions 3 and 4
    const a = model.predict(t(x)) as tf.Tensor;
    const b = model.predict(t(x2)) as tf.Tensor;
    expect(a.slice([0, 0, 0], [1, 3, 4])).toBeAllClose(b.slice([0, 0, 0], [1, 3, 4]), 1e-6);
    expect(a.slice([0, 3, 0], [1, 2, 4])).not.toBeAllClose(b.slice([0, 3, 0], [1, 2, 4]), 1e-3);
    expect(() => new MultiHeadAttention({ numHeads: 2, keyDim: 2 }).apply([inp, inp], { useCausalMask: true })).toThrow(
      /MultiHeadAttention: tfjs models do not keep call arguments, so useCausalMask would be lost when the model runs; pass \{ useCausalMask: true \} to the constructor instead/,
    );
  });

  it('rejects the wrong number or rank of inputs', () => {
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 2 });
    expect(() => layer.apply([tf.zeros([1, 2, 3])])).toThrow(/MultiHeadAttention: expected inputs \[query, value, key\?, attentionMask\?\], but got 1 input\(s\)/);
    expect(() => layer.apply([tf.zeros([2, 3]), tf.zeros([2, 3])])).toThrow(/MultiHeadAttention: expected query of rank 3 \[B, T, D\], but got query \[2,3\]/);
  });

  it('does not leak tensors in call, predict and fit, and training lowers the loss', async () => {
    const inp = tf.input({ shape: [4, 3] });
    const y = layers.multiHeadAttention({ numHeads: 2, keyDim: 4, seed: 1, useCausalMask: true }).apply([inp, inp]) as tf.SymbolicTensor;
    const model = tf.model({ inputs: inp, outputs: y });
    const x = tf.randomNormal([16, 4, 3], 0, 1, 'float32', 5);
    const target = tf.tidy(() => tf.cumsum(x, 1).div(2));
    const before = tf.memory().numTensors;
    tf.dispose(model.predict(x) as tf.Tensor);
    expect(tf.memory().numTensors).toBe(before);
    const [first, last] = await fitLosses(model, x, target, 30);
    expect(last).toBeLessThan(first * 0.7);
    const afterFit = tf.memory().numTensors;
    await model.fit(x, target, { epochs: 1, verbose: 0 });
    expect(tf.memory().numTensors).toBe(afterFit);
    tf.dispose([x, target]);
  });
});
