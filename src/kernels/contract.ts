/**
 * The one contract every attention kernel takes: checked, converted inputs
 * in, `{ output, weights? }` out. A kernel computes; it never validates user
 * input, never chooses another path and never calls back into the public
 * functions (the planner in `plan.ts` has already chosen it).
 *
 * Shape legend: "..." leading dimensions shared by query, key and value
 * (L slices in all), T query length, S key length, H depth, Hv value depth.
 */
import type * as tf from '@tensorflow/tfjs';
import type { EmptyRows } from '../ops/masked_softmax';

/** The inputs of every kernel, already checked and converted to tensors. */
export interface KernelInput {
  /** float32 `[..., T, H]`, unscaled. */
  query: tf.Tensor;
  /** float32 `[..., S, H]`. */
  key: tf.Tensor;
  /** float32 `[..., S, Hv]`. */
  value: tf.Tensor;
  /** bool, broadcastable to `[..., T, S]` (true = may attend), or null. Causal and window are separate. */
  mask: tf.Tensor | null;
  /** float32, broadcastable to `[..., T, S]`, added to the scaled scores; or null. -Infinity hides a key. */
  bias: tf.Tensor | null;
  /** Multiplies `Q·Kᵀ`. */
  scale: number;
  /** Key `j` is visible from query `i` only if `j <= i` (top-left aligned). */
  causal: boolean;
  /** Key `j` is visible from query `i` only if `|i - j| <= window` (`i - window <= j <= i` when causal). */
  window: number | undefined;
  /** Rows with no visible key: `'zeros'`, or `'uniform'` (weights 1/S, output the mean of the values, as Keras). */
  emptyRows: EmptyRows;
  /** Dropout rate on the weights, applied only when `training`. */
  dropout: number;
  training: boolean;
  seed: number | undefined;
  /** Whether `weights` `[..., T, S]` is returned too. */
  returnWeights: boolean;
}

/** What every kernel returns. */
export interface KernelOutput {
  /** `[..., T, Hv]`. */
  output: tf.Tensor;
  /** `[..., T, S]` (before dropout), when `returnWeights`. */
  weights?: tf.Tensor;
}

/** How the public functions may be told to compute. */
export type AttentionImplementation = 'auto' | 'naive' | 'blocked' | 'chunked' | 'fused' | 'simd';

/** Every value of `AttentionImplementation`, in documentation order. */
export const IMPLEMENTATIONS: readonly AttentionImplementation[] = ['auto', 'naive', 'blocked', 'chunked', 'fused', 'simd'];

/** Shapes read from checked inputs. */
export interface AttentionShapes {
  /** Leading dimensions shared by query, key and value. */
  lead: number[];
  T: number;
  S: number;
  H: number;
  Hv: number;
}

/** Default `memoryBudget`: 256 MiB of float32 scores. */
export const DEFAULT_MEMORY_BUDGET = 256 * 1024 * 1024;
