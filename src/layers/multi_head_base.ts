/**
 * The multi-head machinery shared by `MultiHeadAttention`, `SelfAttention`
 * and `PositionalAttention`: Keras's projection weights (names, shapes and
 * order), and the attention step split Keras-style into small protected
 * steps so a variant overrides only what differs (`PositionalAttention`
 * rotates queries and keys, or adds a position bias to the scores).
 *
 * Shape legend: B batch, T query length, S key length, D model width,
 * N heads, G key/value heads (N for all but GroupedQueryAttention), K key
 * depth per head, Hv value depth per head.
 */
import { AttentionError } from '../errors';
import * as tf from '@tensorflow/tfjs';
import type { Constraint, Initializer, LayerArgs, Regularizer } from './tfjs_types';
import { scaledDotProductAttention } from '../ops/scaled_dot_product';
import { AttentionCallOptions, ScoringLayer } from './scoring_layer';
import { checkKernelArgs, KernelArgs, kernelConfig, KernelSettings } from '../functional/kernel_args';
import {
  checkBool,
  checkOptionalPositiveInt,
  checkPositiveInt,
  checkRate,
  ConstraintArg,
  InitializerArg,
  mergeHeads,
  projectToHeads,
  RegularizerArg,
  resolveConstraint,
  resolveInitializer,
  resolveRegularizer,
  serialize,
} from './common';
import { layerArgs } from './base/layer_guards';
import { nextDropoutSeed } from './base/seed_generator';

export type LayerVariable = ReturnType<tf.layers.Layer['addWeight']>;
export type { Kwargs } from './scoring_layer';

/** Arguments shared by the multi-head layers (with `implementation` and `memoryBudget`, see `KernelArgs`). */
export interface MultiHeadBaseArgs extends KernelArgs {
  /** Number of attention heads N, a positive integer. Required. */
  numHeads: number;
  /** Size of each head for query and key, K, a positive integer. Required. */
  keyDim: number;
  /** Size of each head for value, Hv. Default: `keyDim`. */
  valueDim?: number;
  /** Dropout rate on the attention weights, in [0, 1). Default 0. */
  dropout?: number;
  /** Whether the projections have biases. Default true. */
  useBias?: boolean;
  /** Initializer of the kernels. Default `'glorotUniform'`. */
  kernelInitializer?: InitializerArg;
  /** Initializer of the biases. Default `'zeros'`. */
  biasInitializer?: InitializerArg;
  /** Regularizer of the kernels. Default none. */
  kernelRegularizer?: RegularizerArg | null;
  /** Regularizer of the biases. Default none. */
  biasRegularizer?: RegularizerArg | null;
  /** Constraint on the kernels. Default none. */
  kernelConstraint?: ConstraintArg | null;
  /** Constraint on the biases. Default none. */
  biasConstraint?: ConstraintArg | null;
  /**
   * Seed of the dropout: each training call draws a new mask, in a sequence
   * the seed fixes (as Keras's SeedGenerator), so a run is reproducible and
   * the mask still moves. Default: unseeded.
   */
  seed?: number | null;
  /**
   * Return `[output, scores]` with scores `[B, N, T, S]`. A tfjs addition:
   * tfjs computes symbolic output shapes without the call's arguments, so
   * this is a constructor argument; the call argument of the same name also
   * works on concrete tensors. Default false.
   */
  returnAttentionScores?: boolean;
}

/**
 * Keras 3.16's options of `MultiHeadAttention` and `GroupedQueryAttention`
 * (camelCased), which `SelfAttention` and `PositionalAttention` do not take.
 */
export interface KerasAttentionOptions {
  /**
   * Keras's `sliding_window`: query `i` attends only to keys `j` with
   * `|i - j| < slidingWindow`, i.e. within `slidingWindow - 1` of itself (a
   * symmetric band; with causal masking, the `slidingWindow` most recent keys
   * including itself). A positive integer, or null for full attention.
   * Default null.
   */
  slidingWindow?: number | null;
  /**
   * Keras's `use_gate` (gated attention, Qiu et al. 2025): the per-head
   * attention output is multiplied by `sigmoid(query·Wg + bg)` before the
   * output projection; adds the weights `gate/kernel [Dq, N, Hv]` and
   * `gate/bias [N, Hv]` after the key's. Default false.
   */
  useGate?: boolean;
}

/** The weights of one projection. */
interface Projection {
  kernel: LayerVariable;
  bias: LayerVariable | null;
}

export abstract class MultiHeadBase<O extends AttentionCallOptions = AttentionCallOptions> extends ScoringLayer<O> {
  protected override readonly modelDroppedCallArgs: readonly string[] = ['returnAttentionScores', 'useCausalMask', 'attentionMask'];
  protected readonly numHeads: number;
  protected readonly keyDim: number;
  protected readonly valueDim: number;
  protected readonly dropoutRate: number;
  protected readonly useBias: boolean;
  protected readonly kernelInitializer: Initializer;
  protected readonly biasInitializer: Initializer;
  protected readonly kernelRegularizer?: Regularizer;
  protected readonly biasRegularizer?: Regularizer;
  protected readonly kernelConstraint?: Constraint;
  protected readonly biasConstraint?: Constraint;
  protected readonly seed?: number;
  protected readonly returnAttentionScores: boolean;
  protected readonly kernelArgs: KernelSettings;

  /** Key/value heads (GroupedQueryAttention's numKeyValueHeads); each serves numHeads / kvHeads query heads. */
  protected kvHeads: number;
  /** Keras's sliding_window, or undefined for none (set by the layers that take it). */
  protected slidingWindow?: number;
  /** Keras's use_gate (set by the layers that take it). */
  protected useGate = false;

  protected queryDense?: Projection;
  protected keyDense?: Projection;
  protected gateDense?: Projection;
  protected valueDense?: Projection;
  protected outputDense?: Projection;

  constructor(args: MultiHeadBaseArgs & LayerArgs, layerName: string) {
    super(layerArgs(new.target, args));
    const a = args ?? ({} as MultiHeadBaseArgs);
    this.numHeads = checkPositiveInt(layerName, 'numHeads', a.numHeads);
    this.keyDim = checkPositiveInt(layerName, 'keyDim', a.keyDim);
    this.valueDim = checkOptionalPositiveInt(layerName, 'valueDim', a.valueDim) ?? this.keyDim;
    this.dropoutRate = checkRate(layerName, 'dropout', a.dropout);
    this.useBias = checkBool(layerName, 'useBias', a.useBias, true);
    this.kernelInitializer = resolveInitializer(layerName, 'kernelInitializer', a.kernelInitializer ?? 'glorotUniform');
    this.biasInitializer = resolveInitializer(layerName, 'biasInitializer', a.biasInitializer ?? 'zeros');
    this.kernelRegularizer = resolveRegularizer(layerName, 'kernelRegularizer', a.kernelRegularizer);
    this.biasRegularizer = resolveRegularizer(layerName, 'biasRegularizer', a.biasRegularizer);
    this.kernelConstraint = resolveConstraint(layerName, 'kernelConstraint', a.kernelConstraint);
    this.biasConstraint = resolveConstraint(layerName, 'biasConstraint', a.biasConstraint);
    if (a.seed !== undefined && a.seed !== null && !Number.isInteger(a.seed)) {
      throw new AttentionError(`${layerName}: expected seed to be an integer, but got seed=${String(a.seed)}.`);
    }
    this.seed = a.seed ?? undefined;
    this.returnAttentionScores = checkBool(layerName, 'returnAttentionScores', a.returnAttentionScores, false);
    this.kvHeads = this.numHeads;
    this.kernelArgs = checkKernelArgs(layerName, a);
  }

  /** Checks and keeps Keras's `slidingWindow` and `useGate` (for the layers that take them). */
  protected setKerasOptions(layerName: string, a: KerasAttentionOptions): void {
    const w = a.slidingWindow;
    this.slidingWindow = w === null || w === undefined ? undefined : checkPositiveInt(layerName, 'slidingWindow', w);
    this.useGate = checkBool(layerName, 'useGate', a.useGate, false);
  }

  /** Adds one projection's kernel and bias, named as Keras names them. */
  private addProjection(name: string, kernelShape: number[], biasShape: number[]): Projection {
    const kernel = this.addWeight(
      `${name}/kernel`,
      kernelShape,
      'float32',
      this.kernelInitializer,
      this.kernelRegularizer,
      true,
      this.kernelConstraint,
    );
    const bias = this.useBias
      ? this.addWeight(`${name}/bias`, biasShape, 'float32', this.biasInitializer, this.biasRegularizer, true, this.biasConstraint)
      : null;
    return { kernel, bias };
  }

  /**
   * Adds the weights in Keras's order: query, key, [gate,] value,
   * attention_output, each kernel then bias. Key and value have `kvHeads`
   * heads.
   */
  protected buildProjections(queryDim: number, keyDim: number, valueDim: number, outputDim: number): void {
    const N = this.numHeads;
    const G = this.kvHeads;
    this.queryDense = this.addProjection('query', [queryDim, N, this.keyDim], [N, this.keyDim]);
    this.keyDense = this.addProjection('key', [keyDim, G, this.keyDim], [G, this.keyDim]);
    if (this.useGate) this.gateDense = this.addProjection('gate', [queryDim, N, this.valueDim], [N, this.valueDim]);
    this.valueDense = this.addProjection('value', [valueDim, G, this.valueDim], [G, this.valueDim]);
    this.outputDense = this.addProjection('attention_output', [N, this.valueDim, outputDim], [outputDim]);
  }

  /** Hook: transforms the per-head queries and keys `[B, N, T|S, K]` (rotary embeddings). */
  protected transformQueryKey(q: tf.Tensor, k: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return [q, k];
  }

  /** Hook: an additive score bias broadcastable to `[B, N, T, S]` (ALiBi, relative positions), or null. */
  protected scoreBias(_T: number, _S: number): tf.Tensor | null {
    return null;
  }

  /**
   * What a query row with nothing to attend to yields. Keras ≥ 3.10 has two
   * rules: where it computes the scores (they are returned, or dropout > 0),
   * its Softmax zeroes masked positions, so the row's weights are all zero
   * and its output is the output bias; on its fused path
   * (`ops.dot_product_attention`) masked scores get a large negative number,
   * so the weights are uniform, 1/S over every key. The layer follows the
   * same rule on the same condition.
   */
  protected emptyRows(returnScores: boolean): 'zeros' | 'uniform' {
    return returnScores || this.dropoutRate > 0 ? 'zeros' : 'uniform';
  }

  /**
   * `[B, G, S, H]` → `[B, G·r, S, H]`, each head repeated r times in place
   * (Keras's `ops.repeat(x, r, axis=heads)`). A rank-4 tile: tfjs 4.22 has no
   * gradient for rank-5 tiles, and gather's gradient has no wasm kernel.
   */
  private repeatHeads(x: tf.Tensor): tf.Tensor {
    const r = this.numHeads / this.kvHeads;
    if (r === 1) return x;
    const [B, G, S, H] = x.shape as number[];
    return tf.reshape(tf.tile(tf.reshape(x, [B, G, 1, S * H]), [1, 1, r, 1]), [B, G * r, S, H]);
  }

  /**
   * Projects, attends and merges: query `[B, T, Dq]`, value `[B, S, Dv]`,
   * key `[B, S, Dk]`; mask bool broadcastable to `[B, T, S]` or null.
   * Returns the output `[B, T, Dout]` and the scores `[B, N, T, S]` when asked.
   */
  protected attend(
    query: tf.Tensor,
    value: tf.Tensor,
    key: tf.Tensor,
    mask: tf.Tensor | null,
    causal: boolean,
    training: boolean,
    returnScores: boolean,
  ): { output: tf.Tensor; scores?: tf.Tensor } {
    const p = (x: Projection | undefined): Projection => x as Projection;
    const read = (v: LayerVariable | null) => (v === null ? null : v.read());
    return tf.tidy(() => {
      let q = projectToHeads(query, p(this.queryDense).kernel.read(), read(p(this.queryDense).bias));
      let k = this.repeatHeads(projectToHeads(key, p(this.keyDense).kernel.read(), read(p(this.keyDense).bias)));
      const v = this.repeatHeads(projectToHeads(value, p(this.valueDense).kernel.read(), read(p(this.valueDense).bias)));
      const gate = this.gateDense === undefined
        ? null
        : tf.sigmoid(projectToHeads(query, this.gateDense.kernel.read(), read(this.gateDense.bias)));
      [q, k] = this.transformQueryKey(q, k);
      const opts = {
        mask: mask === null ? null : tf.expandDims(mask, 1),
        causal,
        scale: 1 / Math.sqrt(this.keyDim),
        bias: this.scoreBias(q.shape[2] as number, k.shape[2] as number),
        dropout: this.dropoutRate,
        training,
        seed: nextDropoutSeed(this, this.seed, training && this.dropoutRate > 0),
        emptyRows: this.emptyRows(returnScores),
        // Keras's band |i - j| < slidingWindow is the core's |i - j| <= window.
        window: this.slidingWindow === undefined ? undefined : this.slidingWindow - 1,
        implementation: this.kernelArgs.implementation,
        memoryBudget: this.kernelArgs.memoryBudget,
      };
      const merge = (o: tf.Tensor) =>
        mergeHeads(gate === null ? o : tf.mul(o, gate), p(this.outputDense).kernel.read(), read(p(this.outputDense).bias));
      if (!returnScores) {
        return { output: merge(scaledDotProductAttention(q, k, v, opts)) };
      }
      const r = scaledDotProductAttention(q, k, v, { ...opts, returnWeights: true });
      return { output: merge(r.output), scores: r.weights };
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      numHeads: this.numHeads,
      keyDim: this.keyDim,
      valueDim: this.valueDim,
      dropout: this.dropoutRate,
      useBias: this.useBias,
      kernelInitializer: serialize(this.kernelInitializer),
      biasInitializer: serialize(this.biasInitializer),
      kernelRegularizer: serialize(this.kernelRegularizer),
      biasRegularizer: serialize(this.biasRegularizer),
      kernelConstraint: serialize(this.kernelConstraint),
      biasConstraint: serialize(this.biasConstraint),
      seed: this.seed ?? null,
      returnAttentionScores: this.returnAttentionScores,
      ...kernelConfig(this.kernelArgs),
    };
  }
}
