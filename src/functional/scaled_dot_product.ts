/**
 * Scaled dot-product attention, the functional core of the library:
 * `softmax(Q·Kᵀ·scale + mask)·V`.
 *
 * Shape legend: B batch, N heads, T query length, S key length, H head size
 * (query/key depth), Hv value depth. "..." is any number of leading
 * dimensions (for example `[B]` or `[B, N]`), the same for query, key and
 * value.
 */
import { AttentionError } from '../errors';
import * as tf from '@tensorflow/tfjs';
import { broadcastTo } from '../tfjs_compat/broadcast_to_empty';
import {
  broadcastsTo,
  checkDropout,
  checkNonNegativeInt,
  checkFloat,
  checkBoolean,
  checkOptionNames,
  checkOptions,
  checkSeed,
  checkTraining,
  checkMask,
  checkScale,
  fmt,
  InputInfo,
  TensorInput,
  toBoolMask,
  toTensor,
} from '../ops/checks';
import { EmptyRows } from '../ops/masked_softmax';
import { blockedAttention } from '../kernels/blocked';
import {
  AttentionImplementation,
  AttentionShapes,
  DEFAULT_MEMORY_BUDGET,
  IMPLEMENTATIONS,
  KernelInput,
  KernelOutput,
} from '../kernels/contract';
import { cpuFusedAttention } from '../kernels/cpu_fused';
import { emptyAttention, naiveAttention, naiveWeights } from '../kernels/naive';
import { onlineAttention } from '../kernels/online';
import { Plan, planAttention } from '../kernels/plan';
import { wasmFusedAttention, wasmKernelStatus } from '../kernels/wasm';

export type { AttentionImplementation, AttentionShapes } from '../kernels/contract';
export { DEFAULT_MEMORY_BUDGET } from '../kernels/contract';

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
   * output 0) or `'uniform'` (Keras's behaviour for a fully masked row:
   * weights 1/S, the output the mean of the values). A row is empty when
   * `mask`, `causal`, `window` or a `-Infinity` bias hides every key.
   * Default `'zeros'`.
   */
  emptyRows?: EmptyRows;
  /**
   * Sliding-window (local) attention: query `i` sees key `j` iff
   * `|i - j| <= window`, or `i - window <= j <= i` with `causal`. Computed in
   * O(T·window) by `scaledDotProductAttention`. Default: no window.
   */
  window?: number;
}

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
   * `window` (the fast tfjs path of wasm).
   * `'chunked'`: also chunks the keys with an online softmax, so no more than
   * a `[blockSize, chunkSize]` block of scores exists at once, forward or
   * backward (no `returnWeights`, no dropout while training, no `bias`).
   * `'fused'`: one JavaScript loop per query row, forward and backward, with
   * no `[T, S]` tensor; the fast path of the cpu backend, where tfjs ops are
   * JavaScript loops themselves (no `returnWeights`, no dropout while
   * training).
   * `'simd'`: the fused WebAssembly SIMD kernel (`src/kernels/wasm`; same
   * limits as `'fused'`); forcing it where it is unavailable throws.
   * `'auto'` (default): `'simd'` on cpu and wasm when it is available and the
   * options allow; on cpu, `'fused'` when they allow; otherwise `'blocked'`
   * on wasm or with `causal`/`window`, `'naive'` on GPU backends, and
   * `'chunked'` where those would hold more than `memoryBudget`. The planner
   * (`src/kernels/plan.ts`) decides; its table test lists the cases.
   */
  implementation?: AttentionImplementation;
  /**
   * Bytes of score-sized float32 memory a call may hold at once, forward
   * and backward, on every backend (while a gradient is recorded, what the
   * tape keeps counts too). `'auto'` picks the kernel and block sizes to
   * stay within it where the options allow (`returnWeights` returns the full
   * weights; with `bias` or dropout the blocked path bounds the forward pass
   * only). Default 256 MiB.
   */
  memoryBudget?: number;
  /** Query rows per block. Default: 512 with `causal` or `window`, 2048 on the chunked path, else T. */
  blockSize?: number;
  /** Keys per chunk on the chunked path. Default 2048. */
  chunkSize?: number;
}

/** The option names of `AttentionOptions`, for the check of unknown options. */
export const ATTENTION_OPTION_NAMES = ['mask', 'causal', 'dropout', 'training', 'seed', 'emptyRows', 'window'] as const satisfies ReadonlyArray<keyof AttentionOptions>;
/** The option names of `attentionWeights` (every key of `ScaledDotProductOptions`). */
const WEIGHTS_OPTION_NAMES = [...ATTENTION_OPTION_NAMES, 'scale', 'bias', 'implementation', 'memoryBudget', 'blockSize', 'chunkSize'] as const satisfies ReadonlyArray<keyof ScaledDotProductOptions>;
/** The option names of `scaledDotProductAttention`. */
const SDPA_OPTION_NAMES = [...WEIGHTS_OPTION_NAMES, 'returnWeights'] as const;
// Compile-time: the lists name every option of the interfaces.
type Missing<T, L extends readonly string[]> = Exclude<keyof T, L[number]>;
const optionListsComplete: [Missing<AttentionOptions, typeof ATTENTION_OPTION_NAMES>, Missing<ScaledDotProductOptions, typeof WEIGHTS_OPTION_NAMES>] extends [never, never] ? true : never = true;
void optionListsComplete;

/** Output and weights, returned when `returnWeights` is true. */
export interface AttentionResult {
  /** `[..., T, Hv]`. */
  output: tf.Tensor;
  /** `[..., T, S]`, before dropout. */
  weights: tf.Tensor;
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
  checkOptions(fn, options);
  const q = checkFloat(fn, 'query', query);
  const k = checkFloat(fn, 'key', key);
  const v: InputInfo | undefined = value === undefined ? undefined : checkFloat(fn, 'value', value);
  const rank = q.shape.length;
  for (const [name, info] of [['key', k], ['value', v]] as const) {
    if (info !== undefined && info.shape.length !== rank) {
      throw new AttentionError(
        `${fn}: expected query and ${name} to have the same rank, but got query ${fmt(q.shape)} and ${name} ${fmt(info.shape)}.`,
      );
    }
  }
  const lead = q.shape.slice(0, rank - 2);
  for (const [name, info] of [['key', k], ['value', v]] as const) {
    if (info !== undefined && !info.shape.slice(0, rank - 2).every((d, i) => d === lead[i])) {
      throw new AttentionError(
        `${fn}: expected query and ${name} to have the same leading (batch, head) dimensions, but got query ${fmt(q.shape)} and ${name} ${fmt(info.shape)}.`,
      );
    }
  }
  const T = q.shape[rank - 2];
  const H = q.shape[rank - 1];
  const S = k.shape[rank - 2];
  if (sameDepth && k.shape[rank - 1] !== H) {
    throw new AttentionError(
      `${fn}: expected query and key to have the same last dimension, but got query ${fmt(q.shape)} and key ${fmt(k.shape)} (${H} ≠ ${k.shape[rank - 1]}).`,
    );
  }
  if (v !== undefined && v.shape[rank - 2] !== S) {
    throw new AttentionError(
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
      throw new AttentionError(`${fn}: expected \`bias\` to broadcast to ${fmt([...lead, T, S])}, but got shape ${fmt(b.shape)}.`);
    }
  }
  checkScale(fn, options.scale);
  checkDropout(fn, options.dropout);
  checkTraining(fn, options.training);
  checkSeed(fn, options.seed);
  checkBoolean(fn, 'returnWeights', (options as { returnWeights?: unknown }).returnWeights);
  if (options.causal !== undefined && typeof options.causal !== 'boolean') {
    throw new AttentionError(`${fn}: expected \`causal\` to be a boolean, but got ${String(options.causal)}.`);
  }
  checkNonNegativeInt(fn, 'window', options.window);
  for (const name of ['blockSize', 'chunkSize'] as const) {
    const v = options[name];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 1)) {
      throw new AttentionError(`${fn}: expected \`${name}\` to be a positive integer, but got ${String(v)}.`);
    }
  }
  const mb = options.memoryBudget;
  if (mb !== undefined && (typeof mb !== 'number' || !(mb > 0))) {
    throw new AttentionError(`${fn}: expected \`memoryBudget\` to be a positive number of bytes, but got ${String(mb)}.`);
  }
  const impl = options.implementation;
  if (impl !== undefined && !IMPLEMENTATIONS.includes(impl)) {
    throw new AttentionError(
      `${fn}: expected \`implementation\` to be one of ${IMPLEMENTATIONS.map((i) => `'${i}'`).join(', ')}, but got ${String(impl)}.`,
    );
  }
  if (options.emptyRows !== undefined && options.emptyRows !== 'zeros' && options.emptyRows !== 'uniform') {
    throw new AttentionError(`${fn}: expected \`emptyRows\` to be 'zeros' or 'uniform', but got ${String(options.emptyRows)}.`);
  }
  return { lead, T, S, H, Hv };
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
  checkOptions(fn, options);
  checkOptionNames(fn, options, WEIGHTS_OPTION_NAMES);
  const shapes = checkAttentionInputs(fn, query, key, undefined, options);
  const { T, S, H } = shapes;
  return tf.tidy(() => {
    if (T === 0 || S === 0 || shapes.lead.includes(0)) return tf.zeros([...shapes.lead, T, S]);
    const q = toTensor(query);
    const k = toTensor(key);
    // Only the shapes of the value matter here: a zero-depth stand-in.
    const inp = kernelInput(q, k, tf.zeros([...shapes.lead, S, 0]), options, H);
    const weights = naiveWeights(inp);
    return inp.training && inp.dropout > 0 ? tf.dropout(weights, inp.dropout, undefined, inp.seed) : weights;
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
  checkOptions(fn, options);
  checkOptionNames(fn, options, SDPA_OPTION_NAMES);
  if (value === undefined) checkFloat(fn, 'value', value);
  const shapes = checkAttentionInputs(fn, query, key, value, options);
  const plan = planAttention({
    fn,
    shapes,
    implementation: options.implementation ?? 'auto',
    mask: options.mask !== undefined && options.mask !== null,
    bias: options.bias !== undefined && options.bias !== null,
    causal: options.causal === true,
    window: options.window,
    emptyRows: options.emptyRows ?? 'zeros',
    returnWeights: options.returnWeights === true,
    dropoutWhileTraining: options.training === true && (options.dropout ?? 0) > 0,
    blockSize: options.blockSize,
    chunkSize: options.chunkSize,
    backend: tf.getBackend(),
    memoryBudget: options.memoryBudget ?? DEFAULT_MEMORY_BUDGET,
    recordingGradient: recordingGradient(),
    simd: wasmKernelStatus(),
  });
  return tf.tidy(() => {
    const inp = kernelInput(toTensor(query), toTensor(key), toTensor(value), options, shapes.H);
    const r = runPlan(plan, inp);
    return options.returnWeights === true ? { output: r.output, weights: r.weights as tf.Tensor } : r.output;
  });
}

/** The kernel input of checked options (call inside `tf.tidy`: converts masks and biases). */
function kernelInput(
  query: tf.Tensor,
  key: tf.Tensor,
  value: tf.Tensor,
  options: ScaledDotProductOptions & { returnWeights?: boolean },
  H: number,
): KernelInput {
  return {
    query,
    key,
    value,
    mask: options.mask === undefined || options.mask === null ? null : toBoolMask(options.mask),
    bias: options.bias === undefined || options.bias === null ? null : toTensor(options.bias),
    scale: options.scale ?? (H > 0 ? 1 / Math.sqrt(H) : 1),
    causal: options.causal === true,
    window: options.window,
    emptyRows: options.emptyRows ?? 'zeros',
    dropout: options.dropout ?? 0,
    training: options.training === true,
    seed: options.seed,
    returnWeights: options.returnWeights === true,
  };
}

/** Runs the kernel a plan names. Kernels take the one contract and call back into nothing. */
export function runPlan(plan: Plan, inp: KernelInput): KernelOutput {
  switch (plan.kernel) {
    case 'empty':
      return emptyAttention(inp);
    case 'naive':
      return naiveAttention(inp);
    case 'blocked':
      return blockedAttention(inp, plan.queryBlock, plan.readData);
    case 'online':
      return onlineAttention(inp, plan.queryBlock, plan.keyChunk, plan.readData);
    case 'cpu_fused':
      return cpuFusedAttention(inp);
    case 'simd':
      return simdAttention(inp);
  }
}

/**
 * The WebAssembly SIMD kernel through its 4-D contract: leading dimensions
 * folded into two (`[...lead, T, H]` → `[B, N, T, H]`), mask and bias made
 * rank 4 with each dimension 1 or full (a leading dimension is broadcast
 * only where folding mixes a unit and a full one).
 */
function simdAttention(inp: KernelInput): KernelOutput {
  const r = inp.query.rank;
  const lead = inp.query.shape.slice(0, r - 2);
  const [B, N] = lead.length === 0 ? [1, 1] : [lead.slice(0, -1).reduce((a, b) => a * b, 1), lead[lead.length - 1]];
  const T = inp.query.shape[r - 2];
  const S = inp.key.shape[r - 2];
  const to4 = (x: tf.Tensor) => tf.reshape(x, [B, N, ...x.shape.slice(-2)]);
  const output = wasmFusedAttention({
    query: to4(inp.query),
    key: to4(inp.key),
    value: to4(inp.value),
    mask: inp.mask === null ? null : fold4(inp.mask, lead, T, S),
    bias: inp.bias === null ? null : fold4(inp.bias, lead, T, S),
    scale: inp.scale,
    causal: inp.causal,
    window: inp.window ?? null,
    emptyRows: inp.emptyRows,
  });
  return { output: tf.reshape(output, [...lead, T, inp.value.shape[r - 1]]) };
}

/**
 * A tensor broadcastable to `[...lead, T, S]` as rank 4 `[B|1, N|1, T|1, S|1]`
 * with `B` the product of all leading dimensions but the last and `N` the
 * last. Call inside `tf.tidy`.
 */
export function fold4(x: tf.Tensor, lead: number[], T: number, S: number): tf.Tensor {
  const full = [...lead, T, S];
  let shape = [...new Array(full.length - x.rank).fill(1), ...x.shape];
  let t = tf.reshape(x, shape);
  const outer = lead.slice(0, -1);
  const outerShape = shape.slice(0, outer.length);
  // Folding outer dims into one is a reshape when they are all 1 or all full; otherwise broadcast them.
  if (!outerShape.every((d) => d === 1) && !outerShape.every((d, i) => d === outer[i])) {
    shape = [...outer, ...shape.slice(outer.length)];
    t = broadcastTo(t, shape);
  }
  const B = shape.slice(0, outer.length).reduce((a, b) => a * b, 1);
  const N = lead.length === 0 ? 1 : shape[lead.length - 1];
  return tf.reshape(t, [B, N, shape[full.length - 2], shape[full.length - 1]]);
}

/** Whether tfjs is recording a gradient tape (inside `tf.grad`, `minimize` or `fit`). */
function recordingGradient(): boolean {
  const engine = tf.engine() as unknown as { isTapeOn?: () => boolean };
  return typeof engine.isTapeOn === 'function' ? engine.isTapeOn() : false;
}
