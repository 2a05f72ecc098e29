/**
 * What a new user meets first, in the layer's own terms: the attention mask
 * MultiHeadAttention takes, errors that name the layer and the user's shapes,
 * call options checked by name, renamed arguments, and typed results.
 * Reference values: the float64 implementation in __tests__/reference.ts.
 */
import * as tf from '@tensorflow/tfjs';
import {
  AdditiveAttention,
  Attention,
  AttentionError,
  ContentAttention,
  MultiHeadAttention,
  PositionalAttention,
  PositionEmbedding,
  SelfAttention,
  TokenAndPositionEmbedding,
  TransformerDecoder,
  TransformerEncoder,
} from '../../src';
import { suggestOption } from '../../src/layers/base/call_options';
import { arr, nested, randn, refMultiHead } from '../reference';
import { mhaList, mhaWeights, t } from './helpers';

/** Tensors the refused calls are given, counted so that only what the layer leaves behind is measured. */
let made = 0;
const input = (shape: number[], dtype: 'float32' | 'int32' = 'float32'): tf.Tensor => {
  made++;
  return tf.zeros(shape, dtype);
};
const given = (x: tf.Tensor): tf.Tensor => {
  made++;
  return x;
};

/** Runs fn and checks it threw an AttentionError matching msg, leaving no tensors but its inputs. */
function expectRefused(fn: () => unknown, msg: RegExp): void {
  made = 0;
  const before = tf.memory().numTensors;
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(AttentionError);
  expect((err as Error).message).toMatch(msg);
  expect(tf.memory().numTensors).toBe(before + made);
}

describe('MultiHeadAttention attentionMask', () => {
  const B = 2;
  const T = 3;
  const S = 4;
  const D = 4;
  const N = 2;
  const K = 2;
  const w = mhaWeights(D, D, D, N, K, K, D, 40);
  const q = randn([B, T, D], 41);
  const v = randn([B, S, D], 42);
  // Batch 0 may see keys 0..3, batch 1 keys 0..1: a key-padding mask.
  const pad = arr([B, S], [1, 1, 1, 1, 1, 1, 0, 0]);

  function layer(): MultiHeadAttention {
    const l = new MultiHeadAttention({ numHeads: N, keyDim: K });
    l.apply([tf.zeros([1, T, D]), tf.zeros([1, S, D])]);
    l.setWeights(mhaList(w));
    return l;
  }

  it('refuses a [B, S] key-padding mask, naming the expected [B, T, S] and the fix', () => {
    const l = layer();
    expectRefused(
      () => l.apply([given(t(q)), given(t(v))], { attentionMask: given(t(pad)) }),
      /^MultiHeadAttention: expected attentionMask of shape \[B, T, S\] = \[2,3,4\] \(or broadcastable to it, e\.g\. \[B, 1, S\]\), but got attentionMask \[2,4\]\. For a \[B, S\] key-padding mask, pass tf\.expandDims\(mask, 1\) \(\[B, 1, S\]\)\.$/,
    );
    expectRefused(() => l.apply([given(t(q)), given(t(v)), given(t(v)), given(tf.ones([B, T, S + 1]))]), /expected attentionMask of shape \[B, T, S\] = \[2,3,4\].*but got attentionMask \[2,3,5\]\.$/);
  });

  it('applies the expanded [B, 1, S] mask per batch, as the float64 reference does', () => {
    const l = layer();
    const mask = tf.expandDims(t(pad), 1);
    const [out, scores] = l.callWithScores([t(q), t(v)], { attentionMask: mask });
    const mask4 = arr([B, 1, T, S]);
    for (let b = 0; b < B; b++) for (let i = 0; i < T; i++) for (let j = 0; j < S; j++) mask4.data[(b * T + i) * S + j] = pad.data[b * S + j];
    const ref = refMultiHead(q, v, v, w, { mask: mask4, emptyRows: 'uniform' });
    expect(out).toBeAllClose(nested(ref.output), 1e-4);
    expect(scores).toBeAllClose(nested(ref.scores), 1e-5);
    // Batch 1, every head: no weight on the padded keys 2, 3.
    const s = scores.arraySync() as number[][][][];
    for (let n = 0; n < N; n++) for (let i = 0; i < T; i++) expect(s[1][n][i][2] + s[1][n][i][3]).toBe(0);
  });
});

describe('errors in the layer\'s name, with the user\'s shapes', () => {
  it('MultiHeadAttention: query and value of different batch sizes', () => {
    const l = new MultiHeadAttention({ numHeads: 2, keyDim: 4 });
    expectRefused(
      () => l.apply([input([2, 5, 8]), input([3, 7, 8])]),
      /^MultiHeadAttention: expected query and value to have the same batch size, but got query \[2,5,8\] and value \[3,7,8\]\.$/,
    );
    expect(l.built).toBe(false);
  });

  it.each([
    ['MultiHeadAttention', () => new MultiHeadAttention({ numHeads: 2, keyDim: 4 })],
    ['Attention', () => new Attention()],
    ['AdditiveAttention', () => new AdditiveAttention()],
    ['ContentAttention', () => new ContentAttention()],
  ])('%s: value and key of different lengths, and batch sizes', (name, make) => {
    expectRefused(
      () => make().apply([input([2, 5, 8]), input([2, 7, 8]), input([2, 6, 8])]),
      new RegExp(`^${name}: expected value and key to have the same length S, but got value \\[2,7,8\\] and key \\[2,6,8\\]\\.$`),
    );
    expectRefused(
      () => make().apply([input([2, 5, 8]), input([2, 7, 8]), input([1, 7, 8])]),
      new RegExp(`^${name}: expected query and key to have the same batch size, but got query \\[2,5,8\\] and key \\[1,7,8\\]\\.$`),
    );
    expectRefused(() => make().apply([input([2, 5])]), new RegExp(`^${name}: expected inputs \\[query, value`));
  });

  it('checks symbolic shapes when a model is built, with null for the unknown batch', () => {
    const a = tf.input({ shape: [5, 8] });
    const b = tf.input({ shape: [7, 8] });
    const c = tf.input({ shape: [6, 8] });
    expectRefused(
      () => new Attention().apply([a, b, c]),
      /^Attention: expected value and key to have the same length S, but got value \[null,7,8\] and key \[null,6,8\]\.$/,
    );
  });

  it('Attention: query and key depths differ', () => {
    expectRefused(
      () => new Attention().apply([input([1, 2, 3]), input([1, 4, 5])]),
      /^Attention: expected query and value \(the key\) to have the same last dimension, but got query \[1,2,3\] and value \(the key\) \[1,4,5\]\.$/,
    );
  });

  it('SelfAttention: an input that is not [B, T, D]', () => {
    expectRefused(() => new SelfAttention({ numHeads: 2, keyDim: 2 }).apply(input([2, 3])), /^SelfAttention: expected an input of rank 3 \[B, T, D\], but got input \[2,3\]\.$/);
    expectRefused(
      () => new PositionalAttention({ numHeads: 2, keyDim: 2, position: 'alibi' }).apply([input([1, 2, 3]), input([1, 2, 3])]),
      /^PositionalAttention: expected one input \[B, T, D\], but got 2 inputs\.$/,
    );
  });

  it.each([
    ['MultiHeadAttention', () => new MultiHeadAttention({ numHeads: 2, keyDim: 8 }), (d: number) => [input([1, 4, d]), input([1, 4, d])], 'query'],
    ['SelfAttention', () => new SelfAttention({ numHeads: 2, keyDim: 8 }), (d: number) => input([1, 4, d]), 'input'],
    ['ContentAttention', () => new ContentAttention({ score: 'general' }), (d: number) => [input([1, 4, d]), input([1, 4, d])], 'query'],
    ['TransformerEncoder', () => new TransformerEncoder({ numHeads: 2, intermediateDim: 8 }), (d: number) => input([1, 4, d]), 'input'],
    ['PositionEmbedding', () => new PositionEmbedding({ sequenceLength: 4 }), (d: number) => input([1, 4, d]), 'input'],
  ])('%s reused at another width says what happened', (name, make, inputs, what) => {
    const l = make() as unknown as tf.layers.Layer;
    tf.dispose(l.apply(inputs(16)) as tf.Tensor);
    expectRefused(
      () => l.apply(inputs(12)),
      new RegExp(`^${name}: expected ${what} of width 16, but got ${what} \\[1,4,12\\]\\. This layer \\('[^']+'\\) was built by its first call, with ${what} \\[1,4,16\\], and its weights fit that width; use a new layer for inputs of another width\\.$`),
    );
  });
});

describe('call options are checked by name', () => {
  const q = () => input([1, 2, 4]);

  it.each([
    ['retrunAttentionScores', /the unknown option retrunAttentionScores \(did you mean returnAttentionScores\?\)/],
    ['return_attention_scores', /the unknown option return_attention_scores \(did you mean returnAttentionScores\?\)/],
    ['causal', /the unknown option causal \(did you mean useCausalMask\?\)/],
    ['frobnicate', /the unknown option frobnicate\.$/],
  ])('MultiHeadAttention refuses %s, listing the valid options', (option, msg) => {
    const l = new MultiHeadAttention({ numHeads: 2, keyDim: 2 });
    expectRefused(() => l.apply([q(), q()], { [option]: true } as never), /^MultiHeadAttention: expected call options among training, mask, attentionMask, returnAttentionScores, useCausalMask, but got /);
    expectRefused(() => l.apply([q(), q()], { [option]: true } as never), msg);
  });

  it.each([
    ['SelfAttention', () => new SelfAttention({ numHeads: 2, keyDim: 2 }), () => q(), 'training, mask, returnAttentionScores'],
    ['PositionalAttention', () => new PositionalAttention({ numHeads: 2, keyDim: 2, position: 'rotary' }), () => q(), 'training, mask, returnAttentionScores'],
    ['ContentAttention', () => new ContentAttention(), () => [q(), q()], 'training, mask, returnAttentionScores'],
    ['Attention', () => new Attention(), () => [q(), q()], 'training, mask, returnAttentionScores, useCausalMask'],
    ['AdditiveAttention', () => new AdditiveAttention(), () => [q(), q()], 'training, mask, returnAttentionScores, useCausalMask'],
    ['TransformerEncoder', () => new TransformerEncoder({ numHeads: 2, intermediateDim: 4 }), () => q(), 'training, mask, inputNames, returnAttentionScores'],
    ['TransformerDecoder', () => new TransformerDecoder({ numHeads: 2, intermediateDim: 4 }), () => q(), 'training, mask, inputNames, useCausalMask, returnAttentionScores'],
    ['PositionEmbedding', () => new PositionEmbedding({ sequenceLength: 2 }), () => q(), 'training, mask, startIndex'],
    ['TokenAndPositionEmbedding', () => new TokenAndPositionEmbedding({ vocabularySize: 4, sequenceLength: 2, embeddingDim: 4 }), () => input([1, 2], 'int32'), 'training, mask, startIndex'],
  ])('%s refuses an unknown option and lists its own', (name, make, inputs, valid) => {
    expectRefused(
      () => (make() as tf.layers.Layer).apply(inputs() as tf.Tensor, { start_index: 1, bogus: 2 }),
      new RegExp(`^${name}: expected call options among ${valid}, but got unknown options start_index${valid.includes('startIndex') ? ' \\(did you mean startIndex\\?\\)' : ''}, bogus\\.$`),
    );
  });

  it('refuses a misspelled option at compile time too', () => {
    const l = new MultiHeadAttention({ numHeads: 2, keyDim: 2 });
    // @ts-expect-error: retrunAttentionScores is not a MultiHeadAttention call option
    expectRefused(() => l.apply([q(), q()], { retrunAttentionScores: true }), /unknown option retrunAttentionScores/);
  });

  it('checks the rank of value and key too', () => {
    expectRefused(
      () => new Attention().apply([input([1, 2, 4]), input([1, 3, 4]), input([3, 4])]),
      /^Attention: expected key of rank 3 \[B, S, D\], but got key \[3,4\]\.$/,
    );
  });

  it('accepts the declared options (and still computes with them)', () => {
    const l = new Attention();
    const out = l.apply([tf.tensor3d([[[1, 0], [0, 1]]]), tf.tensor3d([[[1, 0], [0, 1]]])], { useCausalMask: true, training: false }) as tf.Tensor;
    // Row 0 sees only key 0: output row 0 = value row 0.
    expect((out.arraySync() as number[][][])[0][0]).toEqual([1, 0]);
  });

  it('suggests by camelCase, synonym and spelling distance only when close', () => {
    expect(suggestOption('use_causal_mask', ['useCausalMask'])).toBe('useCausalMask');
    expect(suggestOption('causal', ['useCausalMask'])).toBe('useCausalMask');
    expect(suggestOption('returnAttentionScore', ['returnAttentionScores'])).toBe('returnAttentionScores');
    expect(suggestOption('xyz', ['training', 'mask'])).toBeUndefined();
  });
});

describe('one name for one concept: renamed constructor arguments', () => {
  it.each([
    ['SelfAttention', () => new SelfAttention({ numHeads: 2, keyDim: 2, causal: true } as never), /^SelfAttention: expected useCausalMask \(causal was renamed useCausalMask, the name Keras's layers use\), but got causal=true; pass \{ useCausalMask: true \}\.$/],
    ['SelfAttention', () => new SelfAttention({ numHeads: 2, keyDim: 2, outputDim: 5 } as never), /^SelfAttention: expected outputShape \(outputDim was renamed outputShape, the name Keras's layers use\), but got outputDim=5; pass \{ outputShape: 5 \}\.$/],
    ['PositionalAttention', () => new PositionalAttention({ numHeads: 2, keyDim: 2, position: 'alibi', causal: false } as never), /^PositionalAttention: expected useCausalMask \(causal was renamed/],
    ['ContentAttention', () => new ContentAttention({ causal: true } as never), /^ContentAttention: expected useCausalMask \(causal was renamed/],
  ])('%s refuses the old name', (_name, make, msg) => {
    expectRefused(make, msg);
  });

  it('loads a config saved with the old names', () => {
    const cfg = { name: 'sa', numHeads: 2, keyDim: 2, causal: true, outputDim: 6 };
    // What tfjs's deserialisation (tf.loadLayersModel) calls with a saved config.
    const layer = SelfAttention.fromConfig(SelfAttention, cfg);
    const c = layer.getConfig();
    expect([c['useCausalMask'], c['outputShape'], 'causal' in c, 'outputDim' in c]).toEqual([true, 6, false, false]);
    const ca = ContentAttention.fromConfig(ContentAttention, { name: 'ca', causal: true });
    expect(ca.getConfig()['useCausalMask']).toBe(true);
  });

  it('refuses an outputShape of more than one dimension', () => {
    expectRefused(
      () => new SelfAttention({ numHeads: 2, keyDim: 2, outputShape: [4, 2] as unknown as [number] }),
      /^SelfAttention: expected outputShape to be a positive integer, but got outputShape=\[4,2\]\.$/,
    );
    expectRefused(() => new SelfAttention({ numHeads: 2, keyDim: 2, outputShape: [] as unknown as [number] }), /but got outputShape=\[\]\.$/);
  });

  it('outputShape sets the output width', () => {
    const out = new SelfAttention({ numHeads: 2, keyDim: 2, outputShape: 5 }).apply(tf.zeros([1, 3, 4])) as tf.Tensor;
    expect(out.shape).toEqual([1, 3, 5]);
  });
});

describe('typed [output, scores]', () => {
  it('callWithScores returns [output, scores] whatever the constructor says', () => {
    const l = new MultiHeadAttention({ numHeads: 2, keyDim: 2 });
    const [out, scores] = l.callWithScores([tf.zeros([1, 3, 4]), tf.zeros([1, 5, 4])]);
    expect([out.shape, scores.shape]).toEqual([[1, 3, 4], [1, 2, 3, 5]]);
    const single: tf.Tensor = l.apply([tf.zeros([1, 3, 4]), tf.zeros([1, 5, 4])], { returnAttentionScores: false });
    expect(single.shape).toEqual([1, 3, 4]);
    const [o2, s2] = new Attention().apply([tf.zeros([1, 3, 4]), tf.zeros([1, 5, 4])], { returnAttentionScores: true });
    expect([o2.shape, s2.shape]).toEqual([[1, 3, 4], [1, 3, 5]]);
    // Rows of attention weights sum to 1.
    expect(tf.sum(scores, -1)).toBeAllClose(tf.ones([1, 2, 3]), 1e-6);
  });
});
