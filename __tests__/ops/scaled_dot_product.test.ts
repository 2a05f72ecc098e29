import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { attentionWeights, causalMask, scaledDotProductAttention } from '../../src';
import { Arr, arr, nested, randn, refAttention, rng } from '../reference';

const t = (a: Arr): tf.Tensor => tf.tensor(Array.from(a.data), a.shape, 'float32');

/** A deterministic 0/1 mask of the given shape (seeded). */
function randomMask(shape: number[], seed: number, pOn = 0.6): Arr {
  const r = rng(seed);
  const m = arr(shape);
  for (let i = 0; i < m.data.length; i++) m.data[i] = r() < pOn ? 1 : 0;
  return m;
}

describe('scaledDotProductAttention', () => {
  it('matches the float64 reference over random shapes, masks and scales (property)', () => {
    fc.assert(
      fc.property(
        fc.record({
          lead: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 2 }),
          T: fc.integer({ min: 1, max: 7 }),
          S: fc.integer({ min: 1, max: 7 }),
          H: fc.integer({ min: 1, max: 6 }),
          Hv: fc.integer({ min: 1, max: 5 }),
          maskKind: fc.constantFrom('none', 'full', 'keys', 'causal', 'both'),
          scale: fc.option(fc.double({ min: -2, max: 2, noNaN: true }), { nil: undefined }),
          seed: fc.integer({ min: 1, max: 1e6 }),
        }),
        ({ lead, T, S, H, Hv, maskKind, scale, seed }) => {
          const q = randn([...lead, T, H], seed);
          const k = randn([...lead, S, H], seed + 1);
          const v = randn([...lead, S, Hv], seed + 2);
          let mask: Arr | undefined;
          if (maskKind === 'full' || maskKind === 'both') mask = randomMask([...lead, T, S], seed + 3);
          if (maskKind === 'keys') mask = randomMask([...lead.map(() => 1), 1, S], seed + 3);
          const causal = maskKind === 'causal' || maskKind === 'both';
          // computed by the float64 reference in __tests__/reference.ts
          const ref = refAttention(q, k, v, { mask, causal, scale });
          const res = tf.tidy(() => {
            const r = scaledDotProductAttention(t(q), t(k), t(v), {
              mask: mask === undefined ? undefined : t(mask),
              causal,
              scale,
              returnWeights: true,
            });
            return [r.output.arraySync(), r.weights.arraySync()];
          });
          expect(res[0]).toBeAllClose(nested(ref.output), 1e-4);
          expect(res[1]).toBeAllClose(nested(ref.weights), 1e-5);
        },
      ),
      { seed: 42, numRuns: 40 },
    );
  });

  it('scales by 1/sqrt(H) by default', () => {
    const q = randn([1, 3, 16], 11, 3);
    const k = randn([1, 4, 16], 12, 3);
    const v = randn([1, 4, 2], 13);
    const out = scaledDotProductAttention(t(q), t(k), t(v));
    expect(out).toBeAllClose(nested(refAttention(q, k, v, { scale: 0.25 }).output), 1e-4);
    expect(out).not.toBeAllClose(nested(refAttention(q, k, v, { scale: 1 }).output), 1e-2);
    out.dispose();
  });

  it('accepts nested arrays and boolean masks as plain arrays', () => {
    const out = scaledDotProductAttention([[1, 0]], [[1, 0], [0, 1]], [[1, 2], [3, 4]], {
      mask: [[true, false]],
      scale: 1,
    });
    expect(out).toBeAllClose([[1, 2]], 1e-6);
    out.dispose();
  });

  it('returns zeros, not NaN, for a fully masked row', () => {
    const q = randn([2, 3, 4], 21);
    const k = randn([2, 5, 4], 22);
    const mask = tf.tensor3d(
      [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, ...new Array(15).fill(0)],
      [2, 3, 5],
      'int32',
    );
    const r = scaledDotProductAttention(t(q), t(k), t(k), { mask, returnWeights: true });
    const out = r.output.arraySync() as number[][][];
    const w = r.weights.arraySync() as number[][][];
    expect(out[0][1]).toBeAllClose([0, 0, 0, 0], 0);
    expect(w[0][1]).toEqual([0, 0, 0, 0, 0]);
    expect(out[1].flat()).toBeAllClose(new Array(12).fill(0), 0);
    expect(w[0][0].reduce((a, b) => a + b)).toBeCloseTo(1, 5);
    tf.dispose([mask, r.output, r.weights]);
  });

  it("gives Keras's uniform weights on a fully masked row with emptyRows: 'uniform'", () => {
    const q = randn([1, 2, 3], 31);
    const k = randn([1, 4, 3], 32);
    const mask = tf.tensor3d([[[1, 1, 0, 1], [0, 0, 0, 0]]], [1, 2, 4], 'bool');
    const w = attentionWeights(t(q), t(k), { mask, emptyRows: 'uniform' });
    const ref = refAttention(q, k, k, { mask: arr([1, 2, 4], [1, 1, 0, 1, 0, 0, 0, 0]), emptyRows: 'uniform' });
    expect(w).toBeAllClose(nested(ref.weights), 1e-5);
    tf.dispose([mask, w]);
  });

  it('aligns causal attention to the top-left corner when T ≠ S', () => {
    const w = attentionWeights(tf.ones([2, 4]), tf.ones([5, 4]), { causal: true });
    // Query i sees keys 0..i, uniformly (all scores equal).
    expect(w).toBeAllClose([
      [1, 0, 0, 0, 0],
      [0.5, 0.5, 0, 0, 0],
    ], 1e-6);
    w.dispose();
  });

  it('is causal: changing future keys and values leaves earlier outputs unchanged', () => {
    const T = 8;
    const q = t(randn([2, 2, T, 4], 41));
    const k = randn([2, 2, T, 4], 42);
    const v = randn([2, 2, T, 3], 43);
    const k2 = arr(k.shape, k.data);
    const v2 = arr(v.shape, v.data);
    const cut = 5; // positions >= cut are changed
    for (let i = 0; i < k2.data.length; i++) if (Math.floor(i / 4) % T >= cut) k2.data[i] += 10 * Math.sin(i);
    for (let i = 0; i < v2.data.length; i++) if (Math.floor(i / 3) % T >= cut) v2.data[i] -= 7 * Math.cos(i);
    const a = scaledDotProductAttention(q, t(k), t(v), { causal: true });
    const b = scaledDotProductAttention(q, t(k2), t(v2), { causal: true });
    const early = (x: tf.Tensor) => x.slice([0, 0, 0, 0], [2, 2, cut, 3]);
    expect(early(a)).toBeAllClose(early(b), 0);
    // ...and the later outputs do move, so the test can fail.
    const late = (x: tf.Tensor) => x.slice([0, 0, cut, 0], [2, 2, T - cut, 3]);
    expect(late(a)).not.toBeAllClose(late(b), 1e-3);
    tf.dispose([q, a, b]);
  });

  it('equals masking with causalMask(T, S)', () => {
    const q = t(randn([3, 6, 4], 51));
    const k = t(randn([3, 9, 4], 52));
    const m = causalMask(6, 9);
    const a = scaledDotProductAttention(q, k, k, { causal: true });
    const b = scaledDotProductAttention(q, k, k, { mask: m });
    // Equal up to float32 summation order (the causal paths skip, not mask, future keys).
    expect(a).toBeAllClose(b, 1e-6);
    tf.dispose([q, k, m, a, b]);
  });

  it('adds a score bias before the softmax', () => {
    const q = randn([2, 3, 4], 61);
    const k = randn([2, 5, 4], 62);
    const bias = randn([3, 5], 63);
    const out = scaledDotProductAttention(t(q), t(k), t(k), { bias: t(bias) });
    expect(out).toBeAllClose(nested(refAttention(q, k, k, { bias }).output), 1e-4);
    out.dispose();
  });

  it('gradients match finite differences of the float64 reference', () => {
    const q = randn([2, 3, 4], 71);
    const k = randn([2, 5, 4], 72);
    const v = randn([2, 5, 2], 73);
    const mask = randomMask([2, 3, 5], 74, 0.7);
    const R = randn([2, 3, 2], 75); // loss = Σ output·R
    const loss = (qq: Arr, kk: Arr, vv: Arr): number => {
      const o = refAttention(qq, kk, vv, { mask, causal: false }).output;
      let s = 0;
      for (let i = 0; i < o.data.length; i++) s += o.data[i] * R.data[i];
      return s;
    };
    const fd = (which: 0 | 1 | 2): Arr => {
      const xs = [q, k, v];
      const g = arr(xs[which].shape);
      const eps = 1e-6;
      for (let i = 0; i < g.data.length; i++) {
        const plus = xs.map((x) => arr(x.shape, x.data));
        const minus = xs.map((x) => arr(x.shape, x.data));
        plus[which].data[i] += eps;
        minus[which].data[i] -= eps;
        g.data[i] = (loss(plus[0], plus[1], plus[2]) - loss(minus[0], minus[1], minus[2])) / (2 * eps);
      }
      return g;
    };
    const maskT = t(mask);
    const Rt = t(R);
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      tf.sum(tf.mul(scaledDotProductAttention(a, b, c, { mask: maskT }), Rt)),
    )([t(q), t(k), t(v)]);
    grads.forEach((g, i) => expect(g).toBeAllClose(nested(fd(i as 0 | 1 | 2)), 1e-3));
    tf.dispose([...grads, maskT, Rt]);
  });

  it('drops weights only when training, reproducibly with a seed', () => {
    const q = t(randn([1, 4, 8], 81));
    const k = t(randn([1, 6, 8], 82));
    const eye = tf.eye(6).expandDims(0); // value = I, so output rows are the weights
    const plain = attentionWeights(q, k);
    const inference = scaledDotProductAttention(q, k, eye, { dropout: 0.5, seed: 1 });
    expect(inference).toBeAllClose(plain, 1e-6);
    const a = scaledDotProductAttention(q, k, eye, { dropout: 0.5, training: true, seed: 7 });
    const b = scaledDotProductAttention(q, k, eye, { dropout: 0.5, training: true, seed: 7 });
    expect(a).toBeAllClose(b, 0);
    // Every kept weight is scaled by 1/(1-rate); dropped ones are 0; some of each.
    const av = a.dataSync();
    const pv = plain.dataSync();
    let kept = 0;
    let dropped = 0;
    for (let i = 0; i < av.length; i++) {
      if (av[i] === 0) dropped++;
      else {
        expect(av[i]).toBeCloseTo(pv[i] * 2, 5);
        kept++;
      }
    }
    expect(kept).toBeGreaterThan(0);
    expect(dropped).toBeGreaterThan(0);
    tf.dispose([q, k, eye, plain, inference, a, b]);
  });

  it('does not leak tensors, with and without weights', () => {
    const q = tf.randomNormal([2, 3, 4]);
    const m = causalMask(3);
    const before = tf.memory().numTensors;
    const out = scaledDotProductAttention(q, q, q, { mask: m, causal: true, dropout: 0.1, training: true });
    expect(tf.memory().numTensors).toBe(before + 1);
    const r = scaledDotProductAttention([[1, 2]], [[1, 2]], [[3, 4]], { returnWeights: true });
    expect(tf.memory().numTensors).toBe(before + 3);
    tf.dispose([out, r.output, r.weights]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([q, m]);
  });

  const f = (s: number[], dtype: tf.DataType = 'float32') => ({ shape: s, dtype });
  it.each([
    ['query depth', f([1, 10, 20]), f([1, 20, 10]), f([1, 20, 20]), {}, /expected query and key to have the same last dimension, but got query \[1,10,20\] and key \[1,20,10\] \(20 ≠ 10\)/],
    ['key/value length', f([1, 3, 4]), f([1, 5, 4]), f([1, 6, 4]), {}, /expected key and value to have the same length \(axis -2\), but got key \[1,5,4\] and value \[1,6,4\]/],
    ['rank', f([2, 3, 4]), f([5, 4]), f([5, 4]), {}, /expected query and key to have the same rank, but got query \[2,3,4\] and key \[5,4\]/],
    ['leading dims', f([2, 3, 4]), f([3, 5, 4]), f([3, 5, 4]), {}, /same leading \(batch, head\) dimensions, but got query \[2,3,4\] and key \[3,5,4\]/],
    ['rank 1', f([4]), f([4]), f([4]), {}, /expected `query` to have rank >= 2, but got rank 1 with shape \[4\]/],
    ['int query', f([2, 3], 'int32'), f([2, 3]), f([2, 3]), {}, /expected `query` to be a float32 tensor, but got dtype int32/],
    ['string key', f([2, 3]), f([2, 3], 'string'), f([2, 3]), {}, /expected `key` to be a float32 tensor, but got dtype string/],
    ['mask shape', f([2, 3, 4]), f([2, 5, 4]), f([2, 5, 4]), { mask: [2, 3, 4] }, /expected `mask` to broadcast to \[2,3,5\], but got shape \[2,3,4\]/],
    ['bias shape', f([2, 3, 4]), f([2, 5, 4]), f([2, 5, 4]), { bias: [3, 3] }, /expected `bias` to broadcast to \[2,3,5\], but got shape \[3,3\]/],
    ['scale NaN', f([1, 2]), f([1, 2]), f([1, 2]), { scale: NaN }, /expected `scale` to be a finite number, but got NaN/],
    ['scale Infinity', f([1, 2]), f([1, 2]), f([1, 2]), { scale: Infinity }, /expected `scale` to be a finite number, but got Infinity/],
    ['dropout 1', f([1, 2]), f([1, 2]), f([1, 2]), { dropout: 1 }, /expected `dropout` to be a number in \[0, 1\), but got 1/],
    ['dropout -0.1', f([1, 2]), f([1, 2]), f([1, 2]), { dropout: -0.1 }, /expected `dropout` to be a number in \[0, 1\), but got -0.1/],
    ['causal not bool', f([1, 2]), f([1, 2]), f([1, 2]), { causal: 'yes' }, /expected `causal` to be a boolean, but got yes/],
    ['emptyRows', f([1, 2]), f([1, 2]), f([1, 2]), { emptyRows: 'nan' }, /expected `emptyRows` to be 'zeros' or 'uniform', but got nan/],
  ])('rejects bad %s before allocating', (_n, qs, ks, vs, opts, msg) => {
    const [q, k, v] = [qs, ks, vs].map((s) =>
      s.dtype === 'string' ? tf.tensor(new Array(6).fill('a'), s.shape, 'string') : tf.zeros(s.shape, s.dtype),
    );
    const o = opts as Record<string, unknown>;
    const extra = ['mask', 'bias'].filter((n) => Array.isArray(o[n])).map((n) => {
      o[n] = tf.zeros(o[n] as number[]);
      return o[n] as tf.Tensor;
    });
    const before = tf.memory().numTensors;
    expect(() => scaledDotProductAttention(q, k, v, o)).toThrow(msg as RegExp);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([q, k, v, ...extra]);
  });

  it('rejects ragged arrays, non-numbers and disposed tensors', () => {
    expect(() => scaledDotProductAttention([[1, 2], [3]], [[1, 2]], [[1, 2]])).toThrow(
      /expected `query` to be a tensor or a rectangular nested array, but got a ragged array/,
    );
    expect(() => scaledDotProductAttention(null as unknown as number[], [[1]], [[1]])).toThrow(
      /expected `query` to be a tf.Tensor or a nested array of numbers, but got null/,
    );
    expect(() => scaledDotProductAttention([[{}]] as unknown as number[][], [[1]], [[1]])).toThrow(
      /expected `query` to hold numbers, but got an element of type object/,
    );
    const d = tf.zeros([2, 2]);
    d.dispose();
    expect(() => scaledDotProductAttention(d, [[1, 2]], [[1, 2]])).toThrow(/^scaledDotProductAttention: expected `query` to be a live tensor, but got a tensor \[2,2\] that has already been disposed\.$/);
  });
});

describe('attentionWeights', () => {
  it('matches the reference weights, rows summing to 1', () => {
    const q = randn([2, 2, 3, 5], 91);
    const k = randn([2, 2, 4, 5], 92);
    const w = attentionWeights(t(q), t(k), { causal: true });
    expect(w.shape).toEqual([2, 2, 3, 4]);
    expect(w).toBeAllClose(nested(refAttention(q, k, k, { causal: true }).weights), 1e-5);
    expect(tf.sum(w, -1)).toBeAllClose(new Array(12).fill(1), 1e-5);
    w.dispose();
  });

  it('rejects mismatched depth and does not leak', () => {
    const q = tf.zeros([3, 4]);
    const k = tf.zeros([3, 5]);
    const before = tf.memory().numTensors;
    expect(() => attentionWeights(q, k)).toThrow(/attentionWeights: expected query and key to have the same last dimension/);
    const w = attentionWeights(q, q);
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([q, k, w]);
  });
});
