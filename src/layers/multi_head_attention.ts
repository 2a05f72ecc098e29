/**
 * `MultiHeadAttention`, compatible with Keras's layer of that name: same
 * class name, arguments, weight names, shapes and order, masking and maths.
 *
 * Shape legend: B batch, T query length, S key length, N heads.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from './tfjs_types';
import { asList, checkBool, combineLayerMasks, inputShapes, lastDim, perInputMasks } from './common';
import { Kwargs, MultiHeadBase, MultiHeadBaseArgs } from './multi_head_base';
import type { CallSignature } from './base/call_signature';
import type { KerasWeightPaths } from './base/keras_weight_paths';

/** Arguments of `MultiHeadAttention` (Keras's, in camelCase). */
export interface MultiHeadAttentionArgs extends MultiHeadBaseArgs, LayerArgs {
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
 * `value/kernel [Dv, N, valueDim]`, `attention_output/kernel [N, valueDim, Dout]`
 * and their biases, in that order.
 *
 * Inputs: `[query, value]`, `[query, value, key]` or
 * `[query, value, key, attentionMask]` (to give a mask without a separate
 * key, pass value again as key), with query `[B, T, Dq]`, value `[B, S, Dv]`,
 * key `[B, S, Dk]`, attentionMask bool/0-1 `[B, T, S]` (true = may attend).
 * Call arguments: `attentionMask`, `useCausalMask`, `returnAttentionScores`,
 * `training`. Masks from earlier layers (`mask` of query, value, key) are
 * combined with them as Keras does; fully masked query rows get uniform
 * weights, as in Keras.
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
export class MultiHeadAttention extends MultiHeadBase {
  static className = NAME;
  /**
   * Keras's `call(query, value, key=None, query_mask=None, value_mask=None,
   * key_mask=None, attention_mask=None, return_attention_scores=False,
   * training=None, use_causal_mask=False)`: value, key and attention_mask are
   * the tfjs layer's inputs 1-3 (a missing key is the value).
   */
  static readonly callSignature: CallSignature = {
    keras: [
      'value', 'key', 'query_mask', 'value_mask', 'key_mask', 'attention_mask',
      'return_attention_scores', 'training', 'use_causal_mask',
    ],
    tensorInputs: ['value', 'key', 'attention_mask'],
    fill: { key: 'value' },
    optionsAsConfig: ['use_causal_mask', 'return_attention_scores'],
    callOptions: ['attentionMask', 'useCausalMask', 'returnAttentionScores', 'training', 'mask'],
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

  constructor(args: MultiHeadAttentionArgs) {
    super(args, NAME);
    const os = args.outputShape;
    if (os !== undefined && os !== null) {
      const dims = Array.isArray(os) ? os : [os];
      if (dims.length !== 1 || !Number.isInteger(dims[0]) || dims[0] < 1) {
        throw new Error(`${NAME}: expected outputShape to be a positive integer, but got outputShape=${JSON.stringify(os)}.`);
      }
      this.outputDim = dims[0];
    }
    const ax = args.attentionAxes;
    if (ax !== undefined && ax !== null && !(Array.isArray(ax) ? ax.length === 1 && ax[0] === 1 : ax === 1)) {
      throw new Error(
        `${NAME}: only the default attentionAxes (attention over axis 1 of [B, T, D] inputs) is supported, but got attentionAxes=${JSON.stringify(ax)}.`,
      );
    }
    this.useCausalMask = checkBool(NAME, 'useCausalMask', args.useCausalMask, false);
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shapes = inputShapes(NAME, inputShape, 2, 4, 3);
    const [qs, vs] = shapes;
    const ks = shapes[2] ?? vs;
    const dq = lastDim(NAME, qs, 'query');
    this.buildProjections(dq, lastDim(NAME, ks, 'key'), lastDim(NAME, vs, 'value'), this.outputDim ?? dq);
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    const shapes = inputShapes(NAME, inputShape, 2, 4, 3);
    const [qs, vs] = shapes;
    const out: tf.Shape = [qs[0], qs[1], this.outputDim ?? qs[2]];
    return this.wantsScores() ? [out, [qs[0], this.numHeads, qs[1], vs[1]]] : out;
  }

  override computeMask(
    _inputs: tf.Tensor | tf.Tensor[],
    mask?: tf.Tensor | tf.Tensor[],
  ): tf.Tensor | tf.Tensor[] {
    const queryMask = Array.isArray(mask) ? (mask[0] ?? null) : (mask ?? null);
    return this.outputMask(queryMask);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const list = asList(inputs);
    if (list.length < 2 || list.length > 4) {
      throw new Error(`${NAME}: expected inputs [query, value, key?, attentionMask?], but got ${list.length} input(s).`);
    }
    if (list.some((x) => x.isDisposed)) {
      // tfjs's model executor runs a layer once per requested output and may
      // dispose an input used twice ([x, x]) after the first run.
      throw new Error(
        `${NAME}: an input was disposed before this call. In a tfjs model that fetches both outputs of returnAttentionScores, tfjs runs the layer twice and frees an input passed twice ([x, x]) after the first run; use SelfAttention for self-attention with scores, or pass distinct tensors.`,
      );
    }
    const [query, value] = list;
    const key = list[2] ?? value;
    const explicit = list[3] ?? (kwargs['attentionMask'] as tf.Tensor | undefined) ?? null;
    const masks = perInputMasks([query, value, key], kwargs['mask']);
    const causalArg = kwargs['useCausalMask'];
    const causal = typeof causalArg === 'boolean' ? causalArg : this.useCausalMask;
    const returnScores = this.wantsScores(kwargs);
    return tf.tidy(() => {
      // Keras takes the key's mask from the key, which defaults to the value.
      const mask = combineLayerMasks(masks[0], masks[1], list.length > 2 ? masks[2] : null, explicit);
      const r = this.attend(query, value, key, mask, causal, kwargs['training'] === true, returnScores);
      return returnScores ? [r.output, r.scores as tf.Tensor] : r.output;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      outputShape: this.outputDim ?? null,
      attentionAxes: null,
      useCausalMask: this.useCausalMask,
    };
  }
}
tf.serialization.registerClass(MultiHeadAttention);
