/**
 * `TransformerEncoder`, compatible with keras-hub's layer of that name:
 * same arguments, sublayer names, weight names and order, masks and maths.
 *
 * Shape legend: B batch, T sequence length, D model width.
 */
import { AttentionError } from '../errors';
import * as tf from '@tensorflow/tfjs';
import type { CallSignature } from './base/call_signature';
import {
  assignRoles, attend, BlockSettings, checkBlockMask, blockSettings, buildSublayer, feedForward, headSize, mergeMasks, newAttention,
  checkBlockSize, newDense, newLayerNorm, residual, settingsConfig, shapeList, tensorMask, TransformerBlockArgs,
} from './transformer_common';
import { asList, ownCopy, checkBool, combineLayerMasks } from './common';
import { MultiHeadAttention } from './multi_head_attention';
import { ScoringLayer, showShape } from './scoring_layer';
import type { AttentionCallOptions, Shaped } from './scoring_layer';
import { constructorArgs, layerArgs, trainingArg } from './base/layer_guards';
import type { KerasOnlyArg } from './base/layer_guards';
import { KerasWeightPaths, nestedKerasWeightPaths } from './base/keras_weight_paths';

/** Arguments of `TransformerEncoder` (keras-hub's, camelCased, plus one tfjs addition). */
export interface TransformerEncoderArgs extends TransformerBlockArgs {
  /**
   * Return `[output, scores]`, scores `[B, N, T, T]` the self-attention's
   * weights: keras-hub's call argument `return_attention_scores`. A
   * constructor argument too because tfjs computes symbolic output shapes
   * without the call's arguments; the call argument `returnAttentionScores`
   * works on concrete tensors. Default false.
   */
  returnAttentionScores?: boolean;
}

const NAME = 'TransformerEncoder';

/** The call options of `TransformerEncoder`. */
export interface TransformerEncoderCallOptions extends AttentionCallOptions {
  /** Names of the inputs after the first (`'paddingMask'`, `'attentionMask'`). Default: positional. */
  inputNames?: string[];
}

/**
 * One transformer encoder block (Vaswani et al., 2017), as keras-hub builds it.
 *
 * Post-norm (default): `x = LN(x + Drop(MHA(x, x, mask)))`, then
 * `LN(x + Drop(W2·act(W1·x)))`. With `normalizeFirst`: `x + Drop(MHA(LN(x)))`
 * and `x + Drop(FFN(LN(x)))`.
 *
 * Inputs: `x` `[B, T, D]`, or `[x, paddingMask]` with paddingMask `[B, T]`
 * (1/true = real token, may be attended to), or `[x, paddingMask,
 * attentionMask]` with attentionMask `[B, T, T]` (true = may attend); both
 * masks are and'ed. Call kwarg `inputNames` names the inputs after x when
 * they are not in that order (e.g. `['attentionMask']`); the Keras loader
 * sets it. A Keras mask flowing in with x (e.g. from an Embedding or
 * TokenAndPositionEmbedding with maskZero) is the padding mask when none is
 * given, and, as in keras-hub (its MultiHeadAttention also takes the
 * query's and value's Keras masks), it hides the padded query rows too: on
 * the real tokens' rows the two ways of giving a mask agree; a padded row
 * with a mask on x sees nothing (uniform weights, or zeros with scores, as
 * Keras ≥ 3.10). The output keeps x's mask.
 * With `returnAttentionScores` (keras-hub's `return_attention_scores`) the
 * block returns `[output, scores]`; as in keras-hub, the attention then
 * takes Keras's scores path.
 * Sublayers, in keras-hub's weight order: `self_attention_layer`
 * (MultiHeadAttention, keyDim = D / numHeads), `self_attention_layer_norm`,
 * `feedforward_layer_norm`, `feedforward_intermediate_dense`,
 * `feedforward_output_dense`; weights are named
 * `<name>/self_attention_layer/query/kernel` and so on.
 *
 * @returns `[B, T, D]`, or `[output, scores]` with scores `[B, N, T, T]`.
 *
 * @example
 * ```ts
 * const enc = new TransformerEncoder({ intermediateDim: 32, numHeads: 2 });
 * (enc.apply(tf.ones([1, 5, 16])) as tf.Tensor).shape;   // [1, 5, 16]
 * ```
 */
export class TransformerEncoder extends ScoringLayer<TransformerEncoderCallOptions> {
  static className = NAME;
  /** The constructor's own arguments (beyond tf.layers.Layer's); any other is refused by name. */
  static readonly constructorArgs: readonly string[] = constructorArgs<TransformerEncoderArgs>()(['intermediateDim', 'numHeads', 'dropout', 'activation', 'layerNormEpsilon', 'kernelInitializer', 'biasInitializer', 'normalizeFirst', 'inputNames', 'implementation', 'memoryBudget', 'returnAttentionScores']);
  /** keras-hub's regularizer arguments (not implemented here; null in configs that do not use them). */
  static readonly kerasOnlyArgs: Readonly<Record<string, KerasOnlyArg>> = { kernelRegularizer: 'unset', biasRegularizer: 'unset' };
  static readonly callSignature: CallSignature = {
    keras: ['padding_mask', 'attention_mask', 'training', 'return_attention_scores'],
    tensorInputs: ['padding_mask', 'attention_mask'],
    namedInputs: true,
    optionsAsConfig: ['return_attention_scores'],
    callOptions: ['training', 'mask', 'inputNames', 'returnAttentionScores'],
  };
  protected readonly returnAttentionScores: boolean;
  protected override readonly widthBoundInputs: readonly string[] = ['input'];
  protected override readonly maskedInputs: readonly string[] = ['x'];
  /** keras-hub holds the sublayers as `_self_attention_layer`, `_self_attention_layer_norm`, ... */
  static readonly kerasWeightPaths: KerasWeightPaths = {
    ...nestedKerasWeightPaths('self_attention_layer', '_self_attention_layer', MultiHeadAttention.kerasWeightPaths),
    self_attention_layer_norm: '_self_attention_layer_norm',
    feedforward_layer_norm: '_feedforward_layer_norm',
    feedforward_intermediate_dense: '_feedforward_intermediate_dense',
    feedforward_output_dense: '_feedforward_output_dense',
  };
  private readonly settings: BlockSettings;
  private readonly inputNames?: string[];
  private attention?: MultiHeadAttention;
  private attentionNorm?: tf.layers.Layer;
  private feedforwardNorm?: tf.layers.Layer;
  private intermediate?: tf.layers.Layer;
  private outputDense?: tf.layers.Layer;

  constructor(args: TransformerEncoderArgs) {
    super(layerArgs(new.target, args));
    this.settings = blockSettings(NAME, args);
    this.inputNames = args.inputNames ?? undefined;
    this.returnAttentionScores = checkBool(NAME, 'returnAttentionScores', args.returnAttentionScores, false);
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const x = shapeList(inputShape)[0];
    const D = x[x.length - 1] as number;
    const s = this.settings;
    checkBlockSize(NAME, D, s);
    this.attention = newAttention('self_attention_layer', s, headSize(NAME, D, s.numHeads));
    buildSublayer(this.attention, [x, x]);
    this.attentionNorm = newLayerNorm('self_attention_layer_norm', s);
    buildSublayer(this.attentionNorm, [x]);
    this.feedforwardNorm = newLayerNorm('feedforward_layer_norm', s);
    buildSublayer(this.feedforwardNorm, [x]);
    this.intermediate = newDense('feedforward_intermediate_dense', s, s.intermediateDim, s.activation);
    buildSublayer(this.intermediate, [x]);
    this.outputDense = newDense('feedforward_output_dense', s, D);
    buildSublayer(this.outputDense, [[...x.slice(0, -1), s.intermediateDim]]);
    this.trainableWeights = [this.attention, this.attentionNorm, this.feedforwardNorm, this.intermediate, this.outputDense]
      .flatMap((l) => l.trainableWeights);
    this.built = true;
  }

  /** The inputs, checked before the build in this layer's name (a 2-D x was refused in MultiHeadAttention's, int32 x ran). */
  protected override checkCall(list: readonly Shaped[], kwargs: Record<string, unknown>): void {
    if (list.length < 1 || list.length > 3) {
      throw new AttentionError(`${NAME}: expected inputs x or [x, paddingMask?, attentionMask?], but got ${list.length} inputs.`);
    }
    const x = list[0];
    this.checkSequence('x', x, 'x of rank 3 [B, T, D]', showShape(x.shape));
    const roles = assignRoles(NAME, list, kwargs['inputNames'] ?? this.inputNames, ['paddingMask', 'attentionMask']);
    const [B, T] = x.shape;
    checkBlockMask(NAME, 'paddingMask', roles.paddingMask, [B, T], '[B, T]');
    checkBlockMask(NAME, 'attentionMask', roles.attentionMask, [B, T, T], '[B, T, T]');
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    if (list.length < 1 || list.length > 3) {
      throw new AttentionError(`${NAME}: expected inputs x or [x, paddingMask?, attentionMask?], but got ${list.length} inputs.`);
    }
    const [x] = list;
    if (x.rank !== 3) throw new AttentionError(`${NAME}: expected x of rank 3 [B, T, D], but got [${x.shape.join(',')}].`);
    const roles = assignRoles(NAME, list, kwargs['inputNames'] ?? this.inputNames, ['paddingMask', 'attentionMask']);
    // The mask riding on x, which keras-hub's attention also takes as query and value masks.
    const onX = tensorMask(kwargs, 0, x);
    const padding = roles.paddingMask ?? onX;
    const training = trainingArg(this, kwargs);
    const returnAttentionScores = this.wantsScores(kwargs);
    const s = this.settings;
    return tf.tidy(() => {
      const merged = mergeMasks(padding, roles.attentionMask ?? null);
      const mask = onX === null ? merged : combineLayerMasks(onX, onX, null, merged);
      let scores: tf.Tensor | undefined;
      const h = residual(x, this.attentionNorm!, s, training, (y) => {
        const r = attend(this.attention!, y, y, mask, { training, returnAttentionScores });
        scores = r.scores;
        return r.output;
      });
      const out = residual(h, this.feedforwardNorm!, s, training, (y) => feedForward(y, this.intermediate!, this.outputDense!));
      return returnAttentionScores ? [out, scores as tf.Tensor] : out;
    });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    const x = shapeList(inputShape)[0];
    return this.wantsScores() ? [x, [x[0], this.settings.numHeads, x[1], x[1]]] : x;
  }

  override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor | tf.Tensor[] {
    // The output keeps the padding of x (null when x has none). tfjs's eager
    // apply asks without the input masks: x's own rides on it.
    const x = asList(inputs)[0] as tf.Tensor | undefined;
    return this.outputMask((Array.isArray(mask) ? mask[0] : mask) ?? ownCopy(x?.kerasMask));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      ...settingsConfig(this.settings),
      inputNames: this.inputNames ?? null,
      returnAttentionScores: this.returnAttentionScores,
    };
  }
}
tf.serialization.registerClass(TransformerEncoder);
