/**
 * loadKerasModel: loads a Keras model converted by tensorflowjs_converter
 * (layers-model format, from a `.h5` file with `--input_format keras` or from
 * a `.keras` file with `--input_format keras_keras`) whose layers include the
 * library's Keras-compatible layers, from tf.keras 2.x or Keras 3.
 */
import * as tf from '@tensorflow/tfjs';
import { fileSystem } from './file_system';
import { checkHttpOptions, httpLoader, HttpLoadOptions } from './http';
import { checkArtifacts } from './schema';
import { asLibraryError } from './guard';
import { checkKerasGraph, isOperationNode, Json, KerasFormatError, kerasClassName, normaliseKerasTopology } from './keras_format';
import { kerasWeightPathsOf, KerasWeightPaths } from '../layers/base/keras_weight_paths';
import { aliasRepeatedInputsOfModel } from '../tfjs_compat/executor_disposes_repeated_input';
import { matchKerasMaskFlow } from '../tfjs_compat/executor_mask_flow';
import { kerasZeroesMaskedSteps, zeroMaskedRecurrentSteps } from '../tfjs_compat/rnn_masked_steps_repeat_output';
import { withoutBuildLeaks } from '../tfjs_compat/layer_build_leaks_tensors';

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

/**
 * Where tfjs's own layers keep their weights in a `.keras` file, when not
 * directly on the layer: Keras's recurrent layers hold them in their `cell`,
 * `Bidirectional` in `forward_layer/cell` and `backward_layer/cell` (tfjs
 * names the two halves `forward_<name>` and `backward_<name>`).
 */
function tfjsLayerKerasOwner(className: string, owner: string[]): string[] | undefined {
  if (['LSTM', 'GRU', 'ResetAfterGRU', 'SimpleRNN'].includes(className) && owner.length === 0) return ['cell'];
  if (className === 'Bidirectional' && owner.length >= 1) {
    return [owner[0].startsWith('forward') ? 'forward_layer' : 'backward_layer', 'cell'];
  }
  return undefined;
}

/**
 * Keras's `.h5` names of tfjs's own layers' weights where they differ from
 * tfjs's: recurrent layers keep their cell's name (`lstm/lstm_cell/kernel`,
 * tfjs: `lstm/kernel`), `Bidirectional` keeps
 * `<layer>/forward_<rnn>/<cell>/<weight>`.
 */
function tfjsLayerH5Pattern(layer: tf.layers.Layer, relative: string[]): RegExp | undefined {
  const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const cls = layer.getClassName();
  if (['LSTM', 'GRU', 'ResetAfterGRU', 'SimpleRNN'].includes(cls) && relative.length === 1) {
    return new RegExp(`^${esc(layer.name)}/[^/]+/${esc(relative[0])}$`);
  }
  if (cls === 'Bidirectional' && relative.length >= 2) {
    const direction = relative[0].startsWith('forward') ? 'forward' : 'backward';
    return new RegExp(`^${esc(layer.name)}/${direction}_[^/]+/[^/]+/${esc(relative[relative.length - 1])}$`);
  }
  return undefined;
}

/** Keras registered names whose Python class (which names `.keras` paths) is spelt differently. */
const KERAS_PYTHON_CLASS: Readonly<Record<string, string>> = {
  GroupQueryAttention: 'GroupedQueryAttention',
};

/** Keras's `naming.to_snake_case`. */
function toSnakeCase(name: string): string {
  return name
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

/** Whether the manifest names weights by their place in a `.keras` file (`layers/dense/vars/0`). */
function namesKerasFilePaths(names: string[]): boolean {
  return names.length > 0 && names.every((n) => /^(layers\/.+\/)?vars\/\d+$/.test(n));
}

/**
 * Each layer's path in a `.keras` file, by layer name: Keras saves the
 * layers of a Functional or Sequential model under `layers/<snake_case of the
 * Python class>`, with `_1`, `_2`, ... for later layers of the same class, in
 * the order of `model.layers` (the config's order, operation nodes left out).
 */
function kerasFileLayerPaths(topology: Json): Map<string, string> {
  const model = topology?.model_config ?? topology;
  const layers: Json[] = Array.isArray(model?.config?.layers) ? model.config.layers : [];
  const used = new Map<string, number>();
  const out = new Map<string, string>();
  for (const l of layers) {
    const name = typeof l?.name === 'string' ? l.name : l?.config?.name;
    const registered = typeof l?.registered_name === 'string' && l.registered_name.includes('>') ? l.registered_name : l?.class_name;
    const cls = kerasClassName(String(registered));
    if (isOperationNode(l, cls)) continue;
    if (cls === 'InputLayer' && model.class_name === 'Sequential') continue;
    const base = toSnakeCase(KERAS_PYTHON_CLASS[cls] ?? cls);
    const n = used.get(base);
    used.set(base, n === undefined ? 0 : n + 1);
    out.set(name, `layers/${n === undefined ? base : `${base}_${n + 1}`}`);
  }
  return out;
}

/** The sublayer path `owner` (segments) translated by a class's `.keras` weight paths, longest prefix first. */
function translateOwner(owner: string[], paths: KerasWeightPaths | undefined): string[] {
  if (paths === undefined) return owner;
  for (let n = owner.length; n >= 0; n--) {
    const prefix = owner.slice(0, n).join('/');
    if (Object.prototype.hasOwnProperty.call(paths, prefix)) {
      const mapped = paths[prefix] === '' ? [] : paths[prefix].split('/');
      return [...mapped, ...owner.slice(n)];
    }
  }
  return owner;
}

/**
 * The manifest key of every weight of `layer`, for each naming the converter
 * uses: Keras names (`.h5` path: `dense/kernel`, several candidates) or the
 * `.keras` file place (`layers/dense/vars/0`, one key).
 */
function weightKeys(layer: tf.layers.Layer, kerasFile: Map<string, string> | null, modelName: string): Array<Array<string | RegExp>> {
  if (kerasFile === null) {
    return layer.weights.map((w) => {
      const original = w.originalName;
      const candidates: Array<string | RegExp> = [original];
      if (!original.startsWith(`${layer.name}/`)) {
        candidates.push(`${layer.name}/${original}`);
        const rest = original.split('/').slice(1).join('/');
        if (rest !== '') candidates.push(`${layer.name}/${rest}`);
      }
      // Keras writes a Sequential model's weights under the model's name: hub_sequential/dense/kernel.
      candidates.push(...candidates.filter((c): c is string => typeof c === 'string').map((c) => `${modelName}/${c}`));
      const relative = original.startsWith(`${layer.name}/`) ? original.slice(layer.name.length + 1).split('/') : original.split('/').slice(1);
      const pattern = tfjsLayerH5Pattern(layer, relative);
      if (pattern !== undefined) candidates.push(pattern);
      return candidates;
    });
  }
  const root = kerasFile.get(layer.name);
  const paths = kerasWeightPathsOf(layer.getClassName());
  const owners = layer.weights.map((w) => {
    const parts = w.originalName.startsWith(`${layer.name}/`)
      ? w.originalName.slice(layer.name.length + 1).split('/')
      : w.originalName.split('/').slice(1);
    const owner = parts.slice(0, -1);
    return (tfjsLayerKerasOwner(layer.getClassName(), owner) ?? translateOwner(owner, paths)).join('/');
  });
  return owners.map((owner, i) => {
    const index = owners.slice(0, i).filter((o) => o === owner).length;
    return [[root ?? `layers/${layer.name}`, owner, 'vars', String(index)].filter((p) => p !== '').join('/')];
  });
}

/**
 * Sets every weight of `model` from `named` by Keras weight name (or, for a
 * `.keras` conversion, by place in the file), checking presence and shape;
 * names the weight in every error.
 */
function assignWeights(model: tf.LayersModel, named: tf.NamedTensorMap, strict: boolean, topology: Json): void {
  const kerasFile = namesKerasFilePaths(Object.keys(named)) ? kerasFileLayerPaths(topology) : null;
  const used = new Set<string>();
  const values: tf.Tensor[] = [];
  const vars: tf.LayerVariable[] = [];
  for (const layer of model.layers) {
    const keys = weightKeys(layer, kerasFile, model.name);
    layer.weights.forEach((w, wi) => {
      const candidates = keys[wi];
      const names = Object.keys(named);
      const key = candidates
        .map((c) => (typeof c === 'string' ? (Object.prototype.hasOwnProperty.call(named, c) ? c : undefined) : names.find((n) => c.test(n) && !used.has(n))))
        .find((c): c is string => c !== undefined && !used.has(c));
      if (key === undefined) {
        const shown = String(candidates.find((c) => typeof c === 'string' && (c.startsWith(`${layer.name}/`) || c.startsWith('layers/'))) ?? candidates[0]);
        const prefix = shown.split('/').slice(0, kerasFile === null ? 1 : 2).join('/') + '/';
        const near = Object.keys(named).filter((k) => k.startsWith(prefix));
        fail(`expected weight '${shown}' (shape ${shapeStr(w.shape)}, '${w.originalName}' of layer '${layer.name}' (${layer.getClassName()})) in the weights manifest, but it is missing; the manifest has ${near.length > 0 ? near.map((k) => `'${k}'`).join(', ') : `nothing under '${prefix}'`}.`);
      }
      const t = named[key];
      if (!tf.util.arraysEqual(t.shape, w.shape as number[])) {
        fail(`expected weight '${key}' ('${w.originalName}' of layer '${layer.name}') to have shape ${shapeStr(w.shape)}, but got ${shapeStr(t.shape)}.`);
      }
      if (t.dtype !== w.dtype) {
        fail(`expected weight '${key}' ('${w.originalName}' of layer '${layer.name}') to have dtype ${w.dtype}, but the manifest gives ${t.dtype}.`);
      }
      used.add(key);
      vars.push(w);
      values.push(t);
    });
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
 * format (model.json plus weight shards), by either Keras path of the
 * converter (`.h5` or `.keras` file), from tf.keras 2.x or Keras 3, and
 * returns a model that predicts as Keras does.
 *
 * The topology is normalised first (see `normaliseKerasTopology`): Keras 3's
 * `batch_shape`, `DTypePolicy` dtypes, `module` / `registered_name` keys and
 * `{args, kwargs}` inbound nodes are rewritten to what tfjs-layers reads;
 * tensor keyword arguments become inputs and call options become config, as
 * each layer class declares in its static `callSignature`; Keras 3 operation
 * nodes (`NotEqual`, `LogicalOr`, `GetItem`, ...) become `KerasOperation`
 * layers; Keras's mask-aware `GlobalAveragePooling1D` becomes
 * `MaskedGlobalAveragePooling1D`. Weights are then matched by Keras name
 * (`.h5` path: `multi_head_attention/query/kernel`) or by place in the
 * `.keras` file (`layers/multi_head_attention/query_dense/vars/0`, Keras's
 * class-based layer paths and the classes' `kerasWeightPaths`), never by
 * order. Finally the tfjs 4.22 executor's behaviours that would change the
 * numbers are worked around for this model (src/tfjs_compat/: repeated
 * inputs, mask flow, recurrent outputs at masked steps).
 *
 * @param source Path to model.json or its directory (Node, read with
 *   `fileSystem`; a `file://` prefix is accepted), an http(s) URL of model.json, or a
 *   tf.io.IOHandler whose load() returns the artifacts.
 * @param options See {@link LoadKerasModelOptions}.
 * @returns The model, with its weights set, uncompiled.
 * @throws KerasFormatError when model.json is malformed, a layer class is not
 *   registered, a Keras operation is not supported, a tensor keyword argument
 *   is not declared by its layer class, tfjs refuses to build a layer, or a
 *   weight is missing, of the wrong shape, or (strict) unused.
 *
 * @example
 * const model = await loadKerasModel('converted/model.json');
 * model.predict(tf.ones([1, 8, 16])); // shape as in Keras
 */
/**
 * Runs a model build that settles as a promise but builds synchronously (as
 * `withoutBuildLeaks` relies on too) and, when it fails, disposes the
 * variables it made: the layers built before the one that failed kept their
 * weights (13 tensors for a model whose output names no layer). The
 * variables are told apart right after the synchronous part, so a load
 * running at the same time keeps its own.
 */
async function freeVariablesOnFailure<T>(build: () => Promise<T>): Promise<T> {
  const registered = () => tf.engine().registeredVariables;
  const before = new Set(Object.keys(registered()));
  const made = () => Object.keys(registered()).filter((name) => !before.has(name));
  const free = (names: string[]) => names.forEach((name) => registered()[name]?.dispose());
  let pending: Promise<T>;
  try {
    pending = build();
  } catch (e) {
    free(made());
    throw e;
  }
  const ours = made(); // synchronously after the build: only its variables
  try {
    return await pending;
  } catch (e) {
    free(ours);
    throw e;
  }
}

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
  const normalised = await asLibraryError('could not read modelTopology',
    () => normaliseKerasTopology(artifacts.modelTopology, { customObjects: options.customObjects }), formatError);
  // tfjs would wait forever for a call that cannot happen: refuse such graphs first.
  checkKerasGraph(normalised);

  // Building some layers leaks tensors: see tfjs_compat/layer_build_leaks_tensors.ts.
  const model = await asLibraryError('tfjs could not build the model from modelTopology',
    () => freeVariablesOnFailure(() => withoutBuildLeaks(() => tf.models.modelFromJSON(normalised as tf.io.ModelJSON['modelTopology'] as never, options.customObjects))), formatError);
  const specs = artifacts.weightSpecs ?? [];
  if (specs.length > 0 && artifacts.weightData === undefined) {
    model.dispose();
    fail('expected weight data for the weights manifest, but got none.');
  }
  let named: tf.NamedTensorMap = {};
  try {
    named = specs.length > 0 ? tf.io.decodeWeights(artifacts.weightData!, specs) : {};
    assignWeights(model, named, options.strict ?? true, artifacts.modelTopology);
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    tf.dispose(Object.values(named));
  }
  // A layer given one tensor twice (Keras's MHA(x, x)): see tfjs_compat/executor_disposes_repeated_input.ts.
  aliasRepeatedInputsOfModel(model);
  // Recurrent outputs at masked steps as Keras gives them, then masks as Keras moves them.
  const zeroed = new Set<string>((normalised.config.layers as Json[])
    .filter((l) => kerasZeroesMaskedSteps(l.class_name, l.config ?? {}))
    .map((l) => l.name ?? l.config?.name));
  zeroMaskedRecurrentSteps(model, zeroed);
  const version = (artifacts.modelTopology as Json)?.keras_version;
  matchKerasMaskFlow(model, typeof version === 'string' ? version : undefined);
  return model;
}
