/**
 * The boundary between a loader and the code it drives (the topology
 * normalisation, tfjs's deserialisation): any failure there that is not
 * already the library's error becomes one, naming the step and keeping the
 * original as `cause`. A malformed file then always ends in an
 * `AttentionError`, never a raw `TypeError` from deep inside tfjs.
 */
import { AttentionError } from '../errors';

/**
 * Runs `f`; rethrows an `AttentionError` as is and wraps anything else with
 * `make(message)`, the message reading `<what>: <original message>`.
 */
export async function asLibraryError<T>(
  what: string,
  f: () => T | Promise<T>,
  make: (message: string) => AttentionError = (m) => new AttentionError(m),
): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof AttentionError) throw e;
    const err = make(`${what}: ${e instanceof Error ? e.message : String(e)}`);
    (err as { cause?: unknown }).cause = e;
    throw err;
  }
}
