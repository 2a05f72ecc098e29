import * as tf from '@tensorflow/tfjs';
import { attention, model } from '../src';
import { arr, nested, randn, refAttention } from './reference';

describe('attention', () => {
  it('equals the unscaled float64 softmax(Q·Kᵀ)·V of the reference', () => {
    const q = randn([1, 10, 20], 1);
    const k = randn([1, 20, 20], 2);
    const v = randn([1, 20, 20], 3);
    // computed by the float64 reference in __tests__/reference.ts, scale 1 (the article does not scale)
    const expected = refAttention(q, k, v, { scale: 1 }).output;
    const out = attention(tf.tensor(nested(q) as number[][][]), tf.tensor(nested(k) as number[][][]), tf.tensor(nested(v) as number[][][]));
    expect(out.shape).toEqual([1, 10, 20]);
    expect(out).toBeAllClose(nested(expected), 1e-4);
    out.dispose();
  });

  it('broadcasts batch dimensions as tf.matmul does', () => {
    const q = randn([2, 1, 3, 4], 4);
    const k = randn([1, 5, 6, 4], 5);
    const v = randn([1, 5, 6, 2], 6);
    const out = attention(nested(q) as number[][][][], nested(k) as number[][][][], nested(v) as number[][][][]);
    expect(out.shape).toEqual([2, 5, 3, 2]);
    // Spot-check one broadcast slice against the reference.
    const slice = out.slice([1, 3, 0, 0], [1, 1, 3, 2]);
    const qs = arr([1, 3, 4], q.data.subarray(12, 24));
    const ks = arr([1, 6, 4], k.data.subarray(3 * 24, 4 * 24));
    const vs = arr([1, 6, 2], v.data.subarray(3 * 12, 4 * 12));
    expect(slice).toBeAllClose(nested(refAttention(qs, ks, vs, { scale: 1 }).output), 1e-5);
    tf.dispose([out, slice]);
  });

  it('accepts nested arrays and a hand-computed case', () => {
    // Q·Kᵀ = [[0, 1]] → weights [1/(1+e), e/(1+e)]; output = weights·V.
    const out = attention([[1, 0]], [[0, 0], [1, 0]], [[10, 0], [0, 10]]);
    const e = Math.E;
    expect(out).toBeAllClose([[10 / (1 + e), (10 * e) / (1 + e)]], 1e-4);
    out.dispose();
  });
});

describe('model', () => {
  it('calls attention on [query, key, value]', () => {
    const q = tf.randomNormal([1, 10, 20], 0, 1, 'float32', 7);
    const k = tf.randomNormal([1, 20, 20], 0, 1, 'float32', 8);
    const v = tf.randomNormal([1, 20, 20], 0, 1, 'float32', 9);
    const a = model([q, k, v]);
    const b = attention(q, k, v);
    expect(a).toBeAllClose(b, 0);
    tf.dispose([q, k, v, a, b]);
  });

  it("answers the article's own shapes with an error naming both shapes, allocating nothing", () => {
    const q = tf.randomNormal([1, 10, 20]);
    const k = tf.randomNormal([1, 20, 10]);
    const v = tf.randomNormal([1, 20, 20]);
    const before = tf.memory().numTensors;
    expect(() => model([q, k, v])).toThrow(
      'model: Q·Kᵀ needs Q and K to have the same last dimension, but got Q [1,10,20] and K [1,20,10] (20 ≠ 10).',
    );
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([q, k, v]);
  });

  it.each([
    ['K and V lengths', [1, 4, 8], [1, 6, 8], [1, 5, 8], /K and V to have the same length.*K \[1,6,8\] and V \[1,5,8\] \(6 ≠ 5\)/],
    ['rank 1 Q', [8], [6, 8], [6, 8], /expected `Q` to have rank >= 2, but got rank 1/],
    ['batch dims', [2, 4, 8], [3, 6, 8], [3, 6, 8], /batch dimensions of Q, K and V: expected shapes that broadcast together, but got \[2\], \[3\], \[3\]/],
  ])('rejects mismatched %s before allocating', (_name, qs, ks, vs, msg) => {
    const [q, k, v] = [qs, ks, vs].map((s) => tf.zeros(s as number[]));
    const before = tf.memory().numTensors;
    expect(() => attention(q, k, v)).toThrow(msg as RegExp);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([q, k, v]);
  });

  it('rejects integer tensors and a wrong-length inputData', () => {
    const q = tf.zeros([2, 3], 'int32');
    const f = tf.zeros([2, 3]);
    expect(() => attention(q, f, f)).toThrow(/expected `Q` to be a float32 tensor, but got dtype int32 with shape \[2,3\]/);
    expect(() => model([f, f] as unknown as [tf.Tensor, tf.Tensor, tf.Tensor])).toThrow(
      /model: expected inputData to be \[query, key, value\], but got an array of length 2/,
    );
    tf.dispose([q, f]);
  });

  it('does not leak tensors', () => {
    const q = tf.randomNormal([2, 3, 4]);
    const before = tf.memory().numTensors;
    const out = model([q, q, q]);
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([q, out]);
  });
});
