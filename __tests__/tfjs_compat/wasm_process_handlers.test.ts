/**
 * After initBackend('wasm'), an uncaught error in the user's code ends the
 * process as it would without the library: exit code 1, the user's message
 * at the top, no dump of the Emscripten glue (tfjs 4.22's wasm module
 * installs rethrowing process handlers that make it exit code 7).
 */
import { runChild } from '../child';
import { isEmscriptenProcessHandler } from '../../src/tfjs_compat/wasm_process_handlers';

const firstLines = (s: string, n: number) => s.split('\n').slice(0, n).join('\n');

describe('uncaught errors after initBackend("wasm")', () => {
  it('a thrown error exits 1 with the user\'s message on top', () => {
    const r = runChild(`
      import { initBackend } from 'SRC';
      await initBackend('wasm');
      setTimeout(() => { throw new Error('my own failure 123'); }, 0);
    `);
    expect(r.status).toBe(1);
    expect(firstLines(r.stderr, 8)).toMatch(/Error: my own failure 123/);
    expect(r.stderr).not.toMatch(/ExitStatus/);
    expect(r.stderr.length).toBeLessThan(4000);
  });

  it('an unhandled rejection exits 1 with the user\'s message on top', () => {
    const r = runChild(`
      import { initBackend } from 'SRC';
      await initBackend('wasm');
      void Promise.reject(new Error('rejected by me 456'));
    `);
    expect(r.status).toBe(1);
    expect(firstLines(r.stderr, 8)).toMatch(/Error: rejected by me 456/);
    expect(r.stderr.length).toBeLessThan(4000);
  });

  it('removes exactly the two handlers the wasm module adds, keeping the user\'s', () => {
    const r = runChild(`
      import * as tf from '@tensorflow/tfjs';
      import { initBackend } from 'SRC';
      const mine = () => {};
      process.on('uncaughtException', mine);
      const count = () => process.listeners('uncaughtException').length + ':' + process.listeners('unhandledRejection').length;
      const before = count();
      await tf.setBackend('cpu');
      await import('@tensorflow/tfjs-backend-wasm');
      await tf.setBackend('wasm');
      const loaded = count();
      await initBackend('wasm');
      const after = count();
      console.log(JSON.stringify({ before, loaded, after, kept: process.listeners('uncaughtException').includes(mine) }));
      process.removeListener('uncaughtException', mine);
    `);
    // tfjs's own wasm load adds one of each; initBackend removes those two only.
    expect(JSON.parse(r.stdout.trim())).toEqual({ before: '1:0', loaded: '2:1', after: '1:0', kept: true });
  });
});

describe('isEmscriptenProcessHandler', () => {
  it.each([
    ['uncaughtException', 'function (ex) { if (!(ex instanceof ExitStatus)) {\n throw ex;\n } }', true],
    ['unhandledRejection', 'function (reason) { throw reason; }', true],
    ['uncaughtException', 'function (ex) { console.error(ex); process.exit(2); }', false],
    ['unhandledRejection', 'function (reason) { log(reason); throw reason; }', false],
    ['exit', 'function (reason) { throw reason; }', false],
  ])('%s %s → %s', (event, src, expected) => {
    // A real function with that source (the check reads Function.prototype.toString).
    const fn = new Function('ExitStatus', 'log', `return (${src});`)(class {}, () => {}) as () => void;
    expect(isEmscriptenProcessHandler(event, fn)).toBe(expected);
  });
});
