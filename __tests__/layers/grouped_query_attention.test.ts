/**
 * GroupedQueryAttention. Reference values: computed by the float64 reference
 * of Keras 3.16's source in ./keras_attention_reference.ts (the shared
 * keras-real set has no GroupedQueryAttention case).
 */
import * as tf from '@tensorflow/tfjs';
import { GroupedQueryAttention, GroupQueryAttention, layers, MultiHeadAttention } from '../../src';
import { AttentionError } from '../../src/errors';
import { callSignatureOf } from '../../src/layers/base/call_signature';
import { arr, Arr, nested, randn } from '../reference';
import { KerasAttentionWeights, kerasMask, refKerasAttention } from './keras_attention_reference';
import { layerBattery } from './battery';
import { t } from './helpers';

const B = 2;
const D = 8;
const H = 3;

function weights(Nq: number, Nkv: number, seed: number, gate = false, Dk = D, Dv = D): KerasAttentionWeights {
  const p = (shape: number[], s: number, std = 0.5): Arr => randn(shape, s, std);
  return {
    query: { kernel: p([D, Nq, H], seed), bias: p([Nq, H], seed + 1, 0.1) },
    key: { kernel: p([Dk, Nkv, H], seed + 2), bias: p([Nkv, H], seed + 3, 0.1) },
    ...(gate ? { gate: { kernel: p([D, Nq, H], seed + 8), bias: p([Nq, H], seed + 9, 0.1) } } : {}),
    value: { kernel: p([Dv, Nkv, H], seed + 4), bias: p([Nkv, H], seed + 5, 0.1) },
    output: { kernel: p([Nq, H, D], seed + 6), bias: p([D], seed + 7, 0.1) },
  };
}

function list(w: KerasAttentionWeights): tf.Tensor[] {
  return [w.query, w.key, ...(w.gate ? [w.gate] : []), w.value, w.output].flatMap((p) => [t(p.kernel), t(p.bias!)]);
}

function built(args: { numQueryHeads: number; numKeyValueHeads: number; useGate?: boolean; slidingWindow?: number; dropout?: number }, T: number, S: number, seed: number, Dk = D, Dv = D) {
  const layer = new GroupedQueryAttention({ headDim: H, ...args });
  const w = weights(args.numQueryHeads, args.numKeyValueHeads, seed, args.useGate === true, Dk, Dv);
  layer.apply([tf.zeros([1, T, D]), tf.zeros([1, S, Dv]), tf.zeros([1, S, Dk])]);
  layer.setWeights(list(w));
  return { layer, w };
}

describe('GroupedQueryAttention', () => {
  it.each([
    [4, 2],
    [4, 1],
    [3, 3],
    [6, 2],
  ])('Nq=%i Nkv=%i: output and scores match Keras (query head h uses key/value head floor(h / (Nq/Nkv)))', (Nq, Nkv) => {
    const T = 4;
    const S = 5;
    const { layer, w } = built({ numQueryHeads: Nq, numKeyValueHeads: Nkv }, T, S, 10 * Nq + Nkv, 5, 7);
    const q = randn([B, T, D], 1);
    const v = randn([B, S, 7], 2);
    const k = randn([B, S, 5], 3);
    const [out, scores] = layer.call([t(q), t(v), t(k)], { returnAttentionScores: true }) as tf.Tensor[];
    const ref = refKerasAttention(q, v, k, w, undefined, 'scores');
    expect(out).toBeAllClose(nested(ref.output), 1e-4);
    expect(scores.shape).toEqual([B, Nq, T, S]);
    expect(scores).toBeAllClose(nested(ref.scores), 1e-5);
    // Tiling the key/value heads (h -> h mod Nkv) instead of repeating them gives other values when groups differ.
    if (Nkv > 1 && Nkv < Nq) {
      const wrong = refKerasAttention(q, v, k, { ...w, key: tiled(w.key, Nq, Nkv), value: tiled(w.value, Nq, Nkv) }, undefined, 'scores');
      expect(out).not.toBeAllClose(nested(wrong.output), 1e-3);
    }
  });

  it('combines Keras masks, an attention mask, causal and sliding window; rows with no visible key per Keras path', () => {
    const T = 5;
    const { layer, w } = built({ numQueryHeads: 4, numKeyValueHeads: 2, slidingWindow: 2 }, T, T, 77);
    const q = randn([B, T, D], 4);
    const v = randn([B, T, D], 5);
    const qMask = arr([B, T], [1, 1, 1, 1, 0, 1, 1, 1, 1, 1]);
    const vMask = arr([B, T], [1, 1, 1, 1, 1, 1, 0, 1, 1, 1]);
    const att = arr([B, T, T], Array.from({ length: B * T * T }, (_, i) => (i % 6 === 5 ? 0 : 1)));
    const mask = kerasMask(B, T, T, { queryMask: qMask, valueMask: vMask, attentionMask: att, causal: true, slidingWindow: 2 })!;
    const kwargs = { mask: [t(qMask), t(vMask)], attentionMask: t(att), useCausalMask: true };
    const [out, scores] = layer.call([t(q), t(v)], { ...kwargs, returnAttentionScores: true }) as tf.Tensor[];
    const ref = refKerasAttention(q, v, v, w, mask, 'scores');
    expect(out).toBeAllClose(nested(ref.output), 1e-4);
    expect(scores).toBeAllClose(nested(ref.scores), 1e-5);
    const plain = layer.call([t(q), t(v)], kwargs) as tf.Tensor;
    expect(plain).toBeAllClose(nested(refKerasAttention(q, v, v, w, mask, 'fused').output), 1e-4);
    // The padded query row (batch 0, row 4) is empty: the two paths differ there, as in Keras.
    expect(out.slice([0, 4, 0], [1, 1, D]).reshape([D])).toBeAllClose(Array.from(w.output.bias!.data), 1e-5);
    expect(plain.slice([0, 4, 0], [1, 1, D])).not.toBeAllClose(out.slice([0, 4, 0], [1, 1, D]), 1e-3);
  });

  it('useGate: gate weights after the key\'s, and the output gated per head', () => {
    const { layer, w } = built({ numQueryHeads: 4, numKeyValueHeads: 2, useGate: true }, 3, 4, 90);
    expect(layer.weights.map((x) => [x.originalName.split('/').slice(1).join('/'), x.shape])).toEqual([
      ['query/kernel', [D, 4, H]], ['query/bias', [4, H]],
      ['key/kernel', [D, 2, H]], ['key/bias', [2, H]],
      ['gate/kernel', [D, 4, H]], ['gate/bias', [4, H]],
      ['value/kernel', [D, 2, H]], ['value/bias', [2, H]],
      ['attention_output/kernel', [4, H, D]], ['attention_output/bias', [D]],
    ]);
    const q = randn([B, 3, D], 6);
    const v = randn([B, 4, D], 7);
    const out = layer.call([t(q), t(v)], {}) as tf.Tensor;
    expect(out).toBeAllClose(nested(refKerasAttention(q, v, v, w, undefined, 'fused').output), 1e-4);
  });

  it('is causal inside a functional model built with useCausalMask, and predicts as the reference', () => {
    const layer = new GroupedQueryAttention({ headDim: H, numQueryHeads: 2, numKeyValueHeads: 1, useCausalMask: true });
    const inp = tf.input({ shape: [4, D] });
    const m = tf.model({ inputs: inp, outputs: layer.apply([inp, inp]) as tf.SymbolicTensor });
    const w = weights(2, 1, 55);
    layer.setWeights(list(w));
    const x = randn([B, 4, D], 8);
    expect(m.predict(t(x)) as tf.Tensor).toBeAllClose(nested(refKerasAttention(x, x, x, w, kerasMask(B, 4, 4, { causal: true }), 'fused').output), 1e-4);
  });

  it('has Keras\'s config and loads under both of Keras\'s names', () => {
    const layer = layers.groupedQueryAttention({
      headDim: 4, numQueryHeads: 4, numKeyValueHeads: 2, dropout: 0.1, useBias: false, slidingWindow: 3, useGate: true, seed: 7,
    });
    const config = layer.getConfig();
    expect(config).toMatchObject({ headDim: 4, numQueryHeads: 4, numKeyValueHeads: 2, dropout: 0.1, useBias: false, slidingWindow: 3, useGate: true, seed: 7 });
    for (const key of ['numHeads', 'keyDim', 'valueDim', 'outputShape', 'attentionAxes']) expect(config).not.toHaveProperty(key);
    const map = tf.serialization.SerializationMap.getMap().classNameMap;
    for (const name of ['GroupedQueryAttention', 'GroupQueryAttention']) {
      const [cls, fromConfig] = map[name];
      const copy = (fromConfig as (c: unknown, cfg: unknown) => tf.layers.Layer)(cls, JSON.parse(JSON.stringify(config)));
      expect(copy).toBeInstanceOf(GroupedQueryAttention);
      expect(copy.getClassName()).toBe(name);
      expect(copy.getConfig()).toEqual({ ...config, name: copy.name });
      expect(callSignatureOf(name)?.keras).toEqual([
        'value', 'key', 'query_mask', 'value_mask', 'key_mask', 'attention_mask', 'return_attention_scores', 'training', 'use_causal_mask',
      ]);
    }
    expect(new GroupQueryAttention({ headDim: 2, numQueryHeads: 2, numKeyValueHeads: 1 })).toBeInstanceOf(MultiHeadAttention);
  });

  it('loads from a model topology that names it GroupQueryAttention (as .keras files do) and GroupedQueryAttention (.h5)', async () => {
    for (const className of ['GroupQueryAttention', 'GroupedQueryAttention']) {
      const inp = tf.input({ shape: [3, D] });
      const layer = new GroupedQueryAttention({ headDim: H, numQueryHeads: 2, numKeyValueHeads: 1, name: 'gqa' });
      const m = tf.model({ inputs: inp, outputs: layer.apply([inp, inp]) as tf.SymbolicTensor });
      const w = weights(2, 1, 11);
      layer.setWeights(list(w));
      const topology = JSON.parse(JSON.stringify(m.toJSON(undefined, false)).replace(/"GroupedQueryAttention"/g, `"${className}"`));
      const loaded = await tf.models.modelFromJSON(topology);
      loaded.setWeights(m.getWeights());
      expect(loaded.getLayer('gqa').getClassName()).toBe(className);
      const x = randn([1, 3, D], 12);
      expect(loaded.predict(t(x)) as tf.Tensor).toBeAllClose(nested(refKerasAttention(x, x, x, w, undefined, 'fused').output), 1e-4);
      m.dispose();
      loaded.dispose();
    }
  });

  it.each([
    [{ numQueryHeads: 4, numKeyValueHeads: 3, headDim: 2 }, /GroupedQueryAttention: expected numQueryHeads to be divisible by numKeyValueHeads, but got numQueryHeads=4 and numKeyValueHeads=3/],
    [{ numQueryHeads: 0, numKeyValueHeads: 1, headDim: 2 }, /GroupedQueryAttention: expected numQueryHeads to be a positive integer, but got numQueryHeads=0/],
    [{ numQueryHeads: 2, numKeyValueHeads: 1.5, headDim: 2 }, /expected numKeyValueHeads to be a positive integer, but got numKeyValueHeads=1.5/],
    [{ numQueryHeads: 2, numKeyValueHeads: 1 }, /GroupedQueryAttention: expected headDim to be a positive integer, but got headDim=undefined/],
    [{ numQueryHeads: 2, numKeyValueHeads: 1, headDim: 2, slidingWindow: -1 }, /GroupedQueryAttention: expected slidingWindow to be a positive integer, but got slidingWindow=-1/],
    [{ numQueryHeads: 2, numKeyValueHeads: 1, headDim: 2, dropout: 2 }, /GroupedQueryAttention: expected dropout to be a number in \[0, 1\), but got dropout=2/],
    [{ numQueryHeads: 2, numKeyValueHeads: 1, headDim: 2, outputShape: 5 }, /GroupedQueryAttention: expected no outputShape \(a MultiHeadAttention argument; Keras's GroupedQueryAttention has none\), but got outputShape=5/],
    [{ numQueryHeads: 2, numKeyValueHeads: 1, headDim: 2, numHeads: 2 }, /expected no numHeads/],
  ])('rejects %j before allocating anything', (args, msg) => {
    const before = tf.memory().numTensors;
    expect(() => new GroupedQueryAttention(args as never)).toThrow(msg);
    if (/expected no|divisible/.test(String(msg))) expect(() => new GroupedQueryAttention(args as never)).toThrow(AttentionError);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects, as Keras does in a functional model, query and value of different widths', () => {
    const layer = new GroupedQueryAttention({ headDim: 2, numQueryHeads: 2, numKeyValueHeads: 1 });
    expect(() => layer.apply([tf.input({ shape: [3, 4] }), tf.input({ shape: [5, 6] })]))
      .toThrow(/GroupedQueryAttention: expected query and value to have the same last dimension, but got query \[,3,4\] and value \[,5,6\]/);
    expect(() => layer.apply([tf.input({ shape: [3, 4] }), tf.input({ shape: [5, 6] })])).toThrow(AttentionError);
  });
});

/** Key/value weights expanded to one head per query head with `tile`'s grouping (head h uses group h mod Nkv): a wrong-mapping foil. */
function tiled(p: { kernel: Arr; bias?: Arr }, Nq: number, Nkv: number): { kernel: Arr; bias?: Arr } {
  const [Din, , Hh] = p.kernel.shape;
  const kernel = arr([Din, Nq, Hh]);
  const bias = arr([Nq, Hh]);
  for (let h = 0; h < Nq; h++) {
    const g = h % Nkv;
    for (let d = 0; d < Din; d++) for (let e = 0; e < Hh; e++) kernel.data[(d * Nq + h) * Hh + e] = p.kernel.data[(d * Nkv + g) * Hh + e];
    for (let e = 0; e < Hh; e++) bias.data[h * Hh + e] = p.bias!.data[g * Hh + e];
  }
  return { kernel, bias };
}

layerBattery({
  title: 'GroupedQueryAttention',
  make: () => new GroupedQueryAttention({ headDim: 3, numQueryHeads: 4, numKeyValueHeads: 2, useGate: true, slidingWindow: 3 }),
  inputShapes: [[4, 6], [5, 6]],
  weights: [
    ['query/kernel', [6, 4, 3]], ['query/bias', [4, 3]], ['key/kernel', [6, 2, 3]], ['key/bias', [2, 3]],
    ['gate/kernel', [6, 4, 3]], ['gate/bias', [4, 3]], ['value/kernel', [6, 2, 3]], ['value/bias', [2, 3]],
    ['attention_output/kernel', [4, 3, 6]], ['attention_output/bias', [6]],
  ],
  outputShapes: [[4, 6]],
});

layerBattery({
  title: 'GroupedQueryAttention returning scores',
  make: () => new GroupedQueryAttention({ headDim: 2, numQueryHeads: 2, numKeyValueHeads: 1, returnAttentionScores: true }),
  inputShapes: [[4, 6], [5, 6]],
  weights: [
    ['query/kernel', [6, 2, 2]], ['query/bias', [2, 2]], ['key/kernel', [6, 1, 2]], ['key/bias', [1, 2]],
    ['value/kernel', [6, 1, 2]], ['value/bias', [1, 2]], ['attention_output/kernel', [2, 2, 6]], ['attention_output/bias', [6]],
  ],
  outputShapes: [[4, 6], [2, 4, 5]],
});

layerBattery({
  title: 'MultiHeadAttention',
  make: () => new MultiHeadAttention({ numHeads: 2, keyDim: 3, valueDim: 4, outputShape: 5 }),
  inputShapes: [[4, 6], [5, 7]],
  weights: [
    ['query/kernel', [6, 2, 3]], ['query/bias', [2, 3]], ['key/kernel', [7, 2, 3]], ['key/bias', [2, 3]],
    ['value/kernel', [7, 2, 4]], ['value/bias', [2, 4]], ['attention_output/kernel', [2, 4, 5]], ['attention_output/bias', [5]],
  ],
  outputShapes: [[4, 5]],
});

layerBattery({
  title: 'MultiHeadAttention with useGate and slidingWindow',
  make: () => new MultiHeadAttention({ numHeads: 2, keyDim: 3, useGate: true, slidingWindow: 2, useBias: false }),
  inputShapes: [[4, 6], [5, 6]],
  weights: [
    ['query/kernel', [6, 2, 3]], ['key/kernel', [6, 2, 3]], ['gate/kernel', [6, 2, 3]], ['value/kernel', [6, 2, 3]], ['attention_output/kernel', [2, 3, 6]],
  ],
  outputShapes: [[4, 6]],
});
