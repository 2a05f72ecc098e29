/**
 * Constructor arguments the library renamed so that one concept has one name
 * across its layers (the Keras layers' names): the old name is refused with
 * the new one, rather than ignored; saved configs with the old name still load.
 */
import * as tf from '@tensorflow/tfjs';
import { AttentionError } from '../../errors';

/** Old argument name → the name the library's layers use now. */
export const RENAMED_ARGS: Readonly<Record<string, string>> = {
  causal: 'useCausalMask',
  outputDim: 'outputShape',
};

/**
 * Throws an AttentionError if `args` holds an argument under its old name.
 * @param layer The layer's class name, for the message.
 * @param args The constructor's arguments.
 * @param names The old names this layer once had.
 */
export function refuseRenamedArgs(layer: string, args: object | undefined, names: readonly string[]): void {
  if (args === undefined || args === null) return;
  for (const old of names) {
    const v = (args as Record<string, unknown>)[old];
    if (v === undefined) continue;
    const now = RENAMED_ARGS[old];
    throw new AttentionError(
      `${layer}: expected ${now} (${old} was renamed ${now}, the name Keras's layers use), but got ${old}=${JSON.stringify(v)}; pass { ${now}: ${JSON.stringify(v)} }.`,
    );
  }
}

/** A saved config with the old names, under the new ones (configs saved by tfjs-attention 0.1 keep loading). */
export function renameConfig(config: tf.serialization.ConfigDict, names: readonly string[]): tf.serialization.ConfigDict {
  const out: tf.serialization.ConfigDict = { ...config };
  for (const old of names) {
    if (!(old in out)) continue;
    const now = RENAMED_ARGS[old];
    if (!(now in out)) out[now] = out[old];
    delete out[old];
  }
  return out;
}
