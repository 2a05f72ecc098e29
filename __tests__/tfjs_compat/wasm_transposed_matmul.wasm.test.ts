/**
 * The wasm BatchMatMul wrapper (src/tfjs_compat/wasm_transposed_matmul.ts):
 * a product with transposeA or transposeB transposes the operand first and
 * runs the plain product. This file runs in the cpu and the wasm projects;
 * the wrapper exists only on wasm. Reference values are float64 loops. (Its
 * reason, speed, is measured by the bench, never by a test.)
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src';
import { registerWasmTransposedMatMul } from '../../src/tfjs_compat/wasm_transposed_matmul';
import { randn } from '../reference';

const backend = globalThis.TFJS_TEST_BACKEND ?? 'cpu';

beforeAll(async () => {
  await initBackend(backend as 'cpu' | 'wasm');
});

/** C[b] = op(A[b])·op(B[b]), float64, with op = transpose of the last two dims where asked; A, B rank 3 [batch, r, c]. */
function reference(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], ta: boolean, tb: boolean): number[] {
  const [batch, ar, ac] = aShape;
  const [, br, bc] = bShape;
  const M = ta ? ac : ar;
  const K = ta ? ar : ac;
  const N = tb ? br : bc;
  const out: number[] = [];
  for (let p = 0; p < batch; p++) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const x = ta ? a[p * ar * ac + k * ac + i] : a[p * ar * ac + i * ac + k];
          const y = tb ? b[p * br * bc + j * bc + k] : b[p * br * bc + k * bc + j];
          s += x * y;
        }
        out.push(s);
      }
    }
  }
  return out;
}

describe(`tf.matMul with transposed operands on ${backend}`, () => {
  it('is wrapped once: by initBackend on wasm, and a second registration is a no-op', () => {
    const first = registerWasmTransposedMatMul();
    // initBackend('wasm') wrapped it already; initBackend('cpu') leaves the wasm kernels alone.
    expect(first).toBe(backend !== 'wasm');
    expect(registerWasmTransposedMatMul()).toBe(false);
  });

  it.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('transposeA=%p transposeB=%p: equals the float64 product, rank 2 and rank 3, and frees its temporaries', (ta, tb) => {
    const M = 5;
    const K = 7;
    const N = 3;
    for (const batch of [1, 2]) {
      const aShape = [batch, ta ? K : M, ta ? M : K];
      const bShape = [batch, tb ? N : K, tb ? K : N];
      const a = randn(aShape, 11 + batch);
      const b = randn(bShape, 21 + batch);
      const want = reference(Float32Array.from(a.data), aShape, Float32Array.from(b.data), bShape, ta, tb);
      const A = tf.tensor(Array.from(a.data), aShape);
      const B = tf.tensor(Array.from(b.data), bShape);
      const before = { tensors: tf.memory().numTensors, data: tf.engine().backend.numDataIds() };
      const C = batch === 1 ? tf.matMul(tf.squeeze(A, [0]), tf.squeeze(B, [0]), ta, tb) : tf.matMul(A, B, ta, tb);
      expect(C.shape).toEqual(batch === 1 ? [M, N] : [batch, M, N]);
      expect(C).toBeAllClose(want, 1e-5);
      C.dispose();
      // squeeze of rank 3 makes views (2 tensors for batch 1); nothing else stays
      expect(tf.memory().numTensors - before.tensors).toBe(batch === 1 ? 2 : 0);
      expect(tf.engine().backend.numDataIds() - before.data).toBe(0);
      tf.dispose([A, B]);
    }
  });

  it('gives the gradients of a product (the transposed products) equal to the float64 ones', () => {
    const a = randn([4, 6], 5);
    const b = randn([6, 3], 6);
    const dy = randn([4, 3], 7);
    const [da, db] = tf.tidy(() => {
      const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y), tf.tensor(Array.from(dy.data), [4, 3])));
      return tf.grads(f)([tf.tensor(Array.from(a.data), [4, 6]), tf.tensor(Array.from(b.data), [6, 3])]);
    });
    // dA = dY·Bᵀ, dB = Aᵀ·dY
    const f32 = (x: { data: ArrayLike<number> }) => Float32Array.from(x.data);
    expect(da).toBeAllClose(reference(f32(dy), [1, 4, 3], f32(b), [1, 6, 3], false, true), 1e-5);
    expect(db).toBeAllClose(reference(f32(a), [1, 4, 6], f32(dy), [1, 4, 3], true, false), 1e-5);
    tf.dispose([da, db]);
  });
});
