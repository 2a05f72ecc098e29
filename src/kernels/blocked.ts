/**
 * The blocked kernel: `softmax(Q·Kᵀ·scale + bias | mask)·V` one (batch, head)
 * slice at a time with plain 2-D matrix products, one softmax per block of
 * query rows. Differentiated by tfjs. Also the slice and block helpers the
 * online kernel (online.ts) shares.
 *
 * Why: on the wasm backend a 2-D `matMul` runs an order of magnitude faster
 * than a batched one, and `transposeB` is slow, so each block multiplies a
 * `[b, H]` block of queries by keys transposed beforehand. Blocking the
 * queries lets causal attention skip the key blocks above the diagonal and
 * sliding-window attention visit only the keys in its band.
 *
 * Keys are kept as rows `[S, H]` and a block's key range is cut from them
 * (a contiguous slice) and transposed: cutting columns out of a transposed
 * `[H, S]` copy is a strided slice, which on wasm cost as much as the
 * products themselves (the causal regression of issue 12).
 *
 * Shape legend: L slices (the product of the leading dimensions), T query
 * length, S key length, H depth, Hv value depth, b a query block, c a key block.
 */
import * as tf from '@tensorflow/tfjs';
import { capScores, exactProduct, finiteScores, maskedSoftmaxRows, maskToLogits, splitFinite, withoutGradient } from '../ops/masked_softmax';
import { bandMask } from '../ops/masks';
import type { KernelInput, KernelOutput } from './contract';

/**
 * For a tensor broadcastable to `[...lead, T, S]`, its 2-D `[mT, mS]` slice
 * for every flat slice index (mT, mS are T or 1). Slices shared by several
 * indices (a mask broadcast over heads) are made once. Made eagerly, so that
 * no inner `tf.tidy` disposes a slice that a later block still needs.
 */
export function slicesOf(x: tf.Tensor | null, lead: number[]): Array<tf.Tensor | null> {
  const L = lead.reduce((a, b) => a * b, 1);
  if (x === null) return new Array<null>(L).fill(null);
  const r = lead.length + 2;
  const shape = [...new Array(r - x.rank).fill(1), ...x.shape];
  const xr = tf.reshape(x, shape);
  const cache = new Map<number, tf.Tensor>();
  const size = [...new Array(lead.length).fill(1), shape[r - 2], shape[r - 1]];
  const out: tf.Tensor[] = [];
  for (let l = 0; l < L; l++) {
    const begin = new Array<number>(r).fill(0);
    let rem = l;
    let key = 0;
    let mul = 1;
    for (let d = lead.length - 1; d >= 0; d--) {
      const i = rem % lead[d];
      rem = Math.floor(rem / lead[d]);
      if (shape[d] !== 1) {
        begin[d] = i;
        key += i * mul;
        mul *= shape[d];
      }
    }
    let s = cache.get(key);
    if (s === undefined) {
      s = tf.reshape(tf.slice(xr, begin, size), [shape[r - 2], shape[r - 1]]);
      cache.set(key, s);
    }
    out.push(s);
  }
  return out;
}

/** The `[rows, cols]` window of a `[mR, mC]` tensor that broadcasts over unit dimensions. */
export function window2d(x: tf.Tensor, r0: number, r1: number, c0: number, c1: number): tf.Tensor {
  const [mR, mC] = x.shape;
  const rb = mR === 1 ? 0 : r0;
  const rs = mR === 1 ? 1 : r1 - r0;
  const cb = mC === 1 ? 0 : c0;
  const cs = mC === 1 ? 1 : c1 - c0;
  return rb === 0 && cb === 0 && rs === mR && cs === mC ? x : tf.slice(x, [rb, cb], [rs, cs]);
}

/** Keys `[lo, hi)` that query block `[t0, t1)` may see at all under causal and window. */
export function keyRange(inp: KernelInput, S: number, t0: number, t1: number): [number, number] {
  const w = inp.window;
  const lo = w === undefined ? 0 : Math.max(0, t0 - w);
  let hi = S;
  if (inp.causal) hi = Math.min(S, t1);
  else if (w !== undefined) hi = Math.min(S, t1 + w);
  return [lo, Math.max(lo, hi)];
}

/** `[t0, t1)` blocks of `size` rows covering `[0, T)`. */
export function queryBlocks(T: number, size: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let t0 = 0; t0 < T; t0 += size) out.push([t0, Math.min(T, t0 + size)]);
  return out;
}

/** Whether the only thing hiding keys is a mask with a unit query axis (padding). */
export function paddingOnly(inp: KernelInput): boolean {
  const m = inp.mask;
  return m !== null && (m.rank < 2 || m.shape[m.rank - 2] === 1) && !inp.causal && inp.window === undefined && inp.bias === null;
}

/** Whether some query row may have no visible key (then the kernels look for empty rows). */
export function mayHaveEmptyRows(inp: KernelInput, T: number, S: number): boolean {
  if (inp.mask !== null || inp.bias !== null) return true;
  if (inp.window !== undefined) return T - 1 - inp.window > S - 1;
  return false;
}

/** The matrices of a slice that kernels cut rows from. */
export type RowSource = 'q' | 'k' | 'v' | 'clean' | 'bad' | 'badPrefix' | 'vKeys';

/** One slice's matrices, made by `SliceContext.load` and freed by `unload`. */
export interface Slice {
  /**
   * Rows `[a, b)` of one of the slice's matrices: `'q'` scaled queries
   * `[T, H]`, `'k'` keys `[S, H]`, `'v'` values `[S, Hv]`, `'clean'` the values
   * with non-finite entries set to 0, `'bad'` the 1/0 indicator of those
   * entries, `'badPrefix'` its running sum over the keys (row t: keys 0..t),
   * `'vKeys'` the values with the keys the slice's mask hides from every
   * query set to 0 (for a mask with a unit query axis: padding).
   * Made inside the caller's `tf.tidy`.
   */
  rows: (src: RowSource, a: number, b: number) => tf.Tensor;
  /** Keys `[lo, hi)` transposed, `[H, hi - lo]`, cached per slice. */
  keysT: (lo: number, hi: number) => tf.Tensor;
  /** Mean of the values `[1, Hv]` (the output of an empty row under `'uniform'`). */
  mean: () => tf.Tensor;
  /** The slice's mask `[T|1, S|1]` or null. */
  mask: tf.Tensor | null;
  /** The slice's bias `[T|1, S|1]` or null. */
  bias: tf.Tensor | null;
}

/** A slice's matrices as JS arrays (data mode). */
interface SliceData {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  clean?: Float32Array;
  bad?: Float32Array;
  badPrefix?: Float32Array;
  vKeys?: Float32Array;
}

/**
 * Everything the blocked and online kernels need per call, shared by their
 * forward and backward passes.
 *
 * Two ways to cut a slice's rows. Tensor mode (`fromData` false) uses
 * `tf.slice`, which tfjs differentiates. Data mode reads query, key and value
 * once (`dataSync`) and makes each block's rows from subarrays: on wasm a
 * `tf.slice` copies its whole source out of the heap before cutting
 * (`readSync`), so cutting 8 heads from `[8·2048, 64]` cost as much as the
 * products of a causal pass. The planner chooses data mode where it is
 * cheap and safe: on cpu and wasm, and only where no gradient tape records
 * the kernel's ops (the online kernel, or a forward pass).
 */
export class SliceContext {
  readonly T: number;
  readonly S: number;
  readonly H: number;
  readonly Hv: number;
  readonly L: number;
  readonly lead: number[];
  private readonly q2: tf.Tensor | null = null;
  private readonly k2: tf.Tensor | null = null;
  private readonly v2: tf.Tensor | null = null;
  private readonly data: { q: Float32Array; k: Float32Array; v: Float32Array } | null = null;
  private readonly masks: Array<tf.Tensor | null>;
  private readonly biases: Array<tf.Tensor | null>;
  /** Causal/window visibility of a block as additive logits (0 / -Infinity), shared by every slice; keyed by "t0,t1,c0,c1". Kept until `release`. */
  private readonly structural = new Map<string, tf.Tensor | null>();
  private owned: tf.Tensor[] = [];

  constructor(
    readonly inp: KernelInput,
    readonly fromData = false,
  ) {
    const r = inp.query.rank;
    this.lead = inp.query.shape.slice(0, r - 2);
    [this.T, this.H] = inp.query.shape.slice(-2);
    this.S = inp.key.shape[r - 2];
    this.Hv = inp.value.shape[r - 1];
    this.L = this.lead.reduce((a, b) => a * b, 1);
    if (fromData) {
      this.data = {
        q: inp.query.dataSync() as Float32Array,
        k: inp.key.dataSync() as Float32Array,
        v: inp.value.dataSync() as Float32Array,
      };
    } else {
      // Row ranges of 2-D views: on wasm a 2-D slice is several times faster than the same slice in 3-D.
      this.q2 = tf.reshape(inp.query, [this.L * this.T, this.H]);
      this.k2 = tf.reshape(inp.key, [this.L * this.S, this.H]);
      this.v2 = tf.reshape(inp.value, [this.L * this.S, this.Hv]);
    }
    this.masks = slicesOf(inp.mask, this.lead);
    this.biases = slicesOf(inp.bias, this.lead);
  }

  /** Keeps a tensor made inside a block's tf.tidy until `unload`. */
  private own<X extends tf.Tensor>(x: X): X {
    this.owned.push(tf.keep(x));
    return x;
  }

  /** Slice `l`'s matrices. Its cached tensors live until `unload`. */
  load(l: number): Slice {
    const { T, S, H, Hv, inp } = this;
    const cols = (src: RowSource) => (src === 'q' || src === 'k' ? H : Hv);
    const transposed = new Map<string, tf.Tensor>();
    let mean: tf.Tensor | null = null;
    let rows: Slice['rows'];
    if (this.data !== null) {
      const d = this.data;
      const sd: SliceData = {
        q: d.q.slice(l * T * H, (l + 1) * T * H),
        k: d.k.subarray(l * S * H, (l + 1) * S * H),
        v: d.v.subarray(l * S * Hv, (l + 1) * S * Hv),
      };
      if (inp.scale !== 1) for (let i = 0; i < sd.q.length; i++) sd.q[i] *= inp.scale;
      const arrays = (src: RowSource): Float32Array => {
        if (src === 'q' || src === 'k' || src === 'v') return sd[src];
        if (src === 'vKeys') {
          if (sd.vKeys === undefined) {
            const m = (this.masks[l] as tf.Tensor).dataSync();
            const out = sd.v.slice();
            for (let j = 0; j < S; j++) if (m[m.length === 1 ? 0 : j] === 0) out.fill(0, j * Hv, (j + 1) * Hv);
            sd.vKeys = out;
          }
          return sd.vKeys;
        }
        if (sd.clean === undefined) {
          // The finite part, the indicator of the rest, and its running sum over the keys.
          const clean = new Float32Array(sd.v.length);
          const bad = new Float32Array(sd.v.length);
          const prefix = new Float32Array(sd.v.length);
          for (let i = 0; i < sd.v.length; i++) {
            const x = sd.v[i];
            const ok = Number.isFinite(x);
            clean[i] = ok ? x : 0;
            bad[i] = ok ? 0 : 1;
            prefix[i] = bad[i] + (i >= Hv ? prefix[i - Hv] : 0);
          }
          Object.assign(sd, { clean, bad, badPrefix: prefix });
        }
        return sd[src] as Float32Array;
      };
      rows = (src, a, b) => tf.tensor2d(arrays(src).subarray(a * cols(src), b * cols(src)), [b - a, cols(src)]);
    } else {
      const whole = this.L === 1;
      const q = whole ? (this.q2 as tf.Tensor) : tf.slice(this.q2 as tf.Tensor, [l * T, 0], [T, H]);
      const qs = inp.scale === 1 ? q : tf.mul(q, inp.scale);
      const k = whole ? (this.k2 as tf.Tensor) : tf.slice(this.k2 as tf.Tensor, [l * S, 0], [S, H]);
      const v = whole ? (this.v2 as tf.Tensor) : tf.slice(this.v2 as tf.Tensor, [l * S, 0], [S, Hv]);
      // (With one slice, q, k and v are the call's own 2-D views, released with it.)
      for (const x of whole ? [qs === q ? null : qs] : [q, qs, k, v]) if (x !== null) this.own(x);
      const full: Partial<Record<RowSource, tf.Tensor>> = { q: qs, k, v };
      const matrix = (src: RowSource): tf.Tensor => {
        if (src === 'vKeys' && full.vKeys === undefined) {
          // [1, S] or [1, 1] mask as a column [S, 1] (or [1, 1]) over the value rows.
          const m = this.masks[l] as tf.Tensor;
          full.vKeys = this.own(tf.tidy(() => tf.where(tf.reshape(m, [m.shape[1] as number, 1]), v, tf.zerosLike(v))));
        }
        if (full[src] === undefined) {
          const made = tf.tidy(() => {
            const { clean, bad } = splitFinite(v);
            // The running count carries no gradient (tfjs 4.22's Cumsum gradient has the wrong shape on axis 0).
            return [clean, bad, withoutGradient((x) => tf.cumsum(splitFinite(x).bad, 0), v)];
          });
          [full.clean, full.bad, full.badPrefix] = made.map((x) => this.own(x));
        }
        return full[src] as tf.Tensor;
      };
      rows = (src, a, b) => {
        const m = matrix(src);
        return a === 0 && b === m.shape[0] ? m : tf.slice(m, [a, 0], [b - a, cols(src)]);
      };
    }
    return {
      rows,
      keysT: (lo, hi) => {
        const key = `${lo},${hi}`;
        let t = transposed.get(key);
        if (t === undefined) {
          t = this.own(tf.tidy(() => tf.transpose(rows('k', lo, hi))));
          transposed.set(key, t);
        }
        return t;
      },
      mean: () => {
        if (mean === null) mean = this.own(tf.tidy(() => tf.mean(rows('v', 0, S), 0, true)));
        return mean;
      },
      mask: this.masks[l],
      bias: this.biases[l],
    };
  }

  /** Frees slice `l`'s tensors. */
  unload(): void {
    tf.dispose(this.owned);
    this.owned = [];
  }

  /**
   * Causal/window visibility of keys `[c0, c1)` from queries `[t0, t1)` as
   * additive logits `[b, c]` (0 visible, -Infinity hidden), or null when all
   * are visible.
   */
  structuralLogits(t0: number, t1: number, c0: number, c1: number): tf.Tensor | null {
    const key = `${t0},${t1},${c0},${c1}`;
    if (this.structural.has(key)) return this.structural.get(key) ?? null;
    const { inp } = this;
    const left = inp.window ?? Infinity;
    const right = inp.causal ? 0 : (inp.window ?? Infinity);
    // Every (i, j) of the block within i - left <= j <= i + right? Then nothing to mask.
    const all = c0 >= t1 - 1 - left && c1 - 1 <= t0 + right;
    // The band of the full mask, cut to the block: key j of the block is global c0 + j.
    const m = all ? null : tf.keep(tf.tidy(() => maskToLogits(bandMask(t1 - t0, c1 - c0, left, t0 - c0, right))));
    this.structural.set(key, m);
    return m;
  }

  /** Frees what the context kept (call once, after the last slice). */
  release(): void {
    this.unload();
    for (const m of this.structural.values()) if (m !== null) m.dispose();
    this.structural.clear();
  }
}

/** The scores of a block, hidden keys at -Infinity. */
export interface Block {
  /** `[b, c]`: scaled product plus bias, -Infinity where the mask, causal or window hides a key. */
  scores: tf.Tensor;
  /** Whether the mask, causal or window hides some key of the block. */
  hides: boolean;
}

/** Scores of queries `[t0, t1)` against keys `[c0, c1)` of a slice. Call inside `tf.tidy`. */
export function blockScores(ctx: SliceContext, sl: Slice, t0: number, t1: number, c0: number, c1: number): Block {
  let scores = finiteScores(tf.matMul(sl.rows('q', t0, t1), sl.keysT(c0, c1)));
  if (sl.bias !== null) scores = capScores(tf.add(scores, window2d(sl.bias, t0, t1, c0, c1)));
  if (sl.mask !== null) scores = tf.add(scores, maskToLogits(window2d(sl.mask, t0, t1, c0, c1)));
  const structural = ctx.structuralLogits(t0, t1, c0, c1);
  if (structural !== null) scores = tf.add(scores, structural);
  return { scores, hides: sl.mask !== null || structural !== null };
}

/**
 * The blocked kernel's forward pass, differentiable through tfjs's own
 * gradients unless `fromData` (rows cut from the inputs' data: only where no
 * gradient is recorded; see `SliceContext`). `queryBlock` rows per block;
 * the weights `[..., T, S]` when `inp.returnWeights`.
 */
export function blockedAttention(inp: KernelInput, queryBlock: number, fromData = false): KernelOutput {
  return tf.tidy(() => {
    const ctx = new SliceContext(inp, fromData);
    const { T, S, Hv, L, lead } = ctx;
    const uniform = inp.emptyRows === 'uniform';
    const mayBeEmpty = mayHaveEmptyRows(inp, T, S);
    const drop = inp.training && inp.dropout > 0;
    // Causal alone: no row is ever empty, and within a block only the diagonal keys are hidden.
    const causalAlone = inp.causal && inp.window === undefined && inp.mask === null && inp.bias === null;
    // A padding mask alone (unit query axis): the keys it hides are hidden from every query, so zeroing their values is exact.
    const paddingAlone = paddingOnly(inp);
    const outs: tf.Tensor[] = [];
    const weights: tf.Tensor[] = [];
    for (let l = 0; l < L; l++) {
      const sl = ctx.load(l);
      const rows: tf.Tensor[] = [];
      const wrows: tf.Tensor[] = [];
      queryBlocks(T, queryBlock).forEach(([t0, t1], bi) => {
        const [lo, hi] = keyRange(inp, S, t0, t1);
        const b = t1 - t0;
        if (hi === lo) {
          // No key in reach: an empty row of every query of the block.
          rows.push(uniform ? tf.tile(sl.mean(), [b, 1]) : tf.zeros([b, Hv]));
          if (inp.returnWeights) wrows.push(uniform ? tf.fill([b, S], 1 / S) : tf.zeros([b, S]));
          return;
        }
        // One block at a time: only its output rows (and weights) outlive it.
        const [o, wr] = tf.tidy(() => {
          const { scores, hides } = blockScores(ctx, sl, t0, t1, lo, hi);
          const { weights: w, empty } = maskedSoftmaxRows(scores, null, mayBeEmpty);
          let wrow: tf.Tensor | null = null;
          if (inp.returnWeights) {
            const padded = lo === 0 && hi === S ? w : tf.pad(w, [[0, 0], [lo, S - hi]]);
            wrow = uniform && empty !== null ? tf.where(empty, tf.fill(padded.shape, 1 / S), padded) : padded;
          }
          let wd = w;
          if (drop) {
            const seed = inp.seed === undefined ? undefined : inp.seed + 7919 * l + bi;
            wd = tf.dropout(w, inp.dropout, undefined, seed);
          }
          let out: tf.Tensor;
          if (!hides && inp.bias === null && !drop) {
            // Nothing hidden inside the block: the plain product.
            out = tf.matMul(wd, sl.rows('v', lo, hi));
          } else if (paddingAlone && !drop) {
            out = tf.matMul(wd, sl.rows('vKeys', lo, hi));
          } else if (causalAlone && !drop && t1 <= S) {
            // Row t sees keys 0..t: a non-finite value reaches it iff the running count at t is positive.
            out = tf.matMul(wd, sl.rows('clean', lo, hi));
            const reached = tf.cast(sl.rows('badPrefix', t0, t1), 'bool');
            out = tf.where(reached, tf.fill(out.shape, NaN), out);
          } else {
            out = exactProduct(wd, sl.rows('clean', lo, hi), sl.rows('bad', lo, hi));
          }
          if (uniform && empty !== null) out = tf.where(empty, tf.tile(sl.mean(), [b, 1]), out);
          return wrow === null ? [out] : [out, wrow];
        });
        rows.push(o);
        if (wr !== undefined) wrows.push(wr);
      });
      outs.push(rows.length === 1 ? rows[0] : tf.concat(rows, 0));
      if (inp.returnWeights) weights.push(wrows.length === 1 ? wrows[0] : tf.concat(wrows, 0));
      ctx.unload();
    }
    ctx.release();
    const output = tf.reshape(L === 1 ? outs[0] : tf.stack(outs), [...lead, T, Hv]);
    if (!inp.returnWeights) return { output };
    return { output, weights: tf.reshape(L === 1 ? weights[0] : tf.stack(weights), [...lead, T, S]) };
  });
}
