/**
 * Issue 11, items 9-12 (the layers): seeded dropout that moves, one check for
 * layer arguments and `training`, the Attention mask shape, token ids, and
 * no tensors left after TokenAndPositionEmbedding's length error.
 */
import * as tf from '@tensorflow/tfjs';
import { layers, scaledDotProductAttention } from '../../src';
import { refuses } from '../refuses';
import { mixSeed, nextDropoutSeed } from '../../src/layers/base/seed_generator';


describe('layer arguments', () => {
  it.each(Object.keys(layers))('layers.%s(null) says the arguments must be an object', (name) => {
    const factory = (layers as Record<string, (a: unknown) => unknown>)[name];
    refuses(() => factory(null), /^\w+: expected `args` to be an object, but got null\.$/);
    refuses(() => factory(7), /: expected `args` to be an object, but got 7\.$/);
  });

  it('names the layer class in the message', () => {
    refuses(() => layers.multiHeadAttention(null as never), /^MultiHeadAttention: expected `args` to be an object/);
    refuses(() => layers.tokenAndPositionEmbedding(null as never), /^TokenAndPositionEmbedding: expected `args` to be an object/);
  });
});

describe('training must be a boolean', () => {
  let x: tf.Tensor;
  beforeAll(() => {
    x = tf.ones([1, 3, 4]);
  });
  const cases: Array<[string, () => tf.layers.Layer, () => tf.Tensor | tf.Tensor[]]> = [
    ['MultiHeadAttention', () => layers.multiHeadAttention({ numHeads: 2, keyDim: 2, dropout: 0.5 }), () => [x, x]],
    ['SelfAttention', () => layers.selfAttention({ numHeads: 2, keyDim: 2, dropout: 0.5 }), () => x],
    ['Attention', () => layers.attention({ dropout: 0.5 }), () => [x, x]],
    ['AdditiveAttention', () => layers.additiveAttention({ dropout: 0.5 }), () => [x, x]],
    ['ContentAttention', () => layers.contentAttention({ dropout: 0.5 }), () => [x, x]],
    ['TransformerEncoder', () => layers.transformerEncoder({ intermediateDim: 4, numHeads: 2, dropout: 0.5 }), () => x],
    ['TransformerDecoder', () => layers.transformerDecoder({ intermediateDim: 4, numHeads: 2, dropout: 0.5 }), () => x],
  ];
  it.each(cases)("%s.apply(x, {training: 'yes'}) is an error, not dropout silently off", (name, make, inputs) => {
    const layer = make();
    (layer.apply(inputs(), { training: false }) as tf.Tensor).dispose(); // built
    refuses(() => layer.apply(inputs(), { training: 'yes' }), new RegExp(`^${name}: expected \`training\` to be a boolean, but got "yes"\\.$`));
    refuses(() => layer.apply(inputs(), { training: 1 }), new RegExp(`^${name}: expected \`training\` to be a boolean, but got 1\\.$`));
  });
});

describe('Attention: masks of the wrong shape', () => {
  it('names the value mask and its expected shape instead of a broadcast error', () => {
    const q = tf.ones([1, 2, 4]);
    const v = tf.ones([1, 3, 4]);
    const badValueMask = tf.ones([1, 4], 'bool');
    const badQueryMask = tf.ones([2, 2], 'bool');
    const layer = layers.attention();
    (layer.apply([q, v]) as tf.Tensor).dispose();
    const additive = layers.additiveAttention();
    (additive.apply([q, v]) as tf.Tensor).dispose();
    refuses(() => layer.apply([q, v], { mask: [null, badValueMask] }), /^Attention: expected the Keras mask of the value to be a bool or 0\/1 tensor of shape \[1,3\] \(batch, length\), but got bool \[1,4\]\.$/);
    refuses(() => layer.apply([q, v], { mask: [badQueryMask, null] }), /^Attention: expected the Keras mask of the query to be a bool or 0\/1 tensor of shape \[1,2\] \(batch, length\), but got bool \[2,2\]\.$/);
    refuses(() => additive.apply([q, v], { mask: [null, badValueMask] }), /^AdditiveAttention: expected the Keras mask of the value/);
    const good = tf.tensor2d([[1, 1, 0]], undefined, 'bool');
    const out = layer.apply([q, v], { mask: [null, good] }) as tf.Tensor;
    expect(out.shape).toEqual([1, 2, 4]);
    tf.dispose([q, v, badValueMask, badQueryMask, good, out]);
  });
});

describe('TokenAndPositionEmbedding', () => {
  it('leaves no tensor behind after the length error (2 tables leaked before)', () => {
    const emb = layers.tokenAndPositionEmbedding({ vocabularySize: 10, sequenceLength: 2, embeddingDim: 4 });
    const ids = tf.tensor2d([[1, 2, 3]], undefined, 'int32');
    refuses(() => emb.apply(ids), /^TokenAndPositionEmbedding: expected at most sequenceLength=2 positions, but got 3 token ids from startIndex=0\.$/);
    ids.dispose();
  });

  it('refuses a fractional id (1.7 was truncated to 1) and ids outside the vocabulary', () => {
    const emb = layers.tokenAndPositionEmbedding({ vocabularySize: 10, sequenceLength: 4, embeddingDim: 4 });
    const ok = tf.tensor2d([[1, 2]]);
    (emb.apply(ok) as tf.Tensor).dispose();
    for (const [value, shown] of [[1.7, '1.7'], [12, '12'], [-1, '-1'], [NaN, 'NaN']] as const) {
      const ids = tf.tensor2d([[3, value]]);
      refuses(() => emb.apply(ids), new RegExp(`^TokenAndPositionEmbedding: expected token ids to be integers in \\[0, 10\\) \\(vocabularySize=10\\), but got ${shown} at flat index 1 of ids \\[1,2\\]\\.$`));
      ids.dispose();
    }
    ok.dispose();
  });
});

describe('seeded dropout moves (as Keras SeedGenerator)', () => {
  function mhaPair(seed: number): [tf.layers.Layer, tf.layers.Layer] {
    const a = layers.multiHeadAttention({ numHeads: 2, keyDim: 4, dropout: 0.5, seed });
    const b = layers.multiHeadAttention({ numHeads: 2, keyDim: 4, dropout: 0.5, seed });
    const x = tf.randomNormal([2, 5, 8], 0, 1, 'float32', 3);
    (a.apply([x, x]) as tf.Tensor).dispose();
    (b.apply([x, x]) as tf.Tensor).dispose();
    b.setWeights(a.getWeights());
    x.dispose();
    return [a, b];
  }
  const run = (layer: tf.layers.Layer, x: tf.Tensor): number[] => {
    const out = layer.apply([x, x], { training: true }) as tf.Tensor;
    const v = Array.from(out.dataSync());
    out.dispose();
    return v;
  };

  it('MultiHeadAttention with a seed draws a new mask each training step, and a fresh layer with the same seed repeats the sequence', () => {
    const [a, b] = mhaPair(7);
    const x = tf.randomNormal([2, 5, 8], 0, 1, 'float32', 4);
    const seqA = [run(a, x), run(a, x), run(a, x)];
    const seqB = [run(b, x), run(b, x), run(b, x)];
    expect(seqA[1]).not.toEqual(seqA[0]); // identical on steps 1 and 2 before
    expect(seqA[2]).not.toEqual(seqA[1]);
    expect(seqB).toEqual(seqA);
    // Inference neither applies dropout nor advances the sequence.
    const [c] = mhaPair(7);
    c.setWeights(a.getWeights());
    const infer = c.apply([x, x], { training: false }) as tf.Tensor;
    infer.dispose();
    expect(run(c, x)).toEqual(seqA[0]);
    x.dispose();
  });

  it('Attention with a seed moves too', () => {
    const layer = layers.attention({ dropout: 0.5, seed: 3 });
    const q = tf.randomNormal([1, 4, 3], 0, 1, 'float32', 5);
    const first = layer.apply([q, q], { training: true }) as tf.Tensor;
    const second = layer.apply([q, q], { training: true }) as tf.Tensor;
    expect(Array.from(second.dataSync())).not.toEqual(Array.from(first.dataSync()));
    tf.dispose([q, first, second]);
  });

  it('the per-call seeds are a pure function of (seed, call): what makes two fresh processes agree', () => {
    const layerA = {};
    const layerB = {};
    const a = [0, 1, 2].map(() => nextDropoutSeed(layerA, 7, true));
    const b = [0, 1, 2].map(() => nextDropoutSeed(layerB, 7, true));
    expect(a).toEqual(b);
    expect(a).toEqual([mixSeed(7, 0), mixSeed(7, 1), mixSeed(7, 2)]);
    expect(new Set(a).size).toBe(3);
    expect(nextDropoutSeed(layerA, undefined, true)).toBeUndefined();
    expect(nextDropoutSeed(layerA, 7, false)).toBe(7);
    expect(nextDropoutSeed(layerA, 7, true)).toBe(mixSeed(7, 3));
  });

  it('one seed reproduces within an implementation; naive and blocked draw different masks (documented)', () => {
    const q = tf.randomNormal([1, 6, 4], 0, 1, 'float32', 8);
    const go = (implementation: 'naive' | 'blocked') => {
      const out = scaledDotProductAttention(q, q, q, { dropout: 0.5, training: true, seed: 11, implementation, blockSize: 2 });
      const v = Array.from(out.dataSync());
      out.dispose();
      return v;
    };
    expect(go('naive')).toEqual(go('naive'));
    expect(go('blocked')).toEqual(go('blocked'));
    expect(go('naive')).not.toEqual(go('blocked'));
    q.dispose();
  });
});
