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
 * keyword arguments become extra positional inputs, in the order the library's
 * layers document (see {@link KERAS_TENSOR_KWARGS}).
 */
import { AttentionError } from '../errors';

/** A JSON value as it comes out of model.json. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/**
 * For layers whose Keras `call` takes tensors as keyword arguments: the Keras
 * call signature after the first argument, and which of those names are
 * tensors that become positional inputs of the tfjs layer (in that order).
 */
export interface TensorKwargsSpec {
  /** Keras call parameters after the first, in signature order (for positional args). */
  signature: string[];
  /** Tensor parameters, in the order the tfjs layer takes them after the first input. */
  inputs: string[];
  /**
   * When a later input is given but an earlier one is not: the name of the
   * input whose tensor fills the gap (e.g. MultiHeadAttention's key defaults to
   * value). Gaps without a filler are an error.
   */
  fill?: Record<string, string>;
  /** Input order to use instead when the named tensor argument is absent. */
  inputsWithout?: Record<string, string[]>;
  /**
   * The layer takes a call kwarg `input_names` naming its inputs after the
   * first, so absent arguments are skipped instead of being an error.
   */
  namedInputs?: boolean;
}

/**
 * Tensor keyword arguments of Keras calls and where they go in the library's
 * layers:
 * - MultiHeadAttention(query, value, key?, attention_mask?) → inputs
 *   [query, value, key, attentionMask] (a missing key is value, as in Keras).
 * - keras-hub TransformerEncoder(inputs, padding_mask?, attention_mask?) →
 *   [x, paddingMask, attentionMask].
 * - keras-hub TransformerDecoder(decoder_sequence, encoder_sequence?,
 *   decoder_padding_mask?, decoder_attention_mask?, encoder_padding_mask?,
 *   encoder_attention_mask?) → inputs in that order; without an encoder
 *   sequence, [decoderSequence, decoderPaddingMask?, decoderAttentionMask?].
 *   The blocks also receive `input_names`, so absent arguments are skipped.
 *
 * Register an entry here (by class name) before loading to map the tensor
 * keyword arguments of your own layers.
 */
export const KERAS_TENSOR_KWARGS: Record<string, TensorKwargsSpec> = {
  MultiHeadAttention: {
    signature: [
      'value', 'key', 'query_mask', 'value_mask', 'key_mask', 'attention_mask',
      'return_attention_scores', 'training', 'use_causal_mask',
    ],
    inputs: ['value', 'key', 'attention_mask'],
    fill: { key: 'value' },
  },
  TransformerEncoder: {
    signature: ['padding_mask', 'attention_mask', 'training', 'return_attention_scores'],
    inputs: ['padding_mask', 'attention_mask'],
    namedInputs: true,
  },
  TransformerDecoder: {
    signature: [
      'encoder_sequence', 'decoder_padding_mask', 'decoder_attention_mask',
      'encoder_padding_mask', 'encoder_attention_mask', 'self_attention_cache',
      'self_attention_cache_update_index', 'cross_attention_cache',
      'cross_attention_cache_update_index', 'use_causal_mask', 'training',
    ],
    inputs: [
      'encoder_sequence', 'decoder_padding_mask', 'decoder_attention_mask',
      'encoder_padding_mask', 'encoder_attention_mask',
    ],
    inputsWithout: { encoder_sequence: ['decoder_padding_mask', 'decoder_attention_mask'] },
    namedInputs: true,
  },
};

/**
 * Call arguments that become layer config: tfjs-layers 4.22's model executor
 * (predict / fit) does not pass a node's stored call kwargs back to the layer,
 * so options given at call time in Keras are moved into the layer's config,
 * whose layers take them as constructor arguments. `input_names` is written
 * by the tensor-kwargs rewrite above.
 */
export const CALL_ARGS_AS_CONFIG: Record<string, string[]> = {
  MultiHeadAttention: ['use_causal_mask', 'return_attention_scores'],
  TransformerEncoder: ['input_names'],
  TransformerDecoder: ['use_causal_mask', 'input_names'],
};

/** Keys Keras 3 adds to serialised objects that tfjs does not read. */
const KERAS3_ONLY_KEYS = ['module', 'registered_name', 'build_config', 'compile_config', 'shared_object_id'];

/** A reference to an output tensor of a layer: [layerName, nodeIndex, tensorIndex]. */
type TensorRef = [string, number, number];

/** Error for model.json content the loader cannot read. */
export class KerasFormatError extends AttentionError {
  constructor(message: string) {
    super(message);
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

function readKeras3Node(node: Record<string, Json>, layer: string, className: string): CallRecord {
  const args: Json[] = Array.isArray(node.args) ? node.args : [];
  const kwargs: Record<string, Json> = isObject(node.kwargs) ? node.kwargs : {};
  if (args.length === 0) fail(`expected at least one positional argument in an inbound node of layer '${layer}', but got none.`);
  const toRefs = (a: Json): TensorRef[] => {
    if (isKerasTensor(a)) return [historyOf(a, layer)];
    if (Array.isArray(a) && a.every(isKerasTensor)) return a.map((t) => historyOf(t, layer));
    return fail(`expected the first argument of layer '${layer}' to be a tensor or a list of tensors, but got ${JSON.stringify(a).slice(0, 200)}.`);
  };
  const rec: CallRecord = { first: toRefs(args[0]), named: {}, tensorNamed: new Set() };
  const spec = KERAS_TENSOR_KWARGS[className];
  args.slice(1).forEach((a, i) => {
    const name = spec?.signature[i];
    if (name === undefined) {
      fail(`layer '${layer}' (${className}) was called with ${args.length} positional arguments, which the loader cannot map; call it with keyword arguments in Keras.`);
    }
    rec.named[name] = a;
  });
  Object.assign(rec.named, kwargs);
  for (const [k, v] of Object.entries(rec.named)) {
    if (isKerasTensor(v)) {
      rec.named[k] = historyOf(v, layer);
      rec.tensorNamed.add(k);
    } else if (Array.isArray(v) && v.length > 0 && v.every(isKerasTensor)) {
      fail(`layer '${layer}' (${className}) has a list of tensors as keyword argument '${k}', which tfjs layers cannot take.`);
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
 * Rewrites one call into a tf.keras-2 inbound node: tensor kwargs become
 * positional inputs (KERAS_TENSOR_KWARGS), the rest stay as call kwargs.
 */
function toListNode(rec: CallRecord, layer: string, className: string): Json[] {
  const kwargs: Record<string, Json> = {};
  for (const [k, v] of Object.entries(rec.named)) if (!rec.tensorNamed.has(k)) kwargs[k] = v;
  const refs = rec.first.slice();
  if (rec.tensorNamed.size > 0) {
    const base = KERAS_TENSOR_KWARGS[className];
    const variant = base === undefined ? undefined
      : Object.entries(base.inputsWithout ?? {}).find(([absent]) => !rec.tensorNamed.has(absent));
    const spec = base === undefined ? undefined : { ...base, inputs: variant ? variant[1] : base.inputs };
    const unknown = [...rec.tensorNamed].filter((k) => spec === undefined || !spec.inputs.includes(k));
    if (unknown.length > 0) {
      fail(`layer '${layer}' (${className}) takes tensor keyword argument(s) ${unknown.map((k) => `'${k}'`).join(', ')}, which the loader cannot map to inputs; supported: ${Object.entries(KERAS_TENSOR_KWARGS).map(([c, s]) => `${c}(${s.inputs.join(', ')})`).join('; ')}.`);
    }
    if (spec === undefined) return fail('unreachable');
    if (spec.namedInputs) {
      const names = spec.inputs.filter((k) => rec.tensorNamed.has(k));
      for (const k of names) refs.push(rec.named[k] as TensorRef);
      kwargs.input_names = names;
      return refs.map((r, i) => [r[0], r[1], r[2], i === 0 ? kwargs : {}]);
    }
    const last = Math.max(...spec.inputs.map((k, i) => (rec.tensorNamed.has(k) ? i : -1)));
    for (let i = 0; i <= last; i++) {
      const name = spec.inputs[i];
      if (rec.tensorNamed.has(name)) {
        refs.push(rec.named[name] as TensorRef);
      } else if (spec.fill?.[name] !== undefined && rec.tensorNamed.has(spec.fill[name])) {
        refs.push(rec.named[spec.fill[name]] as TensorRef);
      } else {
        fail(`layer '${layer}' (${className}) was given '${spec.inputs[last]}' without '${name}', which the library's ${className} cannot take (inputs are [first, ${spec.inputs.join(', ')}] in that order).`);
      }
    }
  }
  return refs.map((r, i) => [r[0], r[1], r[2], i === 0 ? kwargs : {}]);
}

function normaliseInboundNodes(nodes: Json, layer: string, className: string): Json[] {
  if (nodes === undefined || nodes === null) return [];
  if (!Array.isArray(nodes)) fail(`expected inbound_nodes of layer '${layer}' to be a list, but got ${JSON.stringify(nodes)}.`);
  return nodes.map((node: Json) => {
    if (isObject(node)) return toListNode(readKeras3Node(node, layer, className), layer, className);
    if (Array.isArray(node)) return toListNode(readKeras2Node(node, layer), layer, className);
    return fail(`expected an inbound node of layer '${layer}' to be a list or {args, kwargs}, but got ${JSON.stringify(node)}.`);
  });
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

function normaliseLayer(layer: Json, functional: boolean): Json {
  if (!isObject(layer) || typeof layer.class_name !== 'string' || !isObject(layer.config)) {
    fail(`expected each layer to be {class_name, config, ...}, but got ${JSON.stringify(layer).slice(0, 200)}.`);
  }
  const className = kerasClassName(
    typeof layer.registered_name === 'string' && layer.registered_name.includes('>') ? layer.registered_name : layer.class_name);
  let config = cleanConfig(layer.config);
  if (className === 'InputLayer') config = normaliseInputLayerConfig(config);
  else if (config.batch_shape !== undefined) {
    config.batch_input_shape = config.batch_shape;
    delete config.batch_shape;
  }
  const name = typeof layer.name === 'string' ? layer.name : config.name;
  const out: Record<string, Json> = { class_name: className, config, name };
  if (functional) {
    out.inbound_nodes = normaliseInboundNodes(layer.inbound_nodes, name, className);
    moveCallArgsToConfig(out, className);
  }
  return out;
}

/** Moves CALL_ARGS_AS_CONFIG kwargs from every inbound node into the config (they must agree). */
function moveCallArgsToConfig(layer: Record<string, Json>, className: string): void {
  const keys = CALL_ARGS_AS_CONFIG[className] ?? [];
  for (const key of keys) {
    const values = (layer.inbound_nodes as Json[][]).map((node) => {
      const kwargs = node[0]?.[3] ?? {};
      const v = kwargs[key];
      delete kwargs[key];
      return v;
    });
    const seen = values.filter((v) => v !== undefined).map((v) => JSON.stringify(v));
    if (new Set(seen).size > 1) {
      fail(`layer '${layer.name}' (${className}) is called with different values of '${key}' (${[...new Set(seen)].join(', ')}); tfjs layers take it once, as configuration. Use one layer per setting.`);
    }
    if (seen.length > 0) layer.config[key] = JSON.parse(seen[0]);
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
export function normaliseKerasTopology(topology: Json): Json {
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
    const layers: Json[] = [];
    let pendingShape: Json;
    for (const l of config.layers) {
      const n = normaliseLayer(l, false);
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
  const layers = config.layers.map((l: Json) => normaliseLayer(l, true));
  return {
    class_name: 'Model',
    config: {
      name: config.name,
      layers,
      input_layers: normaliseEndpoints(config.input_layers, 'input_layers'),
      output_layers: normaliseEndpoints(config.output_layers, 'output_layers'),
    },
  };
}

/** Every layer class name a normalised topology uses. */
export function layerClassNames(normalised: Json): Array<{ name: string; className: string }> {
  return (normalised.config.layers as Json[]).map((l) => ({
    name: l.name ?? l.config?.name,
    className: l.class_name,
  }));
}
