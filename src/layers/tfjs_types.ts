/**
 * Types of tfjs-layers that `@tensorflow/tfjs` does not re-export. Type-only:
 * nothing here exists at run time.
 */
export type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
export type { Initializer } from '@tensorflow/tfjs-layers/dist/initializers';
export type { Regularizer } from '@tensorflow/tfjs-layers/dist/regularizers';
export type { Constraint } from '@tensorflow/tfjs-layers/dist/constraints';
