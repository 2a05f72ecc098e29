/**
 * tf.unsortedSegmentSum on the active backend (this file runs in the cpu and
 * the wasm projects), and what it makes possible on wasm: training through
 * tf.layers.embedding (the gradient of gather). Reference values are plain
 * float64 loops.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend, TokenAndPositionEmbedding, TransformerEncoder } from '../../src';

const backend = globalThis.TFJS_TEST_BACKEND ?? 'cpu';

/** out[s] = Σ x[i] over segmentIds[i] = s (ids outside [0, n) dropped), float64. */
function reference(x: number[], xShape: number[], ids: number[], n: number): number[] {
  const inner = xShape.slice(1).reduce((a, b) => a * b, 1);
  const out = new Array<number>(n * inner).fill(0);
  ids.forEach((s, i) => {
    if (s < 0 || s >= n) return;
    for (let j = 0; j < inner; j++) out[s * inner + j] += x[i * inner + j];
  });
  return out;
}

beforeAll(async () => {
  // initBackend installs the missing kernel; then back to this project's backend.
  await initBackend(backend as 'cpu' | 'wasm');
});

describe(`UnsortedSegmentSum on ${backend}`, () => {
  it.each([
    ['rows into 3 segments', [0.5, 1, -2, 3, 4, 5.25, 6, -7, 8, 9, 10, 11], [4, 3], [2, 0, 2, 1], 3],
    ['empty and out-of-range segments', [1, 2, 3, 4, 5], [5], [0, 4, -1, 0, 9], 5],
    ['all rows into one segment', [1, 2, 3, 4, 5, 6], [3, 2], [1, 1, 1], 2],
  ])('sums %s like the float64 reference', (_name, x, shape, ids, n) => {
    const got = tf.tidy(() => tf.unsortedSegmentSum(tf.tensor(x, shape), tf.tensor1d(ids, 'int32'), n));
    expect(got.shape).toEqual([n, ...shape.slice(1)]);
    expect(got).toBeAllClose(reference(x, shape, ids, n), 1e-6);
    got.dispose();
  });

  it('sums int32 values', () => {
    // (tfjs's cpu kernel returns float32 here, the wasm one int32 as TensorFlow does; the values agree.)
    const got = tf.unsortedSegmentSum(tf.tensor1d([7, 8, 9], 'int32'), tf.tensor1d([1, 1, 0], 'int32'), 2);
    expect(Array.from(got.dataSync())).toEqual([9, 15]);
    got.dispose();
  });

  it('gives the gradient of gather', () => {
    const g = tf.grad((p: tf.Tensor) => tf.sum(tf.mul(tf.gather(p, tf.tensor1d([2, 0, 2], 'int32')), tf.tensor2d([[1, 2], [3, 4], [5, 6]]))));
    const dp = g(tf.zeros([3, 2]));
    expect(dp).toBeAllClose([[3, 4], [0, 0], [6, 8]], 1e-6);
    dp.dispose();
  });
});

describe(`training through tf.layers.embedding on ${backend}`, () => {
  /** A task an embedding must learn: the class is whether token 1 occurs. */
  function data(): [tf.Tensor, tf.Tensor] {
    const n = 32;
    const T = 6;
    const ids: number[] = [];
    const ys: number[] = [];
    for (let i = 0; i < n; i++) {
      const row = Array.from({ length: T }, (_, j) => 2 + ((i * 5 + j * 3) % 6));
      if (i % 2 === 0) row[(i * 7) % T] = 1;
      ids.push(...row);
      ys.push(i % 2 === 0 ? 1 : 0);
    }
    return [tf.tensor2d(ids, [n, T], 'int32'), tf.tensor2d(ys, [n, 1])];
  }

  async function lossFalls(model: tf.Sequential): Promise<number[]> {
    const [x, y] = data();
    model.compile({ optimizer: tf.train.adam(0.02), loss: 'binaryCrossentropy' });
    const hist = await model.fit(x, y, { epochs: 12, batchSize: 8, verbose: 0, shuffle: false });
    tf.dispose([x, y]);
    return hist.history['loss'] as number[];
  }

  it("trains a user's own tf.layers.embedding", async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.embedding({ inputDim: 8, outputDim: 8, inputLength: 6, embeddingsInitializer: tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: 1 }) }),
        tf.layers.globalAveragePooling1d(),
        tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
      ],
    });
    const loss = await lossFalls(model);
    expect(loss[loss.length - 1]).toBeLessThan(loss[0] * 0.8);
  });

  it('trains TokenAndPositionEmbedding → TransformerEncoder → globalAveragePooling1d → dense', async () => {
    const model = tf.sequential({
      layers: [
        new TokenAndPositionEmbedding({ vocabularySize: 8, sequenceLength: 6, embeddingDim: 8, inputShape: [6], embeddingsInitializer: tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: 3 }) }),
        new TransformerEncoder({ intermediateDim: 16, numHeads: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }),
        tf.layers.globalAveragePooling1d(),
        tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }),
      ],
    });
    const loss = await lossFalls(model);
    expect(loss[loss.length - 1]).toBeLessThan(loss[0] * 0.8);
  });
});
