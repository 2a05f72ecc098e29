/**
 * The wiring of the WebAssembly SIMD kernel, with the kernel mocked (the real
 * one is merged separately): `auto` chooses it on cpu and wasm when it is
 * available and the options allow, the public inputs reach it in its 4-D
 * contract, and forcing it where it is unavailable is a clear error.
 */
import * as tf from '@tensorflow/tfjs';
import type { FusedKernelInput } from '../../src/kernels/wasm';

const state = { available: true, calls: [] as FusedKernelInput[] };

jest.mock('../../src/kernels/wasm', () => ({
  wasmKernelStatus: () => (state.available ? { available: true, threads: 1 } : { available: false, reason: 'no SIMD128 here', threads: 1 }),
  wasmFusedAttention: (input: FusedKernelInput) => {
    state.calls.push(input);
    // A stand-in result: 7 everywhere, of the contract's output shape [B, N, T, Hv].
    const [B, N, T] = input.query.shape;
    return tf.fill([B, N, T, input.value.shape[3] as number], 7);
  },
}));

// Imported after the mock is in place.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { scaledDotProductAttention } = require('../../src') as typeof import('../../src');

beforeEach(() => {
  state.available = true;
  state.calls = [];
});

describe('the simd implementation', () => {
  it('auto runs the kernel with leading dimensions folded into [B, N] and the output unfolded', () => {
    const q = tf.zeros([2, 3, 4, 5, 8]);
    const k = tf.zeros([2, 3, 4, 6, 8]);
    const v = tf.zeros([2, 3, 4, 6, 2]);
    // Outer leading dims [2, 1] mix a unit and a full one: broadcast to [2, 3] before folding.
    const mask = tf.ones([2, 1, 4, 5, 6], 'bool');
    const bias = tf.zeros([1, 1, 4, 1, 6]);
    const out = scaledDotProductAttention(q, k, v, { mask, bias, causal: true, window: 3, scale: 0.5, emptyRows: 'uniform' });
    expect(out.shape).toEqual([2, 3, 4, 5, 2]);
    expect(Array.from(out.dataSync()).every((x) => x === 7)).toBe(true);
    expect(state.calls).toHaveLength(1);
    const c = state.calls[0];
    expect([c.query.shape, c.key.shape, c.value.shape]).toEqual([[6, 4, 5, 8], [6, 4, 6, 8], [6, 4, 6, 2]]);
    expect(c.mask?.shape).toEqual([6, 4, 5, 6]);
    expect(c.bias?.shape).toEqual([1, 4, 1, 6]);
    expect([c.scale, c.causal, c.window, c.emptyRows]).toEqual([0.5, true, 3, 'uniform']);
    tf.dispose([q, k, v, mask, bias, out]);
  });

  it('folds rank-2 and rank-3 inputs to [1, 1] and [B, 1]... as [1, B]', () => {
    const out2 = scaledDotProductAttention(tf.zeros([5, 8]), tf.zeros([6, 8]), tf.zeros([6, 3]));
    const out3 = scaledDotProductAttention(tf.zeros([2, 5, 8]), tf.zeros([2, 6, 8]), tf.zeros([2, 6, 3]), { mask: tf.ones([6], 'bool') });
    expect([out2.shape, out3.shape]).toEqual([[5, 3], [2, 5, 3]]);
    expect(state.calls.map((c) => c.query.shape)).toEqual([[1, 1, 5, 8], [1, 2, 5, 8]]);
    expect(state.calls[1].mask?.shape).toEqual([1, 1, 1, 6]);
  });

  it('auto keeps the tfjs paths for returnWeights and for dropout while training', () => {
    const q = tf.randomNormal([1, 2, 3, 4]);
    const r = scaledDotProductAttention(q, q, q, { returnWeights: true });
    const d = scaledDotProductAttention(q, q, q, { dropout: 0.5, training: true, seed: 1 });
    expect(state.calls).toHaveLength(0);
    expect(r.weights.shape).toEqual([1, 2, 3, 3]);
    tf.dispose([q, r.output, r.weights, d]);
  });

  it('auto falls back to the tfjs paths when the kernel is unavailable', () => {
    state.available = false;
    const q = tf.tensor([[1, 0], [0, 1]]);
    const out = scaledDotProductAttention(q, q, [[1], [3]], { scale: 1 });
    expect(state.calls).toHaveLength(0);
    // softmax([1, 0])·[1, 3] = (e + 3) / (e + 1), from the definition.
    expect(out.dataSync()[0]).toBeCloseTo((Math.E + 3) / (Math.E + 1), 5);
    tf.dispose([q, out]);
  });

  it('forcing simd where it is unavailable is a clear error that allocates nothing', () => {
    state.available = false;
    const q = tf.zeros([2, 3]);
    const before = tf.memory().numTensors;
    expect(() => scaledDotProductAttention(q, q, q, { implementation: 'simd' })).toThrow(
      /scaledDotProductAttention: expected the WebAssembly SIMD kernel to be available for implementation 'simd', but it is not \(no SIMD128 here\)/,
    );
    expect(tf.memory().numTensors).toBe(before);
    q.dispose();
  });

  it('forcing simd with returnWeights is refused', () => {
    const q = tf.zeros([2, 3]);
    expect(() => scaledDotProductAttention(q, q, q, { implementation: 'simd', returnWeights: true })).toThrow(
      /implementation 'simd' does not support returnWeights/,
    );
    q.dispose();
  });
});
