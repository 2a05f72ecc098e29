/**
 * Pins how tfjs 4.22's model executor moves Keras masks, and checks the
 * workaround (src/tfjs_compat/executor_mask_flow.ts). Masks here are
 * `ids != 0` of hand-written token ids, so every expected mask is written
 * out by hand.
 */
import * as tf from '@tensorflow/tfjs';
import { matchKerasMaskFlow } from '../../src/tfjs_compat/executor_mask_flow';

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
