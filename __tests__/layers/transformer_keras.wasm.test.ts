/**
 * A real keras-hub seq2seq model (TokenAndPositionEmbedding(mask_zero) →
 * TransformerEncoder → TransformerDecoder(decoder, encoder) → Dense), saved by
 * Keras 3.16 as .h5 and converted by tensorflowjs_converter
 * (__tests__/fixtures/keras-real-extra/model_hub_seq2seq, made by
 * scripts/keras-golden/): the encoder's padding reaches the decoder's
 * cross-attention through the tensor mask alone. Runs on cpu and on wasm.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadKerasModel } from '../../src';

const dir = path.join(__dirname, '../fixtures/keras-real-extra/model_hub_seq2seq');

describe(`keras-hub seq2seq on ${String(globalThis.TFJS_TEST_BACKEND ?? 'cpu')}`, () => {
  it('predicts as Keras within 1e-4 (.h5 conversion), masks riding only on the tensors', async () => {
    const p = JSON.parse(fs.readFileSync(path.join(dir, 'predictions.json'), 'utf8')) as {
      input_names: string[]; input_dtypes: string[]; inputs: number[][][]; predictions: number[][][];
    };
    const model = await loadKerasModel(path.join(dir, 'tfjs_from_h5/model.json'));
    const xs = p.input_names.map((_n, i) => tf.tensor(p.inputs[i], undefined, p.input_dtypes[i] as 'int32'));
    const before = tf.memory().numTensors;
    const y = model.predict(xs) as tf.Tensor;
    expect(y).toBeAllClose(p.predictions, 1e-4);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(xs);
    model.dispose();
  });
});
