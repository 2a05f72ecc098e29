/**
 * The fused kernel's runtime: loads the built WebAssembly module (inlined as
 * base64 in ./module.ts), owns its linear memory (grown as needed, reused
 * between calls), copies plain arrays in and out, and runs the work on
 * worker threads that share that memory: worker_threads in Node, Web Workers
 * in cross-origin isolated browsers (./browser_pool.ts; see ThreadEnv). No
 * tfjs here: ./index.ts wraps this in tf.customGrad.
 *
 * Threads: forward work items (a head × 128 query rows) are handed out from
 * a counter in the parameter block; backward ones are heads, round-robin, or
 * with fewer than 4 heads a head's key panels in 4 groups from the counter
 * (see backwardGroups); the calling thread takes its share and then waits
 * with Atomics.wait, so the API stays synchronous. Each item is computed the
 * same way whatever the thread count, so results are bit-identical for 1, 2
 * or 4 threads.
 *
 * Shape legend: B batch, N heads, T query length, S key length, H head size,
 * Hv value depth.
 */
import { AttentionError } from '../../errors';
import { C_DONE, C_ERROR, C_GEN, C_OP, C_PARAMS, C_READY, spawnWebWorker, THREAD_LIMIT, WebPool, WORKER_STACK } from './browser_pool';
import type { Spawn } from './browser_pool';
import { KERNEL_WASM_BASE64, KERNEL_WASM_MT_BASE64, KERNEL_WASM_RELAXED_BASE64, KERNEL_WASM_RELAXED_MT_BASE64 } from './module';

/** A problem in plain arrays, dense row-major. */
export interface KernelProblem {
  B: number;
  N: number;
  T: number;
  S: number;
  H: number;
  Hv: number;
  scale: number;
  causal: boolean;
  /** Band half-width, or -1 for none. */
  window: number;
  uniform: boolean;
  /** [B, N, T, H] */
  q: ArrayLike<number>;
  /** [B, N, S, H] */
  k: ArrayLike<number>;
  /** [B, N, S, Hv] */
  v: ArrayLike<number>;
  /** Nonzero = may attend, dense in `shape` (each dim 1 or full). */
  mask: { data: ArrayLike<number | boolean>; shape: readonly number[] } | null;
  bias: { data: ArrayLike<number>; shape: readonly number[] } | null;
}

export interface ForwardResult {
  /** [B, N, T, Hv] */
  out: Float32Array;
  /** Log-sum-exp per row, [B, N, T] (-inf marks an empty row). */
  lse: Float32Array;
}

export interface BackwardResult {
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
  /** In the bias's own (broadcast) shape, or null without bias. */
  dbias: Float32Array | null;
}

// Parameter block slots: must match the enum in attention.c.
const P = {
  B: 0, N: 1, T: 2, S: 3, TP: 4, SP: 5, H: 6, HV: 7, SCALE: 8, CAUSAL: 9, WINDOW: 10, UNIFORM: 11,
  Q: 12, K: 13, V: 14, O: 15, LSE: 16,
  MASK: 17, MSB: 18, MSN: 19, MST: 20, MSS: 21,
  BIAS: 22, BSB: 23, BSN: 24, BST: 25, BSS: 26,
  DO: 27, DQ: 28, DK: 29, DV: 30, DBIAS: 31, DBIAS_TSTRIDE: 32,
  SCRATCH: 33, SCRATCH_TSTRIDE: 34, THREADS: 35, DBIAS_SLOTS: 36, NEXT: 37, GROUPS: 38, DQ_PARTS: 39,
  COUNT: 40,
} as const;

export const MAX_THREADS = THREAD_LIMIT;
/** dBias partial sums when the bias is shared across heads (a multiple of every thread count used). */
const DBIAS_SLOTS = 4;
const PAGE = 65536;

interface Exports {
  memory?: WebAssembly.Memory;
  __stack_pointer: WebAssembly.Global;
  attn_heap_base(): number;
  attn_scratch_bytes(H: number, Hv: number): number;
  attn_forward(params: number, tid: number): void;
  attn_backward(params: number, tid: number): void;
  attn_simd_peak(iters: number, x: number): number;
}

// A tiny module using SIMD128 (i32.const 0; i8x16.splat; i8x16.popcnt): validates only where SIMD128 is supported.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

// The same with one f32x4.relaxed_madd (three i8x16.splat operands): validates only where relaxed SIMD is on.
const RELAXED_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 19, 1, 17, 0, 65, 0, 253, 15, 65, 0, 253, 15, 65, 0, 253, 15, 253, 133, 2, 11,
]);

/** Which instruction set the loaded module uses. */
export type KernelInstructions = 'relaxed-simd' | 'simd128';

/**
 * Whether to load the relaxed-SIMD module (a fused multiply-add per
 * multiply-add; about a quarter faster where the CPU has FMA). Engines that
 * ship relaxed SIMD (Chrome 114+, Node 22+) validate it as they are. Node 20
 * and 21 have it in V8 behind --experimental-wasm-relaxed-simd: there the
 * flag is turned on here, once, before the module is compiled (it only lets
 * relaxed-SIMD instructions validate). TFJS_ATTENTION_RELAXED_SIMD=0 (or false, off, no) keeps the
 * SIMD128 module everywhere (its float rounding is the same on every CPU;
 * relaxed_madd rounds once with FMA and twice without).
 */
function relaxedSimd(): boolean {
  if (instructionOverride) return instructionOverride === 'relaxed-simd' && (WebAssembly.validate(RELAXED_PROBE) || enableRelaxedFlag());
  return defaultRelaxed();
}

/** Tests: which module the next load uses (null: the default choice). */
let instructionOverride: KernelInstructions | null = null;

/**
 * Drops the loaded module (stopping its workers) so that the next call loads
 * `which` (null: the default choice). For tests that run both modules;
 * not exported from the package.
 */
export async function reloadRuntime(which: KernelInstructions | null): Promise<void> {
  const old = runtime;
  runtime = null;
  loadError = null;
  compiled = null;
  pending = null;
  instructionOverride = which;
  const oldAsync = asyncRuntime;
  asyncRuntime = null;
  asyncFailure = null;
  if (old?.pool) await old.pool.terminate();
  if (oldAsync) await oldAsync.then((rt) => rt.pool?.terminate(), () => undefined);
}

function enableRelaxedFlag(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string }; getBuiltinModule?: (id: string) => unknown } }).process;
  const major = Number((proc?.versions?.node ?? '').split('.')[0]);
  if ((major === 20 || major === 21) && typeof proc?.getBuiltinModule === 'function') {
    try {
      (proc.getBuiltinModule('node:v8') as { setFlagsFromString(f: string): void }).setFlagsFromString('--experimental-wasm-relaxed-simd');
    } catch {
      return false;
    }
    return WebAssembly.validate(RELAXED_PROBE);
  }
  return false;
}

function defaultRelaxed(): boolean {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined>; versions?: { node?: string }; getBuiltinModule?: (id: string) => unknown } }).process;
  if (/^(0|false|off|no)$/i.test(proc?.env?.TFJS_ATTENTION_RELAXED_SIMD?.trim() ?? '')) return false;
  return WebAssembly.validate(RELAXED_PROBE) || enableRelaxedFlag();
}

function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  const g = globalThis as { atob?: (s: string) => string };
  if (typeof g.atob !== 'function') throw new Error('no atob');
  const bin = g.atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

interface NodeBuiltins {
  workerThreads: {
    Worker: new (code: string, options: Record<string, unknown>) => {
      unref(): void;
      terminate(): Promise<number>;
      on(event: string, f: (...a: unknown[]) => void): void;
    };
  };
  cpus: number;
}

/** worker_threads and the core count in Node (synchronously, without a static import that browsers would trip on). */
function nodeBuiltins(): NodeBuiltins | null {
  const proc = (globalThis as { process?: { versions?: { node?: string }; getBuiltinModule?: (id: string) => unknown } }).process;
  if (!proc?.versions?.node || typeof proc.getBuiltinModule !== 'function') return null;
  try {
    const workerThreads = proc.getBuiltinModule('node:worker_threads') as NodeBuiltins['workerThreads'];
    const os = proc.getBuiltinModule('node:os') as { availableParallelism?: () => number; cpus: () => unknown[] };
    const cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    if (!workerThreads?.Worker) return null;
    return { workerThreads, cpus };
  } catch {
    return null;
  }
}

/** The code each worker runs (an eval'd string, so it survives bundling). */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control, tid, stackTop } = workerData;
const c = new Int32Array(control);
let inst;
try {
  inst = new WebAssembly.Instance(module, { env: { memory } });
  inst.exports.__stack_pointer.value = stackTop;
  Atomics.add(c, 4, 1);
} catch (e) {
  Atomics.store(c, 5, 1);
}
Atomics.notify(c, 4);
let gen = 0;
while (inst) {
  Atomics.wait(c, 0, gen);
  gen = Atomics.load(c, 0);
  const op = Atomics.load(c, 1);
  if (op === 3) break;
  try {
    if (op === 1) inst.exports.attn_forward(Atomics.load(c, 2), tid);
    else if (op === 2) inst.exports.attn_backward(Atomics.load(c, 2), tid);
  } catch (e) {
    Atomics.store(c, 5, 1);
  }
  Atomics.add(c, 3, 1);
  Atomics.notify(c, 3);
}
`;


type Terminable = { terminate(): Promise<number> };

/**
 * Stops the workers of a pool nobody can reach any more (e.g. a test runner
 * that drops its module registry between files), so that their threads and
 * the memory they share do not outlive it. Where FinalizationRegistry is
 * missing, the workers stay (idle, unref'd) until the process ends.
 */
const reaper = (() => {
  const FR = (globalThis as { FinalizationRegistry?: new (f: (held: Terminable[]) => void) => { register(o: object, held: Terminable[]): void } }).FinalizationRegistry;
  return FR ? new FR((held) => held.forEach((w) => void w.terminate())) : null;
})();

class Pool {
  readonly control = new Int32Array(new SharedArrayBuffer(64));
  /** Never reassigned: the reaper holds this very array. */
  private readonly workers: Terminable[] = [];
  /** Shared with the workers' event listeners, which must not hold the pool itself (the reaper needs it unreachable). */
  private readonly state = { broken: false };
  get broken(): boolean {
    return this.state.broken;
  }
  set broken(b: boolean) {
    this.state.broken = b;
  }

  constructor(private readonly nb: NodeBuiltins, private readonly module: WebAssembly.Module, private readonly memory: WebAssembly.Memory, private readonly stackBase: number) {
    reaper?.register(this, this.workers);
  }

  /** Workers ready (spawns up to n-1 of them; waits up to 10 s for them to start). */
  ensure(n: number): number {
    const want = Math.min(n, THREAD_LIMIT) - 1;
    while (this.workers.length < want) {
      const tid = this.workers.length + 1;
      const w = new this.nb.workerThreads.Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { module: this.module, memory: this.memory, control: this.control.buffer, tid, stackTop: this.stackBase + tid * WORKER_STACK },
      });
      w.unref();
      const state = this.state;
      w.on('error', () => {
        state.broken = true;
      });
      this.workers.push(w);
    }
    const deadline = Date.now() + 10000;
    let ready = Atomics.load(this.control, C_READY);
    while (ready < want && Date.now() < deadline && Atomics.load(this.control, C_ERROR) === 0) {
      Atomics.wait(this.control, C_READY, ready, 50);
      ready = Atomics.load(this.control, C_READY);
    }
    if (Atomics.load(this.control, C_ERROR) !== 0) this.broken = true;
    return this.broken ? 1 : Math.min(ready, want) + 1;
  }

  /** Runs op (1 forward, 2 backward) on `threads` threads, the caller being thread 0. */
  run(op: 1 | 2, params: number, threads: number, own: () => void): void {
    const c = this.control;
    Atomics.store(c, C_DONE, 0);
    Atomics.store(c, C_OP, op);
    Atomics.store(c, C_PARAMS, params);
    Atomics.add(c, C_GEN, 1);
    Atomics.notify(c, C_GEN);
    const t0 = Date.now();
    own();
    const mine = Date.now() - t0;
    // Every worker wakes; those with tid >= threads return at once. Wait for all of them.
    const others = this.workers.length;
    void threads;
    const limit = Date.now() + Math.max(30000, 20 * mine);
    let done = Atomics.load(c, C_DONE);
    while (done < others) {
      if (Date.now() > limit) {
        this.broken = true;
        throw new Error('wasm kernel: a worker thread did not finish');
      }
      Atomics.wait(c, C_DONE, done, 100);
      done = Atomics.load(c, C_DONE);
    }
    if (Atomics.load(c, C_ERROR) !== 0) {
      this.broken = true;
      throw new Error('wasm kernel: a worker thread failed');
    }
  }

  get size(): number {
    return this.workers.length + 1;
  }

  terminate(): Promise<unknown> {
    const c = this.control;
    Atomics.store(c, C_OP, 3);
    Atomics.add(c, C_GEN, 1);
    Atomics.notify(c, C_GEN);
    const all = Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
    return all;
  }
}

/** What the worker pools have in common (Node's `Pool`, the browsers' `WebPool`). */
interface ThreadPool {
  readonly broken: boolean;
  /** Workers started for `n` threads; answers the threads usable for this call. */
  ensure(n: number): number;
  run(op: 1 | 2, params: number, threads: number, own: () => void): void;
  terminate(): Promise<unknown>;
}

/**
 * Where the kernel runs and whether it can use threads there:
 * - `node`: worker_threads, synchronous (the caller waits in Atomics.wait);
 * - `worker`: a browser's dedicated Worker under crossOriginIsolated: nested
 *   Web Workers, synchronous once they are started (`wasmKernelReady()`);
 * - `main`: a page's main thread under crossOriginIsolated: it may not wait in
 *   Atomics.wait, so synchronous calls run on it alone and
 *   `wasmFusedAttentionAsync` runs on Web Workers;
 * - `none`: one thread, and `reason` says why.
 */
export type ThreadEnv =
  | { kind: 'node'; nb: NodeBuiltins }
  | { kind: 'worker' }
  | { kind: 'main' }
  | { kind: 'none'; reason: string };

/** Whether this thread may block in Atomics.wait (Node, Workers: yes; a page's main thread: no, it throws). */
function mayBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** Tests only (see simulateBrowserForTests): the browser context to act as. */
let simulated: ThreadEnv | null = null;
/** How Web Workers start (tests put worker_threads behind the same API). */
let spawnWorker: Spawn = spawnWebWorker;

/**
 * Tests only: makes a fresh copy of this module (jest.isolateModules) act as
 * in a browser context (`worker`, `main`, or `none` with `reason`), starting
 * its "Web Workers" with `spawn` (e.g. worker_threads behind the Web Worker
 * API). Call before anything else in that copy.
 */
export function simulateBrowserForTests(kind: 'worker' | 'main' | 'none', spawn: Spawn, reason = 'simulated'): void {
  simulated = kind === 'none' ? { kind, reason } : { kind };
  spawnWorker = spawn;
}

/** Finds out where the kernel runs and whether threads are possible there (see ThreadEnv). */
export function threadEnv(): ThreadEnv {
  if (simulated) return simulated;
  const g = globalThis as {
    process?: { versions?: { node?: string } };
    crossOriginIsolated?: boolean;
    Worker?: unknown;
    Blob?: unknown;
    URL?: { createObjectURL?: unknown };
  };
  if (g.process?.versions?.node) {
    const nb = nodeBuiltins();
    if (!nb) return { kind: 'none', reason: 'threads are off: worker_threads is not reachable (Node 20.16 or later is needed for process.getBuiltinModule)' };
    if (typeof SharedArrayBuffer !== 'function') return { kind: 'none', reason: 'threads are off: SharedArrayBuffer is not available' };
    return { kind: 'node', nb };
  }
  if (g.crossOriginIsolated !== true || typeof SharedArrayBuffer !== 'function') {
    return {
      kind: 'none',
      reason:
        'threads are off: the page is not cross-origin isolated (crossOriginIsolated is not true), so there is no shared memory; ' +
        'serve it with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp',
    };
  }
  if (typeof g.Worker !== 'function' || typeof g.Blob !== 'function' || typeof g.URL?.createObjectURL !== 'function') {
    return { kind: 'none', reason: 'threads are off: this context cannot start Web Workers' };
  }
  return mayBlock() ? { kind: 'worker' } : { kind: 'main' };
}

interface Runtime {
  exports: Exports;
  memory: WebAssembly.Memory;
  instructions: KernelInstructions;
  shared: boolean;
  module: WebAssembly.Module;
  /** First byte the JS side may use (after the workers' stacks). */
  heapStart: number;
  stackBase: number;
  pool: ThreadPool | null;
  /** A fresh pool (terminateThreads() replaces the old one with it). */
  newPool: (() => ThreadPool) | null;
  env: ThreadEnv;
}

let runtime: Runtime | null = null;
let loadError: string | null = null;
/** An asynchronous compile under way (browsers' main thread), and its result. */
let pending: Promise<void> | null = null;
let compiled: WebAssembly.Module | null = null;
let threadSetting: number | null = null;

/** Instantiates `module` on a new memory (shared when `shared`) and lays out the workers' stacks above its heap base. */
function makeRuntime(
  module: WebAssembly.Module,
  shared: boolean,
  env: ThreadEnv,
  pool: ((module: WebAssembly.Module, memory: WebAssembly.Memory, stackBase: number) => ThreadPool) | null,
  instructions: KernelInstructions,
): Runtime {
  const memory = shared
    ? new WebAssembly.Memory({ initial: 32, maximum: 65536, shared: true })
    : new WebAssembly.Memory({ initial: 32 });
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const exports = instance.exports as unknown as Exports;
  const heapBase = exports.attn_heap_base();
  const stackBase = Math.ceil(heapBase / 64) * 64;
  const newPool = pool ? () => pool(module, memory, stackBase) : null;
  return {
    exports,
    memory,
    instructions,
    shared,
    module,
    stackBase,
    heapStart: stackBase + THREAD_LIMIT * WORKER_STACK,
    pool: newPool ? newPool() : null,
    newPool,
    env,
  };
}

function init(): Runtime | null {
  if (runtime || loadError) return runtime;
  try {
    if (typeof WebAssembly !== 'object' || typeof WebAssembly.validate !== 'function') {
      loadError = 'WebAssembly is not available';
      return null;
    }
    if (!WebAssembly.validate(SIMD_PROBE)) {
      loadError = 'WebAssembly SIMD128 is not supported here';
      return null;
    }
    const env = threadEnv();
    // The synchronous calls share memory with worker threads in Node and in a browser's Worker; a page's
    // main thread runs them alone on plain memory (its threads, for the async API, get a runtime of their own).
    const canShare = env.kind === 'node' || env.kind === 'worker';
    if (pending && !compiled) return null;
    const relaxed = relaxedSimd();
    const bytes = decodeBase64(
      relaxed ? (canShare ? KERNEL_WASM_RELAXED_MT_BASE64 : KERNEL_WASM_RELAXED_BASE64) : canShare ? KERNEL_WASM_MT_BASE64 : KERNEL_WASM_BASE64,
    );
    let module: WebAssembly.Module;
    try {
      module = compiled ?? new WebAssembly.Module(bytes);
    } catch (e) {
      // Browsers refuse to compile large modules synchronously on the main
      // thread: compile asynchronously and report unavailable until done.
      if (!(e instanceof RangeError) || pending) throw e;
      pending = WebAssembly.compile(bytes).then(
        (m) => {
          compiled = m;
        },
        (err: unknown) => {
          loadError = `the kernel module could not be compiled (${err instanceof Error ? err.message : String(err)})`;
        },
      );
      return null;
    }
    const pool =
      env.kind === 'node'
        ? (m: WebAssembly.Module, mem: WebAssembly.Memory, sb: number) => new Pool(env.nb, m, mem, sb)
        : env.kind === 'worker'
          ? (m: WebAssembly.Module, mem: WebAssembly.Memory, sb: number) => new WebPool(m, mem, sb, spawnWorker, true)
          : null;
    runtime = makeRuntime(module, canShare, env, pool, relaxed ? 'relaxed-simd' : 'simd128');
    return runtime;
  } catch (e) {
    loadError = `the kernel module could not be loaded (${e instanceof Error ? e.message : String(e)})`;
    return null;
  }
}

/** Whether the kernel can run here, and why not; the threads a synchronous call uses now, and why not more. */
export function runtimeStatus(): { available: boolean; reason?: string; threads: number; instructions?: KernelInstructions; threadsNote?: string; asyncThreads?: number } {
  const rt = init();
  if (!rt && pending && !loadError) return { available: false, reason: 'the kernel module is still compiling (await wasmKernelReady())', threads: 1 };
  if (!rt) return { available: false, reason: loadError ?? 'unknown', threads: 1 };
  const threads = effectiveThreads(rt);
  const note = threadsNote(rt, threads);
  const out: { available: boolean; threads: number; instructions: KernelInstructions; threadsNote?: string; asyncThreads?: number } = { available: true, threads, instructions: rt.instructions };
  if (note) out.threadsNote = note;
  if (rt.env.kind === 'main') out.asyncThreads = asyncFailure ? 1 : asyncThreadsWanted();
  return out;
}

function threadsNote(rt: Runtime, threads: number): string | undefined {
  const env = rt.env;
  if (env.kind === 'none') return env.reason;
  if (env.kind === 'main') {
    const a = asyncThreadsWanted();
    const sync = "synchronous calls run on this thread alone (a page's main thread may not wait in Atomics.wait); ";
    if (asyncFailure) return `${sync}wasmFusedAttentionAsync too, as its worker threads failed: ${asyncFailure}`;
    return `${sync}wasmFusedAttentionAsync runs on ${a} worker thread${a === 1 ? '' : 's'}`;
  }
  const pool = rt.pool as (ThreadPool & { failure?: string | null }) | null;
  if (pool?.broken) return `threads are off: ${pool.failure ?? 'a worker thread failed'}`;
  if (env.kind === 'worker' && threads < wantedThreads(rt)) return `worker threads are starting (await wasmKernelReady()); until then calls run on ${threads} thread${threads === 1 ? '' : 's'}`;
  return undefined;
}

function defaultThreads(rt: Runtime): number {
  if (rt.env.kind === 'node') return Math.max(1, Math.min(2, rt.env.nb.cpus));
  // Browsers: one thread unless asked (setWasmKernelThreads).
  return 1;
}

/** Threads the setting asks for, where threads are possible. */
function wantedThreads(rt: Runtime): number {
  if (!rt.pool || rt.pool.broken) return 1;
  return Math.min(THREAD_LIMIT, threadSetting ?? defaultThreads(rt));
}

/** Threads a synchronous call uses now (browsers' Workers: only the workers already started and ready). */
function effectiveThreads(rt: Runtime): number {
  const want = wantedThreads(rt);
  if (rt.pool instanceof WebPool) return rt.pool.usable(want);
  return want;
}

/** Resolves once the module is compiled (at once where it compiles synchronously, as in Node), and in a browser's Worker once the worker threads the setting asks for are started. */
export async function runtimeReady(): Promise<void> {
  init();
  if (pending) await pending;
  const rt = init();
  if (rt?.pool instanceof WebPool) await rt.pool.start(wantedThreads(rt));
}

/** Sets the thread count (null restores the default: min(2, cores) in Node, 1 in browsers). In a browser's Worker this starts the worker threads (without waiting for them). */
export function setThreads(n: number | null): void {
  threadSetting = n;
  const rt = runtime;
  if (rt?.pool instanceof WebPool) rt.pool.spawn(wantedThreads(rt));
}

/** Stops the worker threads (they are unref'd in Node, so this is only needed to release them early). */
export function terminateThreads(): Promise<unknown> {
  const stops: Promise<unknown>[] = [];
  if (runtime?.pool && runtime.newPool) {
    const old = runtime.pool;
    runtime.pool = runtime.newPool();
    stops.push(old.terminate());
  }
  if (asyncRuntime) {
    const p = asyncRuntime.then((rt) => {
      const old = rt.pool!;
      rt.pool = rt.newPool!();
      return old.terminate();
    }, () => undefined);
    stops.push(p);
  }
  return Promise.all(stops);
}

// ---- The asynchronous path (a page's main thread) -------------------------------------------------

/** The runtime of the async path on a page's main thread: the shared-memory module on its own shared memory, with Web Workers doing all the work. */
let asyncRuntime: Promise<Runtime> | null = null;
/** Why the async path's workers are unusable, or null. */
let asyncFailure: string | null = null;
/** Async calls run one after another: each owns the async runtime's memory while it runs. */
let asyncQueue: Promise<unknown> = Promise.resolve();

function asyncThreadsWanted(): number {
  return Math.min(THREAD_LIMIT, threadSetting ?? 1);
}

function getAsyncRuntime(env: ThreadEnv): Promise<Runtime> {
  if (!asyncRuntime) {
    const relaxed = relaxedSimd();
    asyncRuntime = WebAssembly.compile(decodeBase64(relaxed ? KERNEL_WASM_RELAXED_MT_BASE64 : KERNEL_WASM_MT_BASE64)).then((module) =>
      makeRuntime(module, true, env, (m, mem, sb) => new WebPool(m, mem, sb, spawnWorker, false), relaxed ? 'relaxed-simd' : 'simd128'),
    );
  }
  return asyncRuntime;
}

/**
 * The forward pass without blocking the calling thread. On a page's main
 * thread under crossOriginIsolated it runs on Web Workers (the threads
 * setting, default 1) and resolves when they are done; calls are queued, one
 * at a time. Elsewhere it runs `forward()` (with the threads it has: Node's,
 * or a Worker's once started; one thread without cross-origin isolation).
 * Shares forward()'s staging and read-out (stageForward, readForward).
 */
export function forwardAsync(pr: KernelProblem): Promise<ForwardResult> {
  const rt0 = init();
  const env = rt0?.env ?? threadEnv();
  if (env.kind !== 'main' || asyncFailure) {
    return runtimeReady().then(() => forward(pr));
  }
  const job = asyncQueue.then(async () => {
    let rt: Runtime;
    try {
      rt = await getAsyncRuntime(env);
    } catch (e) {
      asyncFailure = `the worker threads' module could not be loaded (${e instanceof Error ? e.message : String(e)})`;
      return forward(pr);
    }
    const pool = rt.pool as WebPool;
    const n = Math.max(1, Math.min(asyncThreadsWanted(), forwardItems(pr)));
    const got = await pool.start(n);
    if (got < n) {
      // Workers that failed (for good) or are slow to start (this call only): run here, on one thread,
      // blocking as a synchronous call would.
      if (pool.broken) asyncFailure = pool.failure;
      return forward(pr);
    }
    const L = stageForward(rt, pr, n);
    lastThreads = n;
    await pool.runAsync(1, L.params, n);
    return readForward(rt, L, pr);
  });
  asyncQueue = job.catch(() => undefined);
  return job;
}

/** Bytes of wasm memory now (for the bench's memory figures). */
export function memoryBytes(): number {
  return runtime ? runtime.memory.buffer.byteLength : 0;
}

/** Bytes of the last call: inputs and outputs copied in, and the kernel's own working memory. */
export interface CallMemory {
  /** Everything the call placed in the wasm memory (above the module's stack). */
  totalBytes: number;
  /** The padded copies of inputs and outputs (q, k, v, mask, bias, o, lse, and in backward dO, dQ, dK, dV, dBias). */
  ioBytes: number;
  /** Working memory: parameters, per-thread scratch and workers' stacks. */
  workBytes: number;
}

let lastCall: CallMemory = { totalBytes: 0, ioBytes: 0, workBytes: 0 };

/** Memory use of the last forward or backward call (the bench reports it). */
export function lastCallMemory(): CallMemory {
  return { ...lastCall };
}

/** A bump allocator over the memory for one call. */
class Arena {
  private top: number;
  /** Bytes allocated as working memory (params, scratch); the rest are inputs and outputs. */
  work = 0;
  constructor(private readonly rt: Runtime) {
    this.top = rt.heapStart;
  }
  alloc(bytes: number, work = false): number {
    const at = Math.ceil(this.top / 16) * 16;
    this.top = at + bytes;
    if (work) this.work += bytes;
    return at;
  }
  /** Grows the memory to hold everything allocated; call before writing. */
  commit(): void {
    const need = this.top;
    const total = this.top - this.rt.stackBase;
    const workers = this.rt.heapStart - this.rt.stackBase;
    lastCall = { totalBytes: total, workBytes: this.work + workers, ioBytes: total - this.work - workers };
    const have = this.rt.memory.buffer.byteLength;
    if (need > have) {
      try {
        this.rt.memory.grow(Math.ceil((need - have) / PAGE));
      } catch (e) {
        throw new AttentionError(
          `wasmFusedAttention: expected inputs and outputs that fit the kernel's 4 GiB wasm32 memory, but got a problem needing ${(need / 2 ** 20).toFixed(0)} MiB (${e instanceof Error ? e.message : String(e)}).`,
        );
      }
    }
  }
}

const roundUp = (x: number, m: number): number => Math.ceil(x / m) * m;

/** Broadcast strides of a rank-4 [b|1, n|1, t|1, s|1] operand (0 on size-1 dims). */
function strides4(shape: readonly number[]): number[] {
  const out = [0, 0, 0, 0];
  let s = 1;
  for (let d = 3; d >= 0; d--) {
    out[d] = shape[d] === 1 ? 0 : s;
    s *= shape[d];
  }
  return out;
}

/** Copies a dense [BN][R][W] array into a padded [BN][Rp][Wp] one at `f32` offset `at` (zeros elsewhere). */
function copyPadded(f32: Float32Array, at: number, src: ArrayLike<number>, BN: number, R: number, W: number, Rp: number, Wp: number): void {
  const base = at / 4;
  if (W === Wp && R === Rp && src instanceof Float32Array) {
    f32.set(src, base);
    return;
  }
  f32.fill(0, base, base + BN * Rp * Wp);
  for (let h = 0; h < BN; h++) {
    for (let r = 0; r < R; r++) {
      const s = (h * R + r) * W;
      const d = base + (h * Rp + r) * Wp;
      if (src instanceof Float32Array) f32.set(src.subarray(s, s + W), d);
      else for (let c = 0; c < W; c++) f32[d + c] = src[s + c];
    }
  }
}

function copyOut(f32: Float32Array, at: number, BN: number, R: number, W: number, Rp: number, Wp: number): Float32Array {
  const out = new Float32Array(BN * R * W);
  const base = at / 4;
  if (W === Wp && R === Rp) {
    out.set(f32.subarray(base, base + BN * R * W));
    return out;
  }
  for (let h = 0; h < BN; h++) for (let r = 0; r < R; r++) out.set(f32.subarray(base + (h * Rp + r) * Wp, base + (h * Rp + r) * Wp + W), (h * R + r) * W);
  return out;
}

interface Layout {
  Tp: number;
  Sp: number;
  Hp: number;
  Hvp: number;
  BN: number;
  params: number;
  q: number;
  k: number;
  v: number;
  o: number;
  lse: number;
  mask: number;
  bias: number;
  scratch: number;
  scratchStride: number;
}

function layout(rt: Runtime, a: Arena, pr: KernelProblem, threads: number): Layout {
  const BN = pr.B * pr.N;
  const Tp = roundUp(pr.T, 4);
  const Sp = roundUp(pr.S, 8);
  const Hp = roundUp(pr.H, 4);
  const Hvp = roundUp(pr.Hv, 4);
  const scratchStride = roundUp(rt.exports.attn_scratch_bytes(Hp, Hvp), 64);
  return {
    Tp, Sp, Hp, Hvp, BN,
    params: a.alloc(P.COUNT * 4, true),
    scratch: a.alloc(scratchStride * threads, true),
    scratchStride,
    q: a.alloc(BN * Tp * Hp * 4),
    k: a.alloc(BN * Sp * Hp * 4),
    v: a.alloc(BN * Sp * Hvp * 4),
    o: a.alloc(BN * Tp * Hvp * 4),
    lse: a.alloc(BN * Tp * 4),
    mask: pr.mask ? a.alloc(pr.mask.data.length) : 0,
    bias: pr.bias ? a.alloc(pr.bias.data.length * 4) : 0,
  };
}

function writeInputs(rt: Runtime, L: Layout, pr: KernelProblem, threads: number): { i32: Int32Array; f32: Float32Array } {
  const buf = rt.memory.buffer;
  const i32 = new Int32Array(buf);
  const f32 = new Float32Array(buf);
  const u8 = new Uint8Array(buf);
  const p = L.params / 4;
  i32.fill(0, p, p + P.COUNT);
  i32[p + P.B] = pr.B;
  i32[p + P.N] = pr.N;
  i32[p + P.T] = pr.T;
  i32[p + P.S] = pr.S;
  i32[p + P.TP] = L.Tp;
  i32[p + P.SP] = L.Sp;
  i32[p + P.H] = L.Hp;
  i32[p + P.HV] = L.Hvp;
  f32[p + P.SCALE] = pr.scale;
  i32[p + P.CAUSAL] = pr.causal ? 1 : 0;
  i32[p + P.WINDOW] = pr.window;
  i32[p + P.UNIFORM] = pr.uniform ? 1 : 0;
  i32[p + P.Q] = L.q;
  i32[p + P.K] = L.k;
  i32[p + P.V] = L.v;
  i32[p + P.O] = L.o;
  i32[p + P.LSE] = L.lse;
  i32[p + P.SCRATCH] = L.scratch;
  i32[p + P.SCRATCH_TSTRIDE] = L.scratchStride;
  i32[p + P.THREADS] = threads;
  copyPadded(f32, L.q, pr.q, L.BN, pr.T, pr.H, L.Tp, L.Hp);
  copyPadded(f32, L.k, pr.k, L.BN, pr.S, pr.H, L.Sp, L.Hp);
  copyPadded(f32, L.v, pr.v, L.BN, pr.S, pr.Hv, L.Sp, L.Hvp);
  if (pr.mask) {
    const m = pr.mask.data;
    for (let i = 0; i < m.length; i++) u8[L.mask + i] = m[i] ? 1 : 0;
    const s = strides4(pr.mask.shape);
    i32[p + P.MASK] = L.mask;
    i32[p + P.MSB] = s[0];
    i32[p + P.MSN] = s[1];
    i32[p + P.MST] = s[2];
    i32[p + P.MSS] = s[3];
  }
  if (pr.bias) {
    f32.set(pr.bias.data as ArrayLike<number>, L.bias / 4);
    const s = strides4(pr.bias.shape);
    i32[p + P.BIAS] = L.bias;
    i32[p + P.BSB] = s[0];
    i32[p + P.BSN] = s[1];
    i32[p + P.BST] = s[2];
    i32[p + P.BSS] = s[3];
  }
  return { i32, f32 };
}

/**
 * Below this many flops a call runs on the calling thread alone when the
 * thread count is the default: waking a worker costs tens of microseconds to
 * milliseconds on a busy machine, more than such a call takes (2^24 flops are
 * about 0.4 ms at 40 GFLOP/s). An explicit setWasmKernelThreads(n) is obeyed.
 */
const MIN_PARALLEL_FLOPS = 2 ** 24;

/** Threads to use for this call, with the workers started (in a browser's Worker: those already started and ready; the rest start now). */
function threadsFor(rt: Runtime, items: number, flops: number): number {
  if (threadSetting === null && flops < MIN_PARALLEL_FLOPS) return 1;
  let n = Math.min(wantedThreads(rt), items);
  if (n <= 1 || !rt.pool) return 1;
  n = rt.pool.ensure(n);
  return n;
}

let lastThreads = 0;

/** Threads the last forward or backward call actually ran on (tests check that work was split). */
export function lastCallThreads(): number {
  return lastThreads;
}

function dispatch(rt: Runtime, op: 1 | 2, params: number, threads: number): void {
  lastThreads = threads <= 1 || !rt.pool ? 1 : threads;
  const f = op === 1 ? rt.exports.attn_forward : rt.exports.attn_backward;
  if (threads <= 1 || !rt.pool) {
    f(params, 0);
    return;
  }
  rt.pool.run(op, params, threads, () => f(params, 0));
}

function requireRuntime(): Runtime {
  const rt = init();
  if (!rt) throw new Error(`wasm kernel: unavailable (${loadError})`);
  return rt;
}

/** Forward pass: output and per-row log-sum-exp. */
export function forward(pr: KernelProblem): ForwardResult {
  const rt = requireRuntime();
  // Workers past `threads` see tid >= THREADS and do nothing; the others take items from the counter.
  const threads = threadsFor(rt, forwardItems(pr), 4 * pr.B * pr.N * pr.T * pr.S * Math.max(pr.H, pr.Hv));
  const L = stageForward(rt, pr, threads);
  dispatch(rt, 1, L.params, threads);
  return readForward(rt, L, pr);
}

/** Forward work items: a head × 128 query rows (attention.c: QB). */
function forwardItems(pr: KernelProblem): number {
  return pr.B * pr.N * Math.ceil(roundUp(pr.T, 4) / 128);
}

/** Lays out a forward call for `threads` threads in the memory and writes its parameters and inputs. */
function stageForward(rt: Runtime, pr: KernelProblem, threads: number): Layout {
  const a = new Arena(rt);
  const L = layout(rt, a, pr, threads);
  a.commit();
  writeInputs(rt, L, pr, threads);
  return L;
}

/** The forward's output and log-sum-exp, copied out of the memory unpadded. */
function readForward(rt: Runtime, L: Layout, pr: KernelProblem): ForwardResult {
  const f = new Float32Array(rt.memory.buffer);
  const BN = pr.B * pr.N;
  return { out: copyOut(f, L.o, BN, pr.T, pr.Hv, L.Tp, L.Hvp), lse: copyOut(f, L.lse, BN, pr.T, 1, L.Tp, 1) };
}

/**
 * Key-panel groups per head in the backward pass: with fewer heads than the
 * most threads (B·N < 4), each head's 128-key panels are dealt to 4 groups
 * that threads take separately, each with its own dQ partial sum; otherwise
 * 1 (threads take whole heads). It depends on the shapes only, never on the
 * thread count, so results stay the same for 1, 2 or 4 threads. Not with a
 * bias broadcast over keys (its gradient sums across the groups' columns).
 */
function backwardGroups(pr: KernelProblem, Sp: number): number {
  const panels = Math.ceil(Sp / 128); // attention.c: KP = 128 keys per panel
  if (pr.B * pr.N >= THREAD_LIMIT || panels < 2) return 1;
  if (pr.bias && pr.bias.shape[3] === 1 && pr.S > 1) return 1;
  return Math.min(THREAD_LIMIT, panels);
}

/** out[h][r][c] = Σ_g parts[g][h][r][c] (g in order, in float64), unpadded. */
function sumParts(f32: Float32Array, at: number, G: number, BN: number, R: number, W: number, Rp: number, Wp: number): Float32Array {
  const out = new Float32Array(BN * R * W);
  const base = at / 4;
  for (let h = 0; h < BN; h++) {
    for (let r = 0; r < R; r++) {
      for (let c = 0; c < W; c++) {
        let s = 0;
        for (let g = 0; g < G; g++) s += f32[base + ((g * BN + h) * Rp + r) * Wp + c];
        out[(h * R + r) * W + c] = s;
      }
    }
  }
  return out;
}

/** Backward pass from the forward's output and log-sum-exp, and the output's gradient dOut [B, N, T, Hv]. */
export function backward(pr: KernelProblem, fwd: ForwardResult, dOut: ArrayLike<number>): BackwardResult {
  const rt = requireRuntime();
  const BN = pr.B * pr.N;
  const G = backwardGroups(pr, roundUp(pr.S, 8));
  let threads = threadsFor(rt, BN * G, 10 * BN * pr.T * pr.S * Math.max(pr.H, pr.Hv));
  const sharedBias = pr.bias !== null && ((pr.bias.shape[0] === 1 && pr.B > 1) || (pr.bias.shape[1] === 1 && pr.N > 1));
  // Each partial dBias sum must belong to one thread: thread counts divide DBIAS_SLOTS
  // (with groups, each head has a slot of its own and its groups write disjoint columns).
  if (sharedBias && G === 1) threads = threads >= 4 ? 4 : threads >= 2 ? 2 : 1;
  const a = new Arena(rt);
  const L = layout(rt, a, pr, threads);
  const dO = a.alloc(BN * L.Tp * L.Hvp * 4);
  const dq = a.alloc(BN * L.Tp * L.Hp * 4);
  const dk = a.alloc(BN * L.Sp * L.Hp * 4);
  const dv = a.alloc(BN * L.Sp * L.Hvp * 4);
  const biasSize = pr.bias ? pr.bias.data.length : 0;
  const slots = sharedBias ? DBIAS_SLOTS : 1;
  const dbias = pr.bias ? a.alloc(biasSize * slots * 4) : 0;
  a.work += biasSize * (slots - 1) * 4; // the partial sums beyond the first are working memory
  const dqParts = G > 1 ? a.alloc(G * BN * L.Tp * L.Hp * 4, true) : 0;
  a.commit();
  const { i32, f32 } = writeInputs(rt, L, pr, threads);
  copyPadded(f32, L.o, fwd.out, BN, pr.T, pr.Hv, L.Tp, L.Hvp);
  copyPadded(f32, L.lse, fwd.lse, BN, pr.T, 1, L.Tp, 1);
  for (let h = 0; h < BN; h++) f32.fill(-Infinity, L.lse / 4 + h * L.Tp + pr.T, L.lse / 4 + (h + 1) * L.Tp);
  copyPadded(f32, dO, dOut, BN, pr.T, pr.Hv, L.Tp, L.Hvp);
  const p = L.params / 4;
  i32[p + P.DO] = dO;
  i32[p + P.DQ] = dq;
  i32[p + P.DK] = dk;
  i32[p + P.DV] = dv;
  i32[p + P.GROUPS] = G;
  i32[p + P.DQ_PARTS] = dqParts;
  if (pr.bias) {
    f32.fill(0, dbias / 4, dbias / 4 + biasSize * slots);
    i32[p + P.DBIAS] = dbias;
    i32[p + P.DBIAS_TSTRIDE] = biasSize;
    i32[p + P.DBIAS_SLOTS] = slots;
  }
  dispatch(rt, 2, L.params, threads);
  const f = new Float32Array(rt.memory.buffer);
  let db: Float32Array | null = null;
  if (pr.bias) {
    db = f.slice(dbias / 4, dbias / 4 + biasSize);
    for (let s = 1; s < slots; s++) {
      const o = dbias / 4 + s * biasSize;
      for (let i = 0; i < biasSize; i++) db[i] += f[o + i];
    }
  }
  return {
    dq: G > 1 ? sumParts(f, dqParts, G, BN, pr.T, pr.H, L.Tp, L.Hp) : copyOut(f, dq, BN, pr.T, pr.H, L.Tp, L.Hp),
    dk: copyOut(f, dk, BN, pr.S, pr.H, L.Sp, L.Hp),
    dv: copyOut(f, dv, BN, pr.S, pr.Hv, L.Sp, L.Hvp),
    dbias: db,
  };
}

/**
 * Measures this core's SIMD128 ceiling in GFLOP/s: a register-only loop of
 * f32x4 multiplies and adds (96 flops per iteration), best of `repeats`.
 */
export function simdPeakGflops(repeats = 5, iters = 2_000_000): number {
  const rt = requireRuntime();
  let best = 0;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    rt.exports.attn_simd_peak(iters, 1 + r * 1e-3);
    const s = (performance.now() - t0) / 1000;
    best = Math.max(best, (96 * iters) / s / 1e9);
  }
  return best;
}
