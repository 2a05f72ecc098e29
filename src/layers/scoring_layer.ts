/**
 * The base of the attention layers that can also return their attention
 * scores: their typed call options and typed ways to get `[output, scores]`,
 * how a call's `returnAttentionScores` reaches `computeOutputShape` and
 * `computeMask`, the refusal of call arguments that a tfjs model would drop,
 * and the checks of query, value and key shapes every attention layer makes
 * in its own name.
 *
 * Shape legend: B batch, T query length, S key length.
 */
import * as tf from '@tensorflow/tfjs';
import { AttentionError } from '../errors';
import { checkBoolean } from '../ops/checks';
import type { WithCallSignature } from './base/call_signature';
import type { LayerArgs } from './tfjs_types';
import { rejectSymbolicCallArgs } from './common';
import { LibraryLayer } from './base/library_layer';
import { layerArgs } from './base/layer_guards';
import { aliasRepeatedInputs } from '../tfjs_compat/executor_disposes_repeated_input';

export type Kwargs = { [key: string]: unknown };

/** The call options of every attention layer (`apply(inputs, options)`). */
export interface AttentionCallOptions {
  /** Training mode: dropout on the attention weights is applied. Default false. */
  training?: boolean;
  /** Input masks, as tfjs passes them from earlier layers (`embedding({maskZero: true})`). */
  mask?: tf.Tensor | Array<tf.Tensor | null> | null;
  /**
   * Return `[output, scores]` from this call. Default: the constructor's
   * `returnAttentionScores`. On concrete tensors only (a tfjs model does not
   * keep call options: give it to the constructor there).
   */
  returnAttentionScores?: boolean;
}

/** The call options of the layers that take a causal mask per call (`Attention`, `AdditiveAttention`). */
export interface CausalCallOptions extends AttentionCallOptions {
  /** Apply a causal mask in this call. Default: the constructor's `useCausalMask`. */
  useCausalMask?: boolean;
}

/** The call options of `MultiHeadAttention`. */
export interface MultiHeadAttentionCallOptions extends CausalCallOptions {
  /**
   * Bool or 0/1 `[B, T, S]` (or broadcastable to it, e.g. `[B, 1, S]`): true
   * where query `t` may attend to key `s`. A `[B, S]` key-padding mask is
   * refused: expand it with `tf.expandDims(mask, 1)`.
   */
  attentionMask?: tf.Tensor | null;
}

type Inputs = tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[];
type Shape = ReadonlyArray<number | null>;
/** A tensor or symbolic tensor: only its shape is read. */
export type Shaped = { readonly shape: Shape };
export const showShape = (s: Shape) => `[${s.map((d) => (d === null ? 'null' : d)).join(',')}]`;

/**
 * `O`: the layer's call options. `R`: what a call with `returnAttentionScores`
 * returns (`[output, scores]` for the attention layers; the Transformer
 * decoder returns its self- and cross-attention scores after the output).
 */
export abstract class ScoringLayer<
  O extends AttentionCallOptions = AttentionCallOptions,
  R extends tf.Tensor[] = [tf.Tensor, tf.Tensor],
> extends LibraryLayer {
  /** Whether calls return `[output, scores]` unless the call says otherwise. */
  protected abstract readonly returnAttentionScores: boolean;
  /** Call arguments that a tfjs model would drop: refused on symbolic inputs. */
  protected readonly modelDroppedCallArgs: readonly string[] = ['returnAttentionScores'];
  protected override readonly widthBoundInputs: readonly string[] = ['query', 'value', 'key'];
  protected override readonly maskedInputs: readonly string[] = ['query', 'value', 'key'];
  /** The call's `returnAttentionScores` while `apply` runs (tfjs asks for shapes and masks without the call's arguments). */
  private pendingReturnScores?: boolean;

  constructor(args: LayerArgs) {
    super(layerArgs(new.target, args));
    this.supportsMasking = true;
  }

  /** Whether this call returns `[output, scores]`. */
  protected wantsScores(kwargs?: Kwargs): boolean {
    const v = kwargs?.['returnAttentionScores'];
    return typeof v === 'boolean' ? v : (this.pendingReturnScores ?? this.returnAttentionScores);
  }

  /** The output mask: the query's, and none for the scores. */
  protected outputMask(queryMask: tf.Tensor | null): tf.Tensor | tf.Tensor[] {
    return (this.wantsScores() ? [queryMask, null] : queryMask) as tf.Tensor | tf.Tensor[];
  }

  /**
   * Checks, in this layer's name and with the caller's shapes, that query
   * `[B, T, Dq]`, value `[B, S, Dv]` and key `[B, S, Dk]` (null: key is
   * value) agree in rank, batch size and length, and are float32. Allocates nothing.
   * @throws AttentionError naming the shapes that disagree.
   */
  protected checkQueryValueKey(query: Shaped, value: Shaped, key: Shaped | null): void {
    const name = this.messageName;
    const named: Array<[string, Shape]> = [['query', query.shape], ['value', value.shape]];
    if (key !== null) named.push(['key', key.shape]);
    ([['query', query], ['value', value], ['key', key]] as const).forEach(([what, x]) => {
      if (x !== null) this.checkSequence(what, x, `${what} of rank 3 [B, ${what === 'query' ? 'T' : 'S'}, D]`);
    });
    const differ = (a: number | null, b: number | null) => a !== null && b !== null && a !== b;
    for (const [what, s] of named.slice(1)) {
      if (differ(s[0], query.shape[0])) {
        throw new AttentionError(
          `${name}: expected query and ${what} to have the same batch size, but got query ${showShape(query.shape)} and ${what} ${showShape(s)}.`,
        );
      }
    }
    if (key !== null && differ(key.shape[1], value.shape[1])) {
      throw new AttentionError(
        `${name}: expected value and key to have the same length S, but got value ${showShape(value.shape)} and key ${showShape(key.shape)}.`,
      );
    }
  }

  /**
   * Checks one sequence input `[B, T, D]` in this layer's name: float32
   * (an int32 sequence reached tfjs's matMul, softmax or tanh) and rank 3.
   * Allocates nothing.
   * @param what The input's name in messages.
   * @param x The input (tensor or symbolic tensor).
   * @param rankMessage The rank error's `expected ...` part (default `<what> of rank 3 [B, T, D]`).
   * @param gotShape How the input is shown after `but got` (default `<what> [shape]`).
   * @throws AttentionError naming the input, its dtype and shape.
   */
  protected checkSequence(what: string, x: Shaped, rankMessage = `${what} of rank 3 [B, T, D]`, gotShape = `${what} ${showShape(x.shape)}`): void {
    const dtype = (x as { dtype?: string }).dtype;
    if (dtype !== undefined && dtype !== 'float32') {
      throw new AttentionError(`${this.messageName}: expected ${what} to be float32, but got ${dtype} ${gotShape}.`);
    }
    if (x.shape.length !== 3) throw new AttentionError(`${this.messageName}: expected ${rankMessage}, but got ${gotShape}.`);
  }

  /**
   * Checks the inputs of a `[query, value]` / `[query, value, key]` layer:
   * count (between 2 and `maxInputs`), ranks, batch sizes and lengths.
   */
  protected checkQueryValueKeyList(list: readonly Shaped[], maxInputs: number, form: string): void {
    if (list.length < 2 || list.length > maxInputs) {
      throw new AttentionError(`${this.messageName}: expected inputs ${form}, but got ${list.length} input(s).`);
    }
    this.checkQueryValueKey(list[0], list[1], list[2] ?? null);
  }

  /**
   * Runs the layer on concrete tensors and returns `[output, scores]`,
   * whatever the constructor's `returnAttentionScores`.
   *
   * @example
   * ```ts
   * const [out, scores] = new MultiHeadAttention({ numHeads: 2, keyDim: 4 }).callWithScores([q, v]);
   * ```
   */
  callWithScores(inputs: tf.Tensor | tf.Tensor[], options?: Omit<O, 'returnAttentionScores'>): R {
    return this.apply(inputs, { ...(options ?? {}), returnAttentionScores: true } as O & { returnAttentionScores: true });
  }

  /** With `returnAttentionScores: true`: `[output, scores]`. */
  override apply(inputs: tf.Tensor | tf.Tensor[], kwargs: O & { returnAttentionScores: true }): R;
  /** With `returnAttentionScores: false`: the output. */
  override apply(inputs: tf.Tensor | tf.Tensor[], kwargs: O & { returnAttentionScores: false }): tf.Tensor;
  /** On symbolic tensors (building a model): the symbolic output, or `[output, scores]`. */
  override apply(inputs: tf.SymbolicTensor | tf.SymbolicTensor[], kwargs?: O): tf.SymbolicTensor | tf.SymbolicTensor[];
  /** On tensors: the output, or `[output, scores]` when the constructor's `returnAttentionScores` is true. */
  override apply(inputs: tf.Tensor | tf.Tensor[], kwargs?: O): tf.Tensor | R;
  /** Any inputs (tfjs's own signature). */
  override apply(inputs: Inputs, kwargs?: O): Inputs;
  override apply(inputs: Inputs, kwargs?: O): Inputs {
    const kw = kwargs as Kwargs | undefined;
    rejectSymbolicCallArgs(this.messageName, inputs, kw, this.modelDroppedCallArgs);
    // Boolean call options: 'yes' or 1 was taken as the constructor's default, silently.
    const declared = (this.constructor as Partial<WithCallSignature>).callSignature?.callOptions ?? [];
    for (const o of ['returnAttentionScores', 'useCausalMask'].filter((d) => declared.includes(d))) {
      if (kw?.[o] !== null) checkBoolean(this.messageName, o, kw?.[o]);
    }
    const v = kw?.['returnAttentionScores'];
    this.pendingReturnScores = typeof v === 'boolean' ? v : undefined;
    try {
      // [x, x] inputs: see tfjs_compat/executor_disposes_repeated_input.ts.
      return aliasRepeatedInputs(super.apply(inputs, kw));
    } finally {
      this.pendingReturnScores = undefined;
    }
  }
}
