/**
 * `KerasOperation`: one Keras 3 operation node (a `keras.ops` call on
 * symbolic tensors, such as the `NotEqual` and `LogicalOr` that
 * `Embedding(mask_zero=True)` and merge layers record for their masks) as a
 * tfjs layer, so that a loaded functional model can run it.
 *
 * Keras 3 stores such a node like a layer: `class_name` is the operation's
 * class (`NotEqual`), `config` holds its constructor arguments (`axis`,
 * `keepdims`, ...), and the inbound node holds its call's arguments, tensors
 * and Python constants mixed (`ops.not_equal(tokens, 0)` is
 * `args: [<tokens>, 0]`). The Keras loader rewrites the node into this layer:
 * `operation` names the Keras class, `call` is the JSON of
 * `{args, kwargs, config}` with every tensor replaced by
 * `{"__input__": i}`, the index of the layer input that carries it, written
 * as hexadecimal UTF-8 (tfjs rewrites the case and underscores of every
 * string in a layer config when it saves and loads one; hex survives both).
 *
 * Supported operations: see {@link KERAS_OPERATIONS}; any other is refused
 * by name when the model is loaded.
 */
import * as tf from '@tensorflow/tfjs';
import { broadcastTo } from '../tfjs_compat/broadcast_to_empty';
import { AttentionError } from '../errors';
import type { CallSignature } from './base/call_signature';
import type { LayerArgs } from './tfjs_types';
import { LibraryLayer } from './base/library_layer';

type Value = unknown;
type Params = Record<string, Value>;

/** One supported operation: its Keras call parameters and what it computes. */
interface OperationSpec {
  /** Keras `call` parameter names, in order. */
  params: readonly string[];
  /** The computation, from the call's parameters and the operation's config. */
  fn: (p: Params, config: Params) => tf.Tensor;
}

const NAME = 'KerasOperation';

function tensor(v: Value, what: string): tf.Tensor {
  if (v instanceof tf.Tensor) return v;
  if (typeof v === 'number' || typeof v === 'boolean') return tf.scalar(v as number);
  if (Array.isArray(v)) return tf.tensor(v as number[]);
  throw new AttentionError(`${NAME}: expected ${what} to be a tensor or a number, but got ${JSON.stringify(v)}.`);
}

const bool = (v: Value, what: string): tf.Tensor => {
  const t = tensor(v, what);
  return t.dtype === 'bool' ? t : tf.notEqual(t, 0);
};

function axisOf(v: Value): number | number[] | undefined {
  if (v === null || v === undefined) return undefined;
  return v as number | number[];
}

function dtypeOf(v: Value): tf.DataType {
  if (v === 'float32' || v === 'int32' || v === 'bool') return v;
  if (v === 'float16' || v === 'float64' || v === 'bfloat16') return 'float32';
  if (v === 'int8' || v === 'int16' || v === 'int64' || v === 'uint8' || v === 'uint16' || v === 'uint32') return 'int32';
  throw new AttentionError(`${NAME}: expected a dtype tfjs has (float32, int32, bool or one that maps to them), but got ${JSON.stringify(v)}.`);
}

const binary = (f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor): OperationSpec => ({
  params: ['x1', 'x2'],
  fn: (p) => f(tensor(p.x1, 'x1'), tensor(p.x2, 'x2')),
});
const logical = (f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor): OperationSpec => ({
  params: ['x1', 'x2'],
  fn: (p) => f(bool(p.x1, 'x1'), bool(p.x2, 'x2')),
});
const unary = (f: (a: tf.Tensor) => tf.Tensor): OperationSpec => ({
  params: ['x'],
  fn: (p) => f(tensor(p.x, 'x')),
});
const reduce = (f: (x: tf.Tensor, axis: number | number[] | undefined, keepDims: boolean) => tf.Tensor): OperationSpec => ({
  params: ['x'],
  fn: (p, c) => f(tensor(p.x, 'x'), axisOf(c.axis), c.keepdims === true),
});
const like = (f: (x: tf.Tensor) => tf.Tensor): OperationSpec => ({
  params: ['x'],
  fn: (p, c) => {
    const y = f(tensor(p.x, 'x'));
    return c.dtype === null || c.dtype === undefined ? y : tf.cast(y, dtypeOf(c.dtype));
  },
});

/**
 * The Keras operations the loader can run, by Keras class name: the ones
 * Keras's masking records (`NotEqual`, `LogicalOr`, `LogicalAnd`, `Any`,
 * `All`, `ExpandDims`, `Squeeze`, `Concatenate`, `OnesLike`, `ZerosLike`,
 * `Cast`, `Where`), elementwise arithmetic and comparisons, common
 * activations, reductions and shape operations.
 */
export const KERAS_OPERATIONS: Readonly<Record<string, OperationSpec>> = {
  Add: binary(tf.add),
  Subtract: binary(tf.sub),
  Multiply: binary(tf.mul),
  Divide: binary((a, b) => tf.div(tf.cast(a, 'float32'), tf.cast(b, 'float32'))),
  TrueDivide: binary((a, b) => tf.div(tf.cast(a, 'float32'), tf.cast(b, 'float32'))),
  FloorDivide: binary(tf.floorDiv),
  Mod: binary(tf.mod),
  Power: binary(tf.pow),
  Maximum: binary(tf.maximum),
  Minimum: binary(tf.minimum),
  Matmul: binary((a, b) => tf.matMul(a, b)),
  Equal: binary(tf.equal),
  NotEqual: binary(tf.notEqual),
  Greater: binary(tf.greater),
  GreaterEqual: binary(tf.greaterEqual),
  Less: binary(tf.less),
  LessEqual: binary(tf.lessEqual),
  LogicalAnd: logical(tf.logicalAnd),
  LogicalOr: logical(tf.logicalOr),
  LogicalXor: logical(tf.logicalXor),
  LogicalNot: { params: ['x'], fn: (p) => tf.logicalNot(bool(p.x, 'x')) },
  Negative: unary(tf.neg),
  Absolute: unary(tf.abs),
  Abs: unary(tf.abs),
  Sign: unary(tf.sign),
  Exp: unary(tf.exp),
  Log: unary(tf.log),
  Sqrt: unary(tf.sqrt),
  Rsqrt: unary(tf.rsqrt),
  Square: unary(tf.square),
  Reciprocal: unary(tf.reciprocal),
  Floor: unary(tf.floor),
  Ceil: unary(tf.ceil),
  Round: unary(tf.round),
  Tanh: unary(tf.tanh),
  Sigmoid: unary(tf.sigmoid),
  Relu: unary(tf.relu),
  Gelu: {
    params: ['x'],
    fn: (p, c) => {
      const x = tensor(p.x, 'x');
      if (c.approximate === false) {
        // 0.5·x·(1 + erf(x/√2))
        return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));
      }
      const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
    },
  },
  Softmax: { params: ['x'], fn: (p, c) => tf.softmax(tensor(p.x, 'x'), (c.axis ?? -1) as number) },
  Sum: reduce((x, a, k) => tf.sum(x, a, k)),
  Mean: reduce((x, a, k) => tf.mean(x, a, k)),
  Max: reduce((x, a, k) => tf.max(x, a, k)),
  Min: reduce((x, a, k) => tf.min(x, a, k)),
  Prod: reduce((x, a, k) => tf.prod(x, a, k)),
  Any: reduce((x, a, k) => tf.any(x.dtype === 'bool' ? x : tf.notEqual(x, 0), a, k)),
  All: reduce((x, a, k) => tf.all(x.dtype === 'bool' ? x : tf.notEqual(x, 0), a, k)),
  Argmax: { params: ['x'], fn: (p, c) => tf.argMax(tensor(p.x, 'x'), (c.axis ?? 0) as number) },
  Cast: { params: ['x'], fn: (p, c) => tf.cast(tensor(p.x, 'x'), dtypeOf(c.dtype)) },
  OnesLike: like(tf.onesLike),
  ZerosLike: like(tf.zerosLike),
  ExpandDims: {
    params: ['x'],
    fn: (p, c) => {
      let y = tensor(p.x, 'x');
      const axes = (Array.isArray(c.axis) ? c.axis : [c.axis]) as number[];
      for (const a of axes) y = tf.expandDims(y, a);
      return y;
    },
  },
  Squeeze: { params: ['x'], fn: (p, c) => tf.squeeze(tensor(p.x, 'x'), axisOf(c.axis) as number[] | undefined) },
  Reshape: { params: ['x'], fn: (p, c) => {
    const x = tensor(p.x, 'x');
    // Keras's newshape excludes nothing: the batch axis is part of it (often -1 or None).
    const shape = (c.newshape as Array<number | null>).map((d) => (d === null ? -1 : d));
    return tf.reshape(x, shape);
  } },
  Transpose: { params: ['x'], fn: (p, c) => tf.transpose(tensor(p.x, 'x'), (c.axes ?? undefined) as number[] | undefined) },
  Concatenate: {
    params: ['xs'],
    fn: (p, c) => tf.concat((p.xs as Value[]).map((x, i) => tensor(x, `xs[${i}]`)), (c.axis ?? 0) as number),
  },
  Stack: {
    params: ['x'],
    fn: (p, c) => tf.stack((p.x as Value[]).map((x, i) => tensor(x, `x[${i}]`)), (c.axis ?? 0) as number),
  },
  Where: {
    params: ['condition', 'x1', 'x2'],
    fn: (p) => {
      if (p.x1 === undefined || p.x1 === null || p.x2 === undefined || p.x2 === null) {
        throw new AttentionError(`${NAME}: expected Where to be called with condition, x1 and x2, but got the one-argument form (indices), which tfjs models cannot hold.`);
      }
      const cond = bool(p.condition, 'condition');
      const a = tensor(p.x1, 'x1');
      const b = tensor(p.x2, 'x2');
      const bs = tf.backend_util.assertAndGetBroadcastShape;
      const s = bs(cond.shape, bs(a.shape, b.shape));
      const dtype = a.dtype === 'float32' || b.dtype === 'float32' ? 'float32' : a.dtype;
      return tf.where(broadcastTo(cond, s), broadcastTo(tf.cast(a, dtype), s), broadcastTo(tf.cast(b, dtype), s));
    },
  },
  Clip: { params: ['x'], fn: (p, c) => tf.clipByValue(tensor(p.x, 'x'), c.x_min as number, c.x_max as number) },
  GetItem: { params: ['x', 'key'], fn: (p) => getItem(tensor(p.x, 'x'), p.key) },
};

/** A Keras-serialised slice, `{"class_name": "__slice__", "config": {start, stop, step}}`. */
interface SliceJson {
  class_name: '__slice__';
  config: { start: number | null; stop: number | null; step: number | null };
}

/**
 * numpy indexing `x[key]` as Keras's `GetItem` records it: `key` is an
 * integer, a slice, `null` (a new axis), an ellipsis
 * (`{"class_name": "__ellipsis__"}`) or a list of those.
 */
function getItem(x: tf.Tensor, key: Value): tf.Tensor {
  const items = Array.isArray(key) ? key : [key];
  const begin: number[] = [];
  const end: number[] = [];
  const strides: number[] = [];
  let beginMask = 0;
  let endMask = 0;
  let ellipsisMask = 0;
  let newAxisMask = 0;
  let shrinkMask = 0;
  items.forEach((k, i) => {
    const bit = 1 << i;
    if (typeof k === 'number' && Number.isInteger(k)) {
      begin.push(k);
      end.push(k === -1 ? 0 : k + 1);
      strides.push(1);
      shrinkMask |= bit;
      if (k === -1) endMask |= bit;
    } else if (k === null) {
      begin.push(0);
      end.push(0);
      strides.push(1);
      newAxisMask |= bit;
    } else if (typeof k === 'object' && (k as { class_name?: string }).class_name === '__ellipsis__') {
      begin.push(0);
      end.push(0);
      strides.push(1);
      ellipsisMask |= bit;
    } else if (typeof k === 'object' && (k as { class_name?: string }).class_name === '__slice__') {
      const { start, stop, step } = (k as SliceJson).config;
      begin.push(start ?? 0);
      end.push(stop ?? 0);
      strides.push(step ?? 1);
      if (start === null || start === undefined) beginMask |= bit;
      if (stop === null || stop === undefined) endMask |= bit;
    } else {
      throw new AttentionError(`${NAME}: expected GetItem's key to hold integers, slices, None or an ellipsis, but got ${JSON.stringify(k)}.`);
    }
  });
  if (strides.some((st) => st === 0)) throw new AttentionError(`${NAME}: expected GetItem's slice steps to be non-zero, but got ${JSON.stringify(key)}.`);
  return tf.stridedSlice(x, begin, end, strides, beginMask, endMask, ellipsisMask, newAxisMask, shrinkMask);
}

/** Arguments of `KerasOperation` (written by the Keras loader). */
export interface KerasOperationArgs extends LayerArgs {
  /** The Keras operation's class name, a key of {@link KERAS_OPERATIONS}. Required. */
  operation: string;
  /**
   * JSON of `{args, kwargs, config}` as hexadecimal UTF-8 (see
   * {@link encodeOperationCall}): the call's positional and keyword arguments
   * with tensors as `{"__input__": i}`, and the operation's config. Required.
   */
  call: string;
}

interface CallTemplate {
  args: Value[];
  kwargs: Params;
  config: Params;
}

/** The hexadecimal UTF-8 of the JSON of a call template, as `KerasOperation` takes it. */
export function encodeOperationCall(template: { args: unknown[]; kwargs: Record<string, unknown>; config: Record<string, unknown> }): string {
  return Array.from(new TextEncoder().encode(JSON.stringify(template)), (b) => b.toString(16).padStart(2, '0')).join('');
}

function decodeOperationCall(hex: unknown): CallTemplate | undefined {
  if (typeof hex !== 'string' || !/^([0-9a-f]{2})+$/.test(hex)) return undefined;
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  try {
    const t = JSON.parse(new TextDecoder().decode(bytes)) as CallTemplate;
    return Array.isArray(t?.args) ? t : undefined;
  } catch {
    return undefined;
  }
}

/** The table key for an operation name as Keras writes it, or as tfjs's config round trip rewrites it (`not_equal`, `notEqual`). */
export function kerasOperationKey(name: unknown): string | undefined {
  if (typeof name !== 'string') return undefined;
  const flat = name.replace(/_/g, '').toLowerCase();
  return Object.keys(KERAS_OPERATIONS).find((k) => k.toLowerCase() === flat);
}

function isInputRef(v: Value): v is { __input__: number } {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as { __input__?: unknown }).__input__ === 'number';
}

function substitute(v: Value, inputs: tf.Tensor[]): Value {
  if (isInputRef(v)) return inputs[v.__input__];
  if (Array.isArray(v)) return v.map((e) => substitute(e, inputs));
  return v;
}

/**
 * A Keras 3 operation node as a layer (see the file comment). Inputs: the
 * tensors of the call, in the order the template numbers them.
 *
 * @example
 * ```ts
 * const call = encodeOperationCall({ args: [{ __input__: 0 }, 0], kwargs: {}, config: {} });
 * const ne = new KerasOperation({ operation: 'NotEqual', call });
 * (ne.apply(tf.tensor2d([[1, 0]])) as tf.Tensor).dtype;   // 'bool'
 * ```
 */
export class KerasOperation extends LibraryLayer {
  static className = NAME;
  /** Its call is its template; tfjs's executor still hands every layer `training` and `mask`, which it ignores. */
  static readonly callSignature: CallSignature = {
    keras: [],
    tensorInputs: [],
    optionsAsConfig: [],
    callOptions: ['training', 'mask'],
  };
  protected override readonly widthBoundInputs: readonly string[] = [];
  readonly operation: string;
  private readonly template: CallTemplate;
  private readonly spec: OperationSpec;

  constructor(args: KerasOperationArgs) {
    super(args);
    const op = kerasOperationKey(args?.operation);
    if (op === undefined) {
      throw new AttentionError(
        `${NAME}: expected operation to be one of ${Object.keys(KERAS_OPERATIONS).join(', ')}, but got ${JSON.stringify(args?.operation)}.`,
      );
    }
    const t = decodeOperationCall(args.call);
    if (t === undefined) {
      throw new AttentionError(`${NAME}: expected call to be the hexadecimal JSON of {args, kwargs, config}, but got ${JSON.stringify(args.call)}.`);
    }
    this.operation = op;
    this.template = { args: t.args, kwargs: t.kwargs ?? {}, config: t.config ?? {} };
    this.spec = KERAS_OPERATIONS[op];
    if (this.template.args.length > this.spec.params.length) {
      throw new AttentionError(
        `${NAME}: expected ${op} to take at most ${this.spec.params.length} positional argument(s) (${this.spec.params.join(', ')}), but got ${this.template.args.length}.`,
      );
    }
    const unknown = Object.keys(this.template.kwargs).filter((k) => !this.spec.params.includes(k));
    if (unknown.length > 0) {
      throw new AttentionError(`${NAME}: expected ${op}'s keyword arguments among ${this.spec.params.join(', ')}, but got ${unknown.join(', ')}.`);
    }
    this.trainable = false;
  }

  /** Runs the operation on concrete inputs. */
  private run(inputs: tf.Tensor[]): tf.Tensor {
    const p: Params = {};
    this.template.args.forEach((a, i) => (p[this.spec.params[i]] = substitute(a, inputs)));
    for (const [k, v] of Object.entries(this.template.kwargs)) p[k] = substitute(v, inputs);
    return this.spec.fn(p, this.template.config);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    return tf.tidy(() => this.run(list));
  }

  /**
   * Symbolic calls: tfjs gives the output the first input's dtype, and the
   * model executor later casts the operation's real output to that dtype
   * (leaking the uncast tensor). The output's dtype is set to what the
   * operation really returns (`NotEqual` → bool), found by running it on
   * zeros of the inputs' dtypes.
   */
  override apply(
    inputs: tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[],
    kwargs?: Record<string, unknown>,
  ): tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[] {
    const out = super.apply(inputs, kwargs);
    if (out instanceof tf.SymbolicTensor) {
      const list = (Array.isArray(inputs) ? inputs : [inputs]) as tf.SymbolicTensor[];
      const t = tf.tidy(() => this.run(list.map((x) => tf.zeros(x.shape.map((d) => d ?? 2), x.dtype))));
      (out as { dtype: tf.DataType }).dtype = t.dtype;
      t.dispose();
    }
    return out;
  }

  /**
   * The output shape, found by running the operation on zeros: unknown
   * dimensions are tried as 2 and as 3, and output dimensions that differ
   * between the two runs are unknown.
   */
  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shapes = (Array.isArray(inputShape[0]) || inputShape.length === 0 ? inputShape : [inputShape]) as tf.Shape[];
    const probe = (n: number): number[] => {
      const t = tf.tidy(() => this.run(shapes.map((s) => tf.zeros(s.map((d) => d ?? n)))));
      const shape = t.shape;
      t.dispose();
      return shape;
    };
    const [a, b] = [probe(2), probe(3)];
    return a.map((d, i) => (d === b[i] ? d : null));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), operation: this.operation, call: encodeOperationCall(this.template) };
  }
}
tf.serialization.registerClass(KerasOperation);
