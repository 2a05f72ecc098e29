/**
 * Helpers shared by the layers: argument checks in Keras's error style,
 * initializer / regularizer / constraint resolution and serialization (the
 * same identifiers and configs tfjs's own layers accept), and the head
 * projections done with 2-D products (tf.einsum has no gradient and no wasm
 * kernel in tfjs 4.22).
 */
import * as tf from '@tensorflow/tfjs';
import { transpose } from '../tfjs_compat/empty_transpose';
import type { Constraint, Initializer, Regularizer } from './tfjs_types';
import { AttentionError } from '../errors';

/** A value as the user wrote it: strings quoted (`keyDim="4"`, not `keyDim=4`). */
const shown = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(v));

/** What tfjs layers accept for an initializer: a name, an instance, or a serialized config. */
export type InitializerArg = string | Initializer | { className: string; config: object };
export type RegularizerArg = string | Regularizer | { className: string; config: object };
export type ConstraintArg = string | Constraint | { className: string; config: object };

type Serializable = { getClassName(): string; getConfig(): tf.serialization.ConfigDict };

/** A Dense layer resolves identifiers exactly as tfjs does; borrow its resolution. */
function viaDense(args: Record<string, unknown>): Record<string, unknown> {
  return tf.layers.dense({ units: 1, ...args }) as unknown as Record<string, unknown>;
}

/**
 * Resolves one identifier through a Dense layer's `kernel<Kind>` argument.
 * A config object is copied first: tfjs's deserializer writes
 * `customObjects` into the config it is given, and the caller's object (a
 * model's config, a shared default) must stay as it was.
 */
function resolveVia<T>(layer: string, name: string, kind: 'Initializer' | 'Regularizer' | 'Constraint', id: unknown): T {
  const own = id !== null && typeof id === 'object' && !(id instanceof tf.serialization.Serializable)
    ? JSON.parse(JSON.stringify(id)) as unknown
    : id;
  try {
    return viaDense({ [`kernel${kind}`]: own })[`kernel${kind}`] as T;
  } catch (e) {
    throw new AttentionError(
      `${layer}: expected ${name} to be ${kind === 'Initializer' ? 'an' : 'a'} ${kind.toLowerCase()} name or config, but got ${JSON.stringify(id)} (${(e as Error).message}).`,
    );
  }
}

export function resolveInitializer(layer: string, name: string, id: InitializerArg): Initializer {
  return resolveVia<Initializer>(layer, name, 'Initializer', id);
}

export function resolveRegularizer(layer: string, name: string, id: RegularizerArg | null | undefined): Regularizer | undefined {
  return id === null || id === undefined ? undefined : resolveVia<Regularizer>(layer, name, 'Regularizer', id);
}

export function resolveConstraint(layer: string, name: string, id: ConstraintArg | null | undefined): Constraint | undefined {
  return id === null || id === undefined ? undefined : resolveVia<Constraint>(layer, name, 'Constraint', id);
}

/** `{className, config}` as tfjs serializes initializers, regularizers and constraints; null for none. */
export function serialize(x: Serializable | undefined | null): tf.serialization.ConfigDict | null {
  if (x === undefined || x === null) return null;
  // tfjs leaves a `customObjects` entry in the config of objects it made from
  // a name; it is not part of the object's configuration.
  const { customObjects: _unused, ...config } = x.getConfig() as tf.serialization.ConfigDict;
  return { className: x.getClassName(), config };
}

/**
 * The masks of each input of a multi-input layer. Keras passes one mask per
 * input; tfjs's model executor passes only the first input's mask, as a
 * single tensor. The others ride on the input tensors themselves as
 * `kerasMask`, which tfjs sets on the outputs of masking layers.
 */
export function perInputMasks(inputs: tf.Tensor[], mask: unknown): Array<tf.Tensor | null> {
  const given = Array.isArray(mask) ? (mask as Array<tf.Tensor | null | undefined>) : [mask as tf.Tensor | undefined];
  return inputs.map((x, i) => given[i] ?? x.kerasMask ?? null);
}

/**
 * A copy of the mask riding on an input, for an output to carry (or null).
 * tfjs disposes a tensor's `kerasMask` with the tensor, and its model
 * executor disposes inputs once used, so an output must not share its
 * input's mask object.
 */
export function ownCopy(mask: tf.Tensor | null | undefined): tf.Tensor | null {
  return mask === null || mask === undefined || mask.isDisposed ? null : tf.clone(mask);
}

/**
 * tfjs models run their layers with the model's call arguments only
 * (`training`): arguments given to `apply` on symbolic tensors are not kept.
 * Rather than let `useCausalMask` or `returnAttentionScores` vanish when the
 * model runs, reject them there and point to the constructor argument.
 */
export function rejectSymbolicCallArgs(layer: string, inputs: unknown, kwargs: { [key: string]: unknown } | undefined, names: readonly string[]): void {
  const first = Array.isArray(inputs) ? inputs[0] : inputs;
  if (!(first instanceof tf.SymbolicTensor) || kwargs === undefined) return;
  const given = names.filter((n) => kwargs[n] !== undefined);
  if (given.length > 0) {
    const args = given.map((n) => `${n}: ${JSON.stringify(kwargs[n])}`).join(', ');
    throw new AttentionError(
      `${layer}: tfjs models do not keep call arguments, so ${given.join(', ')} would be lost when the model runs; pass { ${args} } to the constructor instead.`,
    );
  }
}

export function checkPositiveInt(layer: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new AttentionError(`${layer}: expected ${name} to be a positive integer, but got ${name}=${shown(v)}.`);
  }
  return v;
}

export function checkOptionalPositiveInt(layer: string, name: string, v: unknown): number | undefined {
  return v === undefined || v === null ? undefined : checkPositiveInt(layer, name, v);
}

export function checkRate(layer: string, name: string, v: unknown): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !(v >= 0 && v < 1)) {
    throw new AttentionError(`${layer}: expected ${name} to be a number in [0, 1), but got ${name}=${shown(v)}.`);
  }
  return v;
}

export function checkBool(layer: string, name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') {
    throw new AttentionError(`${layer}: expected ${name} to be a boolean, but got ${name}=${shown(v)}.`);
  }
  return v;
}

export function checkChoice<T extends string>(layer: string, name: string, v: unknown, choices: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) {
    throw new AttentionError(`${layer}: expected ${name} to be one of ${choices.map((c) => `'${c}'`).join(', ')}, but got ${name}=${JSON.stringify(v)}.`);
  }
  return v as T;
}

export function checkFinite(layer: string, name: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new AttentionError(`${layer}: expected ${name} to be a finite number, but got ${name}=${shown(v)}.`);
  }
  return v;
}

/** The inputs of a layer as a list. */
export function asList<T>(x: T | T[]): T[] {
  return Array.isArray(x) ? x : [x];
}

/** The shape of each input of a multi-input layer, checked for count and rank. */
export function inputShapes(layer: string, inputShape: tf.Shape | tf.Shape[], min: number, max: number, rank?: number): tf.Shape[] {
  const shapes = Array.isArray(inputShape[0]) || (Array.isArray(inputShape) && inputShape.length > 0 && inputShape[0] === undefined)
    ? (inputShape as tf.Shape[])
    : [inputShape as tf.Shape];
  if (shapes.length < min || shapes.length > max) {
    const want = min === max ? `${min}` : `${min} to ${max}`;
    throw new AttentionError(`${layer}: expected ${want} inputs, but got ${shapes.length}.`);
  }
  if (rank !== undefined) {
    shapes.slice(0, Math.min(shapes.length, 3)).forEach((s, i) => {
      if (s.length !== rank) {
        throw new AttentionError(`${layer}: expected input ${i} to have rank ${rank}, but got shape [${s.map((d) => (d === null ? 'null' : d)).join(',')}].`);
      }
    });
  }
  return shapes;
}

/** The last dimension of a shape, which must be known. */
export function lastDim(layer: string, shape: tf.Shape, what: string): number {
  const d = shape[shape.length - 1];
  if (d === null || d === undefined) {
    throw new AttentionError(`${layer}: expected the last dimension of ${what} to be defined, but got shape [${shape.join(',')}].`);
  }
  return d;
}

/**
 * `x·W + b` into heads: x `[B, T, D]`, kernel `[D, N, K]`, bias `[N, K]` or
 * null; returns `[B, N, T, K]`. A single 2-D product.
 */
export function projectToHeads(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | null): tf.Tensor {
  return tf.tidy(() => {
    const [B, T, D] = x.shape;
    const [, N, K] = kernel.shape;
    let y = tf.matMul(tf.reshape(x, [B * T, D]), tf.reshape(kernel, [D, N * K]));
    if (bias !== null) y = tf.add(y, tf.reshape(bias, [N * K]));
    return transpose(tf.reshape(y, [B, T, N, K]), [0, 2, 1, 3]);
  });
}

/**
 * Merges heads and projects: o `[B, N, T, Hv]`, kernel `[N, Hv, Dout]`, bias
 * `[Dout]` or null; returns `[B, T, Dout]`.
 */
export function mergeHeads(o: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | null): tf.Tensor {
  return tf.tidy(() => {
    const [B, N, T, Hv] = o.shape;
    const Dout = kernel.shape[2] as number;
    const flat = tf.reshape(transpose(o, [0, 2, 1, 3]), [B * T, N * Hv]);
    let y = tf.matMul(flat, tf.reshape(kernel, [N * Hv, Dout]));
    if (bias !== null) y = tf.add(y, bias);
    return tf.reshape(y, [B, T, Dout]);
  });
}

/**
 * Keras's attention mask from a `[B, T]` query mask, `[B, S]` value and key
 * masks and an explicit `[B, T, S]` mask: their AND, bool, broadcastable to
 * `[B, T, S]`, or null if there is none. (Causality is passed to the core
 * separately, so that it can skip the blocks above the diagonal.)
 */
export function combineLayerMasks(
  queryMask: tf.Tensor | null | undefined,
  valueMask: tf.Tensor | null | undefined,
  keyMask: tf.Tensor | null | undefined,
  attentionMask: tf.Tensor | null | undefined,
): tf.Tensor | null {
  const asBool = (m: tf.Tensor) => (m.dtype === 'bool' ? m : tf.notEqual(m, 0));
  const parts: tf.Tensor[] = [];
  if (queryMask) parts.push(tf.expandDims(asBool(queryMask), 2));
  if (valueMask) parts.push(tf.expandDims(asBool(valueMask), 1));
  if (keyMask) parts.push(tf.expandDims(asBool(keyMask), 1));
  if (attentionMask) parts.push(asBool(attentionMask));
  return parts.length === 0 ? null : parts.reduce((a, b) => tf.logicalAnd(a, b));
}
