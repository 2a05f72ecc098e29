/**
 * The fused WebAssembly SIMD kernel (src/kernels/wasm): forward and
 * gradients against the float64 exact-masking reference
 * (refExactAttention in __tests__/reference.ts), exact masking, zero-size
 * dimensions, thread-count independence, no leaks, and argument checks.
 * Runs in both jest projects (cpu and wasm): the kernel reads its inputs
 * with dataSync() and so works under either backend.
 */
import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import * as os from 'node:os';
import {
  setWasmKernelThreads,
  terminateWasmKernelThreads,
  wasmFusedAttention,
  wasmKernelMemoryBytes,
  wasmKernelStatus,
} from '../../src/kernels/wasm';
import type { FusedKernelInput } from '../../src/kernels/wasm';
import { lastCallThreads, reloadRuntime } from '../../src/kernels/wasm/runtime';
import { arr, randn, refExactAttention, rng } from '../reference';
import type { Arr, ExactOptions } from '../reference';

afterAll(async () => {
  setWasmKernelThreads(null);
  await terminateWasmKernelThreads();
});

const t = (a: Arr): tf.Tensor => tf.tensor(Array.from(a.data), a.shape, 'float32');

interface Case {
  B: number;
  N: number;
  T: number;
  S: number;
  H: number;
  Hv: number;
  causal?: boolean;
  window?: number;
  maskShape?: number[];
  biasShape?: number[];
  emptyRows?: 'zeros' | 'uniform';
  /** Fraction of mask entries that are false. */
  hide?: number;
  /** Score scale (default 1/sqrt(H)). */
  scale?: number;
}

interface Built {
  q: Arr;
  k: Arr;
  v: Arr;
  dy: Arr;
  mask?: Arr;
  bias?: Arr;
  opts: ExactOptions;
}

function build(c: Case, seed: number): Built {
  const q = randn([c.B, c.N, c.T, c.H], seed);
  const k = randn([c.B, c.N, c.S, c.H], seed + 1);
  const v = randn([c.B, c.N, c.S, c.Hv], seed + 2);
  const dy = randn([c.B, c.N, c.T, c.Hv], seed + 3);
  let mask: Arr | undefined;
  if (c.maskShape) {
    const r = rng(seed + 4);
    mask = arr(c.maskShape);
    for (let i = 0; i < mask.data.length; i++) mask.data[i] = r() < (c.hide ?? 0.3) ? 0 : 1;
  }
  const bias = c.biasShape ? randn(c.biasShape, seed + 5) : undefined;
  const opts: ExactOptions = { scale: c.scale ?? 1 / Math.sqrt(Math.max(c.H, 1)), causal: c.causal, window: c.window, mask, bias, emptyRows: c.emptyRows };
  return { q, k, v, dy, mask, bias, opts };
}

function input(b: Built, c: Case, tensors: { q: tf.Tensor; k: tf.Tensor; v: tf.Tensor; bias: tf.Tensor | null; mask: tf.Tensor | null }): FusedKernelInput {
  return {
    query: tensors.q,
    key: tensors.k,
    value: tensors.v,
    mask: tensors.mask,
    bias: tensors.bias,
    scale: b.opts.scale,
    causal: c.causal === true,
    window: c.window ?? null,
    emptyRows: c.emptyRows ?? 'zeros',
  };
}

/** Output and gradients (q, k, v[, bias]) of sum(out · dy) from the kernel. */
function runKernel(c: Case, b: Built): { out: Float32Array; grads: Float32Array[] } {
  return tf.tidy(() => {
    const mask = b.mask ? tf.tensor(Array.from(b.mask.data).map((x) => x !== 0), b.mask.shape, 'bool') : null;
    const dy = t(b.dy);
    const f = (...xs: tf.Tensor[]): tf.Tensor => {
      const o = wasmFusedAttention(input(b, c, { q: xs[0], k: xs[1], v: xs[2], bias: xs[3] ?? null, mask }));
      return tf.sum(tf.mul(o, dy));
    };
    const args = [t(b.q), t(b.k), t(b.v)];
    if (b.bias) args.push(t(b.bias));
    const out = wasmFusedAttention(input(b, c, { q: args[0], k: args[1], v: args[2], bias: args[3] ?? null, mask }));
    const grads = tf.grads(f)(args);
    return { out: out.dataSync() as Float32Array, grads: grads.map((g) => g.dataSync() as Float32Array) };
  });
}

function expectClose(got: ArrayLike<number>, want: Arr, tol: number, what: string): void {
  expect(got.length).toBe(want.data.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want.data[i]) / (1 + Math.abs(want.data[i]));
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  if (!(worst <= tol)) throw new Error(`${what}: relative difference ${worst} > ${tol} at ${at}: got ${got[at]}, expected ${want.data[at]}`);
}

function check(c: Case, seed: number, tol = 2e-4): void {
  const b = build(c, seed);
  const ref = refExactAttention(b.q, b.k, b.v, b.dy, b.opts);
  const { out, grads } = runKernel(c, b);
  expectClose(out, ref.output, tol, 'output');
  expectClose(grads[0], ref.dq, tol * 5, 'dq');
  expectClose(grads[1], ref.dk, tol * 5, 'dk');
  expectClose(grads[2], ref.dv, tol * 5, 'dv');
  if (ref.dbias) expectClose(grads[3], ref.dbias, tol * 5, 'dbias');
}

describe('wasmKernelStatus', () => {
  it('reports the kernel available in Node with at least one thread', () => {
    const s = wasmKernelStatus();
    expect(s.available).toBe(true);
    expect(s.reason).toBeUndefined();
    expect(s.threads).toBeGreaterThanOrEqual(1);
  });

  it('loads the relaxed-SIMD module by default in Node 20+ (turning on V8 20/21\'s flag), SIMD128 with TFJS_ATTENTION_RELAXED_SIMD=0', async () => {
    await reloadRuntime(null);
    expect(wasmKernelStatus().instructions).toBe('relaxed-simd');
    try {
      for (const off of ['0', 'false', ' OFF ']) {
        process.env.TFJS_ATTENTION_RELAXED_SIMD = off;
        await reloadRuntime(null);
        expect(wasmKernelStatus()).toMatchObject({ available: true, instructions: 'simd128' });
      }
      process.env.TFJS_ATTENTION_RELAXED_SIMD = '1';
      await reloadRuntime(null);
      expect(wasmKernelStatus().instructions).toBe('relaxed-simd');
    } finally {
      delete process.env.TFJS_ATTENTION_RELAXED_SIMD;
      await reloadRuntime(null);
    }
    expect(wasmKernelStatus().instructions).toBe('relaxed-simd');
  });

  it('uses min(2, available cores) threads by default in Node, and the count set', () => {
    setWasmKernelThreads(null);
    expect(wasmKernelStatus().threads).toBe(Math.min(2, os.availableParallelism()));
    setWasmKernelThreads(3);
    expect(wasmKernelStatus().threads).toBe(3);
    setWasmKernelThreads(null);
  });
});

describe('without SIMD128', () => {
  it('reports the kernel unavailable with the reason, and wasmFusedAttention refuses clearly', () => {
    const validate = WebAssembly.validate;
    WebAssembly.validate = () => false;
    try {
      jest.isolateModules(() => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const fresh = require('../../src/kernels/wasm') as typeof import('../../src/kernels/wasm');
        expect(fresh.wasmKernelStatus()).toEqual({ available: false, reason: 'WebAssembly SIMD128 is not supported here', threads: 1 });
        const x = tf.zeros([1, 1, 2, 4]);
        const before = tf.memory().numTensors;
        expect(() =>
          fresh.wasmFusedAttention({ query: x, key: x, value: x, mask: null, bias: null, scale: 1, causal: false, window: null, emptyRows: 'zeros' }),
        ).toThrow(/wasmFusedAttention: expected a WebAssembly SIMD128 environment, but got none here \(WebAssembly SIMD128 is not supported here\)/);
        expect(tf.memory().numTensors).toBe(before);
        x.dispose();
      });
    } finally {
      WebAssembly.validate = validate;
    }
  });
});

describe('refExactAttention (the float64 reference itself)', () => {
  it('has gradients that match central finite differences of its own output', () => {
    const c: Case = { B: 1, N: 1, T: 3, S: 4, H: 3, Hv: 2, maskShape: [1, 1, 3, 4], biasShape: [1, 1, 1, 4], hide: 0.25 };
    const b = build(c, 11);
    const ref = refExactAttention(b.q, b.k, b.v, b.dy, b.opts);
    const loss = (q: Arr, k: Arr, v: Arr, bias: Arr): number => {
      const o = refExactAttention(q, k, v, null, { ...b.opts, bias }).output;
      let s = 0;
      for (let i = 0; i < o.data.length; i++) s += o.data[i] * b.dy.data[i];
      return s;
    };
    const eps = 1e-6;
    const probes: [Arr, Arr][] = [[b.q, ref.dq], [b.k, ref.dk], [b.v, ref.dv], [b.bias!, ref.dbias!]];
    for (const [x, g] of probes) {
      for (let i = 0; i < x.data.length; i++) {
        const keep = x.data[i];
        x.data[i] = keep + eps;
        const up = loss(b.q, b.k, b.v, b.bias!);
        x.data[i] = keep - eps;
        const down = loss(b.q, b.k, b.v, b.bias!);
        x.data[i] = keep;
        expect(Math.abs((up - down) / (2 * eps) - g.data[i])).toBeLessThan(1e-6);
      }
    }
  });
});

// Each module the runtime may load: relaxed SIMD (fused multiply-add) where the engine has it, SIMD128 everywhere.
describe.each(['relaxed-simd', 'simd128'] as const)('wasmFusedAttention (%s module)', (instructions) => {
  beforeAll(() => reloadRuntime(instructions));
  afterAll(() => reloadRuntime(null));

  it(`runs the ${instructions} module`, () => {
    expect(wasmKernelStatus().instructions).toBe(instructions);
  });

  const cases: [string, Case][] = [
    ['full attention, H and Hv not multiples of 4', { B: 1, N: 2, T: 5, S: 7, H: 3, Hv: 5 }],
    ['several 64-row blocks and 64-key panels', { B: 1, N: 1, T: 150, S: 140, H: 8, Hv: 4 }],
    ['causal, T > S', { B: 2, N: 1, T: 37, S: 21, H: 4, Hv: 4, causal: true }],
    ['causal across panels', { B: 1, N: 2, T: 130, S: 130, H: 4, Hv: 8, causal: true }],
    ['window', { B: 1, N: 1, T: 100, S: 90, H: 4, Hv: 4, window: 7 }],
    ['causal window', { B: 1, N: 1, T: 90, S: 90, H: 4, Hv: 4, causal: true, window: 5 }],
    ['padding mask [B,1,1,S]', { B: 2, N: 2, T: 9, S: 17, H: 4, Hv: 4, maskShape: [2, 1, 1, 17], hide: 0.4 }],
    ['full mask with empty rows, zeros', { B: 1, N: 2, T: 9, S: 5, H: 4, Hv: 3, maskShape: [1, 2, 9, 5], hide: 0.6 }],
    ['full mask with empty rows, uniform', { B: 1, N: 2, T: 9, S: 5, H: 4, Hv: 3, maskShape: [1, 2, 9, 5], hide: 0.6, emptyRows: 'uniform' }],
    ['bias per head [1,N,T,S]', { B: 2, N: 2, T: 11, S: 13, H: 4, Hv: 4, biasShape: [1, 2, 11, 13] }],
    ['bias shared [1,1,1,S] with mask and causal', { B: 2, N: 3, T: 12, S: 12, H: 5, Hv: 2, biasShape: [1, 1, 1, 12], maskShape: [2, 1, 12, 1], hide: 0.2, causal: true }],
    ['bias [B,1,T,1] with window', { B: 2, N: 2, T: 20, S: 20, H: 4, Hv: 4, biasShape: [2, 1, 20, 1], window: 3 }],
    ['a window wider than int32 arithmetic allows', { B: 1, N: 1, T: 9, S: 7, H: 4, Hv: 4, window: 2 ** 31 - 1 }],
    ['a causal window wider than the sequence', { B: 1, N: 1, T: 9, S: 7, H: 4, Hv: 4, window: 2 ** 31 - 1, causal: true }],
    // Scores spread over ±60: the exponential across its whole float32 range, weights down to underflow.
    ['sharp scores, H and Hv multiples of 8, several panels', { B: 1, N: 2, T: 200, S: 260, H: 16, Hv: 16, scale: 6 }],
    ['sharp scores with a bias and causal', { B: 1, N: 1, T: 140, S: 140, H: 8, Hv: 8, scale: 6, biasShape: [1, 1, 140, 140], causal: true }],
    // Fewer heads than 4: the backward deals each head's key panels to 4 groups with dQ partial sums.
    ['key-panel groups: a bias [1,1,1,S] shared by the heads, rows hidden whole (uniform)', { B: 1, N: 2, T: 40, S: 530, H: 8, Hv: 8, biasShape: [1, 1, 1, 530], maskShape: [1, 1, 40, 1], hide: 0.3, emptyRows: 'uniform' }],
    ['key-panel groups with a window, causal and a full mask', { B: 1, N: 1, T: 300, S: 300, H: 8, Hv: 4, window: 150, causal: true, maskShape: [1, 1, 300, 300], hide: 0.2 }],
    ['a bias [1,1,T,1] over several panels (its gradient sums across them: no groups)', { B: 1, N: 1, T: 30, S: 300, H: 4, Hv: 4, biasShape: [1, 1, 30, 1] }],
  ];
  it.each(cases)('matches the float64 reference, forward and gradients: %s', (_name, c) => {
    check(c, 100);
  });

  it('matches the reference over random shapes, masks, causal, window, bias and emptyRows (fast-check, fixed seed)', () => {
    const shape = fc.record({
      B: fc.integer({ min: 1, max: 2 }),
      N: fc.integer({ min: 1, max: 2 }),
      T: fc.integer({ min: 1, max: 20 }),
      S: fc.integer({ min: 1, max: 20 }),
      H: fc.integer({ min: 1, max: 9 }),
      Hv: fc.integer({ min: 1, max: 9 }),
      causal: fc.boolean(),
      window: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
      mask: fc.option(fc.tuple(fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean()), { nil: undefined }),
      bias: fc.option(fc.tuple(fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean()), { nil: undefined }),
      uniform: fc.boolean(),
      seed: fc.integer({ min: 0, max: 1000 }),
    });
    fc.assert(
      fc.property(shape, (s) => {
        const full = [s.B, s.N, s.T, s.S];
        const c: Case = {
          B: s.B, N: s.N, T: s.T, S: s.S, H: s.H, Hv: s.Hv, causal: s.causal, window: s.window,
          maskShape: s.mask ? full.map((d, i) => (s.mask![i] ? d : 1)) : undefined,
          biasShape: s.bias ? full.map((d, i) => (s.bias![i] ? d : 1)) : undefined,
          emptyRows: s.uniform ? 'uniform' : 'zeros',
        };
        check(c, s.seed);
      }),
      { seed: 1212, numRuns: 60 },
    );
  });

  it('runs a call too small to repay a worker on the calling thread by default, a large one on the default threads', () => {
    setWasmKernelThreads(null);
    const run = (T: number, H: number) =>
      tf.tidy(() => {
        const x = tf.randomNormal([1, 2, T, H], 0, 1, 'float32', 3);
        wasmFusedAttention({ query: x, key: x, value: x, mask: null, bias: null, scale: 1, causal: false, window: null, emptyRows: 'zeros' }).dataSync();
        return lastCallThreads();
      });
    expect(run(16, 8)).toBe(1); // 4·2·16·16·8 flops, far below 2^24
    expect(run(256, 64)).toBe(Math.min(2, os.availableParallelism())); // 4·2·256·256·64 = 2^25 flops
    setWasmKernelThreads(2);
    expect(run(16, 8)).toBe(2); // an explicit count is obeyed
    setWasmKernelThreads(null);
  });

  it('splits one head\'s backward over two threads by key panels, with the same bits as one thread', () => {
    const c: Case = { B: 1, N: 1, T: 64, S: 600, H: 8, Hv: 8, causal: false, biasShape: [1, 1, 64, 600] };
    const b = build(c, 9);
    setWasmKernelThreads(1);
    const one = runKernel(c, b);
    setWasmKernelThreads(2);
    const two = runKernel(c, b);
    expect(lastCallThreads()).toBe(2); // the backward ran last, on both threads
    setWasmKernelThreads(null);
    expect(Array.from(two.out)).toEqual(Array.from(one.out));
    for (let i = 0; i < 4; i++) expect(Array.from(two.grads[i])).toEqual(Array.from(one.grads[i]));
    const ref = refExactAttention(b.q, b.k, b.v, b.dy, b.opts);
    expectClose(two.grads[0], ref.dq, 1e-3, 'dq');
    expectClose(two.grads[3], ref.dbias!, 1e-3, 'dbias');
  });

  it('gives bit-identical results on one and on two threads', () => {
    const c: Case = { B: 2, N: 3, T: 70, S: 66, H: 8, Hv: 8, causal: true, biasShape: [1, 1, 70, 66], maskShape: [2, 1, 1, 66], hide: 0.1 };
    const b = build(c, 5);
    setWasmKernelThreads(1);
    expect(wasmKernelStatus().threads).toBe(1);
    const one = runKernel(c, b);
    expect(lastCallThreads()).toBe(1);
    setWasmKernelThreads(2);
    expect(wasmKernelStatus().threads).toBe(2);
    const two = runKernel(c, b);
    // The backward ran last, split over 2 threads (the worker started and took its heads).
    expect(lastCallThreads()).toBe(2);
    setWasmKernelThreads(null);
    expect(Array.from(two.out)).toEqual(Array.from(one.out));
    for (let i = 0; i < 4; i++) expect(Array.from(two.grads[i])).toEqual(Array.from(one.grads[i]));
    const ref = refExactAttention(b.q, b.k, b.v, b.dy, b.opts);
    expectClose(two.out, ref.output, 2e-4, 'output');
  });

  describe('exact masking', () => {
    const one = (q: number[][], k: number[][], v: number[][], extra: Partial<FusedKernelInput>): number[] =>
      tf.tidy(() =>
        Array.from(
          wasmFusedAttention({
            query: tf.tensor4d([[q]]),
            key: tf.tensor4d([[k]]),
            value: tf.tensor4d([[v]]),
            mask: null,
            bias: null,
            scale: 1,
            causal: false,
            window: null,
            emptyRows: 'zeros',
            ...extra,
          }).dataSync(),
        ),
      );

    it('gives a masked key zero weight at scores near 1e9 (issue 11, item 1)', () => {
      const mask = tf.tensor4d([[[[true, false]]]]);
      expect(one([[5e4]], [[-5e4], [0]], [[1], [100]], { mask })).toEqual([1]);
      mask.dispose();
    });

    it('gives a key hidden by causal zero weight at scores near 1e9', () => {
      expect(one([[5e4], [0]], [[-5e4], [5e4]], [[1], [100]], { causal: true })[0]).toBe(1);
    });

    it('keeps a NaN or Inf in the value or key of a masked key out of the output and the gradients', () => {
      const mask = tf.tensor4d([[[[true, false, true]]]]);
      const out = one([[1], [2]], [[0.5], [NaN], [1]], [[1], [NaN], [3]], { mask });
      const want0 = (Math.exp(0.5) * 1 + Math.exp(1) * 3) / (Math.exp(0.5) + Math.exp(1));
      expect(out[0]).toBeCloseTo(want0, 5);
      expect(out.every(Number.isFinite)).toBe(true);
      const grads = tf.tidy(() => {
        const f = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor): tf.Tensor =>
          wasmFusedAttention({ query: q, key: k, value: v, mask, bias: null, scale: 1, causal: false, window: null, emptyRows: 'zeros' }).sum();
        return tf.grads(f)([tf.tensor4d([[[[1], [2]]]]), tf.tensor4d([[[[0.5], [Infinity], [1]]]]), tf.tensor4d([[[[1], [-Infinity], [3]]]])]).map((g) => Array.from(g.dataSync()));
      });
      expect(grads[0].every(Number.isFinite)).toBe(true);
      expect(grads[1][0]).not.toBe(0);
      expect([grads[1][1], grads[2][1]]).toEqual([0, 0]);
      mask.dispose();
    });

    it('keeps a NaN in the value of a key hidden by causal or window out of the output', () => {
      const q = [[1], [1], [1], [1]];
      const k = [[1], [1], [1], [1]];
      const v = [[1], [2], [3], [NaN]];
      expect(one(q, k, v, { causal: true }).slice(0, 3)).toEqual([1, 1.5, 2]);
      const w = one(q, [[1], [1], [1], [1]], [[NaN], [2], [4], [6]], { window: 1 });
      expect(w.slice(2)).toEqual([4, 5]);
    });

    it('gives NaN for a row whose only visible score is NaN (not the empty-row zeros)', () => {
      const mask = tf.tensor4d([[[[true, false, false]]]]);
      // The NaN key is the only one visible: no finite maximum, yet the row is NaN, as in float64.
      expect(one([[1]], [[NaN], [1], [2]], [[1], [2], [3]], { mask })).toEqual([NaN]);
      // With a finite score beside it the row is NaN too.
      expect(one([[1]], [[NaN], [1], [2]], [[1], [2], [3]], {})).toEqual([NaN]);
      mask.dispose();
    });

    it('gives the empty-row result for a row whose bias is -Infinity everywhere', () => {
      const bias = tf.tensor4d([[[[-Infinity, -Infinity], [0, -Infinity]]]]);
      const v = [[2], [4]];
      expect(one([[1], [1]], [[1], [1]], v, { bias })).toEqual([0, 2]);
      expect(one([[1], [1]], [[1], [1]], v, { bias, emptyRows: 'uniform' })).toEqual([3, 2]);
      bias.dispose();
    });
  });

  describe('zero-size dimensions', () => {
    const cases: [string, number[], number[], number[]][] = [
      ['B = 0', [0, 2, 3, 4], [0, 2, 5, 4], [0, 2, 5, 3]],
      ['N = 0', [1, 0, 3, 4], [1, 0, 5, 4], [1, 0, 5, 3]],
      ['T = 0', [1, 2, 0, 4], [1, 2, 5, 4], [1, 2, 5, 3]],
      ['Hv = 0', [1, 2, 3, 4], [1, 2, 5, 4], [1, 2, 5, 0]],
      ['S = 0', [1, 2, 3, 4], [1, 2, 0, 4], [1, 2, 0, 3]],
      ['H = 0', [1, 2, 3, 0], [1, 2, 5, 0], [1, 2, 5, 3]],
    ];
    it.each(cases)('returns a well-shaped result and gradients for %s', (_name, qs, ks, vs) => {
      for (const emptyRows of ['zeros', 'uniform'] as const) {
        const q = randn(qs, 1);
        const k = randn(ks, 2);
        const v = randn(vs, 3);
        const dy = randn([qs[0], qs[1], qs[2], vs[3]], 4);
        const ref = refExactAttention(q, k, v, dy, { scale: 0.5, emptyRows });
        const got = tf.tidy(() => {
          const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor): tf.Tensor =>
            wasmFusedAttention({ query: a, key: b, value: c, mask: null, bias: null, scale: 0.5, causal: false, window: null, emptyRows });
          const out = f(t(q), t(k), t(v));
          const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(f(a, b, c), t(dy))))([t(q), t(k), t(v)]);
          return { shape: out.shape, out: out.dataSync(), grads: grads.map((g) => ({ shape: g.shape, data: g.dataSync() })) };
        });
        expect(got.shape).toEqual([qs[0], qs[1], qs[2], vs[3]]);
        expectClose(got.out, ref.output, 1e-5, 'output');
        expect(got.grads.map((g) => g.shape)).toEqual([qs, ks, vs]);
        expectClose(got.grads[0].data, ref.dq, 1e-5, 'dq');
        expectClose(got.grads[2].data, ref.dv, 1e-5, 'dv');
      }
    });
  });

  it('leaks no tensors, forward or backward, and reuses its memory', () => {
    const c: Case = { B: 1, N: 2, T: 20, S: 20, H: 4, Hv: 4, biasShape: [1, 1, 20, 20], maskShape: [1, 1, 1, 20] };
    const b = build(c, 3);
    runKernel(c, b);
    const bytes = wasmKernelMemoryBytes();
    const before = tf.memory().numTensors;
    const q = t(b.q);
    const k = t(b.k);
    const v = t(b.v);
    const bias = t(b.bias!);
    const out = wasmFusedAttention(input(b, c, { q, k, v, bias, mask: null }));
    const grads = tf.grads((a: tf.Tensor, bb: tf.Tensor, cc: tf.Tensor, d: tf.Tensor) =>
      wasmFusedAttention(input(b, c, { q: a, k: bb, v: cc, bias: d, mask: null })).sum(),
    )([q, k, v, bias]);
    expect(tf.memory().numTensors).toBe(before + 4 + 1 + 4);
    tf.dispose([q, k, v, bias, out, ...grads]);
    expect(tf.memory().numTensors).toBe(before);
    runKernel(c, b);
    expect(wasmKernelMemoryBytes()).toBe(bytes);
  });

  describe('argument checks', () => {
    const base = (): FusedKernelInput => ({
      query: tf.zeros([1, 2, 3, 4]),
      key: tf.zeros([1, 2, 5, 4]),
      value: tf.zeros([1, 2, 5, 6]),
      mask: null,
      bias: null,
      scale: 1,
      causal: false,
      window: null,
      emptyRows: 'zeros',
    });
    const bad: [string, (i: FusedKernelInput) => Partial<FusedKernelInput>, RegExp][] = [
      ['query of rank 3', () => ({ query: tf.zeros([2, 3, 4]) }), /expected query a float32 tensor of rank 4, but got float32 \[2,3,4\]/],
      ['int32 key', () => ({ key: tf.zeros([1, 2, 5, 4], 'int32') }), /expected key a float32 tensor of rank 4, but got int32/],
      ['key head size', () => ({ key: tf.zeros([1, 2, 5, 3]) }), /expected key \[1,2,S,4\] to match query \[1,2,3,4\], but got key \[1,2,5,3\]/],
      ['value length', () => ({ value: tf.zeros([1, 2, 4, 6]) }), /expected value \[1,2,5,Hv\] to match key \[1,2,5,4\], but got value \[1,2,4,6\]/],
      ['mask shape', () => ({ mask: tf.ones([1, 2, 3, 4], 'bool') }), /expected mask of rank 4 with each dim 1 or \[1,2,3,5\], but got mask \[1,2,3,4\]/],
      ['bias rank', () => ({ bias: tf.zeros([3, 5]) }), /expected bias of rank 4 with each dim 1 or \[1,2,3,5\], but got bias \[3,5\]/],
      ['bias dtype', () => ({ bias: tf.zeros([1, 1, 1, 5], 'int32') }), /expected bias a float32 tensor or null, but got int32/],
      ['scale NaN', () => ({ scale: NaN }), /expected scale a finite number, but got NaN/],
      ['window -1', () => ({ window: -1 }), /expected window a non-negative integer or null, but got -1/],
      ['window 1.5', () => ({ window: 1.5 }), /expected window a non-negative integer or null, but got 1.5/],
      ['emptyRows', () => ({ emptyRows: 'nan' as 'zeros' }), /expected emptyRows 'zeros' or 'uniform', but got nan/],
      ['causal', () => ({ causal: 1 as unknown as boolean }), /expected causal a boolean, but got 1/],
    ];
    it.each(bad)('throws a clear error for %s, leaving no tensors', (_name, change, re) => {
      const i = base();
      const extra = change(i);
      const before = tf.memory().numTensors;
      expect(() => wasmFusedAttention({ ...i, ...extra })).toThrow(re);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([i.query, i.key, i.value, ...Object.values(extra).filter((x): x is tf.Tensor => x instanceof tf.Tensor)]);
    });

    it.each([0, 5, 1.5, NaN])('setWasmKernelThreads(%p) throws', (n) => {
      expect(() => setWasmKernelThreads(n)).toThrow(/setWasmKernelThreads: expected an integer from 1 to 4 or null, but got/);
    });
  });
});
