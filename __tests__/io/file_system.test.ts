import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileSystem, layers } from '../../src';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tfjs-attention-io-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The weights file model.json's manifest lists. */
function weightsFileOf(d: string): string {
  return JSON.parse(readFileSync(join(d, 'model.json'), 'utf8')).weightsManifest[0].paths[0];
}

/** A functional model that uses every layer of the library. */
function everyLayerModel(): tf.LayersModel {
  const x = tf.input({ shape: [6, 8] });
  const sine = layers.sinePositionEncoding().apply(x) as tf.SymbolicTensor;
  const x1 = tf.layers.add().apply([x, sine]) as tf.SymbolicTensor;
  const pos = layers.positionEmbedding({ sequenceLength: 6 }).apply(x1) as tf.SymbolicTensor;
  const x2 = tf.layers.add().apply([x1, pos]) as tf.SymbolicTensor;
  const rot = layers.rotaryEmbedding().apply(x2) as tf.SymbolicTensor;
  let h = layers.selfAttention({ numHeads: 2, keyDim: 4, useCausalMask: true }).apply(rot) as tf.SymbolicTensor;
  for (const position of ['rotary', 'alibi', 'relative'] as const) {
    h = layers.positionalAttention({ numHeads: 2, keyDim: 4, position }).apply(h) as tf.SymbolicTensor;
  }
  h = layers.multiHeadAttention({ numHeads: 2, keyDim: 3, valueDim: 5 }).apply([h, x2]) as tf.SymbolicTensor;
  for (const score of ['dot', 'general', 'additive', 'cosine'] as const) {
    h = layers.contentAttention({ score }).apply([h, x2]) as tf.SymbolicTensor;
  }
  h = layers.attention({ useScale: true, scoreMode: 'concat' }).apply([h, x2]) as tf.SymbolicTensor;
  h = layers.additiveAttention().apply([h, x2]) as tf.SymbolicTensor;
  return tf.model({ inputs: x, outputs: tf.layers.dense({ units: 3 }).apply(h) as tf.SymbolicTensor });
}

describe('fileSystem', () => {
  it('saves a model using every layer and loads it with identical predictions', async () => {
    const model = everyLayerModel();
    const x = tf.randomNormal([3, 6, 8], 0, 1, 'float32', 1);
    const before = model.predict(x) as tf.Tensor;
    const result = await model.save(fileSystem(dir));
    expect(result.modelArtifactsInfo.weightDataBytes).toBe(model.countParams() * 4);
    const files = readdirSync(dir).sort();
    expect(files).toEqual(['model.json', expect.stringMatching(/^weights-\d+-[0-9a-f]{16}\.bin$/)]);
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.weightsManifest[0].paths).toEqual([files[1]]);
    const classes = json.modelTopology.config.layers.map((l: { class_name: string }) => l.class_name);
    for (const c of ['SelfAttention', 'PositionalAttention', 'MultiHeadAttention', 'ContentAttention', 'Attention', 'AdditiveAttention', 'SinePositionEncoding', 'PositionEmbedding', 'RotaryEmbedding']) {
      expect(classes).toContain(c);
    }
    const loaded = await tf.loadLayersModel(fileSystem(join(dir, 'model.json')));
    const after = loaded.predict(x) as tf.Tensor;
    expect(after).toBeAllClose(before, 0);
    tf.dispose([x, before, after]);
  });

  it('loads sharded weights as the converter writes them', async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 4, inputShape: [3] }), tf.layers.layerNormalization()] });
    await model.save(fileSystem(dir));
    const saved = weightsFileOf(dir);
    const bin = readFileSync(join(dir, saved));
    writeFileSync(join(dir, 'group1-shard1of2.bin'), bin.subarray(0, 20));
    writeFileSync(join(dir, 'group1-shard2of2.bin'), bin.subarray(20));
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    json.weightsManifest[0].paths = ['group1-shard1of2.bin', 'group1-shard2of2.bin'];
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
    rmSync(join(dir, saved));
    const loaded = await tf.loadLayersModel(fileSystem(dir));
    const x = tf.tensor2d([[1, 2, 3]]);
    expect(loaded.predict(x) as tf.Tensor).toBeAllClose(model.predict(x) as tf.Tensor, 0);
  });

  it('creates missing directories when saving', async () => {
    const nested = join(dir, 'a', 'b');
    await tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] }).save(fileSystem(nested));
    expect(readdirSync(nested).sort()).toEqual(['model.json', expect.stringMatching(/^weights-.*\.bin$/)]);
  });

  it('leaves no partial files when a save fails', async () => {
    const blocker = join(dir, 'not-a-dir');
    writeFileSync(blocker, 'x');
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] });
    await expect(model.save(fileSystem(join(blocker, 'm')))).rejects.toThrow(/fileSystem: could not save to .*not-a-dir/);
    // A model.json in the way (a directory) makes the final rename fail after the weights were written.
    const target = join(dir, 'target');
    await model.save(fileSystem(target));
    rmSync(join(target, 'model.json'));
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(target, 'model.json'));
    const before = readdirSync(target).sort();
    await expect(model.save(fileSystem(target))).rejects.toThrow(/fileSystem: could not save to/);
    expect(readdirSync(target).sort()).toEqual(before);
  });

  describe('rejects corrupt models with a clear error and no leaked tensors', () => {
    beforeEach(async () => {
      await tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] }).save(fileSystem(dir));
      // As tfjs and the converter name it.
      const j = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
      renameSync(join(dir, j.weightsManifest[0].paths[0]), join(dir, 'weights.bin'));
      j.weightsManifest[0].paths = ['weights.bin'];
      writeFileSync(join(dir, 'model.json'), JSON.stringify(j));
    });
    const cases: Array<[string, () => void, RegExp]> = [
      ['invalid JSON', () => writeFileSync(join(dir, 'model.json'), '{"modelTopology": '), /fileSystem: could not parse .*model.json/],
      ['no topology', () => writeFileSync(join(dir, 'model.json'), '{"weightsManifest": []}'), /has no modelTopology; expected a layers-model model.json/],
      ['a missing weight file', () => rmSync(join(dir, 'weights.bin')), /weight file .*weights.bin listed in .*model.json could not be read/],
      ['truncated weights', () => writeFileSync(join(dir, 'weights.bin'), readFileSync(join(dir, 'weights.bin')).subarray(0, 10)), /need 32 bytes, but weights.bin hold 10 bytes/],
      ['a missing model.json', () => rmSync(join(dir, 'model.json')), /fileSystem: .*model.json could not be read/],
      [
        'an unknown dtype',
        () => {
          const j = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
          j.weightsManifest[0].weights[0].dtype = 'complex128';
          writeFileSync(join(dir, 'model.json'), JSON.stringify(j));
        },
        /has dtype complex128, which cannot be loaded/,
      ],
    ];
    it.each(cases)('%s', async (_n, corrupt, msg) => {
      corrupt();
      const before = tf.memory().numTensors;
      await expect(tf.loadLayersModel(fileSystem(dir))).rejects.toThrow(msg);
      expect(tf.memory().numTensors).toBe(before);
    });
  });

  it('rejects an empty path', () => {
    expect(() => fileSystem('')).toThrow(/fileSystem: expected a directory path, but got ""/);
  });
});
