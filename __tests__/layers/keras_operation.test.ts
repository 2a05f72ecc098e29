/**
 * KerasOperation: Keras 3 operation nodes as a layer. Expected values are
 * written out by hand from the operations' definitions (numpy semantics).
 */
import * as tf from '@tensorflow/tfjs';
import { encodeOperationCall, KerasOperation, kerasOperationKey, KERAS_OPERATIONS } from '../../src/layers/keras_operation';

const IN = (i: number) => ({ __input__: i });
/** Keras's serialised slice(start, stop, step) and Ellipsis. */
const SL = (start: number | null, stop: number | null, step: number | null = null) => ({ class_name: '__slice__', config: { start, stop, step } });
const ELL = { class_name: '__ellipsis__', config: {} };
const op = (operation: string, args: unknown[], config: Record<string, unknown> = {}, kwargs: Record<string, unknown> = {}) =>
  new KerasOperation({ operation, call: encodeOperationCall({ args, kwargs, config }) });

describe('KerasOperation', () => {
  it.each([
    ['NotEqual(tokens, 0)', op('NotEqual', [IN(0), 0]), [[[3, 0, 5]]], [[1, 0, 1]], 'bool'],
    ['LogicalOr(a, a) on 0/1 ints', op('LogicalOr', [IN(0), IN(0)]), [[[0, 1, 2]]], [[0, 1, 1]], 'bool'],
    ['LogicalAnd(a, b)', op('LogicalAnd', [IN(0), IN(1)]), [[[1, 1, 0]], [[1, 0, 0]]], [[1, 0, 0]], 'bool'],
    ['Any(x, axis=-1)', op('Any', [IN(0)], { axis: -1, keepdims: false }), [[[[0, 0], [0, 2]]]], [[0, 1]], 'bool'],
    ['Mean(x, axis=1, keepdims)', op('Mean', [IN(0)], { axis: 1, keepdims: true }), [[[1, 2, 3]]], [[2]], 'float32'],
    ['Sum(x) over all axes', op('Sum', [IN(0)], { axis: null, keepdims: false }), [[[1, 2], [3, 4]]], 10, 'float32'],
    ['Divide(int, int) is a float division', op('Divide', [IN(0), 2]), [[[1, 3]]], [[0.5, 1.5]], 'float32'],
    ['ExpandDims(x, axis=-1)', op('ExpandDims', [IN(0)], { axis: -1 }), [[[1, 2]]], [[[1], [2]]], 'float32'],
    ['Squeeze(x, axis=-1)', op('Squeeze', [IN(0)], { axis: -1 }), [[[[1], [2]]]], [[1, 2]], 'float32'],
    ['Reshape(x, (-1, 4))', op('Reshape', [IN(0)], { newshape: [-1, 4] }), [[[[1, 2], [3, 4]]]], [[1, 2, 3, 4]], 'float32'],
    ['Transpose(x, (0, 2, 1))', op('Transpose', [IN(0)], { axes: [0, 2, 1] }), [[[[1, 2], [3, 4]]]], [[[1, 3], [2, 4]]], 'float32'],
    ['Concatenate([a, b], axis=1)', op('Concatenate', [[IN(0), IN(1)]], { axis: 1 }), [[[1]], [[2, 3]]], [[1, 2, 3]], 'float32'],
    ['Where(c, x, 0) broadcasting a scalar', op('Where', [IN(0), IN(1), 0]), [[[1, 0]], [[5, 6]]], [[5, 0]], 'float32'],
    ['Cast(x, "int32")', op('Cast', [IN(0)], { dtype: 'int32' }), [[[1.7, -2]]], [[1, -2]], 'int32'],
    ['Clip(x, 0, 1)', op('Clip', [IN(0)], { x_min: 0, x_max: 1 }), [[[-1, 0.5, 2]]], [[0, 0.5, 1]], 'float32'],
    ['Gelu(x, approximate=False) at 0 and 1', op('Gelu', [IN(0)], { approximate: false }), [[[0, 1]]], [[0, 0.8413447]], 'float32'],
    ['Softmax(x) of equal logits', op('Softmax', [IN(0)], { axis: -1 }), [[[2, 2]]], [[0.5, 0.5]], 'float32'],
    ['Add with the tensor as keyword x2', op('Add', [1], {}, { x2: IN(0) }), [[[1, 2]]], [[2, 3]], 'float32'],
    ['GetItem x[:, 0] (a CLS token)', op('GetItem', [IN(0), [SL(null, null), 0]]), [[[[1, 2], [3, 4]], [[5, 6], [7, 8]]]], [[1, 2], [5, 6]], 'float32'],
    ['GetItem x[..., -1]', op('GetItem', [IN(0), [ELL, -1]]), [[[[1, 2], [3, 4]]]], [[2, 4]], 'float32'],
    ['GetItem x[:, 1:3]', op('GetItem', [IN(0), [SL(null, null), SL(1, 3)]]), [[[0, 1, 2, 3]]], [[1, 2]], 'float32'],
    ['GetItem x[:, ::-1]', op('GetItem', [IN(0), [SL(null, null), SL(null, null, -1)]]), [[[0, 1, 2]]], [[2, 1, 0]], 'float32'],
    ['GetItem x[:, None]', op('GetItem', [IN(0), [SL(null, null), null]]), [[[1, 2]]], [[[1, 2]]], 'float32'],
    ['GetItem x[1]', op('GetItem', [IN(0), 1]), [[[1, 2], [3, 4]]], [3, 4], 'float32'],
  ])('computes %s', (_name, layer, inputs, want, dtype) => {
    const xs = (inputs as number[][][]).map((x) => tf.tensor(x));
    const before = tf.memory().numTensors;
    const y = layer.apply(xs.length === 1 ? xs[0] : xs) as tf.Tensor;
    expect(y.dtype).toBe(dtype);
    expect(y).toBeAllClose(want, 1e-6);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(xs);
  });

  it('gives its symbolic output the operation\'s dtype and shape (unknown batch stays unknown)', () => {
    const t = tf.input({ shape: [4], dtype: 'int32' });
    const ne = op('NotEqual', [IN(0), 0]).apply(t) as tf.SymbolicTensor;
    expect(ne.dtype).toBe('bool');
    expect(ne.shape).toEqual([null, 4]);
    const r = op('Reshape', [IN(0)], { newshape: [-1, 2, 2] }).apply(t) as tf.SymbolicTensor;
    expect(r.shape).toEqual([null, 2, 2]);
  });

  it('round-trips its config through tfjs\'s save format (which rewrites string case and underscores)', async () => {
    const t = tf.input({ shape: [3] });
    const y = op('Clip', [IN(0)], { x_min: 0, x_max: 1 }).apply(t) as tf.SymbolicTensor;
    const model = tf.model({ inputs: t, outputs: y });
    const json = model.toJSON(null, false) as unknown as { model_config?: unknown };
    const again = await tf.models.modelFromJSON(json as never);
    const x = tf.tensor2d([[-1, 0.5, 2]]);
    const p = again.predict(x) as tf.Tensor;
    expect(p).toBeAllClose([[0, 0.5, 1]], 1e-6);
    tf.dispose([x, p]);
    expect(kerasOperationKey('not_equal')).toBe('NotEqual');
    expect(kerasOperationKey('notEqual')).toBe('NotEqual');
    expect(kerasOperationKey('Einsum')).toBeUndefined();
  });

  it.each([
    ['an unknown operation', () => op('Einsum', [IN(0)]), /expected operation to be one of Add, .*, but got "Einsum"/],
    ['a call that is not hexadecimal JSON', () => new KerasOperation({ operation: 'Add', call: '{"args":[]}' }), /expected call to be the hexadecimal JSON of \{args, kwargs, config\}/],
    ['too many positional arguments', () => op('Exp', [IN(0), 1]), /expected Exp to take at most 1 positional argument\(s\) \(x\), but got 2/],
    ['an unknown keyword argument', () => op('Exp', [IN(0)], {}, { y: 1 }), /expected Exp's keyword arguments among x, but got y/],
  ])('refuses %s', (_name, f, message) => {
    expect(f).toThrow(message);
  });

  it.each([
    ['the one-argument form of Where', op('Where', [IN(0)]), [[1, 0]], /expected Where to be called with condition, x1 and x2/],
    ['a dtype tfjs lacks', op('Cast', [IN(0)], { dtype: 'complex64' }), [[1]], /expected a dtype tfjs has .*, but got "complex64"/],
    ['a non-numeric argument', op('Add', [IN(0), 'a']), [[1]], /expected x2 to be a tensor or a number, but got "a"/],
    ['a GetItem key of another kind', op('GetItem', [IN(0), ['a']]), [[1]], /expected GetItem's key to hold integers, slices, None or an ellipsis, but got "a"/],
    ['a GetItem step of 0', op('GetItem', [IN(0), [SL(null, null, 0)]]), [[1]], /expected GetItem's slice steps to be non-zero/],
  ])('refuses %s when called', (_name, layer, x, message) => {
    const t = tf.tensor(x as number[][]);
    const before = tf.memory().numTensors;
    expect(() => layer.apply(t)).toThrow(message);
    expect(tf.memory().numTensors).toBe(before);
    t.dispose();
  });

  it('lists the operations masking records among those it runs', () => {
    for (const name of ['NotEqual', 'LogicalOr', 'LogicalAnd', 'Any', 'All', 'ExpandDims', 'Squeeze', 'Concatenate', 'OnesLike', 'ZerosLike', 'Cast', 'Where']) {
      expect(Object.keys(KERAS_OPERATIONS)).toContain(name);
    }
  });
});
