import * as tf from '@tensorflow/tfjs';
import { BACKEND_ENV_VAR, initBackend } from '../src';

/** Whether the optional native package is installed on this machine. */
function hasTfjsNode(): boolean {
  try {
    require.resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

describe('initBackend', () => {
  const saved = process.env[BACKEND_ENV_VAR];
  const testBackend = globalThis.TFJS_TEST_BACKEND ?? 'cpu';

  afterEach(async () => {
    if (saved === undefined) delete process.env[BACKEND_ENV_VAR];
    else process.env[BACKEND_ENV_VAR] = saved;
    await tf.setBackend(testBackend);
  });

  it('picks tensorflow when tfjs-node loads, else wasm', async () => {
    delete process.env[BACKEND_ENV_VAR];
    const expected = hasTfjsNode() ? 'tensorflow' : 'wasm';
    await expect(initBackend()).resolves.toBe(expected);
    expect(tf.getBackend()).toBe(expected);
  });

  it('sets the preferred backend', async () => {
    delete process.env[BACKEND_ENV_VAR];
    await expect(initBackend('cpu')).resolves.toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    await expect(initBackend('wasm')).resolves.toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('lets an explicit argument win over TFJS_ATTENTION_BACKEND', async () => {
    process.env[BACKEND_ENV_VAR] = 'cpu';
    await expect(initBackend('wasm')).resolves.toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    process.env[BACKEND_ENV_VAR] = 'wasm';
    await expect(initBackend('cpu')).resolves.toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
  });

  it('lets TFJS_ATTENTION_BACKEND override the default order', async () => {
    process.env[BACKEND_ENV_VAR] = 'cpu';
    await expect(initBackend()).resolves.toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
  });

  it('names the environment variable when the backend it names cannot be set', async () => {
    process.env[BACKEND_ENV_VAR] = 'webgl';
    await expect(initBackend()).rejects.toThrow(/initBackend: the 'webgl' backend \(from TFJS_ATTENTION_BACKEND\) could not be set/);
  });

  it('rejects an unknown name, listing the valid ones', async () => {
    delete process.env[BACKEND_ENV_VAR];
    await expect(initBackend('gpu' as 'cpu')).rejects.toThrow(
      "initBackend: expected one of 'tensorflow', 'wasm', 'webgl', 'cpu', but got preferred='gpu'.",
    );
    process.env[BACKEND_ENV_VAR] = 'tpu';
    await expect(initBackend()).rejects.toThrow(/but got TFJS_ATTENTION_BACKEND='tpu'/);
  });

  it('says so when a named backend cannot be set here', async () => {
    delete process.env[BACKEND_ENV_VAR];
    // webgl needs a browser; tensorflow needs tfjs-node.
    await expect(initBackend('webgl')).rejects.toThrow(/initBackend: the 'webgl' backend could not be set on this platform/);
    if (!hasTfjsNode()) {
      await expect(initBackend('tensorflow')).rejects.toThrow(/Install @tensorflow\/tfjs-node/);
    }
  });
});
