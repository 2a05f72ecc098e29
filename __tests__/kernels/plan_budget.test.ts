/**
 * `memoryBudget` is honoured forward and backward on the backend of the jest
 * project (cpu and wasm): the tfjs memory a call and its gradient hold above
 * their inputs stays within the budget plus memory proportional to the
 * inputs (the output, the gradients, the copies tfjs makes of what a custom
 * gradient saves, per-head pieces). At 4 heads this measured up to 3.8 MiB
 * on wasm and 0.4 MiB on cpu, where the naive path held 25 MiB. Before, a 1 MiB budget
 * peaked at 25 MiB on cpu (the fused kernel's gradient built every head's
 * weights). Peaks are tf.profile's, taken right after each call.
 */
import * as tf from '@tensorflow/tfjs';
import { scaledDotProductAttention } from '../../src';
import type { ScaledDotProductOptions } from '../../src';

const MiB = 1024 * 1024;

describe('memoryBudget', () => {
  const [N, T, H] = [2, 512, 16];
  // 2 heads of [512, 512] float32 scores: 2 MiB, above the 1 MiB budget.
  const padding = (): tf.Tensor => tf.tensor([...new Array(400).fill(1), ...new Array(112).fill(0)], [1, 1, 1, T], 'bool');
  it.each<[string, () => ScaledDotProductOptions]>([
    ['full', () => ({})],
    ['causal', () => ({ causal: true })],
    ['padding mask', () => ({ mask: padding() })],
  ])('%s: a 1 MiB budget bounds the forward and the backward pass', async (_name, makeOpts) => {
    const opts = makeOpts();
    const q = tf.randomNormal([1, N, T, H], 0, 1, 'float32', 1);
    const k = tf.randomNormal([1, N, T, H], 0, 1, 'float32', 2);
    const v = tf.randomNormal([1, N, T, H], 0, 1, 'float32', 3);
    const o = { ...opts, memoryBudget: MiB };
    // Memory proportional to the inputs (one input is 64 KiB): 24 inputs' worth, 1.5 MiB.
    const returned = 24 * 4 * q.size;
    const base = tf.memory().numBytes;
    const fwd = await tf.profile(() => {
      const y = scaledDotProductAttention(q, k, v, o);
      y.dataSync();
      y.dispose();
    });
    const fwdPeak = fwd.peakBytes - base;
    const bwd = await tf.profile(() => {
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(scaledDotProductAttention(a, b, c, o)))([q, k, v]);
      tf.dispose(g);
    });
    const bwdPeak = bwd.peakBytes - base;
    expect(fwdPeak).toBeLessThanOrEqual(MiB + returned);
    expect(bwdPeak).toBeLessThanOrEqual(MiB + returned);
    if (opts.mask === undefined && opts.causal !== true) {
      // The bound is not vacuous: the naive path, which holds every head's scores, exceeds it.
      const free = await tf.profile(() => {
        const y = scaledDotProductAttention(q, k, v, { implementation: 'naive' });
        y.dataSync();
        y.dispose();
      });
      expect(free.peakBytes - base).toBeGreaterThan(MiB + returned);
    }
    tf.dispose([q, k, v, ...(opts.mask instanceof tf.Tensor ? [opts.mask] : [])]);
  });
});
