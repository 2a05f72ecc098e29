/**
 * Red-team variations of issue 11 items 1–2 on the functional core (cpu and
 * wasm): scores that overflow float32, `+Infinity` biases, and `'uniform'`
 * empty rows under a padding mask. Expected values by reasoning (the limit
 * of the softmax in float64), stated per case.
 */
import * as tf from '@tensorflow/tfjs';
import { additiveAttention, attentionWeights, scaledDotProductAttention } from '../../src';
import type { ScaledDotProductOptions } from '../../src';

const IMPLS = ['auto', 'naive', 'blocked', 'chunked', 'fused', 'simd'] as const;
const run = (q: tf.TensorLike, k: tf.TensorLike, v: tf.TensorLike, o: ScaledDotProductOptions): number[] =>
  tf.tidy(() => Array.from(scaledDotProductAttention(q, k, v, o).dataSync()));

describe('scores beyond the float32 range', () => {
  it.each(IMPLS)('%s: a product that overflows to +Infinity takes all the weight, not NaN', (impl) => {
    // Scores 1e40 and -1e40 (float64): the softmax is [1, 0] to any precision. float32 products overflow to ±Infinity.
    expect(run([[1e20]], [[1e20], [-1e20]], [[1], [2]], { scale: 1, implementation: impl })).toEqual([1]);
    expect(run([[1e20]], [[-1e20], [1e20]], [[1], [2]], { scale: 1, implementation: impl, blockSize: 1, chunkSize: 1 })).toEqual([2]);
  });

  it.each(IMPLS)('%s: a product that overflows to -Infinity is a visible key with weight 0, not an empty row', (impl) => {
    // Scores -1e40 and 0: the softmax is [0, 1].
    expect(run([[1e20]], [[-1e20], [0]], [[3], [5]], { scale: 1, implementation: impl })).toEqual([5]);
    // Scores -1e40 and -2e40 both beyond float32: the row is not empty (the limit [1, 0] cannot be told from
    // [0.5, 0.5] once both are clamped to -FLOAT32_MAX; the documented result is the clamped softmax).
    expect(run([[1e20]], [[-1e20], [-2e20]], [[3], [5]], { scale: 1, implementation: impl, emptyRows: 'zeros' })).toEqual([4]);
  });

  it.each(IMPLS)('%s: overflowing scores next to a mask', (impl) => {
    // The masked key's score overflows to +Infinity; it must still get weight 0 and its NaN value stay out.
    const out = run([[1e20], [1]], [[1], [1e20]], [[7], [NaN]], { scale: 1, mask: [[1, 0], [1, 0]], implementation: impl, blockSize: 1, chunkSize: 1 });
    expect(out).toEqual([7, 7]);
  });

  it.each(['auto', 'naive', 'blocked', 'fused', 'simd'] as const)('%s: a +Infinity bias takes all the weight', (impl) => {
    // softmax([1 + Inf, 0]) tends to [1, 0].
    expect(run([[1]], [[1], [0]], [[4], [9]], { bias: [[Infinity, 0]], implementation: impl })).toEqual([4]);
  });

  it('attentionWeights and additiveAttention at overflowing scores', () => {
    const w = tf.tidy(() => Array.from(attentionWeights([[1e20]], [[1e20], [-1e20]], { scale: 1 }).dataSync()));
    expect(w).toEqual([1, 0]);
    // Additive scores are tanh-bounded: huge inputs stay finite.
    const a = tf.tidy(() => Array.from(additiveAttention([[1e30]], [[1e30], [-1e30]], [[1], [2]]).dataSync()));
    expect(a.every(Number.isFinite)).toBe(true);
  });

  it('gradients stay finite at overflowing scores', () => {
    for (const impl of ['naive', 'blocked', 'fused', 'simd'] as const) {
      const g = tf.tidy(() => {
        const f = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.sum(scaledDotProductAttention(q, k, v, { scale: 1, implementation: impl }));
        return tf.grads(f)([tf.tensor2d([[1e20]]), tf.tensor2d([[1e20], [-1e20]]), tf.tensor2d([[1], [2]])]).map((x) => Array.from(x.dataSync()));
      });
      // d/dv: weights [1, 0].
      expect(g[2]).toEqual([1, 0]);
      expect(g.flat().every(Number.isFinite)).toBe(true);
    }
  });
});

describe("'uniform' empty rows under a padding mask", () => {
  it.each(IMPLS)('%s: a fully masked row averages every value (hidden ones included)', (impl) => {
    // Mask hides both keys of the only row: 'uniform' gives weights 1/2, output mean(1, 3) = 2.
    expect(run([[1]], [[1], [0]], [[1], [3]], { mask: [[false, false]], emptyRows: 'uniform', implementation: impl })).toEqual([2]);
    // Batch of two, padding [B, 1, S]: row of batch 0 sees key 0 only; batch 1 sees nothing -> mean(5, 7) = 6.
    const out = run([[[1]], [[1]]], [[[1], [0]], [[1], [0]]], [[[1], [3]], [[5], [7]]], {
      mask: [[[true, false]], [[false, false]]], emptyRows: 'uniform', implementation: impl,
    });
    expect(out).toEqual([1, 6]);
  });
});
