/**
 * Issue 11, items 1–3: masking is exact on every path (naive, blocked,
 * chunked, fused, auto; additiveAttention, attentionWeights): a hidden key
 * gets weight exactly 0 at any score magnitude, a NaN or -Infinity in its
 * value does not reach the output, a bias of -Infinity over a whole row gives
 * the empty-row result, and zero-size dimensions give one well-shaped result.
 * Runs on cpu and wasm.
 */
import * as tf from '@tensorflow/tfjs';
import { additiveAttention, attentionWeights, scaledDotProductAttention } from '../../src';
import type { ScaledDotProductOptions } from '../../src';
import { Arr, nested, randn, refAttention } from '../reference';

const t = (a: Arr): tf.Tensor => tf.tensor(Array.from(a.data), a.shape, 'float32');
const IMPLS = ['auto', 'naive', 'blocked', 'chunked', 'fused'] as const;

const run = (q: tf.TensorLike, k: tf.TensorLike, v: tf.TensorLike, o: ScaledDotProductOptions): number[] =>
  tf.tidy(() => Array.from(scaledDotProductAttention(q, k, v, o).dataSync()));

describe('exact masking', () => {
  it.each(IMPLS)('%s gives a masked key zero weight at scores near 1e9 (issue 11 item 1)', (impl) => {
    // Score of the visible key: 5e4·(-5e4) = -2.5e9; of the masked one 0. With -1e9 the masked key wins.
    const out = run([[5e4]], [[-5e4], [0]], [[1], [100]], { mask: [[true, false]], scale: 1, implementation: impl, blockSize: 1, chunkSize: 1 });
    expect(out).toEqual([1]);
  });

  it.each(IMPLS)('%s gives a causally hidden key zero weight at large scores', (impl) => {
    // Row 0 sees key 0 only (score -2.5e9); key 1 (score 2.5e9 from row 0) is in the future.
    const out = run([[5e4], [1]], [[-5e4], [5e4]], [[1], [100]], { causal: true, scale: 1, implementation: impl, blockSize: 1, chunkSize: 1 });
    expect(out[0]).toBe(1);
  });

  it('attentionWeights gives exactly 0 to a masked key at large scores', () => {
    const w = tf.tidy(() => Array.from(attentionWeights([[5e4]], [[-5e4], [0]], { mask: [[true, false]], scale: 1 }).dataSync()));
    expect(w).toEqual([1, 0]);
  });

  it('additiveAttention gives exactly 0 to a masked key', () => {
    const out = tf.tidy(() => Array.from(additiveAttention([[30]], [[-30], [30]], [[1], [100]], { mask: [[true, false]], scale: 1e9 }).dataSync()));
    expect(out).toEqual([1]);
  });

  describe.each(IMPLS)('%s keeps hidden values out of the output (issue 11 item 2)', (impl) => {
    const q = randn([2, 4, 3], 1);
    const k = randn([2, 5, 3], 2);
    const v = randn([2, 5, 2], 3);
    const base = { implementation: impl, blockSize: 2, chunkSize: 2 } as const;

    it.each([NaN, -Infinity, Infinity])('with a padding mask and %p in a masked value', (bad) => {
      const mask = { shape: [2, 1, 5], data: Float64Array.from([1, 1, 1, 0, 1, 1, 0, 1, 1, 1]) };
      // computed by the float64 reference in __tests__/reference.ts, with finite values
      const ref = refAttention(q, k, v, { mask });
      const poisoned = t(v);
      const vals = poisoned.arraySync() as number[][][];
      vals[0][3][0] = bad;
      vals[1][1][1] = bad;
      const out = tf.tidy(() => scaledDotProductAttention(t(q), t(k), tf.tensor(vals), { ...base, mask: mask.data.length ? t(mask as Arr) : undefined }).arraySync());
      poisoned.dispose();
      expect(out).toBeAllClose(nested(ref.output), 1e-4);
    });

    it('with causal and NaN in a future value: earlier rows stay finite, later rows see it', () => {
      // computed by the float64 reference in __tests__/reference.ts
      const ref = refAttention(q, k, v, { causal: true });
      const vals = t(v);
      const arr = vals.arraySync() as number[][][];
      vals.dispose();
      arr[0][2][1] = NaN;
      const out = tf.tidy(() => scaledDotProductAttention(t(q), t(k), tf.tensor(arr), { ...base, causal: true }).arraySync()) as number[][][];
      const expected = nested(ref.output) as number[][][];
      // Rows 0 and 1 of batch 0 do not see key 2: exactly the reference. Batch 1 has no NaN.
      expect([out[0][0], out[0][1], out[1]]).toBeAllClose([expected[0][0], expected[0][1], expected[1]], 1e-4);
      // Rows 2 and 3 see it in channel 1 only; channel 0 is untouched.
      expect(Number.isNaN(out[0][2][1]) && Number.isNaN(out[0][3][1])).toBe(true);
      expect([out[0][2][0], out[0][3][0]]).toBeAllClose([expected[0][2][0], expected[0][3][0]], 1e-4);
    });

    it('with a full mask and NaN in a value some rows hide', () => {
      const mask = { shape: [2, 4, 5], data: Float64Array.from(Array.from({ length: 40 }, (_, i) => ((i * 7) % 3 === 0 ? 0 : 1))) };
      // computed by the float64 reference in __tests__/reference.ts
      const ref = refAttention(q, k, v, { mask });
      const vt = t(v);
      const arr = vt.arraySync() as number[][][];
      vt.dispose();
      // Key 0 of batch 0: hidden from rows where mask[0][i][0] is 0 (i = 0, 3).
      arr[0][0][0] = NaN;
      const out = tf.tidy(() => scaledDotProductAttention(t(q), t(k), tf.tensor(arr), { ...base, mask: t(mask as Arr) }).arraySync()) as number[][][];
      const exp = nested(ref.output) as number[][][];
      for (let i = 0; i < 4; i++) {
        const sees = mask.data[i * 5] === 1;
        if (sees) expect(Number.isNaN(out[0][i][0])).toBe(true);
        else expect(out[0][i]).toBeAllClose(exp[0][i], 1e-4);
        expect(out[0][i][1]).toBeCloseTo(exp[0][i][1], 4);
      }
      expect(out[1]).toBeAllClose(exp[1], 1e-4);
    });
  });

  it.each(['auto', 'naive', 'blocked', 'fused'] as const)('%s: a bias of -Infinity over a whole row gives the empty-row result', (impl) => {
    const q = randn([1, 3, 2], 5);
    const k = randn([1, 4, 2], 6);
    const v = randn([1, 4, 3], 7);
    const bias = [
      [0, 0.5, 0, -1],
      [-Infinity, -Infinity, -Infinity, -Infinity],
      [-Infinity, 0, 0, -Infinity],
    ];
    const mask = { shape: [3, 4], data: Float64Array.from([1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0]) };
    const finiteBias = { shape: [3, 4], data: Float64Array.from([0, 0.5, 0, -1, 0, 0, 0, 0, 0, 0, 0, 0]) };
    for (const emptyRows of ['zeros', 'uniform'] as const) {
      // computed by the float64 reference in __tests__/reference.ts (-Infinity as the mask)
      const ref = refAttention(q, k, v, { bias: finiteBias, mask, emptyRows });
      const out = tf.tidy(() => scaledDotProductAttention(t(q), t(k), t(v), { bias, emptyRows, implementation: impl, blockSize: 2 }).arraySync());
      expect(out).toBeAllClose(nested(ref.output), 1e-4);
    }
    // The gradient stays finite.
    const g = tf.tidy(() => {
      const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.sum(scaledDotProductAttention(a, b, c, { bias, implementation: impl, blockSize: 2 })),
      )([t(q), t(k), t(v)]);
      return grads.flatMap((x) => Array.from(x.dataSync()));
    });
    expect(g.every(Number.isFinite)).toBe(true);
  });

  it('attentionWeights: a -Infinity bias row gives zero weights, not NaN', () => {
    const w = tf.tidy(() => attentionWeights([[1], [2]], [[1], [3]], { bias: [[0, 0], [-Infinity, -Infinity]], scale: 1 }).arraySync()) as number[][];
    expect(w[1]).toEqual([0, 0]);
    expect(w[0][0] + w[0][1]).toBeCloseTo(1, 6);
  });
});

describe('zero-size dimensions (issue 11 item 3)', () => {
  const cases: Array<[string, number[], number[], number[], number[]]> = [
    // name, query, key, value, expected output shape
    ['T = 0', [2, 0, 4], [2, 3, 4], [2, 3, 5], [2, 0, 5]],
    ['S = 0', [2, 3, 4], [2, 0, 4], [2, 0, 5], [2, 3, 5]],
    ['batch 0', [0, 3, 4], [0, 3, 4], [0, 3, 5], [0, 3, 5]],
    ['heads 0', [1, 0, 3, 4], [1, 0, 3, 4], [1, 0, 3, 5], [1, 0, 3, 5]],
    ['Hv = 0', [2, 3, 4], [2, 3, 4], [2, 3, 0], [2, 3, 0]],
  ];
  describe.each([...IMPLS])('%s', (impl) => {
    it.each(cases)('%s gives zeros of the right shape, with a mask and causal too', (_n, qs, ks, vs, outShape) => {
      for (const kind of ['none', 'causal', 'mask'] as const) {
        const [q, k, v] = [tf.zeros(qs), tf.zeros(ks), tf.ones(vs)];
        const mask = kind === 'mask' ? tf.ones([...qs.slice(0, -1), ks[ks.length - 2]], 'bool') : undefined;
        const before = tf.memory().numTensors;
        const out = scaledDotProductAttention(q, k, v, { implementation: impl, causal: kind === 'causal', mask });
        expect(tf.memory().numTensors).toBe(before + 1);
        expect(out.shape).toEqual(outShape);
        expect(Array.from(out.dataSync()).every((x) => x === 0)).toBe(true);
        tf.dispose([q, k, v, out, ...(mask === undefined ? [] : [mask])]);
      }
    });
  });

  it('H = 0: every score is 0, so the weights are uniform and the output is the mean of the values', () => {
    for (const impl of IMPLS) {
      const out = tf.tidy(() => scaledDotProductAttention(tf.zeros([1, 2, 0]), tf.zeros([1, 3, 0]), [[[1, 2], [3, 4], [5, 6]]], { implementation: impl }).arraySync());
      expect(out).toBeAllClose([[[3, 4], [3, 4]]], 1e-6);
    }
  });

  it('returnWeights with S = 0 gives weights [.., T, 0]; attentionWeights and additiveAttention agree', () => {
    const r = scaledDotProductAttention(tf.zeros([2, 3, 4]), tf.zeros([2, 0, 4]), tf.zeros([2, 0, 5]), { returnWeights: true });
    expect(r.weights.shape).toEqual([2, 3, 0]);
    expect(r.output.shape).toEqual([2, 3, 5]);
    const w = attentionWeights(tf.zeros([2, 3, 4]), tf.zeros([2, 0, 4]));
    expect(w.shape).toEqual([2, 3, 0]);
    const a = additiveAttention(tf.zeros([0, 3, 4]), tf.zeros([0, 2, 4]), tf.zeros([0, 2, 5]));
    expect(a.shape).toEqual([0, 3, 5]);
    tf.dispose([r.output, r.weights, w, a]);
  });

  it('the gradient of a zero-size problem is zeros of the input shapes', () => {
    const q = tf.zeros([2, 3, 4]);
    const k = tf.zeros([2, 0, 4]);
    const v = tf.zeros([2, 0, 5]);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(scaledDotProductAttention(a, b, c)))([q, k, v]);
    expect(g.map((x) => x.shape)).toEqual([[2, 3, 4], [2, 0, 4], [2, 0, 5]]);
    expect(Array.from(g[0].dataSync()).every((x) => x === 0)).toBe(true);
    tf.dispose([q, k, v, ...g]);
  });
});

describe('gradients of the exact paths', () => {
  it.each(['blocked', 'chunked', 'fused'] as const)('%s with causal alone equals the naive gradient (blocks cut the diagonal)', (impl) => {
    const q = t(randn([1, 2, 7, 3], 41));
    const k = t(randn([1, 2, 7, 3], 42));
    const v = t(randn([1, 2, 7, 2], 43));
    const grads = (i: 'naive' | typeof impl) =>
      tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.sum(tf.sin(scaledDotProductAttention(a, b, c, { causal: true, implementation: i, blockSize: 3, chunkSize: 2 }))),
      )([q, k, v]);
    const want = grads('naive');
    const got = grads(impl);
    got.forEach((g, i) => expect(g).toBeAllClose(want[i], 1e-4));
    tf.dispose([q, k, v, ...want, ...got]);
  });

  it('fused: the gradient of a trainable bias equals the naive one', () => {
    const q = t(randn([2, 4, 3], 51));
    const k = t(randn([2, 5, 3], 52));
    const v = t(randn([2, 5, 2], 53));
    const bias = t(randn([1, 4, 5], 54));
    const mask = tf.tensor([[1, 1, 0, 1, 1]], [1, 5], 'bool');
    const grads = (i: 'naive' | 'fused') =>
      tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) =>
        tf.sum(tf.sin(scaledDotProductAttention(a, b, c, { bias: d, mask, implementation: i }))),
      )([q, k, v, bias]);
    const want = grads('naive');
    const got = grads('fused');
    expect(got[3].shape).toEqual([1, 4, 5]);
    got.forEach((g, i) => expect(g).toBeAllClose(want[i], 1e-4));
    tf.dispose([q, k, v, bias, mask, ...want, ...got]);
  });
});
