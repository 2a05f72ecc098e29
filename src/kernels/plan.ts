/**
 * The planner: the one place that decides which kernel computes an attention
 * call. A PURE function of the shapes, the options, the backend's name, the
 * memory budget and the SIMD kernel's availability; it reads no global state
 * (the caller passes `tf.getBackend()`, `wasmKernelStatus()` and whether a
 * gradient is being recorded), so it is tested as a table.
 *
 * Memory model (bytes of score-sized float32 tensors alive at once, the
 * quantity `memoryBudget` bounds), with L slices, b query rows per block,
 * c keys per chunk, and the number of score-sized tensors a step holds at
 * once as measured with `tf.profile` (see LIVE_*):
 *   naive      3·4·L·T·S forward, and the gradient tape keeps as much
 *   blocked    3·4·b·S forward (one block of one slice); 3·4·L·T·S while a
 *              gradient is recorded (the tape keeps every block's tensors)
 *   online     10·4·b·c, forward and backward (the backward step holds
 *              P, dP, dS, their transposes and the recomputed scores)
 *   cpu_fused  4·S (one row), forward and backward (both are JS loops)
 *   simd       no scores at all (flash attention in WebAssembly)
 */
import { AttentionError } from '../errors';
import type { EmptyRows } from '../ops/masked_softmax';
import type { AttentionImplementation, AttentionShapes } from './contract';

/** Everything the planner looks at. */
export interface PlanRequest {
  /** The public function's name, for error messages. */
  fn: string;
  shapes: AttentionShapes;
  implementation: AttentionImplementation;
  mask: boolean;
  bias: boolean;
  causal: boolean;
  window: number | undefined;
  emptyRows: EmptyRows;
  returnWeights: boolean;
  /** Dropout with a positive rate while training. */
  dropoutWhileTraining: boolean;
  blockSize?: number;
  chunkSize?: number;
  /** `tf.getBackend()`. */
  backend: string;
  /** Bytes of float32 scores that may exist at once. */
  memoryBudget: number;
  /** Whether a gradient tape is recording (a `tf.grad`/`fit` is under way). */
  recordingGradient: boolean;
  /** `wasmKernelStatus()`. */
  simd: { available: boolean; reason?: string };
}

/** Which kernel runs, with its parameters and the reason, for a reader and for tests. */
export type Plan =
  | { kernel: 'empty'; why: string }
  | { kernel: 'naive'; why: string }
  | { kernel: 'blocked'; queryBlock: number; readData: boolean; why: string }
  | { kernel: 'online'; queryBlock: number; keyChunk: number; readData: boolean; why: string }
  | { kernel: 'cpu_fused'; why: string }
  | { kernel: 'simd'; why: string };

/** Query rows per block on the blocked path with `causal` or `window`. */
export const DEFAULT_BLOCK = 512;
/** Query rows per block and keys per chunk on the online path. */
export const DEFAULT_CHUNK = 2048;

const BYTES = 4;
/** Score-sized tensors alive at once in a softmax step of the naive and blocked kernels (scores, masked scores, weights). */
const LIVE_DIRECT = 3;
/** Block-sized tensors alive at once in a backward step of the online kernel (measured at 10 on wasm). */
const LIVE_ONLINE = 10;

/** What stops the online (chunked) kernel, in the words of an error message. */
function onlineBlockers(r: PlanRequest): string[] {
  const out: string[] = [];
  if (r.returnWeights) out.push('returnWeights');
  if (r.dropoutWhileTraining) out.push('dropout while training');
  if (r.bias) out.push('bias');
  return out;
}

/** What stops a fused kernel (JS or SIMD): both return no weights and apply no dropout. */
function fusedBlockers(r: PlanRequest): string[] {
  const out: string[] = [];
  if (r.returnWeights) out.push('returnWeights');
  if (r.dropoutWhileTraining) out.push('dropout while training');
  return out;
}

function defaultBlock(r: PlanRequest): number {
  const { T } = r.shapes;
  return r.blockSize ?? (r.causal || r.window !== undefined ? Math.min(T, DEFAULT_BLOCK) : T);
}

/** Keys a query row of the blocked path multiplies against (the band with `window`). */
function keysPerRow(r: PlanRequest, queryBlock: number): number {
  const { S } = r.shapes;
  if (r.window === undefined) return S;
  return Math.min(S, queryBlock + (r.causal ? 1 : 2) * r.window);
}

/**
 * Whether a kernel may cut its rows from the inputs' data (one `dataSync`)
 * instead of `tf.slice`: on cpu and wasm, where reading is a copy in memory
 * and wasm's slice copies its whole source every time. Never on GPU backends.
 */
function cpuLike(r: PlanRequest): boolean {
  return r.backend === 'cpu' || r.backend === 'wasm';
}

/** The blocked kernel: rows from data only where no gradient tape records it. */
function blockedPlan(r: PlanRequest, queryBlock: number, why: string): Plan {
  return { kernel: 'blocked', queryBlock, readData: cpuLike(r) && !r.recordingGradient, why };
}

/** The online kernel's blocks: the caller's sizes, else the defaults halved until a step fits the budget. */
function onlinePlan(r: PlanRequest, why: string): Plan {
  const { T, S } = r.shapes;
  let b = r.blockSize ?? Math.min(T, DEFAULT_CHUNK);
  let c = r.chunkSize ?? Math.min(S, DEFAULT_CHUNK);
  while (LIVE_ONLINE * BYTES * b * c > r.memoryBudget && ((r.blockSize === undefined && b > 1) || (r.chunkSize === undefined && c > 1))) {
    if ((c >= b || r.blockSize !== undefined) && r.chunkSize === undefined && c > 1) c = Math.ceil(c / 2);
    else b = Math.ceil(b / 2);
  }
  return { kernel: 'online', queryBlock: Math.max(1, b), keyChunk: Math.max(1, c), readData: cpuLike(r), why };
}

/** Chooses the kernel; throws an `AttentionError` when a forced one cannot honour the options. */
export function planAttention(r: PlanRequest): Plan {
  const { lead, T, S, H, Hv } = r.shapes;
  const L = lead.reduce((a, b) => a * b, 1);
  const fn = r.fn;
  const forced = r.implementation;
  const refuse = (impl: string, what: string[]): never => {
    throw new AttentionError(
      `${fn}: implementation '${impl}' does not support ${what.join(', ')}: expected implementation 'auto' or 'blocked' with these options, but got '${impl}'.`,
    );
  };
  // Validation of a forced choice comes first: the same options are refused whatever the shapes.
  if (forced === 'fused' && fusedBlockers(r).length > 0) refuse('fused', fusedBlockers(r));
  if (forced === 'chunked' && onlineBlockers(r).length > 0) refuse('chunked', onlineBlockers(r));
  if (forced === 'simd') {
    if (!r.simd.available) {
      throw new AttentionError(
        `${fn}: expected the WebAssembly SIMD kernel to be available for implementation 'simd', but it is not (${r.simd.reason ?? 'no reason given'}); use 'auto', which falls back to the tfjs paths.`,
      );
    }
    if (fusedBlockers(r).length > 0) refuse('simd', fusedBlockers(r));
  }

  // Zero-size dimensions: one well-shaped answer for every implementation.
  if (L === 0 || T === 0 || S === 0) return { kernel: 'empty', why: 'a zero-size dimension: nothing to attend to' };
  if (H === 0 || Hv === 0) return { kernel: 'naive', why: 'a zero depth: the batched composition handles it on every backend' };

  if (forced === 'naive') return { kernel: 'naive', why: 'forced' };
  if (forced === 'blocked') return blockedPlan(r, defaultBlock(r), 'forced');
  if (forced === 'chunked') return onlinePlan(r, 'forced');
  if (forced === 'fused') return { kernel: 'cpu_fused', why: 'forced' };
  if (forced === 'simd') return { kernel: 'simd', why: 'forced' };

  // auto.
  const fusedOk = fusedBlockers(r).length === 0;
  if (cpuLike(r) && fusedOk && r.simd.available) {
    return { kernel: 'simd', why: `the WebAssembly SIMD kernel on ${r.backend}` };
  }
  if (r.backend === 'cpu' && fusedOk) {
    return { kernel: 'cpu_fused', why: 'cpu: one JavaScript loop per row, within any budget (no [T, S] tensor)' };
  }
  const onlineOk = onlineBlockers(r).length === 0;
  const perSlice = cpuLike(r) || r.causal || r.window !== undefined;
  if (perSlice) {
    const b = defaultBlock(r);
    const held = LIVE_DIRECT * BYTES * (r.recordingGradient ? L * T : b) * keysPerRow(r, b);
    if (held <= r.memoryBudget) return blockedPlan(r, b, `per-slice 2-D products; ${held} bytes of scores within the budget`);
    if (onlineOk) return onlinePlan(r, `blocked would hold ${held} bytes of scores, over the budget of ${r.memoryBudget}`);
    // Cannot honour the budget while recording a gradient; the forward pass still fits it.
    const fit = Math.max(1, Math.min(b, Math.floor(r.memoryBudget / (LIVE_DIRECT * BYTES * keysPerRow(r, 1)))));
    return blockedPlan(r, fit, `over budget; the online path does not support ${onlineBlockers(r).join(', ')}: blocks of ${fit} rows`);
  }
  const held = LIVE_DIRECT * BYTES * L * T * S;
  if (held <= r.memoryBudget) return { kernel: 'naive', why: `batched products are fast on ${r.backend}; ${held} bytes within the budget` };
  if (onlineOk) return onlinePlan(r, `naive would hold ${held} bytes of scores, over the budget of ${r.memoryBudget}`);
  const fit = Math.max(1, Math.min(T, Math.floor(r.memoryBudget / (LIVE_DIRECT * BYTES * S))));
  return blockedPlan(r, fit, `over budget; the online path does not support ${onlineBlockers(r).join(', ')}: blocks of ${fit} rows`);
}
