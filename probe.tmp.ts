import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import './src';
import { loadKerasModel } from './src/io/keras';
const ROOT = process.argv[2] ?? '/work/wt/kerasio/__tests__/fixtures/keras-real';
(async () => {
  await import('@tensorflow/tfjs-backend-wasm'); console.log(await tf.setBackend(process.argv[3] ?? 'cpu'), tf.getBackend());
  for (const m of fs.readdirSync(ROOT).filter((d) => d.startsWith('model_'))) {
    const pred = JSON.parse(fs.readFileSync(path.join(ROOT, m, 'predictions.json'), 'utf8'));
    for (const conv of ['tfjs_from_keras', 'tfjs_from_h5']) {
      try {
        const model = await loadKerasModel(path.join(ROOT, m, conv, 'model.json'));
        const ins = Array.isArray(pred.inputs[0][0]) && Array.isArray(pred.inputs[0][0][0]) || (pred.input_dtypes) ? pred.inputs : [pred.inputs];
        const dts = pred.input_dtypes ?? model.inputs.map((i) => i.dtype);
        const feeds = (pred.input_dtypes || model.inputs.length > 1 ? pred.inputs : [pred.inputs]).map((x: any, i: number) => tf.tensor(x, undefined, model.inputs[i].dtype));
        const out = model.predict(feeds.length === 1 ? feeds[0] : feeds) as tf.Tensor;
        const diff = tf.max(tf.abs(tf.sub(out, tf.tensor(pred.predictions)))).dataSync()[0];
        console.log(m, conv, 'maxdiff', diff);
      } catch (e) {
        console.log(m, conv, 'FAIL', (e as Error).message.slice(0, 300));
      }
    }
  }
})();
