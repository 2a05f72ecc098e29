/**
 * The process handlers that the wasm backend's Emscripten module installs in
 * Node, and their removal.
 *
 * When `@tensorflow/tfjs-backend-wasm` (4.22) instantiates its WebAssembly
 * module, Emscripten's Node glue runs
 *
 *     process.on('uncaughtException', (ex) => { if (!(ex instanceof ExitStatus)) throw ex; });
 *     process.on('unhandledRejection', (reason) => { throw reason; });
 *
 * A handler that rethrows makes Node exit with code 7 ("uncaught exception
 * handler failure") and print the handler's own source, about 39 KB of
 * minified code, above the user's error. Without these two handlers Node does
 * what it does without the library: exit code 1 and the user's error first.
 * The wasm backend needs neither (they only rethrow).
 */

/** The two process events Emscripten's Node glue listens to. */
export const EMSCRIPTEN_PROCESS_EVENTS = ['uncaughtException', 'unhandledRejection'] as const;

type Listener = (...args: unknown[]) => void;
interface ProcessLike {
  listeners(event: string): Listener[];
  removeListener(event: string, listener: Listener): unknown;
}

function nodeProcess(): ProcessLike | undefined {
  const proc = (globalThis as { process?: Partial<ProcessLike> }).process;
  return typeof proc?.listeners === 'function' && typeof proc.removeListener === 'function' ? (proc as ProcessLike) : undefined;
}

/**
 * Whether a listener is one of Emscripten's two rethrowing handlers, told by
 * its source: the uncaughtException handler tests `ExitStatus`, the
 * unhandledRejection handler is `function (reason) { throw reason; }`.
 */
export function isEmscriptenProcessHandler(event: string, listener: Listener): boolean {
  const src = Function.prototype.toString.call(listener).replace(/\s+/g, ' ');
  if (event === 'uncaughtException') return /instanceof ExitStatus\)?\)? ?\{? ?throw/.test(src);
  if (event === 'unhandledRejection') return /^function ?\((\w+)\) ?\{ ?throw \1;? ?\}$/.test(src);
  return false;
}

/**
 * Removes Emscripten's rethrowing `uncaughtException` and
 * `unhandledRejection` handlers from `process`, and no other listener. Call
 * after the wasm backend has been initialised. Returns how many were removed
 * (0 outside Node, or when the wasm module installed none).
 */
export function removeEmscriptenProcessHandlers(): number {
  const proc = nodeProcess();
  if (proc === undefined) return 0;
  let removed = 0;
  for (const event of EMSCRIPTEN_PROCESS_EVENTS) {
    for (const listener of proc.listeners(event)) {
      if (isEmscriptenProcessHandler(event, listener)) {
        proc.removeListener(event, listener);
        removed++;
      }
    }
  }
  return removed;
}
