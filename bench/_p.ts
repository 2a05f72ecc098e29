import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { scaledDotProductAttention } from '../src';
async function main() {
  await tf.setBackend('wasm'); await tf.ready();
  const T = 2048, N = 8, H = 64;
  const q = tf.randomNormal([1, N, T, H], 0, 1, 'float32', 1);
  const k = tf.randomNormal([1, N, T, H], 0, 1, 'float32', 2);
  const v = tf.randomNormal([1, N, T, H], 0, 1, 'float32', 3);
  const time = (f: () => tf.Tensor) => { const t0 = performance.now(); const o = f(); o.dataSync(); o.dispose(); return performance.now() - t0; };
  const full: number[] = [], causal: number[] = [];
  time(() => scaledDotProductAttention(q, k, v)); time(() => scaledDotProductAttention(q, k, v, { causal: true }));
  for (let i = 0; i < 5; i++) { full.push(time(() => scaledDotProductAttention(q, k, v))); causal.push(time(() => scaledDotProductAttention(q, k, v, { causal: true }))); }
  const med = (x: number[]) => x.sort((a, b) => a - b)[2];
  console.log(`T=${T} full ${med(full).toFixed(1)} ms causal ${med(causal).toFixed(1)} ms full/causal ${(med(full) / med(causal)).toFixed(2)}`);
  if (process.argv.includes('--profile')) {
    const p = await tf.profile(() => { const o = scaledDotProductAttention(q, k, v, { causal: true }); o.dataSync(); o.dispose(); });
    const agg = new Map<string, number>();
    for (const kk of p.kernels) agg.set(kk.name, (agg.get(kk.name) ?? 0) + (kk.kernelTimeMs as number));
    console.log([...agg.entries()].sort((a, b) => b[1] - a[1]).map(([n, t]) => `${n} ${t.toFixed(1)}`).join('\n'));
  }
}
main();
