/**
 * `httpLoader(url)`: a `tf.io.IOHandler` loading a layers-model over HTTP(S)
 * with `fetch`, confined and bounded like the file-system loader.
 *
 * - Weight paths resolve against model.json's URL and must stay at or below
 *   its directory, on the same origin: `../x.bin`, `/x.bin`,
 *   `https://elsewhere/x.bin` and encoded separators (`..%2fx.bin`) are refused.
 * - The whole load (model.json and every weight file) has a time limit,
 *   `timeoutMs` (default {@link DEFAULT_HTTP_TIMEOUT_MS}, 60 s), and can be
 *   cancelled with an `AbortSignal`.
 * - model.json is read up to {@link MAX_MODEL_JSON_BYTES}; each weight file
 *   up to the bytes the manifest declares for it, so a server that sends
 *   without end is cut off, not buffered.
 */
import * as tf from '@tensorflow/tfjs';
import { AttentionError } from '../errors';
import { MAX_MODEL_JSON_BYTES } from './file_system';
import { checkManifest, checkTopology, isJsonObject, modelArtifacts } from './schema';

/** Default time limit of an HTTP load, model.json and weights together: 60 000 ms. */
export const DEFAULT_HTTP_TIMEOUT_MS = 60_000;

/** Options of {@link httpLoader} (and of `loadKerasModel` for URLs). */
export interface HttpLoadOptions {
  /**
   * Time limit of the whole load in milliseconds, a positive number
   * (`Infinity` for none). Default {@link DEFAULT_HTTP_TIMEOUT_MS} (60 s).
   */
  timeoutMs?: number;
  /** Cancels the load when aborted. Default: none. */
  signal?: AbortSignal;
  /** Extra `fetch` options (headers, credentials). `signal` and `redirect` are set by the loader. */
  requestInit?: RequestInit;
  /** The `fetch` to use. Default: the global one. */
  fetchFunc?: typeof fetch;
}

/** Checks the options shared by every network load. */
export function checkHttpOptions(fn: string, options: unknown): HttpLoadOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new AttentionError(`${fn}: expected options to be an object, but got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}.`);
  }
  const o = options as HttpLoadOptions;
  if (o.timeoutMs !== undefined && (typeof o.timeoutMs !== 'number' || !(o.timeoutMs > 0))) {
    throw new AttentionError(`${fn}: expected timeoutMs to be a positive number of milliseconds (Infinity for none), but got ${String(o.timeoutMs)}.`);
  }
  if (o.signal !== undefined && !(typeof o.signal === 'object' && o.signal !== null && typeof (o.signal as AbortSignal).aborted === 'boolean')) {
    throw new AttentionError(`${fn}: expected signal to be an AbortSignal, but got ${String(o.signal)}.`);
  }
  if (o.fetchFunc !== undefined && typeof o.fetchFunc !== 'function') {
    throw new AttentionError(`${fn}: expected fetchFunc to be a function, but got ${typeof o.fetchFunc}.`);
  }
  return o;
}

/**
 * Resolves a manifest path against model.json's URL, refusing any that leaves
 * model.json's directory or origin.
 */
export function resolveWeightUrl(fn: string, modelUrl: URL, relative: string): URL {
  const base = new URL('.', modelUrl);
  if (/%2f|%5c|\\/i.test(relative)) {
    throw new AttentionError(`${fn}: expected weight path '${relative}' to use plain '/' separators, but it holds an encoded or back-slash separator.`);
  }
  let url: URL;
  try {
    url = new URL(relative, base);
  } catch (e) {
    throw new AttentionError(`${fn}: expected weight path '${relative}' to be a relative URL, but it does not parse: ${(e as Error).message}`);
  }
  if (url.origin !== base.origin || !url.pathname.startsWith(base.pathname) || url.pathname === base.pathname) {
    throw new AttentionError(`${fn}: expected weight path '${relative}' to stay inside ${base.href}, but it resolves to ${url.href}.`);
  }
  return url;
}

/** Reads a response body, failing once it passes `limit` bytes (without buffering the rest). */
async function readLimited(fn: string, res: Response, limit: number, what: string): Promise<Uint8Array> {
  const declared = res.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) {
    throw new AttentionError(`${fn}: expected ${what} to be at most ${limit} bytes, but the server declares ${declared}.`);
  }
  if (res.body === null) return new Uint8Array(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limit) {
        throw new AttentionError(`${fn}: expected ${what} to be at most ${limit} bytes, but the server sent more.`);
      }
      chunks.push(value);
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * An IOHandler that loads a layers-model from `url` (its model.json).
 *
 * @param url http(s) URL of model.json.
 * @param options See {@link HttpLoadOptions}.
 * @throws AttentionError for a URL that is not http(s), a timeout or an
 *   abort, an HTTP error status, a malformed model.json, a weight path that
 *   leaves model.json's directory, or a size that differs from the manifest.
 */
export function httpLoader(url: string, options?: HttpLoadOptions): tf.io.IOHandler {
  const fn = 'httpLoader';
  const o = checkHttpOptions(fn, options);
  let modelUrl: URL;
  try {
    modelUrl = new URL(url);
  } catch {
    throw new AttentionError(`${fn}: expected an http(s) URL of model.json, but got ${JSON.stringify(url)}.`);
  }
  if (modelUrl.protocol !== 'http:' && modelUrl.protocol !== 'https:') {
    throw new AttentionError(`${fn}: expected an http(s) URL of model.json, but got ${JSON.stringify(url)}.`);
  }
  const timeoutMs = o.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  return {
    async load(): Promise<tf.io.ModelArtifacts> {
      const fetchFunc = o.fetchFunc ?? globalThis.fetch;
      const controller = new AbortController();
      let why = '';
      const onAbort = () => {
        why = `was aborted by the caller's signal`;
        controller.abort();
      };
      if (o.signal?.aborted) onAbort();
      o.signal?.addEventListener('abort', onAbort);
      const timer = Number.isFinite(timeoutMs)
        ? setTimeout(() => {
          why = `did not finish within timeoutMs=${timeoutMs} ms`;
          controller.abort();
        }, timeoutMs)
        : undefined;
      const get = async (u: URL, limit: number, what: string): Promise<Uint8Array> => {
        // Redirects are refused, so the server cannot move a weight file outside model.json's directory.
        const res = await fetchFunc(u.href, { ...o.requestInit, signal: controller.signal, redirect: 'error' });
        if (!res.ok) {
          await res.body?.cancel().catch(() => undefined);
          throw new AttentionError(`${fn}: expected ${what} at ${u.href} to answer 200 OK, but got HTTP ${res.status}.`);
        }
        return readLimited(fn, res, limit, `${what} at ${u.href}`);
      };
      try {
        const text = new TextDecoder().decode(await get(modelUrl, MAX_MODEL_JSON_BYTES, 'model.json'));
        let json: tf.io.ModelJSON;
        try {
          json = JSON.parse(text);
        } catch (e) {
          throw new AttentionError(`${fn}: could not parse ${modelUrl.href}: ${(e as Error).message}`);
        }
        if (!isJsonObject(json) || json.modelTopology === undefined || json.modelTopology === null) {
          throw new AttentionError(`${fn}: ${modelUrl.href} has no modelTopology; expected a layers-model model.json.`);
        }
        checkTopology(fn, `modelTopology in ${modelUrl.href}`, json.modelTopology);
        const groups = checkManifest(fn, modelUrl.href, json.weightsManifest);
        const urls = groups.map((g) => g.paths.map((p) => resolveWeightUrl(fn, modelUrl, p)));
        const buffers: ArrayBuffer[] = [];
        for (let gi = 0; gi < groups.length; gi++) {
          const g = groups[gi];
          let held = 0;
          for (const u of urls[gi]) {
            const bytes = await get(u, g.bytes - held, 'weight file');
            held += bytes.byteLength;
            buffers.push(bytes.buffer as ArrayBuffer);
          }
          if (held !== g.bytes) {
            throw new AttentionError(`${fn}: the weights of ${g.weights.map((w) => w.spec.name).join(', ')} need ${g.bytes} bytes, but ${g.paths.join(', ')} hold ${held} bytes.`);
          }
        }
        return modelArtifacts(json, groups, buffers);
      } catch (e) {
        if (controller.signal.aborted && !(e instanceof AttentionError)) {
          throw new AttentionError(`${fn}: loading ${modelUrl.href} ${why}.`, { cause: e });
        }
        if (e instanceof AttentionError) throw e;
        throw new AttentionError(`${fn}: could not load ${modelUrl.href}: ${(e as Error).message}`, { cause: e });
      } finally {
        if (timer !== undefined) clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
      }
    },
  };
}
