/**
 * Loading stays inside what it was given and ends (issue 11, items 4-6),
 * and saving never loses the previous model (items 7-8, in-process part; the
 * kill tests are `npm run test:faults`).
 */
import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'node:child_process';
import {
  closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, ftruncateSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AttentionError } from '../../src/errors';
import { fileSystem, loadKerasModel } from '../../src';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

let root: string;
let dir: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'tfjs-attention-safety-'));
  dir = join(root, 'model');
  mkdirSync(dir);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** A small model with known weights, saved to `d` as the converter names files (group1-shard1of1.bin). */
function smallModel(seed = 1): tf.LayersModel {
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3], name: 'dense' })] });
  model.setWeights([tf.tensor2d([1, 2, 3, 4, 5, 6].map((v) => v * seed), [3, 2]), tf.tensor1d([7 * seed, 8 * seed])]);
  return model;
}

function writeModel(d: string, manifest: Json, topology?: Json): void {
  const json = {
    format: 'layers-model',
    modelTopology: topology ?? smallModel().toJSON(null, false),
    weightsManifest: manifest,
  };
  writeFileSync(join(d, 'model.json'), JSON.stringify(json));
}

const DENSE_WEIGHTS = [
  { name: 'dense/kernel', shape: [3, 2], dtype: 'float32' },
  { name: 'dense/bias', shape: [2], dtype: 'float32' },
];

/** 32 bytes of weights 1..8 as float32. */
function weightBytes(): Buffer {
  return Buffer.from(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]).buffer);
}

async function expectRefused(promise: Promise<unknown>, message: RegExp): Promise<void> {
  const before = tf.memory().numTensors;
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(AttentionError);
  expect((err as Error).message).toMatch(message);
  expect(tf.memory().numTensors).toBe(before);
}

/** Loads with both loaders, expecting the same refusal. */
async function expectBothRefuse(message: RegExp): Promise<void> {
  await expectRefused(tf.loadLayersModel(fileSystem(dir)), message);
  await expectRefused(loadKerasModel(dir), message);
}

describe('fileSystem load: confined to the model directory (item 4)', () => {
  beforeEach(() => {
    mkdirSync(join(root, 'outside'));
    writeFileSync(join(root, 'outside', 'secret.bin'), weightBytes());
  });

  it('refuses a manifest path that climbs out of the directory, naming it', async () => {
    writeModel(dir, [{ paths: ['../outside/secret.bin'], weights: DENSE_WEIGHTS }]);
    await expectBothRefuse(/weight file \.\.\/outside\/secret\.bin listed in .*model\.json to stay inside the model directory .*, but it resolves to .*outside\/secret\.bin/);
  });

  it('refuses an absolute manifest path', async () => {
    writeModel(dir, [{ paths: [join(root, 'outside', 'secret.bin')], weights: DENSE_WEIGHTS }]);
    await expectBothRefuse(/weight file .*secret\.bin listed in .* to be a path inside the model directory .*, but got an absolute path/);
  });

  it('refuses a symlinked weights file that points outside', async () => {
    symlinkSync(join(root, 'outside', 'secret.bin'), join(dir, 'weights.bin'));
    writeModel(dir, [{ paths: ['weights.bin'], weights: DENSE_WEIGHTS }]);
    await expectBothRefuse(/weight file weights\.bin .* to stay inside the model directory .*, but it resolves to .*outside\/secret\.bin/);
  });

  it('refuses a symlinked model.json that points outside', async () => {
    writeModel(join(root, 'outside'), [{ paths: ['secret.bin'], weights: DENSE_WEIGHTS }]);
    symlinkSync(join(root, 'outside', 'model.json'), join(dir, 'model.json'));
    await expectBothRefuse(/model\.json to stay inside the model directory .*, but it resolves to .*outside\/model\.json/);
  });

  it('refuses ../../../dev/zero without reading it', async () => {
    writeModel(dir, [{ paths: ['../../../../../../../../dev/zero'], weights: DENSE_WEIGHTS }]);
    await expectBothRefuse(/dev\/zero .* to stay inside the model directory .*, but it resolves to \/dev\/zero/);
  });

  it('follows symlinks that stay inside the directory, and a symlinked directory', async () => {
    mkdirSync(join(dir, 'shards'));
    writeFileSync(join(dir, 'shards', 'real.bin'), weightBytes());
    symlinkSync(join(dir, 'shards', 'real.bin'), join(dir, 'weights.bin'));
    writeModel(dir, [{ paths: ['weights.bin'], weights: DENSE_WEIGHTS }]);
    symlinkSync(dir, join(root, 'alias'));
    const model = await tf.loadLayersModel(fileSystem(join(root, 'alias')));
    expect(Array.from(model.getWeights()[1].dataSync())).toEqual([7, 8]);
    model.dispose();
  });
});

describe('fileSystem load: bounded, and ends (item 5)', () => {
  it('refuses a FIFO named weights.bin instead of blocking on it', async () => {
    execFileSync('mkfifo', [join(dir, 'weights.bin')]);
    writeModel(dir, [{ paths: ['weights.bin'], weights: DENSE_WEIGHTS }]);
    await expectBothRefuse(/expected weight file weights\.bin .* to be a regular file, but .*weights\.bin is a FIFO/);
  });

  it('refuses a directory where a weights file should be', async () => {
    mkdirSync(join(dir, 'weights.bin'));
    writeModel(dir, [{ paths: ['weights.bin'], weights: DENSE_WEIGHTS }]);
    await expectBothRefuse(/to be a regular file, but .*weights\.bin is a directory/);
  });

  it('refuses a file listed twice (one 50 MB file 40 times read 2 GB before)', async () => {
    writeFileSync(join(dir, 'weights.bin'), weightBytes());
    writeModel(dir, [{ paths: Array(40).fill('weights.bin'), weights: DENSE_WEIGHTS }]);
    await expectBothRefuse(/expected every weight file to be listed once, but got 'weights\.bin' twice/);
  });

  it('refuses two names for one file', async () => {
    writeFileSync(join(dir, 'a.bin'), weightBytes().subarray(0, 16));
    symlinkSync(join(dir, 'a.bin'), join(dir, 'b.bin'));
    writeModel(dir, [{ paths: ['a.bin', 'b.bin'], weights: DENSE_WEIGHTS }]);
    await expectBothRefuse(/to be a different file, but 'a\.bin' and 'b\.bin' are both/);
  });

  it('compares declared and actual sizes before reading: a 1 GiB sparse file is refused by its size', async () => {
    const fd = openSync(join(dir, 'weights.bin'), 'w');
    ftruncateSync(fd, 2 ** 30);
    closeSync(fd);
    writeModel(dir, [{ paths: ['weights.bin'], weights: DENSE_WEIGHTS }]);
    await expectBothRefuse(/need 32 bytes, but weights\.bin hold 1073741824 bytes/);
  });

  it('refuses a model.json larger than 64 MiB by its size', async () => {
    const fd = openSync(join(dir, 'model.json'), 'w');
    ftruncateSync(fd, 64 * 1024 * 1024 + 1);
    closeSync(fd);
    await expectBothRefuse(/model\.json to be at most 67108864 bytes, but it has 67108865/);
  });
});

describe('manifest and topology schema (item 6)', () => {
  const manifests: Array<[string, Json, RegExp]> = [
    ['shape "4"', [{ paths: ['weights.bin'], weights: [{ name: 'w', shape: '4', dtype: 'float32' }] }], /weightsManifest\[0\]\.weights\[0\] .*\.shape \(weight 'w'\) to be an array of non-negative integers, but got the string "4"/],
    ['weights: 5', [{ paths: ['weights.bin'], weights: 5 }], /weightsManifest\[0\]\.weights in .* to be a list of weight entries, but got number 5/],
    ['paths: "x"', [{ paths: 'weights.bin', weights: [] }], /weightsManifest\[0\]\.paths in .* to be a list of file names, but got the string/],
    ['a negative dimension', [{ paths: ['weights.bin'], weights: [{ name: 'w', shape: [-4, -2], dtype: 'float32' }] }], /shape\[0\] \(weight 'w'\) to be a non-negative integer, but got number -4/],
    ['a fractional dimension', [{ paths: ['weights.bin'], weights: [{ name: 'w', shape: [2.5, 3.2], dtype: 'float32' }] }], /shape\[0\] \(weight 'w'\) to be a non-negative integer, but got number 2\.5/],
    ['a NaN-like dimension', [{ paths: ['weights.bin'], weights: [{ name: 'w', shape: [null], dtype: 'float32' }] }], /shape\[0\] \(weight 'w'\) to be a non-negative integer, but got null/],
    ['a missing name', [{ paths: ['weights.bin'], weights: [{ shape: [8], dtype: 'float32' }] }], /weights\[0\] in .*\.name to be a non-empty string, but got undefined/],
    ['a manifest that is an object', { paths: ['weights.bin'] }, /expected weightsManifest in .* to be a list of \{paths, weights\}, but got an object/],
    ['a group that is a string', ['weights.bin'], /weightsManifest\[0\] in .* to be an object \{paths, weights\}, but got the string/],
    ['a weight named __proto__', [{ paths: ['weights.bin'], weights: [{ name: '__proto__', shape: [8], dtype: 'float32' }] }], /weight names that are not JavaScript object keys such as __proto__, but got '__proto__'/],
    ['a weight named constructor', [{ paths: ['weights.bin'], weights: [{ name: 'constructor', shape: [8], dtype: 'float32' }] }], /but got 'constructor'/],
    ['a weight named twice', [{ paths: ['weights.bin'], weights: [{ name: 'dense_W', shape: [4], dtype: 'float32' }, { name: 'dense_W', shape: [4], dtype: 'float32' }] }], /expected every weight name to appear once, but got 'dense_W' twice/],
    ['an unknown quantization', [{ paths: ['weights.bin'], weights: [{ name: 'w', shape: [8], dtype: 'float32', quantization: { dtype: 'int4' } }] }], /quantization \(weight 'w'\) to be \{dtype: 'uint8' \| 'uint16' \| 'float16', \.\.\.\}, but got the string "int4"/],
    ['a string dtype', [{ paths: ['weights.bin'], weights: [{ name: 'w', shape: [8], dtype: 'string' }] }], /weight 'w' .* has dtype string, which cannot be loaded/],
    ['an overflowing shape', [{ paths: ['weights.bin'], weights: [{ name: 'w', shape: [2 ** 40, 2 ** 40], dtype: 'float32' }] }], /shape \(weight 'w'\) to describe a loadable size/],
  ];
  it.each(manifests)('refuses %s, naming the field', async (_name, manifest, message) => {
    writeFileSync(join(dir, 'weights.bin'), weightBytes());
    writeModel(dir, manifest);
    await expectBothRefuse(message);
  });

  it('refuses a 5,000-deep topology with a clear error, not a stack overflow', async () => {
    // Written as text: JSON.stringify itself overflows the stack on this.
    const open = '{"class_name":"Sequential","config":{"layers":['.repeat(5000);
    const deep = `${open}{"class_name":"Dense","config":{}}${']}}'.repeat(5000)}`;
    writeFileSync(join(dir, 'model.json'), `{"format":"layers-model","modelTopology":${deep},"weightsManifest":[]}`);
    await expectBothRefuse(/modelTopology in .* to nest at most 100 levels deep, but got deeper nesting at modelTopology\.config\.layers\[0\]/);
  });

  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])('refuses class name %s (a property of every object), on both loaders', async (name) => {
    const topology = smallModel().toJSON(null, false) as Json;
    topology.config.layers[0].class_name = name;
    writeFileSync(join(dir, 'weights.bin'), weightBytes());
    writeModel(dir, [{ paths: ['weights.bin'], weights: DENSE_WEIGHTS }], topology);
    await expectBothRefuse(new RegExp(`modelTopology\\.config\\.layers\\[0\\]\\.class_name in .* to name a layer or Keras class, but got '${name}'`));
  });

  it('loadKerasModel checks a handler\'s artifacts too: specs, names and byte counts', async () => {
    const topology = smallModel().toJSON(null, false) as Json;
    const handler = (weightSpecs: Json, weightData?: ArrayBuffer): tf.io.IOHandler => ({ load: async () => ({ modelTopology: topology, weightSpecs, weightData }) });
    const data = new Float32Array(8).buffer;
    await expectRefused(loadKerasModel(handler([{ name: 'a', shape: '4', dtype: 'float32' }], data)), /weightSpecs\[0\]\.shape \(weight 'a'\) to be an array/);
    await expectRefused(loadKerasModel(handler([{ name: '__proto__', shape: [8], dtype: 'float32' }], data)), /but got '__proto__' in weightSpecs/);
    await expectRefused(loadKerasModel(handler(DENSE_WEIGHTS, new ArrayBuffer(12))), /expected weightData to hold the 32 bytes the weight specs declare, but got 12 bytes/);
    await expectRefused(loadKerasModel(handler(5)), /expected weightSpecs to be a list of weight entries, but got number 5/);
    await expectRefused(loadKerasModel({ load: async () => null as never }), /expected the handler's load\(\) to return model artifacts/);
  });

  it('loadKerasModel resolves class names in customObjects by own properties only', async () => {
    const topology = smallModel().toJSON(null, false) as Json;
    topology.config.layers[0].class_name = 'MyDense';
    writeFileSync(join(dir, 'weights.bin'), weightBytes());
    writeModel(dir, [{ paths: ['weights.bin'], weights: DENSE_WEIGHTS }], topology);
    const customObjects = Object.create({ MyDense: tf.layers.dense({ units: 1 }).constructor });
    await expectRefused(loadKerasModel(dir, { customObjects }), /unknown layer class for layer\(s\) .*\(MyDense\)/);
  });
});

describe('fileSystem save: atomic, cleans up, concurrent saves settle (items 7-8)', () => {
  /** The weights of the model in `d`, loaded, as raw bit patterns. */
  async function loadedBits(d: string): Promise<number[][]> {
    const model = await tf.loadLayersModel(fileSystem(d));
    const bits = model.getWeights().map((w) => Array.from(new Uint32Array((w.dataSync() as Float32Array).slice().buffer)));
    model.dispose();
    return bits;
  }
  function bitsOf(model: tf.LayersModel): number[][] {
    return model.getWeights().map((w) => Array.from(new Uint32Array((w.dataSync() as Float32Array).slice().buffer)));
  }

  it('replaces a converter-written directory and deletes the old weight files only after the switch', async () => {
    writeFileSync(join(dir, 'group1-shard1of1.bin'), weightBytes());
    writeModel(dir, [{ paths: ['group1-shard1of1.bin'], weights: DENSE_WEIGHTS }]);
    const oldModel = await tf.loadLayersModel(fileSystem(dir));
    expect(Array.from(oldModel.getWeights()[1].dataSync())).toEqual([7, 8]);
    oldModel.dispose();
    const model = smallModel(3);
    await model.save(fileSystem(dir));
    expect(readdirSync(dir).sort()).toEqual(['model.json', expect.stringMatching(/^weights-\d+-[0-9a-f]{16}\.bin$/)]);
    expect(await loadedBits(dir)).toEqual(bitsOf(model));
  });

  it('removes what killed saves left (dead pids), keeps the files of a live process', async () => {
    await smallModel(1).save(fileSystem(dir));
    const dead = 2 ** 22 + 12345; // above Linux's pid_max default range for tests: no such process
    const stale = [`weights-${dead}-0123456789abcdef.bin`, `.model.json-${dead}-0123456789abcdef.tmp`];
    const live = `weights-${process.ppid}-fedcba9876543210.bin`;
    for (const f of [...stale, live]) writeFileSync(join(dir, f), 'x');
    const model = smallModel(2);
    await model.save(fileSystem(dir));
    const files = readdirSync(dir);
    for (const f of stale) expect(files).not.toContain(f);
    expect(files).toContain(live);
    expect(files.filter((f) => /^weights-/.test(f) && f !== live)).toHaveLength(1);
    expect(await loadedBits(dir)).toEqual(bitsOf(model));
  });

  it('deletes the replaced model\'s weights even when a live process wrote them', async () => {
    await smallModel(1).save(fileSystem(dir));
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    const byLive = `weights-${process.ppid}-0123456789abcdef.bin`;
    writeFileSync(join(dir, byLive), readFileSync(join(dir, json.weightsManifest[0].paths[0])));
    rmSync(join(dir, json.weightsManifest[0].paths[0]));
    json.weightsManifest[0].paths = [byLive];
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
    await smallModel(2).save(fileSystem(dir));
    expect(readdirSync(dir)).not.toContain(byLive);
    expect(readdirSync(dir)).toHaveLength(2);
  });

  it('ten concurrent saves in one process all resolve and leave one complete model (pid+Date.now() names collided before)', async () => {
    const models = Array.from({ length: 10 }, (_, i) => smallModel(i + 1));
    const results = await Promise.allSettled(models.map((m) => m.save(fileSystem(dir))));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill('fulfilled'));
    const bits = await loadedBits(dir);
    expect(models.map(bitsOf)).toContainEqual(bits);
    expect(readdirSync(dir).sort()).toEqual(['model.json', expect.stringMatching(/^weights-/)]);
  });

  it('refuses to save artifacts whose weight specs are malformed, writing nothing', async () => {
    const artifacts = { modelTopology: {}, weightSpecs: [{ name: 'w', shape: [2], dtype: 'float32' }], weightData: new ArrayBuffer(4) };
    await expect(fileSystem(dir).save!(artifacts as tf.io.ModelArtifacts)).rejects.toThrow(
      /fileSystem: expected weightData to hold the 8 bytes the weight specs declare, but got 4 bytes/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('loads old-style names after a save, and leaves no temporary files', async () => {
    await smallModel(1).save(fileSystem(join(dir, 'model.json')));
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(readFileSync(join(dir, 'model.json'), 'utf8')).toMatch(/"paths":\["weights-\d+-[0-9a-f]{16}\.bin"\]/);
  });
});
