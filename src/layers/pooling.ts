/**
 * `MaskedGlobalAveragePooling1D`: Keras's `GlobalAveragePooling1D`, which
 * averages over the real (unmasked) steps only. tfjs's layer of that name
 * ignores masks (see `src/tfjs_compat/global_pooling_ignores_mask.ts`), so
 * the Keras loader builds this one for Keras's.
 *
 * Shape legend: B batch, T steps, D features.
 */
import * as tf from '@tensorflow/tfjs';
import { broadcastTo } from '../tfjs_compat/broadcast_to_empty';
import { AttentionError } from '../errors';
import type { CallSignature } from './base/call_signature';
import type { LayerArgs } from './tfjs_types';
import { LibraryLayer } from './base/library_layer';

type Shape = ReadonlyArray<number | null>;
const showShape = (s: Shape) => `[${s.map((d) => (d === null ? '' : d)).join(',')}]`;

/** Arguments of `MaskedGlobalAveragePooling1D` (Keras's, camelCased). */
export interface MaskedGlobalAveragePooling1DArgs extends LayerArgs {
  /** `'channelsLast'` (`[B, T, D]`) or `'channelsFirst'` (`[B, D, T]`). Default `'channelsLast'`. */
  dataFormat?: 'channelsLast' | 'channelsFirst';
  /** Keep the pooled axis with length 1. Default false. */
  keepdims?: boolean;
}

const NAME = 'MaskedGlobalAveragePooling1D';

/**
 * Mean over the steps that the mask marks as real, as Keras computes it:
 * `sum(where(mask, x, 0), steps) / sum(mask, steps)`. A row whose mask is all
 * false gives 0/0 = NaN, as in Keras. Without a mask: the plain mean.
 *
 * Inputs: `x` `[B, T, D]`, or `[x, mask]` with mask `[B, T]` (true / 1 =
 * real step). Without a mask input, the mask that flows in with `x` (from an
 * `Embedding` with `maskZero`, for example) is used.
 *
 * @returns `[B, D]` (or `[B, 1, D]` with keepdims); no output mask.
 *
 * @example
 * ```ts
 * const pool = new MaskedGlobalAveragePooling1D();
 * const x = tf.tensor3d([[[1], [3], [100]]]);
 * const mask = tf.tensor2d([[1, 1, 0]]);
 * (pool.apply([x, mask]) as tf.Tensor).arraySync();   // [[2]]
 * ```
 */
export class MaskedGlobalAveragePooling1D extends LibraryLayer {
  static className = NAME;
  /** Keras's `call(inputs, mask=None)`: an explicit mask tensor becomes the second input. */
  static readonly callSignature: CallSignature = {
    keras: ['mask'],
    tensorInputs: ['mask'],
    optionsAsConfig: [],
    // tfjs's model executor gives every layer `training`, and `mask` once a mask exists.
    callOptions: ['mask', 'training'],
  };
  protected override readonly widthBoundInputs: readonly string[] = [];
  private readonly dataFormat: 'channelsLast' | 'channelsFirst';
  private readonly keepdims: boolean;

  constructor(args: MaskedGlobalAveragePooling1DArgs = {}) {
    super(args);
    // Keras writes channels_last / channels_first.
    const given = args.dataFormat as string | undefined;
    const df = given === 'channels_last' ? 'channelsLast' : given === 'channels_first' ? 'channelsFirst' : (given ?? 'channelsLast');
    if (df !== 'channelsLast' && df !== 'channelsFirst') {
      throw new AttentionError(`${NAME}: expected dataFormat 'channelsLast' or 'channelsFirst', but got dataFormat=${JSON.stringify(df)}.`);
    }
    if (args.keepdims !== undefined && typeof args.keepdims !== 'boolean') {
      throw new AttentionError(`${NAME}: expected keepdims to be a boolean, but got keepdims=${JSON.stringify(args.keepdims)}.`);
    }
    this.dataFormat = df;
    this.keepdims = args.keepdims ?? false;
    this.supportsMasking = true;
  }

  private get stepsAxis(): number {
    return this.dataFormat === 'channelsLast' ? 1 : 2;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    if (s.length !== 3) {
      throw new AttentionError(`${NAME}: expected an input of rank 3, but got shape [${s.join(',')}].`);
    }
    if (this.keepdims) return s.map((d, i) => (i === this.stepsAxis ? 1 : d));
    return s.filter((_, i) => i !== this.stepsAxis);
  }

  override computeMask(): tf.Tensor | tf.Tensor[] {
    return null as unknown as tf.Tensor;
  }

  /** x and its mask (the second input, else the `mask` option, else the one riding on x), checked before tfjs runs anything. */
  protected override checkCall(list: ReadonlyArray<{ shape: Shape }>, kwargs: Record<string, unknown>): void {
    if (list.length < 1 || list.length > 2) {
      throw new AttentionError(`${NAME}: expected inputs x or [x, mask], but got ${list.length} inputs.`);
    }
    const x = list[0] as { shape: Shape; dtype?: string; kerasMask?: { shape: Shape } | null };
    if (x.shape.length !== 3) throw new AttentionError(`${NAME}: expected x of rank 3, but got shape ${showShape(x.shape)}.`);
    if (x.dtype !== undefined && x.dtype !== 'float32') {
      // tfjs's mean of int32 is int32: the averages were truncated.
      throw new AttentionError(`${NAME}: expected x to be float32, but got ${x.dtype} x ${showShape(x.shape)}.`);
    }
    const mask = list[1] ?? this.flowingMask(kwargs) ?? x.kerasMask ?? null;
    const T = x.shape[this.stepsAxis];
    const fits = (a: number | null | undefined, b: number | null | undefined) => a === null || b === null || a === b;
    if (mask !== null && (mask.shape.length !== 2 || !fits(mask.shape[0], x.shape[0]) || !fits(mask.shape[1], T))) {
      throw new AttentionError(`${NAME}: expected a mask of shape ${showShape([x.shape[0], T])}, but got ${showShape(mask.shape)}.`);
    }
  }

  /** The mask of x in the `mask` call option (a list's first, or a single tensor), or undefined. */
  private flowingMask(kwargs: Record<string, unknown>): tf.Tensor | undefined {
    const m = kwargs['mask'];
    return ((Array.isArray(m) ? m[0] : m) ?? undefined) as tf.Tensor | undefined;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    this.checkCall(list, kwargs); // again: tfjs's model executor calls call() without apply()
    const x = list[0];
    const mask = list[1] ?? this.flowingMask(kwargs) ?? x.kerasMask ?? null;
    const axis = this.stepsAxis;
    return tf.tidy(() => {
      if (mask === null) return tf.mean(x, axis, this.keepdims);
      const m = tf.expandDims(tf.cast(tf.cast(mask, 'bool'), 'float32'), this.dataFormat === 'channelsLast' ? 2 : 1);
      const kept = tf.where(tf.cast(broadcastTo(m, x.shape), 'bool'), x, tf.zerosLike(x));
      return tf.div(tf.sum(kept, axis, this.keepdims), tf.sum(m, axis, this.keepdims));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), dataFormat: this.dataFormat, keepdims: this.keepdims };
  }
}
tf.serialization.registerClass(MaskedGlobalAveragePooling1D);
