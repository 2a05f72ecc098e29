/**
 * `MultiHeadAttention`, compatible with Keras's layer of that name: same
 * class name, arguments, weight names, shapes and order, masking and maths.
 *
 * Shape legend: B batch, T query length, S key length, N heads.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from './tfjs_types';
import { AttentionError } from '../errors';
import type { CallSignature } from './base/call_signature';
import { asList, ownCopy, checkBool, combineLayerMasks, inputShapes, lastDim, perInputMasks } from './common';
import { KerasAttentionOptions, Kwargs, MultiHeadBase, MultiHeadBaseArgs } from './multi_head_base';
import type { MultiHeadAttentionCallOptions, Shaped } from './scoring_layer';
import { constructorArgs, trainingArg } from './base/layer_guards';
import type { KerasOnlyArg } from './base/layer_guards';
import type { KerasWeightPaths } from './base/keras_weight_paths';
import { checkKerasMask } from './base/keras_masks';

/** Arguments of `MultiHeadAttention` (Keras's, in camelCase). */
export interface MultiHeadAttentionArgs extends MultiHeadBaseArgs, KerasAttentionOptions, LayerArgs {
  /** Width of the output, a positive integer. Default: the query's last dimension. */
  outputShape?: number | number[] | null;
  /**
   * Axes over which attention applies. Only the default is supported: every
   * axis but the batch and the features, i.e. `[1]` for `[B, T, D]` inputs.
   * Default null.
   */
  attentionAxes?: number | number[] | null;
  /** Apply a causal mask (a tfjs addition; the call argument also works). Default false. */
  useCausalMask?: boolean;
}

const NAME = 'MultiHeadAttention';

/**
 * Keras-compatible multi-head attention.
 *
 * `softmax(Q·Kᵀ/sqrt(keyDim) + mask)·V` per head, with learned projections
 * `query/kernel [Dq, N, keyDim]`, `key/kernel [Dk, N, keyDim]`,
 * (with `useGate`) `gate/kernel [Dq, N, valueDim]`,
 * `value/kernel [Dv, N, valueDim]`, `attention_output/kernel [N, valueDim, Dout]`
 * and their biases, in that order. `slidingWindow: w` restricts query `i` to
 * keys `j` with `|i - j| < w`, as Keras's `sliding_window` does.
 *
 * Inputs: `[query, value]`, `[query, value, key]` or
 * `[query, value, key, attentionMask]` (to give a mask without a separate
 * key, pass value again as key), with query `[B, T, Dq]`, value `[B, S, Dv]`,
 * key `[B, S, Dk]`, attentionMask bool/0-1 `[B, T, S]` (true = may attend).
 * Call arguments: `attentionMask`, `useCausalMask`, `returnAttentionScores`,
 * `training`. Masks from earlier layers (`mask` of query, value, key) are
 * combined with them as Keras does. A query row with no visible key follows
 * Keras ≥ 3.10: all-zero scores and an output equal to the output bias when
 * scores are returned or `dropout > 0` (Keras's softmax path), uniform
 * weights otherwise (Keras's fused path).
 *
 * @returns `[B, T, Dout]`, or `[output, scores]` with scores `[B, N, T, S]`.
 *
 * @example
 * ```ts
 * const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 8 });
 * const q = tf.randomNormal([1, 5, 16]);
 * const v = tf.randomNormal([1, 7, 16]);
 * (mha.apply([q, v]) as tf.Tensor).shape;   // [1, 5, 16]
 * ```
 */
export class MultiHeadAttention extends MultiHeadBase<MultiHeadAttentionCallOptions> {
  static className = NAME;
  /** The constructor's own arguments (beyond tf.layers.Layer's); any other is refused by name. */
  static readonly constructorArgs: readonly string[] = constructorArgs<MultiHeadAttentionArgs>()(['numHeads', 'keyDim', 'valueDim', 'dropout', 'useBias', 'kernelInitializer', 'biasInitializer', 'kernelRegularizer', 'biasRegularizer', 'kernelConstraint', 'biasConstraint', 'seed', 'returnAttentionScores', 'implementation', 'memoryBudget', 'slidingWindow', 'useGate', 'outputShape', 'attentionAxes', 'useCausalMask']);
  /** Keras 2's build shapes, found again from the inputs. */
  static readonly kerasOnlyArgs: Readonly<Record<string, KerasOnlyArg>> = { queryShape: 'shape', keyShape: 'shape', valueShape: 'shape' };
  static readonly callSignature: CallSignature = {
    keras: ['value', 'key', 'query_mask', 'value_mask', 'key_mask', 'attention_mask', 'return_attention_scores', 'training', 'use_causal_mask'],
    tensorInputs: ['value', 'key', 'attention_mask'],
    fill: { key: 'value' },
    optionsAsConfig: ['return_attention_scores', 'use_causal_mask'],
    callOptions: ['training', 'mask', 'attentionMask', 'returnAttentionScores', 'useCausalMask'],
  };
  /** Keras holds the projections as `query_dense`, `key_dense`, `value_dense`, `output_dense` (and `_gate_dense`). */
  static readonly kerasWeightPaths: KerasWeightPaths = {
    query: 'query_dense',
    key: 'key_dense',
    value: 'value_dense',
    attention_output: 'output_dense',
    gate: '_gate_dense',
  };
  private readonly outputDim?: number;
  private readonly useCausalMask: boolean;

  /** @param layerName The name in error messages (a subclass's). */
  constructor(args: MultiHeadAttentionArgs, layerName = NAME) {
    super(args, layerName);
    const os = args.outputShape;
    if (os !== undefined && os !== null) {
      const dims = Array.isArray(os) ? os : [os];
      if (dims.length !== 1 || !Number.isInteger(dims[0]) || dims[0] < 1) {
        throw new AttentionError(`${NAME}: expected outputShape to be a positive integer, but got outputShape=${JSON.stringify(os)}.`);
      }
      this.outputDim = dims[0];
    }
    const ax = args.attentionAxes;
    if (ax !== undefined && ax !== null && !(Array.isArray(ax) ? ax.length === 1 && ax[0] === 1 : ax === 1)) {
      throw new AttentionError(
        `${NAME}: only the default attentionAxes (attention over axis 1 of [B, T, D] inputs) is supported, but got attentionAxes=${JSON.stringify(ax)}.`,
      );
    }
    this.useCausalMask = checkBool(layerName, 'useCausalMask', args.useCausalMask, false);
    this.setKerasOptions(layerName, args);
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shapes = inputShapes(this.getClassName(), inputShape, 2, 4, 3);
    const [qs, vs] = shapes;
    const ks = shapes[2] ?? vs;
    const dq = lastDim(this.getClassName(), qs, 'query');
    this.buildProjections(dq, lastDim(this.getClassName(), ks, 'key'), lastDim(this.getClassName(), vs, 'value'), this.outputDim ?? dq);
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    const shapes = inputShapes(this.getClassName(), inputShape, 2, 4, 3);
    const [qs, vs] = shapes;
    const out: tf.Shape = [qs[0], qs[1], this.outputDim ?? qs[2]];
    return this.wantsScores() ? [out, [qs[0], this.numHeads, qs[1], vs[1]]] : out;
  }

  override computeMask(
    inputs: tf.Tensor | tf.Tensor[],
    mask?: tf.Tensor | tf.Tensor[],
  ): tf.Tensor | tf.Tensor[] {
    // tfjs's eager apply asks without the input masks: the query's rides on it.
    const query = asList(inputs)[0] as tf.Tensor | undefined;
    const queryMask = Array.isArray(mask) ? (mask[0] ?? null) : (mask ?? ownCopy(query?.kerasMask));
    return this.outputMask(queryMask);
  }

  /** Query, value, key and attention mask checked in this layer's name, with the caller's shapes. */
  protected override checkCall(list: readonly Shaped[], kwargs: Kwargs): void {
    this.checkQueryValueKeyList(list, 4, '[query, value, key?, attentionMask?]');
    const mask = list[3] ?? (kwargs['attentionMask'] as Shaped | null | undefined) ?? null;
    if (mask !== null && (typeof mask !== 'object' || !Array.isArray((mask as { shape?: unknown }).shape))) {
      // A nested array or another non-tensor: tfjs's layers take tensors only.
      throw new AttentionError(`${NAME}: expected attentionMask to be a tf.Tensor [B, T, S], but got ${Array.isArray(mask) ? 'an array' : typeof mask}.`);
    }
    if (mask !== null) checkAttentionMask(mask.shape, list[0].shape[0], list[0].shape[1], list[1].shape[1]);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const list = asList(inputs);
    if (list.length < 2 || list.length > 4) {
      throw new AttentionError(`${this.getClassName()}: expected inputs [query, value, key?, attentionMask?], but got ${list.length} input(s).`);
    }
    if (list.some((x) => x.isDisposed)) {
      // tfjs's model executor runs a layer once per requested output and may
      // dispose an input used twice ([x, x]) after the first run.
      throw new AttentionError(
        `${this.getClassName()}: an input was disposed before this call. In a tfjs model that fetches both outputs of returnAttentionScores, tfjs runs the layer twice and frees an input passed twice ([x, x]) after the first run; use SelfAttention for self-attention with scores, or pass distinct tensors.`,
      );
    }
    const [query, value] = list;
    const key = list[2] ?? value;
    const explicit = list[3] ?? (kwargs['attentionMask'] as tf.Tensor | undefined) ?? null;
    // A list of masks (one per input, as tfjs's container passes them, or the
    // blocks' [null, null, null]) is taken as given; a single mask or none
    // (tfjs's model executor) falls back to the masks riding on the tensors.
    const given = kwargs['mask'];
    const masks = Array.isArray(given)
      ? [0, 1, 2].map((i) => (given[i] as tf.Tensor | null | undefined) ?? null)
      : perInputMasks([query, value, key], given);
    const roles = ['query', 'value', 'key'];
    // Given masks were checked before the build; these may be the ones riding on the inputs.
    [query, value, key].forEach((x, i) => checkKerasMask(this.getClassName(), roles[i], masks[i], x));
    const causalArg = kwargs['useCausalMask'];
    const causal = typeof causalArg === 'boolean' ? causalArg : this.useCausalMask;
    const returnScores = this.wantsScores(kwargs);
    return tf.tidy(() => {
      // Keras takes the key's mask from the key, which defaults to the value.
      const mask = combineLayerMasks(masks[0], masks[1], list.length > 2 ? masks[2] : null, explicit);
      const r = this.attend(query, value, key, mask, causal, trainingArg(this, kwargs), returnScores);
      return returnScores ? [r.output, r.scores as tf.Tensor] : r.output;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      outputShape: this.outputDim ?? null,
      attentionAxes: null,
      slidingWindow: this.slidingWindow ?? null,
      useGate: this.useGate,
      useCausalMask: this.useCausalMask,
    };
  }
}
tf.serialization.registerClass(MultiHeadAttention);

/**
 * Keras's attention mask is `[B, T, S]` (broadcastable: each dimension its
 * size or 1); Keras expands a mask of lower rank from the heads axis on, so a
 * `[B, S]` key-padding mask would be applied along the wrong axes. Refused
 * with the way to expand it.
 */
function checkAttentionMask(s: ReadonlyArray<number | null>, B: number | null, T: number | null, S: number | null): void {
  const fits = s.length === 3 && [B, T, S].every((n, i) => s[i] === n || s[i] === 1 || n === null || s[i] === null);
  if (fits) return;
  const hint = s.length === 2 && (s[0] === B || s[0] === null || B === null) && (s[1] === S || s[1] === null || S === null)
    ? ' For a [B, S] key-padding mask, pass tf.expandDims(mask, 1) ([B, 1, S]).'
    : '';
  throw new AttentionError(
    `${NAME}: expected attentionMask of shape [B, T, S] = [${[B, T, S].map((d) => (d === null ? 'null' : d)).join(',')}] (or broadcastable to it, e.g. [B, 1, S]), but got attentionMask [${s.map((d) => (d === null ? 'null' : d)).join(',')}].${hint}`,
  );
}
