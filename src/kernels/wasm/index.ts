/**
 * The fused WebAssembly SIMD attention kernel (forward and backward).
 *
 * PLACEHOLDER: the contract below is fixed; the implementation lands with the
 * kernel itself. Until then the kernel reports itself unavailable and the
 * planner never chooses it.
 *
 * Shape legend: B batch, N heads, T query length, S key length, H head size,
 * Hv value depth.
 */
import type * as tf from '@tensorflow/tfjs';

/** What the fused kernel computes: `softmax(Q·Kᵀ·scale + bias | visible)·V`. */
export interface FusedKernelInput {
  /** float32 `[B, N, T, H]`. */
  query: tf.Tensor;
  /** float32 `[B, N, S, H]`. */
  key: tf.Tensor;
  /** float32 `[B, N, S, Hv]`. */
  value: tf.Tensor;
  /** bool (or 0/1) rank 4, each dim 1 or the full size: `[B|1, N|1, T|1, S|1]`; true = may attend. */
  mask: tf.Tensor | null;
  /** float32 rank 4, `[B|1, N|1, T|1, S|1]`, added to the scaled scores. Differentiable. */
  bias: tf.Tensor | null;
  scale: number;
  /** Key `j` visible from query `i` only if `j <= i` (top-left aligned). */
  causal: boolean;
  /** Key `j` visible from query `i` only if `|i - j| <= window` (`i - window <= j <= i` with causal). */
  window: number | null;
  /** A row with no visible key: `'zeros'` (output 0) or `'uniform'` (mean of all values). */
  emptyRows: 'zeros' | 'uniform';
}

/** Whether the kernel can run here, and why not. */
export interface WasmKernelStatus {
  available: boolean;
  /** Why it is unavailable (no SIMD128, no WebAssembly, ...). */
  reason?: string;
  /** Threads it uses (1 = the calling thread only). */
  threads: number;
}

/** Reports whether the fused kernel can run in this environment. */
export function wasmKernelStatus(): WasmKernelStatus {
  return { available: false, reason: 'not built yet', threads: 1 };
}

/**
 * Fused attention on the SIMD kernel, differentiable (tf.customGrad) with
 * respect to query, key, value and bias. Returns `[B, N, T, Hv]`.
 */
export function wasmFusedAttention(input: FusedKernelInput): tf.Tensor {
  void input;
  throw new Error('wasmFusedAttention: the WebAssembly kernel is not available.');
}
