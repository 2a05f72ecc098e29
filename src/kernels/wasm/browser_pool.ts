/**
 * The fused kernel's worker threads in browsers: Web Workers that share the
 * kernel's shared-memory module and its WebAssembly.Memory (both posted to
 * them), started from a Blob URL of an inlined source string so bundlers need
 * nothing. Needs `crossOriginIsolated` (SharedArrayBuffer).
 *
 * Unlike Node's worker_threads pool, nothing here ever blocks waiting for a
 * worker to START: a browser starts a worker asynchronously, possibly only
 * once the creating thread returns to its event loop, so a thread blocked in
 * Atomics.wait for it could wait forever. `spawn()` returns at once,
 * `start()` is a promise, and `ensure()` (the synchronous caller's question)
 * answers with the threads usable right now: all of them once every started
 * worker is ready, one (the caller alone) until then.
 *
 * Two ways to run:
 * - `run()` (synchronous, where the caller may block in Atomics.wait: a
 *   dedicated Worker): the caller is thread 0 and does its share, worker i is
 *   thread i + 1, then the caller waits for them as Node's pool does.
 * - `runAsync()` (a page's main thread, where Atomics.wait is not allowed):
 *   worker i is thread i, the caller takes no share and awaits them
 *   (Atomics.waitAsync where there is one, else short timers).
 *
 * Every started worker wakes for every run and counts itself done; a worker
 * whose thread id is not below the run's thread count computes nothing. So a
 * run waits for exactly the workers started, whatever its thread count.
 */

/** Stack of each worker thread, below the JS side's heap (runtime.ts reserves THREAD_LIMIT of them). */
export const WORKER_STACK = 64 * 1024;
/** Most threads the runtime uses. */
export const THREAD_LIMIT = 4;

// control slots (Int32Array over a SharedArrayBuffer), shared with runtime.ts's Node pool
export const C_GEN = 0;
export const C_OP = 1;
export const C_PARAMS = 2;
export const C_DONE = 3;
export const C_READY = 4;
export const C_ERROR = 5;
/** Thread id of worker 0 in this run: 1 when the caller is thread 0, else 0. */
const C_BASE = 6;
/** The run's thread count: workers with thread id >= this compute nothing. */
const C_THREADS = 7;
const OP_STOP = 3;

/**
 * The code each Web Worker runs (a classic worker from a Blob URL). Its first
 * message carries the module, the memory, the control block, its index and
 * its stack top; it instantiates the module on the shared memory, counts
 * itself ready, and then loops: wait for a new generation, run its share.
 */
export const WEB_WORKER_SOURCE = `
globalThis.onmessage = (e) => {
  globalThis.onmessage = null;
  const { module, memory, control, index, stackTop } = e.data;
  const c = new Int32Array(control);
  let inst;
  try {
    inst = new WebAssembly.Instance(module, { env: { memory } });
    inst.exports.__stack_pointer.value = stackTop;
  } catch (err) {
    Atomics.store(c, ${C_ERROR}, 1);
    globalThis.postMessage({ ok: false, error: String((err && err.message) || err) });
    return;
  }
  let gen = Atomics.load(c, ${C_GEN});
  Atomics.add(c, ${C_READY}, 1);
  Atomics.notify(c, ${C_READY});
  globalThis.postMessage({ ok: true });
  for (;;) {
    Atomics.wait(c, ${C_GEN}, gen);
    gen = Atomics.load(c, ${C_GEN});
    const op = Atomics.load(c, ${C_OP});
    if (op === ${OP_STOP}) break;
    const tid = index + Atomics.load(c, ${C_BASE});
    try {
      if (tid < Atomics.load(c, ${C_THREADS})) {
        if (op === 1) inst.exports.attn_forward(Atomics.load(c, ${C_PARAMS}), tid);
        else if (op === 2) inst.exports.attn_backward(Atomics.load(c, ${C_PARAMS}), tid);
      }
    } catch (err) {
      Atomics.store(c, ${C_ERROR}, 1);
    }
    Atomics.add(c, ${C_DONE}, 1);
    Atomics.notify(c, ${C_DONE});
  }
};
`;

/** What the pool needs of a worker: the part of the Web Worker API it uses. */
export interface WorkerHandle {
  postMessage(message: unknown): void;
  terminate(): unknown;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/** Starts one worker running WEB_WORKER_SOURCE. */
export type Spawn = () => WorkerHandle;

/** A Web Worker from a Blob URL of WEB_WORKER_SOURCE (the URL is revoked once the worker has it). */
export function spawnWebWorker(): WorkerHandle {
  const g = globalThis as unknown as {
    Worker: new (url: string) => WorkerHandle;
    Blob: new (parts: string[], options: { type: string }) => unknown;
    URL: { createObjectURL(b: unknown): string; revokeObjectURL(u: string): void };
  };
  const url = g.URL.createObjectURL(new g.Blob([WEB_WORKER_SOURCE], { type: 'text/javascript' }));
  try {
    return new g.Worker(url);
  } finally {
    // A worker fetches its script when constructed; the URL can go (Chromium and Firefox keep the blob alive).
    setTimeout(() => g.URL.revokeObjectURL(url), 10_000);
  }
}

type WaitAsync = (a: Int32Array, i: number, v: number, timeout?: number) => { async: boolean; value: Promise<string> | string };

/** Resolves once `done(Atomics.load(c, slot))`, without blocking; rejects when `failed()` says so. */
async function waitUntil(c: Int32Array, slot: number, done: (v: number) => boolean, failed: () => string | null, timeoutMs: number): Promise<void> {
  const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = Atomics.load(c, slot);
    if (done(v)) return;
    const why = failed();
    if (why !== null) throw new Error(why);
    if (Date.now() > deadline) throw new Error(`wasm kernel: worker threads did not answer within ${timeoutMs / 1000} s`);
    if (waitAsync) {
      const r = waitAsync(c, slot, v, 200);
      if (r.async) await r.value;
    } else {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
}

export class WebPool {
  readonly control = new Int32Array(new SharedArrayBuffer(64));
  private readonly workers: WorkerHandle[] = [];
  /** Why the pool is unusable (a worker failed to start or to run), or null. */
  failure: string | null = null;
  private waiters: Array<() => void> = [];

  /**
   * @param callerTakesPart true for `run()` (the caller is thread 0, so n
   *   threads need n - 1 workers), false for `runAsync()` (n workers).
   */
  constructor(
    private readonly module: WebAssembly.Module,
    private readonly memory: WebAssembly.Memory,
    private readonly stackBase: number,
    private readonly spawnWorker: Spawn,
    readonly callerTakesPart: boolean,
  ) {}

  get broken(): boolean {
    return this.failure !== null;
  }

  /** Workers started (ready or not). */
  get started(): number {
    return this.workers.length;
  }

  /** Workers that have instantiated the module and wait for work. */
  get ready(): number {
    return Atomics.load(this.control, C_READY);
  }

  private workersFor(n: number): number {
    return Math.max(0, Math.min(n, THREAD_LIMIT) - (this.callerTakesPart ? 1 : 0));
  }

  private fail(why: string): void {
    if (this.failure === null) this.failure = why;
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }

  /** Starts the workers `n` threads need (never waits for them). */
  spawn(n: number): void {
    while (!this.broken && this.workers.length < this.workersFor(n)) {
      const index = this.workers.length;
      let w: WorkerHandle;
      try {
        w = this.spawnWorker();
      } catch (e) {
        this.fail(`wasm kernel: a worker thread could not be created (${e instanceof Error ? e.message : String(e)})`);
        return;
      }
      w.onmessage = (e) => {
        const d = e.data as { ok?: boolean; error?: string } | null;
        if (d && d.ok === false) this.fail(`wasm kernel: a worker thread could not instantiate the module (${d.error})`);
        this.wake();
      };
      w.onerror = (e) => {
        const m = (e as { message?: string } | null)?.message;
        this.fail(`wasm kernel: a worker thread failed${m ? ` (${m})` : ''}`);
      };
      this.workers.push(w);
      w.postMessage({ module: this.module, memory: this.memory, control: this.control.buffer, index, stackTop: this.stackBase + (index + 1) * WORKER_STACK });
    }
  }

  /**
   * Threads usable now for a run of `n` (capped at THREAD_LIMIT): all of them
   * once the workers they need are started and every started worker is ready;
   * else the caller alone (1, or 0 without `callerTakesPart`). Never waits.
   */
  usable(n: number): number {
    const alone = this.callerTakesPart ? 1 : 0;
    if (this.broken || n <= alone) return Math.min(n, alone);
    const need = this.workersFor(n);
    return this.workers.length >= need && this.ready >= this.workers.length ? Math.min(n, THREAD_LIMIT) : alone;
  }

  /** Starts what `n` threads need and answers `usable(n)` at once (the synchronous path). */
  ensure(n: number): number {
    this.spawn(n);
    return this.usable(n);
  }

  /** Starts what `n` threads need and resolves with `usable(n)` once they are all ready, or failed, or `timeoutMs` passed. */
  async start(n: number, timeoutMs = 10_000): Promise<number> {
    this.spawn(n);
    const deadline = Date.now() + timeoutMs;
    while (!this.broken && this.ready < this.workers.length && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.usable(n);
  }

  private begin(op: 1 | 2, params: number, threads: number): void {
    const c = this.control;
    Atomics.store(c, C_DONE, 0);
    Atomics.store(c, C_OP, op);
    Atomics.store(c, C_PARAMS, params);
    Atomics.store(c, C_BASE, this.callerTakesPart ? 1 : 0);
    Atomics.store(c, C_THREADS, threads);
    Atomics.add(c, C_GEN, 1);
    Atomics.notify(c, C_GEN);
  }

  private checkError(): void {
    if (Atomics.load(this.control, C_ERROR) !== 0) {
      this.fail('wasm kernel: a worker thread failed');
      throw new Error(this.failure!);
    }
  }

  /**
   * Runs op (1 forward, 2 backward) on `threads` threads, the caller being
   * thread 0 (`own` is its share), then waits in Atomics.wait for every
   * started worker. Only where the caller may block, and only after
   * `usable(threads) === threads`.
   */
  run(op: 1 | 2, params: number, threads: number, own: () => void): void {
    if (!this.callerTakesPart) throw new Error('wasm kernel: this pool runs asynchronously');
    const c = this.control;
    this.begin(op, params, threads);
    const t0 = Date.now();
    own();
    const limit = Date.now() + Math.max(30_000, 20 * (Date.now() - t0));
    const others = this.workers.length;
    let done = Atomics.load(c, C_DONE);
    while (done < others) {
      if (Date.now() > limit) {
        this.fail('wasm kernel: a worker thread did not finish');
        throw new Error(this.failure!);
      }
      Atomics.wait(c, C_DONE, done, 100);
      done = Atomics.load(c, C_DONE);
    }
    this.checkError();
  }

  /** Runs op on `threads` workers (thread ids 0 .. threads-1) and resolves when every started worker is done. Never blocks. */
  async runAsync(op: 1 | 2, params: number, threads: number): Promise<void> {
    if (this.callerTakesPart) throw new Error('wasm kernel: this pool runs synchronously');
    const others = this.workers.length;
    this.begin(op, params, threads);
    await waitUntil(this.control, C_DONE, (v) => v >= others, () => this.failure, 600_000);
    this.checkError();
  }

  /** Stops the workers. */
  terminate(): Promise<unknown> {
    const c = this.control;
    Atomics.store(c, C_OP, OP_STOP);
    Atomics.add(c, C_GEN, 1);
    Atomics.notify(c, C_GEN);
    this.workers.forEach((w) => w.terminate());
    this.workers.length = 0;
    this.fail('wasm kernel: the worker threads were stopped');
    return Promise.resolve();
  }
}
