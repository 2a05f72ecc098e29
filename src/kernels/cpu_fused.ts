/**
 * A fused attention kernel for the `cpu` backend, in plain JavaScript:
 * `softmax(Q·Kᵀ·scale + bias + mask)·V` row by row, with no `[T, S]` tensor
 * ever allocated.
 *
 * Why: on the cpu backend every tfjs op is itself a JavaScript loop, and
 * attention as tfjs ops costs two batched products plus five passes of
 * softmax, each allocating a `[T, S]` array. One loop that computes a row of
 * scores (four keys at a time, reusing each query element), its softmax and
 * its weighted sum runs several times faster. Its gradient is computed with
 * tfjs ops from the recomputed weights (`tf.customGrad`).
 *
 * Shape legend: L slices (product of leading dimensions), T query length,
 * S key length, H depth, Hv value depth.
 */
import * as tf from '@tensorflow/tfjs';
import type { BlockedInputs } from './blocked';
import { MASK_NEGATIVE } from './masked_softmax';

/** Inputs of the kernel, already checked: those of the blocked paths. */
export type CpuKernelInputs = BlockedInputs;

/** Offsets of a tensor broadcast to `[...lead, T, S]`: per slice, and the row and column strides. */
interface Broadcast<A> {
  data: A;
  sliceOffset: Int32Array;
  rowStride: number;
  colStride: number;
}

function broadcastLayout<A>(x: tf.Tensor, data: A, lead: number[]): Broadcast<A> {
  const r = lead.length + 2;
  const shape = [...new Array(r - x.rank).fill(1), ...x.shape];
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

/** The forward loop. Returns the output values `[L·T·Hv]`. */
function forward(inp: CpuKernelInputs): Float32Array {
  const r = inp.query.rank;
  const lead = inp.query.shape.slice(0, r - 2);
  const L = lead.reduce((a, b) => a * b, 1);
  const [T, H] = inp.query.shape.slice(-2);
  const S = inp.key.shape[r - 2];
  const Hv = inp.value.shape[r - 1];
  const q = inp.query.dataSync() as Float32Array;
  const k = inp.key.dataSync() as Float32Array;
  const v = inp.value.dataSync() as Float32Array;
  const mask = inp.mask === null ? null : broadcastLayout(inp.mask, inp.mask.dataSync() as Uint8Array, lead);
  const bias = inp.bias === null ? null : broadcastLayout(inp.bias, inp.bias.dataSync() as Float32Array, lead);
  const scale = inp.scale;
  const w = inp.window;
  const out = new Float32Array(L * T * Hv);
  const row = new Float32Array(S);
  const qs = new Float32Array(H);
  for (let l = 0; l < L; l++) {
    const ko = l * S * H;
    const vo = l * S * Hv;
    const mo = mask === null ? 0 : mask.sliceOffset[l];
    const bo = bias === null ? 0 : bias.sliceOffset[l];
    for (let i = 0; i < T; i++) {
      const qi = (l * T + i) * H;
      for (let h = 0; h < H; h++) qs[h] = q[qi + h] * scale;
      // Keys outside [lo, hi) are invisible by causality or the window.
      const lo = w === undefined ? 0 : Math.max(0, i - w);
      const hi = Math.min(S, inp.causal ? i + 1 : w === undefined ? S : i + w + 1);
      let m = -Infinity;
      let visible = false;
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
      for (j = lo; j < hi; j++) {
        let s = row[j];
        if (bias !== null) s += bias.data[bo + i * bias.rowStride + j * bias.colStride];
        if (mask !== null && mask.data[mo + i * mask.rowStride + j * mask.colStride] === 0) s += MASK_NEGATIVE;
        else visible = true;
        row[j] = s;
        if (s > m) m = s;
      }
      if (mask === null && hi > lo) visible = true;
      const oi = (l * T + i) * Hv;
      if (!visible) {
        if (inp.emptyRows === 'uniform') {
          // Keras: every score equally penalised, so the mean of all values.
          for (let jj = 0; jj < S; jj++) for (let h = 0; h < Hv; h++) out[oi + h] += v[vo + jj * Hv + h] / S;
        }
        continue;
      }
      let z = 0;
      for (j = lo; j < hi; j++) {
        const e = Math.exp(row[j] - m);
        row[j] = e;
        z += e;
      }
      const inv = 1 / z;
      j = lo;
      for (; j + 3 < hi; j += 4) {
        const w0 = row[j] * inv;
        const w1 = row[j + 1] * inv;
        const w2 = row[j + 2] * inv;
        const w3 = row[j + 3] * inv;
        const v0 = vo + j * Hv;
        const v1 = v0 + Hv;
        const v2 = v1 + Hv;
        const v3 = v2 + Hv;
        for (let h = 0; h < Hv; h++) out[oi + h] += w0 * v[v0 + h] + w1 * v[v1 + h] + w2 * v[v2 + h] + w3 * v[v3 + h];
      }
      for (; j < hi; j++) {
        const wj = row[j] * inv;
        const vj = vo + j * Hv;
        for (let h = 0; h < Hv; h++) out[oi + h] += wj * v[vj + h];
      }
    }
  }
  return out;
}

/**
 * Fused attention on the cpu backend, differentiable. `weightsOf` recomputes
 * the attention weights `[..., T, S]` with tfjs ops for the gradient.
 *
 * @returns `[..., T, Hv]`.
 */
export function cpuAttention(
  inp: CpuKernelInputs,
  weightsOf: (q: tf.Tensor, k: tf.Tensor, mask: tf.Tensor | null, bias: tf.Tensor | null) => tf.Tensor,
): tf.Tensor {
  const outShape = [...inp.query.shape.slice(0, -1), inp.value.shape[inp.value.rank - 1]];
  const run = tf.customGrad(((q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, save: tf.GradSaveFunc) => {
    const value = tf.tensor(forward({ ...inp, query: q, key: k, value: v }), outShape, 'float32');
    // The mask and bias are saved too: the caller's copies are gone by the time the gradient is computed.
    save([q, k, v, ...[inp.mask, inp.bias].filter((x): x is tf.Tensor => x !== null)]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [sq, sk, sv, ...rest] = saved;
          const mask = inp.mask === null ? null : (rest.shift() as tf.Tensor);
          const bias = inp.bias === null ? null : (rest.shift() as tf.Tensor);
          // P = weights; dV = Pᵀ·dO; dS = P ∘ (dO·Vᵀ − rowsum(P ∘ dO·Vᵀ)); dQ = dS·K·scale; dK = dSᵀ·Q·scale.
          const P = weightsOf(sq, sk, mask, bias);
          const dP = tf.matMul(dy, sv, false, true);
          const dS = tf.mul(P, tf.sub(dP, tf.sum(tf.mul(P, dP), -1, true)));
          return [
            tf.mul(tf.matMul(dS, sk), inp.scale),
            tf.mul(tf.matMul(dS, sq, true, false), inp.scale),
            tf.matMul(P, dy, true, false),
          ];
        }),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return run(inp.query, inp.key, inp.value);
}
