/**
 * `GroupedQueryAttention`, compatible with Keras's layer of that name
 * (exported by Keras as `keras.layers.GroupQueryAttention`; both names load):
 * same arguments, weight names, shapes and order, masks and maths.
 *
 * Shape legend: B batch, T query length, S key length, D query width,
 * Nq query heads, Nkv key/value heads, H head size.
 */
import type { KerasWeightPaths } from '../base/keras_weight_paths';
import * as tf from '@tensorflow/tfjs';
import { checkedArgs, constructorArgs, layerArgs } from '../base/layer_guards';
import type { CallSignature } from '../base/call_signature';
import { AttentionError } from '../../errors';
import type { LayerArgs } from '../tfjs_types';
import { checkPositiveInt, inputShapes } from '../common';
import { checkOptions } from '../../ops/checks';
import type { KerasAttentionOptions, MultiHeadBaseArgs } from '../multi_head_base';
import { MultiHeadAttention } from '../multi_head_attention';

/** Arguments of `GroupedQueryAttention` (Keras's, in camelCase). */
export interface GroupedQueryAttentionArgs
  extends Omit<MultiHeadBaseArgs, 'numHeads' | 'keyDim' | 'valueDim'>, KerasAttentionOptions, LayerArgs {
  /** Size of each attention head H (query, key and value), a positive integer. Required. */
  headDim: number;
  /** Number of query heads Nq, a positive integer. Required. */
  numQueryHeads: number;
  /**
   * Number of key and value heads Nkv, a positive integer that divides
   * `numQueryHeads`; query head `h` uses key/value head `floor(h / (Nq / Nkv))`.
   * 1 is multi-query attention, `numQueryHeads` is multi-head attention. Required.
   */
  numKeyValueHeads: number;
  /** Apply a causal mask (a tfjs addition; the call argument also works). Default false. */
  useCausalMask?: boolean;
}

const NAME = 'GroupedQueryAttention';

/** Checks the head arguments, in Keras's names, before anything else is built. */
function headArgs(args: GroupedQueryAttentionArgs, layerName: string): { numHeads: number; keyDim: number; kvHeads: number } {
  if (args === undefined || args === null) {
    throw new AttentionError(`${layerName}: expected arguments {headDim, numQueryHeads, numKeyValueHeads, ...}, but got ${String(args)}.`);
  }
  for (const name of ['numHeads', 'keyDim', 'valueDim', 'outputShape', 'attentionAxes']) {
    const v = (args as unknown as Record<string, unknown>)[name];
    if (v !== undefined && v !== null) {
      throw new AttentionError(`${layerName}: expected no ${name} (a MultiHeadAttention argument; Keras's GroupedQueryAttention has none), but got ${name}=${JSON.stringify(v)}.`);
    }
  }
  const keyDim = checkPositiveInt(layerName, 'headDim', args.headDim);
  const numHeads = checkPositiveInt(layerName, 'numQueryHeads', args.numQueryHeads);
  const kvHeads = checkPositiveInt(layerName, 'numKeyValueHeads', args.numKeyValueHeads);
  if (numHeads % kvHeads !== 0) {
    throw new AttentionError(
      `${layerName}: expected numQueryHeads to be divisible by numKeyValueHeads, but got numQueryHeads=${numHeads} and numKeyValueHeads=${kvHeads}.`,
    );
  }
  return { numHeads, keyDim, kvHeads };
}

/**
 * Grouped-query attention (Ainslie et al., 2023), as Keras computes it.
 *
 * Queries are projected to Nq heads, keys and values to Nkv heads; each
 * key/value head serves Nq / Nkv consecutive query heads. Per head,
 * `softmax(Q·Kᵀ/sqrt(H) + mask)·V`, then the heads are projected back to D.
 * Weights, in Keras's order: `query/kernel [D, Nq, H]`, `query/bias [Nq, H]`,
 * `key/kernel [Dk, Nkv, H]`, `key/bias [Nkv, H]`, (with `useGate`)
 * `gate/kernel [D, Nq, H]`, `gate/bias [Nq, H]`, `value/kernel [Dv, Nkv, H]`,
 * `value/bias [Nkv, H]`, `attention_output/kernel [Nq, H, D]`,
 * `attention_output/bias [D]` (no biases with `useBias: false`).
 *
 * Inputs: `[query, value]`, `[query, value, key]` or
 * `[query, value, key, attentionMask]`, query `[B, T, D]`, value `[B, S, Dv]`,
 * key `[B, S, Dk]`, attentionMask bool/0-1 `[B, T, S]` (true = may attend).
 * Call arguments: `attentionMask`, `useCausalMask`, `returnAttentionScores`,
 * `training`. Masks from earlier layers (query, value, key) are combined with
 * them, with the causal mask and with the `slidingWindow` band
 * (`|i - j| < slidingWindow`) as Keras does. A query row with no visible key
 * gets all-zero scores and the output bias when scores are returned or
 * `dropout > 0`, uniform weights otherwise (Keras ≥ 3.10 on each path).
 *
 * @returns `[B, T, D]`, or `[output, scores]` with scores `[B, Nq, T, S]`.
 * @throws AttentionError for bad arguments; in a functional
 *   model, Keras's own check that query and value have the same last dimension.
 *
 * @example
 * ```ts
 * const gqa = new GroupedQueryAttention({ headDim: 8, numQueryHeads: 4, numKeyValueHeads: 2 });
 * (gqa.apply([tf.randomNormal([1, 5, 16]), tf.randomNormal([1, 7, 16])]) as tf.Tensor).shape;   // [1, 5, 16]
 * ```
 */
export class GroupedQueryAttention extends MultiHeadAttention {
  static override className = NAME;
  /** Keras holds GroupedQueryAttention's projections as `_query_dense`, `_key_dense`, `_value_dense`, `_output_dense`, `_gate_dense`. */
  static override readonly kerasWeightPaths: KerasWeightPaths = {
    query: '_query_dense', key: '_key_dense', value: '_value_dense', attention_output: '_output_dense', gate: '_gate_dense',
  };
  /** The constructor's own arguments (beyond tf.layers.Layer's); any other is refused by name. */
  static override readonly constructorArgs: readonly string[] = constructorArgs<GroupedQueryAttentionArgs>()(['headDim', 'numQueryHeads', 'numKeyValueHeads', 'dropout', 'useBias', 'kernelInitializer', 'biasInitializer', 'kernelRegularizer', 'biasRegularizer', 'kernelConstraint', 'biasConstraint', 'seed', 'returnAttentionScores', 'implementation', 'memoryBudget', 'slidingWindow', 'useGate', 'useCausalMask']);
  /** Keras's call: `call(query, value, key=None, query_mask=None, ...)`. */
  static override readonly callSignature: CallSignature = {
    keras: ['value', 'key', 'query_mask', 'value_mask', 'key_mask', 'attention_mask', 'return_attention_scores', 'training', 'use_causal_mask'],
    tensorInputs: ['value', 'key', 'attention_mask'],
    fill: { key: 'value' },
    optionsAsConfig: ['use_causal_mask', 'return_attention_scores'],
    callOptions: ['attentionMask', 'useCausalMask', 'returnAttentionScores', 'training'],
  };

  constructor(args: GroupedQueryAttentionArgs) {
    const layerName = (new.target as unknown as { className: string }).className ?? NAME;
    checkOptions(layerName, args, 'args');
    const heads = headArgs(args, layerName); // before the names: MultiHeadAttention's arguments get their own message
    layerArgs(new.target, args);
    const { headDim: _h, numQueryHeads: _q, numKeyValueHeads: _kv, ...rest } = args;
    super(checkedArgs({ ...rest, numHeads: heads.numHeads, keyDim: heads.keyDim, valueDim: heads.keyDim }), layerName);
    this.kvHeads = heads.kvHeads;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    const [qs, vs] = inputShapes(this.getClassName(), inputShape, 2, 4, 3);
    // Keras's compute_output_shape requires it (so a Keras functional model does).
    if (qs[2] !== vs[2]) {
      throw new AttentionError(
        `${this.getClassName()}: expected query and value to have the same last dimension, but got query [${qs.join(',')}] and value [${vs.join(',')}].`,
      );
    }
    return super.computeOutputShape(inputShape);
  }

  override getConfig(): tf.serialization.ConfigDict {
    const { numHeads: _n, keyDim: _k, valueDim: _v, outputShape: _o, attentionAxes: _a, ...rest } = super.getConfig();
    return {
      ...rest,
      headDim: this.keyDim,
      numQueryHeads: this.numHeads,
      numKeyValueHeads: this.kvHeads,
    };
  }
}
tf.serialization.registerClass(GroupedQueryAttention);

/**
 * The same layer under the name Keras exports it as
 * (`keras.layers.GroupQueryAttention`), so that configs naming it load; it
 * saves under this name too.
 */
export class GroupQueryAttention extends GroupedQueryAttention {
  static override className = 'GroupQueryAttention';
  static override readonly callSignature: CallSignature = GroupedQueryAttention.callSignature;
  static override readonly kerasWeightPaths: KerasWeightPaths = GroupedQueryAttention.kerasWeightPaths;
  static override readonly constructorArgs: readonly string[] = GroupedQueryAttention.constructorArgs;
}
tf.serialization.registerClass(GroupQueryAttention);
