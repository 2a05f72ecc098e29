import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import '../../src';
import { loadKerasModel } from '../../src/io/keras';
import { fileSystem } from '../../src/io/file_system';
import { MultiHeadAttention } from '../../src/layers/multi_head_attention';
import { TokenAndPositionEmbedding } from '../../src/layers/token_and_position_embedding';
import { TransformerDecoder } from '../../src/layers/transformer_decoder';
import { TransformerEncoder } from '../../src/layers/transformer_encoder';
import { normaliseKerasTopology, kerasClassName } from '../../src/io/keras_format';
import type { CallSignature } from '../../src/layers/base/call_signature';

/** A user's layer whose Keras call takes two tensors a, b as keyword arguments: it declares them, io/ is not edited. */
class Gappy extends tf.layers.Layer {
  static className = 'Gappy';
  static readonly callSignature: CallSignature = { keras: ['a', 'b'], tensorInputs: ['a', 'b'], optionsAsConfig: [], callOptions: [] };
}
tf.serialization.registerClass(Gappy);

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'keras');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

function readJson(dir: string, file: string): Json {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, dir, file), 'utf8'));
}

/** An IOHandler over an in-memory model.json and the fixture's weight bytes. */
function memoryHandler(modelJson: Json, weightData?: ArrayBuffer): tf.io.IOHandler {
  return {
    load: async () => ({
      modelTopology: modelJson.modelTopology,
      weightSpecs: (modelJson.weightsManifest ?? []).flatMap((g: Json) => g.weights),
      weightData,
    }),
  };
}

function fixtureBytes(dir: string): ArrayBuffer {
  const b = fs.readFileSync(path.join(FIXTURES, dir, 'group1-shard1of1.bin'));
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
}

async function predictFixture(model: tf.LayersModel, dir: string): Promise<{ got: tf.Tensor; want: Json }> {
  const expected = readJson(dir, 'expected.json');
  const feeds = expected.inputs.map((i: Json) => tf.tensor(i.value, i.shape, i.dtype));
  const got = model.predict(feeds.length === 1 ? feeds[0] : feeds) as tf.Tensor;
  tf.dispose(feeds);
  return { got, want: expected.output };
}

// Hand-written fixtures, kept only where no real file exists (tf.keras 2 and keras-nlp formats; a
// TransformerDecoder called with encoder_padding_mask= in a model). Keras 3 is tested on real files:
// keras_real.wasm.test.ts, and K3 below.
const STANDARD = ['keras2_standard', 'keras2_sequential'];
const ATTENTION = ['keras2_mha', 'keras2_nlp_encoder', 'keras3_hub_decoder'];
/** A real Keras 3.16 file (relative to FIXTURES): Embedding → MHA(x, x) → Add → LayerNorm → GAP → Dense, from the .h5 converter path. */
const K3 = path.join('..', 'keras-real', 'model_mha_nomask', 'tfjs_from_h5');
const K3_PREDICTIONS = path.join('..', 'keras-real', 'model_mha_nomask', 'predictions.json');

describe('loadKerasModel', () => {
  it.each([...STANDARD, ...ATTENTION])('loads %s from a model.json path and predicts within 1e-5 of the float64 reference', async (dir) => {
    const model = await loadKerasModel(path.join(FIXTURES, dir, 'model.json'));
    const { got, want } = await predictFixture(model, dir);
    expect(got.shape).toEqual(want.shape);
    expect(got).toBeAllClose(want.value, 1e-5);
    got.dispose();
    model.dispose();
  });

  it('loads from a tf.io.IOHandler and from a file:// path (a real Keras 3 file), predicting as Keras', async () => {
    const dir = K3;
    const pred = readJson('.', K3_PREDICTIONS);
    const fromHandler = await loadKerasModel(memoryHandler(readJson(dir, 'model.json'), fixtureBytes(dir)));
    const fromUrl = await loadKerasModel(`file://${path.join(FIXTURES, dir, 'model.json')}`);
    for (const m of [fromHandler, fromUrl]) {
      const x = tf.tensor2d(pred.inputs, undefined, 'int32');
      const got = m.predict(x) as tf.Tensor;
      expect(got).toBeAllClose(pred.predictions, 1e-4);
      tf.dispose([x, got]);
      m.dispose();
    }
  });

  it('reproduces tfjs#8328: tf.loadLayersModel rejects a Keras 3 model.json that loadKerasModel loads', async () => {
    const dir = K3;
    await expect(tf.loadLayersModel(memoryHandler(readJson(dir, 'model.json'), fixtureBytes(dir))))
      .rejects.toThrow(/An InputLayer should be passed either a `batchInputShape` or an `inputShape`/);
  });

  it('matches weights by Keras name, not by manifest order', async () => {
    const dir = 'keras2_standard';
    const json = readJson(dir, 'model.json');
    const bytes = new Uint8Array(fixtureBytes(dir));
    // Move the first weight (embedding/embeddings, 7x4 floats) to the end of the manifest and the bytes.
    const specs = json.weightsManifest[0].weights;
    const firstBytes = 7 * 4 * 4;
    const reordered = new Uint8Array(bytes.length);
    reordered.set(bytes.subarray(firstBytes), 0);
    reordered.set(bytes.subarray(0, firstBytes), bytes.length - firstBytes);
    json.weightsManifest[0].weights = [...specs.slice(1), specs[0]];
    const model = await loadKerasModel(memoryHandler(json, reordered.buffer));
    const { got, want } = await predictFixture(model, dir);
    expect(got).toBeAllClose(want.value, 1e-5);
    got.dispose();
    model.dispose();
  });

  it('does not leak tensors, on success or on a weight error', async () => {
    const before = tf.memory().numTensors;
    const hub = path.join('..', 'keras-real', 'model_hub_encoder', 'tfjs_from_h5');
    const model = await loadKerasModel(path.join(FIXTURES, hub, 'model.json'));
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const json = readJson(hub, 'model.json');
    json.weightsManifest[0].weights[2].shape = [1, 120, 1];
    await expect(loadKerasModel(memoryHandler(json, fixtureBytes(hub)))).rejects.toThrow(/to have shape \[20,6\], but got \[1,120,1\]/);
    expect(tf.memory().numTensors).toBe(before);
  });

  describe('errors', () => {
    const dir = K3;

    it('names a missing weight', async () => {
      const json = readJson(dir, 'model.json');
      const specs = json.weightsManifest[0].weights;
      json.weightsManifest[0].weights = specs.filter((w: Json) => w.name !== 'multi_head_attention/attention_output/bias');
      await expect(loadKerasModel(memoryHandler(json, fixtureBytes(dir).slice(0, -24)))).rejects.toThrow(
        /expected weight 'multi_head_attention\/attention_output\/bias' \(shape \[6\], 'multi_head_attention\/attention_output\/bias' of layer 'multi_head_attention' \(MultiHeadAttention\)\) in the weights manifest, but it is missing; the manifest has 'multi_head_attention\/query\/kernel'/);
    });

    it('names a weight of the wrong shape', async () => {
      const json = readJson(dir, 'model.json');
      const w = json.weightsManifest[0].weights.find((x: Json) => x.name === 'dense/kernel');
      w.shape = [3, 6];
      await expect(loadKerasModel(memoryHandler(json, fixtureBytes(dir)))).rejects.toThrow(
        /expected weight 'dense\/kernel' \('dense\/kernel' of layer 'dense'\) to have shape \[6,3\], but got \[3,6\]/);
    });

    it('names unused weights in strict mode, and ignores them with strict: false', async () => {
      const json = readJson(dir, 'model.json');
      json.weightsManifest[0].weights.push({ name: 'stray/kernel', shape: [1], dtype: 'float32' });
      const bytes = new Uint8Array(fixtureBytes(dir).byteLength + 4);
      bytes.set(new Uint8Array(fixtureBytes(dir)));
      await expect(loadKerasModel(memoryHandler(json, bytes.buffer))).rejects.toThrow(/unused weight\(s\) 'stray\/kernel'/);
      const model = await loadKerasModel(memoryHandler(json, bytes.buffer), { strict: false });
      expect(model.layers.length).toBe(7);
      model.dispose();
    });

    it('names an unknown layer class and says how to register it', async () => {
      const json = readJson(dir, 'model.json');
      json.modelTopology.model_config.config.layers[1].class_name = 'MyDense';
      json.modelTopology.model_config.config.layers[1].registered_name = 'my_pkg>MyDense';
      await expect(loadKerasModel(memoryHandler(json, fixtureBytes(dir)))).rejects.toThrow(
        /unknown layer class for layer\(s\) 'embedding' \(MyDense\).*tf\.serialization\.registerClass\(MyDense\)/);
    });

    it('rejects a model.json path that is not JSON', async () => {
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'keras-'));
      const file = path.join(tmp, 'model.json');
      fs.writeFileSync(file, '{"modelTopology": ');
      await expect(loadKerasModel(file)).rejects.toThrow(/fileSystem: could not parse .*model\.json/);
      await expect(loadKerasModel(path.join(tmp, 'absent', 'model.json'))).rejects.toThrow(/absent/);
      fs.rmSync(tmp, { recursive: true });
    });

    it('rejects a binary graph-model topology and weights without data', async () => {
      await expect(loadKerasModel({ load: async () => ({ modelTopology: new ArrayBuffer(4) }) })).rejects.toThrow(
        /expected a layers-model modelTopology \(JSON\), but got a binary graph-model topology; load graph models with tf\.loadGraphModel/);
      await expect(loadKerasModel(memoryHandler(readJson(dir, 'model.json')))).rejects.toThrow(/expected weight data for the weights manifest, but got none/);
    });

    it('rejects a model.json without modelTopology, and an unsupported source', async () => {
      await expect(loadKerasModel(memoryHandler({}))).rejects.toThrow(/expected model\.json to hold a modelTopology/);
      await expect(loadKerasModel(42 as never)).rejects.toThrow(/expected a path to model\.json, a URL or a tf\.io\.IOHandler/);
    });

    it('rejects a missing weight file', async () => {
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'keras-'));
      fs.copyFileSync(path.join(FIXTURES, dir, 'model.json'), path.join(tmp, 'model.json'));
      await expect(loadKerasModel(path.join(tmp, 'model.json'))).rejects.toThrow(/weight file .*group1-shard1of1\.bin listed in .*model\.json could not be read/);
      fs.rmSync(tmp, { recursive: true });
    });
  });
});

describe('saving and loading again', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'keras-roundtrip-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  async function same(a: tf.LayersModel, b: tf.LayersModel, feeds: tf.Tensor[]): Promise<void> {
    const x = feeds.length === 1 ? feeds[0] : feeds;
    const ya = a.predict(x) as tf.Tensor;
    const yb = b.predict(x) as tf.Tensor;
    expect(yb.shape).toEqual(ya.shape);
    expect(Array.from(yb.dataSync())).toEqual(Array.from(ya.dataSync()));
    tf.dispose([ya, yb]);
  }

  it('a tfjs model of the library\'s layers, saved with fileSystem, loads with identical predictions (tf.loadLayersModel and loadKerasModel)', async () => {
    const ids = tf.input({ shape: [5], dtype: 'int32', name: 'ids' });
    const pad = tf.input({ shape: [5], name: 'pad' });
    const emb = new TokenAndPositionEmbedding({ vocabularySize: 11, sequenceLength: 8, embeddingDim: 8 }).apply(ids) as tf.SymbolicTensor;
    const enc = new TransformerEncoder({ intermediateDim: 12, numHeads: 2, normalizeFirst: true }).apply([emb, pad]) as tf.SymbolicTensor;
    const dec = new TransformerDecoder({ intermediateDim: 12, numHeads: 2, inputNames: ['encoderSequence', 'encoderPaddingMask'] })
      .apply([emb, enc, pad]) as tf.SymbolicTensor;
    const out = new MultiHeadAttention({ numHeads: 2, keyDim: 4, useCausalMask: true }).apply([dec, enc]) as tf.SymbolicTensor;
    const model = tf.model({ inputs: [ids, pad], outputs: out });
    await model.save(fileSystem(tmp));
    const again = await tf.loadLayersModel(fileSystem(tmp));
    const viaKeras = await loadKerasModel(tmp);
    const feeds = [tf.tensor2d([[1, 5, 9, 2, 0], [3, 3, 7, 0, 0]], undefined, 'int32'), tf.tensor2d([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])];
    await same(model, again, feeds);
    await same(model, viaKeras, feeds);
    tf.dispose(feeds);
    [model, again, viaKeras].forEach((m) => m.dispose());
  });

  it.each(ATTENTION)('a loaded Keras model (%s), saved with fileSystem, loads again with identical predictions', async (dir) => {
    const model = await loadKerasModel(path.join(FIXTURES, dir, 'model.json'));
    await model.save(fileSystem(tmp));
    const again = await tf.loadLayersModel(fileSystem(tmp));
    const expected = readJson(dir, 'expected.json');
    const feeds = expected.inputs.map((i: Json) => tf.tensor(i.value, i.shape, i.dtype));
    await same(model, again, feeds);
    tf.dispose(feeds);
    model.dispose();
    again.dispose();
  });
});

describe('normaliseKerasTopology', () => {
  const k3 = (): Json => readJson(K3, 'model.json').modelTopology;

  it('turns Keras 3 batch_shape, dtype policies and {args, kwargs} nodes into tf.keras 2 form', () => {
    const out = normaliseKerasTopology(k3());
    expect(out.class_name).toBe('Model');
    const [input, embedding] = out.config.layers;
    expect(input.config.batch_input_shape).toEqual([null, 8]);
    expect(input.config.batch_shape).toBeUndefined();
    expect(embedding.config.dtype).toBe('float32');
    expect(embedding.config.embeddings_initializer).toEqual({ class_name: 'RandomUniform', config: { minval: -0.05, maxval: 0.05, seed: null } });
    expect(embedding.inbound_nodes).toEqual([[['tokens', 0, 0, {}]]]);
    expect(out.config.input_layers).toEqual([['tokens', 0, 0]]);
    expect(out.config.output_layers).toEqual([['dense', 0, 0]]);
  });

  it('rewrites MultiHeadAttention tensor kwargs (Keras 2 lists and Keras 3 tensors) into inputs [query, value, key, mask]', () => {
    const k2Node = [[['q', 0, 0, { value: ['v', 0, 0], attention_mask: ['m', 0, 0], use_causal_mask: true }]]];
    const t = (n: string): Json => ({ class_name: '__keras_tensor__', config: { shape: [null, 2, 4], dtype: 'float32', keras_history: [n, 0, 0] } });
    const k3Node = [{ args: [t('q'), t('v')], kwargs: { key: t('k'), use_causal_mask: false } }];
    const topo = (nodes: Json): Json => ({
      class_name: 'Functional',
      config: { name: 'm', layers: [{ class_name: 'MultiHeadAttention', config: { name: 'mha' }, name: 'mha', inbound_nodes: nodes }], input_layers: [], output_layers: [] },
    });
    const k2 = normaliseKerasTopology(topo(k2Node)).config.layers[0];
    expect(k2.inbound_nodes).toEqual([[['q', 0, 0, {}], ['v', 0, 0, {}], ['v', 0, 0, {}], ['m', 0, 0, {}]]]);
    // tfjs's executor drops stored call kwargs, so call options move into the config.
    expect(k2.config.use_causal_mask).toBe(true);
    const k3 = normaliseKerasTopology(topo(k3Node)).config.layers[0];
    expect(k3.inbound_nodes).toEqual([[['q', 0, 0, {}], ['v', 0, 0, {}], ['k', 0, 0, {}]]]);
    expect(k3.config.use_causal_mask).toBe(false);
  });

  it('names the tensor kwargs of keras-hub blocks in input_names, skipping absent ones', () => {
    const node = [[['dec', 0, 0, { encoder_sequence: ['enc', 0, 0], encoder_padding_mask: ['pad', 0, 0], use_causal_mask: true }]]];
    const topo = { class_name: 'Functional', config: { name: 'm', layers: [{ class_name: 'keras_nlp>TransformerDecoder', config: { name: 'd' }, inbound_nodes: node }], input_layers: [], output_layers: [] } };
    const out = normaliseKerasTopology(topo).config.layers[0];
    expect(out.class_name).toBe('TransformerDecoder');
    expect(out.inbound_nodes).toEqual([[['dec', 0, 0, {}], ['enc', 0, 0, {}], ['pad', 0, 0, {}]]]);
    expect(out.config).toMatchObject({ use_causal_mask: true, input_names: ['encoder_sequence', 'encoder_padding_mask'] });
  });

  it('resolves registered names (keras_hub>, keras_nlp>, Custom>) to the class name', () => {
    expect(kerasClassName('keras_hub>TransformerEncoder')).toBe('TransformerEncoder');
    expect(kerasClassName('keras_nlp>TransformerDecoder')).toBe('TransformerDecoder');
    expect(kerasClassName('Custom>MultiHeadAttention')).toBe('MultiHeadAttention');
    expect(kerasClassName('Dense')).toBe('Dense');
  });

  it.each([
    ['a non-object topology', 3, /expected modelTopology to be an object/],
    ['a topology without class_name', { config: {} }, /expected modelTopology to hold \{class_name, config\}/],
    ['a subclassed model', { class_name: 'MyModel', config: { layers: [] } }, /expected a Functional, Model or Sequential topology, but got class 'MyModel'/],
    ['layers that are not a list', { class_name: 'Functional', config: { layers: 1 } }, /expected the Functional config to hold a list of layers/],
    ['a malformed layer', { class_name: 'Functional', config: { layers: [{ config: {} }], input_layers: [], output_layers: [] } }, /expected each layer to be \{class_name, config/],
    ['a malformed inbound node', { class_name: 'Functional', config: { layers: [{ class_name: 'Dense', config: { name: 'd' }, inbound_nodes: [3] }] } }, /expected an inbound node of layer 'd' to be a list or \{args, kwargs\}/],
    ['a keras tensor without history', { class_name: 'Functional', config: { layers: [{ class_name: 'Dense', config: { name: 'd' }, inbound_nodes: [{ args: [{ class_name: '__keras_tensor__', config: {} }], kwargs: {} }] }] } }, /expected a keras_history \[layer, node, tensor\] in a __keras_tensor__ of layer 'd'/],
    ['a mixed-precision policy', { class_name: 'Sequential', config: { layers: [{ class_name: 'Dense', config: { dtype: { class_name: 'DTypePolicy', config: { name: 'mixed_float16' } } } }] } }, /expected a float32 dtype policy, but got "mixed_float16"/],
    ['an unmapped tensor kwarg', { class_name: 'Functional', config: { layers: [{ class_name: 'Dense', config: { name: 'd' }, inbound_nodes: [[['x', 0, 0, { extra: ['y', 0, 0] }]]] }] } }, /expected the tensor keyword arguments of layer 'd' to be inputs its class takes, but got 'extra' \(Dense declares no call signature/],
    ['a shared layer called with different call options', { class_name: 'Functional', config: { layers: [{ class_name: 'MultiHeadAttention', config: { name: 'h' }, inbound_nodes: [[['x', 0, 0, { value: ['x', 0, 0], use_causal_mask: true }]], [['y', 0, 0, { value: ['y', 0, 0], use_causal_mask: false }]]] }], input_layers: [], output_layers: [] } }, /expected layer 'h' \(MultiHeadAttention\) to be called with one value of 'use_causal_mask', but got true, false/],
    ['a node without positional arguments', { class_name: 'Functional', config: { layers: [{ class_name: 'Dense', config: { name: 'd' }, inbound_nodes: [{ args: [], kwargs: {} }] }], input_layers: [], output_layers: [] } }, /expected at least one positional argument in an inbound node of layer 'd'/],
    ['a first argument that is not a tensor', { class_name: 'Functional', config: { layers: [{ class_name: 'Dense', config: { name: 'd' }, inbound_nodes: [{ args: [3], kwargs: {} }] }], input_layers: [], output_layers: [] } }, /expected the first argument of layer 'd' to be a tensor or a list of tensors, but got 3/],
    ['an unmappable second positional argument', { class_name: 'Functional', config: { layers: [{ class_name: 'Dense', config: { name: 'd' }, inbound_nodes: [{ args: [{ class_name: '__keras_tensor__', config: { keras_history: ['x', 0, 0] } }, { class_name: '__keras_tensor__', config: { keras_history: ['x', 0, 0] } }], kwargs: {} }] }], input_layers: [], output_layers: [] } }, /expected layer 'd' \(Dense\) to be called with one positional argument \(its class declares no call signature\), but got 2/],
    ['a list of tensors as a keyword argument', { class_name: 'Functional', config: { layers: [{ class_name: 'Dense', config: { name: 'd' }, inbound_nodes: [{ args: [{ class_name: '__keras_tensor__', config: { keras_history: ['x', 0, 0] } }], kwargs: { mask: [{ class_name: '__keras_tensor__', config: { keras_history: ['x', 0, 0] } }, { class_name: '__keras_tensor__', config: { keras_history: ['x', 0, 0] } }] } }] }], input_layers: [], output_layers: [] } }, /expected keyword argument 'mask' of layer 'd' \(Dense\) to be one tensor, but got a list of 2 tensors/],
    ['a malformed list-style entry', { class_name: 'Functional', config: { layers: [{ class_name: 'Dense', config: { name: 'd' }, inbound_nodes: [[[3, 0, 0, {}]]] }], input_layers: [], output_layers: [] } }, /expected inbound node entries of layer 'd' to be \[layer, node, tensor, kwargs\], but got \[3,0,0,\{\}\]/],
    ['inbound nodes that are not a list', { class_name: 'Functional', config: { layers: [{ class_name: 'Dense', config: { name: 'd' }, inbound_nodes: 5 }], input_layers: [], output_layers: [] } }, /expected inbound_nodes of layer 'd' to be a list, but got 5/],
    ['input layers that are not a list', { class_name: 'Functional', config: { layers: [], input_layers: 'x', output_layers: [] } }, /expected input_layers to be a list of \[layer, node, tensor\], but got "x"/],
    ['a gap in positional tensor kwargs', { class_name: 'Functional', config: { layers: [{ class_name: 'Gappy', config: { name: 'g' }, inbound_nodes: [[['x', 0, 0, { b: ['m', 0, 0] }]]] }], input_layers: [], output_layers: [] } }, /expected layer 'g' \(Gappy\) to be given 'a' with 'b', but got 'b' alone/],
  ])('rejects %s', (_name, topology, message) => {
    expect(() => normaliseKerasTopology(topology)).toThrow(message);
  });
});

describe('loadKerasModel with Keras 3 operation nodes and masks', () => {
  const kt = (layer: string) => ({ class_name: '__keras_tensor__', config: { keras_history: [layer, 0, 0] } });
  const topo = (layers: Json[], outputs: string) => ({
    class_name: 'Functional',
    config: {
      name: 'm',
      layers: [{ class_name: 'InputLayer', name: 'x', config: { name: 'x', batch_shape: [null, 3], dtype: 'int32' }, inbound_nodes: [] }, ...layers],
      input_layers: [['x', 0, 0]],
      output_layers: [[outputs, 0, 0]],
    },
  });

  it('rewrites an operation node into a KerasOperation layer whose inputs are its distinct tensors', () => {
    const t = topo([{ class_name: 'LogicalOr', name: 'or', config: { name: 'or' }, inbound_nodes: [{ args: [kt('x'), kt('x')], kwargs: {} }] }], 'or');
    const layer = normaliseKerasTopology(t).config.layers[1];
    expect(layer.class_name).toBe('KerasOperation');
    expect(layer.config.operation).toBe('LogicalOr');
    expect(layer.inbound_nodes).toEqual([[['x', 0, 0, {}]]]);
  });

  it('runs an operation node in a loaded model (NotEqual of the tokens)', async () => {
    const t = topo([{ class_name: 'NotEqual', name: 'ne', config: { name: 'ne' }, module: 'keras.src.ops.numpy', inbound_nodes: [{ args: [kt('x'), 0], kwargs: {} }] }], 'ne');
    const model = await loadKerasModel(memoryHandler({ modelTopology: t }));
    const x = tf.tensor2d([[4, 0, 1]], undefined, 'int32');
    const y = model.predict(x) as tf.Tensor;
    expect(y.dtype).toBe('bool');
    expect(Array.from(y.dataSync())).toEqual([1, 0, 1]);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('runs a GetItem node with Keras\'s serialised slices (x[:, 1:])', async () => {
    const slice = (start: number | null, stop: number | null) => ({ class_name: '__slice__', config: { start, stop, step: null } });
    const t = topo([{ class_name: 'GetItem', name: 'gi', config: { name: 'gi' }, module: 'keras.src.ops.numpy', inbound_nodes: [{ args: [kt('x'), [slice(null, null), slice(1, null)]], kwargs: {} }] }], 'gi');
    const model = await loadKerasModel(memoryHandler({ modelTopology: t }));
    const x = tf.tensor2d([[4, 0, 1], [7, 8, 9]], undefined, 'int32');
    const y = model.predict(x) as tf.Tensor;
    expect(y.arraySync()).toEqual([[0, 1], [8, 9]]);
    tf.dispose([x, y]);
    model.dispose();
  });

  it.each([
    ['an operation the loader does not run, naming it and listing what it runs',
      [{ class_name: 'Einsum', name: 'es', config: { name: 'es', subscripts: 'ab->ba' }, module: 'keras.src.ops.numpy', inbound_nodes: [{ args: [kt('x')], kwargs: {} }] }],
      /layer 'es' is the operation 'Einsum' \(a keras\.ops call recorded in the graph\)\. Supported operations: Add, Subtract/],
    ['an operation called twice',
      [{ class_name: 'Exp', name: 'e', config: { name: 'e' }, module: 'keras.src.ops.numpy', inbound_nodes: [{ args: [kt('x')], kwargs: {} }, { args: [kt('x')], kwargs: {} }] }],
      /expected operation 'e' \(Exp\) to be called once, but got 2 calls/],
    ['an operation with an object argument',
      [{ class_name: 'Add', name: 'a', config: { name: 'a' }, module: 'keras.src.ops.numpy', inbound_nodes: [{ args: [kt('x'), { class_name: '__numpy__', config: {} }], kwargs: {} }] }],
      /expected the arguments of operation 'a' \(Add\) to be tensors, numbers, booleans, slices or lists of them, but got \{"class_name":"__numpy__"/],
    ['an operation without tensors',
      [{ class_name: 'Exp', name: 'e', config: { name: 'e' }, module: 'keras.src.ops.numpy', inbound_nodes: [{ args: [1], kwargs: {} }] }],
      /expected operation 'e' \(Exp\) to take at least one tensor, but got none/],
    ['an explicit Keras mask on a layer that takes none',
      [{ class_name: 'Dense', name: 'd', config: { name: 'd', units: 2, trainable: true, dtype: 'float32' }, inbound_nodes: [{ args: [kt('x')], kwargs: { mask: kt('x') } }] }],
      /expected the tensor keyword arguments of layer 'd' to be inputs its class takes, but got 'mask' \(Dense declares no call signature, so it takes no tensor keyword arguments; an explicit Keras mask is read by LSTM, GRU, ResetAfterGRU, SimpleRNN, RNN, Bidirectional/],
    ['a layer class nobody registered, before anything else',
      [{ class_name: 'FancyLayer', name: 'f', config: { name: 'f', trainable: true }, inbound_nodes: [{ args: [kt('x'), kt('x')], kwargs: {} }] }],
      /expected every layer class to be registered, but got unknown layer class for layer\(s\) 'f' \(FancyLayer\)/],
  ])('refuses %s', (_name, layers, message) => {
    expect(() => normaliseKerasTopology(topo(layers as Json[], 'x'))).toThrow(message as RegExp);
  });

  it('leaves an explicit Keras mask to tfjs for layers that read the executor\'s mask (LSTM) or declare it as a call option (Attention)', () => {
    const t = topo([
      { class_name: 'LSTM', name: 'l', config: { name: 'l', units: 2, trainable: true }, inbound_nodes: [{ args: [kt('x')], kwargs: { mask: kt('x') } }] },
      { class_name: 'Attention', name: 'a', config: { name: 'a', trainable: true }, inbound_nodes: [{ args: [[kt('l'), kt('l')]], kwargs: { mask: [kt('x'), null] } }] },
    ], 'a');
    const [, lstm, att] = normaliseKerasTopology(t).config.layers;
    expect(lstm.inbound_nodes).toEqual([[['x', 0, 0, {}]]]);
    expect(att.inbound_nodes).toEqual([[['l', 0, 0, {}], ['l', 0, 0, {}]]]);
  });

  it('reads the call signature of a user class given in customObjects', () => {
    class Pair extends tf.layers.Layer {
      static className = 'PairForCustomObjects';
      static readonly callSignature = { keras: ['other'], tensorInputs: ['other'], optionsAsConfig: ['scale'], callOptions: [] };
    }
    const t = topo([{ class_name: 'PairForCustomObjects', name: 'p', config: { name: 'p', trainable: true }, inbound_nodes: [{ args: [kt('x'), kt('x')], kwargs: { scale: 2 } }] }], 'p');
    const layer = normaliseKerasTopology(t, { customObjects: { PairForCustomObjects: Pair as never } }).config.layers[1];
    expect(layer.inbound_nodes).toEqual([[['x', 0, 0, {}], ['x', 0, 0, {}]]]);
    expect(layer.config.scale).toBe(2);
  });

  it('names the .keras file place it looked for when a weight is missing, with what the manifest has there', async () => {
    const dir = path.join(__dirname, '..', 'fixtures', 'keras-real', 'model_mha', 'tfjs_from_keras');
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    const bytes = fs.readFileSync(path.join(dir, 'group1-shard1of1.bin'));
    const weights: Json[] = json.weightsManifest[0].weights;
    const keep = weights.filter((w) => w.name !== 'layers/multi_head_attention/query_dense/vars/1');
    // Drop that weight's 6 floats from the data: weights are stored in manifest order.
    const index = weights.findIndex((w) => w.name === 'layers/multi_head_attention/query_dense/vars/1');
    const offset = weights.slice(0, index).reduce((n, w) => n + 4 * w.shape.reduce((a: number, b: number) => a * b, 1), 0);
    const data = Buffer.concat([bytes.subarray(0, offset), bytes.subarray(offset + 24)]);
    json.weightsManifest[0].weights = keep;
    const before = tf.memory().numTensors;
    await expect(loadKerasModel(memoryHandler(json, data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)))).rejects.toThrow(
      /expected weight 'layers\/multi_head_attention\/query_dense\/vars\/1' \(shape \[2,3\], 'multi_head_attention\/query\/bias' of layer 'multi_head_attention' \(MultiHeadAttention\)\) in the weights manifest, but it is missing; the manifest has 'layers\/multi_head_attention\/key_dense\/vars\/0'/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
