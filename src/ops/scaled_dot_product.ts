/**
 * Moved: the public attention functions live in `src/functional/` and the
 * kernels in `src/kernels/`. This module re-exports them so that imports of
 * `ops/scaled_dot_product` keep working.
 */
export {
  scaledDotProductAttention,
  attentionWeights,
  checkAttentionInputs,
  DEFAULT_MEMORY_BUDGET,
} from '../functional/scaled_dot_product';
export type {
  AttentionOptions,
  ScaledDotProductOptions,
  AttentionResult,
  AttentionImplementation,
  AttentionShapes,
} from '../functional/scaled_dot_product';
