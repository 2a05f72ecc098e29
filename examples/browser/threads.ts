/// <reference types="vite/client" />
/**
 * The threads page (threads.html), run by e2e.ts with and without the
 * cross-origin isolation headers. It runs the fused wasm kernel on the main
 * thread (synchronously: one thread; and through wasmFusedAttentionAsync: on
 * worker threads where isolated) and in a dedicated Worker (synchronously,
 * on nested worker threads where isolated), compares each output with the
 * float64 reference computed here, and writes a JSON report into #result.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmKernelThreads, wasmFusedAttention, wasmFusedAttentionAsync, wasmKernelReady, wasmKernelStatus } from '../../src';
import { lastCallThreads } from '../../src/kernels/wasm/runtime';
import { benchInput, kernelInput, maxAbsDiff, median, problemData, reference } from './threads_problem';
import type { BenchReport, WorkerReport } from './threads_problem';

const THREADS = 2;
const result = document.querySelector<HTMLPreElement>('#result')!;

function runWorker<R = WorkerReport>(message: unknown = { threads: THREADS }): Promise<R> {
  const worker = new Worker(new URL('./threads_worker.ts', import.meta.url), { type: 'module' });
  return new Promise<R>((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<R>) => resolve(e.data);
    worker.onerror = (e) => reject(new Error(`worker: ${e.message}`));
    worker.postMessage(message);
  }).finally(() => worker.terminate());
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

/** threads.html?bench=T&runs=R (npm run test:browser -- --bench): speed figures, B=1 N=8 T=S H=64, forward. */
async function bench(T: number, runs: number): Promise<BenchReport> {
  await tf.setBackend('cpu');
  const w = await runWorker<{ one: number; two: number; error?: string }>({ threads: THREADS, bench: { T, runs } });
  if (w.error) throw new Error(`worker: ${w.error}`);
  await wasmKernelReady();
  setWasmKernelThreads(THREADS);
  const input = benchInput(T);
  const times: { sync: number[]; async: number[] } = { sync: [], async: [] };
  for (let r = -1; r < runs; r++) {
    let t0 = performance.now();
    wasmFusedAttention(input).dispose();
    if (r >= 0) times.sync.push(performance.now() - t0);
    t0 = performance.now();
    (await wasmFusedAttentionAsync(input)).dispose();
    if (r >= 0) times.async.push(performance.now() - t0);
  }
  return {
    shape: `B1 N8 T=S=${T} H64`,
    runs,
    workerOneThreadMs: round(w.one),
    workerTwoThreadsMs: round(w.two),
    mainSyncMs: round(median(times.sync)),
    mainAsyncTwoThreadsMs: round(median(times.async)),
  };
}

async function main(): Promise<Record<string, unknown>> {
  await tf.setBackend('cpu');
  const data = problemData();
  const ref = reference(data);
  const input = kernelInput(data);

  const status = await wasmKernelReady();
  const sync = wasmFusedAttention(input);
  const syncReport = { threads: lastCallThreads(), maxError: maxAbsDiff(await sync.data(), ref) };

  setWasmKernelThreads(THREADS);
  const statusThreadsSet = wasmKernelStatus();
  // Timer ticks while the async call runs: the page's thread stays free (reported, not asserted: a fast run may see none).
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  const y = await wasmFusedAttentionAsync(input);
  clearInterval(timer);
  const asyncReport = { threads: lastCallThreads(), maxError: maxAbsDiff(await y.data(), ref), ticks };

  const w = await runWorker();
  if (w.error) throw new Error(`worker: ${w.error}`);
  const workerReport = {
    status: w.status,
    forwardThreads: w.forwardThreads,
    backwardThreads: w.backwardThreads,
    gradsMatchOneThread: w.gradsMatchOneThread,
    maxError: maxAbsDiff(w.out, ref),
  };
  return { crossOriginIsolated: globalThis.crossOriginIsolated === true, status, statusThreadsSet, sync: syncReport, async: asyncReport, worker: workerReport };
}

const params = new URLSearchParams(location.search);
const benchT = Number(params.get('bench') ?? 0);
(benchT > 0 ? bench(benchT, Number(params.get('runs') ?? 5)).then((b) => ({ bench: b })) : main()).then(
  (report) => {
    result.textContent = JSON.stringify(report, null, 2);
    document.body.dataset.ready = 'true';
  },
  (e: unknown) => {
    result.textContent = JSON.stringify({ error: e instanceof Error ? e.message : String(e) });
    document.body.dataset.ready = 'error';
  },
);
