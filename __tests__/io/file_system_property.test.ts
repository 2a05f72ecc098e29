/**
 * Property test (issue 11, "Done when"): malformed manifests and topologies
 * fed to both loaders: fileSystem's load() (the artifacts it hands to
 * tf.loadLayersModel, which then builds the model itself) and loadKerasModel
 * (which builds it too). Every outcome is a model or an AttentionError (KerasFormatError
 * is one), never a raw TypeError or RangeError, never a read outside the
 * directory, never a leaked tensor. fast-check on fixed seeds.
 */
import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AttentionError } from '../../src/errors';
import { fileSystem, loadKerasModel } from '../../src';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** Values outside the directory: if a load ever returns them, it read outside. */
const SECRET = new Float32Array([31337, 31337, 31337, 31337, 31337, 31337, 31337, 31337]);
const INSIDE = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]);

const root = mkdtempSync(join(tmpdir(), 'tfjs-attention-prop-'));
const dir = join(root, 'model');
let topology: Json;
beforeAll(() => {
  mkdirSync(dir);
  mkdirSync(join(root, 'outside'));
  writeFileSync(join(root, 'outside', 'secret.bin'), Buffer.from(SECRET.buffer));
  writeFileSync(join(dir, 'weights.bin'), Buffer.from(INSIDE.buffer));
  writeFileSync(join(dir, 'half.bin'), Buffer.from(INSIDE.buffer).subarray(0, 16));
  symlinkSync(join(root, 'outside', 'secret.bin'), join(dir, 'link.bin'));
  mkdirSync(join(dir, 'sub'));
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3], name: 'dense' })] });
  topology = model.toJSON(null, false);
  model.dispose();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const weirdKey = fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf');
const weirdValue: fc.Arbitrary<Json> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(null, -1, 1.5, NaN, 1e308, '4', [], {}, [-1], [2.5], [1e12, 1e12]),
  weirdKey,
);
const path = fc.constantFrom(
  'weights.bin', 'half.bin', 'link.bin', 'sub', 'missing.bin', '../outside/secret.bin', 'sub/../../outside/secret.bin',
  '/dev/zero', '../../../../../../../dev/zero', '', '.', 'weights.bin\u0000', join(root, 'outside', 'secret.bin'),
);
const weightName = fc.oneof(fc.constantFrom('dense/kernel', 'dense/bias'), weirdKey, fc.string({ maxLength: 4 }));
const shape = fc.oneof(
  fc.constantFrom([3, 2], [2], [8], [4], [], [0]),
  fc.array(fc.oneof(fc.integer({ min: -3, max: 9 }), fc.double({ min: -2, max: 10 }), fc.constant(null), fc.constant('2')), { maxLength: 3 }),
  weirdValue,
);
const dtype = fc.oneof(fc.constantFrom('float32', 'int32', 'bool', 'string', 'complex64', 'float16'), weirdValue);
const entry = fc.oneof(
  fc.record({ name: weightName, shape, dtype }),
  fc.record({ name: weightName, shape, dtype, quantization: fc.oneof(fc.record({ dtype: fc.constantFrom('uint8', 'uint16', 'int4') }), weirdValue) }),
  weirdValue,
);
const group = fc.oneof(
  fc.record({ paths: fc.array(path, { maxLength: 3 }), weights: fc.array(entry, { maxLength: 3 }) }),
  fc.record({ paths: fc.oneof(fc.array(path, { maxLength: 2 }), weirdValue), weights: fc.oneof(fc.array(entry, { maxLength: 2 }), weirdValue) }),
  weirdValue,
);
const VALID = [{ paths: ['weights.bin'], weights: [{ name: 'dense/kernel', shape: [3, 2], dtype: 'float32' }, { name: 'dense/bias', shape: [2], dtype: 'float32' }] }];
const manifest = fc.oneof(
  { weight: 1, arbitrary: fc.constant(VALID) },
  { weight: 3, arbitrary: fc.array(group, { maxLength: 3 }) },
  { weight: 1, arbitrary: weirdValue },
);

/** The valid topology with one field replaced, or a structure of its own. */
const topologyArb: fc.Arbitrary<Json> = fc.oneof(
  fc.constant(undefined),
  fc.tuple(
    fc.constantFrom('class_name', 'config', 'config.layers', 'config.layers.0', 'config.layers.0.class_name', 'config.layers.0.config',
      'config.layers.0.config.units', 'config.layers.0.config.batch_input_shape', 'config.name', 'model_config'),
    weirdValue,
  ).map(([at, value]) => {
    const t = JSON.parse(JSON.stringify(topology));
    const keys = at.split('.');
    let o = t;
    for (const k of keys.slice(0, -1)) o = o?.[k];
    if (o !== null && typeof o === 'object') Object.defineProperty(o, keys[keys.length - 1], { value, enumerable: true, writable: true, configurable: true });
    return t;
  }),
  fc.integer({ min: 95, max: 400 }).map((depth) => {
    let d: Json = { class_name: 'Dense', config: {} };
    for (let i = 0; i < depth; i++) d = { class_name: 'Sequential', config: { layers: [d] } };
    return d;
  }),
  weirdValue,
);

function isModel(x: unknown): x is tf.LayersModel {
  return x instanceof tf.LayersModel;
}

/**
 * Runs a load: artifacts or a model (checked for bytes from outside, then
 * disposed), or an AttentionError that left no tensor behind.
 */
async function outcome(load: () => Promise<unknown>): Promise<string> {
  const before = tf.memory().numTensors;
  let result: unknown;
  try {
    result = await load();
  } catch (e) {
    if (!(e instanceof AttentionError)) {
      throw new Error(`raw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    }
    if (tf.memory().numTensors !== before) {
      throw new Error(`leaked ${tf.memory().numTensors - before} tensor(s) after: ${e.message}`);
    }
    return 'error';
  }
  if (!isModel(result)) {
    // The handler's own load(): artifacts.
    const data = (result as tf.io.ModelArtifacts).weightData as ArrayBuffer;
    if (new Float32Array(data, 0, data.byteLength >> 2).includes(31337)) throw new Error('artifacts hold bytes from outside the model directory');
    return 'artifacts';
  }
  for (const w of result.getWeights()) {
    if (Array.from(w.dataSync()).includes(31337)) throw new Error('a weight holds bytes from outside the model directory');
  }
  result.dispose();
  if (tf.memory().numTensors !== before) throw new Error(`leaked ${tf.memory().numTensors - before} tensor(s) after a load`);
  return 'model';
}

describe('loaders under malformed manifests and topologies (property)', () => {
  it('give a model or an AttentionError, read nothing outside, leak nothing (both loaders)', async () => {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(manifest, topologyArb, async (m, t) => {
        const json = `{"format":"layers-model","modelTopology":${JSON.stringify(t ?? topology) ?? 'null'},"weightsManifest":${JSON.stringify(m) ?? 'null'}}`;
        writeFileSync(join(dir, 'model.json'), json);
        seen.add(await outcome(() => fileSystem(dir).load!()));
        seen.add(await outcome(() => loadKerasModel(dir, { strict: false })));
      }),
      { seed: 20261126, numRuns: 300 },
    );
    // The generator reaches both outcomes.
    expect([...seen].sort()).toEqual(['artifacts', 'error', 'model']);
  });
});
