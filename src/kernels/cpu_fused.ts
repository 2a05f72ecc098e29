/**
 * A fused attention kernel in plain JavaScript, the fast path of the `cpu`
 * backend: `softmax(Q·Kᵀ·scale + bias | mask)·V` row by row, forward and
 * backward, with no `[T, S]` tensor ever allocated (memory O(S) beyond the
 * inputs and gradients, whatever `memoryBudget`).
 *
 * Why: on the cpu backend every tfjs op is itself a JavaScript loop, and
 * attention as tfjs ops costs two batched products plus five passes of
 * softmax, each allocating a `[T, S]` array. One loop that computes a row of
 * scores (four keys at a time, reusing each query element), its softmax and
 * its weighted sum runs several times faster. The backward pass recomputes
 * each row's weights from the saved log-sum-exp (FlashAttention-2's
 * recurrence, one row at a time): dV += p·dO, dS = p·(dO·v − D),
 * dQ += dS·k·scale, dK += dS·q·scale, dBias += dS.
 *
 * Masking is exact: a hidden key (mask false, outside causal/window, or a
 * score of -Infinity from the bias) is skipped, so its value never enters
 * the sum, and so is any key whose weight is exactly 0.
 *
 * Shape legend: L slices (product of leading dimensions), T query length,
 * S key length, H depth, Hv value depth.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelInput, KernelOutput } from './contract';
import { SCORE_LIMIT } from '../ops/masked_softmax';

/** Offsets of a tensor broadcast to `[...lead, T, S]`: per slice, and the row and column strides. */
interface Broadcast<A> {
  data: A;
  sliceOffset: Int32Array;
  rowStride: number;
  colStride: number;
}

function broadcastLayout<A>(shape0: readonly number[], data: A, lead: number[]): Broadcast<A> {
  const r = lead.length + 2;
  const shape = [...new Array(r - shape0.length).fill(1), ...shape0];
  const strides = new Array<number>(r);
  let acc = 1;
  for (let d = r - 1; d >= 0; d--) {
    strides[d] = shape[d] === 1 ? 0 : acc;
    acc *= shape[d];
  }
  const L = lead.reduce((a, b) => a * b, 1);
  const sliceOffset = new Int32Array(L);
  for (let l = 0; l < L; l++) {
    let rem = l;
    let off = 0;
    for (let d = lead.length - 1; d >= 0; d--) {
      off += (rem % lead[d]) * strides[d];
      rem = Math.floor(rem / lead[d]);
    }
    sliceOffset[l] = off;
  }
  return { data, sliceOffset, rowStride: strides[r - 2], colStride: strides[r - 1] };
}

/** The typed arrays and sizes of one call. */
interface Problem {
  L: number;
  T: number;
  S: number;
  H: number;
  Hv: number;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  mask: Broadcast<Uint8Array | Int32Array | Float32Array> | null;
  bias: Broadcast<Float32Array> | null;
  scale: number;
  causal: boolean;
  window: number | undefined;
  uniform: boolean;
}

/** Log-sum-exp recorded for a row with no visible key. */
const EMPTY = -Infinity;

/**
 * Scores of row `i` of slice `l` over keys `[lo, hi)` into `row` (-Infinity
 * for a hidden key); returns the row max (-Infinity when nothing is visible).
 */
function scoreRow(p: Problem, l: number, i: number, qs: Float32Array, row: Float32Array, lo: number, hi: number): number {
  const { H, S, k, mask, bias } = p;
  const ko = l * S * H;
  const mo = mask === null ? 0 : mask.sliceOffset[l] + i * mask.rowStride;
  const bo = bias === null ? 0 : bias.sliceOffset[l] + i * bias.rowStride;
  let j = lo;
  for (; j + 3 < hi; j += 4) {
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    const k0 = ko + j * H;
    const k1 = k0 + H;
    const k2 = k1 + H;
    const k3 = k2 + H;
    for (let h = 0; h < H; h++) {
      const x = qs[h];
      s0 += x * k[k0 + h];
      s1 += x * k[k1 + h];
      s2 += x * k[k2 + h];
      s3 += x * k[k3 + h];
    }
    row[j] = s0;
    row[j + 1] = s1;
    row[j + 2] = s2;
    row[j + 3] = s3;
  }
  for (; j < hi; j++) {
    let s = 0;
    const kj = ko + j * H;
    for (let h = 0; h < H; h++) s += qs[h] * k[kj + h];
    row[j] = s;
  }
  let m = -Infinity;
  for (j = lo; j < hi; j++) {
    // Float32 overflow of the product (or of the biased score) is undone as in `finiteScores`/`capScores`.
    let s = row[j];
    if (s > SCORE_LIMIT) s = SCORE_LIMIT;
    else if (s < -SCORE_LIMIT) s = -SCORE_LIMIT;
    if (mask !== null && mask.data[mo + j * mask.colStride] === 0) s = -Infinity;
    else if (bias !== null) {
      s += bias.data[bo + j * bias.colStride];
      if (s > SCORE_LIMIT) s = SCORE_LIMIT;
    }
    row[j] = s;
    if (s > m) m = s;
  }
  return m;
}

function rowRange(p: Problem, i: number): [number, number] {
  const w = p.window;
  const lo = w === undefined ? 0 : Math.max(0, i - w);
  const hi = Math.min(p.S, p.causal ? i + 1 : w === undefined ? p.S : i + w + 1);
  return [lo, Math.max(lo, hi)];
}

/** The forward loop: the output `[L·T·Hv]` and each row's log-sum-exp `[L·T]`. */
function forward(p: Problem): { out: Float32Array; lse: Float32Array } {
  const { L, T, S, H, Hv, q, v, scale } = p;
  const out = new Float32Array(L * T * Hv);
  const lse = new Float32Array(L * T);
  const row = new Float32Array(S);
  const qs = new Float32Array(H);
  for (let l = 0; l < L; l++) {
    const vo = l * S * Hv;
    for (let i = 0; i < T; i++) {
      const qi = (l * T + i) * H;
      for (let h = 0; h < H; h++) qs[h] = q[qi + h] * scale;
      const [lo, hi] = rowRange(p, i);
      const m = scoreRow(p, l, i, qs, row, lo, hi);
      const oi = (l * T + i) * Hv;
      if (m === -Infinity) {
        lse[l * T + i] = EMPTY;
        if (p.uniform) {
          // Keras: every key equally weighted, so the mean of all values.
          for (let jj = 0; jj < S; jj++) for (let h = 0; h < Hv; h++) out[oi + h] += v[vo + jj * Hv + h] / S;
        }
        continue;
      }
      let z = 0;
      for (let j = lo; j < hi; j++) {
        const e = Math.exp(row[j] - m);
        row[j] = e;
        z += e;
      }
      lse[l * T + i] = m + Math.log(z);
      const inv = 1 / z;
      for (let j = lo; j < hi; j++) {
        const wj = row[j] * inv;
        // A key of weight exactly 0 (hidden, or underflowed) does not reach the output.
        if (wj === 0) continue;
        const vj = vo + j * Hv;
        for (let h = 0; h < Hv; h++) out[oi + h] += wj * v[vj + h];
      }
    }
  }
  return { out, lse };
}

/** The backward loop: gradients of q, k, v (and bias) from dO, the output and the log-sum-exp. */
function backward(
  p: Problem,
  out: Float32Array,
  lse: Float32Array,
  dy: Float32Array,
  biasSize: number,
): { dq: Float32Array; dk: Float32Array; dv: Float32Array; dbias: Float32Array | null } {
  const { L, T, S, H, Hv, q, k, v, scale, bias } = p;
  const dq = new Float32Array(L * T * H);
  const dk = new Float32Array(L * S * H);
  const dv = new Float32Array(L * S * Hv);
  const dbias = bias === null ? null : new Float32Array(biasSize);
  const row = new Float32Array(S);
  const qs = new Float32Array(H);
  for (let l = 0; l < L; l++) {
    const ko = l * S * H;
    const vo = l * S * Hv;
    const bo = bias === null ? 0 : bias.sliceOffset[l];
    for (let i = 0; i < T; i++) {
      const qi = (l * T + i) * H;
      const oi = (l * T + i) * Hv;
      const li = lse[l * T + i];
      if (li === EMPTY) {
        if (p.uniform) for (let j = 0; j < S; j++) for (let h = 0; h < Hv; h++) dv[vo + j * Hv + h] += dy[oi + h] / S;
        continue;
      }
      for (let h = 0; h < H; h++) qs[h] = q[qi + h] * scale;
      const [lo, hi] = rowRange(p, i);
      scoreRow(p, l, i, qs, row, lo, hi);
      let D = 0;
      for (let h = 0; h < Hv; h++) D += dy[oi + h] * out[oi + h];
      for (let j = lo; j < hi; j++) {
        const pj = Math.exp(row[j] - li);
        if (pj === 0) continue;
        const vj = vo + j * Hv;
        let dP = 0;
        for (let h = 0; h < Hv; h++) {
          dP += dy[oi + h] * v[vj + h];
          dv[vj + h] += pj * dy[oi + h];
        }
        const dS = pj * (dP - D);
        const kj = ko + j * H;
        const dSs = dS * scale;
        for (let h = 0; h < H; h++) {
          dq[qi + h] += dSs * k[kj + h];
          dk[kj + h] += dS * qs[h];
        }
        if (dbias !== null && bias !== null) dbias[bo + i * bias.rowStride + j * bias.colStride] += dS;
      }
    }
  }
  return { dq, dk, dv, dbias };
}

function problemOf(inp: KernelInput, q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, bias: tf.Tensor | null): Problem {
  const r = q.rank;
  const lead = q.shape.slice(0, r - 2);
  return {
    L: lead.reduce((a, b) => a * b, 1),
    T: q.shape[r - 2],
    S: k.shape[r - 2],
    H: q.shape[r - 1],
    Hv: v.shape[r - 1],
    q: q.dataSync() as Float32Array,
    k: k.dataSync() as Float32Array,
    v: v.dataSync() as Float32Array,
    mask: inp.mask === null ? null : broadcastLayout(inp.mask.shape, inp.mask.dataSync() as Uint8Array, lead),
    bias: bias === null ? null : broadcastLayout(bias.shape, bias.dataSync() as Float32Array, lead),
    scale: inp.scale,
    causal: inp.causal,
    window: inp.window,
    uniform: inp.emptyRows === 'uniform',
  };
}

/**
 * The fused JS kernel, differentiable with respect to query, key, value and
 * bias. Runs on any backend (it reads its inputs with `dataSync`); the
 * planner chooses it on `cpu`. No `returnWeights`, no dropout.
 *
 * @returns `{ output }` with output `[..., T, Hv]`.
 */
export function cpuFusedAttention(inp: KernelInput): KernelOutput {
  const outShape = [...inp.query.shape.slice(0, -1), inp.value.shape[inp.value.rank - 1]];
  const hasBias = inp.bias !== null;
  const run = tf.customGrad(((...args: unknown[]) => {
    const [q, k, v] = args as tf.Tensor[];
    const bias = hasBias ? (args[3] as tf.Tensor) : null;
    const p = problemOf(inp, q, k, v, bias);
    const { out, lse } = forward(p);
    const value = tf.tensor(out, outShape, 'float32');
    // The JS arrays of this call stay with the closure for the backward pass
    // (no tensor outlives the call for it); the kernel calls back into nothing.
    return {
      value,
      gradFunc: (dy: tf.Tensor) => {
        const g = backward(p, out, lse, dy.dataSync() as Float32Array, bias === null ? 0 : bias.size);
        const grads = [tf.tensor(g.dq, q.shape, 'float32'), tf.tensor(g.dk, k.shape, 'float32'), tf.tensor(g.dv, v.shape, 'float32')];
        if (bias !== null && g.dbias !== null) grads.push(tf.tensor(g.dbias, bias.shape, 'float32'));
        return grads;
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const inputs = [inp.query, inp.key, inp.value, ...(hasBias ? [inp.bias as tf.Tensor] : [])];
  return { output: run(...inputs) };
}
