/**
 * Network loads (issue 11, items 4-5): weight URLs stay below model.json's
 * directory, and a load ends: a time limit, an AbortSignal, and size bounds
 * against a server that streams without end. A local server on 127.0.0.1.
 */
import * as tf from '@tensorflow/tfjs';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { AttentionError } from '../../src/errors';
import { loadKerasModel } from '../../src';
import { DEFAULT_HTTP_TIMEOUT_MS, httpLoader, resolveWeightUrl } from '../../src/io/http';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

function smallModel(): tf.LayersModel {
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3], name: 'dense' })] });
  model.setWeights([tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]), tf.tensor1d([7, 8])]);
  return model;
}
const WEIGHTS = Buffer.from(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]).buffer);
const SPECS = [
  { name: 'dense/kernel', shape: [3, 2], dtype: 'float32' },
  { name: 'dense/bias', shape: [2], dtype: 'float32' },
];
let topology: Json;
const modelJson = (paths: string[]): string =>
  JSON.stringify({ format: 'layers-model', modelTopology: topology, weightsManifest: [{ paths, weights: SPECS }] });

let server: Server;
let base: string;
/** Requests the server saw, by path. */
const seen: string[] = [];
const open = new Set<ServerResponse>();

function endless(res: ServerResponse): void {
  open.add(res);
  const chunk = Buffer.alloc(64 * 1024, 32);
  const push = (): void => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once('drain', push);
  };
  push();
}

beforeAll(async () => {
  const m = smallModel();
  topology = m.toJSON(null, false);
  m.dispose();
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    seen.push(url);
    if (url === '/a/b/good/model.json') res.end(modelJson(['w.bin']));
    else if (url === '/a/b/good/w.bin') res.end(WEIGHTS);
    else if (url === '/a/b/climb/model.json') res.end(modelJson(['../../x.bin']));
    else if (url === '/a/b/encoded/model.json') res.end(modelJson(['..%2f..%2fx.bin']));
    else if (url === '/a/b/absolute/model.json') res.end(modelJson(['http://127.0.0.2/x.bin']));
    else if (url === '/a/b/redirect/model.json') res.end(modelJson(['w.bin']));
    else if (url === '/a/b/redirect/w.bin') {
      res.writeHead(302, { location: '/x.bin' });
      res.end();
    } else if (url === '/hang/model.json') open.add(res); // never answers
    else if (url === '/stream/model.json') endless(res);
    else if (url === '/streamweights/model.json') res.end(modelJson(['w.bin']));
    else if (url === '/streamweights/w.bin') endless(res);
    else if (url === '/x.bin') res.end(WEIGHTS);
    else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const r of open) r.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function refused(p: Promise<unknown>, message: RegExp): Promise<void> {
  const before = tf.memory().numTensors;
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(AttentionError);
  expect((err as Error).message).toMatch(message);
  expect(tf.memory().numTensors).toBe(before);
}

describe('httpLoader and loadKerasModel over HTTP', () => {
  it('loads a model whose weights sit beside model.json', async () => {
    const model = await loadKerasModel(`${base}/a/b/good/model.json`);
    expect(Array.from(model.getWeights()[1].dataSync())).toEqual([7, 8]);
    model.dispose();
    const viaTf = await tf.loadLayersModel(httpLoader(`${base}/a/b/good/model.json`));
    expect(Array.from(viaTf.getWeights()[0].dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    viaTf.dispose();
  });

  it.each([
    ['climb', /weight path '\.\.\/\.\.\/x\.bin' to stay inside http:\/\/127\.0\.0\.1:\d+\/a\/b\/climb\/, but it resolves to http:\/\/127\.0\.0\.1:\d+\/a\/x\.bin/],
    ['encoded', /weight path '\.\.%2f\.\.%2fx\.bin' to use plain '\/' separators/],
    ['absolute', /weight path 'http:\/\/127\.0\.0\.2\/x\.bin' to stay inside .*\/a\/b\/absolute\//],
  ])('refuses weight paths that leave model.json\'s directory (%s), requesting nothing outside', async (name, message) => {
    seen.length = 0;
    await refused(loadKerasModel(`${base}/a/b/${name}/model.json`), message);
    expect(seen).toEqual([`/a/b/${name}/model.json`]);
  });

  it('refuses a redirect of a weight file', async () => {
    await refused(loadKerasModel(`${base}/a/b/redirect/model.json`), /httpLoader: could not load .*redirect\/model\.json: fetch failed/);
  });

  it('resolveWeightUrl keeps every weight below the model directory', () => {
    const m = new URL('https://h/models/m1/model.json');
    expect(resolveWeightUrl('f', m, 'group1-shard1of1.bin').href).toBe('https://h/models/m1/group1-shard1of1.bin');
    expect(resolveWeightUrl('f', m, 'sub/w.bin').href).toBe('https://h/models/m1/sub/w.bin');
    for (const bad of ['../m2/w.bin', '/w.bin', '//evil/w.bin', 'sub/../../w.bin', '%2e%2e/w.bin', '.', 'a\\..\\..\\w.bin']) {
      expect(() => resolveWeightUrl('f', m, bad)).toThrow(/f: expected weight path/);
    }
  });

  it(`ends a load from a server that never answers after timeoutMs (default ${DEFAULT_HTTP_TIMEOUT_MS} ms)`, async () => {
    expect(DEFAULT_HTTP_TIMEOUT_MS).toBe(60_000);
    await refused(loadKerasModel(`${base}/hang/model.json`, { timeoutMs: 300 }), /httpLoader: loading .*\/hang\/model\.json did not finish within timeoutMs=300 ms/);
  });

  it('ends a load when the caller aborts', async () => {
    const controller = new AbortController();
    const p = loadKerasModel(`${base}/hang/model.json`, { signal: controller.signal, timeoutMs: Infinity });
    setTimeout(() => controller.abort(), 50);
    await refused(p, /loading .*\/hang\/model\.json was aborted by the caller's signal/);
    const already = new AbortController();
    already.abort();
    await refused(loadKerasModel(`${base}/a/b/good/model.json`, { signal: already.signal }), /was aborted by the caller's signal/);
  });

  it('cuts off a weight file that streams without end at the declared size', async () => {
    await refused(loadKerasModel(`${base}/streamweights/model.json`), /weight file at .*\/streamweights\/w\.bin to be at most 32 bytes, but the server sent more/);
  });

  it('cuts off a model.json that streams without end at 64 MiB', async () => {
    await refused(loadKerasModel(`${base}/stream/model.json`), /model\.json at .*\/stream\/model\.json to be at most 67108864 bytes, but the server sent more/);
  });

  it('checks its options', () => {
    expect(() => httpLoader(`${base}/a/model.json`, { timeoutMs: 0 })).toThrow(/httpLoader: expected timeoutMs to be a positive number of milliseconds \(Infinity for none\), but got 0/);
    expect(() => httpLoader(`${base}/a/model.json`, { timeoutMs: NaN })).toThrow(/but got NaN/);
    expect(() => httpLoader(`${base}/a/model.json`, { signal: 'stop' as never })).toThrow(/expected signal to be an AbortSignal, but got stop/);
    expect(() => httpLoader(`${base}/a/model.json`, null as never)).toThrow(/httpLoader: expected options to be an object, but got null/);
    expect(() => httpLoader('ftp://h/model.json')).toThrow(/expected an http\(s\) URL of model\.json, but got "ftp:\/\/h\/model\.json"/);
    return expect(loadKerasModel(`${base}/a/model.json`, null as Json)).rejects.toThrow(/loadKerasModel: expected options to be an object, but got null/);
  });
});
