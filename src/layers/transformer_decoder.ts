/**
 * `TransformerDecoder`, compatible with keras-hub's layer of that name:
 * same arguments, sublayer names, weight names and order, masks and maths.
 *
 * Shape legend: B batch, T decoder length, S encoder length, D model width.
 */
import { AttentionError } from '../errors';
import * as tf from '@tensorflow/tfjs';
import type { CallSignature } from './base/call_signature';
import {
  assignRoles, attend, BlockSettings, checkBlockMask, blockSettings, buildSublayer, feedForward, headSize, mergeMasks, newAttention,
  checkBlockSize, newDense, newLayerNorm, residual, settingsConfig, shapeList, tensorMask, TransformerBlockArgs,
} from './transformer_common';
import { asList, ownCopy, checkBool } from './common';
import { MultiHeadAttention } from './multi_head_attention';
import { ScoringLayer, showShape } from './scoring_layer';
import type { AttentionCallOptions, Shaped } from './scoring_layer';
import { checkKerasMask } from './base/keras_masks';
import { constructorArgs, layerArgs, trainingArg } from './base/layer_guards';
import type { KerasOnlyArg } from './base/layer_guards';
import { KerasWeightPaths, nestedKerasWeightPaths } from './base/keras_weight_paths';

/** Arguments of `TransformerDecoder` (keras-hub's, camelCased, plus one tfjs addition). */
export interface TransformerDecoderArgs extends TransformerBlockArgs {
  /**
   * Whether self-attention is causal (each position sees itself and earlier
   * ones). keras-hub's call argument `use_causal_mask`; the call kwarg
   * `useCausalMask` overrides it. Default true.
   */
  useCausalMask?: boolean;
  /**
   * Whether the block has cross-attention over an encoder sequence. Default:
   * decided at build time by whether an encoder sequence is among the inputs.
   */
  hasCrossAttention?: boolean;
  /**
   * Return `[output, selfAttentionScores, crossAttentionScores]` (the last
   * only with cross-attention), scores `[B, N, T, T]` and `[B, N, T, S]`. A
   * tfjs addition in the form of keras-hub's TransformerEncoder's
   * `return_attention_scores` (keras-hub's decoder has no such argument; its
   * cached call returns `(outputs, self_cache, cross_cache)` in the same
   * order); as there, the attentions then take Keras's scores path. The call
   * argument `returnAttentionScores` works on concrete tensors. Default false.
   */
  returnAttentionScores?: boolean;
}

const NAME = 'TransformerDecoder';

/** The call options of `TransformerDecoder`. */
export interface TransformerDecoderCallOptions extends AttentionCallOptions {
  /** Names of the inputs after the first (`'encoderSequence'`, `'decoderPaddingMask'`, ...). Default: positional. */
  inputNames?: string[];
  /** Causal self-attention in this call. Default: the constructor's `useCausalMask`. */
  useCausalMask?: boolean;
}
const ROLES = [
  'encoderSequence', 'decoderPaddingMask', 'decoderAttentionMask', 'encoderPaddingMask', 'encoderAttentionMask',
] as const;

/**
 * One transformer decoder block, as keras-hub builds it: causal
 * self-attention, optional cross-attention over an encoder sequence, and a
 * feed-forward block, each a residual block (post-norm by default, pre-norm
 * with `normalizeFirst`).
 *
 * Inputs, in this order (keras-hub's call arguments):
 * `[decoderSequence, encoderSequence?, decoderPaddingMask?,
 * decoderAttentionMask?, encoderPaddingMask?, encoderAttentionMask?]`, with
 * decoderSequence `[B, T, D]`, encoderSequence `[B, S, De]`, padding masks
 * `[B, T]` / `[B, S]` (1/true = real token) and attention masks `[B, T, T]` /
 * `[B, T, S]` (true = may attend). Without cross-attention
 * (`hasCrossAttention: false`), the inputs are `[decoderSequence,
 * decoderPaddingMask?, decoderAttentionMask?]`. Call kwarg `inputNames`
 * names the inputs after the first when some are skipped (e.g.
 * `['encoderSequence', 'encoderPaddingMask']`); the Keras loader sets it.
 * Keras masks riding on the sequences (from an Embedding or
 * TokenAndPositionEmbedding with maskZero, or a TransformerEncoder's output,
 * which keeps its input's mask) are the padding masks when none is given:
 * the decoder sequence's for self-attention, the encoder sequence's for
 * cross-attention. As in keras-hub (whose cached attention takes no Keras
 * masks), they act exactly as the same masks given as inputs.
 * Sublayers, in keras-hub's weight order: `self_attention`,
 * `self_attention_layer_norm`, [`cross_attention`,
 * `cross_attention_layer_norm`], `feedforward_intermediate_dense`,
 * `feedforward_output_dense`, `feedforward_layer_norm`.
 *
 * @returns `[B, T, D]`, or with `returnAttentionScores` `[output, selfScores,
 *   crossScores?]`.
 *
 * @example
 * ```ts
 * const dec = new TransformerDecoder({ intermediateDim: 32, numHeads: 2 });
 * (dec.apply([tf.ones([1, 4, 16]), tf.ones([1, 6, 16])]) as tf.Tensor).shape;   // [1, 4, 16]
 * ```
 */
export class TransformerDecoder extends ScoringLayer<TransformerDecoderCallOptions, tf.Tensor[]> {
  static className = NAME;
  /** The constructor's own arguments (beyond tf.layers.Layer's); any other is refused by name. */
  static readonly constructorArgs: readonly string[] = constructorArgs<TransformerDecoderArgs>()(['intermediateDim', 'numHeads', 'dropout', 'activation', 'layerNormEpsilon', 'kernelInitializer', 'biasInitializer', 'normalizeFirst', 'inputNames', 'implementation', 'memoryBudget', 'useCausalMask', 'hasCrossAttention', 'returnAttentionScores']);
  /** keras-hub's build shapes, found again from the inputs, and its regularizer arguments (not implemented here). */
  static readonly kerasOnlyArgs: Readonly<Record<string, KerasOnlyArg>> = {
    decoderSequenceShape: 'shape',
    encoderSequenceShape: 'shape',
    kernelRegularizer: 'unset',
    biasRegularizer: 'unset',
  };
  static readonly callSignature: CallSignature = {
    keras: ['encoder_sequence', 'decoder_padding_mask', 'decoder_attention_mask', 'encoder_padding_mask', 'encoder_attention_mask', 'training', 'use_causal_mask'],
    tensorInputs: ['encoder_sequence', 'decoder_padding_mask', 'decoder_attention_mask', 'encoder_padding_mask', 'encoder_attention_mask'],
    namedInputs: true,
    optionsAsConfig: ['use_causal_mask'],
    callOptions: ['training', 'mask', 'inputNames', 'useCausalMask', 'returnAttentionScores'],
  };
  protected readonly returnAttentionScores: boolean;
  protected override readonly widthBoundInputs: readonly string[] = ['decoderSequence'];
  protected override readonly maskedInputs: readonly string[] = ['decoderSequence'];
  /** keras-hub holds the sublayers as `_self_attention_layer`, `_cross_attention_layer`, ... */
  static readonly kerasWeightPaths: KerasWeightPaths = {
    ...nestedKerasWeightPaths('self_attention', '_self_attention_layer', MultiHeadAttention.kerasWeightPaths),
    self_attention_layer_norm: '_self_attention_layer_norm',
    ...nestedKerasWeightPaths('cross_attention', '_cross_attention_layer', MultiHeadAttention.kerasWeightPaths),
    cross_attention_layer_norm: '_cross_attention_layer_norm',
    feedforward_intermediate_dense: '_feedforward_intermediate_dense',
    feedforward_output_dense: '_feedforward_output_dense',
    feedforward_layer_norm: '_feedforward_layer_norm',
  };
  private readonly settings: BlockSettings;
  private readonly useCausalMask: boolean;
  private readonly inputNames?: string[];
  private hasCrossAttention?: boolean;
  private selfAttention?: MultiHeadAttention;
  private selfAttentionNorm?: tf.layers.Layer;
  private crossAttention?: MultiHeadAttention;
  private crossAttentionNorm?: tf.layers.Layer;
  private intermediate?: tf.layers.Layer;
  private outputDense?: tf.layers.Layer;
  private feedforwardNorm?: tf.layers.Layer;

  constructor(args: TransformerDecoderArgs) {
    super(layerArgs(new.target, args));
    this.settings = blockSettings(NAME, args);
    this.useCausalMask = checkBool(NAME, 'useCausalMask', args.useCausalMask, true);
    this.inputNames = args.inputNames ?? undefined;
    if (args.hasCrossAttention !== undefined && args.hasCrossAttention !== null) this.hasCrossAttention = checkBool(NAME, 'hasCrossAttention', args.hasCrossAttention, false);
    this.returnAttentionScores = checkBool(NAME, 'returnAttentionScores', args.returnAttentionScores, false);
  }

  /** The index of the encoder sequence among the inputs (1 unless inputNames says otherwise). */
  private encoderIndex(names: unknown): number {
    return Array.isArray(names) ? names.indexOf('encoderSequence') + 1 : 1;
  }

  private pendingNames?: unknown;

  /** Whether the block has cross-attention: the argument, else inputNames, else whether input 1 is rank 3. */
  private crossFromShapes(shapes: (number | null)[][], names: unknown): boolean {
    if (this.hasCrossAttention !== undefined) return this.hasCrossAttention;
    if (Array.isArray(names)) return names.includes('encoderSequence');
    return shapes.length > 1 && shapes[1].length === 3;
  }

  /** build() sees only shapes: remember the input names it needs (runs in apply, before build). */
  /** Refuses more inputs than the block takes (without inputNames), or none. */
  private checkCount(n: number, cross: boolean, names: unknown): void {
    if (n < 1 || (names === undefined && n > (cross ? 6 : 3))) {
      throw new AttentionError(
        `${NAME}: expected inputs ${cross
          ? '[decoderSequence, encoderSequence, decoderPaddingMask?, decoderAttentionMask?, encoderPaddingMask?, encoderAttentionMask?]'
          : '[decoderSequence, decoderPaddingMask?, decoderAttentionMask?]'}, but got ${n} inputs.`,
      );
    }
  }

  /** Also checks the sequences and the encoder sequence's Keras mask before the build, in this layer's name. */
  protected override checkCall(list: readonly Shaped[], kwargs: Record<string, unknown>): void {
    const names = kwargs['inputNames'] ?? this.inputNames;
    const cross = this.crossFromShapes(list.map((x) => [...x.shape]), names);
    this.checkCount(list.length, cross, names);
    this.checkSequence('decoderSequence', list[0], 'decoderSequence of rank 3 [B, T, D]', showShape(list[0].shape));
    const roles = assignRoles(NAME, list, names, cross ? ROLES : ROLES.filter((r) => !r.startsWith('encoder')));
    const [B, T] = list[0].shape;
    let S: number | null = null;
    const e = roles.encoderSequence;
    if (cross && e !== undefined) {
      const i = list.indexOf(e);
      this.checkSequence('encoderSequence', e, `an encoderSequence of rank 3 [B, S, D] as input ${i}`, showShape(e.shape));
      if (e.shape[0] !== null && B !== null && e.shape[0] !== B) {
        throw new AttentionError(
          `${NAME}: expected decoderSequence and encoderSequence to have the same batch size, but got decoderSequence ${showShape(list[0].shape)} and encoderSequence ${showShape(e.shape)}.`,
        );
      }
      S = e.shape[1];
      const masks = kwargs['mask'];
      if (Array.isArray(masks)) checkKerasMask(NAME, 'encoderSequence', masks[i], e);
    }
    checkBlockMask(NAME, 'decoderPaddingMask', roles.decoderPaddingMask, [B, T], '[B, T]');
    checkBlockMask(NAME, 'decoderAttentionMask', roles.decoderAttentionMask, [B, T, T], '[B, T, T]');
    checkBlockMask(NAME, 'encoderPaddingMask', roles.encoderPaddingMask, [B, S], '[B, S]');
    checkBlockMask(NAME, 'encoderAttentionMask', roles.encoderAttentionMask, [B, T, S], '[B, T, S]');
    this.pendingNames = names;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shapes = shapeList(inputShape);
    const x = shapes[0];
    const D = x[x.length - 1] as number;
    const s = this.settings;
    checkBlockSize(NAME, D, s);
    const K = headSize(NAME, D, s.numHeads);
    this.hasCrossAttention = this.crossFromShapes(shapes, this.pendingNames);
    const encoderIndex = this.encoderIndex(this.pendingNames);
    this.selfAttention = newAttention('self_attention', s, K);
    buildSublayer(this.selfAttention, [x, x]);
    this.selfAttentionNorm = newLayerNorm('self_attention_layer_norm', s);
    buildSublayer(this.selfAttentionNorm, [x]);
    const subs: tf.layers.Layer[] = [this.selfAttention, this.selfAttentionNorm];
    if (this.hasCrossAttention) {
      const e = shapes[encoderIndex];
      if (e === undefined || e.length !== 3) {
        throw new AttentionError(`${NAME}: expected an encoder sequence [B, S, D] as input 1 for cross-attention, but got ${e === undefined ? 'none' : `[${e.join(',')}]`}.`);
      }
      this.crossAttention = newAttention('cross_attention', s, K, K);
      buildSublayer(this.crossAttention, [x, e]);
      this.crossAttentionNorm = newLayerNorm('cross_attention_layer_norm', s);
      buildSublayer(this.crossAttentionNorm, [x]);
      subs.push(this.crossAttention, this.crossAttentionNorm);
    }
    this.intermediate = newDense('feedforward_intermediate_dense', s, s.intermediateDim, s.activation);
    buildSublayer(this.intermediate, [x]);
    this.outputDense = newDense('feedforward_output_dense', s, D);
    buildSublayer(this.outputDense, [[...x.slice(0, -1), s.intermediateDim]]);
    this.feedforwardNorm = newLayerNorm('feedforward_layer_norm', s);
    buildSublayer(this.feedforwardNorm, [x]);
    subs.push(this.intermediate, this.outputDense, this.feedforwardNorm);
    this.trainableWeights = subs.flatMap((l) => l.trainableWeights);
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const names = kwargs['inputNames'] ?? this.inputNames;
    const cross = this.crossFromShapes(list.map((t) => t.shape), names);
    this.checkCount(list.length, cross, names);
    const [x] = list;
    if (x.rank !== 3) throw new AttentionError(`${NAME}: expected decoderSequence of rank 3 [B, T, D], but got [${x.shape.join(',')}].`);
    const order = cross ? ROLES : ROLES.filter((r) => !r.startsWith('encoder'));
    const roles = assignRoles(NAME, list, names, order);
    const encoder = cross ? roles.encoderSequence : null;
    if (cross && (encoder === undefined || encoder === null || encoder.rank !== 3)) {
      throw new AttentionError(`${NAME}: this layer has cross-attention; expected an encoderSequence [B, S, D] as input 1, but got ${encoder === undefined || encoder === null ? 'none' : `[${encoder.shape.join(',')}]`}.`);
    }
    const decPadding = roles.decoderPaddingMask ?? tensorMask(kwargs, 0, x);
    const encPadding = cross ? roles.encoderPaddingMask ?? tensorMask(kwargs, list.indexOf(encoder!), encoder!) : null;
    const causalArg = kwargs['useCausalMask'];
    const causal = typeof causalArg === 'boolean' ? causalArg : this.useCausalMask;
    const training = trainingArg(this, kwargs);
    const returnAttentionScores = this.wantsScores(kwargs);
    const s = this.settings;
    return tf.tidy(() => {
      const scores: tf.Tensor[] = [];
      const run = (mha: MultiHeadAttention, q: tf.Tensor, v: tf.Tensor, mask: tf.Tensor | null, useCausalMask: boolean) => {
        const r = attend(mha, q, v, mask, { training, useCausalMask, returnAttentionScores });
        if (r.scores) scores.push(r.scores);
        return r.output;
      };
      const selfMask = mergeMasks(decPadding, roles.decoderAttentionMask ?? null);
      let h = residual(x, this.selfAttentionNorm!, s, training, (y) => run(this.selfAttention!, y, y, selfMask, causal));
      if (cross) {
        const crossMask = mergeMasks(encPadding, roles.encoderAttentionMask ?? null);
        h = residual(h, this.crossAttentionNorm!, s, training, (y) => run(this.crossAttention!, y, encoder!, crossMask, false));
      }
      const out = residual(h, this.feedforwardNorm!, s, training, (y) => feedForward(y, this.intermediate!, this.outputDense!));
      return returnAttentionScores ? [out, ...scores] : out;
    });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    const shapes = shapeList(inputShape);
    const x = shapes[0];
    if (!this.wantsScores()) return x;
    const N = this.settings.numHeads;
    const out: tf.Shape[] = [x, [x[0], N, x[1], x[1]]];
    if (this.crossFromShapes(shapes, this.pendingNames ?? this.inputNames)) {
      const e = shapes[this.encoderIndex(this.pendingNames ?? this.inputNames)];
      out.push([x[0], N, x[1], e === undefined ? null : e[1]]);
    }
    return out;
  }

  override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor | tf.Tensor[] {
    // The output keeps the padding of the decoder sequence (null when none);
    // tfjs's eager apply asks without the input masks: x's own rides on it.
    const x = asList(inputs)[0] as tf.Tensor | undefined;
    const m = ((Array.isArray(mask) ? mask[0] : mask) ?? ownCopy(x?.kerasMask)) as tf.Tensor;
    if (!this.wantsScores()) return m;
    return [m, ...(this.hasCrossAttention ? [null, null] : [null])] as tf.Tensor[];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      ...settingsConfig(this.settings),
      useCausalMask: this.useCausalMask,
      hasCrossAttention: this.hasCrossAttention ?? null,
      inputNames: this.inputNames ?? null,
      returnAttentionScores: this.returnAttentionScores,
    };
  }
}
tf.serialization.registerClass(TransformerDecoder);
