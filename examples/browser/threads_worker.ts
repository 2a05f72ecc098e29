/**
 * The threads page's dedicated Worker: sets the kernel's threads, awaits
 * wasmKernelReady() (which starts the nested worker threads where the page
 * is cross-origin isolated), runs the kernel synchronously forward and
 * backward, and reports what ran where.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmKernelThreads, wasmFusedAttention, wasmKernelReady } from '../../src';
import { lastCallThreads } from '../../src/kernels/wasm/runtime';
import { benchInput, kernelInput, median, problemData } from './threads_problem';
import type { WorkerReport } from './threads_problem';

const scope = globalThis as unknown as {
  onmessage: (e: MessageEvent<{ threads: number; bench?: { T: number; runs: number } }>) => void;
  postMessage(m: unknown): void;
};

/** Median ms of the synchronous forward on 1 and on 2 threads, timed alternately after a warm-up. */
async function bench(T: number, runs: number): Promise<{ one: number; two: number }> {
  const input = benchInput(T);
  const times: Record<number, number[]> = { 1: [], 2: [] };
  for (let r = -1; r < runs; r++) {
    for (const n of [1, 2]) {
      setWasmKernelThreads(n);
      await wasmKernelReady();
      const t0 = performance.now();
      wasmFusedAttention(input).dispose();
      if (r >= 0) times[n].push(performance.now() - t0);
    }
  }
  tf.dispose([input.query, input.key, input.value]);
  return { one: median(times[1]), two: median(times[2]) };
}

/** dQ, dK, dV of sum(output · w) for a fixed w, on the kernel. */
function grads(input: ReturnType<typeof kernelInput>): Float32Array[] {
  return tf.tidy(() => {
    const w = tf.linspace(-1, 1, input.query.shape[2]!).reshape([1, 1, -1, 1]);
    const f = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => wasmFusedAttention({ ...input, query: q, key: k, value: v }).mul(w).sum();
    return tf.grads(f)([input.query, input.key, input.value]).map((g) => g.dataSync() as Float32Array);
  });
}

scope.onmessage = async (e) => {
  try {
    await tf.setBackend('cpu');
    if (e.data.bench) {
      scope.postMessage(await bench(e.data.bench.T, e.data.bench.runs));
      return;
    }
    setWasmKernelThreads(e.data.threads);
    const status = await wasmKernelReady();
    const input = kernelInput(problemData());
    const y = wasmFusedAttention(input);
    const forwardThreads = lastCallThreads();
    const out = y.dataSync() as Float32Array;
    const many = grads(input);
    const backwardThreads = lastCallThreads();
    setWasmKernelThreads(1);
    const one = grads(input);
    const gradsMatchOneThread = many.every((g, i) => g.length === one[i].length && g.every((x, j) => Object.is(x, one[i][j])));
    const report: WorkerReport = { status, forwardThreads, out, backwardThreads, gradsMatchOneThread };
    scope.postMessage(report);
  } catch (err) {
    scope.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
};
