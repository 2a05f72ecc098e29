#!/usr/bin/env node
/**
 * Loads every converted model of a golden set (tfjs_from_h5/ and
 * tfjs_from_keras/ of each model_* directory) with the library's
 * loadKerasModel, predicts on the recorded inputs, and compares with Keras's
 * predictions.json (cpu backend). Prints one line per model and conversion and
 * a total. A diagnostic for people, not a test (the jest tests are the check).
 *
 *   npm run build && node scripts/keras-golden/baseline_check.mjs [--plain] [dir]
 *
 * dir defaults to __tests__/fixtures/keras-real-extra. --plain loads with
 * plain tfjs (tf.loadLayersModel with a file IOHandler) instead of the library.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';

const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../..');
const args = process.argv.slice(2);
const plain = args.includes('--plain');
const dir = resolve(args.find((a) => a !== '--plain') ?? join(root, '__tests__/fixtures/keras-real-extra'));

function fileHandler(modelJson) {
  return {
    load: async () => {
      const mj = JSON.parse(readFileSync(modelJson, 'utf8'));
      const bufs = mj.weightsManifest.flatMap((g) => g.paths.map((q) => readFileSync(join(dirname(modelJson), q))));
      const b = Buffer.concat(bufs);
      return {
        modelTopology: mj.modelTopology,
        weightSpecs: mj.weightsManifest.flatMap((g) => g.weights),
        weightData: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength),
      };
    },
  };
}
const load = plain
  ? (f) => tf.loadLayersModel(fileHandler(f))
  : (await import(pathToFileURL(join(root, 'dist/index.mjs')).href)).loadKerasModel;

await tf.setBackend('cpu');
let ok = 0;
let n = 0;
for (const m of readdirSync(dir).filter((x) => x.startsWith('model_')).sort()) {
  const p = JSON.parse(readFileSync(join(dir, m, 'predictions.json'), 'utf8'));
  for (const sub of ['tfjs_from_h5', 'tfjs_from_keras']) {
    n++;
    let msg;
    try {
      const model = await load(join(dir, m, sub, 'model.json'));
      const ins = p.input_names.length > 1 ? p.inputs : [p.inputs];
      const xs = ins.map((x, i) => tf.tensor(x, undefined, p.input_dtypes[i] === 'int32' ? 'int32' : 'float32'));
      const y = model.predict(xs.length === 1 ? xs[0] : xs);
      const ys = Array.isArray(y) ? y : [y];
      const want = p.output_names.length > 1 ? p.predictions : [p.predictions];
      let d = 0;
      ys.forEach((t, i) => {
        d = Math.max(d, tf.max(tf.abs(tf.sub(t, tf.tensor(want[i])))).dataSync()[0]);
      });
      if (d < 1e-4) ok++;
      msg = `max abs diff vs Keras ${d.toExponential(2)}${d < 1e-4 ? ' ok' : ' WRONG'}`;
    } catch (e) {
      msg = `error: ${String(e instanceof Error ? e.message : e).split('\n')[0]}`;
    }
    console.log(`${m} ${sub}: ${msg}`);
  }
}
console.log(`${ok} of ${n} within 1e-4 of Keras`);
