/**
 * The refusal sweep of the functional API (the companion of
 * __tests__/layers/refusal_leaks.wasm.test.ts): each public function, given
 * each kind of bad input or option, throws an AttentionError in its own name
 * and leaves `tf.memory().numTensors` as it was; an option whose getter
 * throws passes the user's error through unchanged, leaving nothing either.
 * On cpu and on wasm.
 */
import * as tf from '@tensorflow/tfjs';
import { additiveAttention, attention, attentionWeights, AttentionError, model, scaledDotProductAttention } from '../../src';

type Args = { q: unknown; k: unknown; v: unknown; options?: unknown };
type Fn = (a: Args) => tf.Tensor;

/** The public functions, called with (query, key, value, options) as each takes them, and the shape of their result. */
const FUNCTIONS: Record<string, { call: Fn; output: number[]; takesOptions: boolean; takesValue: boolean }> = {
  scaledDotProductAttention: { call: (a) => scaledDotProductAttention(a.q as never, a.k as never, a.v as never, a.options as never), output: [2, 3, 4], takesOptions: true, takesValue: true },
  attentionWeights: { call: (a) => attentionWeights(a.q as never, a.k as never, a.options as never), output: [2, 3, 5], takesOptions: true, takesValue: false },
  additiveAttention: { call: (a) => additiveAttention(a.q as never, a.k as never, a.v as never, a.options as never), output: [2, 3, 4], takesOptions: true, takesValue: true },
  // The article's functions: attention(Q, K, V) and model([Q, K, V]).
  attention: { call: (a) => attention(a.q as never, a.k as never, a.v as never), output: [2, 3, 4], takesOptions: false, takesValue: true },
  model: { call: (a) => model([a.q, a.k, a.v] as never), output: [2, 3, 4], takesOptions: false, takesValue: true },
};

const good = (): Args => ({
  q: tf.randomNormal([2, 3, 4], 0, 1, 'float32', 1),
  k: tf.randomNormal([2, 5, 4], 0, 1, 'float32', 2),
  v: tf.randomNormal([2, 5, 4], 0, 1, 'float32', 3),
});

/** Bad inputs (every function) and bad options (the functions that take options), from correct arguments. */
const INPUT_KINDS: Record<string, (a: Args) => Args> = {
  'a query of rank 1': (a) => ({ ...a, q: tf.ones([4]) }),
  'query and key of different widths': (a) => ({ ...a, k: tf.ones([2, 5, 6]) }),
  'an int32 query': (a) => ({ ...a, q: tf.ones([2, 3, 4], 'int32') }),
  'a ragged nested-array query': (a) => ({ ...a, q: [[[1, 2, 3, 4]], [[1, 2]]] }),
};
const VALUE_KINDS: Record<string, (a: Args) => Args> = {
  'key and value of different lengths': (a) => ({ ...a, v: tf.ones([2, 4, 4]) }),
};
const OPTION_KINDS: Record<string, (a: Args) => Args> = {
  'a mask of the wrong shape': (a) => ({ ...a, options: { mask: tf.ones([2, 9, 9], 'bool') } }),
  'a mask that is a string': (a) => ({ ...a, options: { mask: 'yes' } }),
  'an unknown option': (a) => ({ ...a, options: { casual: true } }),
  'dropout 2': (a) => ({ ...a, options: { dropout: 2, training: true } }),
  'options that are not an object': (a) => ({ ...a, options: 7 }),
};

const CASES: Array<[string, string, (a: Args) => Args]> = Object.entries(FUNCTIONS).flatMap(([name, f]) => [
  ...Object.entries(INPUT_KINDS),
  ...(f.takesValue ? Object.entries(VALUE_KINDS) : []),
  ...(f.takesOptions ? Object.entries(OPTION_KINDS) : []),
].map(([kind, make]): [string, string, (a: Args) => Args] => [name, kind, make]));

const tensorsOf = (a: Args): tf.Tensor[] => [a.q, a.k, a.v, (a.options as { mask?: unknown } | undefined)?.mask].filter((x): x is tf.Tensor => x instanceof tf.Tensor);

describe.each(CASES)('%s with %s', (name, _kind, make) => {
  it('throws an AttentionError in its name and leaves no tensor; a correct call then works', () => {
    const { call, output } = FUNCTIONS[name];
    const ok = good();
    const bad = make(ok);
    const before = tf.memory().numTensors;
    let err: unknown;
    try {
      call(bad).dispose();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AttentionError);
    expect((err as Error).message).toMatch(new RegExp(`^${name}: `));
    expect(tf.memory().numTensors).toBe(before);
    const y = call(ok);
    expect(y.shape).toEqual(output);
    tf.dispose([y, ...tensorsOf(ok), ...tensorsOf(bad)]);
  });
});

/**
 * An options object whose getter throws: the user's own error, unchanged
 * (the layers do the same: __tests__/layers/refusal_leaks.wasm.test.ts).
 */
describe.each(Object.keys(FUNCTIONS).filter((n) => FUNCTIONS[n].takesOptions))('%s: an option whose getter throws', (name) => {
  it.each(['mask', 'scale', 'dropout', 'causal', 'implementation'])('passes the user\'s error from %s through unchanged and leaves no tensor', (option) => {
    const a = good();
    const userError = new RangeError(`user getter ${option}`);
    const options = Object.defineProperty({ training: true }, option, { enumerable: true, get: () => { throw userError; } });
    const before = tf.memory().numTensors;
    let err: unknown;
    try {
      FUNCTIONS[name].call({ ...a, options }).dispose();
    } catch (e) {
      err = e;
    }
    expect(err).toBe(userError);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(tensorsOf(a));
  });
});
