/**
 * Shared test setup: selects the backend of the jest project (cpu or wasm)
 * and registers the shared matchers.
 */
import { terminateWasmKernelThreads } from '../src/kernels/wasm';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

declare global {
  var TFJS_TEST_BACKEND: string | undefined;
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace jest {
    interface Matchers<R> {
      /** Every element within `tol` (absolute) of the expected array; shapes must match. */
      toBeAllClose(expected: ArrayLike<number> | number[][] | unknown, tol?: number): R;
    }
  }
}

// Silences tfjs's one-time "install tfjs-node" banner in test output.
tf.env().set('PROD', true);

beforeAll(async () => {
  const name = globalThis.TFJS_TEST_BACKEND ?? 'cpu';
  const ok = await tf.setBackend(name);
  if (!ok || tf.getBackend() !== name) {
    throw new Error(`test setup: could not set backend ${name}`);
  }
});

function flat(x: unknown): { values: number[]; shape: number[] } {
  if (x instanceof tf.Tensor) {
    return { values: Array.from(x.dataSync() as Float32Array), shape: x.shape };
  }
  const shape: number[] = [];
  let level: unknown = x;
  while (Array.isArray(level) || ArrayBuffer.isView(level)) {
    shape.push((level as ArrayLike<unknown>).length);
    level = (level as ArrayLike<unknown>)[0];
  }
  const values: number[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v) || ArrayBuffer.isView(v)) {
      for (const e of Array.from(v as ArrayLike<unknown>)) walk(e);
    } else values.push(Number(v));
  };
  walk(x);
  return { values, shape };
}

expect.extend({
  toBeAllClose(received: unknown, expected: unknown, tol = 1e-5) {
    const a = flat(received);
    const b = flat(expected);
    if (a.values.length !== b.values.length) {
      return {
        pass: false,
        message: () => `expected ${b.values.length} values (shape [${b.shape}]), got ${a.values.length} (shape [${a.shape}])`,
      };
    }
    let worst = 0;
    let at = -1;
    for (let i = 0; i < a.values.length; i++) {
      const d = Math.abs(a.values[i] - b.values[i]);
      if (!(d <= tol)) {
        if (!(d <= worst)) {
          worst = d;
          at = i;
        }
      }
    }
    const pass = at === -1;
    return {
      pass,
      message: () =>
        pass
          ? `expected values not to be within ${tol}`
          : `max abs difference ${worst} > ${tol} at flat index ${at}: got ${a.values[at]}, expected ${b.values[at]}`,
    };
  },
});

// Each test file releases the fused kernel's worker threads when it ends
// (they are unref'd, so this only keeps the workers from piling up).
afterAll(() => terminateWasmKernelThreads());
