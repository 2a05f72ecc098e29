#!/usr/bin/env node
/**
 * Checks the fused wasm kernel as bundled in dist/ (run after `npm run build`):
 * both the CommonJS and the ES module bundles load the inlined module, run it
 * on one and on two worker threads (the worker code is an eval'd string, so it
 * must survive bundling) with identical results that match a plain JS
 * float64 softmax attention, and let the process exit on its own.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const tf = require('@tensorflow/tfjs');
await tf.setBackend('cpu');

const B = 1, N = 4, T = 150, S = 140, H = 16;
const rand = (n, seed) => {
  let a = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a / 2 ** 32 - 0.5;
  });
};
const q = rand(B * N * T * H, 1), k = rand(B * N * S * H, 2), v = rand(B * N * S * H, 3);
const scale = 0.25;

function reference() {
  const out = new Float64Array(B * N * T * H);
  for (let h = 0; h < B * N; h++) {
    for (let i = 0; i < T; i++) {
      const s = [];
      for (let j = 0; j <= Math.min(i, S - 1); j++) {
        let d = 0;
        for (let c = 0; c < H; c++) d += q[(h * T + i) * H + c] * k[(h * S + j) * H + c];
        s.push(d * scale);
      }
      const m = Math.max(...s);
      const e = s.map((x) => Math.exp(x - m));
      const z = e.reduce((a, b) => a + b, 0);
      e.forEach((w, j) => {
        for (let c = 0; c < H; c++) out[(h * T + i) * H + c] += (w / z) * v[(h * S + j) * H + c];
      });
    }
  }
  return out;
}

const ref = reference();
let failed = false;
for (const [name, lib] of [['dist/index.js', require('../dist/index.js')], ['dist/index.mjs', await import('../dist/index.mjs')]]) {
  const status = lib.wasmKernelStatus();
  const run = (threads) => {
    lib.setWasmKernelThreads(threads);
    const t = [tf.tensor4d(q, [B, N, T, H]), tf.tensor4d(k, [B, N, S, H]), tf.tensor4d(v, [B, N, S, H])];
    const o = lib.wasmFusedAttention({ query: t[0], key: t[1], value: t[2], mask: null, bias: null, scale, causal: true, window: null, emptyRows: 'zeros' });
    const data = o.dataSync().slice();
    tf.dispose([...t, o]);
    return data;
  };
  const one = run(1);
  const two = run(2);
  const identical = one.every((x, i) => x === two[i]);
  const err = Math.max(...Array.from(one, (x, i) => Math.abs(x - ref[i])));
  const ok = status.available && identical && err < 1e-5;
  console.log(`${name}: ${JSON.stringify(status)}, 1 and 2 threads identical: ${identical}, max abs error vs float64: ${err.toExponential(2)} ${ok ? 'ok' : 'FAILED'}`);
  failed ||= !ok;
}
if (failed) process.exit(1);
