/**
 * The tfjs 4.22 behaviour that src/tfjs_compat/ mends, pinned: if a later
 * tfjs registers UnsortedSegmentSum for wasm itself, this test says so (and
 * registerWasmUnsortedSegmentSum then leaves tfjs's kernel in place).
 * Fresh process: the jest setup has loaded the wasm backend already.
 */
import { runChild } from '../child';

describe('tfjs 4.22 wasm backend', () => {
  it('has no UnsortedSegmentSum kernel of its own; initBackend("wasm") registers one', () => {
    const r = runChild(`
      import * as tf from '@tensorflow/tfjs';
      import '@tensorflow/tfjs-backend-wasm';
      const own = tf.getKernel('UnsortedSegmentSum', 'wasm') !== undefined;
      const { initBackend } = await import('SRC');
      await initBackend('wasm');
      const after = tf.getKernel('UnsortedSegmentSum', 'wasm') !== undefined;
      const sum = Array.from(tf.unsortedSegmentSum(tf.tensor1d([1, 2, 4]), tf.tensor1d([1, 0, 1], 'int32'), 2).dataSync());
      console.log(JSON.stringify({ own, after, sum }));
    `);
    expect(JSON.parse(r.stdout.trim().split('\n').pop() as string)).toEqual({ own: false, after: true, sum: [2, 5] });
  });
});
