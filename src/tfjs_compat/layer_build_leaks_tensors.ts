/**
 * tfjs 4.22 behaviour worked around here: building some layers leaves
 * intermediate tensors behind that nothing frees, not even `model.dispose()`.
 * `LSTM` with `unitForgetBias: true` (Keras's default, so every converted
 * Keras LSTM) builds its bias from pieces (zeros, ones, zeros) without
 * `tf.tidy`: four tensors per LSTM cell, every time a model is loaded.
 *
 * The loader builds the model inside an engine scope, which frees every
 * tensor made while building except the layers' variables (scopes never
 * free variables). tfjs's model deserialisation runs synchronously when no
 * weights are fetched (the loader assigns weights itself), so the scope holds
 * nothing but the build.
 *
 * Pinned by `__tests__/tfjs_compat/layer_build_leaks_tensors.test.ts`.
 */
import * as tf from '@tensorflow/tfjs';

/**
 * Runs a synchronous build inside an engine scope and frees what it leaves
 * behind (variables are kept: scopes never free them).
 *
 * @param build Builds and returns something (a model, a promise of one that
 *   settles without further tensor work).
 */
export function withoutBuildLeaks<T>(build: () => T): T {
  const engine = tf.engine();
  engine.startScope('withoutBuildLeaks');
  let result: T;
  try {
    result = build();
  } catch (e) {
    engine.endScope();
    throw e;
  }
  engine.endScope();
  return result;
}
