/**
 * Blocked attention: the fast and the memory-bounded formulations of
 * `softmax(Q·Kᵀ·scale + bias + mask)·V`, computed one (batch, head) slice at a
 * time with plain 2-D matrix products.
 *
 * Why: on the wasm backend a 2-D `matMul` runs an order of magnitude faster
 * than a batched one, and `transposeB` is slow, so each slice multiplies a
 * `[b, H]` block of queries by a `[H, c]` block of keys transposed once.
 * Blocking the queries lets causal attention skip the key blocks above the
 * diagonal and sliding-window attention visit only the keys in its band;
 * chunking the keys with an online softmax (Rabe & Staats 2021; Dao et al.
 * 2022, FlashAttention) never materialises more than a `[b, c]` block of
 * scores, and its gradient recomputes each block instead of keeping it.
 *
 * Shape legend: L slices (the product of the leading dimensions), T query
 * length, S key length, H depth, Hv value depth, b a query block, c a key block.
 */
import * as tf from '@tensorflow/tfjs';
import { MASK_NEGATIVE } from './masked_softmax';
import { bandMask } from './masks';

/** The inputs of a blocked computation, already converted and checked. */
export interface BlockedInputs {
  /** `[..., T, H]`, unscaled. */
  query: tf.Tensor;
  /** `[..., S, H]`. */
  key: tf.Tensor;
  /** `[..., S, Hv]`. */
  value: tf.Tensor;
  /** bool, broadcastable to `[..., T, S]`, or null. */
  mask: tf.Tensor | null;
  /** float32, broadcastable to `[..., T, S]`, or null. */
  bias: tf.Tensor | null;
  scale: number;
  causal: boolean;
  /** Key `j` is visible from query `i` iff `|i - j| <= window` (`i - window <= j <= i` when causal). */
  window: number | undefined;
  /**
   * Rows with no visible key: `'zeros'`, or `'uniform'` (weights 1/S over all
   * keys, output the mean of the values, as Keras). Only the one-softmax path
   * supports `'uniform'`.
   */
  emptyRows: 'zeros' | 'uniform';
}

/** How to block the computation. */
export interface BlockPlan {
  /** Query rows per block. */
  queryBlock: number;
  /** Key columns per chunk of the online softmax, or null for one softmax per block. */
  keyChunk: number | null;
  dropout: number;
  training: boolean;
  seed: number | undefined;
  returnWeights: boolean;
}

/** Splits `[..., R, C]` into L tensors `[R, C]`. Call inside `tf.tidy`. */
function slices(x: tf.Tensor): tf.Tensor[] {
  const [R, C] = x.shape.slice(-2);
  const x3 = tf.reshape(x, [-1, R, C]);
  return Array.from({ length: x3.shape[0] }, (_, l) => tf.reshape(tf.slice(x3, [l, 0, 0], [1, R, C]), [R, C]));
}

/**
 * For a tensor broadcastable to `[...lead, T, S]`, its 2-D `[mT, mS]` slice
 * for every flat slice index (mT, mS are T or 1). Slices shared by several
 * indices (a mask broadcast over heads) are made once. Made eagerly, so that
 * no inner `tf.tidy` disposes a slice that a later block still needs.
 */
function slicesOf(x: tf.Tensor | null, lead: number[]): Array<tf.Tensor | null> {
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
function window2d(x: tf.Tensor, r0: number, r1: number, c0: number, c1: number): tf.Tensor {
  const [mR, mC] = x.shape;
  const rb = mR === 1 ? 0 : r0;
  const rs = mR === 1 ? 1 : r1 - r0;
  const cb = mC === 1 ? 0 : c0;
  const cs = mC === 1 ? 1 : c1 - c0;
  return rb === 0 && cb === 0 && rs === mR && cs === mC ? x : tf.slice(x, [rb, cb], [rs, cs]);
}

/** Keys `[lo, hi)` that query block `[t0, t1)` may see at all. */
function keyRange(inp: BlockedInputs, S: number, t0: number, t1: number): [number, number] {
  const w = inp.window;
  const lo = w === undefined ? 0 : Math.max(0, t0 - w);
  let hi = S;
  if (inp.causal) hi = Math.min(S, t1);
  else if (w !== undefined) hi = Math.min(S, t1 + w);
  return [lo, Math.max(lo, hi)];
}

/**
 * Static visibility of keys `[c0, c1)` from queries `[t0, t1)` under the
 * causal and window rules, as a bool block, or null when every key is visible.
 */
function structuralMask(inp: BlockedInputs, t0: number, t1: number, c0: number, c1: number): tf.Tensor | null {
  const w = inp.window;
  const left = w ?? Infinity;
  const right = inp.causal ? 0 : (w ?? Infinity);
  // Every (i, j) in the block satisfies i - left <= j <= i + right?
  if (c0 >= t1 - 1 - left && c1 - 1 <= t0 + right) return null;
  // The same band as the full mask's, cut to the block: key j of the block is global c0 + j.
  return bandMask(t1 - t0, c1 - c0, left, t0 - c0, right);
}

/**
 * The structural (causal / window) visibility of a block and its additive
 * bias, made once per call and shared by every slice; kept out of the
 * block's `tf.tidy` and released with the context.
 */
function structuralOf(
  inp: BlockedInputs,
  ctx: SliceContext,
  t0: number,
  t1: number,
  c0: number,
  c1: number,
): { visible: tf.Tensor; bias: tf.Tensor } | null {
  const key = `${t0},${t1},${c0},${c1}`;
  if (ctx.structural.has(key)) return ctx.structural.get(key) ?? null;
  const visible = structuralMask(inp, t0, t1, c0, c1);
  const entry =
    visible === null ? null : { visible, bias: tf.mul(tf.sub(1, tf.cast(visible, 'float32')), MASK_NEGATIVE) };
  if (entry !== null) {
    // Survives the block's tidy; released with the context.
    tf.keep(entry.visible);
    tf.keep(entry.bias);
  }
  ctx.structural.set(key, entry);
  return entry;
}

/** Disposes what `structuralOf` kept. */
function releaseContext(ctx: SliceContext): void {
  for (const e of ctx.structural.values()) if (e !== null) tf.dispose([e.visible, e.bias]);
  ctx.structural.clear();
}

interface Block {
  /** Scores of the block `[b, c]`: scaled product plus biases. */
  scores: tf.Tensor;
  /** bool `[b or 1, c or 1]` of visible keys, or null if all are. */
  visible: tf.Tensor | null;
}

/** Everything a slice needs, shared by the forward and backward passes. */
interface SliceContext {
  T: number;
  S: number;
  /** Number of slices. */
  L: number;
  // The current slice's tensors, made by `load(l)` and freed by `unload(l)`,
  // so that no more than one slice's copies exist at a time.
  qs: tf.Tensor[]; // scaled queries [T, H]
  kT: tf.Tensor[]; // keys transposed [H, S]
  v: tf.Tensor[]; // [S, Hv]
  load: (l: number) => void;
  unload: (l: number) => void;
  /** Causal/window visibility of a block, shared by every slice; keyed by "t0,t1,c0,c1". */
  structural: Map<string, { visible: tf.Tensor; bias: tf.Tensor } | null>;
  masks: Array<tf.Tensor | null>; // bool [T or 1, S or 1] per slice
  biases: Array<tf.Tensor | null>; // float32 [T or 1, S or 1] per slice
}

function blockScores(inp: BlockedInputs, ctx: SliceContext, l: number, t0: number, t1: number, c0: number, c1: number): Block {
  const qb = t0 === 0 && t1 === ctx.T ? ctx.qs[l] : tf.slice(ctx.qs[l], [t0, 0], [t1 - t0, -1]);
  const keys = (a: number, b: number) => (a === 0 && b === ctx.S ? ctx.kT[l] : tf.slice(ctx.kT[l], [0, a], [-1, b - a]));
  // Causal alone: keys [c0, t0] are visible to every row of the block, so
  // only the scores after them need the triangle's bias (cheaper than adding
  // a bias to the whole block). Rows are never empty here.
  const split = inp.causal && inp.window === undefined && ctx.masks[l] === null && ctx.biases[l] === null ? Math.min(c1, t0 + 1) : c0;
  if (split > c0) {
    const head = tf.matMul(qb, keys(c0, split));
    if (split === c1) return { scores: head, visible: null };
    const tail = tf.add(tf.matMul(qb, keys(split, c1)), (structuralOf(inp, ctx, t0, t1, split, c1) as { bias: tf.Tensor }).bias);
    return { scores: tf.concat([head, tail], 1), visible: null };
  }
  let scores = tf.matMul(qb, keys(c0, c1));
  const bias = ctx.biases[l];
  if (bias !== null) scores = tf.add(scores, window2d(bias, t0, t1, c0, c1));
  const mask = ctx.masks[l] === null ? null : window2d(ctx.masks[l] as tf.Tensor, t0, t1, c0, c1);
  const structural = structuralOf(inp, ctx, t0, t1, c0, c1);
  if (mask === null) {
    // The common case (causal or window alone): one cached bias add.
    if (structural !== null) scores = tf.add(scores, structural.bias);
    return { scores, visible: structural === null ? null : structural.visible };
  }
  const visible = structural === null ? mask : tf.logicalAnd(mask, structural.visible);
  scores = tf.add(scores, tf.mul(tf.sub(1, tf.cast(visible, 'float32')), MASK_NEGATIVE));
  return { scores, visible };
}

/** Whether some query row may have no visible key at all (then its output is zeroed). */
function mayHaveEmptyRows(inp: BlockedInputs, T: number, S: number): boolean {
  if (inp.mask !== null) return true;
  if (inp.window !== undefined) return T - 1 - inp.window > S - 1;
  return false;
}

function makeContext(inp: BlockedInputs): { ctx: SliceContext; lead: number[] } {
  const r = inp.query.rank;
  const lead = inp.query.shape.slice(0, r - 2);
  const T = inp.query.shape[r - 2];
  const S = inp.key.shape[r - 2];
  const [H, Hv] = [inp.query.shape[r - 1], inp.value.shape[r - 1]];
  const q3 = tf.reshape(inp.query, [-1, T, H]);
  const k3 = tf.reshape(inp.key, [-1, S, H]);
  const v3 = tf.reshape(inp.value, [-1, S, Hv]);
  const L = q3.shape[0];
  const qs: tf.Tensor[] = [];
  const kT: tf.Tensor[] = [];
  const v: tf.Tensor[] = [];
  const load = (l: number) => {
    // Contiguous slices (tf.unstack is slower on wasm); the scale folded into Q.
    const q = tf.reshape(tf.slice(q3, [l, 0, 0], [1, T, H]), [T, H]);
    qs[l] = inp.scale === 1 ? q : tf.tidy(() => tf.mul(q, inp.scale));
    kT[l] = tf.tidy(() => tf.transpose(tf.reshape(tf.slice(k3, [l, 0, 0], [1, S, H]), [S, H])));
    v[l] = tf.reshape(tf.slice(v3, [l, 0, 0], [1, S, Hv]), [S, Hv]);
    if (qs[l] !== q) q.dispose();
  };
  const unload = (l: number) => {
    tf.dispose([qs[l], kT[l], v[l]]);
  };
  return {
    ctx: {
      T,
      S,
      L,
      qs,
      kT,
      v,
      load,
      unload,
      structural: new Map(),
      masks: slicesOf(inp.mask, lead),
      biases: slicesOf(inp.bias, lead),
    },
    lead,
  };
}

function queryBlocks(T: number, size: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let t0 = 0; t0 < T; t0 += size) out.push([t0, Math.min(T, t0 + size)]);
  return out;
}

/**
 * Forward pass with one softmax per query block (every visible key of the
 * block at once). Differentiable through tfjs's own gradients.
 */
function directForward(inp: BlockedInputs, plan: BlockPlan): { output: tf.Tensor; weights?: tf.Tensor } {
  const { ctx, lead } = makeContext(inp);
  const { T, S } = ctx;
  const L = ctx.L;
  const Hv = inp.value.shape[inp.value.rank - 1];
  const emptyRows = mayHaveEmptyRows(inp, T, S);
  const outs: tf.Tensor[] = [];
  const weights: tf.Tensor[] = [];
  for (let l = 0; l < L; l++) {
    // One slice at a time, so that its intermediates are freed before the next.
    const [o, wl] = tf.tidy(() => {
      ctx.load(l);
      const rows: tf.Tensor[] = [];
      const wrows: tf.Tensor[] = [];
      queryBlocks(T, plan.queryBlock).forEach(([t0, t1], bi) => {
        const [lo, hi] = keyRange(inp, S, t0, t1);
        if (hi === lo) {
          rows.push(tf.zeros([t1 - t0, Hv]));
          if (plan.returnWeights) wrows.push(tf.zeros([t1 - t0, S]));
          return;
        }
        // One block at a time too: only its output rows (and weights) outlive it.
        const [o, wr] = tf.tidy(() => {
          const { scores, visible } = blockScores(inp, ctx, l, t0, t1, lo, hi);
          let w = tf.softmax(scores);
          // Rows with no visible key: zero their output (cheaper than their weights).
          const keep = emptyRows && visible !== null ? tf.cast(tf.any(visible, 1, true), 'float32') : null;
          const uniform = keep !== null && inp.emptyRows === 'uniform';
          let wrow: tf.Tensor | null = null;
          if (plan.returnWeights) {
            const padded = lo === 0 && hi === S ? w : tf.pad(w, [[0, 0], [lo, S - hi]]);
            // Empty rows: 0, or 1/S with 'uniform'.
            const empty = uniform ? tf.div(tf.sub(1, keep), S) : null;
            wrow = keep === null ? padded : empty === null ? tf.mul(padded, keep) : tf.add(tf.mul(padded, keep), empty);
          }
          if (plan.training && plan.dropout > 0) {
            const seed = plan.seed === undefined ? undefined : plan.seed + 7919 * l + bi;
            w = tf.dropout(w, plan.dropout, undefined, seed);
          }
          const vb = lo === 0 && hi === S ? ctx.v[l] : tf.slice(ctx.v[l], [lo, 0], [hi - lo, -1]);
          const o = tf.matMul(w, vb);
          const out = keep === null ? o : !uniform ? tf.mul(o, keep) : tf.add(tf.mul(o, keep), tf.mul(tf.sub(1, keep), tf.mean(ctx.v[l], 0, true)));
          return wrow === null ? [out] : [out, wrow];
        });
        rows.push(o);
        if (wr !== undefined) wrows.push(wr);
      });
      const out = rows.length === 1 ? rows[0] : tf.concat(rows, 0);
      ctx.unload(l);
      if (!plan.returnWeights) return [out];
      return [out, wrows.length === 1 ? wrows[0] : tf.concat(wrows, 0)];
    });
    outs.push(o);
    if (wl !== undefined) weights.push(wl);
  }
  releaseContext(ctx);
  const output = tf.reshape(tf.stack(outs), [...lead, T, Hv]);
  return plan.returnWeights ? { output, weights: tf.reshape(tf.stack(weights), [...lead, T, S]) } : { output };
}

/**
 * The softmax of a chunk of scores `[b, c]` and its log-sum-exp `[b, 1]`,
 * from the backend's softmax kernel (on wasm much faster than `exp`):
 * `lse = max(s) − log(max(softmax(s)))`, since the largest weight is
 * `exp(max(s) − lse)`.
 */
function chunkSoftmax(scores: tf.Tensor): { weights: tf.Tensor; lse: tf.Tensor } {
  const weights = tf.softmax(scores);
  const lse = tf.sub(tf.max(scores, 1, true), tf.log(tf.max(weights, 1, true)));
  return { weights, lse };
}

/**
 * Forward pass with an online softmax over key chunks: per query block, the
 * running log-sum-exp and the running normalised output are merged with each
 * chunk's as it arrives. Returns the output and each row's log-sum-exp (for the
 * backward pass), per slice.
 */
function onlineForward(inp: BlockedInputs, plan: BlockPlan, ctx: SliceContext): { out: tf.Tensor[]; lse: tf.Tensor[] } {
  const { T, S } = ctx;
  const Hv = inp.value.shape[inp.value.rank - 1];
  const chunk = plan.keyChunk as number;
  const emptyRows = mayHaveEmptyRows(inp, T, S);
  const out: tf.Tensor[] = [];
  const lse: tf.Tensor[] = [];
  for (let l = 0; l < ctx.L; l++) {
    ctx.load(l);
    const rows: tf.Tensor[] = [];
    const lses: tf.Tensor[] = [];
    for (const [t0, t1] of queryBlocks(T, plan.queryBlock)) {
      const b = t1 - t0;
      const [lo, hi] = keyRange(inp, S, t0, t1);
      // Running log-sum-exp `lse` and normalised output `acc` of the chunks seen so far.
      let lse: tf.Tensor = tf.fill([b, 1], -Infinity);
      let acc: tf.Tensor = tf.zeros([b, Hv]);
      let seen: tf.Tensor | null = emptyRows ? tf.zeros([b, 1], 'bool') : null;
      for (let c0 = lo; c0 < hi; c0 += chunk) {
        const c1 = Math.min(hi, c0 + chunk);
        const next = tf.tidy(() => {
          const { scores, visible } = blockScores(inp, ctx, l, t0, t1, c0, c1);
          const { weights, lse: lseC } = chunkSoftmax(scores);
          const vb = tf.slice(ctx.v[l], [c0, 0], [c1 - c0, -1]);
          // Merge: lse' = logaddexp(lse, lseC); acc' = acc·e^(lse−lse') + (P_c·V_c)·e^(lseC−lse').
          const top = tf.maximum(lse, lseC);
          const lseNew = tf.add(top, tf.log(tf.add(tf.exp(tf.sub(lse, top)), tf.exp(tf.sub(lseC, top)))));
          const res = [
            lseNew,
            tf.add(tf.mul(acc, tf.exp(tf.sub(lse, lseNew))), tf.mul(tf.matMul(weights, vb), tf.exp(tf.sub(lseC, lseNew)))),
          ];
          if (seen !== null) {
            res.push(visible === null ? tf.onesLike(seen) : tf.logicalOr(seen, tf.any(visible, 1, true)));
          }
          return res;
        });
        tf.dispose([lse, acc, ...(seen === null ? [] : [seen])]);
        [lse, acc] = next;
        if (seen !== null) seen = next[2];
      }
      // Rows with no key at all (hi === lo) keep acc = 0.
      const o = seen === null ? acc : tf.tidy(() => tf.mul(acc, tf.cast(seen as tf.Tensor, 'float32')));
      if (o !== acc) acc.dispose();
      if (seen !== null) seen.dispose();
      const s = lse;
      rows.push(o);
      lses.push(s);
    }
    out.push(rows.length === 1 ? rows[0] : tf.concat(rows, 0));
    lse.push(lses.length === 1 ? lses[0] : tf.concat(lses, 0));
    if (rows.length > 1) tf.dispose(rows);
    if (lses.length > 1) tf.dispose(lses);
    ctx.unload(l);
  }
  releaseContext(ctx);
  return { out, lse };
}

/**
 * Backward pass of the online softmax: recomputes each `[b, c]` block of
 * probabilities from the saved log-sum-exp instead of keeping it
 * (`P = softmax_c(S)·exp(lse_c − lse)`).
 * With O the output and dO its gradient, D = rowsum(dO ∘ O):
 * P = exp(S − lse); dV += Pᵀ·dO; dS = P ∘ (dO·Vᵀ − D); dQ += dS·K·scale; dK += dSᵀ·Q·scale.
 */
function onlineBackward(
  inp: BlockedInputs,
  plan: BlockPlan,
  ctx: SliceContext,
  out: tf.Tensor[],
  lse: tf.Tensor[],
  dy: tf.Tensor[],
): { dq: tf.Tensor[]; dk: tf.Tensor[]; dv: tf.Tensor[] } {
  const { T, S } = ctx;
  const chunk = plan.keyChunk as number;
  const emptyRows = mayHaveEmptyRows(inp, T, S);
  const dq: tf.Tensor[] = [];
  const dk: tf.Tensor[] = [];
  const dv: tf.Tensor[] = [];
  for (let l = 0; l < ctx.L; l++) {
    ctx.load(l);
    const kRows = tf.transpose(ctx.kT[l]); // [S, H]
    const dqRows: tf.Tensor[] = [];
    let dkAcc: tf.Tensor = tf.zerosLike(kRows);
    let dvAcc: tf.Tensor = tf.zerosLike(ctx.v[l]);
    for (const [t0, t1] of queryBlocks(T, plan.queryBlock)) {
      const b = t1 - t0;
      const [lo, hi] = keyRange(inp, S, t0, t1);
      const dO = tf.slice(dy[l], [t0, 0], [b, -1]);
      const D = tf.sum(tf.mul(dO, tf.slice(out[l], [t0, 0], [b, -1])), 1, true);
      const lseB = tf.slice(lse[l], [t0, 0], [b, 1]);
      const qB = tf.slice(ctx.qs[l], [t0, 0], [b, -1]);
      let dqAcc: tf.Tensor = tf.zerosLike(qB);
      for (let c0 = lo; c0 < hi; c0 += chunk) {
        const c1 = Math.min(hi, c0 + chunk);
        const next = tf.tidy(() => {
          const { scores, visible } = blockScores(inp, ctx, l, t0, t1, c0, c1);
          const c = chunkSoftmax(scores);
          let p = tf.mul(c.weights, tf.exp(tf.sub(c.lse, lseB)));
          if (emptyRows && visible !== null) p = tf.mul(p, tf.cast(tf.any(visible, 1, true), 'float32'));
          const vb = tf.slice(ctx.v[l], [c0, 0], [c1 - c0, -1]);
          const kb = tf.slice(kRows, [c0, 0], [c1 - c0, -1]);
          const dP = tf.matMul(dO, tf.transpose(vb));
          const dS = tf.mul(p, tf.sub(dP, D));
          const dvC = tf.matMul(tf.transpose(p), dO);
          const dkC = tf.matMul(tf.transpose(dS), qB);
          const pad = [[c0, S - c1], [0, 0]] as Array<[number, number]>;
          return [tf.add(dqAcc, tf.matMul(dS, kb)), tf.add(dkAcc, tf.pad(dkC, pad)), tf.add(dvAcc, tf.pad(dvC, pad))];
        });
        tf.dispose([dqAcc, dkAcc, dvAcc]);
        [dqAcc, dkAcc, dvAcc] = next;
      }
      tf.dispose([dO, D, lseB, qB]);
      dqRows.push(dqAcc);
    }
    kRows.dispose();
    dq.push(tf.tidy(() => tf.mul(dqRows.length === 1 ? dqRows[0] : tf.concat(dqRows, 0), inp.scale)));
    tf.dispose(dqRows);
    dk.push(dkAcc);
    dv.push(dvAcc);
    ctx.unload(l);
  }
  releaseContext(ctx);
  return { dq, dk, dv };
}

/**
 * Blocked attention. With `plan.keyChunk` null: one softmax per query block
 * (the fast path; tfjs differentiates it). Otherwise: the online softmax over
 * key chunks, whose gradient recomputes each chunk (`tf.customGrad`), so
 * neither pass keeps more than a block of scores. The online path supports
 * neither `returnWeights`, dropout nor a `bias` gradient; the caller checks.
 *
 * @returns `[..., T, Hv]`, and the weights `[..., T, S]` when asked for.
 */
export function blockedAttention(inp: BlockedInputs, plan: BlockPlan): { output: tf.Tensor; weights?: tf.Tensor } {
  if (plan.keyChunk === null) {
    return tf.tidy(() => directForward(inp, plan));
  }
  const r = inp.query.rank;
  const lead = inp.query.shape.slice(0, r - 2);
  const T = inp.query.shape[r - 2];
  const Hv = inp.value.shape[r - 1];
  const forward = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, save: tf.GradSaveFunc) => {
    const [value, lseAll] = tf.tidy(() => {
      const local: BlockedInputs = { ...inp, query: q, key: k, value: v };
      const { out, lse } = onlineForward(local, plan, makeContext(local).ctx);
      return [tf.reshape(tf.stack(out), [...lead, T, Hv]), tf.stack(lse)];
    });
    // The mask and bias are saved too: the caller's copies are gone by the
    // time the gradient is computed.
    const extras = [inp.mask, inp.bias].filter((x): x is tf.Tensor => x !== null);
    save([q, k, v, value, lseAll, ...extras]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [sq, sk, sv, sOut, sLse, ...rest] = saved;
          const mask = inp.mask === null ? null : (rest.shift() as tf.Tensor);
          const bias = inp.bias === null ? null : (rest.shift() as tf.Tensor);
          const again: BlockedInputs = { ...inp, query: sq, key: sk, value: sv, mask, bias };
          const g = onlineBackward(again, plan, makeContext(again).ctx, slices(sOut), tf.unstack(sLse), slices(dy));
          return [
            tf.reshape(tf.stack(g.dq), sq.shape),
            tf.reshape(tf.stack(g.dk), sk.shape),
            tf.reshape(tf.stack(g.dv), sv.shape),
          ];
        }),
    };
  };
  const run = tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0]);
  return tf.tidy(() => ({ output: run(inp.query, inp.key, inp.value) }));
}
