/**
 * The real-Keras cases: every model directory of a keras-real fixture set
 * (both tensorflowjs_converter paths, and Keras's own `to_json()` topology
 * with `model.weights`), and the layer cases of `mha.json` and
 * `attention.json`. Expected values are Keras 3's own outputs (see the
 * set's README), never the library's.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadKerasModel } from '../../src/io/keras';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export const REAL = path.join(__dirname, '..', 'fixtures', 'keras-real');
export const REAL_EXTRA = path.join(__dirname, '..', 'fixtures', 'keras-real-extra');

export function readJson(...parts: string[]): Json {
  return JSON.parse(fs.readFileSync(path.join(...parts), 'utf8'));
}

/** Model directories (`model_*` with predictions.json) of a fixture set; none if the set is absent. */
export function modelDirs(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root)
    .filter((d) => fs.existsSync(path.join(root, d, 'predictions.json')))
    .sort();
}

/** The conversions present in a model directory (tfjs_from_keras, tfjs_from_h5, ...). */
export function conversions(dir: string): string[] {
  return fs.readdirSync(dir).filter((d) => fs.existsSync(path.join(dir, d, 'model.json'))).sort();
}

/** Feeds for a model from predictions.json's inputs, in the model's input dtypes. */
export function feeds(model: tf.LayersModel, pred: Json): tf.Tensor[] {
  const inputs: Json[] = model.inputs.length > 1 ? pred.inputs : [pred.inputs];
  return inputs.map((x, i) => tf.tensor(x, undefined, model.inputs[i].dtype));
}

/** An IOHandler over Keras's `model.to_json()` and `model.weights` as weights.json lists them. */
export function toJsonHandler(dir: string): tf.io.IOHandler {
  const topology = readJson(dir, 'keras_to_json.json');
  const weights: Json[] = readJson(dir, 'weights.json');
  const specs = weights.map((w) => ({ name: w.path, shape: w.shape, dtype: 'float32' as const }));
  const data = new Float32Array(weights.flatMap((w) => [w.value].flat(Infinity) as number[]));
  return {
    load: async () => ({ modelTopology: topology, weightSpecs: specs, weightData: data.buffer }),
  };
}

/** Loads one way of a model directory and predicts its inputs: [got, want]. */
export async function predictModel(dir: string, way: string): Promise<{ got: tf.Tensor[]; want: Json[]; model: tf.LayersModel }> {
  const model = way === 'keras_to_json'
    ? await loadKerasModel(toJsonHandler(dir))
    : await loadKerasModel(path.join(dir, way, 'model.json'));
  const pred = readJson(dir, 'predictions.json');
  const xs = feeds(model, pred);
  const out = model.predict(xs.length === 1 ? xs[0] : xs) as tf.Tensor | tf.Tensor[];
  tf.dispose(xs);
  const got = Array.isArray(out) ? out : [out];
  return { got, want: got.length > 1 ? pred.predictions : [pred.predictions], model };
}

/** A Keras 3 `__keras_tensor__` reference to output 0 of a layer. */
function kt(layer: string): Json {
  return { class_name: '__keras_tensor__', config: { keras_history: [layer, 0, 0] } };
}

function inputLayer(name: string, shape: number[], dtype = 'float32'): Json {
  return { class_name: 'InputLayer', name, config: { name, batch_shape: [null, ...shape], dtype }, inbound_nodes: [] };
}

/**
 * A one-layer Keras 3 functional topology around a layer config as Keras
 * wrote it: one InputLayer per tensor argument, the layer's node with those
 * tensors as Keras passed them (`args`, `kwargs`), and its outputs.
 */
export function oneLayerTopology(
  layer: { class_name: string; config: Json },
  tensors: Record<string, number[]>,
  args: Json[],
  kwargs: Record<string, Json>,
  outputs: number,
): Json {
  const name = layer.config.name;
  const inputs = Object.entries(tensors).map(([n, s]) => inputLayer(n, s.slice(1)));
  const ref = (v: Json): Json => (typeof v === 'string' && v in tensors ? kt(v) : Array.isArray(v) ? v.map(ref) : v);
  return {
    class_name: 'Functional',
    config: {
      name: 'case',
      layers: [...inputs, {
        module: 'keras.layers', class_name: layer.class_name, config: layer.config, name,
        inbound_nodes: [{ args: args.map(ref), kwargs: Object.fromEntries(Object.entries(kwargs).map(([k, v]) => [k, ref(v)])) }],
      }],
      input_layers: Object.keys(tensors).map((n) => [n, 0, 0]),
      output_layers: Array.from({ length: outputs }, (_, i) => [name, 0, i]),
    },
  };
}

/** An IOHandler over a topology and weights listed as Keras's `layer.weights` (path, shape, value). */
export function layerHandler(topology: Json, weights: Json[]): tf.io.IOHandler {
  const specs = weights.map((w) => ({ name: w.path, shape: w.shape, dtype: 'float32' as const }));
  const data = new Float32Array(weights.flatMap((w) => [w.value].flat(Infinity) as number[]));
  return { load: async () => ({ modelTopology: topology, weightSpecs: specs, weightData: data.buffer }) };
}

export function shapeOf(x: Json): number[] {
  const s: number[] = [];
  let v = x;
  while (Array.isArray(v)) {
    s.push(v.length);
    v = v[0];
  }
  return s;
}
