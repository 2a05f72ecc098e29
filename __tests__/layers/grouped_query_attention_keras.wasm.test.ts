/**
 * GroupedQueryAttention and MultiHeadAttention's Keras 3.16 options against
 * real Keras output: __tests__/fixtures/keras-real-extra/{gqa,mha_options,
^ * fully_masked}.json, written by Keras 3.16.0 (torch backend) through
 * scripts/keras-golden/ (its README says exactly how).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { GroupedQueryAttention } from '../../src';
import { attentionLayer, caseShapes, readReal, RealCase, runAttentionCase } from './keras_real_cases';

const files = ['keras-real-extra/gqa.json', 'keras-real-extra/mha_options.json', 'keras-real-extra/fully_masked.json'];

describe.each(files)('%s (real Keras 3.16)', (file) => {
  const real = readReal(file);
  const cases = real.cases.map((c) => [`${c.layer}: ${c.name}`, c] as [string, RealCase]);

  it('was written by Keras 3.16', () => {
    expect(real.env.keras_version).toBe('3.16.0');
    expect(cases.length).toBeGreaterThan(7);
  });

  it.each(cases)('%s: output and scores with returnAttentionScores', (_n, c) => {
    const layer = attentionLayer(real.layers[c.layer], caseShapes(c));
    const [out, scores] = runAttentionCase(layer, c, true) as tf.Tensor[];
    expect(out).toBeAllClose(c.output, 1e-5);
    expect(scores).toBeAllClose(c.scores, 1e-5);
  });

  it.each(cases)('%s: output of the plain call', (_n, c) => {
    const layer = attentionLayer(real.layers[c.layer], caseShapes(c));
    expect(runAttentionCase(layer, c, false) as tf.Tensor).toBeAllClose(c.output_without_scores_call, 1e-5);
  });
});

describe('fully masked rows (keras-real-extra/fully_masked.json)', () => {
  const real = readReal('keras-real-extra/fully_masked.json');
  it.each(real.cases.map((c) => [`${c.layer}: ${c.name}`, c] as [string, RealCase]))('%s: zero scores and the output bias with scores; uniform without', (_n, c) => {
    const spec = real.layers[c.layer];
    const layer = attentionLayer(spec, caseShapes(c));
    const [out, scores] = runAttentionCase(layer, c, true) as tf.Tensor[];
    const plain = runAttentionCase(layer, c, false) as tf.Tensor;
    const bias = spec.weights.find((w) => w.path.endsWith('attention_output/bias'))!.value as number[];
    expect(c.fully_masked_rows!.length).toBeGreaterThan(0);
    const o = out.arraySync() as number[][][];
    const p = plain.arraySync() as number[][][];
    const s = scores.arraySync() as number[][][][];
    for (const [b, t] of c.fully_masked_rows!) {
      expect(o[b][t]).toBeAllClose(bias, 1e-6);
      expect(s[b].every((head) => head[t].every((x) => x === 0))).toBe(true);
      expect(p[b][t]).toBeAllClose(c.output_without_scores_call![b][t], 1e-5);
      expect(p[b][t]).not.toBeAllClose(bias, 1e-3);
    }
  });
});

describe('GroupedQueryAttention in a functional model (keras-real-extra/model_gqa)', () => {
  it('Embedding(maskZero) → GroupQueryAttention(x, x) gives Keras\'s intermediate output', () => {
    const dir = path.join(__dirname, '../fixtures/keras-real-extra/model_gqa');
    const p = JSON.parse(fs.readFileSync(path.join(dir, 'predictions.json'), 'utf8')) as { inputs: number[][]; intermediate: { gqa: number[][][] } };
    const W = JSON.parse(fs.readFileSync(path.join(dir, 'weights.json'), 'utf8')) as Array<{ path: string; shape: number[]; value: number[] }>;
    const w = (name: string) => {
      const x = W.find((q) => q.path === name)!;
      return tf.tensor(x.value, x.shape);
    };
    const ids = tf.input({ shape: [8], dtype: 'int32' });
    const emb = tf.layers.embedding({ inputDim: 20, outputDim: 8, maskZero: true, name: 'embedding' });
    const x = emb.apply(ids) as tf.SymbolicTensor;
    const gqa = new GroupedQueryAttention({ headDim: 4, numQueryHeads: 4, numKeyValueHeads: 2, name: 'gqa' });
    const model = tf.model({ inputs: ids, outputs: gqa.apply([x, x]) as tf.SymbolicTensor });
    emb.setWeights([w('embedding/embeddings')]);
    gqa.setWeights(gqa.weights.map((v) => w(v.originalName)));
    const out = model.predict(tf.tensor(p.inputs, undefined, 'int32')) as tf.Tensor; // one input: its rows
    expect(out).toBeAllClose(p.intermediate.gqa, 1e-5);
    model.dispose();
  });
});
