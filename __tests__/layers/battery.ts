/**
 * One battery of checks for any attention layer, in the spirit of Keras's
 * `run_layer_test`: config round trip, symbolic vs concrete output shapes,
 * weight names/shapes/order, masks in and out, no leaks in call / predict /
 * fit, and save/load bit-exact. A layer gets all of it with one
 * `layerBattery({...})` call inside a test file.
 */
import * as tf from '@tensorflow/tfjs';

export interface BatterySpec {
  /** Title of the describe block. */
  title: string;
  /** A fresh, unbuilt layer. */
  make: () => tf.layers.Layer;
  /** Shapes of the layer's tensor inputs without the batch axis (e.g. query [T, D], value [S, D]). */
  inputShapes: number[][];
  /** Expected weights after build, in order: name relative to the layer (e.g. 'query/kernel') and shape. */
  weights: Array<[string, number[]]>;
  /** Output shapes (without batch) of one call, in order: [output] or [output, scores]. */
  outputShapes: number[][];
}

const BATCH = 3;

function seededInputs(shapes: number[][], seed: number): tf.Tensor[] {
  return shapes.map((s, i) => tf.randomNormal([BATCH, ...s], 0, 1, 'float32', seed + i));
}

function outputsOf(y: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
  return Array.isArray(y) ? y : [y];
}

function model(spec: BatterySpec, layer: tf.layers.Layer): tf.LayersModel {
  const inputs = spec.inputShapes.map((s) => tf.input({ shape: s }));
  const out = layer.apply(inputs.length === 1 ? inputs[0] : inputs) as tf.SymbolicTensor | tf.SymbolicTensor[];
  return tf.model({ inputs, outputs: out });
}

export function layerBattery(spec: BatterySpec): void {
  describe(`${spec.title}: the shared layer battery`, () => {
    it('config round trip: fromConfig(getConfig()) gives the same JSON, registered under its class name', () => {
      const layer = spec.make();
      const json = JSON.stringify(layer.getConfig());
      const cls = tf.serialization.SerializationMap.getMap().classNameMap[layer.getClassName()];
      expect(cls[0]).toBe(layer.constructor);
      const copy = (cls[1] as (c: unknown, cfg: tf.serialization.ConfigDict) => tf.layers.Layer)(cls[0], JSON.parse(json));
      expect(JSON.stringify(copy.getConfig())).toBe(json);
      expect(json).not.toMatch(/customObjects/);
    });

    it('symbolic and concrete output shapes agree with computeOutputShape', () => {
      const layer = spec.make();
      const sym = outputsOf(layer.apply(spec.inputShapes.map((s) => tf.input({ shape: s }))) as never);
      expect(sym.map((x) => x.shape)).toEqual(spec.outputShapes.map((s) => [null, ...s]));
      const xs = seededInputs(spec.inputShapes, 1);
      const real = outputsOf(layer.apply(xs) as tf.Tensor | tf.Tensor[]);
      expect(real.map((x) => x.shape)).toEqual(spec.outputShapes.map((s) => [BATCH, ...s]));
      const computed = layer.computeOutputShape(xs.map((x) => x.shape));
      expect(spec.outputShapes.length === 1 ? [computed] : computed).toEqual(real.map((x) => x.shape));
      tf.dispose([...xs, ...real]);
    });

    it('weight names, shapes and order', () => {
      const layer = spec.make();
      const xs = seededInputs(spec.inputShapes, 2);
      tf.dispose(layer.apply(xs) as tf.Tensor);
      expect(layer.weights.map((w) => [w.originalName.slice(layer.name.length + 1), w.shape])).toEqual(spec.weights);
      expect(layer.trainableWeights.length).toBe(spec.weights.length);
      tf.dispose(xs);
    });

    it('masks in and out: padded keys do not move real rows; the query mask passes on', () => {
      const layer = spec.make();
      const xs = seededInputs(spec.inputShapes, 3);
      const T = spec.inputShapes[0][0];
      const qMask = tf.tensor2d(Array.from({ length: BATCH * T }, (_, i) => (i % T === T - 1 ? 0 : 1)), [BATCH, T], 'bool');
      const masks = spec.inputShapes.length > 1
        ? [qMask, tf.tensor2d(Array.from({ length: BATCH * spec.inputShapes[1][0] }, (_, i) => (i % spec.inputShapes[1][0] === 0 ? 0 : 1)), [BATCH, spec.inputShapes[1][0]], 'bool')]
        : [qMask];
      const a = outputsOf(layer.apply(xs, { mask: masks }) as tf.Tensor | tf.Tensor[])[0];
      // Change the masked key position of the last input: unmasked query rows must not move.
      const moved = xs.map((x, i) => (i === xs.length - 1 && xs.length > 1 ? tf.tidy(() => x.add(tf.oneHot(tf.zeros([BATCH], 'int32'), x.shape[1]!).expandDims(2).mul(7))) : x));
      const b = outputsOf(layer.apply(moved, { mask: masks }) as tf.Tensor | tf.Tensor[])[0];
      const rows = (y: tf.Tensor) => y.slice([0, 0, 0], [BATCH, T - 1, y.shape[2]!]);
      if (xs.length > 1) expect(rows(b)).toBeAllClose(rows(a), 1e-5);
      const m = layer.computeMask(xs, masks);
      const first = Array.isArray(m) ? m[0] : m;
      expect(first).toBe(qMask);
      tf.dispose([...xs, ...moved, a, b, ...masks]);
    });

    it('does not leak tensors in call, predict and fit', async () => {
      const layer = spec.make();
      const m = model(spec, layer);
      const xs = seededInputs(spec.inputShapes, 4);
      const before = tf.memory().numTensors;
      tf.dispose(layer.apply(xs) as tf.Tensor);
      tf.dispose(m.predict(xs) as tf.Tensor);
      expect(tf.memory().numTensors).toBe(before);
      const ys = spec.outputShapes.map((s, i) => tf.randomNormal([BATCH, ...s], 0, 1, 'float32', 50 + i));
      // A per-example loss, so outputs of different ranks (output and scores) can be summed.
      const loss = (yt: tf.Tensor, yp: tf.Tensor) => tf.mean(tf.square(tf.sub(yt, yp)), yp.shape.slice(1).map((_, i) => i + 1));
      m.compile({ optimizer: 'sgd', loss });
      await m.fit(xs, ys.length === 1 ? ys[0] : ys, { epochs: 1, verbose: 0 });
      const afterFirst = tf.memory().numTensors;
      await m.fit(xs, ys.length === 1 ? ys[0] : ys, { epochs: 2, verbose: 0 });
      expect(tf.memory().numTensors).toBe(afterFirst);
      tf.dispose([...xs, ...ys]);
      m.dispose();
    });

    it('save and load give bit-identical weights and predictions', async () => {
      const m = model(spec, spec.make());
      const xs = seededInputs(spec.inputShapes, 5);
      let artifacts: tf.io.ModelArtifacts | undefined;
      await m.save(tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }));
      const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
      const want = outputsOf(m.predict(xs) as tf.Tensor | tf.Tensor[]);
      const got = outputsOf(loaded.predict(xs) as tf.Tensor | tf.Tensor[]);
      got.forEach((g, i) => expect(Array.from(g.dataSync())).toEqual(Array.from(want[i].dataSync())));
      expect(loaded.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(m.getWeights().map((w) => Array.from(w.dataSync())));
      expect(JSON.stringify(loaded.layers[loaded.layers.length - 1].getConfig())).not.toMatch(/customObjects/);
      tf.dispose([...xs, ...want, ...got]);
      m.dispose();
      loaded.dispose();
    });
  });
}
