import * as tf from '@tensorflow/tfjs';
import { AdditiveAttention, Attention, ContentAttention, layers } from '../../src';
import { arr, map, nested, randn, refAttention, RefOptions } from '../reference';
import { expectConfigRoundTrip, fitLosses, t } from './helpers';

const B = 2;
const T = 3;
const S = 5;
const D = 4;
const q = randn([B, T, D], 1);
const v = randn([B, S, 3], 2);
const k = randn([B, S, D], 3);
const vMask = arr([B, S], [1, 1, 1, 0, 0, 1, 1, 1, 1, 1]);
const qMask = arr([B, T], [1, 1, 0, 1, 1, 1]);
const keyMask4 = { shape: [B, 1, S], data: vMask.data };

const dot = (scale: number) => (a: Float64Array, b: Float64Array) => scale * a.reduce((s, x, i) => s + x * b[i], 0);
const tanhSum = (w: ArrayLike<number>, inner = 1, outer = 1) => (a: Float64Array, b: Float64Array) =>
  outer * a.reduce((s, x, i) => s + w[i] * Math.tanh(inner * (x + b[i])), 0);

/** Keras's Attention result: weights from the scores, the output masked by the query mask. */
function kerasRef(score: RefOptions['score'], opts: RefOptions = {}, queryMask = qMask) {
  const r = refAttention(q, k, v, { score, emptyRows: 'uniform', ...opts });
  const out = map(r.output, (x, i) => x * queryMask.data[Math.floor(i / 3)]);
  return { out, weights: r.weights };
}

describe('Attention', () => {
  it.each([
    ['dot', {}, dot(1)],
    ['dot with a learned scale', { useScale: true }, dot(0.7)],
    ['concat', { scoreMode: 'concat' }, tanhSum([1, 1, 1, 1], 1, 1.3)],
    ['concat with a learned scale', { scoreMode: 'concat', useScale: true }, tanhSum([1, 1, 1, 1], 0.7, 1.3)],
  ] as const)("computes Keras's %s scores, masks and weights (float64 reference)", (_n, args, score) => {
    const layer = new Attention(args as ConstructorParameters<typeof Attention>[0]);
    layer.apply([t(q), t(v), t(k)]);
    const ws = layer.weights.map((w) => (w.originalName.endsWith('scale') ? tf.scalar(0.7) : tf.scalar(1.3)));
    layer.setWeights(ws);
    const [out, w] = layer.call([t(q), t(v), t(k)], { mask: [t(qMask), t(vMask)], returnAttentionScores: true, useCausalMask: true }) as tf.Tensor[];
    const ref = kerasRef(score, { mask: keyMask4, causal: true });
    expect(out).toBeAllClose(nested(ref.out), 1e-4);
    expect(w).toBeAllClose(nested(ref.weights), 1e-5);
  });

  it("names its weights as Keras does", () => {
    const layer = new Attention({ useScale: true, scoreMode: 'concat' });
    layer.apply([t(q), t(v), t(k)]);
    expect(layer.weights.map((w) => [w.originalName.split('/').pop(), w.shape])).toEqual([['scale', []], ['concat_score_weight', []]]);
  });

  it('computeOutputShape equals the real shape; config round-trips; bad args are rejected', () => {
    const layer = new Attention({ returnAttentionScores: true, dropout: 0.1, seed: 2 });
    const [o, w] = layer.apply([t(q), t(v), t(k)]) as tf.Tensor[];
    expect(layer.computeOutputShape([[B, T, D], [B, S, 3], [B, S, D]])).toEqual([o.shape, w.shape]);
    expectConfigRoundTrip(layer);
    expect(() => new Attention({ scoreMode: 'luong' as 'dot' })).toThrow(/Attention: expected scoreMode to be one of 'dot', 'concat', but got scoreMode="luong"/);
    expect(() => new Attention({ dropout: 1 })).toThrow(/Attention: expected dropout to be a number in \[0, 1\), but got dropout=1/);
    expect(() => layer.apply([t(q)])).toThrow(/Attention: expected inputs \[query, value\] or \[query, value, key\], but got 1 input\(s\)/);
  });

  it('trains in a model without leaking tensors', async () => {
    const qi = tf.input({ shape: [3, 4] });
    const mi = tf.input({ shape: [5, 4] });
    const model = tf.model({ inputs: [qi, mi], outputs: layers.attention({ useScale: true, scoreMode: 'concat' }).apply([qi, mi]) as tf.SymbolicTensor });
    const xq = tf.randomNormal([16, 3, 4], 0, 1, 'float32', 4);
    const xm = tf.randomNormal([16, 5, 4], 0, 1, 'float32', 5);
    const y = tf.tidy(() => tf.tile(tf.mean(xm, 1, true), [1, 3, 1]));
    const before = tf.memory().numTensors;
    tf.dispose(model.predict([xq, xm]) as tf.Tensor);
    expect(tf.memory().numTensors).toBe(before);
    const [first, last] = await fitLosses(model, [xq, xm], y, 25);
    expect(last).toBeLessThan(first);
    tf.dispose([xq, xm, y]);
  });
});

describe('AdditiveAttention', () => {
  it("computes Keras's Bahdanau scores with the learned scale (float64 reference)", () => {
    const layer = new AdditiveAttention();
    layer.apply([t(q), t(v), t(k)]);
    const scale = randn([D], 9);
    layer.setWeights([t(scale)]);
    expect(layer.weights.map((w) => [w.originalName.split('/').pop(), w.shape])).toEqual([['scale', [D]]]);
    const out = layer.call([t(q), t(v), t(k)], { mask: [t(qMask), t(vMask)] }) as tf.Tensor;
    expect(out).toBeAllClose(nested(kerasRef(tanhSum(scale.data), { mask: keyMask4 }).out), 1e-4);
    const noScale = new AdditiveAttention({ useScale: false });
    expect(noScale.call([t(q), t(v), t(k)], {})).toBeAllClose(nested(kerasRef(tanhSum([1, 1, 1, 1]), {}, arr([B, T], [1, 1, 1, 1, 1, 1])).out), 1e-4);
  });

  it('config round-trips without scoreMode; rejects scoreMode', () => {
    const layer = new AdditiveAttention({ useScale: false });
    expect(layer.getConfig()['scoreMode']).toBeUndefined();
    expectConfigRoundTrip(layer);
    expect(() => new AdditiveAttention({ scoreMode: 'dot' } as never)).toThrow(/AdditiveAttention: scoreMode is not an argument of AdditiveAttention/);
  });
});

describe('ContentAttention', () => {
  const w2 = randn([D, D], 20, 0.5);
  const wq = randn([D, 6], 21, 0.5);
  const wk = randn([D, 6], 22, 0.5);
  const sv = randn([6], 23);
  const proj = (x: Float64Array, W: Float64Array, cols: number) =>
    Float64Array.from({ length: cols }, (_, c) => x.reduce((s, xi, r) => s + xi * W[r * cols + c], 0));
  const norm = (x: Float64Array) => Math.sqrt(x.reduce((s, a) => s + a * a, 0) + 1e-12);
  it.each([
    ['dot', [] as Float64Array[], dot(1)],
    ['general', [w2.data], (a: Float64Array, b: Float64Array) => dot(1)(proj(a, w2.data, D), b)],
    ['additive', [wq.data, wk.data, sv.data], (a: Float64Array, b: Float64Array) => tanhSum(sv.data)(proj(a, wq.data, 6), proj(b, wk.data, 6))],
    ['cosine', [Float64Array.of(2.5)], (a: Float64Array, b: Float64Array) => (2.5 * dot(1)(a, b)) / (norm(a) * norm(b))],
  ] as const)('scores by %s (float64 reference), with masks and causality', (score, weights, fn) => {
    const layer = new ContentAttention({ score, units: score === 'additive' ? 6 : undefined, useCausalMask: true });
    layer.apply([t(q), t(v), t(k)]);
    const shapes = layer.weights.map((w) => w.shape as number[]);
    layer.setWeights(weights.map((w, i) => tf.tensor(Array.from(w), shapes[i])));
    const out = layer.call([t(q), t(v), t(k)], { mask: [t(qMask), t(vMask)] }) as tf.Tensor;
    const ref = refAttention(q, k, v, { score: fn, mask: keyMask4, causal: true });
    const expected = map(ref.output, (x, i) => x * qMask.data[Math.floor(i / 3)]);
    expect(out).toBeAllClose(nested(expected), 1e-4);
  });

  it('dot has no weights', () => {
    const layer = new ContentAttention({ score: 'dot' });
    layer.apply([t(q), t(v), t(k)]);
    expect(layer.weights).toHaveLength(0);
  });

  it.each(['general', 'additive', 'cosine'] as const)('%s trains, round-trips its config and does not leak', async (score) => {
    const layer = layers.contentAttention({ score });
    const qi = tf.input({ shape: [3, 4] });
    const mi = tf.input({ shape: [5, 4] });
    const model = tf.model({ inputs: [qi, mi], outputs: layer.apply([qi, mi]) as tf.SymbolicTensor });
    expectConfigRoundTrip(layer);
    const xq = tf.randomNormal([16, 3, 4], 0, 1, 'float32', 1);
    const xm = tf.randomNormal([16, 5, 4], 0, 1, 'float32', 2);
    const y = tf.tidy(() => tf.tile(tf.mean(xm, 1, true), [1, 3, 1]).add(xq.mul(0.1)));
    const before = tf.memory().numTensors;
    tf.dispose(model.predict([xq, xm]) as tf.Tensor);
    expect(tf.memory().numTensors).toBe(before);
    const [first, last] = await fitLosses(model, [xq, xm], y, 25);
    expect(last).toBeLessThan(first);
    tf.dispose([xq, xm, y]);
  });

  it('rejects bad arguments and mismatched depths', () => {
    expect(() => new ContentAttention({ score: 'luong' as 'dot' })).toThrow(/ContentAttention: expected score to be one of 'dot', 'general', 'additive', 'cosine', but got score="luong"/);
    expect(() => new ContentAttention({ units: 0 })).toThrow(/expected units to be a positive integer, but got units=0/);
    expect(() => new ContentAttention({ score: 'dot' }).apply([tf.zeros([1, 2, 3]), tf.zeros([1, 4, 5])])).toThrow(
      /ContentAttention: expected query and value \(the key\) of the same depth for score 'dot', but got query \[1,2,3\] and value \(the key\) \[1,4,5\]/,
    );
  });
});
