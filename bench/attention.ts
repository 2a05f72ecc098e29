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
import { writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { scaledDotProductAttention } from '../src';
import type { ScaledDotProductOptions } from '../src';

const quick = process.argv.includes('--quick');
const onlyBackend = process.argv.find((a) => a.startsWith('--backend='))?.split('=')[1];
/** `--case=causal`: only the causal-vs-full rows. */
const onlyCase = process.argv.find((a) => a.startsWith('--case='))?.split('=')[1];
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

/** Times `f` (which returns tensors to read back and dispose): one warm-up, then up to `maxRuns`. */
async function measure(f: () => tf.Tensor | tf.Tensor[], maxRuns: number, budgetMs: number): Promise<{ ms: number; runs: number; peakMiB: number }> {
  const run = (): number => {
    const t0 = performance.now();
    const out = f();
    const list = Array.isArray(out) ? out : [out];
    list.forEach((x) => x.dataSync());
    const dt = performance.now() - t0;
    tf.dispose(list);
    return dt;
  };
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
  const table = markdown();
  console.log(`\n${table}\n`);
  const file = quick
    ? 'bench/results.quick.json'
    : onlyCase !== undefined
      ? `bench/results.${onlyCase}${onlyBackend ? `.${onlyBackend}` : ''}.json`
      : onlyBackend
        ? `bench/results.${onlyBackend}.json`
        : 'bench/results.json';
  writeFileSync(file, JSON.stringify({ machine: m, rows, table }, null, 2) + '\n');
  console.log(`wrote ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
