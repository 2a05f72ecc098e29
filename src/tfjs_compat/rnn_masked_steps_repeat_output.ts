/**
 * tfjs 4.22 behaviour worked around here: a recurrent layer that returns
 * sequences and is given a mask outputs, at a masked step, the output of the
 * last real step (the forward direction repeats it; the backward direction
 * gives zeros), and tfjs has no `zero_output_for_mask` option. Keras outputs
 * zeros at masked steps where `zero_output_for_mask` is on: always inside a
 * `Bidirectional` that returns sequences (Keras forces it there), and in any
 * recurrent layer whose config sets it (it is off by default, and then Keras
 * repeats the last output as tfjs does). A layer after it (pooling,
 * attention) would otherwise see other numbers; real steps agree, as the
 * state is carried over masked steps the same way in both.
 *
 * In a loaded model, the outputs of the layers Keras zeroes are multiplied by
 * the mask (per instance; tfjs's prototypes are untouched).
 *
 * Pinned by `__tests__/tfjs_compat/rnn_masked_steps_repeat_output.test.ts`.
 */
import * as tf from '@tensorflow/tfjs';

const RECURRENT = ['LSTM', 'GRU', 'ResetAfterGRU', 'SimpleRNN', 'RNN', 'Bidirectional'];

type Apply = tf.layers.Layer['apply'];

/**
 * Whether Keras zeroes a recurrent layer's masked steps, from its Keras
 * config (snake_case): a Bidirectional returning sequences, or a layer with
 * `zero_output_for_mask` on.
 */
export function kerasZeroesMaskedSteps(className: string, config: Record<string, unknown>): boolean {
  if (config.zero_output_for_mask === true) return true;
  const inner = (config.layer as { config?: Record<string, unknown> } | undefined)?.config;
  return className === 'Bidirectional' && (config.return_sequences === true || inner?.return_sequences === true);
}

/**
 * Makes the named recurrent layers of `model` output zeros at masked steps,
 * as Keras's do (see {@link kerasZeroesMaskedSteps}). Call before
 * `matchKerasMaskFlow` (which hands them their masks).
 *
 * @param model The loaded model; the named layers' `apply` are wrapped in place.
 * @param layerNames The layers Keras zeroes.
 */
export function zeroMaskedRecurrentSteps(model: tf.LayersModel, layerNames: ReadonlySet<string>): void {
  for (const layer of model.layers) {
    if (!RECURRENT.includes(layer.getClassName()) || !layerNames.has(layer.name)) continue;
    const apply: Apply = layer.apply.bind(layer);
    layer.apply = ((inputs: Parameters<Apply>[0], kwargs?: Parameters<Apply>[1]) => {
      const out = apply(inputs, kwargs);
      const mask = (Array.isArray(kwargs?.mask) ? kwargs?.mask[0] : kwargs?.mask) as tf.Tensor | undefined | null;
      if (mask === undefined || mask === null || !(mask instanceof tf.Tensor) || out instanceof tf.SymbolicTensor) return out;
      const list = Array.isArray(out) ? (out as tf.Tensor[]) : [out as tf.Tensor];
      if (list[0] instanceof tf.SymbolicTensor || list[0].rank !== 3) return out;
      const zeroed = tf.tidy(() => tf.mul(list[0], tf.expandDims(tf.cast(mask, list[0].dtype), -1)));
      list[0].dispose();
      return (Array.isArray(out) ? [zeroed, ...list.slice(1)] : zeroed) as ReturnType<Apply>;
    }) as Apply;
  }
}
