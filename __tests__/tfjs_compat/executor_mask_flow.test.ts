/**
 * Pins how tfjs 4.22's model executor moves Keras masks, and checks the
 * workaround (src/tfjs_compat/executor_mask_flow.ts). Masks here are
 * `ids != 0` of hand-written token ids, so every expected mask is written
 * out by hand.
 */
import * as tf from '@tensorflow/tfjs';
import * as path from 'path';
import { matchKerasMaskFlow } from '../../src/tfjs_compat/executor_mask_flow';
import { loadKerasModel } from '../../src/io/keras';
import { MultiHeadAttention } from '../../src/layers/multi_head_attention';
import { TransformerEncoder } from '../../src/layers/transformer_encoder';
import { Json, readJson, REAL_EXTRA, toJsonHandler } from '../io/keras_real_cases';

/** Passes its first input through and records the mask it is given (as arrays). */
class MaskRecorder extends tf.layers.Layer {
  static className = 'MaskRecorderForPin';
  seen: unknown[] = [];
  constructor(masking = true) {
    super({});
    this.supportsMasking = masking;
  }
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const m = kwargs['mask'] as tf.Tensor | Array<tf.Tensor | null> | undefined;
    this.seen.push(m === undefined ? undefined : Array.isArray(m) ? m.map((x) => (x === null ? null : x.arraySync())) : m.arraySync());
    return tf.clone(Array.isArray(inputs) ? inputs[0] : inputs);
  }
  override computeOutputShape(s: tf.Shape | tf.Shape[]): tf.Shape {
    return (Array.isArray(s[0]) ? s[0] : s) as tf.Shape;
  }
}

const ids1 = [[1, 2, 0]];
const ids2 = [[3, 0, 0]];
// Bool tensors read back (arraySync) as 1 / 0.
const m1 = [[1, 1, 0]];
const m2 = [[1, 0, 0]];

/** Two token inputs, each through Embedding(maskZero), into one recorder. */
function twoMasked(): { model: tf.LayersModel; rec: MaskRecorder } {
  const a = tf.input({ shape: [3], dtype: 'int32' });
  const b = tf.input({ shape: [3], dtype: 'int32' });
  const ea = tf.layers.embedding({ inputDim: 5, outputDim: 2, maskZero: true }).apply(a) as tf.SymbolicTensor;
  const eb = tf.layers.embedding({ inputDim: 5, outputDim: 2, maskZero: true }).apply(b) as tf.SymbolicTensor;
  const rec = new MaskRecorder();
  return { model: tf.model({ inputs: [a, b], outputs: rec.apply([ea, eb]) as tf.SymbolicTensor }), rec };
}

/** Embedding(maskZero) → a layer that supports no masking → recorder. */
function dropped(): { model: tf.LayersModel; rec: MaskRecorder } {
  const a = tf.input({ shape: [3], dtype: 'int32' });
  const e = tf.layers.embedding({ inputDim: 5, outputDim: 2, maskZero: true }).apply(a) as tf.SymbolicTensor;
  const d = new MaskRecorder(false).apply(e) as tf.SymbolicTensor;
  const rec = new MaskRecorder();
  return { model: tf.model({ inputs: a, outputs: rec.apply(d) as tf.SymbolicTensor }), rec };
}

const feed = (x: number[][]) => tf.tensor2d(x, undefined, 'int32');

describe('tfjs behaviour: the executor\'s masks', () => {
  it('pin: a two-input layer receives only the first input\'s mask', () => {
    const { model, rec } = twoMasked();
    (model.predict([feed(ids1), feed(ids2)]) as tf.Tensor).dispose();
    expect(rec.seen).toEqual([m1]);
  });

  it('pin: a mask dropped by a layer without masking support still reaches the next layer', () => {
    const { model, rec } = dropped();
    (model.predict(feed(ids1)) as tf.Tensor).dispose();
    expect(rec.seen).toEqual([m1]);
  });

  it('pin: tfjs Add\'s output mask has an extra leading axis instead of being the OR', () => {
    const add = tf.layers.add();
    const x = tf.ones([1, 3, 2]);
    const mask = add.computeMask([x, x], [tf.tensor2d([[true, true, false]]), tf.tensor2d([[true, false, false]])].map((t) => t.cast('bool'))) as tf.Tensor;
    expect(mask.shape).toEqual([1, 1, 3]);
    tf.dispose([x, mask]);
  });
});

describe('matchKerasMaskFlow', () => {
  it('gives a two-input layer both masks', () => {
    const { model, rec } = twoMasked();
    matchKerasMaskFlow(model, '3.16.0');
    (model.predict([feed(ids1), feed(ids2)]) as tf.Tensor).dispose();
    expect(rec.seen).toEqual([[m1, m2]]);
  });

  it('gives no mask after a layer that drops it', () => {
    const { model, rec } = dropped();
    matchKerasMaskFlow(model, '3.16.0');
    (model.predict(feed(ids1)) as tf.Tensor).dispose();
    expect(rec.seen).toEqual([undefined]);
  });

  it('ORs the masks of Add as Keras does, and gives none when one input has none', () => {
    const a = tf.input({ shape: [3], dtype: 'int32' });
    const b = tf.input({ shape: [3], dtype: 'int32' });
    const ea = tf.layers.embedding({ inputDim: 5, outputDim: 2, maskZero: true }).apply(a) as tf.SymbolicTensor;
    const eb = tf.layers.embedding({ inputDim: 5, outputDim: 2, maskZero: true }).apply(b) as tf.SymbolicTensor;
    const ec = tf.layers.embedding({ inputDim: 5, outputDim: 2 }).apply(b) as tf.SymbolicTensor;
    const r1 = new MaskRecorder();
    const r2 = new MaskRecorder();
    const o1 = r1.apply(tf.layers.add().apply([ea, eb]) as tf.SymbolicTensor) as tf.SymbolicTensor;
    const o2 = r2.apply(tf.layers.add().apply([ea, ec]) as tf.SymbolicTensor) as tf.SymbolicTensor;
    const model = tf.model({ inputs: [a, b], outputs: [o1, o2] });
    matchKerasMaskFlow(model, '3.16.0');
    tf.dispose(model.predict([feed(ids1), feed(ids2)]) as tf.Tensor[]);
    expect(r1.seen).toEqual([[[1, 1, 0]]]);
    expect(r2.seen).toEqual([undefined]);
  });

  it('passes no mask on from an LSTM for Keras 3.16 files, and passes it on for Keras 3.15 files', () => {
    const build = (version: string) => {
      const a = tf.input({ shape: [3], dtype: 'int32' });
      const e = tf.layers.embedding({ inputDim: 5, outputDim: 2, maskZero: true }).apply(a) as tf.SymbolicTensor;
      const l = tf.layers.lstm({ units: 2, returnSequences: true }).apply(e) as tf.SymbolicTensor;
      const rec = new MaskRecorder();
      const model = tf.model({ inputs: a, outputs: rec.apply(l) as tf.SymbolicTensor });
      matchKerasMaskFlow(model, version);
      return { model, rec };
    };
    for (const [version, want] of [['3.16.0', undefined], ['3.15.1', m1]] as const) {
      const { model, rec } = build(version);
      (model.predict(feed(ids1)) as tf.Tensor).dispose();
      expect(rec.seen).toEqual([want]);
    }
  });

  it('leaves a direct layer.apply with an explicit mask as called, and leaks nothing in predict', () => {
    const { model, rec } = twoMasked();
    matchKerasMaskFlow(model, '3.16.0');
    const x = tf.ones([1, 3, 2]);
    const m = tf.tensor2d([[true, false, false]], undefined, 'bool');
    (rec.apply([x, x], { mask: m }) as tf.Tensor).dispose();
    expect(rec.seen).toEqual([m2]);
    const [f1, f2] = [feed(ids1), feed(ids2)];
    const before = tf.memory().numTensors;
    (model.predict([f1, f2]) as tf.Tensor).dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, m, f1, f2]);
  });
});

/**
 * Keras >= 3.8's MultiHeadAttention deletes the Keras masks of its query,
 * value and key tensors, in place. Expected masks are the ones Keras's own
 * layers received in `model.predict` of model_mha_clears_masks (recorded in
 * its predictions.json `checks`, see scripts/keras-golden/README.md).
 */
describe('matchKerasMaskFlow: MultiHeadAttention clears its inputs\' masks', () => {
  const dir = path.join(REAL_EXTRA, 'model_mha_clears_masks');
  const pred = readJson(dir, 'predictions.json');
  const kerasSeen = pred.checks['masks received in model.predict'];
  const asBits = (m: Json): Json => (m === null ? null : (m as boolean[][]).map((r) => r.map((v) => (v ? 1 : 0))));
  const padding = asBits(kerasSeen.mha.query_mask);

  /** Records the mask each named layer's call gets for each input: its `mask` argument, else the one riding on the tensor. */
  function spy(model: tf.LayersModel, names: string[]): Record<string, Json[]> {
    const seen: Record<string, Json[]> = {};
    for (const n of names) {
      const layer = model.getLayer(n);
      const call = layer.call.bind(layer);
      layer.call = (inputs, kwargs) => {
        const list = Array.isArray(inputs) ? inputs : [inputs];
        const given = kwargs.mask as tf.Tensor | Array<tf.Tensor | null> | undefined;
        seen[n] = list.slice(0, 2).map((x, i) => {
          const m = (Array.isArray(given) ? given[i] : i === 0 ? given : null) ?? x.kerasMask ?? null;
          return m === null ? null : m.arraySync();
        });
        return call(inputs, kwargs);
      };
    }
    return seen;
  }

  /** The model from Keras's to_json() and weights, as a file of the given keras_version says. */
  const handler = (version: string): tf.io.IOHandler => {
    const inner = toJsonHandler(dir);
    return { load: async () => {
      const a = await (inner.load as () => Promise<tf.io.ModelArtifacts>)();
      return { ...a, modelTopology: { keras_version: version, backend: 'torch', model_config: a.modelTopology } };
    } };
  };

  it.each(['tfjs_from_h5', 'tfjs_from_keras'])('from %s: every layer gets the masks Keras\'s got (Add: [none, padding]; the next attention: none)', async (way) => {
    const model = await loadKerasModel(path.join(dir, way, 'model.json'));
    const seen = spy(model, ['mha', 'add', 'mha_after_add']);
    const x = tf.tensor(pred.inputs, undefined, 'int32');
    const before = tf.memory().numTensors;
    (model.predict(x) as tf.Tensor).dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(seen.mha).toEqual(kerasSeen.mha.input_tensor_masks.map(asBits));
    expect(seen.add).toEqual(kerasSeen.add.input_tensor_masks.map(asBits));
    expect(seen.mha_after_add).toEqual(kerasSeen.mha_after_add.input_tensor_masks.map(asBits));
    expect(seen.add).toEqual([null, padding]);
    x.dispose();
    model.dispose();
  });

  it('keeps the masks for files of Keras 3.7 (before MultiHeadAttention cleared them), clears them for 3.8', async () => {
    for (const [version, want] of [['3.7.0', [padding, padding]], ['3.8.0', [null, null]]] as const) {
      const model = await loadKerasModel(handler(version));
      const seen = spy(model, ['add', 'mha_after_add']);
      const x = tf.tensor(pred.inputs, undefined, 'int32');
      (model.predict(x) as tf.Tensor).dispose();
      expect(seen.mha_after_add).toEqual(want);
      expect(seen.add).toEqual(version === '3.7.0' ? [padding, padding] : [null, padding]);
      x.dispose();
      model.dispose();
    }
  });

  it('gives every application of a two-output MultiHeadAttention its masks (tfjs applies it once per output), and gives the caller\'s mask back after the run', async () => {
    // Keras's to_json() of a one-layer model, MHA(x, x, return_attention_scores=True) on an input carrying a mask.
    const q = tf.input({ shape: [3, 2] });
    const mha = new MultiHeadAttention({ numHeads: 1, keyDim: 2, returnAttentionScores: true, kernelInitializer: 'ones' });
    const model = tf.model({ inputs: q, outputs: mha.apply([q, q]) as tf.SymbolicTensor[] });
    matchKerasMaskFlow(model, '3.16.0');
    const x = tf.tensor3d([[[1, 2], [3, 4], [5, 6]]]);
    const m = tf.tensor2d([[true, true, false]], undefined, 'bool');
    x.kerasMask = m;
    const before = tf.memory().numTensors;
    // execute, not predict: predict slices its feeds into batches, which carry no mask. In a tidy:
    // tfjs's execute keeps the first application's outputs of a two-output layer and never frees them.
    const [out, scores] = tf.tidy(() => model.execute(x, model.outputs.map((o) => o.name)) as tf.Tensor[]);
    // Key 2 is padding: no query row gives it weight, in the scores (the second application).
    expect((scores.arraySync() as number[][][][])[0][0].map((row) => row[2])).toEqual([0, 0, 0]);
    expect(x.kerasMask).toBe(m);
    expect(m.isDisposed).toBe(false);
    tf.dispose([out, scores]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x]);
    expect(m.isDisposed).toBe(true);
  });
});

describe('matchKerasMaskFlow: keras-hub TransformerEncoder', () => {
  // Measured with Keras 3.16 and keras-hub at 71453d08f (see the file comment of executor_mask_flow.ts):
  // Add([x, TransformerEncoder(x)]) gets x without its mask for the post-norm encoder, with it for the pre-norm one.
  it.each([[false, undefined], [true, m1]] as const)('normalizeFirst %s: the Add after it gives %j', (normalizeFirst, want) => {
    const a = tf.input({ shape: [3], dtype: 'int32' });
    const e = tf.layers.embedding({ inputDim: 5, outputDim: 4, maskZero: true }).apply(a) as tf.SymbolicTensor;
    const enc = new TransformerEncoder({ intermediateDim: 4, numHeads: 2, normalizeFirst }).apply(e) as tf.SymbolicTensor;
    const rec = new MaskRecorder();
    const model = tf.model({ inputs: a, outputs: rec.apply(tf.layers.add().apply([e, enc]) as tf.SymbolicTensor) as tf.SymbolicTensor });
    matchKerasMaskFlow(model, '3.16.0');
    const x = feed(ids1);
    const before = tf.memory().numTensors;
    (model.predict(x) as tf.Tensor).dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(rec.seen).toEqual([want]);
    x.dispose();
  });
});
