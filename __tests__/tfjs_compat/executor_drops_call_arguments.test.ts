/**
 * Pins tfjs 4.22's model executor dropping a node's call arguments, and
 * checks the loader's workaround (src/tfjs_compat/executor_drops_call_arguments.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { moveCallOptionsToConfig } from '../../src/tfjs_compat/executor_drops_call_arguments';

/** Records the `flag` call argument of every concrete call. */
class FlagRecorder extends tf.layers.Layer {
  static className = 'FlagRecorderForPin';
  seen: unknown[] = [];
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    this.seen.push(kwargs['flag']);
    return tf.clone(Array.isArray(inputs) ? inputs[0] : inputs);
  }
}

describe('tfjs behaviour: a model runs its layers without their call arguments', () => {
  it('pin: a flag given to apply() on symbolic tensors never reaches call() in predict', () => {
    const inp = tf.input({ shape: [2] });
    const rec = new FlagRecorder({});
    const out = rec.apply(inp, { flag: true }) as tf.SymbolicTensor;
    const model = tf.model({ inputs: inp, outputs: out });
    const x = tf.ones([1, 2]);
    (model.predict(x) as tf.Tensor).dispose();
    x.dispose();
    expect(rec.seen).toEqual([undefined]);
  });
});

describe('moveCallOptionsToConfig', () => {
  const layer = (nodes: unknown[]) => ({ name: 'h', class_name: 'MultiHeadAttention', config: {} as Record<string, unknown>, inbound_nodes: nodes });

  it('moves the named call options of every node into the config and out of the nodes', () => {
    const l = layer([[['x', 0, 0, { use_causal_mask: true, other: 1 }]], [['y', 0, 0, { use_causal_mask: true }]]]);
    moveCallOptionsToConfig(l, ['use_causal_mask', 'return_attention_scores']);
    expect(l.config).toEqual({ use_causal_mask: true });
    expect(l.inbound_nodes).toEqual([[['x', 0, 0, { other: 1 }]], [['y', 0, 0, {}]]]);
  });

  it('refuses one layer called with two values of an option', () => {
    const l = layer([[['x', 0, 0, { use_causal_mask: true }]], [['y', 0, 0, { use_causal_mask: false }]]]);
    expect(() => moveCallOptionsToConfig(l, ['use_causal_mask'])).toThrow(
      /expected layer 'h' \(MultiHeadAttention\) to be called with one value of 'use_causal_mask', but got true, false/);
  });
});
