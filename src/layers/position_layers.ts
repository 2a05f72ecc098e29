/**
 * keras-hub's position layers: `SinePositionEncoding`, `PositionEmbedding`
 * and `RotaryEmbedding`, with keras-hub's arguments, weights and maths.
 *
 * Shape legend: B batch, T sequence length, D features.
 */
import { AttentionError } from '../errors';
import * as tf from '@tensorflow/tfjs';
import { broadcastTo } from '../tfjs_compat/broadcast_to_empty';
import type { CallSignature } from './base/call_signature';
import { LibraryLayer } from './base/library_layer';
import type { Initializer, LayerArgs } from './tfjs_types';
import { applyRotary, sinePositionEncoding } from '../ops/position';
import { checkPositiveInt, InitializerArg, lastDim, resolveInitializer, serialize } from './common';
import { Kwargs, LayerVariable } from './multi_head_base';
import { constructorArgs, layerArgs } from './base/layer_guards';

function checkPositive(layer: string, name: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new AttentionError(`${layer}: expected ${name} to be a positive number, but got ${name}=${String(v)}.`);
  }
  return v;
}

function startIndexOf(layer: string, kwargs: Kwargs): number {
  const s = kwargs['startIndex'] ?? 0;
  if (typeof s !== 'number' || !Number.isInteger(s) || s < 0) {
    throw new AttentionError(`${layer}: expected startIndex to be a non-negative integer, but got startIndex=${String(s)}.`);
  }
  return s;
}

function checkRank(layer: string, shape: tf.Shape | tf.Shape[], min: number): tf.Shape {
  const s = (Array.isArray(shape[0]) ? shape[0] : shape) as tf.Shape;
  if (s.length < min) {
    throw new AttentionError(`${layer}: expected an input of rank >= ${min}, but got shape [${s.join(',')}].`);
  }
  return s;
}

/** Arguments of `SinePositionEncoding`. */
export interface SinePositionEncodingArgs extends LayerArgs {
  /** The longest wavelength of the sinusoids. Default 10000. */
  maxWavelength?: number;
}

/**
 * keras-hub's sinusoidal position encoding (Vaswani et al. 2017): returns the
 * encoding, the shape of the input, to be added to it; even features are
 * sines, odd features cosines. No weights. Call argument `startIndex`
 * (default 0). Masks pass through.
 *
 * @example
 * ```ts
 * const x = tf.randomNormal([2, 10, 16]);
 * const y = tf.add(x, new SinePositionEncoding().apply(x) as tf.Tensor);   // [2, 10, 16]
 * ```
 */
export class SinePositionEncoding extends LibraryLayer {
  static className = 'SinePositionEncoding';
  /** The constructor's own arguments (beyond tf.layers.Layer's); any other is refused by name. */
  static readonly constructorArgs: readonly string[] = constructorArgs<SinePositionEncodingArgs>()(['maxWavelength']);
  static readonly callSignature: CallSignature = {
    keras: ['start_index'],
    tensorInputs: [],
    optionsAsConfig: [],
    callOptions: ['training', 'mask', 'startIndex'],
  };
  protected override readonly widthBoundInputs: readonly string[] = [];
  private readonly maxWavelength: number;

  constructor(args: SinePositionEncodingArgs = {}) {
    super(layerArgs(new.target, args));
    this.maxWavelength = checkPositive('SinePositionEncoding', 'maxWavelength', args.maxWavelength, 10000);
    this.supportsMasking = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return checkRank('SinePositionEncoding', inputShape, 2);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    checkRank('SinePositionEncoding', x.shape, 2);
    const start = startIndexOf('SinePositionEncoding', kwargs);
    return tf.tidy(() => {
      const [T, D] = x.shape.slice(-2);
      return broadcastTo(sinePositionEncoding(T, D, this.maxWavelength, start), x.shape);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), maxWavelength: this.maxWavelength };
  }
}
tf.serialization.registerClass(SinePositionEncoding);

/** Arguments of `PositionEmbedding`. */
export interface PositionEmbeddingArgs extends LayerArgs {
  /** The longest sequence the layer embeds, a positive integer. Required. */
  sequenceLength: number;
  /** Initializer of the `embeddings` table. Default `'glorotUniform'`. */
  initializer?: InitializerArg;
}

/**
 * keras-hub's learned position embedding: a table `embeddings
 * [sequenceLength, D]` whose first T rows (from `startIndex`) are returned,
 * broadcast to the input's shape, to be added to it. Masks pass through.
 *
 * @example
 * ```ts
 * const x = tf.randomNormal([2, 10, 16]);
 * (new PositionEmbedding({ sequenceLength: 32 }).apply(x) as tf.Tensor).shape;   // [2, 10, 16]
 * ```
 */
export class PositionEmbedding extends LibraryLayer {
  static className = 'PositionEmbedding';
  /** The constructor's own arguments (beyond tf.layers.Layer's); any other is refused by name. */
  static readonly constructorArgs: readonly string[] = constructorArgs<PositionEmbeddingArgs>()(['sequenceLength', 'initializer']);
  static readonly callSignature: CallSignature = {
    keras: ['start_index'],
    tensorInputs: [],
    optionsAsConfig: [],
    callOptions: ['training', 'mask', 'startIndex'],
  };
  private readonly sequenceLength: number;
  private readonly initializer: Initializer;
  private embeddings?: LayerVariable;

  constructor(args: PositionEmbeddingArgs) {
    super(layerArgs(new.target, args));
    this.sequenceLength = checkPositiveInt('PositionEmbedding', 'sequenceLength', args?.sequenceLength);
    this.initializer = resolveInitializer('PositionEmbedding', 'initializer', args.initializer ?? 'glorotUniform');
    this.supportsMasking = true;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const s = checkRank('PositionEmbedding', inputShape, 2);
    this.embeddings = this.addWeight('embeddings', [this.sequenceLength, lastDim('PositionEmbedding', s, 'the input')], 'float32', this.initializer);
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return checkRank('PositionEmbedding', inputShape, 2);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const start = startIndexOf('PositionEmbedding', kwargs);
    const [T, D] = x.shape.slice(-2);
    if (start + T > this.sequenceLength) {
      throw new AttentionError(
        `PositionEmbedding: expected at most sequenceLength=${this.sequenceLength} positions, but got ${T} positions from startIndex=${start}.`,
      );
    }
    return tf.tidy(() => broadcastTo(tf.slice((this.embeddings as LayerVariable).read(), [start, 0], [T, D]), x.shape));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), sequenceLength: this.sequenceLength, initializer: serialize(this.initializer) };
  }
}
tf.serialization.registerClass(PositionEmbedding);

/** Arguments of `RotaryEmbedding`. */
export interface RotaryEmbeddingArgs extends LayerArgs {
  /** The longest wavelength. Default 10000. */
  maxWavelength?: number;
  /** Positions are divided by this (position interpolation). Default 1. */
  scalingFactor?: number;
  /** The axis of positions. Default 1. */
  sequenceAxis?: number;
  /** The axis of features (its size must be even). Default -1. */
  featureAxis?: number;
}

/**
 * keras-hub's rotary position embedding (Su et al. 2021), split-half
 * rotation: `x·cos + [-x2, x1]·sin` with angles
 * `(p / scalingFactor)·maxWavelength^(-2i/D)`. Returns the rotated input.
 * Call argument `startIndex` (default 0). No weights.
 *
 * @example
 * ```ts
 * (new RotaryEmbedding().apply(tf.randomNormal([2, 10, 4, 16])) as tf.Tensor).shape;   // [2, 10, 4, 16]
 * ```
 */
export class RotaryEmbedding extends LibraryLayer {
  static className = 'RotaryEmbedding';
  /** The constructor's own arguments (beyond tf.layers.Layer's); any other is refused by name. */
  static readonly constructorArgs: readonly string[] = constructorArgs<RotaryEmbeddingArgs>()(['maxWavelength', 'scalingFactor', 'sequenceAxis', 'featureAxis']);
  static readonly callSignature: CallSignature = {
    keras: ['start_index'],
    tensorInputs: [],
    optionsAsConfig: [],
    callOptions: ['training', 'mask', 'startIndex'],
  };
  protected override readonly widthBoundInputs: readonly string[] = [];
  private readonly maxWavelength: number;
  private readonly scalingFactor: number;
  private readonly sequenceAxis: number;
  private readonly featureAxis: number;

  constructor(args: RotaryEmbeddingArgs = {}) {
    super(layerArgs(new.target, args));
    const n = 'RotaryEmbedding';
    this.maxWavelength = checkPositive(n, 'maxWavelength', args.maxWavelength, 10000);
    this.scalingFactor = checkPositive(n, 'scalingFactor', args.scalingFactor, 1);
    for (const [k, v] of [['sequenceAxis', args.sequenceAxis], ['featureAxis', args.featureAxis]] as const) {
      if (v !== undefined && !Number.isInteger(v)) {
        throw new AttentionError(`${n}: expected ${k} to be an integer axis, but got ${k}=${String(v)}.`);
      }
    }
    this.sequenceAxis = args.sequenceAxis ?? 1;
    this.featureAxis = args.featureAxis ?? -1;
    this.supportsMasking = true;
  }

  private axes(rank: number): [number, number] {
    const norm = (a: number) => (a < 0 ? a + rank : a);
    const seq = norm(this.sequenceAxis);
    const feat = norm(this.featureAxis);
    if (seq < 0 || seq >= rank || feat < 0 || feat >= rank || seq === feat) {
      throw new AttentionError(
        `RotaryEmbedding: expected distinct sequenceAxis and featureAxis within rank ${rank}, but got sequenceAxis=${this.sequenceAxis}, featureAxis=${this.featureAxis}.`,
      );
    }
    return [seq, feat];
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = checkRank('RotaryEmbedding', inputShape, 2);
    this.axes(s.length);
    return s;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const [seq, feat] = this.axes(x.rank);
    if (x.shape[feat] % 2 !== 0) {
      throw new AttentionError(`RotaryEmbedding: expected an even feature axis, but got shape [${x.shape.join(',')}] (axis ${feat}).`);
    }
    const start = startIndexOf('RotaryEmbedding', kwargs);
    return tf.tidy(() => {
      // Move positions to axis -2 and features to axis -1, rotate, move back.
      const others = [...Array(x.rank).keys()].filter((a) => a !== seq && a !== feat);
      const perm = [...others, seq, feat];
      const inverse = perm.map((_, i) => perm.indexOf(i));
      const moved = tf.transpose(x, perm);
      return tf.transpose(applyRotary(moved, this.maxWavelength, this.scalingFactor, start), inverse);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      maxWavelength: this.maxWavelength,
      scalingFactor: this.scalingFactor,
      sequenceAxis: this.sequenceAxis,
      featureAxis: this.featureAxis,
    };
  }
}
tf.serialization.registerClass(RotaryEmbedding);
