/**
 * tfjs 4.22 behaviour worked around here: tfjs's `GlobalAveragePooling1D`
 * ignores the mask it is given (by the executor or as a call argument) and
 * averages over every step, padding included. Keras's averages over the real
 * steps only, so a Keras text model (`Embedding(mask_zero=True)` → ... →
 * `GlobalAveragePooling1D`) predicts differently in tfjs.
 *
 * The Keras loader builds the library's mask-aware layer instead, by class
 * name. Keras layers that are not listed here either ignore masks in Keras
 * too (`GlobalMaxPooling1D`, `Flatten`, `Conv1D`: Keras 3 gives them no
 * mask) or pass them through in both (`Dense`, `Dropout`,
 * `LayerNormalization`, `Activation`: their values do not depend on the mask).
 *
 * Pinned by `__tests__/tfjs_compat/global_pooling_ignores_mask.test.ts`.
 */
import '../layers/pooling';

/** Keras class name → the registered class the loader builds instead. */
export const MASK_AWARE_REPLACEMENTS: Readonly<Record<string, string>> = {
  GlobalAveragePooling1D: 'MaskedGlobalAveragePooling1D',
  GlobalAvgPool1D: 'MaskedGlobalAveragePooling1D',
};
