/**
 * GroupedQueryAttention and MultiHeadAttention's Keras 3.16 options on the
 * active backend (this file runs on cpu and on wasm). Reference values:
 * computed by the float64 reference of Keras's source in
 * ./keras_attention_reference.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { GroupedQueryAttention, MultiHeadAttention } from '../../src';
import { Arr, nested, randn } from '../reference';
import { KerasAttentionWeights, kerasMask, refKerasAttention } from './keras_attention_reference';
import { t } from './helpers';

function weights(D: number, Nq: number, Nkv: number, H: number, seed: number): KerasAttentionWeights {
  const p = (shape: number[], s: number, std = 0.5): Arr => randn(shape, s, std);
  return {
    query: { kernel: p([D, Nq, H], seed), bias: p([Nq, H], seed + 1, 0.1) },
    key: { kernel: p([D, Nkv, H], seed + 2), bias: p([Nkv, H], seed + 3, 0.1) },
    gate: { kernel: p([D, Nq, H], seed + 8), bias: p([Nq, H], seed + 9, 0.1) },
    value: { kernel: p([D, Nkv, H], seed + 4), bias: p([Nkv, H], seed + 5, 0.1) },
    output: { kernel: p([Nq, H, D], seed + 6), bias: p([D], seed + 7, 0.1) },
  };
}

const list = (w: KerasAttentionWeights): tf.Tensor[] =>
  [w.query, w.key, w.gate!, w.value, w.output].flatMap((p) => [t(p.kernel), t(p.bias!)]);

describe(`Keras 3.16 attention on ${String(globalThis.TFJS_TEST_BACKEND ?? 'cpu')}`, () => {
  it.each([
    ['GroupedQueryAttention', 4, 2],
    ['MultiHeadAttention', 2, 2],
  ])('%s with useGate, slidingWindow and causal: both paths match the reference, and fit lowers the loss', async (kind, Nq, Nkv) => {
    const D = 6;
    const H = 3;
    const T = 6;
    const args = { useGate: true, slidingWindow: 3, useCausalMask: true };
    const layer = kind === 'GroupedQueryAttention'
      ? new GroupedQueryAttention({ headDim: H, numQueryHeads: Nq, numKeyValueHeads: Nkv, ...args })
      : new MultiHeadAttention({ numHeads: Nq, keyDim: H, ...args });
    const inp = tf.input({ shape: [T, D] });
    const model = tf.model({ inputs: inp, outputs: layer.apply([inp, tf.layers.activation({ activation: 'linear' }).apply(inp) as tf.SymbolicTensor]) as tf.SymbolicTensor });
    const w = weights(D, Nq, Nkv, H, 5);
    layer.setWeights(list(w));
    const x = randn([2, T, D], 6);
    const mask = kerasMask(2, T, T, { causal: true, slidingWindow: 3 });
    expect(model.predict(t(x)) as tf.Tensor).toBeAllClose(nested(refKerasAttention(x, x, x, w, mask, 'fused').output), 1e-4);
    const [, scores] = layer.apply([t(x), t(x)], { returnAttentionScores: true }) as tf.Tensor[];
    expect(scores).toBeAllClose(nested(refKerasAttention(x, x, x, w, mask, 'scores').scores), 1e-5);
    const xs = tf.randomNormal([16, T, D], 0, 1, 'float32', 7);
    const ys = tf.tidy(() => tf.cumsum(xs, 1).div(3));
    model.compile({ optimizer: tf.train.adam(0.02), loss: 'meanSquaredError' });
    const h = await model.fit(xs, ys, { epochs: 12, batchSize: 16, shuffle: false, verbose: 0 });
    const losses = h.history['loss'] as number[];
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] * 0.8);
    tf.dispose([xs, ys, scores]);
    model.dispose();
  });
});
