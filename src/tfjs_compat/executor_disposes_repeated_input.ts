/**
 * tfjs 4.22 behaviour worked around here: the layers-model executor
 * (`predict`, `evaluate`, `execute`) frees a tensor too early when one layer
 * receives it twice.
 *
 * The executor counts, for every symbolic tensor, the set of layers that read
 * it, but decrements that count once per input slot. A layer called on
 * `[x, x]` (`MultiHeadAttention.apply([x, x])`, Keras's `MHA(x, x)`) uses up
 * two counts of `x`, so `x` is disposed after that layer although another
 * layer (the residual `Add([x, attention])`) still needs it: `Tensor is
 * disposed`. `fit` runs the same executor in training mode, which disposes
 * nothing, so it "happens to work".
 *
 * The workaround leaves the model's graph (its layers, nodes and saved
 * config) as it is, and changes only what the executor walks: in the
 * `inputs` of the consuming node's output symbolic tensors, every repeat of a
 * tensor is replaced by an alias, the output of a hidden identity layer that
 * clones it. The executor then counts and frees `x` and its alias
 * separately. The alias layer is not part of the model (`model.layers`,
 * `getConfig`, `save` never see it); it runs only inside the executor.
 *
 * Pinned by `__tests__/tfjs_compat/executor_disposes_repeated_input.test.ts`:
 * when a tfjs release fixes the executor, the pin fails and this file can go.
 */
import * as tf from '@tensorflow/tfjs';

/** The hidden identity layer: its output is a clone of its input, its mask the input's. */
class RepeatedInputAlias extends tf.layers.Layer {
  static className = 'RepeatedInputAlias';

  constructor(name: string) {
    super({ name, trainable: false });
    this.supportsMasking = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.clone(x);
  }

  /**
   * The input's mask, as a clone (disposing the alias disposes its mask, and
   * the input keeps its own): the mask the executor hands over, else the one
   * riding on the input (`kerasMask`, which layers read for inputs after the
   * first).
   */
  override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const m = (Array.isArray(mask) ? mask[0] : mask) ?? x.kerasMask ?? null;
    return (m === null ? null : tf.clone(m)) as tf.Tensor;
  }
}

/** A symbolic tensor as the executor reads it (`inputs` is public in tfjs, but readonly in its types). */
type Walkable = { inputs: tf.SymbolicTensor[] };

let aliasCount = 0;

/**
 * Replaces every repeated input of the node that made `outputs` by an alias
 * (see the file comment). Does nothing for concrete tensors, for nodes
 * without repeats, or twice for the same node.
 *
 * @param outputs The symbolic output(s) of one `Layer.apply` call.
 * @returns `outputs`, unchanged as objects.
 */
export function aliasRepeatedInputs<T>(outputs: T): T {
  const list = (Array.isArray(outputs) ? outputs : [outputs]) as unknown[];
  const symbolic = list.filter((o): o is tf.SymbolicTensor => o instanceof tf.SymbolicTensor);
  if (symbolic.length === 0) return outputs;
  const inputs = (symbolic[0] as unknown as Walkable).inputs;
  if (!Array.isArray(inputs) || new Set(inputs.map((t) => t.id)).size === inputs.length) return outputs;
  const seen = new Set<number>();
  const walked = inputs.map((t) => {
    if (!seen.has(t.id)) {
      seen.add(t.id);
      return t;
    }
    aliasCount += 1;
    const alias = new RepeatedInputAlias(`repeated_input_alias_${aliasCount}`);
    return alias.apply(t) as tf.SymbolicTensor;
  });
  for (const o of symbolic) (o as unknown as Walkable).inputs = walked;
  return outputs;
}

/**
 * Applies {@link aliasRepeatedInputs} to every node of a built model (used by
 * the Keras loader, so any layer class, tfjs's own included, is covered).
 */
export function aliasRepeatedInputsOfModel(model: tf.LayersModel): void {
  for (const layer of model.layers) {
    for (const node of layer.inboundNodes) {
      aliasRepeatedInputs(node.outputTensors);
    }
  }
}
