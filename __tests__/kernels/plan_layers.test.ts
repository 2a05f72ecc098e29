/**
 * `implementation` and `memoryBudget` as layer arguments: every attention
 * layer that computes through `scaledDotProductAttention` takes them,
 * validates them, keeps them in its config, and hands them to the planner.
 */
import * as tf from '@tensorflow/tfjs';
import {
  ContentAttention,
  MultiHeadAttention,
  PositionalAttention,
  SelfAttention,
  TransformerDecoder,
  TransformerEncoder,
} from '../../src';

type Make = (extra: Record<string, unknown>) => tf.layers.Layer;
type Input = () => tf.Tensor | tf.Tensor[];

const x = (): tf.Tensor => tf.randomNormal([2, 5, 8], 0, 1, 'float32', 3);
const mem = (): tf.Tensor => tf.randomNormal([2, 4, 8], 0, 1, 'float32', 4);

const LAYERS: Array<[string, Make, Input]> = [
  ['MultiHeadAttention', (e) => new MultiHeadAttention({ numHeads: 2, keyDim: 4, seed: 1, ...e }), () => [x(), mem()]],
  ['SelfAttention', (e) => new SelfAttention({ numHeads: 2, keyDim: 4, useCausalMask: true, ...e }), x],
  ['PositionalAttention', (e) => new PositionalAttention({ numHeads: 2, keyDim: 4, position: 'alibi', ...e }), x],
  ['ContentAttention', (e) => new ContentAttention({ score: 'general', useCausalMask: true, ...e }), () => [x(), mem()]],
  ['TransformerEncoder', (e) => new TransformerEncoder({ intermediateDim: 6, numHeads: 2, ...e }), x],
  ['TransformerDecoder', (e) => new TransformerDecoder({ intermediateDim: 6, numHeads: 2, ...e }), x],
];

describe.each(LAYERS)('%s', (name, make, input) => {
  /** The layer's output with `implementation: 'naive'`, and a copy's (same weights) with `changes` to its config. */
  function naiveAndVariant(changes: Record<string, unknown>): [tf.Tensor, tf.Tensor] {
    const a = make({ implementation: 'naive' });
    const xs = input();
    const want = a.apply(xs) as tf.Tensor;
    type Cls = { fromConfig: (cls: unknown, config: tf.serialization.ConfigDict) => tf.layers.Layer };
    const cls = a.constructor as unknown as Cls;
    const b = cls.fromConfig(cls, { ...a.getConfig(), ...changes } as tf.serialization.ConfigDict);
    b.apply(xs);
    b.setWeights(a.getWeights());
    const got = b.apply(xs) as tf.Tensor;
    tf.dispose(Array.isArray(xs) ? xs : [xs]);
    return [want, got];
  }

  it('hands implementation to the planner (a forced simd gives naive\'s output)', () => {
    const [want, got] = naiveAndVariant({ implementation: 'simd' });
    expect(got).toBeAllClose(want, 1e-4);
    tf.dispose([want, got]);
  });

  it('gives the same output under a 64-byte memoryBudget (chunked or cut blocks) as with naive', () => {
    const [want, got] = naiveAndVariant({ implementation: 'auto', memoryBudget: 64 });
    expect(got).toBeAllClose(want, 1e-4);
    tf.dispose([want, got]);
  });

  it('keeps implementation and memoryBudget in its config, round trip', () => {
    const layer = make({ implementation: 'blocked', memoryBudget: 1024 });
    expect(layer.getConfig()).toMatchObject({ implementation: 'blocked', memoryBudget: 1024 });
    const defaults = make({});
    expect(defaults.getConfig()).toMatchObject({ implementation: 'auto', memoryBudget: null });
  });

  it.each([
    [{ implementation: 'flash' }, new RegExp(`${name}: expected implementation to be one of 'auto', 'naive', 'blocked', 'chunked', 'fused', 'simd', but got implementation="flash"`)],
    [{ memoryBudget: -1 }, new RegExp(`${name}: expected memoryBudget to be a positive number of bytes, but got memoryBudget=-1`)],
    [{ memoryBudget: Infinity }, /expected memoryBudget to be a positive number of bytes, but got memoryBudget=Infinity/],
  ])('rejects %j at construction', (extra, msg) => {
    expect(() => make(extra)).toThrow(msg);
  });
});

it('ContentAttention refuses a tfjs-path implementation for additive scores', () => {
  expect(() => new ContentAttention({ score: 'additive', implementation: 'chunked' })).toThrow(
    /ContentAttention: expected implementation 'auto' or 'naive' with score 'additive'.*but got implementation="chunked"/,
  );
});

describe.each(LAYERS)('%s with a batch of 0', (_name, make, input) => {
  it('returns an empty batch of the right shape (issue 11 item 3; wasm threw divide by zero)', () => {
    const layer = make({});
    const xs = input();
    const list = Array.isArray(xs) ? xs : [xs];
    const empty = list.map((t) => tf.zeros([0, ...t.shape.slice(1)]));
    const full = layer.apply(xs) as tf.Tensor;
    const y = layer.apply(empty.length === 1 ? empty[0] : empty) as tf.Tensor;
    expect(y.shape).toEqual([0, ...full.shape.slice(1)]);
    tf.dispose([y, full, ...empty, ...list]);
  });
});
