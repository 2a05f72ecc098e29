/**
 * Importing the library changes no global state of tfjs: no backend is
 * registered or chosen until initBackend() is called. Each case runs in a
 * fresh process, as a user's program does (the jest setup loads the wasm
 * backend itself).
 */
import { runChild } from './child';

describe('importing tfjs-attention', () => {
  it('leaves tfjs on its own default backend until initBackend is called', () => {
    const r = runChild(`
      import * as tf from '@tensorflow/tfjs';
      import { initBackend } from 'SRC';
      tf.env().set('PROD', true);
      const registered = tf.findBackendFactory('wasm') != null;
      // A tfjs call before initBackend works, on tfjs's own default.
      const sum = tf.sum(tf.tensor1d([1, 2, 3])).dataSync()[0];
      console.log(JSON.stringify({ registered, sum, before: tf.getBackend() }));
      const chosen = await initBackend('wasm');
      console.log(JSON.stringify({ chosen, after: tf.getBackend() }));
    `);
    expect(r.stderr).not.toMatch(/has not yet been initialized/);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[0]).toEqual({ registered: false, sum: 6, before: 'cpu' });
    expect(lines[1]).toEqual({ chosen: 'wasm', after: 'wasm' });
    expect(r.status).toBe(0);
  });

  it('registers the library layer classes (so tf.loadLayersModel finds them), and nothing else', () => {
    const r = runChild(`
      import * as tf from '@tensorflow/tfjs';
      const before = Object.keys(tf.serialization.SerializationMap.getMap().classNameMap).length;
      await import('SRC');
      const map = tf.serialization.SerializationMap.getMap().classNameMap;
      console.log(JSON.stringify({ mha: 'MultiHeadAttention' in map, self: 'SelfAttention' in map, wasm: tf.findBackendFactory('wasm') != null, grew: Object.keys(map).length > before }));
    `);
    expect(JSON.parse(r.stdout.trim())).toEqual({ mha: true, self: true, wasm: false, grew: true });
  });
});
