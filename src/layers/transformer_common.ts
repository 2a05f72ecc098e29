/**
 * What keras-hub's TransformerEncoder and TransformerDecoder share: their
 * arguments, sublayers built under Keras's names, the padding/attention mask
 * merge, and the feed-forward block.
 *
 * Shape legend: B batch, T sequence length, S encoder length, D model width.
 */
import { AttentionError } from '../errors';
import * as tf from '@tensorflow/tfjs';
import { checkTableSize } from '../ops/checks';
import type { LayerArgs } from './tfjs_types';
import type { Initializer } from './tfjs_types';
import { checkBool, checkPositiveInt, checkRate, InitializerArg, resolveInitializer, serialize } from './common';
import { MultiHeadAttention } from './multi_head_attention';
import { checkKernelArgs, KernelArgs, kernelConfig, KernelSettings } from '../functional/kernel_args';

/** Arguments shared by `TransformerEncoder` and `TransformerDecoder` (keras-hub's, camelCased). */
export interface TransformerBlockArgs extends LayerArgs, KernelArgs {
  /** Width of the feed-forward hidden layer, a positive integer. Required. */
  intermediateDim: number;
  /** Number of attention heads; the head size is D / numHeads (floored). Required. */
  numHeads: number;
  /** Dropout rate of attention weights and of each residual branch, in [0, 1). Default 0. */
  dropout?: number;
  /** Activation of the feed-forward hidden layer (a tfjs activation name). Default 'relu'. */
  activation?: string;
  /** Epsilon of the layer normalisations. Default 1e-5. */
  layerNormEpsilon?: number;
  /** Initializer of every kernel. Default 'glorotUniform'. */
  kernelInitializer?: InitializerArg;
  /** Initializer of every bias. Default 'zeros'. */
  biasInitializer?: InitializerArg;
  /** Pre-layer-norm residual blocks (x + f(norm(x))) instead of post (norm(x + f(x))). Default false. */
  normalizeFirst?: boolean;
  /**
   * Names of the inputs after the first, when they are not in the documented
   * order (a tfjs addition, written by loadKerasModel for Keras calls that
   * skip optional masks). The call kwarg of the same name overrides it.
   * Default: the documented order.
   */
  inputNames?: string[] | null;
}

type Kwargs = Record<string, unknown>;
type Shape = (number | null)[];

/** Checked, resolved arguments. */
export interface BlockSettings {
  intermediateDim: number;
  numHeads: number;
  dropout: number;
  activation: string;
  layerNormEpsilon: number;
  kernelInitializer: Initializer;
  biasInitializer: Initializer;
  normalizeFirst: boolean;
  /** `implementation` and `memoryBudget`, passed to every attention sublayer. */
  kernel: KernelSettings;
}

export function blockSettings(layer: string, args: TransformerBlockArgs): BlockSettings {
  if (args === undefined || args === null) {
    throw new AttentionError(`${layer}: expected arguments {intermediateDim, numHeads, ...}, but got ${String(args)}.`);
  }
  const eps = args.layerNormEpsilon ?? 1e-5;
  if (typeof eps !== 'number' || !(eps > 0)) {
    throw new AttentionError(`${layer}: expected layerNormEpsilon to be a positive number, but got layerNormEpsilon=${String(eps)}.`);
  }
  const activation = args.activation ?? 'relu';
  try {
    tf.layers.activation({ activation: activation as never });
  } catch {
    throw new AttentionError(`${layer}: expected activation to be a tfjs activation name, but got activation=${JSON.stringify(activation)}.`);
  }
  return {
    intermediateDim: checkPositiveInt(layer, 'intermediateDim', args.intermediateDim),
    numHeads: checkPositiveInt(layer, 'numHeads', args.numHeads),
    dropout: checkRate(layer, 'dropout', args.dropout),
    activation,
    layerNormEpsilon: eps,
    kernelInitializer: resolveInitializer(layer, 'kernelInitializer', args.kernelInitializer ?? 'glorotUniform'),
    biasInitializer: resolveInitializer(layer, 'biasInitializer', args.biasInitializer ?? 'zeros'),
    normalizeFirst: checkBool(layer, 'normalizeFirst', args.normalizeFirst, false),
    kernel: checkKernelArgs(layer, args),
  };
}

export function settingsConfig(s: BlockSettings): tf.serialization.ConfigDict {
  return {
    intermediateDim: s.intermediateDim,
    numHeads: s.numHeads,
    dropout: s.dropout,
    activation: s.activation,
    layerNormEpsilon: s.layerNormEpsilon,
    kernelInitializer: serialize(s.kernelInitializer),
    biasInitializer: serialize(s.biasInitializer),
    normalizeFirst: s.normalizeFirst,
    ...kernelConfig(s.kernel),
  };
}

/**
 * Builds a sublayer by applying it once to zeros of `shapes` (unknown
 * dimensions as 1): tfjs's apply() opens the sublayer's name scope, so inside
 * the block's own build its weights are named `<block>/<sublayer>/<weight>`,
 * the names Keras gives them.
 */
export function buildSublayer(layer: tf.layers.Layer, shapes: Shape[]): void {
  tf.tidy(() => {
    const xs = shapes.map((s) => tf.zeros(s.map((d) => d ?? 1)));
    layer.apply(xs.length === 1 ? xs[0] : xs);
  });
}

export function newAttention(name: string, s: BlockSettings, keyDim: number, valueDim?: number): MultiHeadAttention {
  return new MultiHeadAttention({
    name,
    numHeads: s.numHeads,
    keyDim,
    valueDim,
    dropout: s.dropout,
    kernelInitializer: s.kernelInitializer,
    biasInitializer: s.biasInitializer,
    implementation: s.kernel.implementation,
    memoryBudget: s.kernel.memoryBudget,
  });
}

export function newLayerNorm(name: string, s: BlockSettings): tf.layers.Layer {
  return tf.layers.layerNormalization({ name, epsilon: s.layerNormEpsilon });
}

/**
 * Refuses, before any weight is made, a block whose feedforward or attention
 * kernels would exceed `MAX_TABLE_ELEMENTS` (2^28) elements
 * (`intermediateDim: 1e9` ran the initializer for minutes instead of failing).
 */
export function checkBlockSize(name: string, D: number, s: BlockSettings): void {
  checkTableSize(name, "weight 'feedforward_intermediate_dense/kernel'", [D, s.intermediateDim], "Check 'intermediateDim'.");
  checkTableSize(name, "weight 'self_attention_layer/query/kernel'", [D, D], 'Check the width of the input.');
}

export function newDense(name: string, s: BlockSettings, units: number, activation?: string): tf.layers.Layer {
  return tf.layers.dense({
    name,
    units,
    activation: activation as never,
    kernelInitializer: s.kernelInitializer,
    biasInitializer: s.biasInitializer,
  });
}

/** Head size keras-hub derives: floor(D / numHeads), which must be positive. */
export function headSize(layer: string, D: number | null, numHeads: number): number {
  if (D === null || D === undefined) throw new AttentionError(`${layer}: expected a known feature dimension, but got null.`);
  const k = Math.floor(D / numHeads);
  if (k === 0) {
    throw new AttentionError(`${layer}: expected the feature dimension to be at least numHeads, but got D=${D} and numHeads=${numHeads}.`);
  }
  return k;
}

/**
 * keras-hub's merge_padding_and_attention_mask: padding mask [B, S] (keys that
 * are real tokens) broadcast to [B, 1, S], and'ed with the attention mask
 * [B, T, S]. Returns null when neither is given.
 */
export function mergeMasks(padding: tf.Tensor | null, attention: tf.Tensor | null): tf.Tensor | null {
  const p = padding === null ? null : tf.expandDims(tf.cast(padding, 'bool'), 1);
  const a = attention === null ? null : tf.cast(attention, 'bool');
  if (p !== null && a !== null) return tf.logicalAnd(p, a);
  return p ?? a;
}

export function dropout(x: tf.Tensor, rate: number, training: boolean): tf.Tensor {
  return training && rate > 0 ? tf.dropout(x, rate) : x;
}

/** A residual sublayer block, post- or pre-layer-norm as keras-hub writes it. */
export function residual(
  x: tf.Tensor,
  norm: tf.layers.Layer,
  s: BlockSettings,
  training: boolean,
  f: (y: tf.Tensor) => tf.Tensor,
): tf.Tensor {
  const y = s.normalizeFirst ? (norm.call(x, {}) as tf.Tensor) : x;
  const out = tf.add(dropout(f(y), s.dropout, training), x);
  return s.normalizeFirst ? out : (norm.call(out, {}) as tf.Tensor);
}

/** The feed-forward block: dense(intermediateDim, activation) → dense(D). */
export function feedForward(x: tf.Tensor, inner: tf.layers.Layer, outer: tf.layers.Layer): tf.Tensor {
  return outer.call(inner.call(x, {}) as tf.Tensor, {}) as tf.Tensor;
}

/**
 * One attention sublayer call: query q, value (and key) v, the block's whole
 * mask (bool, broadcastable to `[B, T, S]`, or null). The sublayer is given
 * no Keras masks of its own (`mask: [null, null, null]`): the block decides
 * every mask, as keras-hub does. Returns the output and, when asked, the
 * scores `[B, N, T, S]`.
 */
export function attend(
  mha: MultiHeadAttention, q: tf.Tensor, v: tf.Tensor, mask: tf.Tensor | null, kwargs: Kwargs,
): { output: tf.Tensor; scores?: tf.Tensor } {
  const inputs = mask === null ? [q, v] : [q, v, v, mask];
  const r = mha.call(inputs, { ...kwargs, mask: [null, null, null] });
  return Array.isArray(r) ? { output: r[0], scores: r[1] } : { output: r };
}

/**
 * The padding mask that rides on a block's input tensor: the call's `mask`
 * (tfjs passes the first input's; a list holds one per input) at `index`,
 * else the tensor's own Keras mask. `[B, T]` or null.
 */
export function tensorMask(kwargs: Kwargs, index: number, x: tf.Tensor): tf.Tensor | null {
  const given = kwargs['mask'];
  const m = Array.isArray(given) ? (given as Array<tf.Tensor | null | undefined>)[index] : index === 0 ? (given as tf.Tensor | null | undefined) : undefined;
  return m ?? x.kerasMask ?? null;
}

/** Input shapes as a list (a single shape becomes a one-element list). */
export function shapeList(inputShape: tf.Shape | tf.Shape[]): Shape[] {
  return Array.isArray(inputShape[0]) || inputShape[0] === undefined && inputShape.length === 0
    ? (inputShape as Shape[])
    : [inputShape as Shape];
}

/**
 * Assigns the block's inputs to their roles. `names` (call kwarg
 * `inputNames`, the roles of the inputs after the first, as the Keras loader
 * writes them) defaults to `order`; a role may be skipped, so Keras calls
 * such as `decoder(x, encoder_sequence=e, encoder_padding_mask=p)` map
 * without placeholders.
 */
export function assignRoles<X = tf.Tensor>(
  layer: string,
  inputs: readonly X[],
  names: unknown,
  order: readonly string[],
): Record<string, X | undefined> {
  const roles = names === undefined || names === null ? order.slice(0, inputs.length - 1) : names;
  if (!Array.isArray(roles) || roles.some((r) => typeof r !== 'string' || !order.includes(r)) || new Set(roles).size !== roles.length) {
    throw new AttentionError(`${layer}: expected inputNames to be distinct names among ${order.join(', ')}, but got ${JSON.stringify(names)}.`);
  }
  if (roles.length !== inputs.length - 1) {
    throw new AttentionError(`${layer}: expected ${roles.length + 1} inputs for inputNames ${JSON.stringify(roles)}, but got ${inputs.length}.`);
  }
  const out: Record<string, X | undefined> = {};
  roles.forEach((r, i) => (out[r as string] = inputs[i + 1]));
  return out;
}

type Dims = ReadonlyArray<number | null>;
const showDims = (s: Dims) => `[${s.map((d) => (d === null ? 'null' : d)).join(',')}]`;

/**
 * Checks a mask input of a Transformer block before anything runs, in the
 * block's name: a padding mask is `[B, L]` exactly, an attention mask
 * `[B, T, L]` or broadcastable to it (each dimension its size or 1). Unknown
 * dimensions (null) match any. A mask of the wrong shape was refused in
 * scaledDotProductAttention's name, or as a raw tfjs broadcast error.
 *
 * @param layer The block's class name.
 * @param name The input's role (`paddingMask`, `encoderAttentionMask`).
 * @param mask The input, or undefined when not given.
 * @param want `[B, L]` for a padding mask, `[B, T, L]` for an attention mask.
 * @param legend The dimensions' names (`[B, T]`, `[B, T, S]`).
 */
export function checkBlockMask(layer: string, name: string, mask: { readonly shape: Dims } | undefined, want: Dims, legend: string): void {
  if (mask === undefined) return;
  const s = mask.shape;
  const padding = want.length === 2;
  const fits = s.length === want.length && want.every((d, i) => d === null || s[i] === null || s[i] === d || (!padding && s[i] === 1));
  if (!fits) {
    throw new AttentionError(
      `${layer}: expected ${name} of shape ${legend} = ${showDims(want)}${padding ? '' : ' (or broadcastable to it)'}, but got ${name} ${showDims(s)}.`,
    );
  }
}
