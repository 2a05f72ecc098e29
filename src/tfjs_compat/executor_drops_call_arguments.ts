/**
 * tfjs 4.22 behaviour worked around here: a layers model runs every layer
 * with the model's own call arguments only (`training`, and the mask of the
 * first input): the keyword arguments a node was built with (Keras's
 * `use_causal_mask=True`, `return_attention_scores=True`, the loader's
 * `input_names`) are stored in the node but never given back to the layer by
 * `predict`, `evaluate`, `fit` or `execute`.
 *
 * The Keras loader therefore moves the call options a layer class declares in
 * `callSignature.optionsAsConfig` from every inbound node into the layer's
 * config, where the library's layers take them as constructor arguments. A
 * layer called with different values of one option (two nodes, two
 * settings) cannot be expressed that way and is refused. (Tensor keyword
 * arguments are a separate matter: the loader makes them inputs.)
 *
 * Pinned by `__tests__/tfjs_compat/executor_drops_call_arguments.test.ts`.
 */
import { AttentionError } from '../errors';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/**
 * Moves the named call options from every tf.keras-2-style inbound node of a
 * normalised layer (`[[name, node, tensor, kwargs], ...]`) into its config.
 *
 * @param layer `{class_name, name, config, inbound_nodes}`, modified in place.
 * @param keys Snake-case call option names (`use_causal_mask`).
 * @throws AttentionError when two nodes give one option different values.
 */
export function moveCallOptionsToConfig(layer: Record<string, Json>, keys: readonly string[]): void {
  for (const key of keys) {
    const values = (layer.inbound_nodes as Json[][]).map((node) => {
      const kwargs = node[0]?.[3] ?? {};
      const v = kwargs[key];
      delete kwargs[key];
      return v;
    });
    const seen = [...new Set(values.filter((v) => v !== undefined).map((v) => JSON.stringify(v)))];
    if (seen.length > 1) {
      throw new AttentionError(
        `loadKerasModel: expected layer '${layer.name}' (${layer.class_name}) to be called with one value of '${key}', but got ${seen.join(', ')}; tfjs models do not keep call arguments, so the loader makes '${key}' configuration. Use one layer per setting.`,
      );
    }
    if (seen.length > 0) layer.config[key] = JSON.parse(seen[0]);
  }
}
