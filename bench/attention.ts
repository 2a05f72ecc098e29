/**
 * Attention benchmark: `npm run bench` (full) or `npm run bench -- --quick`.
 *
 * For each backend (cpu, wasm) and sequence length it times, in one run:
 *   naive  the article's composition: matMul(softmax(matMul(Q, K, transposeB)), V), batched
 *   sdpa   scaledDotProductAttention(Q, K, V) with its automatic choice
 *   floor  the bare products attention cannot avoid, Q·Kᵀ and P·V, as the
 *          fastest form this backend has (2-D per head, K transposed beforehand)
 * and, on wasm, causal attention, long sequences on the chunked path, the
 * backward pass's memory and sliding-window attention; and on both, causal
 * against full attention timed in alternation (`--case=causal` runs only
 * that, at T=2048 and 4096).
 *
 * Reported: median ms of the timed runs after one warm-up, GFLOP/s counting
 * 4·B·N·T·S·H, ratios to naive and to the floor, peak tfjs memory during the
 * call (tf.profile's peakBytes, inputs included) and process RSS afterwards
 * (the wasm heap never shrinks, so RSS there is a high-water mark).
 * Writes bench/results.json and prints a markdown table.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { scaledDotProductAttention, setWasmKernelThreads, wasmFusedAttention, wasmKernelStatus } from '../src';
import type { ScaledDotProductOptions } from '../src';
import { lastCallMemory, memoryBytes, reloadRuntime, simdPeakGflops } from '../src/kernels/wasm/runtime';
import { registerWasmTransposedMatMul } from '../src/tfjs_compat/wasm_transposed_matmul';

const quick = process.argv.includes('--quick');
const onlyBackend = process.argv.find((a) => a.startsWith('--backend='))?.split('=')[1];
/** `--case=causal`: only the causal-vs-full rows. */
const onlyCase = process.argv.find((a) => a.startsWith('--case='))?.split('=')[1];
/** `--kernel`: only the fused wasm kernel's section (and the baselines it is compared with). */
const onlyKernel = process.argv.includes('--kernel');
/** A Python with torch for the PyTorch anchor (optional): TORCH_PYTHON=/path/to/python. */
const torchPython = process.env.TORCH_PYTHON;
const B = 1;
const N = quick ? 2 : 8;
const H = quick ? 16 : 64;
const MiB = 1024 * 1024;

interface Row {
  backend: string;
  case: string;
  T: number;
  S: number;
  runs: number;
  ms: number;
  gflops: number;
  vsNaive?: number;
  vsFloor?: number;
  peakMiB: number;
  rssMiB: number;
  note?: string;
}

const rows: Row[] = [];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Wall ms of one call of `f`, its output tensors read back (dataSync) and disposed. */
function timeOnce(f: () => tf.Tensor | tf.Tensor[]): number {
  const t0 = performance.now();
  const out = f();
  const list = Array.isArray(out) ? out : [out];
  list.forEach((x) => x.dataSync());
  const dt = performance.now() - t0;
  tf.dispose(list);
  return dt;
}

/** Times `f` (which returns tensors to read back and dispose): one warm-up, then up to `maxRuns`. */
async function measure(f: () => tf.Tensor | tf.Tensor[], maxRuns: number, budgetMs: number): Promise<{ ms: number; runs: number; peakMiB: number }> {
  const run = (): number => timeOnce(f);
  let peak = 0;
  const info = await tf.profile(() => {
    const out = f();
    const list = Array.isArray(out) ? out : [out];
    list.forEach((x) => x.dataSync());
    tf.dispose(list);
  });
  peak = info.peakBytes;
  // The profiled call was the warm-up.
  const times: number[] = [];
  const start = performance.now();
  while (times.length < maxRuns && (times.length === 0 || performance.now() - start < budgetMs)) {
    times.push(run());
  }
  return { ms: median(times), runs: times.length, peakMiB: peak / MiB };
}

function flops(T: number, S: number): number {
  return 4 * B * N * T * S * H;
}

function record(backend: string, name: string, T: number, S: number, m: { ms: number; runs: number; peakMiB: number }, extra: Partial<Row> = {}): Row {
  const row: Row = {
    backend,
    case: name,
    T,
    S,
    runs: m.runs,
    ms: m.ms,
    gflops: flops(T, S) / (m.ms * 1e6),
    peakMiB: m.peakMiB,
    rssMiB: process.memoryUsage().rss / MiB,
    ...extra,
  };
  rows.push(row);
  const fx = (x: number | undefined, d = 2) => (x === undefined ? '' : x.toFixed(d));
  console.log(
    `${backend.padEnd(5)} ${name.padEnd(26)} T=${String(T).padStart(5)} ${fx(row.ms, 1).padStart(9)} ms ${fx(row.gflops).padStart(6)} GFLOP/s` +
      (row.vsNaive !== undefined ? `  naive/this ${fx(row.vsNaive)}` : '') +
      (row.vsFloor !== undefined ? `  this/floor ${fx(row.vsFloor)}` : '') +
      `  peak ${fx(row.peakMiB, 0)} MiB  rss ${fx(row.rssMiB, 0)} MiB` +
      (row.note ? `  (${row.note})` : ''),
  );
  return row;
}

function inputs(T: number, S: number, seed: number): [tf.Tensor, tf.Tensor, tf.Tensor] {
  return [
    tf.randomNormal([B, N, T, H], 0, 1, 'float32', seed),
    tf.randomNormal([B, N, S, H], 0, 1, 'float32', seed + 1),
    tf.randomNormal([B, N, S, H], 0, 1, 'float32', seed + 2),
  ];
}

/** The bare products Q·Kᵀ and P·V per head in 2-D, with K transposed beforehand. */
function floorFn(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor): { f: () => tf.Tensor; dispose: () => void } {
  const [, , T] = q.shape as number[];
  const [, , S] = k.shape as number[];
  const qs = tf.unstack(q.reshape([B * N, T, H]));
  const kTs = tf.unstack(k.reshape([B * N, S, H])).map((x) => {
    const t = x.transpose();
    x.dispose();
    return t;
  });
  const vs = tf.unstack(v.reshape([B * N, S, H]));
  return {
    f: () => tf.tidy(() => tf.stack(qs.map((qq, i) => tf.matMul(tf.matMul(qq, kTs[i]), vs[i])))),
    dispose: () => tf.dispose([...qs, ...kTs, ...vs]),
  };
}

const naive = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => () =>
  tf.tidy(() => tf.matMul(tf.softmax(tf.matMul(q, k, false, true)), v));

async function standard(backend: string, T: number, maxRuns: number, budgetMs: number): Promise<void> {
  const [q, k, v] = inputs(T, T, 1);
  const floor = floorFn(q, k, v);
  const n = await measure(naive(q, k, v), maxRuns, budgetMs);
  const rn = record(backend, 'naive (article)', T, T, n);
  const fl = await measure(floor.f, maxRuns, budgetMs);
  record(backend, 'floor: Q·Kᵀ, P·V', T, T, fl);
  const s = await measure(() => scaledDotProductAttention(q, k, v), maxRuns, budgetMs);
  record(backend, 'scaledDotProductAttention', T, T, s, { vsNaive: rn.ms / s.ms, vsFloor: s.ms / fl.ms });
  if (T >= 2048 || quick) {
    const c = await measure(() => scaledDotProductAttention(q, k, v, { causal: true }), maxRuns, budgetMs);
    record(backend, 'sdpa causal', T, T, c, { vsNaive: rn.ms / c.ms, note: `non-causal/causal ${(s.ms / c.ms).toFixed(2)}` });
  }
  floor.dispose();
  tf.dispose([q, k, v]);
}

async function longSequences(backend: string): Promise<void> {
  const TL = quick ? 1024 : 16384;
  const W = quick ? 32 : 256;
  const [q, k, v] = inputs(TL, TL, 7);
  const full = await measure(() => scaledDotProductAttention(q, k, v), 1, 0);
  record(backend, 'sdpa (auto → chunked)', TL, TL, full, { note: `full scores would be ${((4 * B * N * TL * TL) / MiB).toFixed(0)} MiB` });
  const local = await measure(() => scaledDotProductAttention(q, k, v, { window: W }), 3, 30000);
  record(backend, `sdpa window=${W}`, TL, TL, local, { note: `full/local ${(full.ms / local.ms).toFixed(1)}` });
  const localCausal = await measure(() => scaledDotProductAttention(q, k, v, { window: W, causal: true }), 3, 30000);
  record(backend, `sdpa window=${W} causal`, TL, TL, localCausal, { note: `full/local ${(full.ms / localCausal.ms).toFixed(1)}` });
  tf.dispose([q, k, v]);
}

async function backward(backend: string): Promise<void> {
  const T = quick ? 512 : 4096;
  const [q, k, v] = inputs(T, T, 11);
  const opts: ScaledDotProductOptions = { implementation: 'chunked' };
  const fwd = await measure(() => scaledDotProductAttention(q, k, v, opts), 1, 0);
  record(backend, 'chunked forward', T, T, fwd);
  const grad = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(scaledDotProductAttention(a, b, c, opts)));
  const bwd = await measure(() => grad([q, k, v]), 1, 0);
  record(backend, 'chunked forward+backward', T, T, bwd, { note: `peak backward/forward ${(bwd.peakMiB / fwd.peakMiB).toFixed(2)}` });
  // Agreement with the naive path's gradients, on a length the naive path holds easily.
  const Tc = quick ? 256 : 1024;
  const [q2, k2, v2] = inputs(Tc, Tc, 13);
  const diff = tf.tidy(() => {
    const g = (impl: 'naive' | 'chunked') =>
      tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.sin(scaledDotProductAttention(a, b, c, { implementation: impl }))))([q2, k2, v2]);
    const a = g('naive');
    const b = g('chunked');
    return Math.max(...a.map((x, i) => tf.max(tf.abs(tf.sub(x, b[i]))).dataSync()[0]));
  });
  console.log(`      chunked vs naive gradients at T=${Tc}: max abs difference ${diff.toExponential(2)}`);
  rows.push({ backend, case: 'gradient max abs diff vs naive', T: Tc, S: Tc, runs: 1, ms: 0, gflops: 0, peakMiB: 0, rssMiB: 0, note: diff.toExponential(2) });
  tf.dispose([q, k, v, q2, k2, v2]);
}

// ---- Causal vs full (issue 12 item 6; the planner helper's row) -----------------
/**
 * Causal against full attention at the same shapes, timed in alternation so
 * that both see the same load: causal does about half the work and must not
 * be slower (it was: 624 vs 348 ms at T=2048 on wasm, slices of every head
 * cut from the whole input costing as much as the products).
 */
async function causalVsFull(backend: string, T: number, runs: number): Promise<void> {
  const [q, k, v] = inputs(T, T, 17);
  const full = () => scaledDotProductAttention(q, k, v);
  const causal = () => scaledDotProductAttention(q, k, v, { causal: true });
  const f0 = await measure(full, 1, 0);
  const c0 = await measure(causal, 1, 0);
  const tf_: number[] = [];
  const tc: number[] = [];
  for (let i = 0; i < runs; i++) {
    for (const [f, out] of [[full, tf_], [causal, tc]] as const) {
      const t0 = performance.now();
      const y = f();
      y.dataSync();
      out.push(performance.now() - t0);
      y.dispose();
    }
  }
  const mf = median(tf_);
  const mc = median(tc);
  record(backend, 'causal vs full: full', T, T, { ms: mf, runs, peakMiB: f0.peakMiB });
  record(backend, 'causal vs full: causal', T, T, { ms: mc, runs, peakMiB: c0.peakMiB }, { note: `full/causal ${(mf / mc).toFixed(2)} (alternating runs)` });
  tf.dispose([q, k, v]);
}
// ---- end of causal vs full ------------------------------------------------------
// ---------------------------------------------------------------------------
// The fused WebAssembly SIMD kernel (issue 12), on the wasm backend.
//
// Rows: the kernel called directly (wasmFusedAttention), forward and
// forward+backward, full and causal, on 1 and 2 threads; v0.1's path as the
// baseline (scaledDotProductAttention with implementation 'blocked', v0.1's
// auto on wasm); tfjs's bare 2-D products for the same shapes; optionally
// PyTorch's CPU scaled_dot_product_attention (TORCH_PYTHON). GFLOP/s count
// 4·B·N·T·S·H for the forward (half with causal) and 2.5× that for the
// backward (so forward+backward = 3.5×); "of ceiling" divides by threads ×
// the register-only multiply-add loop of the module in use (relaxed SIMD's
// fused multiply-add where the engine has it, else SIMD128's multiply and
// add), measured here, on this machine, in this run (its best of three: the
// machine's capability, not its momentary load). One row per length runs the
// SIMD128 module for comparison.
// ---------------------------------------------------------------------------

interface KernelRow {
  case: string;
  T: number;
  threads: number | string;
  ms: number;
  runs: number;
  gflops: number;
  ofCeiling?: number;
  note?: string;
}
const kernelRows: KernelRow[] = [];
/** Per-core ceiling of the module the kernel runs, and of the SIMD128 module. */
let ceiling = 0;
let simd128Ceiling = 0;
let instructions = 'none';

function kernelRecord(r: KernelRow): void {
  kernelRows.push(r);
  const f = (x: number | undefined, d = 2) => (x === undefined ? '' : x.toFixed(d));
  console.log(
    `kernel ${r.case.padEnd(34)} T=${String(r.T).padStart(5)} thr=${String(r.threads).padEnd(2)} ${f(r.ms, 1).padStart(9)} ms` +
      ` ${f(r.gflops, 1).padStart(6)} GFLOP/s` + (r.ofCeiling !== undefined ? `  ${(100 * r.ofCeiling).toFixed(0)}% of ceiling` : '') +
      (r.note ? `  ${r.note}` : ''),
  );
}

/** Median wall ms of each case, the cases called in turn for `rounds` rounds after one warm-up each. */
function interleaved(cases: [string, () => tf.Tensor | tf.Tensor[]][], rounds: number): Map<string, { ms: number; runs: number }> {
  const once = timeOnce;
  const times = new Map<string, number[]>(cases.map(([name]) => [name, []]));
  for (const [, f] of cases) once(f);
  for (let r = 0; r < rounds; r++) for (const [name, f] of cases) times.get(name)!.push(once(f));
  return new Map([...times].map(([name, ts]) => [name, { ms: median(ts), runs: ts.length }]));
}

function kernelFn(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, causal: boolean) {
  return (a = q, b = k, c = v) =>
    wasmFusedAttention({ query: a, key: b, value: c, mask: null, bias: null, scale: 1 / Math.sqrt(H), causal, window: null, emptyRows: 'zeros' });
}

function torchAnchor(lengths: number[]): Map<string, { ms: number; runs: number }> {
  const out = new Map<string, { ms: number; runs: number }>();
  if (!torchPython || !existsSync(torchPython)) return out;
  try {
    const text = execFileSync(torchPython, ['bench/torch_sdpa.py', '--threads', '2', '--lengths', lengths.join(','), '--runs', quick ? '2' : '5'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    for (const line of text.split('\n').filter((l) => l.trim().startsWith('{'))) {
      const r = JSON.parse(line) as { case: string; causal: boolean; T: number; ms: number; runs: number };
      out.set(`${r.case}:${r.causal}:${r.T}`, { ms: r.ms, runs: r.runs });
    }
  } catch (e) {
    console.log(`kernel: PyTorch anchor skipped (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
  }
  return out;
}

async function kernelSection(): Promise<void> {
  await tf.setBackend('wasm');
  await tf.ready();
  // Two ceilings: the SIMD128 module's (an f32x4 multiply and add per
  // multiply-add) and that of the module the kernel runs (relaxed SIMD's
  // fused multiply-add where the engine has it); "of ceiling" uses the latter.
  await reloadRuntime('simd128');
  const simdPeaks = [simdPeakGflops(5), simdPeakGflops(5), simdPeakGflops(5)];
  simd128Ceiling = Math.max(...simdPeaks);
  await reloadRuntime(null);
  instructions = wasmKernelStatus().instructions ?? 'none';
  const peaks = [simdPeakGflops(5), simdPeakGflops(5), simdPeakGflops(5)];
  ceiling = Math.max(...peaks);
  console.log(`kernel: SIMD128 ceiling (register-only f32x4 mul+add loop, one core): ${simd128Ceiling.toFixed(1)} GFLOP/s (best of ${simdPeaks.map((p) => p.toFixed(1)).join(', ')})`);
  console.log(`kernel: module in use: ${instructions}; its ceiling (the same loop as it compiles there): ${ceiling.toFixed(1)} GFLOP/s (best of ${peaks.map((p) => p.toFixed(1)).join(', ')})`);
  const runs = quick ? 3 : 5;
  const lengths = quick ? [256, 512] : [1024, 2048, 4096];
  for (const T of lengths) {
    // PyTorch first, at the same length, so both are timed in the same minutes.
    const torch = torchAnchor([T]);
    const [q, k, v] = inputs(T, T, 21);
    const fl = 4 * B * N * T * T * H;
    const rec = (name: string, threads: number | string, m: { ms: number; runs: number }, work: number, note?: string) => {
      const gflops = work / (m.ms * 1e6);
      const per = typeof threads === 'number' ? threads : 1;
      const ofCeiling = typeof threads === 'number' ? gflops / (per * ceiling) : undefined;
      kernelRecord({ case: name, T, threads, ms: m.ms, runs: m.runs, gflops, ofCeiling, note });
      return m;
    };
    // The compared cases run interleaved, round by round (one call of each per
    // round, after a warm-up of each), so that their ratios see the same load.
    const floor = floorFn(q, k, v);
    const fwdCases: [string, () => tf.Tensor | tf.Tensor[]][] = [
      ['v01', () => scaledDotProductAttention(q, k, v, { implementation: 'blocked' })],
      ['products', floor.f],
    ];
    for (const causal of [false, true]) {
      for (const threads of [1, 2]) {
        fwdCases.push([`${causal}:${threads}`, () => (setWasmKernelThreads(threads), kernelFn(q, k, v, causal)())]);
      }
    }
    const fm = interleaved(fwdCases, runs);
    floor.dispose();
    const v01 = rec('v0.1 forward (sdpa blocked)', 'tf', fm.get('v01')!, fl);
    const pm = rec('tfjs bare 2-D products Q·Kᵀ, P·V', 'tf', fm.get('products')!, fl);
    for (const causal of [false, true]) {
      for (const threads of [1, 2]) {
        const m = fm.get(`${causal}:${threads}`)!;
        const notes: string[] = [];
        if (!causal) notes.push(`v0.1/this ${(v01.ms / m.ms).toFixed(2)}`, `products/this ${(pm.ms / m.ms).toFixed(2)}`);
        else notes.push(`full/causal ${(fm.get(`false:${threads}`)!.ms / m.ms).toFixed(2)}`);
        if (threads === 2) notes.push(`1 thread/2 threads ${(fm.get(`${causal}:1`)!.ms / m.ms).toFixed(2)}`);
        const t = torch.get(`fwd:${causal}:${T}`);
        if (t && threads === 2) notes.push(`torch(2 thr)/this ${(t.ms / m.ms).toFixed(2)}`);
        rec(`kernel forward${causal ? ' causal' : ''}`, threads, m, causal ? fl / 2 : fl, notes.join(', '));
      }
    }
    if (instructions === 'relaxed-simd') {
      // Where relaxed SIMD is missing (some browsers) the SIMD128 module runs: its forward, for comparison.
      await reloadRuntime('simd128');
      const sm = interleaved([['simd128', () => (setWasmKernelThreads(2), kernelFn(q, k, v, false)())]], runs).get('simd128')!;
      await reloadRuntime(null);
      const gflops = fl / (sm.ms * 1e6);
      kernelRecord({
        case: 'kernel forward, SIMD128 module', T, threads: 2, ms: sm.ms, runs: sm.runs, gflops, ofCeiling: gflops / (2 * simd128Ceiling),
        note: `v0.1/this ${(v01.ms / sm.ms).toFixed(2)}, relaxed module/this ${(sm.ms / fm.get('false:2')!.ms).toFixed(2)} (not interleaved)`,
      });
    }
    const bwdCases: [string, () => tf.Tensor | tf.Tensor[]][] = [];
    for (const causal of [false, true]) {
      for (const threads of [1, 2]) {
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(kernelFn(q, k, v, causal)(a, b, c)));
        bwdCases.push([`${causal}:${threads}`, () => (setWasmKernelThreads(threads), g([q, k, v]))]);
      }
    }
    const bm = interleaved(bwdCases, quick ? 2 : 3);
    const both: Record<string, number> = {};
    for (const causal of [false, true]) {
      for (const threads of [1, 2]) {
        const m = bm.get(`${causal}:${threads}`)!;
        both[`${causal}:${threads}`] = m.ms;
        const notes: string[] = [];
        if (causal) notes.push(`full/causal ${(both[`false:${threads}`] / m.ms).toFixed(2)}`);
        if (threads === 2) notes.push(`1 thread/2 threads ${(both[`${causal}:1`] / m.ms).toFixed(2)}`);
        const t = torch.get(`fwdbwd:${causal}:${T}`);
        if (t && threads === 2) notes.push(`torch(2 thr)/this ${(t.ms / m.ms).toFixed(2)}`);
        rec(`kernel forward+backward${causal ? ' causal' : ''}`, threads, m, 3.5 * (causal ? fl / 2 : fl), notes.join(', '));
      }
    }
    setWasmKernelThreads(null);
    // v0.1's forward+backward: slow (tens of seconds at 2048), one run, not at 4096.
    if (T <= 2048) {
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(scaledDotProductAttention(a, b, c, { implementation: 'blocked' })));
      const m = interleaved([['v01', () => g([q, k, v])]], 1).get('v01')!;
      rec('v0.1 forward+backward (sdpa blocked)', 'tf', m, 3.5 * fl, `v0.1/kernel(2 thr) ${(m.ms / both['false:2']).toFixed(1)}`);
    }
    for (const [key, t] of torch) {
      const [c, causal, TT] = key.split(':');
      if (Number(TT) !== T) continue;
      const work = (c === 'fwd' ? 1 : 3.5) * (causal === 'true' ? fl / 2 : fl);
      rec(`PyTorch sdpa ${c === 'fwd' ? 'forward' : 'forward+backward'}${causal === 'true' ? ' causal' : ''}`, 'pt2', t, work);
    }
    tf.dispose([q, k, v]);
  }
  // tfjs's wasm matMul with a transposed operand (every matMul gradient), before and after the
  // library's wrapper (src/tfjs_compat/wasm_transposed_matmul.ts, installed by initBackend). Last,
  // after the v0.1 rows: v0.1's backward ran on tfjs's own kernel, and the wrapper stays installed.
  {
    const [M, K] = quick ? [512, 256] : [2048, 512];
    const a = tf.randomNormal([M, K]);
    const b = tf.randomNormal([K, K]);
    const work = 2 * M * K * K;
    const mm = (): tf.Tensor => tf.matMul(a, b, false, true);
    const before = interleaved([['t', mm], ['plain', () => tf.matMul(a, b)]], runs);
    const wrapped = registerWasmTransposedMatMul();
    const after = interleaved([['t', mm]], runs).get('t')!;
    const note = `${M}×${K}·(${K}×${K})ᵀ`;
    kernelRecord({ case: 'tfjs matMul, plain', T: M, threads: 'tf', ms: before.get('plain')!.ms, runs: before.get('plain')!.runs, gflops: work / (before.get('plain')!.ms * 1e6), note: `${M}×${K}·${K}×${K}` });
    kernelRecord({ case: 'tfjs matMul transposeB, tfjs kernel', T: M, threads: 'tf', ms: before.get('t')!.ms, runs: before.get('t')!.runs, gflops: work / (before.get('t')!.ms * 1e6), note });
    kernelRecord({
      case: 'tfjs matMul transposeB, wrapped', T: M, threads: 'tf', ms: after.ms, runs: after.runs, gflops: work / (after.ms * 1e6),
      note: `${note}; tfjs kernel/wrapped ${(before.get('t')!.ms / after.ms).toFixed(1)}${wrapped ? '' : ' (already wrapped)'}`,
    });
    tf.dispose([a, b]);
  }
  // Memory at T=16384: the kernel's working memory above inputs and outputs.
  const TL = quick ? 2048 : 16384;
  const [q, k, v] = inputs(TL, TL, 31);
  setWasmKernelThreads(2);
  const before = memoryBytes();
  const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(kernelFn(q, k, v, true)(a, b, c)));
  const t0 = performance.now();
  const grads = g([q, k, v]);
  grads.forEach((x) => x.dataSync());
  const ms = performance.now() - t0;
  tf.dispose(grads);
  const mem = lastCallMemory();
  const after = memoryBytes();
  const note =
    `wasm memory ${(before / MiB).toFixed(0)} → ${(after / MiB).toFixed(0)} MiB; backward call: inputs+outputs ${(mem.ioBytes / MiB).toFixed(1)} MiB, ` +
    `working ${(mem.workBytes / MiB).toFixed(2)} MiB (target ≤ 64 MiB)`;
  kernelRecord({ case: 'kernel forward+backward causal (memory)', T: TL, threads: 2, ms, runs: 1, gflops: (3.5 * 4 * B * N * TL * TL * H) / 2 / (ms * 1e6), note });
  setWasmKernelThreads(null);
  tf.dispose([q, k, v]);
}

function kernelMarkdown(): string {
  const lines = [
    `Module in use: ${instructions}. Per-core ceilings measured in this run: ${ceiling.toFixed(1)} GFLOP/s for that module ("of ceiling" below), ${simd128Ceiling.toFixed(1)} GFLOP/s for SIMD128 (the SIMD128 row).`,
    '',
    '| case | T=S | threads | ms (median) | runs | GFLOP/s | of ceiling | note |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of kernelRows) {
    lines.push(
      `| ${r.case} | ${r.T} | ${r.threads} | ${r.ms.toFixed(1)} | ${r.runs} | ${r.gflops.toFixed(1)} | ${r.ofCeiling === undefined ? '' : `${(100 * r.ofCeiling).toFixed(0)}%`} | ${r.note ?? ''} |`,
    );
  }
  return lines.join('\n');
}

function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: +(os.totalmem() / 1024 ** 3).toFixed(1),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    tfjs: tf.version.tfjs,
    date: new Date().toISOString(),
    shapes: { B, N, H },
    quick,
  };
}

function markdown(): string {
  const lines = [
    '| backend | case | T=S | ms (median) | runs | GFLOP/s | naive ÷ this | this ÷ floor | peak tfjs MiB | RSS MiB | note |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of rows) {
    if (r.case.startsWith('gradient')) {
      lines.push(`| ${r.backend} | ${r.case} | ${r.T} | | | | | | | | ${r.note} |`);
      continue;
    }
    const f = (x: number | undefined, d: number) => (x === undefined ? '' : x.toFixed(d));
    lines.push(
      `| ${r.backend} | ${r.case} | ${r.T} | ${f(r.ms, 1)} | ${r.runs} | ${f(r.gflops, 2)} | ${f(r.vsNaive, 2)} | ${f(r.vsFloor, 2)} | ${f(r.peakMiB, 0)} | ${f(r.rssMiB, 0)} | ${r.note ?? ''} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const m = machine();
  console.log(`machine: ${JSON.stringify(m)}`);
  if (onlyKernel || !onlyBackend || onlyBackend === 'wasm') await kernelSection();
  if (onlyKernel) {
    const table = kernelMarkdown();
    console.log(`\n${table}\n`);
    const file = quick ? 'bench/results.kernel.quick.json' : 'bench/results.kernel.json';
    writeFileSync(file, JSON.stringify({ machine: m, instructions, ceiling, simd128Ceiling, kernelRows, table }, null, 2) + '\n');
    console.log(`wrote ${file}`);
    return;
  }
  const backends = (onlyBackend ? [onlyBackend] : ['wasm', 'cpu']).filter((b) => b === 'wasm' || b === 'cpu');
  for (const backend of backends) {
    await tf.setBackend(backend);
    await tf.ready();
    if (onlyCase === 'causal') {
      for (const T of quick ? [256] : [2048, 4096]) await causalVsFull(backend, T, quick ? 3 : 7);
      continue;
    }
    const lengths = quick ? [128, 256] : [512, 2048, 4096];
    for (const T of lengths) {
      // cpu at 4096 takes over a minute a call: fewer runs there.
      const maxRuns = backend === 'cpu' && T >= 2048 ? 1 : quick ? 3 : 5;
      await standard(backend, T, maxRuns, backend === 'cpu' ? 20000 : 60000);
    }
    await causalVsFull(backend, quick ? 256 : 2048, backend === 'cpu' ? 1 : quick ? 3 : 7);
    if (backend === 'wasm') {
      await longSequences(backend);
      await backward(backend);
    }
  }
  const table = markdown() + (kernelRows.length ? `\n\n${kernelMarkdown()}` : '');
  console.log(`\n${table}\n`);
  const file = quick
    ? 'bench/results.quick.json'
    : onlyCase !== undefined
      ? `bench/results.${onlyCase}${onlyBackend ? `.${onlyBackend}` : ''}.json`
      : onlyBackend
        ? `bench/results.${onlyBackend}.json`
        : 'bench/results.json';
  writeFileSync(file, JSON.stringify({ machine: m, rows, kernel: { instructions, ceiling, simd128Ceiling, rows: kernelRows }, table }, null, 2) + '\n');
  console.log(`wrote ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
