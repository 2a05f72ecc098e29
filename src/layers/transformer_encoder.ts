/**
 * `TransformerEncoder`, compatible with keras-hub's layer of that name:
 * same arguments, sublayer names, weight names and order, masks and maths.
 *
 * Shape legend: B batch, T sequence length, D model width.
 */
import * as tf from '@tensorflow/tfjs';
import {
  assignRoles, attend, BlockSettings, blockSettings, buildSublayer, feedForward, headSize, mergeMasks, newAttention,
  newDense, newLayerNorm, residual, settingsConfig, shapeList, TransformerBlockArgs,
} from './transformer_common';
import { MultiHeadAttention } from './multi_head_attention';
import type { CallSignature } from './base/call_signature';
import { KerasWeightPaths, nestedKerasWeightPaths } from './base/keras_weight_paths';

/** Arguments of `TransformerEncoder` (keras-hub's, camelCased). */
export type TransformerEncoderArgs = TransformerBlockArgs;

const NAME = 'TransformerEncoder';

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
 * sets it. A Keras mask flowing in with x (e.g. from an Embedding
 * with maskZero) is used as the padding mask when none is given.
 * Sublayers, in keras-hub's weight order: `self_attention_layer`
 * (MultiHeadAttention, keyDim = D / numHeads), `self_attention_layer_norm`,
 * `feedforward_layer_norm`, `feedforward_intermediate_dense`,
 * `feedforward_output_dense`; weights are named
 * `<name>/self_attention_layer/query/kernel` and so on.
 *
 * @returns `[B, T, D]`.
 *
 * @example
 * ```ts
 * const enc = new TransformerEncoder({ intermediateDim: 32, numHeads: 2 });
 * (enc.apply(tf.ones([1, 5, 16])) as tf.Tensor).shape;   // [1, 5, 16]
 * ```
 */
export class TransformerEncoder extends tf.layers.Layer {
  static className = NAME;
  /**
   * keras-hub's `call(inputs, padding_mask=None, attention_mask=None,
   * training=None, return_attention_scores=False)`: the masks are inputs,
   * named by `inputNames` when one is skipped.
   */
  static readonly callSignature: CallSignature = {
    keras: ['padding_mask', 'attention_mask', 'training', 'return_attention_scores'],
    tensorInputs: ['padding_mask', 'attention_mask'],
    namedInputs: true,
    optionsAsConfig: [],
    callOptions: ['inputNames', 'training', 'mask'],
  };
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
    super(args);
    this.settings = blockSettings(NAME, args);
    this.inputNames = args.inputNames ?? undefined;
    this.supportsMasking = true;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const x = shapeList(inputShape)[0];
    const D = x[x.length - 1] as number;
    const s = this.settings;
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

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    if (list.length < 1 || list.length > 3) {
      throw new Error(`${NAME}: expected inputs x or [x, paddingMask?, attentionMask?], but got ${list.length} inputs.`);
    }
    const [x] = list;
    if (x.rank !== 3) throw new Error(`${NAME}: expected x of rank 3 [B, T, D], but got [${x.shape.join(',')}].`);
    const roles = assignRoles(NAME, list, kwargs['inputNames'] ?? this.inputNames, ['paddingMask', 'attentionMask']);
    const given = Array.isArray(kwargs['mask']) ? (kwargs['mask'] as tf.Tensor[])[0] : (kwargs['mask'] as tf.Tensor | undefined);
    const padding = roles.paddingMask ?? given ?? x.kerasMask ?? null;
    const training = kwargs['training'] === true;
    const s = this.settings;
    return tf.tidy(() => {
      const mask = mergeMasks(padding, roles.attentionMask ?? null);
      const h = residual(x, this.attentionNorm!, s, training, (y) => attend(this.attention!, y, y, mask, { training }));
      return residual(h, this.feedforwardNorm!, s, training, (y) => feedForward(y, this.intermediate!, this.outputDense!));
    });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return shapeList(inputShape)[0];
  }

  override computeMask(_inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor | tf.Tensor[] {
    // The output keeps the padding of x (null when x has none).
    return ((Array.isArray(mask) ? mask[0] : mask) ?? null) as tf.Tensor;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...settingsConfig(this.settings), inputNames: this.inputNames ?? null };
  }
}
tf.serialization.registerClass(TransformerEncoder);
