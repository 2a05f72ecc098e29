/**
 * Scaled dot-product attention, the functional core of the library:
 * `softmax(Q·Kᵀ·scale + mask)·V`.
 *
 * Shape legend: B batch, N heads, T query length, S key length, H head size
 * (query/key depth), Hv value depth. "..." is any number of leading
 * dimensions (for example `[B]` or `[B, N]`), the same for query, key and
 * value.
 */
import * as tf from '@tensorflow/tfjs';
import {
  broadcastsTo,
  checkDropout,
  checkNonNegativeInt,
  checkFloat,
  checkMask,
  checkScale,
  fmt,
  InputInfo,
  TensorInput,
  toBoolMask,
  toTensor,
} from './checks';
import { blockedAttention } from './blocked';
import { cpuAttention } from './cpu_kernel';
import { bandMask } from './masks';
import { EmptyRows, maskedSoftmax, weightedSum } from './masked_softmax';

/** Options shared by every attention function. */
export interface AttentionOptions {
  /**
   * Which keys each query may attend to: bool, or numeric with nonzero
   * meaning "may attend", broadcastable to `[..., T, S]`. Default: all.
   */
  mask?: TensorInput | null;
  /**
   * Causal attention: query `i` attends to keys `0..i`. The triangle is
   * aligned to the top-left corner when T ≠ S (as Keras's `use_causal_mask`
   * and PyTorch's `is_causal`); for the bottom-right alignment of cached
   * decoding pass `causalMask(T, S, S - T)` as `mask` instead. Default false.
   */
  causal?: boolean;
  /** Dropout rate on the attention weights, in [0, 1). Applied only when `training`. Default 0. */
  dropout?: number;
  /** Whether dropout is active. Default false. */
  training?: boolean;
  /** Seed for the dropout pattern. Default: unseeded. */
  seed?: number;
  /**
   * What a query row with no visible key yields: `'zeros'` (weights and
   * output 0) or `'uniform'` (Keras's behaviour: every score is pushed to
   * -1e9, so the weights are uniform, 1/S, and the output is the mean of the
   * values). Default `'zeros'`.
   */
  emptyRows?: EmptyRows;
  /**
   * Sliding-window (local) attention: query `i` sees key `j` iff
   * `|i - j| <= window`, or `i - window <= j <= i` with `causal`. Computed in
   * O(T·window) by `scaledDotProductAttention`. Default: no window.
   */
  window?: number;
}

/** How `scaledDotProductAttention` computes. */
export type AttentionImplementation = 'auto' | 'naive' | 'blocked' | 'chunked' | 'fused';

/** Default `memoryBudget`: 256 MiB of float32 scores. */
export const DEFAULT_MEMORY_BUDGET = 256 * 1024 * 1024;

/** Options of `scaledDotProductAttention` and `attentionWeights`. */
export interface ScaledDotProductOptions extends AttentionOptions {
  /** Multiplies `Q·Kᵀ`; must be finite. Default `1/sqrt(H)`. */
  scale?: number;
  /**
   * A float32 additive bias on the scaled scores, broadcastable to
   * `[..., T, S]` (position biases such as ALiBi or T5's relative buckets).
   * Default: none.
   */
  bias?: TensorInput | null;
  /**
   * `'naive'`: the batched composition `softmax(Q·Kᵀ)·V`.
   * `'blocked'`: per (batch, head) slice with 2-D products, query blocks,
   * causal blocks above the diagonal skipped, only the band visited with
   * `window` (the fast path of wasm).
   * `'chunked'`: also chunks the keys with an online softmax, so no more than
   * a `[blockSize, chunkSize]` block of scores exists at once, forward or
   * backward (no `returnWeights`, no dropout while training, no `bias`, no
   * `emptyRows: 'uniform'`).
   * `'fused'`: one JavaScript loop per query row (scores, softmax, weighted
   * sum) with no `[T, S]` tensor; the fast path of the cpu backend, where
   * tfjs ops are JavaScript loops themselves (no `returnWeights`, no dropout
   * while training).
   * `'auto'` (default): on cpu, `'fused'` when the options allow it; with
   * `window`, `'blocked'`; else `'chunked'` when the scores would exceed
   * `memoryBudget` and the options allow it; otherwise `'blocked'` on wasm
   * and cpu or with `causal`, and `'naive'` on backends whose batched
   * products are fast (webgl, tensorflow).
   */
  implementation?: AttentionImplementation;
  /**
   * Bytes of float32 scores that may exist at once (one slice's `[T, S]` on
   * the blocked path, all slices' on the naive one) before `'auto'` chooses
   * `'chunked'`. Default 256 MiB.
   */
  memoryBudget?: number;
  /** Query rows per block. Default: 512 with `causal` or `window`, 2048 on the chunked path, else T. */
  blockSize?: number;
  /** Keys per chunk on the chunked path. Default 2048. */
  chunkSize?: number;
}

/** Output and weights, returned when `returnWeights` is true. */
export interface AttentionResult {
  /** `[..., T, Hv]`. */
  output: tf.Tensor;
  /** `[..., T, S]`, before dropout. */
  weights: tf.Tensor;
}

const IMPLEMENTATIONS: readonly AttentionImplementation[] = ['auto', 'naive', 'blocked', 'chunked', 'fused'];

/** Shapes read from checked inputs. */
export interface AttentionShapes {
  /** Leading dimensions shared by query, key and value. */
  lead: number[];
  T: number;
  S: number;
  H: number;
  Hv: number;
}

/**
 * Checks query, key, (value) and the options, without allocating anything.
 * Exported for the other attention ops, which share these rules.
 */
export function checkAttentionInputs(
  fn: string,
  query: unknown,
  key: unknown,
  value: unknown | undefined,
  options: ScaledDotProductOptions,
  sameDepth = true,
): AttentionShapes {
  const q = checkFloat(fn, 'query', query);
  const k = checkFloat(fn, 'key', key);
  const v: InputInfo | undefined = value === undefined ? undefined : checkFloat(fn, 'value', value);
  const rank = q.shape.length;
  for (const [name, info] of [['key', k], ['value', v]] as const) {
    if (info !== undefined && info.shape.length !== rank) {
      throw new Error(
        `${fn}: expected query and ${name} to have the same rank, but got query ${fmt(q.shape)} and ${name} ${fmt(info.shape)}.`,
      );
    }
  }
  const lead = q.shape.slice(0, rank - 2);
  for (const [name, info] of [['key', k], ['value', v]] as const) {
    if (info !== undefined && !info.shape.slice(0, rank - 2).every((d, i) => d === lead[i])) {
      throw new Error(
        `${fn}: expected query and ${name} to have the same leading (batch, head) dimensions, but got query ${fmt(q.shape)} and ${name} ${fmt(info.shape)}.`,
      );
    }
  }
  const T = q.shape[rank - 2];
  const H = q.shape[rank - 1];
  const S = k.shape[rank - 2];
  if (sameDepth && k.shape[rank - 1] !== H) {
    throw new Error(
      `${fn}: expected query and key to have the same last dimension, but got query ${fmt(q.shape)} and key ${fmt(k.shape)} (${H} ≠ ${k.shape[rank - 1]}).`,
    );
  }
  if (v !== undefined && v.shape[rank - 2] !== S) {
    throw new Error(
      `${fn}: expected key and value to have the same length (axis -2), but got key ${fmt(k.shape)} and value ${fmt(v.shape)} (${S} ≠ ${v.shape[rank - 2]}).`,
    );
  }
  const Hv = v === undefined ? 0 : v.shape[rank - 1];
  if (options.mask !== undefined && options.mask !== null) {
    checkMask(fn, 'mask', options.mask, [...lead, T, S]);
  }
  if (options.bias !== undefined && options.bias !== null) {
    const b = checkFloat(fn, 'bias', options.bias, 0);
    if (!broadcastsTo(b.shape, [...lead, T, S])) {
      throw new Error(`${fn}: expected \`bias\` to broadcast to ${fmt([...lead, T, S])}, but got shape ${fmt(b.shape)}.`);
    }
  }
  checkScale(fn, options.scale);
  checkDropout(fn, options.dropout);
  if (options.causal !== undefined && typeof options.causal !== 'boolean') {
    throw new Error(`${fn}: expected \`causal\` to be a boolean, but got ${String(options.causal)}.`);
  }
  checkNonNegativeInt(fn, 'window', options.window);
  for (const name of ['blockSize', 'chunkSize'] as const) {
    const v = options[name];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 1)) {
      throw new Error(`${fn}: expected \`${name}\` to be a positive integer, but got ${String(v)}.`);
    }
  }
  const mb = options.memoryBudget;
  if (mb !== undefined && (typeof mb !== 'number' || !(mb > 0))) {
    throw new Error(`${fn}: expected \`memoryBudget\` to be a positive number of bytes, but got ${String(mb)}.`);
  }
  const impl = options.implementation;
  if (impl !== undefined && !IMPLEMENTATIONS.includes(impl)) {
    throw new Error(
      `${fn}: expected \`implementation\` to be one of ${IMPLEMENTATIONS.map((i) => `'${i}'`).join(', ')}, but got ${String(impl)}.`,
    );
  }
  if (options.emptyRows !== undefined && options.emptyRows !== 'zeros' && options.emptyRows !== 'uniform') {
    throw new Error(`${fn}: expected \`emptyRows\` to be 'zeros' or 'uniform', but got ${String(options.emptyRows)}.`);
  }
  return { lead, T, S, H, Hv };
}

/**
 * The combined bool mask of the `mask` and `causal` options, or null when
 * every key is visible. Call inside `tf.tidy`.
 */
export function buildMask(options: AttentionOptions, T: number, S: number): tf.Tensor | null {
  let mask = options.mask === undefined || options.mask === null ? null : toBoolMask(options.mask);
  const w = options.window;
  if (options.causal === true || w !== undefined) {
    const band = bandMask(T, S, w ?? Infinity, 0, options.causal === true ? 0 : (w ?? Infinity));
    mask = mask === null ? band : tf.logicalAnd(mask, band);
  }
  return mask;
}

/**
 * `Q·Kᵀ·scale (+ bias)` with the scale folded into Q (T·H multiplies instead
 * of T·S). Call inside `tf.tidy`.
 */
function dotScores(q: tf.Tensor, k: tf.Tensor, scale: number, bias?: TensorInput | null): tf.Tensor {
  const scores = tf.matMul(scale === 1 ? q : tf.mul(q, scale), k, false, true);
  return bias === undefined || bias === null ? scores : tf.add(scores, toTensor(bias));
}

/**
 * Attention weights `softmax(Q·Kᵀ·scale + mask)`.
 *
 * @param query float32 `[..., T, H]`.
 * @param key float32 `[..., S, H]`.
 * @param options `mask` (broadcastable to `[..., T, S]`, true = may attend),
 *   `causal`, `scale` (default `1/sqrt(H)`), `dropout` with `training` and
 *   `seed`, `emptyRows`.
 * @returns float32 `[..., T, S]`; each row sums to 1, or to 0 where the
 *   mask leaves it nothing to attend to.
 * @throws Error on mismatched shapes, non-float inputs, a mask that does not
 *   broadcast, a non-finite scale or a dropout rate outside [0, 1).
 *
 * @example
 * ```ts
 * attentionWeights(tf.randomNormal([2, 5, 8]), tf.randomNormal([2, 7, 8])).shape;  // [2, 5, 7]
 * ```
 */
export function attentionWeights(
  query: TensorInput,
  key: TensorInput,
  options: ScaledDotProductOptions = {},
): tf.Tensor {
  const fn = 'attentionWeights';
  const { T, S, H } = checkAttentionInputs(fn, query, key, undefined, options);
  return tf.tidy(() => {
    const scores = dotScores(toTensor(query), toTensor(key), options.scale ?? 1 / Math.sqrt(H), options.bias);
    const weights = maskedSoftmax(scores, buildMask(options, T, S), options.emptyRows);
    const { dropout = 0, training = false, seed } = options;
    return training && dropout > 0 ? tf.dropout(weights, dropout, undefined, seed) : weights;
  });
}

/**
 * Scaled dot-product attention: `softmax(Q·Kᵀ·scale + mask)·V`.
 *
 * Shape legend: "..." leading dimensions shared by all inputs (batch, heads),
 * T query length, S key length, H query/key depth, Hv value depth.
 *
 * @param query float32 `[..., T, H]`, a tensor or a nested array.
 * @param key float32 `[..., S, H]`.
 * @param value float32 `[..., S, Hv]`.
 * @param options
 *   - `mask`: bool or 0/1, broadcastable to `[..., T, S]`; true = may attend. Default: none.
 *   - `causal`: query `i` attends to keys `0..i` (top-left aligned). Default false.
 *   - `scale`: default `1/sqrt(H)`.
 *   - `bias`: float32 additive score bias, broadcastable to `[..., T, S]`. Default none.
 *   - `dropout`, `training`, `seed`: dropout on the weights. Default 0, false.
 *   - `returnWeights`: also return the weights. Default false.
 *   - `emptyRows`: `'zeros'` (default) or `'uniform'` for rows with no visible key.
 * @returns `[..., T, Hv]`, or `{ output, weights }` with weights `[..., T, S]`.
 *   A query row with nothing to attend to yields zeros, never NaN.
 * @throws Error naming the argument, what was expected and the shapes received,
 *   before any tensor is allocated.
 *
 * @example
 * ```ts
 * const q = tf.randomNormal([2, 4, 10, 16]);      // [B, N, T, H]
 * const kv = tf.randomNormal([2, 4, 12, 16]);     // [B, N, S, H]
 * scaledDotProductAttention(q, kv, kv, { causal: true }).shape;  // [2, 4, 10, 16]
 * ```
 */
export function scaledDotProductAttention(
  query: TensorInput,
  key: TensorInput,
  value: TensorInput,
  options?: ScaledDotProductOptions & { returnWeights?: false },
): tf.Tensor;
export function scaledDotProductAttention(
  query: TensorInput,
  key: TensorInput,
  value: TensorInput,
  options: ScaledDotProductOptions & { returnWeights: true },
): AttentionResult;
export function scaledDotProductAttention(
  query: TensorInput,
  key: TensorInput,
  value: TensorInput,
  options: ScaledDotProductOptions & { returnWeights?: boolean } = {},
): tf.Tensor | AttentionResult {
  const fn = 'scaledDotProductAttention';
  const shapes = checkAttentionInputs(fn, query, key, value, options);
  const { T, S, H } = shapes;
  const implementation = chooseImplementation(fn, shapes, options);
  return tf.tidy(() => {
    const scale = options.scale ?? 1 / Math.sqrt(H);
    if (implementation === 'naive') {
      const scores = dotScores(toTensor(query), toTensor(key), scale, options.bias);
      const weights = maskedSoftmax(scores, buildMask(options, T, S), options.emptyRows);
      const output = weightedSum(weights, toTensor(value), options.dropout, options.training, options.seed);
      return options.returnWeights === true ? { output, weights } : output;
    }
    if (implementation === 'fused') {
      const mask = options.mask === undefined || options.mask === null ? null : toBoolMask(options.mask);
      const bias = options.bias === undefined || options.bias === null ? null : toTensor(options.bias);
      const emptyRows = options.emptyRows ?? 'zeros';
      return cpuAttention(
        { query: toTensor(query), key: toTensor(key), value: toTensor(value), mask, bias, scale, causal: options.causal === true, window: options.window, emptyRows },
        (q, k, m, b) => maskedSoftmax(dotScores(q, k, scale, b), buildMask({ ...options, mask: m }, T, S), emptyRows),
      );
    }
    const structured = options.causal === true || options.window !== undefined;
    const chunked = implementation === 'chunked';
    const result = blockedAttention(
      {
        query: toTensor(query),
        key: toTensor(key),
        value: toTensor(value),
        mask: options.mask === undefined || options.mask === null ? null : toBoolMask(options.mask),
        bias: options.bias === undefined || options.bias === null ? null : toTensor(options.bias),
        scale,
        causal: options.causal === true,
        window: options.window,
        emptyRows: options.emptyRows ?? 'zeros',
      },
      {
        queryBlock: options.blockSize ?? (chunked ? Math.min(T, DEFAULT_CHUNK) : structured ? Math.min(T, DEFAULT_BLOCK) : T),
        keyChunk: chunked ? (options.chunkSize ?? DEFAULT_CHUNK) : null,
        dropout: options.dropout ?? 0,
        training: options.training === true,
        seed: options.seed,
        returnWeights: options.returnWeights === true,
      },
    );
    return options.returnWeights === true ? { output: result.output, weights: result.weights as tf.Tensor } : result.output;
  });
}

const DEFAULT_BLOCK = 512;
const DEFAULT_CHUNK = 2048;

/**
 * Picks the formulation for the options and the active backend, and rejects
 * a forced one that cannot honour the options.
 */
function chooseImplementation(fn: string, shapes: AttentionShapes, options: ScaledDotProductOptions & { returnWeights?: boolean }): Exclude<AttentionImplementation, 'auto'> {
  const requested = options.implementation ?? 'auto';
  const training = options.training === true && (options.dropout ?? 0) > 0;
  const hasBias = options.bias !== undefined && options.bias !== null;
  const chunkBlockers: string[] = [];
  if (options.returnWeights === true) chunkBlockers.push('returnWeights');
  if (training) chunkBlockers.push('dropout while training');
  if (hasBias) chunkBlockers.push('bias');
  if (options.emptyRows === 'uniform') chunkBlockers.push("emptyRows: 'uniform'");
  if (requested === 'fused' && (options.returnWeights === true || training)) {
    const what = options.returnWeights === true ? 'returnWeights' : 'dropout while training';
    throw new Error(`${fn}: implementation 'fused' does not support ${what}; use 'auto' or 'blocked'.`);
  }
  if (requested === 'chunked') {
    if (chunkBlockers.length > 0) {
      throw new Error(`${fn}: implementation 'chunked' does not support ${chunkBlockers.join(', ')}; use 'auto' or 'blocked'.`);
    }
    return 'chunked';
  }
  if (requested !== 'auto') return requested;
  const backend = tf.getBackend();
  if (backend === 'cpu' && options.returnWeights !== true && !training) return 'fused';
  const budget = options.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
  const perSlice = backend === 'wasm' || backend === 'cpu' || options.causal === true || options.window !== undefined;
  if (options.window !== undefined) return 'blocked';
  // The blocked path holds one slice's [T, S] scores at a time; the naive path all of them.
  const slices = perSlice ? 1 : shapes.lead.reduce((a, b) => a * b, 1);
  const scoreBytes = 4 * slices * shapes.T * shapes.S;
  if (scoreBytes > budget && chunkBlockers.length === 0) return 'chunked';
  return perSlice ? 'blocked' : 'naive';
}
