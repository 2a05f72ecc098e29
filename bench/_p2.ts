import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { scaledDotProductAttention } from '../src';
async function main() {
  await tf.setBackend('wasm'); await tf.ready();
  const T = 2048, N = 8, H = 64;
  const q = tf.randomNormal([1, N, T, H], 0, 1, 'float32', 1);
  for (const causal of [false, true]) {
    scaledDotProductAttention(q, q, q, { causal }).dispose();
    const p = await tf.profile(() => { const o = scaledDotProductAttention(q, q, q, { causal }); o.dataSync(); o.dispose(); });
    const agg = new Map<string, [number, number]>();
    for (const k of p.kernels) { const key = `${k.name} ${k.inputShapes.map(s => `[${s}]`).join('')}`; const a = agg.get(key) ?? [0, 0]; a[0] += k.kernelTimeMs as number; a[1]++; agg.set(key, a); }
    const total = [...agg.values()].reduce((a, b) => a + b[0], 0);
    console.log(`causal=${causal} total kernel ms ${total.toFixed(0)}`);
    console.log([...agg.entries()].sort((a, b) => b[1][0] - a[1][0]).slice(0, 12).map(([n, [t, c]]) => `  ${n} x${c} ${t.toFixed(1)}`).join('\n'));
  }
}
main();
