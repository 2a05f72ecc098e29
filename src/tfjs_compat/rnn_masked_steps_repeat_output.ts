/**
 * tfjs 4.22 behaviour worked around here: a recurrent layer (`LSTM`, `GRU`,
 * `SimpleRNN`, and so `Bidirectional`) that returns sequences and is given a
 * mask outputs, at a masked step, the output of the last real step (the
 * forward direction repeats it; the backward direction gives zeros).
 * Keras outputs zeros at every masked step (`zero_output_for_mask` is on
 * when `return_sequences` is), so a layer after it (pooling, attention)
 * sees other numbers. The state is carried over masked steps the same way
 * in both, so real steps agree.
 *
 * In a loaded model, such layers' outputs are multiplied by the mask (per
 * instance; tfjs's prototypes are untouched).
 *
 * Pinned by `__tests__/tfjs_compat/rnn_masked_steps_repeat_output.test.ts`.
 */
import * as tf from '@tensorflow/tfjs';

const RECURRENT = ['LSTM', 'GRU', 'SimpleRNN', 'RNN', 'Bidirectional'];

type Apply = tf.layers.Layer['apply'];

/** Whether a layer returns sequences (a Bidirectional asks its wrapped layer). */
function returnsSequences(layer: tf.layers.Layer): boolean {
  const c = layer.getConfig() as { returnSequences?: boolean; layer?: { config?: { returnSequences?: boolean } } };
  return c.returnSequences === true || c.layer?.config?.returnSequences === true;
}

/**
 * Makes the recurrent layers of `model` that return sequences output zeros at
 * masked steps, as Keras's do. Call before {@link matchKerasMaskFlow} (which
 * hands them their masks).
 */
export function zeroMaskedRecurrentSteps(model: tf.LayersModel): void {
  for (const layer of model.layers) {
    if (!RECURRENT.includes(layer.getClassName()) || !returnsSequences(layer)) continue;
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
