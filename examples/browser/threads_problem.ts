/**
 * The problem the threads page (threads.html) runs on the fused wasm kernel,
 * and its float64 reference: plain loops over the same float32 inputs,
 * independent of the kernel. Shared by the page and its Worker.
 *
 * B=1, N=4, T=300, S=280, H=32, Hv=24, causal, the last 30 keys masked out,
 * scale 1/√H: 4 heads × 3 blocks of 128 query rows = 12 work items, enough
 * for two threads to share.
 */
import * as tf from '@tensorflow/tfjs';
import type { FusedKernelInput } from '../../src';

export const SHAPE = { B: 1, N: 4, T: 300, S: 280, H: 32, Hv: 24 };
const VISIBLE_KEYS = SHAPE.S - 30;
const SCALE = 1 / Math.sqrt(SHAPE.H);

/** Deterministic values in [-1, 1) (a 32-bit LCG from `seed`). */
function values(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = (a / 2 ** 32) * 2 - 1;
  }
  return out;
}

export interface ProblemData {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  /** [S], 1 = may attend. */
  keyMask: Int32Array;
}

export function problemData(): ProblemData {
  const { B, N, T, S, H, Hv } = SHAPE;
  const keyMask = new Int32Array(S).map((_, j) => (j < VISIBLE_KEYS ? 1 : 0));
  return { q: values(B * N * T * H, 1), k: values(B * N * S * H, 2), v: values(B * N * S * Hv, 3), keyMask };
}

/** The kernel's input as tensors (the caller disposes them). */
export function kernelInput(d: ProblemData): FusedKernelInput {
  const { B, N, T, S, H, Hv } = SHAPE;
  return {
    query: tf.tensor4d(d.q, [B, N, T, H]),
    key: tf.tensor4d(d.k, [B, N, S, H]),
    value: tf.tensor4d(d.v, [B, N, S, Hv]),
    mask: tf.tensor4d(d.keyMask, [1, 1, 1, S], 'bool'),
    bias: null,
    scale: SCALE,
    causal: true,
    window: null,
    emptyRows: 'zeros',
  };
}

/** softmax(Q·Kᵀ·scale | causal and key mask)·V in float64, [B, N, T, Hv]. */
export function reference(d: ProblemData): Float64Array {
  const { B, N, T, S, H, Hv } = SHAPE;
  const out = new Float64Array(B * N * T * Hv);
  const w = new Float64Array(S);
  for (let h = 0; h < B * N; h++) {
    for (let i = 0; i < T; i++) {
      let max = -Infinity;
      for (let j = 0; j < S; j++) {
        w[j] = -Infinity;
        if (j > i || d.keyMask[j] === 0) continue;
        let dot = 0;
        for (let c = 0; c < H; c++) dot += d.q[(h * T + i) * H + c] * d.k[(h * S + j) * H + c];
        w[j] = dot * SCALE;
        max = Math.max(max, w[j]);
      }
      if (max === -Infinity) continue; // no visible key: zeros
      let sum = 0;
      for (let j = 0; j < S; j++) sum += w[j] = w[j] === -Infinity ? 0 : Math.exp(w[j] - max);
      for (let j = 0; j < S; j++) {
        if (w[j] === 0) continue;
        for (let c = 0; c < Hv; c++) out[(h * T + i) * Hv + c] += (w[j] / sum) * d.v[(h * S + j) * Hv + c];
      }
    }
  }
  return out;
}

/** Largest |a - b|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return Number.isNaN(m) ? Infinity : m;
}

/** What the Worker reports back to the page. */
export interface WorkerReport {
  status: unknown;
  /** Threads the forward ran on (lastCallThreads()). */
  forwardThreads: number;
  out: Float32Array;
  /** Threads the backward (tf.grads) ran on with the same setting. */
  backwardThreads: number;
  /** Gradients on the set threads equal to the ones on one thread, bit for bit. */
  gradsMatchOneThread: boolean;
  error?: string;
}

/** Speed figures of `npm run test:browser -- --bench` (median ms of the timed runs). */
export interface BenchReport {
  shape: string;
  runs: number;
  /** In the Worker, synchronous, on 1 and on 2 threads (timed alternately). */
  workerOneThreadMs: number;
  workerTwoThreadsMs: number;
  /** On the main thread: synchronous (1 thread) and wasmFusedAttentionAsync on 2 worker threads. */
  mainSyncMs: number;
  mainAsyncTwoThreadsMs: number;
}

/** B=1, N=8, T=S, H=64 inputs for the bench mode (random, seeded). */
export function benchInput(T: number): FusedKernelInput {
  const shape: [number, number, number, number] = [1, 8, T, 64];
  return {
    query: tf.tensor4d(values(8 * T * 64, 5), shape),
    key: tf.tensor4d(values(8 * T * 64, 6), shape),
    value: tf.tensor4d(values(8 * T * 64, 7), shape),
    mask: null,
    bias: null,
    scale: 0.125,
    causal: false,
    window: null,
    emptyRows: 'zeros',
  };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
