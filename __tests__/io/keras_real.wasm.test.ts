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

/**
 * Expectations that belong to another helper's work (issue 9 item 5, the
 * layer maths): Keras >= 3.10 zeroes the scores of a fully masked query row
 * when MultiHeadAttention returns them, so that row's output is the output
 * bias. Switch CHECK_PENDING on once that lands (on a trial merge with main at
 * 4694a7c every one of these passes).
 */
const CHECK_PENDING = true;
const PENDING: Record<string, readonly string[]> = {
  'separate key + attention_mask (row [1,2] fully masked)': ['output', 'scores'],
  'key=value + attention_mask (row [1,2] fully masked)': ['output', 'scores'],
  'causal + attention_mask[:, :, :5], self-attention': ['output', 'scores'],
  'Keras masks on query and value tensors': ['output', 'scores'],
  'Keras masks on query, value and separate key': ['output', 'scores'],
};
const checks = (name: string, what: string) => CHECK_PENDING || !(PENDING[name] ?? []).includes(what);

const asFloat = (x: Json) => tf.cast(tf.tensor(x), 'float32');

/**
 * Models whose numbers depend on another helper's work, each with its own
 * switch (`check`) for the lead at merge time. Until switched on, the
 * loader's part is still checked: the model loads and predicts Keras's shapes
 * (`untilThen: 'loads'`), or the load names the missing layer class. Measured
 * on a trial merge with main at 4694a7c (plus `kerasWeightPaths` on both GQA
 * classes): all but model_attention_options passed with `check: true`; it
 * passes since the mask flow clears the masks Keras's MultiHeadAttention clears.
 */
const PENDING_MODELS: Record<string, { reason: string; check: boolean; untilThen: RegExp | 'loads'; needs?: string }> = {
  model_gqa: {
    reason: 'GroupQueryAttention is the keraslayers helper\'s layer (issue 9 item 6)',
    check: true,
    untilThen: /unknown layer class for layer\(s\) 'gqa' \(Group(ed)?QueryAttention\), 'gqa_causal'/,
    needs: 'GroupQueryAttention',
  },
  model_attention_options: {
    reason: 'GroupQueryAttention with sliding_window=2 and use_gate is the keraslayers helper\'s (item 6); it differed from Keras by up to 1.9 until the mask flow learnt that Keras\'s MultiHeadAttention deletes its inputs\' masks (so in Keras this GroupQueryAttention runs unmasked; see model_mha_clears_masks)',
    check: true,
    untilThen: /unknown layer class for layer\(s\) 'gqa_window_gate' \(Group(ed)?QueryAttention\)/,
    needs: 'GroupQueryAttention',
  },
  model_mha_scores: { reason: 'scores of fully masked query rows are 0 in Keras >= 3.10 (item 5, keraslayers)', check: true, untilThen: 'loads' },
  model_hub_seq2seq: {
    reason: 'the library\'s TransformerDecoder reads the decoder sequence\'s Keras mask as its self-attention query mask; keras-hub\'s CachedMultiHeadAttention does not (layer maths, keraslayers; the encoder output matches Keras to 5e-7)',
    check: true,
    untilThen: 'loads',
  },
};

describe.each([REAL, REAL_EXTRA].flatMap((root) => modelDirs(root).map((m) => [path.basename(root), m, path.join(root, m)])))(
  'real Keras model %s/%s',
  (_set, name, dir) => {
    const entry = PENDING_MODELS[name];
    // Once the layer a pending model needs is registered, its loader part is "loads" whatever the values.
    const registered = (c: string) => Object.prototype.hasOwnProperty.call(tf.serialization.SerializationMap.getMap().classNameMap, c);
    const pending = entry === undefined ? undefined
      : { ...entry, untilThen: entry.needs !== undefined && registered(entry.needs) ? ('loads' as const) : entry.untilThen };
    if (pending !== undefined && !pending.check) {
      // Until the pending work lands: the loader's part is checked (it loads and predicts Keras's shapes, or names the missing layer).
      it.each([...conversions(dir), 'keras_to_json'])(`from %s: ${pending.untilThen === 'loads' ? 'loads and predicts the shapes Keras predicts' : 'names the missing layer class'} (values pending: ${pending.reason})`, async (way) => {
        if (pending.untilThen === 'loads') {
          const { got, want, model } = await predictModel(dir, way);
          expect(got.map((g) => g.shape)).toEqual(want.map(shapeOf));
          tf.dispose(got);
          model.dispose();
        } else {
          await expect(predictModel(dir, way)).rejects.toThrow(pending.untilThen);
        }
      });
      return;
    }
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
      if (checks(name as string, 'output')) expect(out).toBeAllClose(c.output, TOL);
      if (checks(name as string, 'scores')) expect(scores).toBeAllClose(c.scores, TOL);
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
      if (checks(name as string, 'output')) expect(out).toBeAllClose(c.output, TOL);
      if (checks(name as string, 'scores')) expect(scores).toBeAllClose(c.scores, TOL);
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
