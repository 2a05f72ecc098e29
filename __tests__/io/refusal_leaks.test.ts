/**
 * The refusal sweep of the Keras loader (the companion of
 * __tests__/layers/refusal_leaks.wasm.test.ts): a real Keras 3 model.json and
 * its weights (Embedding → MultiHeadAttention → Add → LayerNorm → GAP →
 * Dense), made malformed one way at a time, are refused with an
 * AttentionError and leave `tf.memory().numTensors` as it was. Before the
 * fix in loadKerasModel (freeVariablesOnFailure), a model that failed to
 * build kept the weights of the layers built before the failure (13 tensors
 * when the output names no layer, 1 when MultiHeadAttention refused its
 * inputs after the Embedding was built).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { AttentionError, loadKerasModel } from '../../src';

const DIR = path.join(__dirname, '..', 'fixtures', 'keras-real', 'model_mha_nomask', 'tfjs_from_h5');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const modelJson = (): Json => JSON.parse(fs.readFileSync(path.join(DIR, 'model.json'), 'utf8'));
const weightBytes = (): ArrayBuffer => {
  const b = fs.readFileSync(path.join(DIR, 'group1-shard1of1.bin'));
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
};
const layerOf = (j: Json, name: string): Json => j.modelTopology.model_config.config.layers.find((l: Json) => l.name === name);
const handler = (j: Json, weightData: unknown = weightBytes()): tf.io.IOHandler => ({
  load: async () => ({ modelTopology: j.modelTopology, weightSpecs: (j.weightsManifest ?? []).flatMap((g: Json) => g.weights), weightData: weightData as ArrayBuffer }),
});
/** The model.json changed by `change`, with the fixture's weights. */
const changed = (change: (j: Json) => void) => () => {
  const j = modelJson();
  change(j);
  return handler(j);
};

const MALFORMED: Array<[string, () => tf.io.IOHandler, RegExp]> = [
  ['a layer argument out of range (num_heads 0)', changed((j) => (layerOf(j, 'multi_head_attention').config.num_heads = 0)), /^MultiHeadAttention: expected numHeads to be a positive integer, but got numHeads=0\.$/],
  ['an unknown layer argument (num_head)', changed((j) => (layerOf(j, 'multi_head_attention').config.num_head = 2)), /^MultiHeadAttention: expected arguments among .*unknown argument numHead \(did you mean numHeads\?\)/],
  ['an input of rank 1, so the attention gets a 2-D query', changed((j) => (layerOf(j, 'tokens').config.batch_shape = [null])), /^MultiHeadAttention: expected query of rank 3 \[B, T, D\], but got query \[null,6\]\.$/],
  ['an attention call without its value', changed((j) => layerOf(j, 'multi_head_attention').inbound_nodes[0].args.splice(1)), /^MultiHeadAttention: expected inputs \[query, value, key\?, attentionMask\?\], but got 1 input\(s\)\.$/],
  ['an output that names no layer', changed((j) => (j.modelTopology.model_config.config.output_layers = [['ghost', 0, 0]])), /^loadKerasModel: expected output_layers\[0\] to name a layer of the model, but got 'ghost', which no layer is named\.$/],
  // tfjs's Container.fromConfig waits forever for these (an endless loop): the loader refuses them first.
  ['an input of a call that names no layer', changed((j) => (layerOf(j, 'multi_head_attention').inbound_nodes[0].args[0].config.keras_history[0] = 'ghost')), /^loadKerasModel: expected input 0 of call 0 of layer 'multi_head_attention' to name a layer of the model, but got 'ghost', which no layer is named\.$/],
  ['an input from a call a layer never made', changed((j) => (layerOf(j, 'multi_head_attention').inbound_nodes[0].args[0].config.keras_history[1] = 3)), /^loadKerasModel: expected input 0 of call 0 of layer 'multi_head_attention' to name one of the 1 call\(s\) of layer 'embedding', but got node 3\.$/],
  ['two layers that wait on each other', changed((j) => (layerOf(j, 'embedding').inbound_nodes[0].args[0].config.keras_history = ['multi_head_attention', 0, 0])), /^loadKerasModel: expected the layers' calls to form a graph without cycles, but got calls that wait on each other: layer\(s\) .*'embedding'/],
  ['two layers with one name', changed((j) => (layerOf(j, 'dense').name = 'embedding')), /^loadKerasModel: expected layer names to be unique, but got two layers named 'embedding'\.$/],
  ['a layer width that does not fit its weight', changed((j) => (layerOf(j, 'embedding').config.output_dim = 5)), /^loadKerasModel: expected weight 'embedding\/embeddings' .* to have shape \[20,5\], but got \[20,6\]\.$/],
  ['a manifest shape that does not fit the layer', changed((j) => (j.weightsManifest[0].weights[5].shape = [6, 3, 2])), /^loadKerasModel: expected weight 'multi_head_attention\/query\/kernel' .* to have shape \[6,2,3\]/],
  ['a manifest dtype that does not fit the layer (int32 for a float32 kernel)', changed((j) => (j.weightsManifest[0].weights[0].dtype = 'int32')), /^loadKerasModel: expected weight 'dense\/kernel' \('dense\/kernel' of layer 'dense'\) to have dtype float32, but the manifest gives int32\.$/],
  ['a weight dtype tfjs cannot load (float16)', changed((j) => (j.weightsManifest[0].weights[0].dtype = 'float16')), /^loadKerasModel: weight 'dense\/kernel' \(weightSpecs\[0\]\.dtype\) has dtype float16, which cannot be loaded/],
  ['a manifest entry without a name', changed((j) => delete j.weightsManifest[0].weights[0].name), /^loadKerasModel: expected weightSpecs\[0\]\.name to be a non-empty string/],
  ['a layers list that is not a list', changed((j) => (j.modelTopology.model_config.config.layers = 5)), /^loadKerasModel: expected the Functional config to hold a list of layers, but got 5\.$/],
  ['weight data shorter than the manifest', () => handler(modelJson(), weightBytes().slice(0, 100)), /^loadKerasModel: expected weightData to hold the 1284 bytes the weight specs declare, but got 100 bytes\.$/],
  ['weight data longer than the manifest', () => handler(modelJson(), new ArrayBuffer(1292)), /^loadKerasModel: expected weightData to hold the 1284 bytes the weight specs declare, but got 1292 bytes\.$/],
  ['weight data that is a string', () => handler(modelJson(), 'abc'), /^loadKerasModel: expected weightData to be an ArrayBuffer or a list of them, but got the string "abc"\.$/],
  ['a modelTopology that is a string', () => ({ load: async () => ({ modelTopology: 'nope' as never }) }), /^loadKerasModel: expected modelTopology to be a JSON object/],
  ['no modelTopology', () => ({ load: async () => ({ modelTopology: null as never }) }), /^loadKerasModel: expected model\.json to hold a modelTopology/],
];

describe('loadKerasModel: malformed model.json and weights', () => {
  it.each(MALFORMED)('refuses %s with an AttentionError and leaves no tensor', async (_what, make, message) => {
    const before = tf.memory().numTensors;
    let err: unknown;
    try {
      (await loadKerasModel(make())).dispose();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AttentionError);
    expect((err as Error).message).toMatch(message);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('passes an error of the caller\'s IOHandler through unchanged, leaving no tensor', async () => {
    const userError = new Error('disk failed');
    const before = tf.memory().numTensors;
    await expect(loadKerasModel({ load: async () => { throw userError; } })).rejects.toBe(userError);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('the unchanged fixture loads, predicts [B, 3] and frees everything on dispose (the control)', async () => {
    const before = tf.memory().numTensors;
    const model = await loadKerasModel(handler(modelJson()));
    const x = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 0]], undefined, 'int32');
    const y = model.predict(x) as tf.Tensor;
    expect(y.shape).toEqual([1, 3]);
    tf.dispose([x, y]);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
