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
import { exactProduct, maskedSoftmaxRows, maskToLogits, splitFinite, withoutGradient } from '../ops/masked_softmax';
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

/** Whether some query row may have no visible key (then the kernels look for empty rows). */
export function mayHaveEmptyRows(inp: KernelInput, T: number, S: number): boolean {
  if (inp.mask !== null || inp.bias !== null) return true;
  if (inp.window !== undefined) return T - 1 - inp.window > S - 1;
  return false;
}

/** One slice's tensors, made by `SliceContext.load` and freed by `unload`. */
export interface Slice {
  /** Scaled queries `[T, H]`. */
  q: tf.Tensor;
  /** Keys as rows `[S, H]`. */
  k: tf.Tensor;
  /** `[S, Hv]`. */
  v: tf.Tensor;
  /** Keys `[lo, hi)` transposed, `[H, hi - lo]`, cached per slice. */
  keysT: (lo: number, hi: number) => tf.Tensor;
  /** `value` split into its finite part and the indicator of the rest (made on first use). */
  split: () => { clean: tf.Tensor; bad: tf.Tensor };
  /** Mean of the values `[1, Hv]` (the output of an empty row under `'uniform'`). */
  mean: () => tf.Tensor;
  /** Running count of non-finite values over the keys, `[S, Hv]` (row t: keys 0..t). */
  badPrefix: () => tf.Tensor;
  /** The slice's mask `[T|1, S|1]` or null. */
  mask: tf.Tensor | null;
  /** The slice's bias `[T|1, S|1]` or null. */
  bias: tf.Tensor | null;
}

/** Everything the blocked and online kernels need per call, shared by their forward and backward passes. */
export class SliceContext {
  readonly T: number;
  readonly S: number;
  readonly H: number;
  readonly Hv: number;
  readonly L: number;
  readonly lead: number[];
  private readonly q3: tf.Tensor;
  private readonly k3: tf.Tensor;
  private readonly v3: tf.Tensor;
  private readonly masks: Array<tf.Tensor | null>;
  private readonly biases: Array<tf.Tensor | null>;
  /** Causal/window visibility of a block as additive logits (0 / -Infinity), shared by every slice; keyed by "t0,t1,c0,c1". Kept until `release`. */
  private readonly structural = new Map<string, tf.Tensor | null>();
  private owned: tf.Tensor[] = [];

  constructor(readonly inp: KernelInput) {
    const r = inp.query.rank;
    this.lead = inp.query.shape.slice(0, r - 2);
    [this.T, this.H] = inp.query.shape.slice(-2);
    this.S = inp.key.shape[r - 2];
    this.Hv = inp.value.shape[r - 1];
    this.L = this.lead.reduce((a, b) => a * b, 1);
    // Slices are cut as row ranges of 2-D views: on wasm a 2-D slice is a copy
    // of contiguous rows, several times faster than the same slice in 3-D.
    this.q3 = tf.reshape(inp.query, [this.L * this.T, this.H]);
    this.k3 = tf.reshape(inp.key, [this.L * this.S, this.H]);
    this.v3 = tf.reshape(inp.value, [this.L * this.S, this.Hv]);
    this.masks = slicesOf(inp.mask, this.lead);
    this.biases = slicesOf(inp.bias, this.lead);
  }

  /** Slice `l`'s tensors. Its tensors live until `unload`. */
  load(l: number): Slice {
    const { T, S, H, Hv, inp } = this;
    const whole = this.L === 1;
    const q = whole ? this.q3 : tf.slice(this.q3, [l * T, 0], [T, H]);
    const qs = inp.scale === 1 ? q : tf.mul(q, inp.scale);
    const k = whole ? this.k3 : tf.slice(this.k3, [l * S, 0], [S, H]);
    const v = whole ? this.v3 : tf.slice(this.v3, [l * S, 0], [S, Hv]);
    // (With one slice, q, k and v are the call's own 2-D views, released with it.)
    this.owned = (whole ? [qs === q ? null : qs] : [q, qs, k, v]).filter((x): x is tf.Tensor => x !== null).map((x) => tf.keep(x));
    const transposed = new Map<string, tf.Tensor>();
    let split: { clean: tf.Tensor; bad: tf.Tensor } | null = null;
    let mean: tf.Tensor | null = null;
    let badPrefix: tf.Tensor | null = null;
    // Cached tensors are made inside a block's tf.tidy; keep them until `unload`.
    const own = <X extends tf.Tensor>(x: X): X => {
      this.owned.push(tf.keep(x));
      return x;
    };
    const split_ = () => {
      if (split === null) {
        split = tf.tidy(() => splitFinite(v));
        own(split.clean);
        own(split.bad);
      }
      return split;
    };
    return {
      q: qs,
      k,
      v,
      keysT: (lo, hi) => {
        const key = `${lo},${hi}`;
        let t = transposed.get(key);
        if (t === undefined) {
          t = own(tf.tidy(() => tf.transpose(lo === 0 && hi === S ? k : tf.slice(k, [lo, 0], [hi - lo, H]))));
          transposed.set(key, t);
        }
        return t;
      },
      split: () => split_(),
      mean: () => {
        if (mean === null) mean = own(tf.mean(v, 0, true));
        return mean;
      },
      badPrefix: () => {
        if (badPrefix === null) badPrefix = own(withoutGradient((x) => tf.cumsum(splitFinite(x).bad, 0), v));
        return badPrefix;
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
  const qb = t0 === 0 && t1 === ctx.T ? sl.q : tf.slice(sl.q, [t0, 0], [t1 - t0, ctx.H]);
  let scores = tf.matMul(qb, sl.keysT(c0, c1));
  if (sl.bias !== null) scores = tf.add(scores, window2d(sl.bias, t0, t1, c0, c1));
  if (sl.mask !== null) scores = tf.add(scores, maskToLogits(window2d(sl.mask, t0, t1, c0, c1)));
  const structural = ctx.structuralLogits(t0, t1, c0, c1);
  if (structural !== null) scores = tf.add(scores, structural);
  return { scores, hides: sl.mask !== null || structural !== null };
}

/**
 * The blocked kernel's forward pass, differentiable through tfjs's own
 * gradients. `queryBlock` rows per block; the weights `[..., T, S]` when
 * `inp.returnWeights`.
 */
export function blockedAttention(inp: KernelInput, queryBlock: number): KernelOutput {
  return tf.tidy(() => {
    const ctx = new SliceContext(inp);
    const { T, S, Hv, L, lead } = ctx;
    const uniform = inp.emptyRows === 'uniform';
    const mayBeEmpty = mayHaveEmptyRows(inp, T, S);
    const drop = inp.training && inp.dropout > 0;
    // Causal alone: no row is ever empty, and within a block only the diagonal keys are hidden.
    const causalAlone = inp.causal && inp.window === undefined && inp.mask === null && inp.bias === null;
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
          const full = lo === 0 && hi === S;
          let wrow: tf.Tensor | null = null;
          if (inp.returnWeights) {
            const padded = full ? w : tf.pad(w, [[0, 0], [lo, S - hi]]);
            wrow = uniform && empty !== null ? tf.where(empty, tf.fill(padded.shape, 1 / S), padded) : padded;
          }
          let wd = w;
          if (drop) {
            const seed = inp.seed === undefined ? undefined : inp.seed + 7919 * l + bi;
            wd = tf.dropout(w, inp.dropout, undefined, seed);
          }
          const cut = (x: tf.Tensor) => (full ? x : tf.slice(x, [lo, 0], [hi - lo, Hv]));
          let out: tf.Tensor;
          if (!hides && inp.bias === null && !drop) {
            // Nothing hidden inside the block: the plain product.
            out = tf.matMul(wd, cut(sl.v));
          } else if (causalAlone && !drop && t1 <= S) {
            // Row t sees keys 0..t: a non-finite value reaches it iff the running count at t is positive.
            out = tf.matMul(wd, cut(sl.split().clean));
            const reached = tf.cast(tf.slice(sl.badPrefix(), [t0, 0], [b, Hv]), 'bool');
            out = tf.where(reached, tf.fill(out.shape, NaN), out);
          } else {
            const { clean, bad } = sl.split();
            out = exactProduct(wd, cut(clean), cut(bad));
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
