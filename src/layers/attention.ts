/**
 * `Attention` (Luong-style dot-product) and `AdditiveAttention` (Bahdanau),
 * compatible with Keras's layers of those names. As in Keras, the layers
 * share the masking and weighting steps; `AdditiveAttention` overrides only
 * the score step.
 *
 * Shape legend: B batch, T query length, S value length, D depth.
 */
import * as tf from '@tensorflow/tfjs';
import { AttentionError } from '../errors';
import type { LayerArgs } from './tfjs_types';
import { additiveScores } from '../ops/additive';
import { maskedSoftmax, weightedSum } from '../ops/masked_softmax';
import { bandMask } from '../ops/masks';
import { asList, perInputMasks, checkBool, checkChoice, checkRate, inputShapes, lastDim } from './common';
import { LayerVariable } from './multi_head_base';
import { CausalCallOptions, Kwargs, ScoringLayer, Shaped, showShape } from './scoring_layer';
import type { CallSignature } from './base/call_signature';
import { constructorArgs, layerArgs, trainingArg } from './base/layer_guards';
import { checkKerasMask } from './base/keras_masks';
import { nextDropoutSeed } from './base/seed_generator';

/** Arguments of `Attention` (Keras's, in camelCase). */
export interface AttentionArgs extends LayerArgs {
  /** Learn a scalar `scale` multiplying the scores. Default false. */
  useScale?: boolean;
  /** `'dot'`: `q·k`; `'concat'`: `concat_score_weight·Σ tanh(scale·(q + k))`. Default `'dot'`. */
  scoreMode?: 'dot' | 'concat';
  /** Dropout rate on the attention weights, in [0, 1). Default 0. */
  dropout?: number;
  /**
   * Seed of the dropout: each training call draws a new mask, in a sequence
   * the seed fixes (as Keras's SeedGenerator), so a run is reproducible and
   * the mask still moves. Default: unseeded.
   */
  seed?: number | null;
  /** Return `[output, scores]` (a tfjs addition; the call argument also works). Default false. */
  returnAttentionScores?: boolean;
  /** Apply a causal mask (a tfjs addition; the call argument also works). Default false. */
  useCausalMask?: boolean;
}

/**
 * Keras-compatible dot-product attention layer.
 *
 * Inputs `[query, value]` or `[query, value, key]` (key defaults to value):
 * query `[B, T, D]`, value `[B, S, Dv]`, key `[B, S, D]`. Masks from earlier
 * layers: the value mask hides keys, the query mask zeroes output rows.
 * Call arguments: `useCausalMask`, `returnAttentionScores`, `training`.
 *
 * @returns `[B, T, Dv]`, or `[output, scores]` with scores `[B, T, S]`.
 *
 * @example
 * ```ts
 * const att = new Attention({ useScale: true });
 * (att.apply([tf.randomNormal([2, 3, 8]), tf.randomNormal([2, 5, 8])]) as tf.Tensor).shape;  // [2, 3, 8]
 * ```
 */
export class Attention extends ScoringLayer<CausalCallOptions> {
  protected override readonly modelDroppedCallArgs: readonly string[] = ['returnAttentionScores', 'useCausalMask'];
  static className = 'Attention';
  /** The constructor's own arguments (beyond tf.layers.Layer's); any other is refused by name. */
  static readonly constructorArgs: readonly string[] = constructorArgs<AttentionArgs>()(['useScale', 'scoreMode', 'dropout', 'seed', 'returnAttentionScores', 'useCausalMask']);
  static readonly callSignature: CallSignature = {
    keras: ['mask', 'training', 'return_attention_scores', 'use_causal_mask'],
    tensorInputs: [],
    optionsAsConfig: ['return_attention_scores', 'use_causal_mask'],
    callOptions: ['training', 'mask', 'returnAttentionScores', 'useCausalMask'],
  };
  protected readonly useScale: boolean;
  protected readonly scoreMode: 'dot' | 'concat';
  protected readonly dropoutRate: number;
  protected readonly seed?: number;
  protected readonly returnAttentionScores: boolean;
  protected readonly useCausalMask: boolean;
  protected scale?: LayerVariable;
  protected concatScoreWeight?: LayerVariable;

  constructor(args: AttentionArgs = {}, defaults: { useScale: boolean } = { useScale: false }) {
    super(layerArgs(new.target, args));
    const name = (this.constructor as unknown as { className: string }).className;
    this.useScale = checkBool(name, 'useScale', args.useScale, defaults.useScale);
    this.scoreMode = checkChoice(name, 'scoreMode', args.scoreMode, ['dot', 'concat'] as const, 'dot');
    this.dropoutRate = checkRate(name, 'dropout', args.dropout);
    if (args.seed !== undefined && args.seed !== null && !Number.isInteger(args.seed)) {
      throw new AttentionError(`${name}: expected seed to be an integer, but got seed=${String(args.seed)}.`);
    }
    this.seed = args.seed ?? undefined;
    this.returnAttentionScores = checkBool(name, 'returnAttentionScores', args.returnAttentionScores, false);
    this.useCausalMask = checkBool(name, 'useCausalMask', args.useCausalMask, false);
  }

  protected get layerName(): string {
    return (this.constructor as unknown as { className: string }).className;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    inputShapes(this.layerName, inputShape, 2, 3, 3);
    if (this.useScale) {
      this.scale = this.addWeight('scale', [], 'float32', tf.initializers.ones());
    }
    if (this.scoreMode === 'concat') {
      this.concatScoreWeight = this.addWeight('concat_score_weight', [], 'float32', tf.initializers.ones());
    }
    this.built = true;
  }

  /** The score step: `[B, T, D]`, `[B, S, D]` → `[B, T, S]`. Call inside `tf.tidy`. */
  protected computeScores(query: tf.Tensor, key: tf.Tensor): tf.Tensor {
    if (this.scoreMode === 'dot') {
      const scores = tf.matMul(query, key, false, true);
      return this.scale ? tf.mul(scores, this.scale.read()) : scores;
    }
    const q = this.scale ? tf.mul(query, this.scale.read()) : query;
    const k = this.scale ? tf.mul(key, this.scale.read()) : key;
    return tf.mul((this.concatScoreWeight as LayerVariable).read(), additiveScores(q, k, 1));
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    const [qs, vs] = inputShapes(this.layerName, inputShape, 2, 3, 3);
    const out: tf.Shape = [qs[0], qs[1], vs[2]];
    return this.wantsScores() ? [out, [qs[0], qs[1], vs[1]]] : out;
  }

  override computeMask(_inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor | tf.Tensor[] {
    const qMask = Array.isArray(mask) ? (mask[0] ?? null) : (mask ?? null);
    return this.outputMask(qMask);
  }

  protected override checkCall(list: readonly Shaped[]): void {
    this.checkQueryValueKeyList(list, 3, '[query, value] or [query, value, key]');
    const q = list[0].shape[2];
    const k = (list[2] ?? list[1]).shape[2];
    if (q !== null && k !== null && q !== k) {
      const what = list[2] === undefined ? 'value (the key)' : 'key';
      const ks = (list[2] ?? list[1]).shape;
      throw new AttentionError(
        `${this.layerName}: expected query and ${what} to have the same last dimension, but got query ${showShape(list[0].shape)} and ${what} ${showShape(ks)}.`,
      );
    }
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const list = asList(inputs);
    if (list.length < 2 || list.length > 3) {
      throw new AttentionError(`${this.layerName}: expected inputs [query, value] or [query, value, key], but got ${list.length} input(s).`);
    }
    const [query, value] = list;
    const key = list[2] ?? value;
    const masks = perInputMasks([query, value], kwargs['mask']);
    // Given masks were checked before the build; these may be the ones riding on the inputs.
    checkKerasMask(this.layerName, 'query', masks[0], query);
    checkKerasMask(this.layerName, 'value', masks[1], value);
    const causalArg = kwargs['useCausalMask'];
    const causal = typeof causalArg === 'boolean' ? causalArg : this.useCausalMask;
    const returnScores = this.wantsScores(kwargs);
    const training = trainingArg(this, kwargs);
    return tf.tidy(() => {
      const asBool = (m: tf.Tensor) => (m.dtype === 'bool' ? m : tf.notEqual(m, 0));
      let mask: tf.Tensor | null = masks[1] ? tf.expandDims(asBool(masks[1]), 1) : null; // [B, 1, S]
      if (causal) {
        const tri = tf.expandDims(bandMask(query.shape[1] as number, value.shape[1] as number, Infinity), 0);
        mask = mask === null ? tri : tf.logicalAnd(mask, tri);
      }
      const weights = maskedSoftmax(this.computeScores(query, key), mask, 'uniform');
      let output = weightedSum(weights, value, this.dropoutRate, training, nextDropoutSeed(this, this.seed, training && this.dropoutRate > 0));
      if (masks[0]) output = tf.mul(output, tf.expandDims(tf.cast(asBool(masks[0]), 'float32'), 2));
      return returnScores ? [output, weights] : output;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      useScale: this.useScale,
      scoreMode: this.scoreMode,
      dropout: this.dropoutRate,
      seed: this.seed ?? null,
      returnAttentionScores: this.returnAttentionScores,
      useCausalMask: this.useCausalMask,
    };
  }
}
tf.serialization.registerClass(Attention);

/** Arguments of `AdditiveAttention` (Keras's, in camelCase). */
export type AdditiveAttentionArgs = Omit<AttentionArgs, 'scoreMode'>;

/**
 * Keras-compatible additive (Bahdanau) attention layer: scores
 * `Σ_d scale_d·tanh(q_d + k_d)` with a learned `scale [D]` (when `useScale`,
 * the default), then the same masking and weighting as `Attention`.
 *
 * @returns `[B, T, Dv]`, or `[output, scores]` with scores `[B, T, S]`.
 *
 * @example
 * ```ts
 * const att = new AdditiveAttention();
 * (att.apply([tf.randomNormal([2, 3, 8]), tf.randomNormal([2, 5, 8])]) as tf.Tensor).shape;  // [2, 3, 8]
 * ```
 */
export class AdditiveAttention extends Attention {
  static override className = 'AdditiveAttention';
  /** The constructor's own arguments (beyond tf.layers.Layer's); any other is refused by name. */
  static override readonly constructorArgs: readonly string[] = constructorArgs<AdditiveAttentionArgs>()(['useScale', 'dropout', 'seed', 'returnAttentionScores', 'useCausalMask']);
  static override readonly callSignature: CallSignature = {
    keras: ['mask', 'training', 'return_attention_scores', 'use_causal_mask'],
    tensorInputs: [],
    optionsAsConfig: ['return_attention_scores', 'use_causal_mask'],
    callOptions: ['training', 'mask', 'returnAttentionScores', 'useCausalMask'],
  };

  constructor(args: AdditiveAttentionArgs = {}) {
    // Checked before the names (Attention's constructor checks them): scoreMode gets its own message.
    if (args !== null && typeof args === 'object' && (args as AttentionArgs).scoreMode !== undefined) {
      throw new AttentionError(`AdditiveAttention: scoreMode is not an argument of AdditiveAttention, but got scoreMode=${JSON.stringify((args as AttentionArgs).scoreMode)}.`);
    }
    super(args, { useScale: true });
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const [qs] = inputShapes(this.layerName, inputShape, 2, 3, 3);
    if (this.useScale) {
      this.scale = this.addWeight('scale', [lastDim(this.layerName, qs, 'query')], 'float32', tf.initializers.glorotUniform({}));
    }
    this.built = true;
  }

  protected override computeScores(query: tf.Tensor, key: tf.Tensor): tf.Tensor {
    return additiveScores(query, key, this.scale ? this.scale.read() : 1);
  }

  override getConfig(): tf.serialization.ConfigDict {
    const { scoreMode: _unused, ...rest } = super.getConfig();
    return rest;
  }
}
tf.serialization.registerClass(AdditiveAttention);
