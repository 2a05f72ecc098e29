/**
 * loadKerasModel: loads a Keras model converted by tensorflowjs_converter
 * (`--input_format keras`, layers-model format) whose layers include the
 * library's Keras-compatible layers, from tf.keras 2.x or Keras 3.
 */
import * as tf from '@tensorflow/tfjs';
import { fileSystem } from './file_system';
import { KerasFormatError, layerClassNames, normaliseKerasTopology } from './keras_format';
import { checkHttpOptions, httpLoader, HttpLoadOptions } from './http';
import { checkArtifacts } from './schema';
import { asLibraryError } from './guard';

/** Options of {@link loadKerasModel}. */
export interface LoadKerasModelOptions extends Pick<HttpLoadOptions, 'timeoutMs' | 'signal'> {
  /**
   * Extra classes to resolve layer class names with, keyed by class name, on
   * top of tfjs's registry (which holds the library's layers once imported).
   * Default: none.
   */
  customObjects?: tf.serialization.ConfigDict;
  /**
   * Whether weights in the manifest that no layer uses are an error.
   * Default: true.
   */
  strict?: boolean;
}

const formatError = (message: string) => new KerasFormatError(`loadKerasModel: ${message}`);

function fail(message: string): never {
  throw new KerasFormatError(`loadKerasModel: ${message}`);
}

function shapeStr(shape: readonly (number | null)[]): string {
  return `[${shape.join(',')}]`;
}

function handlerFor(source: string | tf.io.IOHandler, options: LoadKerasModelOptions): tf.io.IOHandler {
  if (typeof source !== 'string') {
    if (source === null || typeof source !== 'object' || typeof source.load !== 'function') {
      fail(`expected a path to model.json, a URL or a tf.io.IOHandler with load(), but got ${String(source)}.`);
    }
    return source;
  }
  if (/^https?:\/\//i.test(source)) return httpLoader(source, { timeoutMs: options.timeoutMs, signal: options.signal });
  return fileSystem(source.startsWith('file://') ? source.slice('file://'.length) : source);
}

function registeredClass(className: string, customObjects?: tf.serialization.ConfigDict): boolean {
  const own = (o: object) => Object.prototype.hasOwnProperty.call(o, className);
  if (customObjects !== undefined && customObjects !== null && own(customObjects)) return true;
  return own(tf.serialization.SerializationMap.getMap().classNameMap);
}

/**
 * Sets every weight of `model` from `named` by Keras weight name, checking
 * presence and shape; names the weight in every error.
 */
function assignWeights(model: tf.LayersModel, named: tf.NamedTensorMap, strict: boolean): void {
  const used = new Set<string>();
  const values: tf.Tensor[] = [];
  const vars: tf.LayerVariable[] = [];
  for (const layer of model.layers) {
    for (const w of layer.weights) {
      const original = w.originalName;
      const candidates = [original];
      if (!original.startsWith(`${layer.name}/`)) {
        candidates.push(`${layer.name}/${original}`);
        const rest = original.split('/').slice(1).join('/');
        if (rest !== '') candidates.push(`${layer.name}/${rest}`);
      }
      const key = candidates.find((c) => Object.prototype.hasOwnProperty.call(named, c) && !used.has(c));
      if (key === undefined) {
        fail(`expected weight '${candidates[candidates.length > 1 ? 1 : 0]}' (shape ${shapeStr(w.shape)}) of layer '${layer.name}' in the weights manifest, but it is missing.`);
      }
      const t = named[key];
      if (!tf.util.arraysEqual(t.shape, w.shape as number[])) {
        fail(`expected weight '${key}' of layer '${layer.name}' to have shape ${shapeStr(w.shape)}, but got ${shapeStr(t.shape)}.`);
      }
      used.add(key);
      vars.push(w);
      values.push(t);
    }
  }
  if (strict) {
    const extra = Object.keys(named).filter((k) => !used.has(k));
    if (extra.length > 0) {
      fail(`expected every weight in the manifest to belong to a layer, but got unused weight(s) ${extra.map((k) => `'${k}'`).join(', ')}.`);
    }
  }
  vars.forEach((v, i) => v.write(values[i]));
}

/**
 * Loads a Keras model converted by tensorflowjs_converter to the layers-model
 * format (model.json plus weight shards), from tf.keras 2.x or Keras 3.
 *
 * The topology is normalised first (see `normaliseKerasTopology`): Keras 3's
 * `batch_shape`, `DTypePolicy` dtypes, `module` / `registered_name` keys and
 * `{args, kwargs}` inbound nodes are rewritten to what tfjs-layers reads;
 * tensor keyword arguments (MultiHeadAttention's `value=` / `key=` /
 * `attention_mask=`, keras-hub blocks' masks and encoder sequence) become
 * positional inputs; registered names such as `keras_hub>TransformerEncoder`
 * resolve to the library's layers. Weights are then matched by their Keras
 * names (`multi_head_attention/query/kernel`), not by order.
 *
 * @param source Path to model.json or its directory (Node, read with
 *   `fileSystem`; a `file://` prefix is accepted), an http(s) URL of model.json, or a
 *   tf.io.IOHandler whose load() returns the artifacts.
 * @param options See {@link LoadKerasModelOptions}.
 * @returns The model, with its weights set, uncompiled.
 * @throws KerasFormatError when model.json is malformed, a layer class is not
 *   registered, a tensor keyword argument cannot be mapped, or a weight is
 *   missing, of the wrong shape, or (strict) unused.
 *
 * @example
 * const model = await loadKerasModel('converted/model.json');
 * model.predict(tf.ones([1, 8, 16])); // shape as in Keras
 */
export async function loadKerasModel(
  source: string | tf.io.IOHandler,
  options: LoadKerasModelOptions = {},
): Promise<tf.LayersModel> {
  checkHttpOptions('loadKerasModel', options);
  const handler = handlerFor(source, options);
  const artifacts = await handler.load!();
  checkArtifacts('loadKerasModel', artifacts);
  if (artifacts === undefined || artifacts === null || artifacts.modelTopology === undefined || artifacts.modelTopology === null) {
    fail('expected model.json to hold a modelTopology (a layers-model from tensorflowjs_converter), but got none.');
  }
  if (artifacts.modelTopology instanceof ArrayBuffer) {
    fail('expected a layers-model modelTopology (JSON), but got a binary graph-model topology; load graph models with tf.loadGraphModel.');
  }
  const normalised = await asLibraryError('could not read modelTopology', () => normaliseKerasTopology(artifacts.modelTopology), formatError);
  const missing = layerClassNames(normalised).filter((l) => !registeredClass(l.className, options.customObjects));
  if (missing.length > 0) {
    const list = missing.map((l) => `'${l.name}' (${l.className})`).join(', ');
    fail(`unknown layer class for layer(s) ${list}. Import the module that defines it (importing tfjs-attention registers its layers) or register it with tf.serialization.registerClass(${missing[0].className}) before loading.`);
  }
  const model = await asLibraryError('tfjs could not build the model from modelTopology',
    () => tf.models.modelFromJSON(normalised as tf.io.ModelJSON['modelTopology'] as never, options.customObjects), formatError);
  const specs = artifacts.weightSpecs ?? [];
  if (specs.length > 0 && artifacts.weightData === undefined) {
    model.dispose();
    fail('expected weight data for the weights manifest, but got none.');
  }
  let named: tf.NamedTensorMap = {};
  try {
    named = specs.length > 0 ? tf.io.decodeWeights(artifacts.weightData!, specs) : {};
    assignWeights(model, named, options.strict ?? true);
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    tf.dispose(Object.values(named));
  }
  return model;
}
