/**
 * Where a layer's weights live in a Keras 3 `.keras` file, declared by the
 * layer class itself (a static `kerasWeightPaths`), so that the Keras loader
 * can read weights converted from `.keras` files without knowing the layer.
 *
 * `tensorflowjs_converter --input_format keras_keras` names each weight by
 * its place in the `.keras` file: `layers/<layer>/<attribute path>/vars/<i>`,
 * where the attribute path follows the Python attributes that hold the
 * sublayers (`query_dense`, `_self_attention_layer`), not the sublayers'
 * names (`query`, `self_attention_layer`) that `.h5` files and the library's
 * weight names use. A class whose sublayers are held under other names than
 * their own declares the mapping; a class that declares none is read with
 * sublayer paths unchanged.
 */
import * as tf from '@tensorflow/tfjs';

/**
 * Sublayer path in the library's weight names (relative to the layer,
 * `/`-separated, e.g. `self_attention_layer/query`) → attribute path in the
 * `.keras` file (e.g. `_self_attention_layer/query_dense`). The longest
 * matching path prefix wins.
 */
export type KerasWeightPaths = Readonly<Record<string, string>>;

/** A layer class that declares its `.keras` weight paths. */
export interface WithKerasWeightPaths {
  readonly kerasWeightPaths: KerasWeightPaths;
}

/**
 * Prefixes every entry of a sublayer class's paths, for a block holding that
 * sublayer: `nested('self_attention_layer', '_self_attention_layer',
 * MultiHeadAttention.kerasWeightPaths)`.
 */
export function nestedKerasWeightPaths(name: string, attribute: string, inner: KerasWeightPaths): Record<string, string> {
  const out: Record<string, string> = { [name]: attribute };
  for (const [k, v] of Object.entries(inner)) out[`${name}/${k}`] = `${attribute}/${v}`;
  return out;
}

/** The `.keras` weight paths a registered layer class declares, or undefined. */
export function kerasWeightPathsOf(className: string): KerasWeightPaths | undefined {
  const map = tf.serialization.SerializationMap.getMap().classNameMap;
  if (!Object.prototype.hasOwnProperty.call(map, className)) return undefined;
  const [cls] = map[className] as unknown as [Partial<WithKerasWeightPaths>, unknown];
  return Object.prototype.hasOwnProperty.call(cls, 'kerasWeightPaths') ? cls.kerasWeightPaths : undefined;
}
