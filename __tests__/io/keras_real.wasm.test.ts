/**
 * Real Keras files load and predict as Keras does, on every backend of the
 * jest project (cpu and wasm): the fixtures in __tests__/fixtures/keras-real/
 * (and keras-real-extra/ when present) were made by running Keras 3.16 and
 * tensorflowjs_converter's own code (see their README); every expected value
 * here is Keras's output, read from those files.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import '../../src';
import { loadKerasModel } from '../../src/io/keras';
import {
  conversions, Json, layerHandler, modelDirs, oneLayerTopology, predictModel, readJson, REAL, REAL_EXTRA, shapeOf,
} from './keras_real_cases';

const TOL = 1e-4;


const asFloat = (x: Json) => tf.cast(tf.tensor(x), 'float32');

describe.each([REAL, REAL_EXTRA].flatMap((root) => modelDirs(root).map((m) => [path.basename(root), m, path.join(root, m)])))(
  'real Keras model %s/%s',
  (_set, _name, dir) => {
    const ways = [...conversions(dir), 'keras_to_json'];
    it.each(ways)('loads from %s and predicts within 1e-4 of Keras', async (way) => {
      const before = tf.memory().numTensors;
      const { got, want, model } = await predictModel(dir, way);
      expect(got.length).toBe(want.length);
      got.forEach((g, i) => {
        expect(g.shape).toEqual(shapeOf(want[i]));
        expect(g).toBeAllClose(want[i], TOL);
      });
      tf.dispose(got);
      model.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  },
);

describe('real Keras MultiHeadAttention layers (mha.json)', () => {
  const mha = readJson(REAL, 'mha.json');
  const cases: Json[] = mha.cases;

  async function load(c: Json, scores: boolean): Promise<tf.LayersModel> {
    const layer = mha.layers[c.layer];
    const tensors: Record<string, number[]> = {};
    for (const [k, v] of Object.entries(c.inputs)) tensors[k] = shapeOf(v);
    const kwargs: Record<string, Json> = {};
    for (const k of Object.keys(c.inputs)) if (k !== 'query') kwargs[k] = k;
    if (c.kwargs.attention_mask !== undefined) {
      tensors.attention_mask = shapeOf(c.kwargs.attention_mask);
      kwargs.attention_mask = 'attention_mask';
    }
    if (c.kwargs.use_causal_mask !== undefined) kwargs.use_causal_mask = c.kwargs.use_causal_mask;
    if (scores) kwargs.return_attention_scores = true;
    const topology = oneLayerTopology({ class_name: 'MultiHeadAttention', config: layer.config }, tensors, ['query'], kwargs, scores ? 2 : 1);
    return loadKerasModel(layerHandler(topology, layer.weights));
  }

  function inputsOf(c: Json): tf.Tensor[] {
    const xs = Object.values(c.inputs).map(asFloat);
    if (c.kwargs.attention_mask !== undefined) xs.push(asFloat(c.kwargs.attention_mask));
    return xs;
  }

  it.each(cases.filter((c) => c.keras_masks === undefined).map((c) => [c.name, c]))(
    '%s: output and scores, and the output without scores, within 1e-4 of Keras',
    async (name, c) => {
      const withScores = await load(c, true);
      const xs = inputsOf(c);
      const [out, scores] = withScores.predict(xs) as tf.Tensor[];
      expect(out).toBeAllClose(c.output, TOL);
      expect(scores).toBeAllClose(c.scores, TOL);
      const plain = await load(c, false);
      const y = plain.predict(xs) as tf.Tensor;
      expect(y).toBeAllClose(c.output_without_scores_call, TOL);
      tf.dispose([out, scores, y, ...xs]);
      withScores.dispose();
      plain.dispose();
    },
  );

  it.each(cases.filter((c) => c.keras_masks !== undefined).map((c) => [c.name, c]))(
    '%s: Keras masks on the input tensors act as in Keras',
    async (name, c) => {
      const model = await load(c, false);
      const layer = model.layers.find((l) => l.getClassName() === 'MultiHeadAttention')!;
      const names = Object.keys(c.inputs);
      const xs = names.map((k) => asFloat(c.inputs[k]));
      const masks = names.map((k) => (c.keras_masks[k] === undefined ? null : tf.tensor(c.keras_masks[k], undefined, 'bool')));
      const y = layer.apply(xs, { mask: masks }) as tf.Tensor;
      expect(y).toBeAllClose(c.output_without_scores_call, TOL);
      const [out, scores] = layer.apply(xs, { mask: masks, returnAttentionScores: true }) as tf.Tensor[];
      expect(out).toBeAllClose(c.output, TOL);
      expect(scores).toBeAllClose(c.scores, TOL);
      tf.dispose([y, out, scores, ...xs, ...masks.filter((m): m is tf.Tensor => m !== null)]);
      model.dispose();
    },
  );
});

describe('real Keras Attention and AdditiveAttention layers (attention.json)', () => {
  const cases: Json[] = readJson(REAL, 'attention.json').cases;

  it.each(cases.map((c) => [c.name, c]))('%s: output and scores within 1e-4 of Keras', async (_name, c) => {
    const names = ['query', 'value', 'key'].slice(0, c.inputs.length);
    const tensors = Object.fromEntries(names.map((n, i) => [n, shapeOf(c.inputs[i])]));
    const kwargs = { ...c.call_kwargs, return_attention_scores: true };
    const topology = oneLayerTopology({ class_name: c.class_name, config: c.config }, tensors, [names], kwargs, 2);
    const model = await loadKerasModel(layerHandler(topology, c.weights));
    const xs = c.inputs.map(asFloat);
    let out: tf.Tensor;
    let scores: tf.Tensor;
    if (c.mask === null) {
      [out, scores] = model.predict(xs) as tf.Tensor[];
    } else {
      const layer = model.layers.find((l) => l.getClassName() === c.class_name)!;
      const masks = c.mask.map((m: Json) => (m === null ? null : tf.tensor(m, undefined, 'bool')));
      [out, scores] = layer.apply(xs, { mask: masks }) as tf.Tensor[];
      tf.dispose(masks.filter((m: tf.Tensor | null) => m !== null));
    }
    expect(out).toBeAllClose(c.output, TOL);
    expect(scores).toBeAllClose(c.scores, TOL);
    tf.dispose([out, scores, ...xs]);
    model.dispose();
  });
});
