/**
 * Training through every attention layer, run on cpu and on wasm (this file
 * matches the wasm project). No tf.layers.embedding: the gradient of gather
 * is missing on wasm in tfjs 4.22; tokens enter as one-hot vectors instead.
 */
import * as tf from '@tensorflow/tfjs';
import { layers } from '../../src';

type Build = (x: tf.SymbolicTensor) => tf.SymbolicTensor;

const cases: Array<[string, Build]> = [
  ['SelfAttention', (x) => layers.selfAttention({ numHeads: 2, keyDim: 4, useCausalMask: true }).apply(x) as tf.SymbolicTensor],
  ['PositionalAttention relative', (x) => layers.positionalAttention({ numHeads: 2, keyDim: 4, position: 'relative' }).apply(x) as tf.SymbolicTensor],
  ['PositionalAttention rotary', (x) => layers.positionalAttention({ numHeads: 2, keyDim: 4, position: 'rotary' }).apply(x) as tf.SymbolicTensor],
  ['MultiHeadAttention', (x) => layers.multiHeadAttention({ numHeads: 2, keyDim: 4 }).apply([x, x]) as tf.SymbolicTensor],
  ['ContentAttention additive', (x) => layers.contentAttention({ score: 'additive' }).apply([x, x]) as tf.SymbolicTensor],
  ['AdditiveAttention', (x) => layers.additiveAttention().apply([x, x]) as tf.SymbolicTensor],
];

describe('training on the active backend', () => {
  it.each(cases)('%s lowers the loss of a one-hot sequence task', async (_name, build) => {
    // Predict, at each position, the one-hot token one step back (a job for attention).
    const T = 6;
    const V = 5;
    const ids = Array.from({ length: 24 * T }, (_, i) => (i * 7 + Math.floor(i / T)) % V);
    const x = tf.oneHot(tf.tensor1d(ids, 'int32'), V).reshape([24, T, V]);
    const y = tf.tidy(() => tf.concat([tf.zeros([24, 1, V]), x.slice([0, 0, 0], [24, T - 1, V])], 1));
    const inp = tf.input({ shape: [T, V] });
    const h = tf.layers.dense({ units: 8 }).apply(inp) as tf.SymbolicTensor;
    const pos = tf.layers.add().apply([h, layers.positionEmbedding({ sequenceLength: T }).apply(h) as tf.SymbolicTensor]) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: V }).apply(build(pos)) as tf.SymbolicTensor;
    const model = tf.model({ inputs: inp, outputs: out });
    model.compile({ optimizer: tf.train.adam(0.03), loss: 'meanSquaredError' });
    const before = tf.memory().numTensors;
    const hist = await model.fit(x, y, { epochs: 15, batchSize: 8, verbose: 0 });
    const loss = hist.history['loss'] as number[];
    expect(loss[loss.length - 1]).toBeLessThan(loss[0] * 0.8);
    // fit keeps nothing but the optimizer's slots, which exist after the first epoch.
    await model.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 });
    const after = tf.memory().numTensors;
    await model.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 });
    expect(tf.memory().numTensors).toBe(after);
    expect(after).toBeGreaterThanOrEqual(before);
    tf.dispose([x, y]);
  });
});
