/**
 * tfjs-attention: attention for TensorFlow.js.
 *
 * The one public surface of the package. Grouped, named re-exports.
 */

// The article's functions, exactly.
export { attention, model } from './seed';

// Backend choice.
export { initBackend, BACKENDS, BACKEND_ENV_VAR } from './backend';
export type { BackendName } from './backend';

// Functional core.
export { scaledDotProductAttention, attentionWeights } from './ops/scaled_dot_product';
export type { AttentionOptions, ScaledDotProductOptions, AttentionResult } from './ops/scaled_dot_product';
export { additiveAttention } from './ops/additive';
export type { AdditiveAttentionOptions } from './ops/additive';
export { causalMask, paddingMask, combineMasks } from './ops/masks';
export type { TensorInput } from './ops/checks';
