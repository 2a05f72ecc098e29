/**
 * Checks every layer shares at its boundary: the constructor's arguments and
 * the `training` call argument. One place, so that a layer added later gets
 * the same behaviour by calling them.
 */
import * as tf from '@tensorflow/tfjs';
import { checkOptions, checkTraining } from '../../ops/checks';

/** The registered class name of a layer class (for messages). */
function nameOf(cls: unknown): string {
  return (cls as { className?: string } | undefined)?.className ?? 'Layer';
}

/**
 * Checks a layer's constructor arguments before tfjs reads them: absent or an
 * object. Call as `super(layerArgs(new.target, args))`.
 */
export function layerArgs<T>(cls: unknown, args: T): T {
  return checkOptions(nameOf(cls), args, 'args');
}

/**
 * The `training` call argument of a layer: absent (false) or a boolean;
 * `'yes'` or 1 is an error rather than dropout silently off.
 */
export function trainingArg(layer: tf.layers.Layer, kwargs: { [key: string]: unknown } | undefined): boolean {
  return checkTraining(nameOf(layer.constructor), kwargs?.['training']);
}
