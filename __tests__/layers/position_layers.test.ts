import * as tf from '@tensorflow/tfjs';
import { PositionEmbedding, RotaryEmbedding, SinePositionEncoding } from '../../src';
import { nested, randn, refRotary, transpose } from '../reference';
import { expectConfigRoundTrip, t } from './helpers';

describe('SinePositionEncoding', () => {
  it('gives sin at even and cos at odd features, with wavelengths 10000^(2⌊d/2⌋/D)', () => {
    const layer = new SinePositionEncoding();
    const out = layer.apply(tf.zeros([2, 3, 4])) as tf.Tensor;
    expect(out.shape).toEqual([2, 3, 4]);
    // Position p, D=4: [sin(p), cos(p), sin(p/100), cos(p/100)] (Vaswani et al. 2017, §3.5).
    const rows = [0, 1, 2].map((p) => [Math.sin(p), Math.cos(p), Math.sin(p / 100), Math.cos(p / 100)]);
    expect(out).toBeAllClose([rows, rows], 1e-6);
    const shifted = layer.apply(tf.zeros([1, 1, 4]), { startIndex: 2 }) as tf.Tensor;
    expect(shifted).toBeAllClose([[rows[2]]], 1e-6);
  });

  it('has no weights, passes masks, round-trips, rejects bad args', () => {
    const layer = new SinePositionEncoding({ maxWavelength: 500 });
    expect(layer.computeOutputShape([null, 7, 6])).toEqual([null, 7, 6]);
    expectConfigRoundTrip(layer);
    expect(() => new SinePositionEncoding({ maxWavelength: 0 })).toThrow(/SinePositionEncoding: expected maxWavelength to be a positive number, but got maxWavelength=0/);
    expect(() => layer.apply(tf.zeros([3]))).toThrow(/expected an input of rank >= 2, but got shape \[3\]/);
  });
});

describe('PositionEmbedding', () => {
  it('returns the first T rows of its table (from startIndex), broadcast to the input', () => {
    const layer = new PositionEmbedding({ sequenceLength: 6 });
    layer.apply(tf.zeros([1, 4, 3]));
    const table = randn([6, 3], 1);
    layer.setWeights([t(table)]);
    expect(layer.weights[0].originalName.split('/').pop()).toBe('embeddings');
    const out = layer.apply(tf.zeros([2, 4, 3])) as tf.Tensor;
    const rows = (nested(table) as number[][]).slice(0, 4);
    expect(out).toBeAllClose([rows, rows], 1e-6);
    const later = layer.apply(tf.zeros([1, 2, 3]), { startIndex: 4 }) as tf.Tensor;
    expect(later).toBeAllClose([(nested(table) as number[][]).slice(4, 6)], 1e-6);
  });

  it('round-trips, rejects bad args and too long sequences', () => {
    const layer = new PositionEmbedding({ sequenceLength: 4, initializer: 'randomNormal' });
    expectConfigRoundTrip(layer);
    expect(() => new PositionEmbedding({ sequenceLength: 0 })).toThrow(/PositionEmbedding: expected sequenceLength to be a positive integer, but got sequenceLength=0/);
    expect(() => layer.apply(tf.zeros([1, 5, 2]))).toThrow(/expected at most sequenceLength=4 positions, but got 5 positions from startIndex=0/);
  });

  it('trains its table and does not leak', async () => {
    const inp = tf.input({ shape: [4, 3] });
    const model = tf.model({ inputs: inp, outputs: new PositionEmbedding({ sequenceLength: 4 }).apply(inp) as tf.SymbolicTensor });
    model.compile({ optimizer: tf.train.adam(0.1), loss: 'meanSquaredError' });
    const x = tf.zeros([8, 4, 3]);
    const y = tf.ones([8, 4, 3]);
    const before = tf.memory().numTensors;
    tf.dispose(model.predict(x) as tf.Tensor);
    expect(tf.memory().numTensors).toBe(before);
    const h = await model.fit(x, y, { epochs: 20, verbose: 0 });
    const loss = h.history['loss'] as number[];
    expect(loss[loss.length - 1]).toBeLessThan(loss[0] / 2);
    tf.dispose([x, y]);
  });
});

describe('RotaryEmbedding', () => {
  it("rotates split halves as keras-hub does (float64 reference), with scalingFactor and startIndex", () => {
    const x = randn([2, 5, 6], 2);
    const layer = new RotaryEmbedding({ maxWavelength: 100, scalingFactor: 2 });
    expect(layer.apply(t(x), { startIndex: 3 })).toBeAllClose(nested(refRotary(x, 100, 2, 3)), 1e-5);
  });

  it('honours sequenceAxis and featureAxis', () => {
    // [B, H, T, D] with sequenceAxis 2 equals [B, T, H, D] rotated along axis 1.
    const x = randn([2, 3, 5, 4], 3);
    const layer = new RotaryEmbedding({ sequenceAxis: 2, featureAxis: 3 });
    const ref = refRotary(x);
    expect(layer.apply(t(x))).toBeAllClose(nested(ref), 1e-5);
    const standard = new RotaryEmbedding();
    const xt = transpose(x, [0, 2, 1, 3]);
    expect(standard.apply(t(xt))).toBeAllClose(nested(transpose(ref, [0, 2, 1, 3])), 1e-5);
  });

  it('round-trips, rejects bad args, does not leak', () => {
    const layer = new RotaryEmbedding({ sequenceAxis: 1, featureAxis: -1, scalingFactor: 4 });
    expectConfigRoundTrip(layer);
    expect(() => new RotaryEmbedding({ scalingFactor: -1 })).toThrow(/RotaryEmbedding: expected scalingFactor to be a positive number, but got scalingFactor=-1/);
    expect(() => new RotaryEmbedding({ sequenceAxis: 1.5 })).toThrow(/expected sequenceAxis to be an integer axis, but got sequenceAxis=1.5/);
    expect(() => layer.apply(tf.zeros([1, 2, 3]))).toThrow(/RotaryEmbedding: expected an even feature axis, but got shape \[1,2,3\]/);
    expect(() => new RotaryEmbedding({ sequenceAxis: 2, featureAxis: 2 }).apply(tf.zeros([1, 2, 4]))).toThrow(/expected distinct sequenceAxis and featureAxis/);
    const x = tf.zeros([1, 2, 4]);
    const before = tf.memory().numTensors;
    const y = layer.apply(x) as tf.Tensor;
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([x, y]);
  });
});
