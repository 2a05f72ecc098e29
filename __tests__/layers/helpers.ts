/** Shared helpers of the layer tests. */
import * as tf from '@tensorflow/tfjs';
import { Arr, MhaWeights, randn } from '../reference';

export const t = (a: Arr): tf.Tensor => tf.tensor(Array.from(a.data), a.shape, 'float32');

/** Random Keras-shaped multi-head weights (seeded). */
export function mhaWeights(Dq: number, Dk: number, Dv: number, N: number, K: number, Hv: number, Dout: number, seed: number): MhaWeights {
  return {
    Wq: randn([Dq, N, K], seed, 0.5),
    bq: randn([N, K], seed + 1, 0.1),
    Wk: randn([Dk, N, K], seed + 2, 0.5),
    bk: randn([N, K], seed + 3, 0.1),
    Wv: randn([Dv, N, Hv], seed + 4, 0.5),
    bv: randn([N, Hv], seed + 5, 0.1),
    Wo: randn([N, Hv, Dout], seed + 6, 0.5),
    bo: randn([Dout], seed + 7, 0.1),
  };
}

/** The weights in Keras's order, as tensors for `layer.setWeights`. */
export function mhaList(w: MhaWeights): tf.Tensor[] {
  return [w.Wq, w.bq, w.Wk, w.bk, w.Wv, w.bv, w.Wo, w.bo].map(t);
}

/** A layer rebuilt from its config has the same config. */
export function expectConfigRoundTrip(layer: tf.layers.Layer): void {
  const cls = layer.constructor as unknown as {
    fromConfig: (c: typeof tf.serialization.Serializable, cfg: tf.serialization.ConfigDict) => tf.layers.Layer;
  };
  const config = layer.getConfig();
  // fromConfig may write into the config it is given: hand it a copy.
  const copy = cls.fromConfig(layer.constructor as typeof tf.serialization.Serializable, JSON.parse(JSON.stringify(config)));
  expect(copy.getConfig()).toEqual(config);
  expect(copy.getClassName()).toBe(layer.getClassName());
  // Registered under its class name, so tf.loadLayersModel finds it.
  const registered = tf.serialization.SerializationMap.getMap().classNameMap[layer.getClassName()];
  expect(registered[0]).toBe(layer.constructor);
}

/** Fits a small model and returns [first loss, last loss]. */
export async function fitLosses(model: tf.LayersModel, x: tf.Tensor | tf.Tensor[], y: tf.Tensor, epochs: number): Promise<[number, number]> {
  model.compile({ optimizer: tf.train.adam(0.02), loss: 'meanSquaredError' });
  const h = await model.fit(x, y, { epochs, batchSize: 8, shuffle: false, verbose: 0 });
  const losses = h.history['loss'] as number[];
  return [losses[0], losses[losses.length - 1]];
}
