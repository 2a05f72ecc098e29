import * as tf from '@tensorflow/tfjs';
import { alibiSlopes, layers, PositionalAttention, relativePositionBucket, SelfAttention } from '../../src';
import { Arr, arr, nested, randn, refMultiHead, refRotary, refT5Bucket } from '../reference';
import { expectConfigRoundTrip, fitLosses, mhaList, mhaWeights, t } from './helpers';

const B = 2;
const T = 6;
const D = 8;
const N = 2;
const K = 4;

function setUp<L extends SelfAttention>(layer: L, seed: number, extra: tf.Tensor[] = []) {
  const w = mhaWeights(D, D, D, N, K, K, D, seed);
  layer.apply(tf.zeros([1, T, D]));
  layer.setWeights([...mhaList(w), ...extra]);
  return w;
}

describe('SelfAttention', () => {
  it('is multi-head attention of a sequence over itself (float64 reference)', () => {
    const layer = new SelfAttention({ numHeads: N, keyDim: K });
    const w = setUp(layer, 1);
    const x = randn([B, T, D], 2);
    const [out, scores] = layer.apply(t(x), { returnAttentionScores: true }) as tf.Tensor[];
    const ref = refMultiHead(x, x, x, w);
    expect(out).toBeAllClose(nested(ref.output), 1e-4);
    expect(scores).toBeAllClose(nested(ref.scores), 1e-5);
  });

  it('is causal: changing later tokens leaves earlier outputs unchanged', () => {
    const layer = new SelfAttention({ numHeads: N, keyDim: K, useCausalMask: true });
    const w = setUp(layer, 3);
    const x = randn([1, T, D], 4);
    const x2 = arr(x.shape, x.data);
    for (let i = 4 * D; i < x2.data.length; i++) x2.data[i] += 3;
    const a = layer.apply(t(x)) as tf.Tensor;
    const b = layer.apply(t(x2)) as tf.Tensor;
    expect(a.slice([0, 0, 0], [1, 4, D])).toBeAllClose(b.slice([0, 0, 0], [1, 4, D]), 1e-6);
    expect(a.slice([0, 4, 0], [1, 2, D])).not.toBeAllClose(b.slice([0, 4, 0], [1, 2, D]), 1e-3);
    expect(a).toBeAllClose(nested(refMultiHead(x, x, x, w, { causal: true }).output), 1e-4);
  });

  it('hides padded keys given by a mask, and passes the mask on', () => {
    const layer = new SelfAttention({ numHeads: N, keyDim: K });
    const w = setUp(layer, 5);
    const x = randn([B, T, D], 6);
    const m = arr([B, T], [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]);
    const out = layer.call(t(x), { mask: t(m) }) as tf.Tensor;
    const mask4: Arr = arr([B, 1, T, T]);
    for (let b = 0; b < B; b++) for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) mask4.data[(b * T + i) * T + j] = m.data[b * T + i] * m.data[b * T + j];
    expect(out).toBeAllClose(nested(refMultiHead(x, x, x, w, { mask: mask4 }).output), 1e-4);
    expect(layer.computeMask(t(x), t(m))).toBeAllClose(nested(m), 0);
  });

  it('computeOutputShape equals the real shape; config round-trips', () => {
    const layer = new SelfAttention({ numHeads: 3, keyDim: 2, outputShape: 5, returnAttentionScores: true });
    const [o, s] = layer.apply(tf.zeros([2, 7, 4])) as tf.Tensor[];
    expect(layer.computeOutputShape([2, 7, 4])).toEqual([o.shape, s.shape]);
    expectConfigRoundTrip(layer);
  });

  it.each([
    [{ numHeads: 0, keyDim: 2 }, /SelfAttention: expected numHeads to be a positive integer, but got numHeads=0/],
    [{ numHeads: 2, keyDim: 1.5 }, /SelfAttention: expected keyDim to be a positive integer, but got keyDim=1.5/],
    [{ numHeads: 2, keyDim: 2, outputShape: 0 }, /expected outputShape to be a positive integer, but got outputShape=0/],
    [{ numHeads: 2, keyDim: 2, useCausalMask: 'yes' }, /expected useCausalMask to be a boolean, but got useCausalMask="yes"/],
  ])('rejects %j', (args, msg) => {
    expect(() => new SelfAttention(args as ConstructorParameters<typeof SelfAttention>[0])).toThrow(msg);
  });

  it('trains and does not leak', async () => {
    const inp = tf.input({ shape: [5, 4] });
    const model = tf.model({ inputs: inp, outputs: layers.selfAttention({ numHeads: 2, keyDim: 4, useCausalMask: true }).apply(inp) as tf.SymbolicTensor });
    const x = tf.randomNormal([16, 5, 4], 0, 1, 'float32', 7);
    const y = tf.tidy(() => tf.cumsum(x, 1).div(3));
    const before = tf.memory().numTensors;
    tf.dispose(model.predict(x) as tf.Tensor);
    expect(tf.memory().numTensors).toBe(before);
    const [first, last] = await fitLosses(model, x, y, 30);
    expect(last).toBeLessThan(first * 0.7);
    tf.dispose([x, y]);
  });
});

describe('PositionalAttention', () => {
  it('rotary: equals the reference with keras-hub rotations of queries and keys', () => {
    const layer = new PositionalAttention({ numHeads: N, keyDim: K, position: 'rotary' });
    const w = setUp(layer, 11);
    const x = randn([B, T, D], 12);
    const out = layer.apply(t(x)) as tf.Tensor;
    const ref = refMultiHead(x, x, x, w, {}, (q, k) => [refRotary(q), refRotary(k)]);
    expect(out).toBeAllClose(nested(ref.output), 1e-4);
  });

  it('rotary: scores depend only on the relative position', () => {
    // One head, identity projections: the score of query at m and key at n is q·R(n-m)·k.
    const layer = new PositionalAttention({ numHeads: 1, keyDim: 4, position: 'rotary', useBias: false, returnAttentionScores: true });
    layer.apply(tf.zeros([1, 8, 4]));
    const eye = tf.eye(4);
    layer.setWeights([eye.reshape([4, 1, 4]), eye.reshape([4, 1, 4]), eye.reshape([4, 1, 4]), eye.reshape([1, 4, 4])]);
    // The same vector at every position: scores[m][n] then depends on n - m only.
    const x = tf.tile(tf.tensor3d([[[0.3, -1.2, 0.8, 0.5]]]), [1, 8, 1]);
    const [, s] = layer.apply(x) as tf.Tensor[];
    const logits = tf.log(s).arraySync() as number[][][][];
    const L = logits[0][0];
    // log-softmax differences within a row: logit(m, m+d) - logit(m, m) is the same for every m.
    for (const m of [1, 2, 3]) {
      for (const d of [1, 2, 3]) {
        expect(L[m][m + d] - L[m][m]).toBeCloseTo(L[0][d] - L[0][0], 4);
      }
    }
  });

  it('alibi: adds -slope·|i-j| per head (float64 reference), with the published slopes', () => {
    expect(alibiSlopes(8)).toEqual([1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128, 1 / 256]);
    // Press et al.'s code for 6 heads: the 4-head slopes, then every other slope of 8 heads.
    const s6 = alibiSlopes(6);
    [0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125].forEach((v, i) => expect(s6[i]).toBeCloseTo(v, 12));
    const layer = new PositionalAttention({ numHeads: N, keyDim: K, position: 'alibi', useCausalMask: true });
    const w = setUp(layer, 13);
    const x = randn([B, T, D], 14);
    const bias = arr([N, T, T]);
    const slopes = [Math.pow(2, -4), Math.pow(2, -8)]; // 2 heads: 2^(-8/2·i)
    for (let n = 0; n < N; n++) for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) bias.data[(n * T + i) * T + j] = -slopes[n] * Math.abs(i - j);
    const out = layer.apply(t(x)) as tf.Tensor;
    expect(out).toBeAllClose(nested(refMultiHead(x, x, x, w, { causal: true, bias }).output), 1e-4);
  });

  it('relative: buckets match T5 and the learned bias table enters the scores', () => {
    for (const bidi of [true, false]) {
      for (let r = -300; r <= 300; r += 7) {
        expect(relativePositionBucket(r, bidi, 32, 128)).toBe(refT5Bucket(r, bidi, 32, 128));
      }
    }
    const table = randn([32, N], 15);
    const layer = new PositionalAttention({ numHeads: N, keyDim: K, position: 'relative' });
    const w = setUp(layer, 16, [t(table)]);
    expect(layer.weights.map((v) => v.originalName.split('/').pop())[8]).toBe('relative_attention_bias');
    const x = randn([B, T, D], 17);
    const bias = arr([N, T, T]);
    for (let n = 0; n < N; n++)
      for (let i = 0; i < T; i++)
        for (let j = 0; j < T; j++) bias.data[(n * T + i) * T + j] = table.data[refT5Bucket(j - i, true, 32, 128) * N + n];
    const out = layer.apply(t(x)) as tf.Tensor;
    expect(out).toBeAllClose(nested(refMultiHead(x, x, x, w, { bias }).output), 1e-4);
    // Any sequence length works with the same table.
    expect((layer.apply(tf.zeros([1, 40, D])) as tf.Tensor).shape).toEqual([1, 40, D]);
  });

  it.each(['rotary', 'alibi', 'relative'] as const)('%s: trains, config round-trips, no leaks', async (position) => {
    const layer = layers.positionalAttention({ numHeads: 2, keyDim: 4, position, useCausalMask: true });
    const inp = tf.input({ shape: [5, 4] });
    const model = tf.model({ inputs: inp, outputs: layer.apply(inp) as tf.SymbolicTensor });
    expectConfigRoundTrip(layer);
    const x = tf.randomNormal([16, 5, 4], 0, 1, 'float32', 8);
    const y = tf.tidy(() => tf.cumsum(x, 1).div(3));
    const before = tf.memory().numTensors;
    tf.dispose(model.predict(x) as tf.Tensor);
    expect(tf.memory().numTensors).toBe(before);
    const [first, last] = await fitLosses(model, x, y, 30);
    expect(last).toBeLessThan(first * 0.7);
    tf.dispose([x, y]);
  });

  it.each([
    [{ numHeads: 2, keyDim: 4 }, /PositionalAttention: expected position to be one of 'rotary', 'alibi', 'relative', but got position=undefined/],
    [{ numHeads: 2, keyDim: 4, position: 'sinusoid' }, /expected position to be one of 'rotary', 'alibi', 'relative', but got position="sinusoid"/],
    [{ numHeads: 2, keyDim: 3, position: 'rotary' }, /rotary position needs an even keyDim, but got keyDim=3/],
    [{ numHeads: 2, keyDim: 4, position: 'relative', numBuckets: 2 }, /expected numBuckets to be at least 4, but got numBuckets=2/],
    [{ numHeads: 2, keyDim: 4, position: 'relative', maxDistance: 0 }, /expected maxDistance to be a positive integer, but got maxDistance=0/],
    [{ numHeads: 0, keyDim: 4, position: 'alibi' }, /PositionalAttention: expected numHeads to be a positive integer, but got numHeads=0/],
  ])('rejects %j', (args, msg) => {
    expect(() => new PositionalAttention(args as ConstructorParameters<typeof PositionalAttention>[0])).toThrow(msg);
  });
});
