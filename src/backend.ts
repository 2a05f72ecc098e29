/**
 * Choosing and initialising the TensorFlow.js backend.
 *
 * The order of preference is `tensorflow` (the native backend of
 * `@tensorflow/tfjs-node`, used only when that optional package is installed),
 * then `wasm` (`@tensorflow/tfjs-backend-wasm`, whose `.wasm` binaries ship
 * inside the npm package, so it works offline), then `cpu` (pure JavaScript,
 * always there). In a browser `webgl` may be asked for by name.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

/** Backends `initBackend` knows by name. */
export const BACKENDS = ['tensorflow', 'wasm', 'webgl', 'cpu'] as const;

/** A backend name accepted by `initBackend`. */
export type BackendName = (typeof BACKENDS)[number];

/** The environment variable that overrides the choice of backend. */
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
  if (tf.engine().registryFactory['tensorflow'] !== undefined) {
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
  return tf.engine().registryFactory['tensorflow'] !== undefined;
}

async function trySet(name: BackendName): Promise<boolean> {
  if (name === 'tensorflow' && !(await loadNativeBackend())) {
    return false;
  }
  if (tf.engine().registryFactory[name] === undefined) {
    return false;
  }
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

/**
 * Sets the TensorFlow.js backend and waits until it is ready.
 *
 * With no argument, the first that works of `tensorflow` (when
 * `@tensorflow/tfjs-node` is installed), `wasm`, `cpu`. The environment
 * variable `TFJS_ATTENTION_BACKEND` overrides both the argument and the
 * default order. A backend asked for by name, by argument or by environment,
 * must load: it is an error if it cannot.
 *
 * @param preferred One of `'tensorflow'`, `'wasm'`, `'webgl'`, `'cpu'`.
 *   Default: the automatic order above.
 * @returns The name of the backend that is now active.
 * @throws Error if the name is unknown, or the named backend cannot be set.
 *
 * @example
 * ```ts
 * const name = await initBackend();      // 'wasm' on a machine without tfjs-node
 * await initBackend('cpu');              // 'cpu'
 * ```
 */
export async function initBackend(preferred?: BackendName): Promise<BackendName> {
  const fromEnv = readEnv();
  const requested = fromEnv ?? preferred;
  if (requested !== undefined) {
    if (!isBackendName(requested)) {
      const source = fromEnv !== undefined ? `${BACKEND_ENV_VAR}=` : 'preferred=';
      throw new Error(
        `initBackend: expected one of ${BACKENDS.map((b) => `'${b}'`).join(', ')}, ` +
          `but got ${source}'${requested}'.`,
      );
    }
    if (!(await trySet(requested))) {
      const hint =
        requested === 'tensorflow'
          ? ' Install @tensorflow/tfjs-node (it needs its native libtensorflow) or choose another backend.'
          : '';
      throw new Error(`initBackend: the '${requested}' backend could not be set on this platform.${hint}`);
    }
    return requested;
  }
  for (const name of ['tensorflow', 'wasm', 'cpu'] as const) {
    if (await trySet(name)) {
      return name;
    }
  }
  // Unreachable in practice: the cpu backend always registers.
  throw new Error('initBackend: no backend could be set (tried tensorflow, wasm, cpu).');
}
