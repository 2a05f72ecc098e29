/**
 * Image recognition with self-attention: a tiny vision transformer.
 *
 * Synthetic 16×16 grayscale images of one shape each (square, ring,
 * triangle, cross, diagonal cross; random position, size, brightness, plus noise) are
 * cut into 4×4 patches; a "class token" (an all-zero patch put first, which
 * the learned `PositionEmbedding` turns into a learned token) and the 16
 * patch embeddings go through a `SelfAttention` block, and the class token's
 * output is classified. The attention from the class token to the patches
 * is drawn as a heatmap next to the image.
 *
 * Run:
 *   npx tsx examples/image-attention.ts            # full run (≤ --seconds, default 270)
 *   npx tsx examples/image-attention.ts --quick    # a few steps, checks the pipeline end to end
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { PositionEmbedding, SelfAttention, heatmapSvg, initBackend } from '../src';
import type { BackendName } from '../src';
import { check, flag, hasFlag, trainLoop } from './common/train';
import { GRID, IMAGE_SIZE, NUM_PATCHES, PATCH_SIZE, SHAPES, generateImages, toPatches } from './image/data';

const OUT = path.join(__dirname, 'out');
const TOKENS = 1 + NUM_PATCHES;
const PATCH = PATCH_SIZE * PATCH_SIZE;

/** Takes the first token of `[B, T, D]`: `[B, D]`. */
class FirstToken extends tf.layers.Layer {
  static className = 'FirstToken';
  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [s[0], s[2]];
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.tidy(() => tf.squeeze(tf.slice(x, [0, 0, 0], [-1, 1, -1]), [1]));
  }
}
tf.serialization.registerClass(FirstToken);

/** The model: patches `[B, 17, 16]` → `[class probabilities [B, 5], attention of the last block [B, N, 17, 17]]`. */
function buildVit(dim = 32, heads = 2, blocks = 1): tf.LayersModel {
  const input = tf.input({ shape: [TOKENS, PATCH], name: 'patches' });
  let x = tf.layers.dense({ units: dim, name: 'patch_embedding' }).apply(input) as tf.SymbolicTensor;
  const pos = new PositionEmbedding({ sequenceLength: TOKENS, name: 'positions' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.add().apply([x, pos]) as tf.SymbolicTensor;
  let scores: tf.SymbolicTensor | undefined;
  for (let b = 0; b < blocks; b++) {
    const h = tf.layers.layerNormalization({ name: `norm_a${b}` }).apply(x) as tf.SymbolicTensor;
    const [a, s] = new SelfAttention({
      numHeads: heads,
      keyDim: dim / heads,
      returnAttentionScores: true,
      name: `self_attention_${b}`,
    }).apply(h) as tf.SymbolicTensor[];
    scores = s;
    x = tf.layers.add().apply([x, a]) as tf.SymbolicTensor;
    let f = tf.layers.layerNormalization({ name: `norm_f${b}` }).apply(x) as tf.SymbolicTensor;
    f = tf.layers.dense({ units: 2 * dim, activation: 'relu', name: `ffn_in_${b}` }).apply(f) as tf.SymbolicTensor;
    f = tf.layers.dense({ units: dim, name: `ffn_out_${b}` }).apply(f) as tf.SymbolicTensor;
    x = tf.layers.add().apply([x, f]) as tf.SymbolicTensor;
  }
  const cls = new FirstToken({ name: 'class_token' }).apply(tf.layers.layerNormalization({ name: 'norm_out' }).apply(x));
  const probs = tf.layers.dense({ units: SHAPES.length, activation: 'softmax', name: 'classes' }).apply(cls) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: [probs, scores as tf.SymbolicTensor], name: 'tiny_vit' });
}

function patchTensor(pixels: Float32Array[]): tf.Tensor3D {
  return tf.tensor3d(toPatches(pixels), [pixels.length, TOKENS, PATCH]);
}

function accuracy(model: tf.LayersModel, data: { pixels: Float32Array[]; labels: number[] }): number {
  let right = 0;
  for (let i = 0; i < data.labels.length; i += 250) {
    const x = patchTensor(data.pixels.slice(i, i + 250));
    const [probs, scores] = model.predict(x) as tf.Tensor[];
    const pred = probs.argMax(-1).dataSync();
    pred.forEach((p, j) => {
      if (p === data.labels[i + j]) right++;
    });
    tf.dispose([x, probs, scores]);
  }
  return right / data.labels.length;
}

/** Writes the image and the class token's attention over its patches (mean over heads) as SVG heatmaps. */
function drawAttention(model: tf.LayersModel, pixels: Float32Array, label: number, file: string): number[][] {
  const x = patchTensor([pixels]);
  const [probs, scores] = model.predict(x) as tf.Tensor[];
  const predicted = SHAPES[probs.argMax(-1).dataSync()[0]];
  // Row 0 (the class token) of each head, without the class token's own column.
  const fromClass = tf.tidy(() => tf.mean(tf.slice(scores, [0, 0, 0, 1], [1, -1, 1, NUM_PATCHES]), 1).reshape([GRID, GRID]));
  const grid = fromClass.arraySync() as number[][];
  tf.dispose([x, probs, scores, fromClass]);
  const image: number[][] = [];
  for (let y = 0; y < IMAGE_SIZE; y++) image.push(Array.from(pixels.slice(y * IMAGE_SIZE, (y + 1) * IMAGE_SIZE)));
  const labels = (n: number, step: number) => Array.from({ length: n }, (_, i) => String(i * step));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    file.replace(/\.svg$/, '-image.svg'),
    heatmapSvg(image, { title: `input: ${SHAPES[label]}`, rowLabels: labels(IMAGE_SIZE, 1), colLabels: labels(IMAGE_SIZE, 1) }),
  );
  fs.writeFileSync(
    file,
    heatmapSvg(grid, {
      title: `class token → 4×4 patches (predicted ${predicted})`,
      rowLabels: labels(GRID, PATCH_SIZE),
      colLabels: labels(GRID, PATCH_SIZE),
    }),
  );
  return grid;
}

async function main(): Promise<void> {
  const backend = await initBackend(flag('backend') as BackendName | undefined);
  const quick = hasFlag('quick');
  const seconds = Number(flag('seconds') ?? 270);
  console.log(`backend: ${backend}`);
  // Small batches: more updates within the time budget.
  const batchSize = 32;
  const batchesPerEpoch = quick ? 4 : 100;
  const heldOut = generateImages(quick ? 100 : 1000, 999);
  const full = buildVit();
  const model = tf.model({ inputs: full.inputs, outputs: full.outputs[0] });
  const optimizer = tf.train.adam(3e-3);
  model.compile({ optimizer, loss: 'categoricalCrossentropy' });
  console.log(`tiny ViT: ${full.countParams()} parameters; ${quick ? 'quick' : `full (≤ ${seconds} s)`} run`);
  let seed = 1;
  const result = await trainLoop({
    model,
    epochs: quick ? 1 : 30,
    batchesPerEpoch,
    batch: () => {
      const { pixels, labels } = generateImages(batchSize, seed++);
      const x = patchTensor(pixels);
      const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), SHAPES.length));
      return { x, y };
    },
    evaluate: () => accuracy(full, { pixels: heldOut.pixels.slice(0, 500), labels: heldOut.labels.slice(0, 500) }),
    target: quick ? undefined : 0.99,
    maxSeconds: quick ? undefined : seconds,
    onEpochEnd: (epoch) => {
      (optimizer as unknown as { learningRate: number }).learningRate = 3e-3 * Math.pow(0.93, epoch + 1);
    },
  });
  const acc = accuracy(full, heldOut);
  console.log(
    `trained ${result.epochs} epochs (${result.batches * batchSize} images) in ${result.seconds.toFixed(1)} s; ` +
      `held-out accuracy ${(acc * 100).toFixed(2)}% on ${heldOut.labels.length} images`,
  );
  const file = path.join(OUT, quick ? 'image-attention-quick.svg' : 'image-attention.svg');
  const grid = drawAttention(full, heldOut.pixels[0], heldOut.labels[0], file);
  console.log(`attention heatmap: ${file}`);
  if (quick) {
    const total = grid.flat().reduce((a, b) => a + b, 0);
    check(Number.isFinite(result.loss), `training loss is finite (${result.loss.toFixed(3)})`);
    check(grid.length === GRID && total > 0 && total <= 1 + 1e-4, `class-token attention over ${NUM_PATCHES} patches sums to ${total.toFixed(3)} (≤ 1)`);
    check(fs.existsSync(file), `heatmap written to ${file}`);
  } else {
    console.log(acc >= 0.95 ? 'target met: ≥ 95% held-out accuracy' : 'target NOT met: < 95% held-out accuracy');
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
