/**
 * The library's layers inside a tfjs model: build, train, save, reload.
 *
 * Task: each position of a sequence of one-hot tokens must output the token
 * that came two steps earlier, which needs attention to earlier positions.
 * The model: dense token projection + position embedding, a causal
 * PositionalAttention (ALiBi) block and a causal SelfAttention block, then a
 * dense softmax. It trains, is saved with `fileSystem`, reloaded with
 * `tf.loadLayersModel`, and the two models' predictions are compared.
 *
 * Run: npx tsx examples/layers.ts [--quick]
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileSystem, initBackend, layers } from '../src';

const quick = process.argv.includes('--quick');
const T = 10;
const V = 6;
const LAG = 2;

function batch(n: number, seed: number): [tf.Tensor, tf.Tensor] {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const ids = Array.from({ length: n * T }, () => Math.floor(rand() * V));
  const targets = ids.map((_, i) => (i % T >= LAG ? ids[i - LAG] : 0));
  return tf.tidy(() => [
    tf.oneHot(tf.tensor1d(ids, 'int32'), V).reshape([n, T, V]),
    tf.oneHot(tf.tensor1d(targets, 'int32'), V).reshape([n, T, V]),
  ]);
}

function build(): tf.LayersModel {
  const tokens = tf.input({ shape: [T, V] });
  const h = tf.layers.dense({ units: 32 }).apply(tokens) as tf.SymbolicTensor;
  const pos = layers.positionEmbedding({ sequenceLength: T }).apply(h) as tf.SymbolicTensor;
  let x = tf.layers.add().apply([h, pos]) as tf.SymbolicTensor;
  const a1 = layers.positionalAttention({ numHeads: 4, keyDim: 8, position: 'alibi', useCausalMask: true }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.layerNormalization().apply(tf.layers.add().apply([x, a1])) as tf.SymbolicTensor;
  const a2 = layers.selfAttention({ numHeads: 4, keyDim: 8, useCausalMask: true }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.layerNormalization().apply(tf.layers.add().apply([x, a2])) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: V, activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: tokens, outputs: out });
}

async function main(): Promise<void> {
  console.log(`backend: ${await initBackend()}`);
  const model = build();
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const [x, y] = batch(quick ? 64 : 512, 1);
  const [xTest, yTest] = batch(128, 2);
  const epochs = quick ? 3 : 15;
  const t0 = Date.now();
  await model.fit(x, y, {
    epochs,
    batchSize: 32,
    verbose: 0,
    callbacks: {
      onEpochEnd: (epoch, logs) => {
        if (quick || (epoch + 1) % 5 === 0) {
          console.log(`epoch ${epoch + 1}/${epochs}  loss ${logs?.loss?.toFixed(4)}  acc ${logs?.acc?.toFixed(3)}`);
        }
      },
    },
  });
  const [, acc] = model.evaluate(xTest, yTest) as tf.Scalar[];
  console.log(`trained in ${((Date.now() - t0) / 1000).toFixed(1)} s; held-out accuracy ${(acc.dataSync()[0] * 100).toFixed(1)}%`);

  const dir = mkdtempSync(join(tmpdir(), 'tfjs-attention-example-'));
  try {
    await model.save(fileSystem(dir));
    const reloaded = await tf.loadLayersModel(fileSystem(dir));
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(model.predict(xTest) as tf.Tensor, reloaded.predict(xTest) as tf.Tensor))).dataSync()[0]);
    console.log(`saved to ${dir} and reloaded: max abs difference of predictions ${diff}`);
    if (diff !== 0) {
      throw new Error(`the reloaded model predicts differently (max abs difference ${diff})`);
    }
    if (!quick && acc.dataSync()[0] < 0.9) {
      throw new Error(`accuracy ${acc.dataSync()[0]} is below 0.9`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
