/**
 * The article's example, end to end: `model((Q, K, V))` on random inputs.
 *
 * The article passes Q [1,10,20], K [1,20,10], V [1,20,20], for which Q·Kᵀ is
 * undefined; this script runs it with consistent shapes (K [1,20,20]) and then
 * shows the original shapes answered by a clear error.
 *
 * Run: npm start   (or: npx tsx examples/seed.ts)
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend, model } from '../src';

async function main(): Promise<void> {
  const backend = await initBackend();
  console.log(`backend: ${backend}`);

  // The article's inputs, with K made consistent: [1, 20, 20] instead of [1, 20, 10].
  const Q = tf.randomNormal([1, 10, 20], 0, 1, 'float32', 1);
  const K = tf.randomNormal([1, 20, 20], 0, 1, 'float32', 2);
  const V = tf.randomNormal([1, 20, 20], 0, 1, 'float32', 3);

  const output = model([Q, K, V]);
  console.log(`model([Q [1,10,20], K [1,20,20], V [1,20,20]]) -> output shape [${output.shape}]`);

  // One row of attention weights: softmax(Q·Kᵀ) for the first query.
  const weights = tf.tidy(() => tf.softmax(tf.matMul(Q, K, false, true)));
  const row = Array.from(weights.slice([0, 0, 0], [1, 1, 20]).dataSync());
  console.log(`weights of query 0 over the 20 keys: [${row.map((w) => w.toFixed(3)).join(', ')}]`);
  console.log(`sum of that row: ${row.reduce((a, b) => a + b, 0).toFixed(6)}`);
  const first = Array.from(output.slice([0, 0, 0], [1, 1, 5]).dataSync()).map((x) => x.toFixed(4));
  console.log(`output[0, 0, :5]: [${first.join(', ')}]`);

  // The article's original shapes.
  const Kbad = tf.randomNormal([1, 20, 10], 0, 1, 'float32', 4);
  try {
    model([Q, Kbad, V]);
    console.log('unexpected: the article shapes did not throw');
    process.exitCode = 1;
  } catch (e) {
    console.log(`the article's original shapes (K [1,20,10]) give:\n  ${(e as Error).message}`);
  }

  tf.dispose([Q, K, V, Kbad, output, weights]);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
