/**
 * Choosing and initialising the TensorFlow.js backend.
 *
 * The order of preference is `tensorflow` (the native backend of
 * `@tensorflow/tfjs-node`, used only when that optional package is installed),
 * then `wasm` (`@tensorflow/tfjs-backend-wasm`, whose `.wasm` binaries ship
 * inside the npm package, so it works offline), then `cpu` (pure JavaScript,
 * always there). In a browser `webgl` may be asked for by name.
 *
 * Importing this module changes nothing: the wasm backend is loaded (which
 * registers it with tfjs as the highest-priority backend) only inside
 * `initBackend`, together with the library's fixes for tfjs 4.22's wasm
 * backend (`src/tfjs_compat/`).
 */
import * as tf from '@tensorflow/tfjs';
import { AttentionError } from './errors';
import { removeEmscriptenProcessHandlers } from './tfjs_compat/wasm_process_handlers';
import { registerWasmTransposedMatMul } from './tfjs_compat/wasm_transposed_matmul';
import { registerWasmUnsortedSegmentSum } from './tfjs_compat/wasm_unsorted_segment_sum';

/** Backends `initBackend` knows by name. */
export const BACKENDS = ['tensorflow', 'wasm', 'webgl', 'cpu'] as const;

/** A backend name accepted by `initBackend`. */
export type BackendName = (typeof BACKENDS)[number];

/** The environment variable that overrides the default choice of backend (not an explicit argument). */
export const BACKEND_ENV_VAR = 'TFJS_ATTENTION_BACKEND';

function isBackendName(name: string): name is BackendName {
  return (BACKENDS as readonly string[]).includes(name);
}

function readEnv(): string | undefined {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const value = proc?.env?.[BACKEND_ENV_VAR];
  return value === undefined || value === '' ? undefined : value;
}

/**
 * Loads `@tensorflow/tfjs-node` if it is installed, which registers the
 * `tensorflow` backend. Returns false, without throwing, when it is missing or
 * its native library cannot be loaded.
 */
async function loadNativeBackend(): Promise<boolean> {
  if (hasFactory('tensorflow')) {
    return true;
  }
  // The name is held in a variable so that bundlers do not try to resolve the
  // optional package at build time.
  const moduleName = '@tensorflow/tfjs-node';
  try {
    await import(/* @vite-ignore */ /* webpackIgnore: true */ moduleName);
  } catch {
    return false;
  }
  return hasFactory('tensorflow');
}

function hasFactory(name: string): boolean {
  return tf.findBackendFactory(name) != null;
}

/**
 * Loads `@tensorflow/tfjs-backend-wasm` (a dependency of this package), which
 * registers the `wasm` backend, and installs the kernels tfjs 4.22's wasm
 * backend lacks. Returns false, without throwing, if it cannot be loaded.
 */
async function loadWasmBackend(): Promise<boolean> {
  if (!hasFactory('wasm')) {
    try {
      await import('@tensorflow/tfjs-backend-wasm');
    } catch {
      return false;
    }
  }
  registerWasmUnsortedSegmentSum();
  registerWasmTransposedMatMul();
  return hasFactory('wasm');
}

async function trySet(name: BackendName): Promise<boolean> {
  if (name === 'tensorflow' && !(await loadNativeBackend())) {
    return false;
  }
  if (name === 'wasm' && !(await loadWasmBackend())) {
    return false;
  }
  if (!hasFactory(name)) {
    return false;
  }
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  } finally {
    // Emscripten's Node glue, run when the wasm module is instantiated,
    // installs process handlers that turn any uncaught error into exit code 7.
    if (name === 'wasm') removeEmscriptenProcessHandlers();
  }
}

/**
 * Sets the TensorFlow.js backend and waits until it is ready.
 *
 * Which backend, in this order:
 * 1. the `preferred` argument, when given: the caller's word;
 * 2. else the environment variable `TFJS_ATTENTION_BACKEND`, when set and not
 *    empty: it overrides the default, not an explicit argument;
 * 3. else the first that works of `tensorflow` (when `@tensorflow/tfjs-node`
 *    is installed), `wasm`, `cpu`.
 *
 * A backend asked for by name, by argument or by environment, must load: it
 * is an error if it cannot. This is the only place the library registers or
 * chooses a backend (importing it does neither); loading `wasm` here also
 * registers the `UnsortedSegmentSum` kernel tfjs 4.22's wasm backend lacks
 * (so `tf.layers.embedding` trains) and removes the Emscripten process
 * handlers that turn uncaught errors into exit code 7.
 *
 * @param preferred One of `'tensorflow'`, `'wasm'`, `'webgl'`, `'cpu'`.
 *   Default: `TFJS_ATTENTION_BACKEND`, else the automatic order above.
 * @returns The name of the backend that is now active.
 * @throws AttentionError if the name is unknown, or the named backend cannot be set.
 *
 * @example
 * ```ts
 * const name = await initBackend();      // 'wasm' on a machine without tfjs-node
 * await initBackend('cpu');              // 'cpu'
 * ```
 */
export async function initBackend(preferred?: BackendName): Promise<BackendName> {
  const fromEnv = preferred === undefined ? readEnv() : undefined;
  const requested = preferred ?? fromEnv;
  if (requested !== undefined) {
    if (!isBackendName(requested)) {
      const source = fromEnv !== undefined ? `${BACKEND_ENV_VAR}=` : 'preferred=';
      throw new AttentionError(
        `initBackend: expected one of ${BACKENDS.map((b) => `'${b}'`).join(', ')}, ` +
          `but got ${source}'${requested}'.`,
      );
    }
    if (!(await trySet(requested))) {
      const hint =
        requested === 'tensorflow'
          ? ' Install @tensorflow/tfjs-node (it needs its native libtensorflow) or choose another backend.'
          : '';
      const source = fromEnv !== undefined ? ` (from ${BACKEND_ENV_VAR})` : '';
      throw new AttentionError(`initBackend: the '${requested}' backend${source} could not be set on this platform.${hint}`);
    }
    return requested;
  }
  for (const name of ['tensorflow', 'wasm', 'cpu'] as const) {
    if (await trySet(name)) {
      return name;
    }
  }
  // Unreachable in practice: the cpu backend always registers.
  throw new AttentionError('initBackend: no backend could be set (tried tensorflow, wasm, cpu).');
}
