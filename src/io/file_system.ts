/**
 * `fileSystem(path)`: a `tf.io.IOHandler` that saves a model as `model.json`
 * plus one weights file in a directory and loads it back, in plain Node
 * (tfjs's own `file://` handler needs tfjs-node). The files are the
 * layers-model format tfjs and tensorflowjs_converter write; directories they
 * wrote (`weights.bin`, `group1-shard1of2.bin`, ...) load too.
 *
 * Loading reads only what the model directory holds: `model.json` and every
 * weight file must resolve (symlinks followed) inside the directory and be
 * regular files; the manifest is checked against a schema
 * (`./schema.ts`), and the byte size it declares against the files' sizes
 * before any file is read. A corrupt, truncated or hostile model is an
 * `AttentionError` naming the file and the field, not a wrong model.
 *
 * Saving is atomic: the weights go to a new, uniquely named file
 * (`weights-<pid>-<random>.bin`), flushed to disk, then `model.json` is
 * written under a temporary name and renamed over the old one, and only
 * then are the previous model's weight files deleted. A save killed at any
 * moment leaves the directory loading as exactly the old model or exactly
 * the new one; the next save removes what a killed save left behind.
 * Concurrent saves to one directory, from one process or several, all
 * settle and leave one complete model.
 */
import * as tf from '@tensorflow/tfjs';
import { AttentionError } from '../errors';
import { nodeModules, OpenedFile, openConfined, readExactly, statConfined } from './read_bounded';
import { checkArtifacts, checkManifest, checkTopology, CheckedGroup, isJsonObject, modelArtifacts } from './schema';

const MODEL_FILE = 'model.json';

/** Largest model.json the loader reads: 64 MiB (topologies are kilobytes; weights live elsewhere). */
export const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024;

/** Names of the files a save writes: weights, and model.json while it is being written. */
const OWN_WEIGHTS = /^weights-(\d+)-[0-9a-f]{16}\.bin$/;
const OWN_TEMP = /^\.model\.json-(\d+)-[0-9a-f]{16}\.tmp$/;

/**
 * Environment variable naming a save step at which the process kills itself
 * (SIGKILL), for the fault-injection test (`npm run test:faults`). Steps:
 * `weights-written`, `json-written`, `json-renamed`, `cleanup-started`.
 */
export const FAULT_STEP_ENV = 'TFJS_ATTENTION_FAULT_STEP';

function faultPoint(step: string): void {
  if (typeof process !== 'undefined' && process.env?.[FAULT_STEP_ENV] === step) {
    process.kill(process.pid, 'SIGKILL');
  }
}

/** Files of saves in flight in this process, so that a concurrent save's cleanup leaves them alone. */
const inFlight = new Set<string>();
/** Per-directory queue: the commit and cleanup of saves in one process run one at a time. */
const commitQueues = new Map<string, Promise<unknown>>();

function serialised<T>(key: string, f: () => Promise<T>): Promise<T> {
  const previous = commitQueues.get(key) ?? Promise.resolve();
  const next = previous.then(f, f);
  const tail = next.catch(() => undefined);
  commitQueues.set(key, tail);
  void tail.then(() => {
    if (commitQueues.get(key) === tail) commitQueues.delete(key);
  });
  return next;
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function toArrayBuffer(data: tf.io.WeightData | undefined): ArrayBuffer {
  if (data === undefined) return new ArrayBuffer(0);
  return Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : data;
}

function randomHex(): string {
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The weight file names a model.json's manifest lists, or null when it cannot be read. */
async function manifestPaths(realDir: string): Promise<Set<string> | null> {
  const out = new Set<string>();
  let file: OpenedFile | undefined;
  try {
    file = await openConfined('fileSystem', realDir, MODEL_FILE);
    if (file.size > MAX_MODEL_JSON_BYTES) return null;
    const json = JSON.parse(new TextDecoder().decode(await readExactly('fileSystem', file, file.size)));
    for (const g of Array.isArray(json?.weightsManifest) ? json.weightsManifest : []) {
      for (const p of Array.isArray(g?.paths) ? g.paths : []) if (typeof p === 'string') out.add(p);
    }
  } catch {
    return null;
  } finally {
    await file?.handle.close();
  }
  return out;
}

/**
 * Deletes the previous model's weight files (`replaced`) and what killed
 * saves left, keeping every file the current model.json references and the
 * files of saves still running (this process's, or any live process's).
 */
async function cleanUp(realDir: string, replaced: Set<string> | null): Promise<void> {
  const { fs, path } = await nodeModules();
  const current = await manifestPaths(realDir);
  // Without a readable model.json nothing can be known to be unused: delete nothing.
  if (current === null) return;
  const names = await fs.readdir(realDir);
  let first = true;
  for (const name of names) {
    if (current.has(name) || inFlight.has(path.join(realDir, name))) continue;
    // A file the replaced model.json listed was committed and is now unused; a file of ours
    // not listed is what a save that died (or failed, in this process) left behind.
    const own = OWN_WEIGHTS.exec(name) ?? OWN_TEMP.exec(name);
    const stale = replaced?.has(name) === true || (own !== null && (Number(own[1]) === process.pid || !alive(Number(own[1]))));
    if (!stale) continue;
    const full = path.join(realDir, name);
    const st = await fs.lstat(full).catch(() => undefined);
    if (st === undefined || !st.isFile()) continue;
    if (first) {
      faultPoint('cleanup-started');
      first = false;
    }
    await fs.rm(full, { force: true });
  }
}

async function writeSynced(fs: typeof import('node:fs/promises'), file: string, data: Uint8Array): Promise<void> {
  const handle = await fs.open(file, 'wx');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * An IOHandler saving to and loading from a directory.
 *
 * @param directory A directory, or a path ending in `model.json`. Created on save if missing.
 * @returns A `tf.io.IOHandler` for `model.save(...)` and `tf.loadLayersModel(...)`.
 * @throws AttentionError (from load) when model.json or a weight file lies
 *   outside the directory (also through a symlink), is not a regular file, is
 *   malformed (the message names the field), or holds a different number of
 *   bytes than the manifest declares; (from save) when the directory cannot
 *   be written.
 *
 * @example
 * ```ts
 * await model.save(fileSystem('./my-model'));                 // writes model.json + weights-….bin
 * const again = await tf.loadLayersModel(fileSystem('./my-model'));
 * ```
 */
export function fileSystem(directory: string): tf.io.IOHandler {
  if (typeof directory !== 'string' || directory.length === 0) {
    throw new AttentionError(`fileSystem: expected a directory path, but got ${JSON.stringify(directory)}.`);
  }
  const dirOf = (path: typeof import('node:path')) => (path.basename(directory) === MODEL_FILE ? path.dirname(directory) : directory);

  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new AttentionError('fileSystem: expected a JSON model topology, but got binary (a graph model); save layers models only.');
      }
      checkArtifacts('fileSystem', artifacts);
      const { fs, path } = await nodeModules();
      const dir = dirOf(path);
      let realDir: string;
      try {
        await fs.mkdir(dir, { recursive: true });
        realDir = await fs.realpath(dir);
      } catch (e) {
        throw new AttentionError(`fileSystem: could not save to ${dir}: ${(e as Error).message}`, { cause: e });
      }
      const weights = toArrayBuffer(artifacts.weightData);
      const weightsName = `weights-${process.pid}-${randomHex()}.bin`;
      const json: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [weightsName], weights: artifacts.weightSpecs ?? [] }],
      };
      if (artifacts.trainingConfig) json.trainingConfig = artifacts.trainingConfig;
      if (artifacts.userDefinedMetadata) json.userDefinedMetadata = artifacts.userDefinedMetadata;
      const text = JSON.stringify(json);
      const weightsFile = path.join(realDir, weightsName);
      const tmpJson = path.join(realDir, `.model.json-${process.pid}-${randomHex()}.tmp`);
      inFlight.add(weightsFile);
      inFlight.add(tmpJson);
      let committed = false;
      try {
        await writeSynced(fs, weightsFile, new Uint8Array(weights));
        faultPoint('weights-written');
        await writeSynced(fs, tmpJson, new TextEncoder().encode(text));
        faultPoint('json-written');
        await serialised(realDir, async () => {
          const replaced = await manifestPaths(realDir);
          // The commit: one atomic rename. Before it the old model is whole, after it the new one.
          await fs.rename(tmpJson, path.join(realDir, MODEL_FILE));
          committed = true;
          inFlight.delete(tmpJson);
          faultPoint('json-renamed');
          await syncDirectory(fs, realDir);
          inFlight.delete(weightsFile);
          await cleanUp(realDir, replaced);
        });
      } catch (e) {
        if (!committed) {
          await Promise.all([fs.rm(tmpJson, { force: true }), fs.rm(weightsFile, { force: true })]);
        }
        throw new AttentionError(`fileSystem: could not save to ${dir}: ${(e as Error).message}`, { cause: e });
      } finally {
        inFlight.delete(weightsFile);
        inFlight.delete(tmpJson);
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
      const fn = 'fileSystem';
      const { fs, path } = await nodeModules();
      const dir = dirOf(path);
      const file = path.join(dir, MODEL_FILE);
      let realDir: string;
      try {
        realDir = await fs.realpath(dir);
      } catch (e) {
        throw new AttentionError(`${fn}: could not read ${file}: ${(e as Error).message}`, { cause: e });
      }
      const jsonFile = await openConfined(fn, realDir, MODEL_FILE, file);
      let text: string;
      try {
        if (jsonFile.size > MAX_MODEL_JSON_BYTES) {
          throw new AttentionError(`${fn}: expected ${file} to be at most ${MAX_MODEL_JSON_BYTES} bytes, but it has ${jsonFile.size}.`);
        }
        text = new TextDecoder().decode(await readExactly(fn, jsonFile, jsonFile.size));
      } finally {
        await jsonFile.handle.close();
      }
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(text) as tf.io.ModelJSON;
      } catch (e) {
        throw new AttentionError(`${fn}: could not parse ${file}: ${(e as Error).message}`, { cause: e });
      }
      if (!isJsonObject(json) || json.modelTopology === undefined || json.modelTopology === null) {
        throw new AttentionError(`${fn}: ${file} has no modelTopology; expected a layers-model model.json.`);
      }
      checkTopology(fn, `modelTopology in ${file}`, json.modelTopology);
      const groups: CheckedGroup[] = checkManifest(fn, file, json.weightsManifest);

      // Check every weight file (where it leads, its kind, its size) before reading any byte.
      const files: Array<{ path: string; what: string; size: number }> = [];
      const seen = new Map<string, string>();
      for (const g of groups) {
        let held = 0;
        for (const p of g.paths) {
          const what = `weight file ${p} listed in ${file}`;
          const { real, size } = await statConfined(fn, realDir, p, what);
          const other = seen.get(real);
          if (other !== undefined) {
            throw new AttentionError(`${fn}: expected every weight file listed in ${file} to be a different file, but '${other}' and '${p}' are both ${real}.`);
          }
          seen.set(real, p);
          files.push({ path: p, what, size });
          held += size;
        }
        if (held !== g.bytes) {
          throw new AttentionError(
            `${fn}: the weights of ${g.weights.map((w) => w.spec.name).join(', ')} need ${g.bytes} bytes, but ${g.paths.join(', ')} hold ${held} bytes.`,
          );
        }
      }
      // Then read them one at a time (a model of a thousand shards holds one descriptor at a time).
      const buffers: ArrayBuffer[] = [];
      for (const f of files) {
        const opened = await openConfined(fn, realDir, f.path, f.what);
        try {
          buffers.push((await readExactly(fn, opened, f.size)).buffer as ArrayBuffer);
        } finally {
          await opened.handle.close();
        }
      }
      return modelArtifacts(json, groups, buffers);
    },
  };
}

async function syncDirectory(fs: typeof import('node:fs/promises'), dir: string): Promise<void> {
  try {
    const h = await fs.open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  } catch {
    // Not every platform can fsync a directory; the rename is atomic regardless.
  }
}
