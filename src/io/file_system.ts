/**
 * `fileSystem(path)`: a `tf.io.IOHandler` that saves a model as `model.json`
 * plus `weights.bin` in a directory and loads it back, in plain Node (tfjs's
 * own `file://` handler needs tfjs-node). The files are the layers-model
 * format tfjs and tensorflowjs_converter write; a manifest with several
 * weight shards (`group1-shard1of2.bin`, ...) loads too.
 *
 * Saving writes temporary files and renames them into place, so a failed
 * save leaves no half-written model. Loading checks the JSON, the manifest
 * and the byte counts, so a corrupt or truncated model is an error naming the
 * file, not a wrong model.
 */
import * as tf from '@tensorflow/tfjs';

const MODEL_FILE = 'model.json';
const WEIGHTS_FILE = 'weights.bin';

type Fs = typeof import('node:fs/promises');
type Path = typeof import('node:path');

/** node:fs and node:path, loaded on first use so that browser bundles never need them. */
async function node(): Promise<{ fs: Fs; path: Path }> {
  const fsName = 'node:fs/promises';
  const pathName = 'node:path';
  const [fs, path] = await Promise.all([
    import(/* @vite-ignore */ /* webpackIgnore: true */ fsName) as Promise<Fs>,
    import(/* @vite-ignore */ /* webpackIgnore: true */ pathName) as Promise<Path>,
  ]);
  return { fs, path };
}

function toArrayBuffer(data: tf.io.WeightData | undefined): ArrayBuffer {
  if (data === undefined) return new ArrayBuffer(0);
  return Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : data;
}

function byteSize(spec: tf.io.WeightsManifestEntry, file: string): number {
  const sizes: Record<string, number> = { float32: 4, int32: 4, bool: 1 };
  const per = spec.quantization ? { uint8: 1, uint16: 2, float16: 2 }[spec.quantization.dtype] : sizes[spec.dtype];
  if (per === undefined) {
    throw new Error(`fileSystem: weight '${spec.name}' in ${file} has dtype ${spec.dtype}, which cannot be loaded.`);
  }
  return per * spec.shape.reduce((a, b) => a * b, 1);
}

/**
 * An IOHandler saving to and loading from a directory.
 *
 * @param directory A directory, or a path ending in `model.json`. Created on save if missing.
 * @returns A `tf.io.IOHandler` for `model.save(...)` and `tf.loadLayersModel(...)`.
 *
 * @example
 * ```ts
 * await model.save(fileSystem('./my-model'));                 // writes model.json + weights.bin
 * const again = await tf.loadLayersModel(fileSystem('./my-model'));
 * ```
 */
export function fileSystem(directory: string): tf.io.IOHandler {
  if (typeof directory !== 'string' || directory.length === 0) {
    throw new Error(`fileSystem: expected a directory path, but got ${JSON.stringify(directory)}.`);
  }
  const dirOf = (path: Path) => (path.basename(directory) === MODEL_FILE ? path.dirname(directory) : directory);

  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new Error('fileSystem: expected a JSON model topology, but got binary (a graph model); save layers models only.');
      }
      const { fs, path } = await node();
      const dir = dirOf(path);
      try {
        await fs.mkdir(dir, { recursive: true });
      } catch (e) {
        throw new Error(`fileSystem: could not save to ${dir}: ${(e as Error).message}`);
      }
      const weights = toArrayBuffer(artifacts.weightData);
      const json: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
      };
      if (artifacts.trainingConfig) json.trainingConfig = artifacts.trainingConfig;
      if (artifacts.userDefinedMetadata) json.userDefinedMetadata = artifacts.userDefinedMetadata;
      const stamp = `.tmp-${process.pid}-${Date.now()}`;
      const tmpJson = path.join(dir, MODEL_FILE + stamp);
      const tmpBin = path.join(dir, WEIGHTS_FILE + stamp);
      try {
        await fs.writeFile(tmpBin, new Uint8Array(weights));
        await fs.writeFile(tmpJson, JSON.stringify(json));
        // Weights first, so that a model.json in place always has its weights.
        await fs.rename(tmpBin, path.join(dir, WEIGHTS_FILE));
        await fs.rename(tmpJson, path.join(dir, MODEL_FILE));
      } catch (e) {
        await Promise.all([fs.rm(tmpJson, { force: true }), fs.rm(tmpBin, { force: true })]);
        throw new Error(`fileSystem: could not save to ${dir}: ${(e as Error).message}`);
      }
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: JSON.stringify(json.modelTopology).length,
          weightSpecsBytes: JSON.stringify(json.weightsManifest[0].weights).length,
          weightDataBytes: weights.byteLength,
        },
      };
    },

    async load(): Promise<tf.io.ModelArtifacts> {
      const { fs, path } = await node();
      const dir = dirOf(path);
      const file = path.join(dir, MODEL_FILE);
      let text: string;
      try {
        text = await fs.readFile(file, 'utf8');
      } catch (e) {
        throw new Error(`fileSystem: could not read ${file}: ${(e as Error).message}`);
      }
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(text) as tf.io.ModelJSON;
      } catch (e) {
        throw new Error(`fileSystem: could not parse ${file}: ${(e as Error).message}`);
      }
      if (json === null || typeof json !== 'object' || json.modelTopology === undefined || json.modelTopology === null) {
        throw new Error(`fileSystem: ${file} has no modelTopology; expected a layers-model model.json.`);
      }
      const manifest = json.weightsManifest ?? [];
      if (!Array.isArray(manifest)) {
        throw new Error(`fileSystem: ${file} has a weightsManifest that is not a list.`);
      }
      const specs: tf.io.WeightsManifestEntry[] = [];
      const buffers: ArrayBuffer[] = [];
      for (const group of manifest) {
        let expected = 0;
        for (const spec of group.weights) expected += byteSize(spec, file);
        let got = 0;
        const parts: ArrayBuffer[] = [];
        for (const shard of group.paths) {
          const shardFile = path.join(dir, shard);
          let bytes: Uint8Array;
          try {
            bytes = await fs.readFile(shardFile);
          } catch (e) {
            throw new Error(`fileSystem: weight file ${shardFile} listed in ${file} could not be read: ${(e as Error).message}`);
          }
          got += bytes.byteLength;
          parts.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
        }
        if (got !== expected) {
          throw new Error(
            `fileSystem: the weights of ${group.weights.map((w) => w.name).join(', ')} need ${expected} bytes, but ${group.paths.join(', ')} hold ${got} bytes.`,
          );
        }
        specs.push(...group.weights);
        buffers.push(...parts);
      }
      const artifacts: tf.io.ModelArtifacts = {
        modelTopology: json.modelTopology,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        weightSpecs: specs,
        weightData: tf.io.concatenateArrayBuffers(buffers),
      };
      if (json.trainingConfig) artifacts.trainingConfig = json.trainingConfig;
      if (json.userDefinedMetadata) artifacts.userDefinedMetadata = json.userDefinedMetadata;
      return artifacts;
    },
  };
}
