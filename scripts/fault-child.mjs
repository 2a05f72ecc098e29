// Child of scripts/fault-saves.mjs: saves models with fileSystem into a directory,
// to be killed (SIGKILL) by its parent or by itself at a named step
// (TFJS_ATTENTION_FAULT_STEP). Prints "saving" just before the save starts.
//
//   tsx scripts/fault-child.mjs <dir> <seed>[,<seed>...] [units]
// Several seeds: their models are saved concurrently (one process).
import * as tf from '@tensorflow/tfjs';
import { fileSystem } from '../src/io/file_system.ts';
import { INPUTS, modelWeights } from './fault-model.mjs';

tf.env().set('PROD', true);
await tf.setBackend('cpu');

const [dir, seedList, unitsArg] = process.argv.slice(2);
const seeds = seedList.split(',').map(Number);
const units = Number(unitsArg);

const models = seeds.map((seed) => {
  const model = tf.sequential({
    layers: [tf.layers.dense({ units, inputShape: [INPUTS], kernelInitializer: 'zeros', name: 'dense' })],
  });
  const [kernel, bias] = modelWeights(seed, units);
  const tensors = [tf.tensor2d(kernel, [INPUTS, units]), tf.tensor1d(bias)];
  model.setWeights(tensors);
  tf.dispose(tensors);
  return model;
});

process.stdout.write('saving\n');
const results = await Promise.allSettled(models.map((m) => m.save(fileSystem(dir))));
const failed = results.filter((r) => r.status === 'rejected');
if (failed.length > 0) {
  process.stderr.write(`${failed.length} save(s) rejected: ${failed.map((f) => f.reason?.message).join('; ')}\n`);
  process.exit(1);
}
process.stdout.write('saved\n');
