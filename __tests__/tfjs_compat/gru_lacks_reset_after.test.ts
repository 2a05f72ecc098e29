/**
 * Pins tfjs 4.22's GRU refusing reset_after=True, and checks ResetAfterGRU
 * (src/tfjs_compat/gru_lacks_reset_after.ts) against a float64 loop of
 * Keras's reset-after GRU (keras/src/layers/rnn/gru.py); against Keras
 * itself it is checked in keras_real.wasm.test.ts (model_masking_lstm_gru).
 */
import * as tf from '@tensorflow/tfjs';
import { ResetAfterGRU, resetAfterGRUReplacement } from '../../src/tfjs_compat/gru_lacks_reset_after';

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** Keras's reset-after GRU over one sequence, float64; kernel [D, 3U], rec [U, 3U], bias [2, 3U]; gates z, r, h. */
function reference(xs: number[][], kernel: number[][], rec: number[][], bias: number[][], U: number): number[][] {
  let h = new Array(U).fill(0);
  const out: number[][] = [];
  for (const x of xs) {
    const mx = Array.from({ length: 3 * U }, (_, j) => bias[0][j] + x.reduce((s, v, i) => s + v * kernel[i][j], 0));
    const mh = Array.from({ length: 3 * U }, (_, j) => bias[1][j] + h.reduce((s, v, i) => s + v * rec[i][j], 0));
    const z = h.map((_, u) => sigmoid(mx[u] + mh[u]));
    const r = h.map((_, u) => sigmoid(mx[U + u] + mh[U + u]));
    const hh = h.map((_, u) => Math.tanh(mx[2 * U + u] + r[u] * mh[2 * U + u]));
    h = h.map((hv, u) => z[u] * hv + (1 - z[u]) * hh[u]);
    out.push(h);
  }
  return out;
}

describe('tfjs behaviour: GRU with resetAfter', () => {
  it('pin: tfjs refuses it', () => {
    expect(() => tf.layers.gru({ units: 2, resetAfter: true } as never)).toThrow(/GRUCell does not support reset_after parameter set to true/);
  });
});

describe('ResetAfterGRU', () => {
  const kernel = [[0.5, -0.3, 0.8, 0.1, -0.6, 0.2]];
  const rec = [[0.2, 0.1, -0.4, 0.3, 0.7, -0.2], [-0.5, 0.6, 0.1, -0.1, 0.3, 0.4]];
  const bias = [[0.1, -0.2, 0.05, 0.3, -0.1, 0.2], [-0.3, 0.1, 0.2, -0.05, 0.15, -0.25]];
  const xs = [[1], [-0.5], [2]];

  it('computes Keras\'s reset-after GRU (sequences and last state), leaking nothing', () => {
    const layer = new ResetAfterGRU({ units: 2, returnSequences: true, recurrentActivation: 'sigmoid', activation: 'tanh' });
    const x = tf.tensor3d([xs]);
    layer.apply(x);
    layer.setWeights([tf.tensor2d(kernel), tf.tensor2d(rec), tf.tensor2d(bias)]);
    expect(layer.weights.map((w) => w.shape)).toEqual([[1, 6], [2, 6], [2, 6]]);
    const before = tf.memory().numTensors;
    const y = layer.apply(x) as tf.Tensor;
    expect(y).toBeAllClose([reference(xs, kernel, rec, bias, 2)], 1e-5);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('round-trips its config with resetAfter, and is what the loader builds for Keras\'s GRU(reset_after=True) only', () => {
    const layer = new ResetAfterGRU({ units: 3, name: 'g' });
    const config = layer.getConfig();
    expect(config.resetAfter).toBe(true);
    // A copy: tfjs's initializer deserialisation writes `customObjects` into the config it is given.
    expect(new ResetAfterGRU(JSON.parse(JSON.stringify(config))).getConfig()).toEqual(config);
    expect(resetAfterGRUReplacement('GRU', { reset_after: true })).toBe('ResetAfterGRU');
    expect(resetAfterGRUReplacement('GRU', { reset_after: false })).toBeUndefined();
    expect(resetAfterGRUReplacement('LSTM', { reset_after: true })).toBeUndefined();
  });
});
