/**
 * Normalises a Keras model topology, as tensorflowjs_converter writes it into
 * model.json's `modelTopology`, into the form tfjs-layers 4.22 deserialises.
 *
 * Two generations of Keras are read:
 * - tf.keras 2.x: `batch_input_shape`, list-style inbound nodes
 *   `[[["layer", node, tensor, {kwargs}], ...], ...]`, where a tensor passed as
 *   a keyword argument is stored as `["layer", node, tensor]` inside kwargs.
 * - Keras 3 (TensorFlow 2.16+): `batch_shape`, `DTypePolicy` objects as
 *   `dtype`, `module` / `registered_name` / `build_config` keys, class
 *   `Functional`, and inbound nodes as `{"args": [...], "kwargs": {...}}`
 *   holding `__keras_tensor__` objects with a `keras_history`.
 *
 * The output is pure tf.keras-2-style JSON (snake_case keys are kept: tfjs's
 * own `convertPythonicToTs` camel-cases them during deserialisation). Tensor
 * keyword arguments become extra positional inputs, in the order the layer
 * class declares in its static `callSignature` (read through tfjs's registry
 * with `callSignatureOf`; io/ holds no per-layer knowledge). Keras 3
 * operation nodes (`NotEqual`, `LogicalOr`, ... recorded by masking) become
 * `KerasOperation` layers.
 */

/** A JSON value as it comes out of model.json. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

import * as tf from '@tensorflow/tfjs';
import { AttentionError } from '../errors';
import { CallSignature, callSignatureOf } from '../layers/base/call_signature';
import { encodeOperationCall, KERAS_OPERATIONS, kerasOperationKey } from '../layers/keras_operation';
import { MASK_AWARE_REPLACEMENTS } from '../tfjs_compat/global_pooling_ignores_mask';
import { resetAfterGRUReplacement } from '../tfjs_compat/gru_lacks_reset_after';
import { moveCallOptionsToConfig } from '../tfjs_compat/executor_drops_call_arguments';

/**
 * tfjs layers that read the mask the executor hands them (`kwargs.mask`, the
 * mask of their first input): a Keras `mask=` tensor argument of theirs is
 * the same mask, so it is left to tfjs. Any other layer given a `mask=`
 * tensor, without declaring it in its call signature, is refused.
 */
const EXECUTOR_MASK_READERS = ['LSTM', 'GRU', 'ResetAfterGRU', 'SimpleRNN', 'RNN', 'Bidirectional'];

/** Options of {@link normaliseKerasTopology}. */
export interface NormaliseOptions {
  /** Classes to read call signatures from before the registry (loadKerasModel's customObjects). */
  customObjects?: tf.serialization.ConfigDict;
}

/** Keys Keras 3 adds to serialised objects that tfjs does not read. */
const KERAS3_ONLY_KEYS = ['module', 'registered_name', 'build_config', 'compile_config', 'shared_object_id'];

/** A reference to an output tensor of a layer: [layerName, nodeIndex, tensorIndex]. */
type TensorRef = [string, number, number];

/** Error for model.json content the loader cannot read. */
export class KerasFormatError extends AttentionError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KerasFormatError';
  }
}

function fail(message: string): never {
  throw new KerasFormatError(`loadKerasModel: ${message}`);
}

function isObject(x: Json): x is Record<string, Json> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

/**
 * The library class name for a Keras class name: a registered-name prefix
 * (`keras_hub>`, `keras_nlp>`, `Custom>`, any `package>`) is dropped, so
 * `keras_hub>TransformerEncoder` resolves to `TransformerEncoder`.
 */
export function kerasClassName(className: string): string {
  const i = className.lastIndexOf('>');
  return i >= 0 ? className.slice(i + 1) : className;
}

/** Keras 3 `DTypePolicy` (or a plain dtype string) → the tfjs dtype string. */
function dtypeOf(dtype: Json): Json {
  if (isObject(dtype) && typeof dtype.class_name === 'string' && /DTypePolicy$/.test(dtype.class_name)) {
    const name = isObject(dtype.config) ? dtype.config.name : undefined;
    if (name === 'float32' || name === 'int32' || name === 'bool') return name;
    fail(`expected a float32 dtype policy, but got ${JSON.stringify(name)} (mixed precision is not supported by tfjs; re-save the model with the float32 policy).`);
  }
  return dtype;
}

/** Recursively drops Keras-3-only keys and turns dtype policies into strings. */
function cleanConfig(x: Json): Json {
  if (Array.isArray(x)) return x.map(cleanConfig);
  if (!isObject(x)) return x;
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(x)) {
    if (KERAS3_ONLY_KEYS.includes(k)) continue;
    out[k] = k === 'dtype' ? dtypeOf(v) : cleanConfig(v);
  }
  if (typeof out.class_name === 'string') out.class_name = kerasClassName(out.class_name);
  return out;
}

function isKerasTensor(x: Json): boolean {
  return isObject(x) && x.class_name === '__keras_tensor__';
}

/** `["layer", 0, 0]`: a tf.keras 2 tensor reference inside kwargs. */
function isListTensorRef(x: Json): x is TensorRef {
  return Array.isArray(x) && x.length === 3 && typeof x[0] === 'string' &&
    typeof x[1] === 'number' && typeof x[2] === 'number';
}

function historyOf(t: Json, layer: string): TensorRef {
  const h = isObject(t.config) ? t.config.keras_history : undefined;
  if (!isListTensorRef(h)) {
    fail(`expected a keras_history [layer, node, tensor] in a __keras_tensor__ of layer '${layer}', but got ${JSON.stringify(h)}.`);
  }
  return [h[0], h[1], h[2]];
}

/**
 * One call of a layer, read from either format: the tensors of its first
 * argument, the remaining named arguments (tensors as TensorRef), and whether
 * the first argument was a list.
 */
interface CallRecord {
  first: TensorRef[];
  named: Record<string, Json>;
  tensorNamed: Set<string>;
}

/** What the loader knows of a layer class: its resolved name and declared call. */
interface LayerClass {
  className: string;
  signature?: CallSignature;
}

function readKeras3Node(node: Record<string, Json>, layer: string, cls: LayerClass): CallRecord {
  const { className, signature } = cls;
  const args: Json[] = Array.isArray(node.args) ? node.args : [];
  const kwargs: Record<string, Json> = isObject(node.kwargs) ? node.kwargs : {};
  if (args.length === 0) fail(`expected at least one positional argument in an inbound node of layer '${layer}', but got none.`);
  const toRefs = (a: Json): TensorRef[] => {
    if (isKerasTensor(a)) return [historyOf(a, layer)];
    if (Array.isArray(a) && a.every(isKerasTensor)) return a.map((t) => historyOf(t, layer));
    return fail(`expected the first argument of layer '${layer}' to be a tensor or a list of tensors, but got ${JSON.stringify(a).slice(0, 200)}.`);
  };
  const rec: CallRecord = { first: toRefs(args[0]), named: {}, tensorNamed: new Set() };
  args.slice(1).forEach((a, i) => {
    const name = signature?.keras[i];
    if (name === undefined) {
      fail(`expected layer '${layer}' (${className}) to be called with one positional argument${signature ? ` and at most ${signature.keras.length} more (${signature.keras.join(', ')})` : ' (its class declares no call signature)'}, but got ${args.length}; call it with keyword arguments in Keras, or declare a static callSignature on ${className}.`);
    }
    rec.named[name] = a;
  });
  Object.assign(rec.named, kwargs);
  for (const [k, v] of Object.entries(rec.named)) {
    if (isKerasTensor(v)) {
      rec.named[k] = historyOf(v, layer);
      rec.tensorNamed.add(k);
    } else if (Array.isArray(v) && v.length > 0 && v.every((t) => t === null || isKerasTensor(t)) && k === 'mask'
      && (signature === undefined ? EXECUTOR_MASK_READERS.includes(className) : signature.keras.includes('mask') && !signature.tensorInputs.includes('mask'))) {
      // Masks given as a list (Attention's [query_mask, value_mask]) reach the tfjs layer with its inputs.
      delete rec.named[k];
    } else if (Array.isArray(v) && v.length > 0 && v.every(isKerasTensor)) {
      fail(`expected keyword argument '${k}' of layer '${layer}' (${className}) to be one tensor, but got a list of ${v.length} tensors, which tfjs layers cannot take.`);
    }
  }
  return rec;
}

function readKeras2Node(node: Json[], layer: string): CallRecord {
  const first: TensorRef[] = [];
  let named: Record<string, Json> = {};
  for (const entry of node) {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string') {
      fail(`expected inbound node entries of layer '${layer}' to be [layer, node, tensor, kwargs], but got ${JSON.stringify(entry)}.`);
    }
    first.push([entry[0], entry[1], entry[2]]);
    if (isObject(entry[3]) && Object.keys(named).length === 0) named = { ...entry[3] };
  }
  const tensorNamed = new Set<string>();
  for (const [k, v] of Object.entries(named)) if (isListTensorRef(v)) tensorNamed.add(k);
  return { first, named, tensorNamed };
}

/**
 * Rewrites one call into a tf.keras-2 inbound node: tensor keyword arguments
 * become positional inputs in the order the layer class's `callSignature`
 * gives (`tensorInputs`), the rest stay as call kwargs.
 */
function toListNode(rec: CallRecord, layer: string, cls: LayerClass): Json[] {
  const { className, signature: base } = cls;
  const kwargs: Record<string, Json> = {};
  for (const [k, v] of Object.entries(rec.named)) if (!rec.tensorNamed.has(k)) kwargs[k] = v;
  const refs = rec.first.slice();
  const node = (): Json[] => refs.map((r, i) => [r[0], r[1], r[2], i === 0 ? kwargs : {}]);
  if (rec.tensorNamed.size === 0) return node();
  // An explicit Keras mask on a tfjs layer that reads the executor's mask: the same mask reaches it from tfjs.
  // So is a Keras mask= argument of a class that declares it as a call option but not as an input.
  const readsMask = base === undefined ? EXECUTOR_MASK_READERS.includes(className)
    : base.keras.includes('mask') && !base.tensorInputs.includes('mask');
  if (readsMask && rec.tensorNamed.has('mask')) {
    rec.tensorNamed.delete('mask');
    if (rec.tensorNamed.size === 0) return node();
  }
  const variant = base === undefined ? undefined
    : Object.entries(base.inputsWithout ?? {}).find(([absent]) => !rec.tensorNamed.has(absent));
  const inputs = base === undefined ? [] : variant ? variant[1] : base.tensorInputs;
  const unknown = [...rec.tensorNamed].filter((k) => !inputs.includes(k));
  if (unknown.length > 0) {
    const takes = base === undefined
      ? `${className} declares no call signature, so it takes no tensor keyword arguments`
      : `${className} takes ${base.tensorInputs.map((k) => `'${k}'`).join(', ')}`;
    fail(`expected the tensor keyword arguments of layer '${layer}' to be inputs its class takes, but got ${unknown.map((k) => `'${k}'`).join(', ')} (${takes}${unknown.includes('mask') ? `; an explicit Keras mask is read by ${EXECUTOR_MASK_READERS.join(', ')} and by layers declaring 'mask' in their callSignature` : ''}).`);
  }
  if (base!.namedInputs) {
    const names = inputs.filter((k) => rec.tensorNamed.has(k));
    for (const k of names) refs.push(rec.named[k] as TensorRef);
    kwargs.input_names = names;
    return node();
  }
  const last = Math.max(...inputs.map((k, i) => (rec.tensorNamed.has(k) ? i : -1)));
  for (let i = 0; i <= last; i++) {
    const name = inputs[i];
    if (rec.tensorNamed.has(name)) {
      refs.push(rec.named[name] as TensorRef);
    } else if (base!.fill?.[name] !== undefined && rec.tensorNamed.has(base!.fill[name])) {
      refs.push(rec.named[base!.fill[name]] as TensorRef);
    } else {
      fail(`expected layer '${layer}' (${className}) to be given '${name}' with '${inputs[last]}', but got '${inputs[last]}' alone (the library's ${className} takes inputs [first, ${inputs.join(', ')}] in that order).`);
    }
  }
  return node();
}

function normaliseInboundNodes(nodes: Json, layer: string, cls: LayerClass): Json[] {
  if (nodes === undefined || nodes === null) return [];
  if (!Array.isArray(nodes)) fail(`expected inbound_nodes of layer '${layer}' to be a list, but got ${JSON.stringify(nodes)}.`);
  return nodes.map((node: Json) => {
    if (isObject(node)) return toListNode(readKeras3Node(node, layer, cls), layer, cls);
    if (Array.isArray(node)) return toListNode(readKeras2Node(node, layer), layer, cls);
    return fail(`expected an inbound node of layer '${layer}' to be a list or {args, kwargs}, but got ${JSON.stringify(node)}.`);
  });
}

/**
 * Whether a Keras 3 layer entry is an operation node (a `keras.ops` call on
 * symbolic tensors) rather than a layer: its `module` says so
 * (`keras.src.ops.numpy`) or, where the converter dropped `module`, its
 * config lacks the `trainable` and `dtype` keys every Keras layer config has
 * and its class is an operation or no registered layer.
 */
export function isOperationNode(layer: Record<string, Json>, className: string): boolean {
  if (typeof layer.module === 'string') return /^keras(\.src)?\.ops(\.|$)/.test(layer.module);
  if (className === 'InputLayer' || !isObject(layer.config) || 'trainable' in layer.config || 'dtype' in layer.config) return false;
  const nodes = layer.inbound_nodes;
  if (!Array.isArray(nodes) || nodes.length === 0 || !nodes.every((n: Json) => isObject(n))) return false;
  const registered = Object.prototype.hasOwnProperty.call(tf.serialization.SerializationMap.getMap().classNameMap, className);
  return kerasOperationKey(className) !== undefined || !registered;
}

/**
 * Rewrites a Keras 3 operation node into a `KerasOperation` layer: the
 * call's tensors (each distinct one once) become the layer's inputs, the
 * rest of the call and the operation's config its `call` template.
 */
function normaliseOperation(layer: Record<string, Json>, name: string, className: string): Json {
  const key = kerasOperationKey(className);
  if (key === undefined) {
    fail(`expected the Keras operations in the model to be ones the loader runs, but layer '${name}' is the operation '${className}' (a keras.ops call recorded in the graph). Supported operations: ${Object.keys(KERAS_OPERATIONS).join(', ')}.`);
  }
  const nodes = layer.inbound_nodes as Json[];
  if (nodes.length !== 1) fail(`expected operation '${name}' (${className}) to be called once, but got ${nodes.length} calls.`);
  const refs: TensorRef[] = [];
  const template = (v: Json): Json => {
    if (isKerasTensor(v)) {
      const h = historyOf(v, name);
      let i = refs.findIndex((r) => r[0] === h[0] && r[1] === h[1] && r[2] === h[2]);
      if (i < 0) i = refs.push(h) - 1;
      return { __input__: i };
    }
    if (Array.isArray(v)) return v.map(template);
    // Slices and the ellipsis of an indexing key (GetItem) stay as Keras wrote them.
    if (isObject(v) && (v.class_name === '__slice__' || v.class_name === '__ellipsis__')) return v;
    if (isObject(v)) {
      fail(`expected the arguments of operation '${name}' (${className}) to be tensors, numbers, booleans, slices or lists of them, but got ${JSON.stringify(v).slice(0, 200)}.`);
    }
    return v;
  };
  const node = nodes[0];
  const args = (Array.isArray(node.args) ? node.args : []).map(template);
  const kwargs: Record<string, Json> = {};
  for (const [k, v] of Object.entries(isObject(node.kwargs) ? node.kwargs : {})) kwargs[k] = template(v);
  if (refs.length === 0) fail(`expected operation '${name}' (${className}) to take at least one tensor, but got none.`);
  const { name: _name, ...opConfig } = layer.config as Record<string, Json>;
  void _name;
  const call = encodeOperationCall({ args, kwargs, config: cleanConfig(opConfig) });
  return {
    class_name: 'KerasOperation',
    name,
    config: { name, operation: key, call, trainable: false },
    inbound_nodes: [refs.map((r) => [r[0], r[1], r[2], {}])],
  };
}

/** The class the loader builds for a Keras class (tfjs's, or a tfjs_compat replacement), by name and config. */
function replacementClass(kerasName: string, config: Record<string, Json>): string {
  return MASK_AWARE_REPLACEMENTS[kerasName] ?? resetAfterGRUReplacement(kerasName, config) ?? kerasName;
}

/** The class the loader builds for a Keras class name, and its declared call. */
function resolveClass(kerasName: string, config: Record<string, Json>, options: NormaliseOptions): LayerClass {
  const className = replacementClass(kerasName, config);
  const custom = options.customObjects?.[className] as unknown;
  const signature = typeof custom === 'function' && Object.prototype.hasOwnProperty.call(custom, 'callSignature')
    ? (custom as unknown as { callSignature: CallSignature }).callSignature
    : callSignatureOf(className);
  return { className, signature };
}

/** Keras 3 writes a single model input/output as a flat [name, node, tensor]. */
function normaliseEndpoints(x: Json, key: string): Json {
  if (isListTensorRef(x)) return [x];
  if (!Array.isArray(x)) fail(`expected ${key} to be a list of [layer, node, tensor], but got ${JSON.stringify(x)}.`);
  return x;
}

function normaliseInputLayerConfig(config: Record<string, Json>): Record<string, Json> {
  const out = { ...config };
  if (out.batch_shape !== undefined) {
    if (out.batch_input_shape === undefined) out.batch_input_shape = out.batch_shape;
    delete out.batch_shape;
  }
  if (out.shape !== undefined && out.batch_input_shape === undefined) {
    out.batch_input_shape = [null, ...out.shape];
  }
  delete out.shape;
  return out;
}

function normaliseLayer(layer: Json, functional: boolean, options: NormaliseOptions): Json {
  if (!isObject(layer) || typeof layer.class_name !== 'string' || !isObject(layer.config)) {
    fail(`expected each layer to be {class_name, config, ...}, but got ${JSON.stringify(layer).slice(0, 200)}.`);
  }
  const kerasName = kerasClassName(
    typeof layer.registered_name === 'string' && layer.registered_name.includes('>') ? layer.registered_name : layer.class_name);
  const name = typeof layer.name === 'string' ? layer.name : layer.config.name;
  if (functional && isOperationNode(layer, kerasName)) return normaliseOperation(layer, name, kerasName);
  const cls = resolveClass(kerasName, layer.config, options);
  let config = cleanConfig(layer.config);
  if (cls.className === 'InputLayer') config = normaliseInputLayerConfig(config);
  else if (config.batch_shape !== undefined) {
    config.batch_input_shape = config.batch_shape;
    delete config.batch_shape;
  }
  const out: Record<string, Json> = { class_name: cls.className, config, name };
  if (functional) {
    out.inbound_nodes = normaliseInboundNodes(layer.inbound_nodes, name, cls);
    const options = [...(cls.signature?.optionsAsConfig ?? []), ...(cls.signature?.namedInputs ? ['input_names'] : [])];
    moveCallOptionsToConfig(out, options);
  }
  return out;
}

/**
 * Refuses, before anything else, layers whose class neither tfjs's registry
 * nor `customObjects` holds, naming each (operation nodes are checked by
 * {@link normaliseOperation}).
 */
function checkClassesKnown(layers: Json[], options: NormaliseOptions): void {
  const map = tf.serialization.SerializationMap.getMap().classNameMap;
  const missing: string[] = [];
  for (const l of layers) {
    if (!isObject(l) || typeof l.class_name !== 'string') continue;
    const kerasName = kerasClassName(typeof l.registered_name === 'string' && l.registered_name.includes('>') ? l.registered_name : l.class_name);
    if (isOperationNode(l, kerasName)) continue;
    const className = replacementClass(kerasName, isObject(l.config) ? l.config : {});
    const known = Object.prototype.hasOwnProperty.call(map, className)
      || (options.customObjects !== undefined && options.customObjects !== null && Object.prototype.hasOwnProperty.call(options.customObjects, className));
    if (!known) missing.push(`'${typeof l.name === 'string' ? l.name : l.config?.name}' (${className})`);
  }
  if (missing.length > 0) {
    fail(`expected every layer class to be registered, but got unknown layer class for layer(s) ${missing.join(', ')}. Import the module that defines it (importing tfjs-attention registers its layers), or register it with tf.serialization.registerClass(${missing[0].split('(')[1].slice(0, -1)}) before loading, or pass it in customObjects.`);
  }
}

/**
 * Normalises a model topology (`modelTopology` of model.json, with or without
 * its `model_config` wrapper) to tf.keras-2-style JSON that tfjs-layers reads.
 *
 * @param topology The parsed `modelTopology`.
 * @returns A new object (the input is not modified): `{class_name, config}`
 *   with class `Model` or `Sequential`.
 * @throws KerasFormatError for malformed or unsupported content, naming the
 *   layer and the key.
 */
export function normaliseKerasTopology(topology: Json, options: NormaliseOptions = {}): Json {
  if (!isObject(topology)) fail(`expected modelTopology to be an object, but got ${JSON.stringify(topology)}.`);
  const model = isObject(topology.model_config) ? topology.model_config : topology;
  if (typeof model.class_name !== 'string' || !isObject(model.config)) {
    fail(`expected modelTopology to hold {class_name, config} (or model_config with them), but got keys [${Object.keys(model).join(',')}].`);
  }
  const modelClass = kerasClassName(model.class_name);
  const config = model.config;
  if (!Array.isArray(config.layers)) {
    fail(`expected the ${modelClass} config to hold a list of layers, but got ${JSON.stringify(config.layers)}.`);
  }
  if (modelClass === 'Sequential') {
    checkClassesKnown(config.layers, options);
    const layers: Json[] = [];
    let pendingShape: Json;
    for (const l of config.layers) {
      const n = normaliseLayer(l, false, options);
      if (n.class_name === 'InputLayer') {
        pendingShape = n.config.batch_input_shape;
        continue;
      }
      if (pendingShape !== undefined && n.config.batch_input_shape === undefined) n.config.batch_input_shape = pendingShape;
      pendingShape = undefined;
      layers.push({ class_name: n.class_name, config: n.config });
    }
    return { class_name: 'Sequential', config: { name: config.name, layers } };
  }
  if (modelClass !== 'Functional' && modelClass !== 'Model') {
    fail(`expected a Functional, Model or Sequential topology, but got class '${model.class_name}' (subclassed models cannot be converted; rebuild them functionally).`);
  }
  checkClassesKnown(config.layers, options);
  const layers = config.layers.map((l: Json) => normaliseLayer(l, true, options));
  const inputLayers = normaliseEndpoints(config.input_layers, 'input_layers');
  const outputLayers = normaliseEndpoints(config.output_layers, 'output_layers');
  return {
    class_name: 'Model',
    config: { name: config.name, layers, input_layers: inputLayers, output_layers: outputLayers },
  };
}

/**
 * Refuses a functional graph (the output of {@link normaliseKerasTopology})
 * tfjs could not build: a node or an endpoint
 * naming no layer, or a node of a layer past its calls, or calls that depend
 * on each other in a cycle. tfjs's `Container.fromConfig` does not refuse
 * these: it waits for the missing node forever (an endless loop that blocks
 * the process), so they are checked here, node by node, in topological order.
 */
export function checkKerasGraph(normalised: Json): void {
  if (!isObject(normalised) || normalised.class_name !== 'Model') return;
  const { layers, input_layers: inputLayers, output_layers: outputLayers } = normalised.config as { layers: Json[]; input_layers: Json[]; output_layers: Json[] };
  const calls = new Map<string, number>(); // layer name → nodes it has (an InputLayer has one)
  for (const l of layers) {
    if (calls.has(l.name)) fail(`expected layer names to be unique, but got two layers named '${l.name}'.`);
    calls.set(l.name, l.class_name === 'InputLayer' ? 1 : (l.inbound_nodes as Json[]).length);
  }
  const refOk = (r: Json, where: string): string => {
    if (!Array.isArray(r) || typeof r[0] !== 'string' || !Number.isInteger(r[1]) || r[1] < 0) {
      fail(`expected ${where} to be [layer, node, tensor], but got ${JSON.stringify(r).slice(0, 200)}.`);
    }
    const n = calls.get(r[0]);
    if (n === undefined) fail(`expected ${where} to name a layer of the model, but got '${r[0]}', which no layer is named.`);
    if (r[1] >= n) fail(`expected ${where} to name one of the ${n} call(s) of layer '${r[0]}', but got node ${r[1]}.`);
    return `${r[0]}#${r[1]}`;
  };
  // Kahn's algorithm over nodes: (layer, call index) ← the nodes its inputs come from.
  const deps = new Map<string, string[]>();
  for (const l of layers) {
    if (l.class_name === 'InputLayer') {
      deps.set(`${l.name}#0`, []);
      continue;
    }
    (l.inbound_nodes as Json[]).forEach((node: Json, i: number) => {
      deps.set(`${l.name}#${i}`, (node as Json[]).map((r: Json, k: number) => refOk(r, `input ${k} of call ${i} of layer '${l.name}'`)));
    });
  }
  inputLayers.forEach((r, k) => refOk(r, `input_layers[${k}]`));
  outputLayers.forEach((r, k) => refOk(r, `output_layers[${k}]`));
  const done = new Set<string>();
  let progress = true;
  while (progress) {
    progress = false;
    for (const [node, from] of deps) {
      if (!done.has(node) && from.every((f) => done.has(f))) {
        done.add(node);
        progress = true;
      }
    }
  }
  const stuck = [...deps.keys()].filter((n) => !done.has(n));
  if (stuck.length > 0) {
    const names = [...new Set(stuck.map((n) => n.split('#')[0]))];
    fail(`expected the layers' calls to form a graph without cycles, but got calls that wait on each other: layer(s) ${names.map((n) => `'${n}'`).join(', ')}.`);
  }
}
