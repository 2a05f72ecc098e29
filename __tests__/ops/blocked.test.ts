/**
 * Every formulation of scaledDotProductAttention (naive, blocked, chunked,
 * with windows) against the float64 reference, with tiny blocks and chunks so
 * that every edge (ragged last block, T ≠ S, diagonal blocks, empty rows) is
 * exercised on small shapes.
 */
import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { scaledDotProductAttention } from '../../src';
import type { ScaledDotProductOptions } from '../../src';
import { Arr, arr, nested, randn, refAttention, rng } from '../reference';

const t = (a: Arr): tf.Tensor => tf.tensor(Array.from(a.data), a.shape, 'float32');

function randomMask(shape: number[], seed: number, pOn = 0.7): Arr {
  const r = rng(seed);
  const m = arr(shape);
  for (let i = 0; i < m.data.length; i++) m.data[i] = r() < pOn ? 1 : 0;
  return m;
}

const IMPLS = ['naive', 'blocked', 'chunked', 'fused'] as const;

describe('scaledDotProductAttention implementations', () => {
  it('agree with the float64 reference over shapes, masks, causality, windows and block sizes (property)', () => {
    fc.assert(
      fc.property(
        fc.record({
          B: fc.integer({ min: 1, max: 2 }),
          N: fc.integer({ min: 1, max: 3 }),
          T: fc.integer({ min: 1, max: 13 }),
          S: fc.integer({ min: 1, max: 13 }),
          H: fc.integer({ min: 1, max: 5 }),
          causal: fc.boolean(),
          window: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
          maskKind: fc.constantFrom('none', 'keys', 'full'),
          blockSize: fc.integer({ min: 1, max: 6 }),
          chunkSize: fc.integer({ min: 1, max: 6 }),
          impl: fc.constantFrom(...IMPLS),
          seed: fc.integer({ min: 1, max: 1e6 }),
        }),
        ({ B, N, T, S, H, causal, window, maskKind, blockSize, chunkSize, impl, seed }) => {
          const q = randn([B, N, T, H], seed);
          const k = randn([B, N, S, H], seed + 1);
          const v = randn([B, N, S, 3], seed + 2);
          const mask =
            maskKind === 'keys' ? randomMask([B, 1, 1, S], seed + 3) : maskKind === 'full' ? randomMask([B, N, T, S], seed + 3) : undefined;
          // computed by the float64 reference in __tests__/reference.ts
          const ref = refAttention(q, k, v, { mask, causal, window });
          const out = tf.tidy(() =>
            scaledDotProductAttention(t(q), t(k), t(v), {
              mask: mask === undefined ? undefined : t(mask),
              causal,
              window,
              implementation: impl,
              blockSize,
              chunkSize,
            }).arraySync(),
          );
          expect(out).toBeAllClose(nested(ref.output), 1e-4);
        },
      ),
      { seed: 2024, numRuns: 60 },
    );
  });

  it.each(['naive', 'blocked'] as const)('%s returns the reference weights with causal, window and bias', (impl) => {
    const q = randn([2, 9, 4], 1);
    const k = randn([2, 11, 4], 2);
    const bias = randn([9, 11], 3);
    const ref = refAttention(q, k, k, { causal: true, window: 3, bias });
    const r = scaledDotProductAttention(t(q), t(k), t(k), {
      causal: true,
      window: 3,
      bias: t(bias),
      implementation: impl,
      blockSize: 4,
      returnWeights: true,
    });
    expect(r.output).toBeAllClose(nested(ref.output), 1e-4);
    expect(r.weights).toBeAllClose(nested(ref.weights), 1e-5);
    tf.dispose([r.output, r.weights]);
  });

  it('fused gives the reference with a bias, a broadcast mask, causal and uniform empty rows', () => {
    const q = randn([2, 2, 5, 3], 51);
    const k = randn([2, 2, 7, 3], 52);
    const v = randn([2, 2, 7, 2], 53);
    const bias = randn([2, 1, 5, 7], 54);
    const mask = randomMask([1, 2, 5, 1], 55, 0.5);
    for (const emptyRows of ['zeros', 'uniform'] as const) {
      const ref = refAttention(q, k, v, { mask, bias, causal: true, emptyRows });
      const out = scaledDotProductAttention(t(q), t(k), t(v), { mask: t(mask), bias: t(bias), causal: true, emptyRows, implementation: 'fused' });
      expect(out).toBeAllClose(nested(ref.output), 1e-4);
      out.dispose();
    }
  });

  it.each(['naive', 'blocked'] as const)("%s gives Keras's uniform weights and mean values for empty rows with emptyRows 'uniform'", (impl) => {
    const q = randn([2, 5, 3], 41);
    const k = randn([2, 6, 3], 42);
    const v = randn([2, 6, 2], 43);
    const mask = randomMask([2, 5, 6], 44, 0.5);
    for (let j = 0; j < 6; j++) mask.data[1 * 6 + j] = 0; // row 1 of batch 0 sees nothing
    const ref = refAttention(q, k, v, { mask, emptyRows: 'uniform' });
    const r = scaledDotProductAttention(t(q), t(k), t(v), { mask: t(mask), emptyRows: 'uniform', implementation: impl, blockSize: 2, returnWeights: true });
    expect(r.output).toBeAllClose(nested(ref.output), 1e-4);
    expect(r.weights).toBeAllClose(nested(ref.weights), 1e-5);
    tf.dispose([r.output, r.weights]);
  });

  it('gives zeros for rows beyond the keys of a window (T > S + window) on every path', () => {
    const q = randn([1, 8, 2], 5);
    const k = randn([1, 3, 2], 6);
    for (const impl of IMPLS) {
      const out = scaledDotProductAttention(t(q), t(k), t(k), { window: 2, implementation: impl, blockSize: 3, chunkSize: 2 });
      const rows = out.arraySync() as number[][][];
      // Row i sees keys j in [i-2, i+2] ∩ [0, 3): rows 5..7 see nothing.
      expect(rows[0].slice(5).flat()).toBeAllClose([0, 0, 0, 0, 0, 0], 0);
      expect(out).toBeAllClose(nested(refAttention(q, k, k, { window: 2 }).output), 1e-4);
      out.dispose();
    }
  });

  it('local attention equals full attention under the equivalent band mask', () => {
    const q = t(randn([1, 2, 40, 8], 7));
    const k = t(randn([1, 2, 40, 8], 8));
    const band = tf.tidy(() => {
      const i = tf.range(0, 40).reshape([40, 1]);
      const j = tf.range(0, 40).reshape([1, 40]);
      return tf.lessEqual(tf.abs(tf.sub(i, j)), 5);
    });
    const local = scaledDotProductAttention(q, k, k, { window: 5, blockSize: 8 });
    const full = scaledDotProductAttention(q, k, k, { mask: band, implementation: 'naive' });
    expect(local).toBeAllClose(full, 1e-5);
    tf.dispose([q, k, band, local, full]);
  });

  it('chunked, blocked and fused gradients equal the naive gradients (mask, causal, ragged chunks)', () => {
    const q = t(randn([2, 2, 7, 4], 11));
    const k = t(randn([2, 2, 9, 4], 12));
    const v = t(randn([2, 2, 9, 3], 13));
    const mask = t(randomMask([2, 1, 7, 9], 14, 0.6));
    const R = t(randn([2, 2, 7, 3], 15));
    const grads = (impl: 'naive' | 'chunked' | 'blocked' | 'fused'): tf.Tensor[] =>
      tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.sum(tf.mul(scaledDotProductAttention(a, b, c, { mask, causal: true, implementation: impl, blockSize: 3, chunkSize: 2 }), R)),
      )([q, k, v]);
    const naive = grads('naive');
    for (const impl of ['chunked', 'blocked', 'fused'] as const) {
      const g = grads(impl);
      g.forEach((gi, i) => expect(gi).toBeAllClose(naive[i], 1e-4));
      tf.dispose(g);
    }
    tf.dispose([...naive, q, k, v, mask, R]);
  });

  it('chunked gradients give zeros, not NaN, for fully masked rows', () => {
    const q = t(randn([1, 3, 2], 21));
    const k = t(randn([1, 4, 2], 22));
    const mask = tf.tensor3d([1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1], [1, 3, 4], 'bool');
    const [gq, gk, gv] = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      tf.sum(scaledDotProductAttention(a, b, c, { mask, implementation: 'chunked', chunkSize: 3 })),
    )([q, k, k]);
    const dq = gq.arraySync() as number[][][];
    expect(dq[0][1]).toBeAllClose([0, 0], 0);
    for (const g of [gq, gk, gv]) expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([q, k, mask, gq, gk, gv]);
  });

  it('auto chooses the chunked path over the memory budget, with the same result', () => {
    const q = t(randn([1, 2, 30, 4], 31));
    const k = t(randn([1, 2, 30, 4], 32));
    const small = scaledDotProductAttention(q, k, k, { memoryBudget: 100, chunkSize: 7 });
    const naive = scaledDotProductAttention(q, k, k, { implementation: 'naive' });
    expect(small).toBeAllClose(naive, 1e-5);
    // Over budget, returnWeights still works: auto falls back to a path that has the weights.
    const r = scaledDotProductAttention(q, k, k, { memoryBudget: 100, returnWeights: true });
    expect(r.weights.shape).toEqual([1, 2, 30, 30]);
    tf.dispose([q, k, small, naive, r.output, r.weights]);
  });

  it.each(IMPLS)('%s does not leak tensors, forward or backward', (impl) => {
    const q = tf.randomNormal([1, 2, 6, 4]);
    const m = tf.ones([1, 1, 1, 6], 'bool');
    const before = tf.memory().numTensors;
    const out = scaledDotProductAttention(q, q, q, { mask: m, causal: true, implementation: impl, blockSize: 4, chunkSize: 4 });
    expect(tf.memory().numTensors).toBe(before + 1);
    const g = tf.grad((x: tf.Tensor) => tf.sum(scaledDotProductAttention(x, x, x, { implementation: impl, chunkSize: 4 })))(q);
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([out, g, q, m]);
  });

  const base = (): [tf.Tensor, tf.Tensor] => [tf.zeros([1, 3, 4]), tf.zeros([1, 3, 3])];
  it.each([
    [{ window: -1 }, /expected `window` to be a non-negative integer, but got -1/],
    [{ window: 1.5 }, /expected `window` to be a non-negative integer, but got 1.5/],
    [{ blockSize: 0 }, /expected `blockSize` to be a positive integer, but got 0/],
    [{ chunkSize: 2.5 }, /expected `chunkSize` to be a positive integer, but got 2.5/],
    [{ memoryBudget: -5 }, /expected `memoryBudget` to be a positive number of bytes, but got -5/],
    [{ implementation: 'flash' }, /expected `implementation` to be one of 'auto', 'naive', 'blocked', 'chunked', 'fused', 'simd', but got flash/],
    [{ implementation: 'fused', returnWeights: true }, /implementation 'fused' does not support returnWeights/],
    [{ implementation: 'fused', dropout: 0.2, training: true }, /implementation 'fused' does not support dropout while training/],
    [{ implementation: 'chunked', returnWeights: true }, /implementation 'chunked' does not support returnWeights/],
    [{ implementation: 'chunked', dropout: 0.1, training: true }, /implementation 'chunked' does not support dropout while training/],
  ])('rejects %j before allocating', (opts, msg) => {
    const [q, v] = base();
    const before = tf.memory().numTensors;
    expect(() => scaledDotProductAttention(q, q, v, opts as ScaledDotProductOptions)).toThrow(msg);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([q, v]);
  });

  it('rejects a bias on the chunked path', () => {
    const [q, v] = base();
    const b = tf.zeros([3, 3]);
    expect(() => scaledDotProductAttention(q, q, v, { implementation: 'chunked', bias: b })).toThrow(
      /implementation 'chunked' does not support bias/,
    );
    tf.dispose([q, v, b]);
  });
});
