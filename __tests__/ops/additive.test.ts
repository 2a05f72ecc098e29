import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { additiveAttention } from '../../src';
import { Arr, arr, nested, randn, refAttention, rng } from '../reference';

const t = (a: Arr): tf.Tensor => tf.tensor(Array.from(a.data), a.shape, 'float32');

/** Bahdanau's score Σ_h scale_h·tanh(q_h + k_h), in float64. */
const additiveScore = (scale: ArrayLike<number>) => (q: Float64Array, k: Float64Array): number => {
  let s = 0;
  for (let h = 0; h < q.length; h++) s += scale[h] * Math.tanh(q[h] + k[h]);
  return s;
};

describe('additiveAttention', () => {
  it('matches the float64 reference with a vector scale, masks and causality (property)', () => {
    fc.assert(
      fc.property(
        fc.record({
          B: fc.integer({ min: 1, max: 3 }),
          T: fc.integer({ min: 1, max: 5 }),
          S: fc.integer({ min: 1, max: 6 }),
          H: fc.integer({ min: 1, max: 5 }),
          causal: fc.boolean(),
          masked: fc.boolean(),
          seed: fc.integer({ min: 1, max: 1e6 }),
        }),
        ({ B, T, S, H, causal, masked, seed }) => {
          const q = randn([B, T, H], seed);
          const k = randn([B, S, H], seed + 1);
          const v = randn([B, S, 3], seed + 2);
          const scale = randn([H], seed + 3);
          let mask: Arr | undefined;
          if (masked) {
            const r = rng(seed + 4);
            mask = arr([B, 1, S]);
            for (let i = 0; i < mask.data.length; i++) mask.data[i] = r() < 0.7 ? 1 : 0;
          }
          // computed by the float64 reference in __tests__/reference.ts
          const ref = refAttention(q, k, v, { mask, causal, score: additiveScore(scale.data) });
          const out = tf.tidy(() =>
            additiveAttention(t(q), t(k), t(v), {
              scale: t(scale),
              causal,
              mask: mask === undefined ? undefined : t(mask),
            }).arraySync(),
          );
          expect(out).toBeAllClose(nested(ref.output), 1e-4);
        },
      ),
      { seed: 7, numRuns: 30 },
    );
  });

  it('uses scale 1 by default and accepts a number, returning weights on request', () => {
    const q = randn([2, 3, 4], 1);
    const k = randn([2, 5, 4], 2);
    const ref1 = refAttention(q, k, k, { score: additiveScore([1, 1, 1, 1]) });
    const ref2 = refAttention(q, k, k, { score: additiveScore([2.5, 2.5, 2.5, 2.5]) });
    const a = additiveAttention(t(q), t(k), t(k));
    const b = additiveAttention(t(q), t(k), t(k), { scale: 2.5, returnWeights: true });
    expect(a).toBeAllClose(nested(ref1.output), 1e-4);
    expect(b.output).toBeAllClose(nested(ref2.output), 1e-4);
    expect(b.weights).toBeAllClose(nested(ref2.weights), 1e-5);
    tf.dispose([a, b.output, b.weights]);
  });

  it('returns zeros for a fully masked row and does not leak', () => {
    const q = tf.randomNormal([1, 2, 3]);
    const mask = tf.tensor2d([[1, 1, 0], [0, 0, 0]], [2, 3], 'bool');
    const before = tf.memory().numTensors;
    const out = additiveAttention(q, tf.ones([1, 3, 3]), tf.ones([1, 3, 2]), { mask });
    expect(tf.memory().numTensors).toBe(before + 3); // out and the two inline tensors
    expect(out.arraySync()).toEqual([[[1, 1], [0, 0]]].map((r) => r.map((x) => x.map((y) => expect.closeTo(y, 5)))));
    tf.dispose([q, mask, out]);
  });

  it.each([
    [{ scale: NaN }, /additiveAttention: expected `scale` to be a finite number or a vector \[4\], but got NaN/],
    [{ scale: [1, 2] }, /additiveAttention: expected `scale` to be a number or a float32 vector \[4\], but got dtype float32 with shape \[2\]/],
    [{ dropout: 2 }, /additiveAttention: expected `dropout` to be a number in \[0, 1\), but got 2/],
    [{ mask: [[[1, 1]]] }, /additiveAttention: expected `mask` to broadcast to \[1,3,5\], but got shape \[1,1,2\]/],
  ])('rejects %j before allocating', (opts, msg) => {
    const q = tf.zeros([1, 3, 4]);
    const k = tf.zeros([1, 5, 4]);
    const before = tf.memory().numTensors;
    expect(() => additiveAttention(q, k, k, opts as object)).toThrow(msg);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([q, k]);
  });
});
