/**
 * MultiHeadAttention against real Keras output (on cpu and wasm) (the shared keras-real set,
 * __tests__/fixtures/keras-real/mha.json: Keras 3.16.0, torch backend; its
 * README says how it was made) and, for Keras 3.16's options that the set has
 * no case for (sliding_window, use_gate), against the float64 reference of
 * Keras's source in ./keras_attention_reference.ts.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { MultiHeadAttention } from '../../src';
import { arr, Arr, nested, randn } from '../reference';
import { KerasAttentionWeights, kerasMask, refKerasAttention } from './keras_attention_reference';
import { expectConfigRoundTrip, t } from './helpers';

interface RealWeight { path: string; shape: number[]; value: unknown }
interface RealCase {
  name: string;
  layer: string;
  inputs: { query: number[][][]; value: number[][][]; key?: number[][][] };
  kwargs: { attention_mask?: boolean[][][]; use_causal_mask?: boolean };
  keras_masks?: { query?: boolean[][]; value?: boolean[][]; key?: boolean[][] };
  output: number[][][];
  scores: number[][][][];
  output_without_scores_call: number[][][];
}
interface RealSet {
  env: { keras_version: string };
  layers: Record<string, { config: { num_heads: number; key_dim: number; value_dim: number }; weights: RealWeight[] }>;
  cases: RealCase[];
}

const real = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/keras-real/mha.json'), 'utf8')) as RealSet;

function realLayer(name: string): MultiHeadAttention {
  const spec = real.layers[name];
  const layer = new MultiHeadAttention({ numHeads: spec.config.num_heads, keyDim: spec.config.key_dim, valueDim: spec.config.value_dim });
  const shape = (p: string) => spec.weights.find((w) => w.path.endsWith(p))!.shape;
  const Dq = shape('query/kernel')[0];
  const Dk = shape('key/kernel')[0];
  const Dv = shape('value/kernel')[0];
  layer.apply([tf.zeros([1, 2, Dq]), tf.zeros([1, 3, Dv]), tf.zeros([1, 3, Dk])]);
  layer.setWeights(spec.weights.map((w) => tf.tensor(w.value as number[], w.shape)));
  return layer;
}

/** The case's inputs, with its Keras masks on the tensors as `mask` (tfjs's way of passing them). */
function realCall(layer: MultiHeadAttention, c: RealCase, returnAttentionScores: boolean): tf.Tensor | tf.Tensor[] {
  const q = tf.tensor(c.inputs.query);
  const v = tf.tensor(c.inputs.value);
  const inputs = c.inputs.key ? [q, v, tf.tensor(c.inputs.key)] : [q, v];
  const km = c.keras_masks ?? {};
  const asMask = (m?: boolean[][]) => (m === undefined ? null : tf.tensor(m, undefined, 'bool'));
  const kwargs: Record<string, unknown> = { returnAttentionScores };
  if (c.keras_masks) kwargs.mask = [asMask(km.query), asMask(km.value), asMask(km.key)];
  if (c.kwargs.attention_mask) kwargs.attentionMask = tf.tensor(c.kwargs.attention_mask, undefined, 'bool');
  if (c.kwargs.use_causal_mask) kwargs.useCausalMask = true;
  return layer.call(inputs, kwargs);
}

describe('MultiHeadAttention against real Keras (keras-real/mha.json)', () => {
  it('the set is the one described (Keras 3.16, cases with a fully masked row)', () => {
    expect(real.env.keras_version).toBe('3.16.0');
    expect(real.cases.filter((c) => /fully masked/.test(c.name)).length).toBe(2);
  });

  it.each(real.cases.map((c) => [c.name, c] as const))('%s: output and scores with returnAttentionScores', (_name, c) => {
    const layer = realLayer(c.layer);
    const [out, scores] = realCall(layer, c, true) as tf.Tensor[];
    expect(out).toBeAllClose(c.output, 1e-5);
    expect(scores).toBeAllClose(c.scores, 1e-5);
  });

  it.each(real.cases.map((c) => [c.name, c] as const))('%s: output of a plain call (Keras fused path)', (_name, c) => {
    const layer = realLayer(c.layer);
    expect(realCall(layer, c, false) as tf.Tensor).toBeAllClose(c.output_without_scores_call, 1e-5);
  });

  it('a fully masked query row: zero scores and the output bias with scores, uniform weights without (as Keras ≥ 3.10)', () => {
    const c = real.cases.find((x) => x.name.startsWith('key=value + attention_mask'))!;
    const layer = realLayer(c.layer);
    const [out, scores] = realCall(layer, c, true) as tf.Tensor[];
    const bias = real.layers[c.layer].weights.find((w) => w.path.endsWith('attention_output/bias'))!.value as number[];
    // Row [1, 2] is fully masked in the case.
    expect(scores.slice([1, 0, 2, 0], [1, 2, 1, 7])).toBeAllClose(new Array(14).fill(0).map(() => 0), 0);
    expect(out.slice([1, 2, 0], [1, 1, 6]).reshape([6])).toBeAllClose(bias, 1e-6);
    expect(c.output[1][2]).toBeAllClose(bias, 1e-6); // Keras's own output is the bias too
    const plain = realCall(layer, c, false) as tf.Tensor;
    // Without scores the row is the uniform average, not the bias: the two paths differ, as in Keras.
    expect(plain.slice([1, 2, 0], [1, 1, 6]).reshape([6])).not.toBeAllClose(bias, 1e-2);
    expect(plain.slice([1, 2, 0], [1, 1, 6]).reshape([6])).toBeAllClose(c.output_without_scores_call[1][2], 1e-5);
  });
});

/** Seeded Keras-shaped weights of one layer. */
function seeded(Dq: number, Dk: number, Dv: number, N: number, G: number, K: number, Hv: number, Dout: number, seed: number, gate: boolean): KerasAttentionWeights {
  const p = (shape: number[], s: number, std = 0.5): Arr => randn(shape, s, std);
  return {
    query: { kernel: p([Dq, N, K], seed), bias: p([N, K], seed + 1, 0.1) },
    key: { kernel: p([Dk, G, K], seed + 2), bias: p([G, K], seed + 3, 0.1) },
    ...(gate ? { gate: { kernel: p([Dq, N, Hv], seed + 8), bias: p([N, Hv], seed + 9, 0.1) } } : {}),
    value: { kernel: p([Dv, G, Hv], seed + 4), bias: p([G, Hv], seed + 5, 0.1) },
    output: { kernel: p([N, Hv, Dout], seed + 6), bias: p([Dout], seed + 7, 0.1) },
  };
}

/** The weights in Keras's order (query, key, [gate,] value, attention_output). */
function weightList(w: KerasAttentionWeights): tf.Tensor[] {
  const parts = [w.query, w.key, ...(w.gate ? [w.gate] : []), w.value, w.output];
  return parts.flatMap((p) => [p.kernel, ...(p.bias ? [p.bias] : [])]).map(t);
}

describe('MultiHeadAttention sliding_window and use_gate (float64 reference of Keras 3.16 source)', () => {
  const B = 2;
  const D = 6;
  const N = 2;
  const K = 3;

  function make(args: { slidingWindow?: number; useGate?: boolean; dropout?: number }, T: number, S: number, seed: number) {
    const layer = new MultiHeadAttention({ numHeads: N, keyDim: K, valueDim: 4, ...args });
    const w = seeded(D, D, D, N, N, K, 4, D, seed, args.useGate === true);
    layer.apply([tf.zeros([1, T, D]), tf.zeros([1, S, D])]);
    layer.setWeights(weightList(w));
    return { layer, w, q: randn([B, T, D], seed + 20), v: randn([B, S, D], seed + 21) };
  }

  it.each([
    [1, false, 6, 6],
    [2, false, 6, 6],
    [3, true, 6, 6],
    [2, false, 4, 7],
    [3, true, 7, 4],
  ])('slidingWindow=%i causal=%s T=%i S=%i: both paths match Keras', (sw, causal, T, S) => {
    const { layer, w, q, v } = make({ slidingWindow: sw }, T, S, 40 + sw);
    const mask = kerasMask(B, T, S, { causal, slidingWindow: sw });
    const [out, scores] = layer.call([t(q), t(v)], { useCausalMask: causal, returnAttentionScores: true }) as tf.Tensor[];
    const ref = refKerasAttention(q, v, v, w, mask, 'scores');
    expect(out).toBeAllClose(nested(ref.output), 1e-4);
    expect(scores).toBeAllClose(nested(ref.scores), 1e-5);
    const plain = layer.call([t(q), t(v)], { useCausalMask: causal }) as tf.Tensor;
    expect(plain).toBeAllClose(nested(refKerasAttention(q, v, v, w, mask, 'fused').output), 1e-4);
  });

  it('slidingWindow w sees exactly the keys within w - 1 of the query (Keras docstring)', () => {
    const { layer, q, v } = make({ slidingWindow: 2 }, 5, 5, 60);
    const [, scores] = layer.call([t(q), t(v)], { returnAttentionScores: true }) as tf.Tensor[];
    const s = scores.arraySync() as number[][][][];
    for (let i = 0; i < 5; i++) {
      for (let j = 0; j < 5; j++) {
        // |i - j| <= 1 visible (weight > 0), farther keys get exactly 0.
        if (Math.abs(i - j) <= 1) expect(s[0][0][i][j]).toBeGreaterThan(0);
        else expect(s[0][0][i][j]).toBe(0);
      }
    }
  });

  it('useGate gates each head by sigmoid(query·Wg + bg), with gate weights after the key\'s', () => {
    const { layer, w, q, v } = make({ useGate: true }, 4, 5, 70);
    expect(layer.weights.map((x) => x.originalName.split('/').slice(1).join('/'))).toEqual([
      'query/kernel', 'query/bias', 'key/kernel', 'key/bias', 'gate/kernel', 'gate/bias',
      'value/kernel', 'value/bias', 'attention_output/kernel', 'attention_output/bias',
    ]);
    expect(layer.weights[4].shape).toEqual([D, N, 4]);
    const qMask = arr([B, 4], [1, 1, 1, 0, 1, 0, 1, 1]);
    const out = layer.call([t(q), t(v)], { mask: [t(qMask), null] }) as tf.Tensor;
    expect(out).toBeAllClose(nested(refKerasAttention(q, v, v, w, kerasMask(B, 4, 5, { queryMask: qMask }), 'fused').output), 1e-4);
    // Without the gate the output differs: the test can fail.
    const ungated = refKerasAttention(q, v, v, { ...w, gate: undefined }, kerasMask(B, 4, 5, { queryMask: qMask }), 'fused');
    expect(out).not.toBeAllClose(nested(ungated.output), 1e-2);
  });

  it('gate and sliding window together, with a key mask, in a functional model', () => {
    const { layer, w, q, v } = make({ useGate: true, slidingWindow: 2 }, 5, 5, 80);
    const inQ = tf.input({ shape: [5, D] });
    const inV = tf.input({ shape: [5, D] });
    const model = tf.model({ inputs: [inQ, inV], outputs: layer.apply([inQ, inV]) as tf.SymbolicTensor });
    const got = model.predict([t(q), t(v)]) as tf.Tensor;
    expect(got).toBeAllClose(nested(refKerasAttention(q, v, v, w, kerasMask(B, 5, 5, { slidingWindow: 2 }), 'fused').output), 1e-4);
  });

  it('dropout > 0 takes Keras\'s scores path: a fully masked row gives the output bias even without scores', () => {
    const { layer, w, q, v } = make({ dropout: 0.5 }, 3, 4, 90);
    const att = arr([B, 3, 4], Array.from({ length: B * 12 }, (_, i) => (i >= 4 && i < 8 ? 0 : 1))); // row 1 of batch 0 empty
    const mask = kerasMask(B, 3, 4, { attentionMask: att });
    const out = layer.call([t(q), t(v), t(v), t(att)], {}) as tf.Tensor;
    expect(out).toBeAllClose(nested(refKerasAttention(q, v, v, w, mask, 'scores').output), 1e-4);
    expect(out.slice([0, 1, 0], [1, 1, D]).reshape([D])).toBeAllClose(Array.from(w.output.bias!.data), 1e-5);
  });

  it('round-trips slidingWindow and useGate in its config', () => {
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 3, slidingWindow: 4, useGate: true });
    expect(layer.getConfig()).toMatchObject({ slidingWindow: 4, useGate: true });
    expectConfigRoundTrip(layer);
    expect(new MultiHeadAttention({ numHeads: 2, keyDim: 3 }).getConfig()).toMatchObject({ slidingWindow: null, useGate: false });
  });

  it.each([
    [{ slidingWindow: 0 }, /MultiHeadAttention: expected slidingWindow to be a positive integer, but got slidingWindow=0/],
    [{ slidingWindow: 2.5 }, /expected slidingWindow to be a positive integer, but got slidingWindow=2.5/],
    [{ useGate: 'yes' }, /MultiHeadAttention: expected useGate to be a boolean, but got useGate="yes"/],
  ])('rejects %j', (args, msg) => {
    const before = tf.memory().numTensors;
    expect(() => new MultiHeadAttention({ numHeads: 2, keyDim: 2, ...(args as object) })).toThrow(msg);
    expect(tf.memory().numTensors).toBe(before);
  });
});
