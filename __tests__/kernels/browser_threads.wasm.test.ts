/**
 * The fused kernel's threads in browsers, as far as Node can check them
 * (the real browser runs in examples/browser/e2e.ts, `npm run test:browser`):
 * - WebPool's bookkeeping (src/kernels/wasm/browser_pool.ts) with fake
 *   workers: it never waits for a worker to start, counts threads only when
 *   every started worker is ready, and turns every kind of worker failure
 *   into one thread with a reason;
 * - the runtime acting as in a browser context (simulateBrowserForTests),
 *   its "Web Workers" being worker_threads behind the Web Worker API running
 *   the real WEB_WORKER_SOURCE on the real shared-memory module: a dedicated
 *   Worker (synchronous calls on 2 threads once wasmKernelReady() resolves,
 *   one thread before), a page's main thread (wasmFusedAttentionAsync on 2
 *   worker threads, synchronous calls on one), and a page that is not
 *   cross-origin isolated. Outputs and gradients against the float64
 *   reference refExactAttention (__tests__/reference.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { Worker } from 'node:worker_threads';
import { WEB_WORKER_SOURCE, WebPool } from '../../src/kernels/wasm/browser_pool';
import type { WorkerHandle } from '../../src/kernels/wasm/browser_pool';
import type * as KernelApi from '../../src/kernels/wasm';
import type * as RuntimeApi from '../../src/kernels/wasm/runtime';
import { randn, refExactAttention } from '../reference';
import type { Arr } from '../reference';

/**
 * Kernel calls made in the workers, by thread id and op: [tid * 2 + (op - 1)]
 * (forward 0, backward 1), counted by the shim below, so a test can see that
 * each worker ran its own share and not, say, all of it.
 */
const workerCalls = new Int32Array(new SharedArrayBuffer(4 * 16));

/** A worker_threads Worker behind the part of the Web Worker API the pool uses, running WEB_WORKER_SOURCE. */
function nodeWebWorker(): WorkerHandle {
  const shim = `
    const { parentPort, workerData } = require('node:worker_threads');
    globalThis.postMessage = (m) => parentPort.postMessage(m);
    parentPort.once('message', (data) => globalThis.onmessage({ data }));
    // Count the kernel calls by thread id (WEB_WORKER_SOURCE calls inst.exports.attn_forward/attn_backward).
    const calls = new Int32Array(workerData.calls);
    const RealInstance = WebAssembly.Instance;
    WebAssembly.Instance = function (module, imports) {
      const ex = new RealInstance(module, imports).exports;
      return { exports: {
        __stack_pointer: ex.__stack_pointer,
        attn_forward: (p, tid) => { Atomics.add(calls, tid * 2, 1); return ex.attn_forward(p, tid); },
        attn_backward: (p, tid) => { Atomics.add(calls, tid * 2 + 1, 1); return ex.attn_backward(p, tid); },
      } };
    };
    ${WEB_WORKER_SOURCE}
  `;
  const w = new Worker(shim, { eval: true, workerData: { calls: workerCalls.buffer } });
  w.unref();
  const handle: WorkerHandle = {
    postMessage: (m) => w.postMessage(m),
    terminate: () => w.terminate(),
    onmessage: null,
    onerror: null,
  };
  w.on('message', (data) => handle.onmessage?.({ data }));
  w.on('error', (e) => handle.onerror?.(e));
  return handle;
}

/** A worker that records what it was sent and answers only when told. */
class FakeWorker implements WorkerHandle {
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  sent: unknown[] = [];
  terminated = false;
  postMessage(m: unknown): void {
    this.sent.push(m);
  }
  terminate(): void {
    this.terminated = true;
  }
}

function fakePool(callerTakesPart: boolean) {
  const workers: FakeWorker[] = [];
  const pool = new WebPool({} as WebAssembly.Module, {} as WebAssembly.Memory, 1024, () => {
    const w = new FakeWorker();
    workers.push(w);
    return w;
  }, callerTakesPart);
  /** What a real worker does once it has instantiated the module. */
  const ready = (i: number): void => {
    Atomics.add(pool.control, 4, 1);
    workers[i].onmessage!({ data: { ok: true } });
  };
  return { pool, workers, ready };
}

describe('WebPool (bookkeeping, fake workers)', () => {
  it('starts n - 1 workers for n threads when the caller takes part, and answers 1 until all are ready, without waiting', () => {
    const { pool, workers, ready } = fakePool(true);
    expect(pool.ensure(3)).toBe(1);
    expect(workers).toHaveLength(2);
    expect(pool.ensure(3)).toBe(1); // no second round of workers
    expect(workers).toHaveLength(2);
    ready(0);
    expect(pool.usable(3)).toBe(1);
    ready(1);
    expect(pool.usable(3)).toBe(3);
    expect(pool.usable(2)).toBe(2);
    expect(pool.usable(9)).toBe(1); // 4 threads would need a third worker
    expect(pool.ensure(9)).toBe(1);
    expect(workers).toHaveLength(3);
  });

  it('posts each worker the module, the memory, the control block, its index and its own stack', () => {
    const { pool, workers } = fakePool(true);
    pool.spawn(3);
    const msgs = workers.map((w) => w.sent[0] as { index: number; stackTop: number; control: SharedArrayBuffer });
    expect(msgs.map((m) => m.index)).toEqual([0, 1]);
    expect(msgs.map((m) => m.stackTop)).toEqual([1024 + 65536, 1024 + 2 * 65536]);
    expect(msgs[0].control).toBe(pool.control.buffer);
  });

  it('needs n workers for n threads when the caller takes no part (the async path)', async () => {
    const { pool, workers, ready } = fakePool(false);
    const started = pool.start(2, 5000);
    expect(workers).toHaveLength(2);
    ready(0);
    ready(1);
    await expect(started).resolves.toBe(2);
    expect(pool.usable(1)).toBe(1);
  });

  it('start() resolves with the threads usable when a worker never answers (here 1)', async () => {
    const { pool, workers } = fakePool(true);
    await expect(pool.start(2, 100)).resolves.toBe(1);
    expect(workers).toHaveLength(1);
    expect(pool.broken).toBe(false);
  });

  it.each([
    ['the worker cannot be created', 'create', /could not be created \(no workers here\)/],
    ['the module does not instantiate in the worker', 'instantiate', /could not instantiate the module \(CompileError: nope\)/],
    ['the worker reports an error', 'error', /a worker thread failed \(script blocked\)/],
  ])('turns it into one thread with a reason when %s', async (_what, how, reason) => {
    const workers: FakeWorker[] = [];
    const pool = new WebPool({} as WebAssembly.Module, {} as WebAssembly.Memory, 0, () => {
      if (how === 'create') throw new Error('no workers here');
      const w = new FakeWorker();
      workers.push(w);
      return w;
    }, true);
    const started = pool.start(2, 5000);
    if (how === 'instantiate') workers[0].onmessage!({ data: { ok: false, error: 'CompileError: nope' } });
    if (how === 'error') workers[0].onerror!({ message: 'script blocked' });
    await expect(started).resolves.toBe(1);
    expect(pool.broken).toBe(true);
    expect(pool.failure).toMatch(reason);
    expect(pool.ensure(2)).toBe(1);
  });

  it('refuses the other way of running', async () => {
    const sync = fakePool(true).pool;
    await expect(sync.runAsync(1, 0, 2)).rejects.toThrow(/this pool runs synchronously/);
    const async = fakePool(false).pool;
    expect(() => async.run(1, 0, 2, () => undefined)).toThrow(/this pool runs asynchronously/);
  });

  it('terminate() stops every worker and leaves the pool unusable', async () => {
    const { pool, workers, ready } = fakePool(true);
    pool.spawn(3);
    ready(0);
    ready(1);
    await pool.terminate();
    expect(workers.map((w) => w.terminated)).toEqual([true, true]);
    expect(pool.usable(3)).toBe(1);
  });
});

// ---- the runtime acting as in a browser, on real threads --------------------------------------

const B = 1, N = 3, T = 260, S = 200, H = 16, Hv = 12;
const q = randn([B, N, T, H], 11);
const k = randn([B, N, S, H], 12);
const v = randn([B, N, S, Hv], 13);
const dy = randn([B, N, T, Hv], 14);
const opts = { scale: 0.25, causal: true };
const ref = refExactAttention(q, k, v, dy, opts);
const t = (a: Arr): tf.Tensor => tf.tensor(Array.from(a.data), a.shape, 'float32');

function expectClose(got: ArrayLike<number>, want: Arr, tol: number): void {
  expect(got.length).toBe(want.data.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want.data[i]) / (1 + Math.abs(want.data[i])));
  expect(worst).toBeLessThanOrEqual(tol);
}

interface Fresh {
  api: typeof KernelApi;
  rt: typeof RuntimeApi;
}

/** A fresh copy of the kernel's modules acting as in browser context `kind`. */
function fresh(kind: 'worker' | 'main' | 'none', reason?: string, spawn = nodeWebWorker): Fresh {
  let out: Fresh | null = null;
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const rt = require('../../src/kernels/wasm/runtime') as typeof RuntimeApi;
    rt.simulateBrowserForTests(kind, spawn, reason);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    out = { api: require('../../src/kernels/wasm') as typeof KernelApi, rt };
  });
  return out!;
}

function kernelInput(query: tf.Tensor, key: tf.Tensor, value: tf.Tensor): KernelApi.FusedKernelInput {
  return { query, key, value, mask: null, bias: null, scale: opts.scale, causal: true, window: null, emptyRows: 'zeros' };
}

/** Output and dq, dk, dv of sum(out · dy) on the fresh copy's synchronous kernel. */
function syncRun(f: Fresh): { out: Float32Array; grads: Float32Array[]; forwardThreads: number; backwardThreads: number } {
  return tf.tidy(() => {
    const args = [t(q), t(k), t(v)];
    const out = f.api.wasmFusedAttention(kernelInput(args[0], args[1], args[2])).dataSync() as Float32Array;
    const forwardThreads = f.rt.lastCallThreads();
    const d = t(dy);
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(f.api.wasmFusedAttention(kernelInput(a, b, c)), d)))(args);
    return { out, grads: grads.map((g) => g.dataSync() as Float32Array), forwardThreads, backwardThreads: f.rt.lastCallThreads() };
  });
}

describe('the runtime in a cross-origin isolated dedicated Worker (simulated)', () => {
  let f: Fresh;
  // The workers get their first message only once the gate opens: as in a browser, where a worker may
  // start only after this thread returns to its event loop. A call that waited for them would hang.
  let open = false;
  const held: Array<() => void> = [];
  const gated = (): WorkerHandle => {
    const h = nodeWebWorker();
    const post = h.postMessage;
    h.postMessage = (m) => (open ? post(m) : held.push(() => post(m)));
    return h;
  };
  beforeAll(() => {
    f = fresh('worker', undefined, gated);
  });
  afterAll(async () => {
    await f.api.terminateWasmKernelThreads();
  });

  it('defaults to one thread, as browsers do', () => {
    expect(f.api.wasmKernelStatus()).toEqual({ available: true, instructions: 'relaxed-simd', threads: 1 });
  });

  it('runs on one thread (and says the workers are starting) until wasmKernelReady() resolves, then on 2, forward and backward, matching the reference', async () => {
    f.api.setWasmKernelThreads(2);
    // The worker is created but cannot start yet; this thread does not wait for it: calls run on one thread.
    expect(f.api.wasmKernelStatus()).toEqual({
      available: true,
      instructions: 'relaxed-simd',
      threads: 1,
      threadsNote: 'worker threads are starting (await wasmKernelReady()); until then calls run on 1 thread',
    });
    const early = syncRun(f);
    expect(early.forwardThreads).toBe(1);
    expect(early.backwardThreads).toBe(1);
    expectClose(early.out, ref.output, 2e-4);
    const ready = f.api.wasmKernelReady();
    open = true;
    held.forEach((go) => go());
    const status = await ready;
    expect(status).toEqual({ available: true, instructions: 'relaxed-simd', threads: 2 });
    workerCalls.fill(0);
    const r = syncRun(f);
    // The worker ran thread 1's share of both forwards (syncRun runs one, tf.grads another) and of the backward; the caller is thread 0.
    expect(Array.from(workerCalls.subarray(0, 6))).toEqual([0, 0, 2, 1, 0, 0]);
    expect(r.forwardThreads).toBe(2);
    expect(r.backwardThreads).toBe(2);
    expectClose(r.out, ref.output, 2e-4);
    expectClose(r.grads[0], ref.dq, 1e-3);
    expectClose(r.grads[1], ref.dk, 1e-3);
    expectClose(r.grads[2], ref.dv, 1e-3);
    // Bit-identical to one thread.
    f.api.setWasmKernelThreads(1);
    const one = syncRun(f);
    expect(one.forwardThreads).toBe(1);
    expect(Array.from(one.out)).toEqual(Array.from(r.out));
    one.grads.forEach((g, i) => expect(Array.from(g)).toEqual(Array.from(r.grads[i])));
  });
});

describe('the runtime on a cross-origin isolated page\'s main thread (simulated)', () => {
  let f: Fresh;
  beforeAll(() => {
    f = fresh('main');
  });
  afterAll(async () => {
    await f.api.terminateWasmKernelThreads();
  });

  it('runs synchronous calls on the main thread alone, whatever the setting, and says so', () => {
    f.api.setWasmKernelThreads(2);
    const s = f.api.wasmKernelStatus();
    expect(s.threads).toBe(1);
    expect(s.asyncThreads).toBe(2);
    expect(s.threadsNote).toMatch(/synchronous calls run on this thread alone .*wasmFusedAttentionAsync runs on 2 worker threads/);
    const r = syncRun(f);
    expect(r.forwardThreads).toBe(1);
    expect(r.backwardThreads).toBe(1);
    expectClose(r.out, ref.output, 2e-4);
  });

  it('wasmFusedAttentionAsync runs on 2 worker threads, matches the reference, and leaves no tensors but its result', async () => {
    f.api.setWasmKernelThreads(2);
    const [a, b, c] = [t(q), t(k), t(v)];
    const before = tf.memory().numTensors;
    workerCalls.fill(0);
    const y = await f.api.wasmFusedAttentionAsync(kernelInput(a, b, c));
    expect(f.rt.lastCallThreads()).toBe(2);
    // Two workers ran threads 0 and 1 of the forward, once each; the main thread ran none.
    expect(Array.from(workerCalls.subarray(0, 6))).toEqual([1, 0, 1, 0, 0, 0]);
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(y.shape).toEqual([B, N, T, Hv]);
    expectClose(y.dataSync(), ref.output, 2e-4);
    // Concurrent calls queue (each owns the workers' memory in turn) and give the same numbers.
    f.api.setWasmKernelThreads(1);
    const [y1, y2] = await Promise.all([f.api.wasmFusedAttentionAsync(kernelInput(a, b, c)), f.api.wasmFusedAttentionAsync(kernelInput(a, b, c))]);
    expect(Array.from(y1.dataSync())).toEqual(Array.from(y.dataSync()));
    expect(Array.from(y2.dataSync())).toEqual(Array.from(y.dataSync()));
    tf.dispose([a, b, c, y, y1, y2]);
  });

  it('wasmFusedAttentionAsync returns zeros for an empty batch and rejects bad input in its own name, leaving no tensors', async () => {
    const x = tf.zeros([0, 1, 4, 8]);
    const y = await f.api.wasmFusedAttentionAsync(kernelInput(x, x, x));
    expect(y.shape).toEqual([0, 1, 4, 8]);
    y.dispose();
    const q2 = tf.zeros([1, 1, 4, 8]);
    const k2 = tf.zeros([1, 1, 5, 6]);
    const before = tf.memory().numTensors;
    await expect(f.api.wasmFusedAttentionAsync(kernelInput(q2, k2, k2))).rejects.toThrow(
      /wasmFusedAttentionAsync: expected key \[1,1,S,8\] to match query \[1,1,4,8\], but got key \[1,1,5,6\]\./,
    );
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, q2, k2]);
  });
});

describe('the runtime on an isolated page\'s main thread whose workers cannot start (simulated)', () => {
  it('wasmFusedAttentionAsync runs on the main thread instead, right, and the status says why', async () => {
    const f = fresh('main', undefined, () => {
      throw new Error('Worker is blocked');
    });
    f.api.setWasmKernelThreads(2);
    const [a, b, c] = [t(q), t(k), t(v)];
    const y = await f.api.wasmFusedAttentionAsync(kernelInput(a, b, c));
    expect(f.rt.lastCallThreads()).toBe(1);
    expectClose(y.dataSync(), ref.output, 2e-4);
    const s = f.api.wasmKernelStatus();
    expect(s.asyncThreads).toBe(1);
    expect(s.threadsNote).toMatch(/wasmFusedAttentionAsync too, as its worker threads failed: wasm kernel: a worker thread could not be created \(Worker is blocked\)/);
    tf.dispose([a, b, c, y]);
  });
});

describe('the runtime on a page that is not cross-origin isolated (simulated)', () => {
  it('stays on one thread everywhere and says why', async () => {
    const f = fresh('none', 'threads are off: the page is not cross-origin isolated');
    f.api.setWasmKernelThreads(2);
    expect(f.api.wasmKernelStatus()).toEqual({ available: true, instructions: 'relaxed-simd', threads: 1, threadsNote: 'threads are off: the page is not cross-origin isolated' });
    const [a, b, c] = [t(q), t(k), t(v)];
    const y = await f.api.wasmFusedAttentionAsync(kernelInput(a, b, c));
    expect(f.rt.lastCallThreads()).toBe(1);
    expectClose(y.dataSync(), ref.output, 2e-4);
    expect(syncRun(f).forwardThreads).toBe(1);
    tf.dispose([a, b, c, y]);
  });
});
