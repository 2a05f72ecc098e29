/**
 * The base of the attention layers that can also return their attention
 * scores: how a call's `returnAttentionScores` reaches `computeOutputShape`
 * and `computeMask`, and the refusal of call arguments that a tfjs model
 * would drop.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from './tfjs_types';
import { rejectSymbolicCallArgs } from './common';
import { aliasRepeatedInputs } from '../tfjs_compat/executor_disposes_repeated_input';

export type Kwargs = { [key: string]: unknown };

export abstract class ScoringLayer extends tf.layers.Layer {
  /** Whether calls return `[output, scores]` unless the call says otherwise. */
  protected abstract readonly returnAttentionScores: boolean;
  /** Call arguments that a tfjs model would drop: refused on symbolic inputs. */
  protected readonly modelDroppedCallArgs: readonly string[] = ['returnAttentionScores'];
  /** The call's `returnAttentionScores` while `apply` runs (tfjs asks for shapes and masks without the call's arguments). */
  private pendingReturnScores?: boolean;

  constructor(args: LayerArgs) {
    super(args);
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

  override apply(
    inputs: tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[],
    kwargs?: Kwargs,
  ): tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[] {
    rejectSymbolicCallArgs(this.getClassName(), inputs, kwargs, this.modelDroppedCallArgs);
    const v = kwargs?.['returnAttentionScores'];
    this.pendingReturnScores = typeof v === 'boolean' ? v : undefined;
    try {
      // [x, x] inputs: see tfjs_compat/executor_disposes_repeated_input.ts.
      return aliasRepeatedInputs(super.apply(inputs, kwargs));
    } finally {
      this.pendingReturnScores = undefined;
    }
  }
}
