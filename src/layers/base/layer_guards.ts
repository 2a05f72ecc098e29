/**
 * Checks every layer shares at its boundary: the constructor's arguments and
 * the `training` call argument. One place, so that a layer added later gets
 * the same behaviour by calling them.
 */
import * as tf from '@tensorflow/tfjs';
import { AttentionError } from '../../errors';
import { checkOptions, checkTraining } from '../../ops/checks';
import type { LayerArgs } from '../tfjs_types';
import { suggestOption } from './call_options';

/** The registered class name of a layer class (for messages). */
function nameOf(cls: unknown): string {
  return (cls as { className?: string } | undefined)?.className ?? 'Layer';
}

/**
 * The arguments of tfjs's `Layer` constructor (`LayerArgs`), which every
 * layer takes, plus `inputDtype`, the camelCase of Keras's `input_dtype`
 * that tfjs's deserializer makes of it. `getConfig` and `fromConfig` pass
 * `name`, `trainable`, `dtype` and `batchInputShape` among them, and tfjs's
 * deserializer adds `customObjects` to the config of a layer in a model.
 */
export const TFJS_LAYER_ARGS = [
  'name',
  'trainable',
  'inputShape',
  'batchInputShape',
  'batchSize',
  'dtype',
  'inputDType',
  'inputDtype',
  'weights',
  'customObjects',
] as const satisfies ReadonlyArray<keyof LayerArgs | 'inputDtype' | 'customObjects'>;

/** A layer class that declares its own constructor arguments (beyond tfjs's `LayerArgs`). */
export interface WithConstructorArgs {
  readonly constructorArgs: readonly string[];
  /** Keys Keras writes in this layer's config that the layer does not implement (see `KerasOnlyArg`). */
  readonly kerasOnlyArgs?: Readonly<Record<string, KerasOnlyArg>>;
}

/**
 * How a config key Keras writes, but the tfjs layer does not implement, is
 * taken when it reaches the constructor (a loaded model's config, camelCased
 * by tfjs's deserializer): `'shape'`, a build shape the layer finds again from
 * its inputs (Keras 2's `query_shape`, keras-hub's `decoder_sequence_shape`),
 * accepted with any value; `'unset'`, a feature this layer lacks (Keras's
 * `activity_regularizer`), accepted only as Keras writes it when unused,
 * `null`: a value would be silently ignored, so it is refused.
 */
export type KerasOnlyArg = 'shape' | 'unset';

/** The keys Keras's base `Layer.get_config` and most layers write that the library's layers do not implement. */
export const KERAS_BASE_ONLY_ARGS: Readonly<Record<string, KerasOnlyArg>> = { activityRegularizer: 'unset' };

type OwnArgs<T> = Exclude<keyof T & string, keyof LayerArgs>;

/**
 * Declares a layer class's constructor arguments, checked by the compiler
 * against its arguments interface: every key of `T` (tfjs's `LayerArgs`
 * aside) must be listed, and nothing else may be. Use as
 * `static readonly constructorArgs = constructorArgs<MyArgs>()(['a', 'b'])`.
 * (A missing name makes the argument `never`, a compile error.)
 */
export function constructorArgs<T>() {
  return <const K extends ReadonlyArray<OwnArgs<T>>>(
    names: K & ([Exclude<OwnArgs<T>, K[number]>] extends [never] ? unknown : never),
  ): readonly string[] => names;
}

/** Argument objects the library built itself from arguments already checked (passed on to a base class). */
const checked = new WeakSet<object>();

/** Marks an argument object the library derived from checked arguments, so the base class does not check it again. */
export function checkedArgs<T extends object>(args: T): T {
  checked.add(args);
  return args;
}

/**
 * Throws an AttentionError naming every key of `args` that is neither one of
 * tfjs's `LayerArgs` nor declared by `cls` in its own static
 * `constructorArgs`, with a suggestion where one is close (`num_heads` →
 * `numHeads`, `useCasualMask` → `useCausalMask`). A class that declares no
 * arguments of its own (a user's subclass, say) is not checked: its
 * constructor may take arguments the library cannot know. Keys whose value
 * is `undefined` are ignored, as tfjs's own layers ignore them.
 */
export function checkArgNames(cls: unknown, args: unknown): void {
  if (args === undefined || args === null || typeof args !== 'object' || checked.has(args)) return;
  if (typeof cls !== 'function' || !Object.prototype.hasOwnProperty.call(cls, 'constructorArgs')) return;
  const { constructorArgs: own, kerasOnlyArgs } = cls as unknown as WithConstructorArgs;
  const valid: readonly string[] = [...own, ...TFJS_LAYER_ARGS];
  const kerasOnly: Readonly<Record<string, KerasOnlyArg>> = { ...KERAS_BASE_ONLY_ARGS, ...kerasOnlyArgs };
  const values = args as Record<string, unknown>;
  for (const [k, kind] of Object.entries(kerasOnly)) {
    const v = values[k];
    if (kind === 'unset' && v !== undefined && v !== null) {
      throw new AttentionError(
        `${nameOf(cls)}: expected ${k} to be null or absent (this layer does not implement it; Keras configs write null), but got ${k}=${JSON.stringify(v) ?? String(v)}.`,
      );
    }
  }
  const unknown = Object.keys(args).filter((k) => !valid.includes(k) && !Object.prototype.hasOwnProperty.call(kerasOnly, k) && values[k] !== undefined);
  if (unknown.length === 0) return;
  const described = unknown.map((k) => {
    const s = suggestOption(k, valid);
    return s === undefined ? k : `${k} (did you mean ${s}?)`;
  });
  throw new AttentionError(
    `${nameOf(cls)}: expected arguments among ${own.join(', ')} (and tf.layers.Layer's ${TFJS_LAYER_ARGS.filter((a) => a !== 'inputDtype').join(', ')}), ` +
      `but got ${unknown.length === 1 ? 'the unknown argument' : 'unknown arguments'} ${described.join(', ')}.`,
  );
}

/**
 * Checks a layer's constructor arguments before tfjs reads them: absent or an
 * object, and no argument the layer does not take (`checkArgNames`). Call as
 * `super(layerArgs(new.target, args))`.
 */
export function layerArgs<T>(cls: unknown, args: T): T {
  checkOptions(nameOf(cls), args, 'args');
  checkArgNames(cls, args);
  return args;
}

/**
 * The `training` call argument of a layer: absent (false) or a boolean;
 * `'yes'` or 1 is an error rather than dropout silently off.
 */
export function trainingArg(layer: tf.layers.Layer, kwargs: { [key: string]: unknown } | undefined): boolean {
  return checkTraining(nameOf(layer.constructor), kwargs?.['training']);
}
