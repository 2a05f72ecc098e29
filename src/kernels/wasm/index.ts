/**
 * The fused WebAssembly SIMD attention kernel (forward and backward).
 *
 * `softmax(Q·Kᵀ·scale + bias | visible)·V` computed FlashAttention-2 style in
 * C compiled to wasm32 + SIMD128 (./attention.c, built by
 * scripts/build-wasm.sh and inlined as base64 in ./module.ts): online softmax
 * over 128-key panels, 4 query rows × 8 keys in SIMD registers, the
 * log-sum-exp saved per row, and a backward pass that recomputes the
 * probabilities block by block. Neither pass materializes `[T, S]`.
 * Masking is exact: a key that is not visible gets exactly zero weight and
 * its key and value rows never reach the result (a NaN there stays out).
 *
 * Inputs are read with dataSync() and copied into the kernel's own memory
 * (never tfjs-wasm's heap), so it runs under any tfjs backend; the planner
 * uses it on `cpu` and `wasm`. In Node the work is split across worker
 * threads sharing that memory (default min(2, cores)); the call stays
 * synchronous. In browsers it runs on one thread by default; under
 * `crossOriginIsolated` it uses Web Workers: synchronously inside a dedicated
 * Worker (after `setWasmKernelThreads(n)` and `await wasmKernelReady()`), and
 * through `wasmFusedAttentionAsync` on a page's main thread.
 *
 * Shape legend: B batch, N heads, T query length, S key length, H head size,
 * Hv value depth.
 */
import * as tf from '@tensorflow/tfjs';
import { AttentionError } from '../../errors';
import { backward, forward, forwardAsync, MAX_THREADS, memoryBytes, runtimeReady, runtimeStatus, setThreads, terminateThreads } from './runtime';
import type { ForwardResult, KernelProblem } from './runtime';

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
  /** Threads a synchronous call uses now (1 = the calling thread only). */
  threads: number;
  /**
   * The module's instruction set when available: `'relaxed-simd'` (a fused
   * multiply-add per multiply-add, where the engine has relaxed SIMD) or
   * `'simd128'` (also chosen everywhere by TFJS_ATTENTION_RELAXED_SIMD=0).
   */
  instructions?: 'relaxed-simd' | 'simd128';
  /**
   * Why threads are off or fewer than set, where that is so (e.g. a page
   * that is not cross-origin isolated; worker threads still starting), and
   * on a page's main thread how the async API runs.
   */
  threadsNote?: string;
  /** On a cross-origin isolated page's main thread: the worker threads `wasmFusedAttentionAsync` runs on (1 when they failed and it runs on the main thread, as `threadsNote` says). */
  asyncThreads?: number;
}

/** Reports whether the fused kernel can run in this environment (loads the module on first call). */
export function wasmKernelStatus(): WasmKernelStatus {
  return runtimeStatus();
}

/**
 * Resolves with the kernel's status once its module is compiled. In Node it
 * compiles synchronously on first use; a browser's main thread compiles it
 * asynchronously, and until then `wasmKernelStatus()` reports it unavailable
 * (the tfjs paths run instead). In a cross-origin isolated browser Worker it
 * also starts the worker threads that the thread setting asks for and waits
 * until they are ready: until then synchronous calls run on one thread.
 */
export async function wasmKernelReady(): Promise<WasmKernelStatus> {
  await runtimeReady();
  return runtimeStatus();
}

/**
 * Sets how many threads the kernel uses: an integer from 1 to 4, or `null`
 * for the default (min(2, available cores) in Node; 1 in browsers). Results
 * do not depend on the count. In browsers threads need `crossOriginIsolated`
 * (else `wasmKernelStatus().threadsNote` says why they are off): inside a
 * dedicated Worker this starts the worker threads, usable once
 * `await wasmKernelReady()` resolves; on a page's main thread it sets the
 * worker threads of `wasmFusedAttentionAsync` (synchronous calls there always
 * run on the main thread alone).
 * @throws AttentionError for anything else.
 */
export function setWasmKernelThreads(threads: number | null): void {
  if (threads !== null && !(Number.isInteger(threads) && threads >= 1 && threads <= MAX_THREADS)) {
    throw new AttentionError(`setWasmKernelThreads: expected an integer from 1 to ${MAX_THREADS} or null, but got ${String(threads)}.`);
  }
  setThreads(threads);
}

/**
 * Stops the kernel's worker threads now (they never keep a process alive;
 * this only frees them early, e.g. at the end of a test file). The next
 * threaded call starts them again.
 */
export function terminateWasmKernelThreads(): Promise<void> {
  return terminateThreads().then(() => undefined);
}

/** Bytes of the kernel's WebAssembly memory (it grows as needed and is reused; the bench reads it). */
export function wasmKernelMemoryBytes(): number {
  return memoryBytes();
}

const FN = 'wasmFusedAttention';

function shapeOf(t: tf.Tensor): string {
  return `[${t.shape.join(',')}]`;
}

function checkBroadcast(name: string, t: tf.Tensor, full: number[], fn: string): void {
  if (t.rank !== 4 || t.shape.some((d, i) => d !== 1 && d !== full[i])) {
    throw new AttentionError(`${fn}: expected ${name} of rank 4 with each dim 1 or [${full.join(',')}], but got ${name} ${shapeOf(t)}.`);
  }
}

function validate(input: FusedKernelInput, fn: string = FN): void {
  const { query, key, value, mask, bias, scale, window, emptyRows } = input;
  for (const [name, t] of [['query', query], ['key', key], ['value', value]] as const) {
    if (!(t instanceof tf.Tensor) || t.rank !== 4 || t.dtype !== 'float32') {
      throw new AttentionError(`${fn}: expected ${name} a float32 tensor of rank 4, but got ${t instanceof tf.Tensor ? `${t.dtype} ${shapeOf(t)}` : String(t)}.`);
    }
  }
  const [B, N, T, H] = query.shape as [number, number, number, number];
  const S = key.shape[2] as number;
  if (key.shape[0] !== B || key.shape[1] !== N || key.shape[3] !== H) {
    throw new AttentionError(`${fn}: expected key [${B},${N},S,${H}] to match query ${shapeOf(query)}, but got key ${shapeOf(key)}.`);
  }
  if (value.shape[0] !== B || value.shape[1] !== N || value.shape[2] !== S) {
    throw new AttentionError(`${fn}: expected value [${B},${N},${S},Hv] to match key ${shapeOf(key)}, but got value ${shapeOf(value)}.`);
  }
  if (mask !== null) {
    if (!(mask instanceof tf.Tensor)) throw new AttentionError(`${fn}: expected mask a tensor or null, but got ${String(mask)}.`);
    checkBroadcast('mask', mask, [B, N, T, S], fn);
  }
  if (bias !== null) {
    if (!(bias instanceof tf.Tensor) || bias.dtype !== 'float32') {
      throw new AttentionError(`${fn}: expected bias a float32 tensor or null, but got ${bias instanceof tf.Tensor ? bias.dtype : String(bias)}.`);
    }
    checkBroadcast('bias', bias, [B, N, T, S], fn);
  }
  if (typeof scale !== 'number' || !Number.isFinite(scale)) {
    throw new AttentionError(`${fn}: expected scale a finite number, but got ${String(scale)}.`);
  }
  if (window !== null && !(Number.isInteger(window) && window >= 0 && window < 2 ** 31)) {
    throw new AttentionError(`${fn}: expected window a non-negative integer or null, but got ${String(window)}.`);
  }
  if (emptyRows !== 'zeros' && emptyRows !== 'uniform') {
    throw new AttentionError(`${fn}: expected emptyRows 'zeros' or 'uniform', but got ${String(emptyRows)}.`);
  }
  if (typeof input.causal !== 'boolean') {
    throw new AttentionError(`${fn}: expected causal a boolean, but got ${String(input.causal)}.`);
  }
}

/**
 * Fused attention on the SIMD kernel, differentiable (tf.customGrad) with
 * respect to query, key, value and bias. Returns `[B, N, T, Hv]`.
 *
 * @param input See {@link FusedKernelInput}; shapes are checked first.
 * @returns float32 `[B, N, T, Hv]`.
 * @throws AttentionError for bad input, or when the kernel is unavailable
 *   here (see `wasmKernelStatus()`).
 */
export function wasmFusedAttention(input: FusedKernelInput): tf.Tensor {
  validate(input);
  const status = runtimeStatus();
  if (!status.available) {
    throw new AttentionError(`${FN}: expected a WebAssembly SIMD128 environment, but got none here (${status.reason}).`);
  }
  const { query, key, value, mask, bias } = input;
  const [B, N, T, H] = query.shape as [number, number, number, number];
  const S = key.shape[2] as number;
  const Hv = value.shape[3] as number;
  const outShape = [B, N, T, Hv];
  const maskData = mask ? { data: mask.dataSync() as ArrayLike<number>, shape: mask.shape } : null;

  const problem = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, b: tf.Tensor | null): KernelProblem => ({
    B, N, T, S, H, Hv,
    scale: input.scale,
    causal: input.causal,
    // Any window of T + S or more hides nothing; clamped so the kernel's 32-bit index maths cannot overflow.
    window: input.window === null ? -1 : Math.min(input.window, T + S),
    uniform: input.emptyRows === 'uniform',
    q: q.dataSync() as Float32Array,
    k: k.dataSync() as Float32Array,
    v: v.dataSync() as Float32Array,
    mask: maskData,
    bias: b ? { data: b.dataSync() as Float32Array, shape: b.shape } : null,
  });
  const empty = B * N * T * Hv === 0;

  const run = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, b: tf.Tensor | null, save: (ts: tf.Tensor[]) => void) => {
    let fwd: ForwardResult;
    if (empty) fwd = { out: new Float32Array(0), lse: new Float32Array(B * N * T) };
    else fwd = forward(problem(q, k, v, b));
    save(b ? [q, k, v, b] : [q, k, v]);
    const value = tf.tensor(fwd.out, outShape, 'float32');
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [sq, sk, sv] = saved;
      const sb = b ? saved[3] : null;
      if (empty || S === 0) {
        const zs = [tf.zerosLike(sq), tf.zerosLike(sk), tf.zerosLike(sv)];
        if (sb) zs.push(tf.zerosLike(sb));
        return zs;
      }
      const g = backward(problem(sq, sk, sv, sb), fwd, dy.dataSync() as Float32Array);
      const grads = [tf.tensor(g.dq, sq.shape, 'float32'), tf.tensor(g.dk, sk.shape, 'float32'), tf.tensor(g.dv, sv.shape, 'float32')];
      if (sb) grads.push(tf.tensor(g.dbias!, sb.shape, 'float32'));
      return grads;
    };
    return { value, gradFunc };
  };

  if (bias) {
    const f = tf.customGrad((q, k, v, b, save) => run(q as tf.Tensor, k as tf.Tensor, v as tf.Tensor, b as tf.Tensor, save as (ts: tf.Tensor[]) => void));
    return f(query, key, value, bias);
  }
  const f = tf.customGrad((q, k, v, save) => run(q as tf.Tensor, k as tf.Tensor, v as tf.Tensor, null, save as (ts: tf.Tensor[]) => void));
  return f(query, key, value);
}

/**
 * The fused kernel's forward pass without blocking the calling thread:
 * `softmax(Q·Kᵀ·scale + bias | visible)·V`, `[B, N, T, Hv]`, the same numbers
 * as `wasmFusedAttention`.
 *
 * On a cross-origin isolated page's main thread (where a synchronous call
 * cannot use threads, because the main thread may not wait in Atomics.wait)
 * it runs on Web Workers, `setWasmKernelThreads(n)` of them (default 1), and
 * the page stays responsive meanwhile; calls run one after another. Anywhere
 * else it awaits `wasmKernelReady()` and runs the synchronous kernel (Node's
 * threads, or a Worker's; one thread on a page that is not cross-origin
 * isolated). Inputs are read with `data()`, so a GPU backend does not block
 * either.
 *
 * Forward only: the result carries no gradient (for training, call
 * `wasmFusedAttention` inside `tf.grad` / `optimizer.minimize`).
 *
 * @example
 * setWasmKernelThreads(2);
 * const y = await wasmFusedAttentionAsync({ query, key, value, mask: null, bias: null,
 *   scale: 0.125, causal: true, window: null, emptyRows: 'zeros' }); // [B, N, T, Hv]
 * @throws AttentionError (as a rejected promise) for bad input, or when the
 *   kernel is unavailable here.
 */
export async function wasmFusedAttentionAsync(input: FusedKernelInput): Promise<tf.Tensor> {
  validate(input, 'wasmFusedAttentionAsync');
  await runtimeReady();
  const status = runtimeStatus();
  if (!status.available) {
    throw new AttentionError(`wasmFusedAttentionAsync: expected a WebAssembly SIMD128 environment, but got none here (${status.reason}).`);
  }
  const { query, key, value, mask, bias } = input;
  const [B, N, T, H] = query.shape as [number, number, number, number];
  const S = key.shape[2] as number;
  const Hv = value.shape[3] as number;
  if (B * N * T * Hv === 0) return tf.zeros([B, N, T, Hv]);
  const [q, k, v, m, b] = await Promise.all([query.data(), key.data(), value.data(), mask ? mask.data() : null, bias ? bias.data() : null]);
  const fwd = await forwardAsync({
    B, N, T, S, H, Hv,
    scale: input.scale,
    causal: input.causal,
    window: input.window === null ? -1 : Math.min(input.window, T + S),
    uniform: input.emptyRows === 'uniform',
    q: q as Float32Array,
    k: k as Float32Array,
    v: v as Float32Array,
    mask: mask && m ? { data: m as ArrayLike<number>, shape: mask.shape } : null,
    bias: bias && b ? { data: b as Float32Array, shape: bias.shape } : null,
  });
  return tf.tensor(fwd.out, [B, N, T, Hv], 'float32');
}
