/**
 * `TokenAndPositionEmbedding`, compatible with keras-hub's layer of that
 * name: a token embedding plus a learned position embedding.
 *
 * Shape legend: B batch, T sequence length, V vocabulary, D embedding width.
 */
import * as tf from '@tensorflow/tfjs';
import type { CallSignature } from './base/call_signature';
import { LibraryLayer } from './base/library_layer';
import type { LayerArgs } from './tfjs_types';
import { checkBool, checkPositiveInt, InitializerArg, resolveInitializer, serialize } from './common';
import { PositionEmbedding } from './position_layers';
import { AttentionError } from '../errors';
import { checkTableSize, checkTokenIds } from '../ops/checks';
import { buildSublayer } from './transformer_common';
import type { Initializer } from './tfjs_types';
import { constructorArgs, layerArgs } from './base/layer_guards';

/** Arguments of `TokenAndPositionEmbedding` (keras-hub's, camelCased). */
export interface TokenAndPositionEmbeddingArgs extends LayerArgs {
  /** Vocabulary size V, a positive integer. Required. */
  vocabularySize: number;
  /** Longest sequence the layer embeds, a positive integer. Required. */
  sequenceLength: number;
  /** Embedding width D, a positive integer. Required. */
  embeddingDim: number;
  /**
   * keras-hub's ReversibleEmbedding option: when false the token embedding
   * also owns `reverse_embeddings [D, V]` (unused by this forward pass, kept
   * so Keras weights load). Default true.
   */
  tieWeights?: boolean;
  /** Initializer of both tables; Keras's 'uniform' means U(-0.05, 0.05). Default 'uniform'. */
  embeddingsInitializer?: InitializerArg;
  /** Whether token id 0 is padding: the output then carries the mask ids != 0. Default false. */
  maskZero?: boolean;
}

const NAME = 'TokenAndPositionEmbedding';

/**
 * `out[b, t] = tokenEmbeddings[ids[b, t]] + positionEmbeddings[startIndex + t]`.
 *
 * Input: int ids `[B, T]` with T <= sequenceLength. Call kwarg `startIndex`
 * (default 0). Sublayers and weights as keras-hub names them:
 * `token_embedding/embeddings [V, D]` (and `token_embedding/reverse_embeddings
 * [D, V]` when tieWeights is false), `position_embedding/embeddings
 * [sequenceLength, D]`.
 *
 * @returns `[B, T, D]`; mask `ids != 0` when maskZero.
 *
 * @example
 * ```ts
 * const emb = new TokenAndPositionEmbedding({ vocabularySize: 100, sequenceLength: 16, embeddingDim: 8 });
 * (emb.apply(tf.tensor2d([[5, 7, 0]], undefined, 'int32')) as tf.Tensor).shape;   // [1, 3, 8]
 * ```
 */
export class TokenAndPositionEmbedding extends LibraryLayer {
  static className = NAME;
  /** The constructor's own arguments (beyond tf.layers.Layer's); any other is refused by name. */
  static readonly constructorArgs: readonly string[] = constructorArgs<TokenAndPositionEmbeddingArgs>()(['vocabularySize', 'sequenceLength', 'embeddingDim', 'tieWeights', 'embeddingsInitializer', 'maskZero']);
  static readonly callSignature: CallSignature = {
    keras: ['start_index'],
    tensorInputs: [],
    optionsAsConfig: [],
    callOptions: ['training', 'mask', 'startIndex'],
  };
  protected override readonly widthBoundInputs: readonly string[] = [];
  private readonly vocabularySize: number;
  private readonly sequenceLength: number;
  private readonly embeddingDim: number;
  private readonly tieWeights: boolean;
  private readonly embeddingsInitializer: Initializer;
  private readonly maskZero: boolean;
  private tokenEmbedding?: tf.layers.Layer;
  private positionEmbedding?: PositionEmbedding;

  constructor(args: TokenAndPositionEmbeddingArgs) {
    super(layerArgs(new.target, args));
    if (args === undefined || args === null) {
      throw new AttentionError(`${NAME}: expected arguments {vocabularySize, sequenceLength, embeddingDim}, but got ${String(args)}.`);
    }
    this.vocabularySize = checkPositiveInt(NAME, 'vocabularySize', args.vocabularySize);
    this.sequenceLength = checkPositiveInt(NAME, 'sequenceLength', args.sequenceLength);
    this.embeddingDim = checkPositiveInt(NAME, 'embeddingDim', args.embeddingDim);
    this.tieWeights = checkBool(NAME, 'tieWeights', args.tieWeights, true);
    this.maskZero = checkBool(NAME, 'maskZero', args.maskZero, false);
    const init = args.embeddingsInitializer ?? 'uniform';
    this.embeddingsInitializer = resolveInitializer(NAME, 'embeddingsInitializer', init === 'uniform' ? 'randomUniform' : init);
    this.supportsMasking = true;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as (number | null)[];
    if (shape.length !== 2) {
      throw new AttentionError(`${NAME}: expected token ids of rank 2 [B, T], but got shape [${shape.join(',')}].`);
    }
    this.checkLength(shape[1], 0);
    const tieWeights = this.tieWeights;
    const V = this.vocabularySize;
    const D = this.embeddingDim;
    const init = this.embeddingsInitializer;
    // Refused before any weight is made (vocabularySize 2^31 was a RangeError from tfjs's typed arrays).
    checkTableSize(NAME, "weight 'token_embedding/embeddings'", [V, D], "Check 'vocabularySize' and 'embeddingDim'.");
    checkTableSize(NAME, "weight 'position_embedding/embeddings'", [this.sequenceLength, D], "Check 'sequenceLength' and 'embeddingDim'.");
    // keras-hub's ReversibleEmbedding: an Embedding that, untied, also owns the output projection.
    class TokenEmbedding extends tf.layers.Layer {
      static className = 'ReversibleEmbedding';
      table?: tf.LayerVariable;
      override build(): void {
        this.table = this.addWeight('embeddings', [V, D], 'float32', init);
        if (!tieWeights) this.addWeight('reverse_embeddings', [D, V], 'float32', init);
        this.built = true;
      }
      override call(ids: tf.Tensor | tf.Tensor[]): tf.Tensor {
        const x = Array.isArray(ids) ? ids[0] : ids;
        return tf.gather(this.table!.read(), tf.cast(x, 'int32'));
      }
      override computeOutputShape(s: tf.Shape): tf.Shape {
        return [...s, D];
      }
    }
    this.tokenEmbedding = new TokenEmbedding({ name: 'token_embedding' });
    buildSublayer(this.tokenEmbedding, [shape]);
    this.positionEmbedding = new PositionEmbedding({ name: 'position_embedding', sequenceLength: this.sequenceLength, initializer: init });
    buildSublayer(this.positionEmbedding, [[...shape, D]]);
    this.trainableWeights = [...this.tokenEmbedding.trainableWeights, ...this.positionEmbedding.trainableWeights];
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const ids = Array.isArray(inputs) ? inputs[0] : inputs;
    if (ids.rank !== 2) throw new AttentionError(`${NAME}: expected token ids of rank 2 [B, T], but got [${ids.shape.join(',')}].`);
    const startIndex = kwargs?.['startIndex'] ?? 0;
    if (typeof startIndex === 'number') this.checkLength(ids.shape[1] as number, startIndex);
    checkTokenIds(NAME, ids, this.vocabularySize);
    return tf.tidy(() => {
      const tokens = this.tokenEmbedding!.call(ids, {}) as tf.Tensor;
      const positions = this.positionEmbedding!.call(tokens, { startIndex });
      return tf.add(tokens, positions);
    });
  }

  /**
   * Refuses ids longer than the position table before anything is built or
   * computed (a build that failed later left its two embedding tables behind).
   */
  private checkLength(T: number | null, startIndex: number): void {
    if (T !== null && startIndex + T > this.sequenceLength) {
      throw new AttentionError(
        `${NAME}: expected at most sequenceLength=${this.sequenceLength} positions, but got ${T} token ids from startIndex=${startIndex}.`,
      );
    }
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [...shape, this.embeddingDim];
  }

  override computeMask(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor | tf.Tensor[] {
    const ids = Array.isArray(inputs) ? inputs[0] : inputs;
    return (this.maskZero ? tf.notEqual(ids, 0) : null) as tf.Tensor;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      vocabularySize: this.vocabularySize,
      sequenceLength: this.sequenceLength,
      embeddingDim: this.embeddingDim,
      tieWeights: this.tieWeights,
      embeddingsInitializer: serialize(this.embeddingsInitializer),
      maskZero: this.maskZero,
    };
  }
}
tf.serialization.registerClass(TokenAndPositionEmbedding);
