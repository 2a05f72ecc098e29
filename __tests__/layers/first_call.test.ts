/**
 * A first call that fails leaves the layer as it was: unbuilt, no weights,
 * no tensor behind (src/layers/base/first_call.ts, used by LibraryLayer).
 * Pins the tfjs 4.22 behaviour it undoes.
 */
import * as tf from '@tensorflow/tfjs';
import { layers, MultiHeadAttention, TransformerEncoder } from '../../src';
import { asFirstCall } from '../../src/layers/base/first_call';
import { refuses } from '../refuses';

/** A tfjs layer with one weight (and a regularizer loss) whose call throws when told to. */
class Probe extends tf.layers.Layer {
  static className = 'FirstCallProbe';
  fail = true;
  kernel?: tf.LayerVariable;
  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const s = inputShape as tf.Shape;
    this.kernel = this.addWeight('kernel', [s[s.length - 1] as number, 2], 'float32', tf.initializers.ones(), tf.regularizers.l2());
    this.built = true;
  }
  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = inputShape as tf.Shape;
    return [...s.slice(0, -1), 2];
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    if (this.fail) throw new Error('probe: refused');
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.tidy(() => tf.matMul(x, (this.kernel as tf.LayerVariable).read()));
  }
}

describe('tfjs behaviour: a first call that throws after the build', () => {
  it('pin: leaves the layer built and its weight alive (tfjs 4.22)', () => {
    const x = tf.ones([1, 3]);
    const layer = new Probe({});
    const before = tf.memory().numTensors;
    expect(() => layer.apply(x)).toThrow(/probe: refused/);
    expect(layer.built).toBe(true);
    expect(layer.weights.length).toBe(1);
    expect(tf.memory().numTensors).toBe(before + 1);
    layer.weights.forEach((w) => w.dispose());
    x.dispose();
  });
});

describe('asFirstCall', () => {
  it('undoes the build: unbuilt, weight freed, its regularizer loss gone, and the next call builds again', () => {
    const x = tf.ones([1, 3]);
    const layer = new Probe({});
    const before = tf.memory().numTensors;
    expect(() => asFirstCall(layer, () => layer.apply(x))).toThrow(/probe: refused/);
    expect(tf.memory().numTensors).toBe(before);
    expect(layer.built).toBe(false);
    expect(layer.weights).toEqual([]);
    expect(layer.losses).toEqual([]);
    // tfjs refuses to dispose a layer never used: its reference count is back to unset.
    expect(() => layer.dispose()).toThrow(/has not been built/);
    layer.fail = false;
    const y = asFirstCall(layer, () => layer.apply(x)) as tf.Tensor;
    expect(y.shape).toEqual([1, 2]);
    expect(Array.from(y.dataSync())).toEqual([3, 3]); // ones [1,3] · ones [3,2]
    expect(layer.weights.map((w) => w.shape)).toEqual([[3, 2]]); // built once: no "Duplicate weight name"
    expect(layer.losses.length).toBe(1);
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([x, y]);
    layer.weights.forEach((w) => w.dispose());
  });

  it('does nothing on a built layer: a later failing call keeps the weights', () => {
    const x = tf.ones([1, 3]);
    const layer = new Probe({});
    layer.fail = false;
    tf.dispose(asFirstCall(layer, () => layer.apply(x)) as tf.Tensor);
    layer.fail = true;
    const before = tf.memory().numTensors;
    expect(() => asFirstCall(layer, () => layer.apply(x))).toThrow(/probe: refused/);
    expect(layer.built).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    layer.weights.forEach((w) => w.dispose());
    x.dispose();
  });
});

describe('library layers: a refused first call after the build', () => {
  it('MultiHeadAttention with training: "yes" leaves no weights (8 stayed before) and builds for the next call', () => {
    const q = tf.ones([1, 3, 4]);
    const v = tf.ones([1, 5, 6]);
    const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 2 });
    refuses(() => mha.apply([q, v], { training: 'yes' as never }), /^MultiHeadAttention: expected `training` to be a boolean, but got "yes"\.$/);
    expect(mha.built).toBe(false);
    const before = tf.memory().numTensors;
    const y = mha.apply([q, v]) as tf.Tensor;
    expect(y.shape).toEqual([1, 3, 4]);
    expect(mha.weights.map((w) => w.shape)).toEqual([[4, 2, 2], [2, 2], [6, 2, 2], [2, 2], [6, 2, 2], [2, 2], [2, 2, 4], [4]]);
    expect(tf.memory().numTensors).toBe(before + 8 + 1);
    mha.dispose();
    tf.dispose([q, v, y]);
  });

  it('TransformerEncoder frees the weights of the sublayers its build made (16 stayed before)', () => {
    const x = tf.ones([1, 3, 4]);
    const enc = new TransformerEncoder({ intermediateDim: 4, numHeads: 2 });
    refuses(() => enc.apply(x, { training: 'yes' as never }), /^TransformerEncoder: expected `training` to be a boolean/);
    const y = enc.apply(x) as tf.Tensor;
    expect(y.shape).toEqual([1, 3, 4]);
    expect(enc.weights.length).toBe(16);
    enc.dispose();
    tf.dispose([x, y]);
  });

  it('a symbolic first call refused after the build (GroupedQueryAttention, widths differ) leaves no weights', () => {
    const gqa = layers.groupedQueryAttention({ numQueryHeads: 2, numKeyValueHeads: 1, headDim: 2 });
    refuses(() => gqa.apply([tf.input({ shape: [3, 4] }), tf.input({ shape: [5, 6] })]), /^GroupedQueryAttention: expected query and value to have the same last dimension/);
    expect(gqa.built).toBe(false);
    const out = gqa.apply([tf.input({ shape: [3, 4] }), tf.input({ shape: [5, 4] })]) as tf.SymbolicTensor;
    expect(out.shape).toEqual([null, 3, 4]);
  });
});
