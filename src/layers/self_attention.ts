/**
 * The article's self-attention and positional attention as tf.layers layers.
 *
 * Shape legend: B batch, T sequence length, D model width, N heads.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from './tfjs_types';
import { alibiBias, applyRotary, relativePositionOneHot } from '../ops/position';
import { checkBool, checkChoice, checkOptionalPositiveInt, checkPositiveInt, combineLayerMasks, inputShapes, lastDim } from './common';
import { Kwargs, LayerVariable, MultiHeadBase, MultiHeadBaseArgs } from './multi_head_base';
import { AttentionError } from '../errors';
import type { CallSignature } from './base/call_signature';
import { refuseRenamedArgs, renameConfig } from './base/renamed_args';
import type { Shaped } from './scoring_layer';
import { showShape } from './scoring_layer';

/** The constructor arguments these layers renamed (Keras's names now). */
const RENAMED = ['causal', 'outputDim'] as const;
import { constructorArgs, trainingArg } from './base/layer_guards';

/** Arguments of `SelfAttention`. */
export interface SelfAttentionArgs extends MultiHeadBaseArgs, LayerArgs {
  /**
   * Width of the output, a positive integer (as Keras's MultiHeadAttention's
   * `outputShape`). Default: the input's last dimension D. (Was `outputDim`.)
   */
  outputShape?: number | [number] | null;
  /**
   * Causal attention: position `i` attends to positions `0..i` (as Keras's
   * `useCausalMask`). Default false. (Was `causal`.)
   */
  useCausalMask?: boolean;
}

/**
 * Multi-head self-attention over `[B, T, D]`: each position attends to every
 * position of the same sequence through learned query, key, value and output
 * projections (weights named as Keras's MultiHeadAttention's).
 *
 * A padding mask from an earlier layer (for example
 * `tf.layers.embedding({maskZero: true})`) hides the padded keys; padded
 * query rows attend to nothing and give the output bias. The mask passes on.
 *
 * @returns `[B, T, outputDim]`, or `[output, scores]` with scores `[B, N, T, T]`.
 *
 * @example
 * ```ts
 * const layer = new SelfAttention({ numHeads: 4, keyDim: 16, useCausalMask: true });
 * (layer.apply(tf.randomNormal([2, 10, 64])) as tf.Tensor).shape;   // [2, 10, 64]
 * ```
 */
export class SelfAttention extends MultiHeadBase {
  static className = 'SelfAttention';
  /** The constructor's own arguments (beyond tf.layers.Layer's); any other is refused by name. */
  static readonly constructorArgs: readonly string[] = constructorArgs<SelfAttentionArgs>()(['numHeads', 'keyDim', 'valueDim', 'dropout', 'useBias', 'kernelInitializer', 'biasInitializer', 'kernelRegularizer', 'biasRegularizer', 'kernelConstraint', 'biasConstraint', 'seed', 'returnAttentionScores', 'implementation', 'memoryBudget', 'outputShape', 'useCausalMask']);
  static readonly callSignature: CallSignature = {
    keras: [],
    tensorInputs: [],
    optionsAsConfig: [],
    callOptions: ['training', 'mask', 'returnAttentionScores'],
  };
  protected override readonly widthBoundInputs: readonly string[] = ['input'];
  protected override readonly maskedInputs: readonly string[] = ['input'];
  protected readonly outputDim?: number;
  protected readonly causal: boolean;

  constructor(args: SelfAttentionArgs, layerName = 'SelfAttention') {
    refuseRenamedArgs(layerName, args, RENAMED);
    super(args, layerName);
    const os = args.outputShape;
    const dims = os === undefined || os === null ? [] : Array.isArray(os) ? os : [os];
    if (dims.length > 1 || (Array.isArray(os) && dims.length === 0)) {
      throw new AttentionError(`${layerName}: expected outputShape to be a positive integer, but got outputShape=${JSON.stringify(os)}.`);
    }
    this.outputDim = checkOptionalPositiveInt(layerName, 'outputShape', dims[0]);
    this.causal = checkBool(layerName, 'useCausalMask', args.useCausalMask, false);
  }

  /** Builds from a config; configs saved with the old names (`causal`, `outputDim`) load too. */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    return new cls(renameConfig(config, RENAMED));
  }

  protected override checkCall(list: readonly Shaped[]): void {
    if (list.length !== 1) {
      throw new AttentionError(`${this.layerName}: expected one input [B, T, D], but got ${list.length} inputs.`);
    }
    this.checkSequence('the input', list[0], 'an input of rank 3 [B, T, D]', `input ${showShape(list[0].shape)}`);
  }

  protected get layerName(): string {
    return (this.constructor as unknown as { className: string }).className;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const [s] = inputShapes(this.layerName, inputShape, 1, 1, 3);
    const D = lastDim(this.layerName, s, 'the input');
    this.buildProjections(D, D, D, this.outputDim ?? D);
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    const [s] = inputShapes(this.layerName, inputShape, 1, 1, 3);
    const out: tf.Shape = [s[0], s[1], this.outputDim ?? s[2]];
    return this.wantsScores() ? [out, [s[0], this.numHeads, s[1], s[1]]] : out;
  }

  override computeMask(_inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor | tf.Tensor[] {
    const m = Array.isArray(mask) ? (mask[0] ?? null) : (mask ?? null);
    return this.outputMask(m);
  }

  protected override emptyRows(): 'zeros' | 'uniform' {
    return 'zeros';
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const m = kwargs['mask'];
    const padding = (Array.isArray(m) ? m[0] : (m as tf.Tensor | undefined)) ?? null;
    const returnScores = this.wantsScores(kwargs);
    return tf.tidy(() => {
      const mask = combineLayerMasks(padding, padding, null, null);
      const r = this.attend(x, x, x, mask, this.causal, trainingArg(this, kwargs), returnScores);
      return returnScores ? [r.output, r.scores as tf.Tensor] : r.output;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), outputShape: this.outputDim ?? null, useCausalMask: this.causal };
  }
}
tf.serialization.registerClass(SelfAttention);

/** How `PositionalAttention` puts position into the scores. */
export type PositionKind = 'rotary' | 'alibi' | 'relative';
const POSITIONS: readonly PositionKind[] = ['rotary', 'alibi', 'relative'];

/** Arguments of `PositionalAttention`. */
export interface PositionalAttentionArgs extends SelfAttentionArgs {
  /**
   * `'rotary'`: rotary position embedding of queries and keys (keyDim must
   * be even); `'alibi'`: linear biases `-slope_n·|i - j|` per head;
   * `'relative'`: learned T5-style bucketed relative-position bias. Required.
   */
  position: PositionKind;
  /** Rotary: the longest wavelength. Default 10000. */
  maxWavelength?: number;
  /** Relative: number of buckets. Default 32. */
  numBuckets?: number;
  /** Relative: distance beyond which all positions share a bucket. Default 128. */
  maxDistance?: number;
}

/**
 * Self-attention whose scores carry position, for any sequence length:
 * rotary embeddings (scores depend on relative offsets only), ALiBi biases
 * (no weights), or a learned relative-position bias table
 * `relative_attention_bias [numBuckets, numHeads]` over T5's buckets.
 *
 * @returns `[B, T, outputDim]`, or `[output, scores]`.
 *
 * @example
 * ```ts
 * const layer = new PositionalAttention({ numHeads: 4, keyDim: 16, position: 'alibi', useCausalMask: true });
 * (layer.apply(tf.randomNormal([2, 10, 64])) as tf.Tensor).shape;   // [2, 10, 64]
 * ```
 */
export class PositionalAttention extends SelfAttention {
  static override className = 'PositionalAttention';
  /** The constructor's own arguments (beyond tf.layers.Layer's); any other is refused by name. */
  static override readonly constructorArgs: readonly string[] = constructorArgs<PositionalAttentionArgs>()(['numHeads', 'keyDim', 'valueDim', 'dropout', 'useBias', 'kernelInitializer', 'biasInitializer', 'kernelRegularizer', 'biasRegularizer', 'kernelConstraint', 'biasConstraint', 'seed', 'returnAttentionScores', 'implementation', 'memoryBudget', 'outputShape', 'useCausalMask', 'position', 'maxWavelength', 'numBuckets', 'maxDistance']);
  static override readonly callSignature: CallSignature = SelfAttention.callSignature;
  private readonly position: PositionKind;
  private readonly maxWavelength: number;
  private readonly numBuckets: number;
  private readonly maxDistance: number;
  private relativeTable?: LayerVariable;

  constructor(args: PositionalAttentionArgs) {
    super(args, 'PositionalAttention');
    const name = 'PositionalAttention';
    if (args.position === undefined) {
      throw new AttentionError(`${name}: expected position to be one of 'rotary', 'alibi', 'relative', but got position=undefined.`);
    }
    this.position = checkChoice(name, 'position', args.position, POSITIONS, 'rotary');
    const mw = args.maxWavelength ?? 10000;
    if (typeof mw !== 'number' || !(mw > 0) || !Number.isFinite(mw)) {
      throw new AttentionError(`${name}: expected maxWavelength to be a positive number, but got maxWavelength=${String(mw)}.`);
    }
    this.maxWavelength = mw;
    this.numBuckets = checkPositiveInt(name, 'numBuckets', args.numBuckets ?? 32);
    this.maxDistance = checkPositiveInt(name, 'maxDistance', args.maxDistance ?? 128);
    if (this.position === 'rotary' && this.keyDim % 2 !== 0) {
      throw new AttentionError(`${name}: rotary position needs an even keyDim, but got keyDim=${this.keyDim}.`);
    }
    if (this.position === 'relative' && this.numBuckets < 4) {
      throw new AttentionError(`${name}: expected numBuckets to be at least 4, but got numBuckets=${this.numBuckets}.`);
    }
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    super.build(inputShape);
    if (this.position === 'relative') {
      this.relativeTable = this.addWeight(
        'relative_attention_bias',
        [this.numBuckets, this.numHeads],
        'float32',
        this.kernelInitializer,
        this.kernelRegularizer,
        true,
        this.kernelConstraint,
      );
    }
  }

  protected override transformQueryKey(q: tf.Tensor, k: tf.Tensor): [tf.Tensor, tf.Tensor] {
    if (this.position !== 'rotary') return [q, k];
    return [applyRotary(q, this.maxWavelength), applyRotary(k, this.maxWavelength)];
  }

  protected override scoreBias(T: number, S: number): tf.Tensor | null {
    if (this.position === 'alibi') return alibiBias(this.numHeads, T, S);
    if (this.position === 'relative') {
      const table = (this.relativeTable as LayerVariable).read();
      return tf.tidy(() => {
        const onehot = relativePositionOneHot(T, S, !this.causal, this.numBuckets, this.maxDistance);
        // [T·S, N] → [N, T, S]
        return tf.transpose(tf.reshape(tf.matMul(onehot, table), [T, S, this.numHeads]), [2, 0, 1]);
      });
    }
    return null;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      position: this.position,
      maxWavelength: this.maxWavelength,
      numBuckets: this.numBuckets,
      maxDistance: this.maxDistance,
    };
  }
}
tf.serialization.registerClass(PositionalAttention);
