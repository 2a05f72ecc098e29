/**
 * Types of tfjs-layers that `@tensorflow/tfjs` does not export by name,
 * derived from what it does export, so that the published declarations import
 * nothing but `@tensorflow/tfjs` (the peer dependency). A deep import of
 * `@tensorflow/tfjs-layers/dist/...` names a package this library does not
 * declare, and fails to resolve in a strict consumer under an isolated
 * (pnpm-like, `npm install --install-strategy=linked`) layout. Type-only:
 * nothing here exists at run time.
 */
import type * as tf from '@tensorflow/tfjs';

/** The arguments every tf.layers layer takes (`name`, `trainable`, `inputShape`, `dtype`, ...). */
export type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
/** A weight initializer, as `tf.initializers.*` make. */
export type Initializer = ReturnType<typeof tf.initializers.zeros>;
/** A weight regularizer, as `tf.regularizers.*` make. */
export type Regularizer = ReturnType<typeof tf.regularizers.l2>;
/** A weight constraint, as `tf.constraints.*` make. */
export type Constraint = ReturnType<typeof tf.constraints.maxNorm>;
