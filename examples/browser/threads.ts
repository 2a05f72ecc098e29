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
import { kernelInput, maxAbsDiff, problemData, reference } from './threads_problem';
import type { WorkerReport } from './threads_problem';

const THREADS = 2;
const result = document.querySelector<HTMLPreElement>('#result')!;

function runWorker(): Promise<WorkerReport> {
  const worker = new Worker(new URL('./threads_worker.ts', import.meta.url), { type: 'module' });
  return new Promise<WorkerReport>((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<WorkerReport>) => resolve(e.data);
    worker.onerror = (e) => reject(new Error(`worker: ${e.message}`));
    worker.postMessage({ threads: THREADS });
  }).finally(() => worker.terminate());
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

main().then(
  (report) => {
    result.textContent = JSON.stringify(report, null, 2);
    document.body.dataset.ready = 'true';
  },
  (e: unknown) => {
    result.textContent = JSON.stringify({ error: e instanceof Error ? e.message : String(e) });
    document.body.dataset.ready = 'error';
  },
);
