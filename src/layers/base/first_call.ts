/**
 * A layer's first call as a transaction: if it throws, the layer is as it was
 * before the call (unbuilt) and the weights the call made are freed.
 *
 * tfjs 4.22's `Layer.apply` builds a layer (creates its weights) before
 * `call` runs, and leaves it built when `call` then throws: a first call that
 * is refused after the build (a mask of the wrong shape, `training: 'yes'`,
 * a symbolic input whose output shape cannot be computed) left the layer's
 * weights alive (`tf.memory().numTensors` went up by 8 for a
 * MultiHeadAttention) and the layer built for the refused shapes, so the
 * next, correct call was refused as "built for another width".
 *
 * What is undone: every own property of the layer (tfjs's `_built`,
 * `_trainableWeights`, `_nonTrainableWeights`, `_addedWeightNames`,
 * `_losses`, `_refCount`, and the layer's own fields set by `build`), arrays
 * copied so that `push` during the call is undone too; and every variable
 * registered with the engine during the call is disposed (this includes
 * the weights of sublayers a composite layer builds inside its `build`).
 * Calls run synchronously, so no other code can register a variable
 * meanwhile.
 *
 * Relies on tfjs 4.22 keeping a layer's state in own properties; pinned by
 * `__tests__/layers/first_call.test.ts`.
 */
import * as tf from '@tensorflow/tfjs';

/** What `restore` needs to put a layer back as it was. */
export interface FirstCallSnapshot {
  /** Each own property's value, and for arrays their contents at the time. */
  readonly props: Map<PropertyKey, { value: unknown; items?: unknown[] }>;
  readonly variables: ReadonlySet<string>;
}

/** Records the layer's own properties (arrays copied) and the engine's registered variables. */
export function snapshotLayer(layer: tf.layers.Layer): FirstCallSnapshot {
  const props: FirstCallSnapshot['props'] = new Map();
  for (const key of Reflect.ownKeys(layer)) {
    const value = (layer as unknown as Record<PropertyKey, unknown>)[key];
    props.set(key, Array.isArray(value) ? { value, items: value.slice() } : { value });
  }
  return { props, variables: new Set(Object.keys(tf.engine().registeredVariables)) };
}

/**
 * Puts the layer back as `snapshotLayer` saw it and disposes every variable
 * registered since. Never throws (it runs on an error path, whose error is
 * the one to report).
 */
export function restoreLayer(layer: tf.layers.Layer, snapshot: FirstCallSnapshot): void {
  const target = layer as unknown as Record<PropertyKey, unknown>;
  for (const key of Reflect.ownKeys(layer)) {
    if (!snapshot.props.has(key)) delete target[key];
  }
  for (const [key, { value, items }] of snapshot.props) {
    // The same array object (others may hold it), with its old contents.
    if (items !== undefined) (value as unknown[]).splice(0, (value as unknown[]).length, ...items);
    target[key] = value;
  }
  const registered = tf.engine().registeredVariables;
  for (const name of Object.keys(registered)) {
    if (!snapshot.variables.has(name)) registered[name].dispose();
  }
}

/**
 * Runs `f` (the layer's apply); when the layer is not built yet and `f`
 * throws, restores the layer and frees what the call made, then rethrows.
 */
export function asFirstCall<T>(layer: tf.layers.Layer, f: () => T): T {
  if (layer.built) return f();
  const snapshot = snapshotLayer(layer);
  try {
    return f();
  } catch (e) {
    restoreLayer(layer, snapshot);
    throw e;
  }
}
