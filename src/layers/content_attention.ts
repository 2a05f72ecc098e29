/**
 * The article's content-based attention: a query sequence attends over a
 * memory by the content of its items, with one of four classic score
 * functions.
 *
 * Shape legend: B batch, T query length, S memory length, Dq query depth,
 * Dk key depth, Dv value depth, U additive units.
 */
import * as tf from '@tensorflow/tfjs';
import { AttentionError } from '../errors';
import type { Initializer, LayerArgs } from './tfjs_types';
import { additiveAttention } from '../ops/additive';
import { scaledDotProductAttention } from '../ops/scaled_dot_product';
import { checkKernelArgs, KernelArgs, kernelConfig, KernelSettings } from '../functional/kernel_args';
import {
  asList,
  perInputMasks,
  checkBool,
  checkChoice,
  checkOptionalPositiveInt,
  checkRate,
  InitializerArg,
  inputShapes,
  lastDim,
  resolveInitializer,
  serialize,
} from './common';
import { LayerVariable } from './multi_head_base';
import { Kwargs, ScoringLayer, Shaped } from './scoring_layer';
import type { CallSignature } from './base/call_signature';
import { refuseRenamedArgs, renameConfig } from './base/renamed_args';

/** The constructor arguments this layer renamed (Keras's names now). */
const RENAMED = ['causal'] as const;
import { constructorArgs, layerArgs, trainingArg } from './base/layer_guards';

/** The score functions of `ContentAttention`. */
export type ContentScore = 'dot' | 'general' | 'additive' | 'cosine';
const SCORES: readonly ContentScore[] = ['dot', 'general', 'additive', 'cosine'];

/** Arguments of `ContentAttention`. */
export interface ContentAttentionArgs extends LayerArgs, KernelArgs {
  /**
   * `'dot'`: Luong's `q·k` (unscaled; Dq = Dk). `'general'`: Luong's
   * `qᵀ·W·k` with a learned `kernel [Dq, Dk]`. `'additive'`: Bahdanau's
   * `vᵀ·tanh(W1·q + W2·k)` with `query_kernel [Dq, U]`, `key_kernel [Dk, U]`,
   * `score_vector [U]`. `'cosine'`: Graves's `β·cos(q, k)` with a learned
   * sharpening scalar `sharpening` (initially 1; Dq = Dk). Default `'dot'`.
   */
  score?: ContentScore;
  /** Additive: hidden units U. Default: Dk. */
  units?: number;
  /** Dropout rate on the attention weights, in [0, 1). Default 0. */
  dropout?: number;
  /** Causal: query `i` attends to memory items `0..i` (Keras's `useCausalMask`). Default false. (Was `causal`.) */
  useCausalMask?: boolean;
  /** Initializer of the learned matrices. Default `'glorotUniform'`. */
  kernelInitializer?: InitializerArg;
  /** Return `[output, scores]` with scores `[B, T, S]`. Default false. */
  returnAttentionScores?: boolean;
}

const NAME = 'ContentAttention';

/**
 * Content-based attention of a query sequence over a memory.
 *
 * Inputs `[query, value]` or `[query, value, key]` (key defaults to value):
 * query `[B, T, Dq]`, value `[B, S, Dv]`, key `[B, S, Dk]`. The value mask
 * from an earlier layer hides memory items; the query mask zeroes output
 * rows. A query with nothing to attend to gets zeros.
 *
 * @returns `[B, T, Dv]`, or `[output, scores]`.
 *
 * @example
 * ```ts
 * const att = new ContentAttention({ score: 'general' });
 * (att.apply([tf.randomNormal([2, 4, 8]), tf.randomNormal([2, 6, 16])]) as tf.Tensor).shape;  // [2, 4, 16]
 * ```
 */
export class ContentAttention extends ScoringLayer {
  static className = NAME;
  /** The constructor's own arguments (beyond tf.layers.Layer's); any other is refused by name. */
  static readonly constructorArgs: readonly string[] = constructorArgs<ContentAttentionArgs>()(['score', 'units', 'dropout', 'useCausalMask', 'kernelInitializer', 'returnAttentionScores', 'implementation', 'memoryBudget']);
  static readonly callSignature: CallSignature = {
    keras: [],
    tensorInputs: [],
    optionsAsConfig: [],
    callOptions: ['training', 'mask', 'returnAttentionScores'],
  };
  private readonly score: ContentScore;
  private readonly units?: number;
  private readonly dropoutRate: number;
  private readonly causal: boolean;
  private readonly kernelInitializer: Initializer;
  protected readonly returnAttentionScores: boolean;
  /** `implementation` and `memoryBudget` of the dot-product scores ('additive' has one formulation). */
  private readonly kernelArgs: KernelSettings;
  private kernel?: LayerVariable;
  private queryKernel?: LayerVariable;
  private keyKernel?: LayerVariable;
  private scoreVector?: LayerVariable;
  private sharpening?: LayerVariable;

  constructor(args: ContentAttentionArgs = {}) {
    refuseRenamedArgs(NAME, args, RENAMED);
    super(layerArgs(new.target, args));
    this.score = checkChoice(NAME, 'score', args.score, SCORES, 'dot');
    this.units = checkOptionalPositiveInt(NAME, 'units', args.units);
    this.dropoutRate = checkRate(NAME, 'dropout', args.dropout);
    this.causal = checkBool(NAME, 'useCausalMask', args.useCausalMask, false);
    this.kernelInitializer = resolveInitializer(NAME, 'kernelInitializer', args.kernelInitializer ?? 'glorotUniform');
    this.returnAttentionScores = checkBool(NAME, 'returnAttentionScores', args.returnAttentionScores, false);
    this.kernelArgs = checkKernelArgs(NAME, args);
    if (this.score === 'additive' && this.kernelArgs.implementation !== 'auto' && this.kernelArgs.implementation !== 'naive') {
      throw new AttentionError(
        `${NAME}: expected implementation 'auto' or 'naive' with score 'additive' (additive scores have one formulation), but got implementation=${JSON.stringify(this.kernelArgs.implementation)}.`,
      );
    }
  }

  /** Builds from a config; configs saved with the old name `causal` load too. */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    return new cls(renameConfig(config, RENAMED));
  }

  protected override checkCall(list: readonly Shaped[]): void {
    this.checkQueryValueKeyList(list, 3, '[query, value] or [query, value, key]');
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shapes = inputShapes(NAME, inputShape, 2, 3, 3);
    const dq = lastDim(NAME, shapes[0], 'query');
    const dk = lastDim(NAME, shapes[2] ?? shapes[1], 'key');
    if ((this.score === 'dot' || this.score === 'cosine') && dq !== dk) {
      const k = shapes[2] === undefined ? 'value (the key)' : 'key';
      throw new AttentionError(
        `${NAME}: expected query and ${k} of the same depth for score '${this.score}', but got query [${shapes[0].map((d) => d ?? 'null')}] and ${k} [${(shapes[2] ?? shapes[1]).map((d) => d ?? 'null')}].`,
      );
    }
    const init = this.kernelInitializer;
    if (this.score === 'general') this.kernel = this.addWeight('kernel', [dq, dk], 'float32', init);
    if (this.score === 'additive') {
      const u = this.units ?? dk;
      this.queryKernel = this.addWeight('query_kernel', [dq, u], 'float32', init);
      this.keyKernel = this.addWeight('key_kernel', [dk, u], 'float32', init);
      this.scoreVector = this.addWeight('score_vector', [u], 'float32', init);
    }
    if (this.score === 'cosine') this.sharpening = this.addWeight('sharpening', [], 'float32', tf.initializers.ones());
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    const [qs, vs] = inputShapes(NAME, inputShape, 2, 3, 3);
    const out: tf.Shape = [qs[0], qs[1], vs[2]];
    return this.wantsScores() ? [out, [qs[0], qs[1], vs[1]]] : out;
  }

  override computeMask(_inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor | tf.Tensor[] {
    const qMask = Array.isArray(mask) ? (mask[0] ?? null) : (mask ?? null);
    return this.outputMask(qMask);
  }

  /** `[B, T, Din]·W` with W `[Din, Dout]`, as one 2-D product. */
  private static project(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
    const [B, T, D] = x.shape;
    return tf.reshape(tf.matMul(tf.reshape(x, [B * T, D]), w), [B, T, w.shape[1] as number]);
  }

  /** `[B, T, D]` rows scaled to unit length (ε keeps zero rows finite). */
  private static normalize(x: tf.Tensor): tf.Tensor {
    return tf.div(x, tf.sqrt(tf.add(tf.sum(tf.square(x), -1, true), 1e-12)));
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const list = asList(inputs);
    if (list.length < 2 || list.length > 3) {
      throw new AttentionError(`${NAME}: expected inputs [query, value] or [query, value, key], but got ${list.length} input(s).`);
    }
    const [query, value] = list;
    const key = list[2] ?? value;
    const masks = perInputMasks([query, value], kwargs['mask']);
    const training = trainingArg(this, kwargs);
    const returnScores = this.wantsScores(kwargs);
    return tf.tidy(() => {
      const asBool = (m: tf.Tensor) => (m.dtype === 'bool' ? m : tf.notEqual(m, 0));
      const mask = masks[1] ? tf.expandDims(asBool(masks[1]), 1) : null; // [B, 1, S]
      const options = { mask, causal: this.causal, dropout: this.dropoutRate, training };
      const kernelOptions = { implementation: this.kernelArgs.implementation, memoryBudget: this.kernelArgs.memoryBudget };
      let q = query;
      let k = key;
      if (this.score === 'general') {
        q = ContentAttention.project(query, (this.kernel as LayerVariable).read());
      } else if (this.score === 'cosine') {
        q = tf.mul(ContentAttention.normalize(query), (this.sharpening as LayerVariable).read());
        k = ContentAttention.normalize(key);
      } else if (this.score === 'additive') {
        q = ContentAttention.project(query, (this.queryKernel as LayerVariable).read());
        k = ContentAttention.project(key, (this.keyKernel as LayerVariable).read());
      }
      const scale = this.score === 'additive' ? (this.scoreVector as LayerVariable).read() : undefined;
      let r: { output: tf.Tensor; weights?: tf.Tensor };
      if (this.score === 'additive') {
        r = returnScores
          ? additiveAttention(q, k, value, { ...options, scale, returnWeights: true })
          : { output: additiveAttention(q, k, value, { ...options, scale }) };
      } else {
        r = returnScores
          ? scaledDotProductAttention(q, k, value, { ...options, ...kernelOptions, scale: 1, returnWeights: true })
          : { output: scaledDotProductAttention(q, k, value, { ...options, ...kernelOptions, scale: 1 }) };
      }
      let output = r.output;
      if (masks[0]) output = tf.mul(output, tf.expandDims(tf.cast(asBool(masks[0]), 'float32'), 2));
      return returnScores ? [output, r.weights as tf.Tensor] : output;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      score: this.score,
      units: this.units ?? null,
      dropout: this.dropoutRate,
      useCausalMask: this.causal,
      kernelInitializer: serialize(this.kernelInitializer),
      returnAttentionScores: this.returnAttentionScores,
      ...kernelConfig(this.kernelArgs),
    };
  }
}
tf.serialization.registerClass(ContentAttention);
