/**
 * The structure of a layers-model `model.json` (tfjs and
 * tensorflowjs_converter write it), checked before anything uses it:
 * `weightsManifest` groups, weight entries, and the topology's shape (how
 * deep it nests, which `class_name`s it holds). Every message names the
 * field, by its JSON path, and what is wrong with it.
 *
 * Written by hand rather than with a validation library: the rules are few,
 * the messages must name JSON paths in the library's voice, and the check
 * must not add a dependency to browser bundles.
 */
import * as tf from '@tensorflow/tfjs';
import { AttentionError } from '../errors';

/** A JSON value as it comes out of JSON.parse. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** Deepest nesting of objects and arrays accepted in a topology (Keras configs nest about 12 deep). */
export const MAX_TOPOLOGY_DEPTH = 100;
/** Most objects, arrays and values accepted in one topology. */
export const MAX_TOPOLOGY_NODES = 5_000_000;
/** Highest weight rank accepted. */
export const MAX_WEIGHT_RANK = 16;

/** Bytes per element of the weight dtypes and quantization dtypes a manifest may declare. */
const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };
const QUANT_BYTES: Record<string, number> = { uint8: 1, uint16: 2, float16: 2 };

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/** True for a plain JSON object (not null, not an array). */
export function isJsonObject(x: unknown): x is Record<string, Json> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return `an array of length ${x.length}`;
  if (typeof x === 'string') return `the string ${JSON.stringify(x.length > 60 ? `${x.slice(0, 60)}…` : x)}`;
  if (typeof x === 'object') return 'an object';
  return `${typeof x} ${String(x)}`;
}

/** A weight name that would act on an object's prototype instead of naming a weight. */
function unsafeKey(name: string): boolean {
  return name === '__proto__' || name in Object.prototype;
}

/** One weight entry, checked: shape of non-negative integers, known dtype, size in bytes. */
export interface CheckedWeight {
  spec: tf.io.WeightsManifestEntry;
  bytes: number;
}

/** A manifest group, checked. */
export interface CheckedGroup {
  paths: string[];
  weights: CheckedWeight[];
  /** Total bytes the group's weights declare (what its files must hold together). */
  bytes: number;
}

/**
 * Checks one weight entry and returns its size in bytes.
 *
 * @param where The entry's JSON path, for messages (`model.json weightsManifest[0].weights[3]`).
 */
export function checkWeightEntry(fn: string, where: string, w: Json): CheckedWeight {
  if (!isJsonObject(w)) throw new AttentionError(`${fn}: expected ${where} to be an object {name, shape, dtype}, but got ${describe(w)}.`);
  if (typeof w.name !== 'string' || w.name.length === 0) {
    throw new AttentionError(`${fn}: expected ${where}.name to be a non-empty string, but got ${describe(w.name)}.`);
  }
  if (!Array.isArray(w.shape)) {
    throw new AttentionError(`${fn}: expected ${where}.shape (weight '${w.name}') to be an array of non-negative integers, but got ${describe(w.shape)}.`);
  }
  if (w.shape.length > MAX_WEIGHT_RANK) {
    throw new AttentionError(`${fn}: expected ${where}.shape (weight '${w.name}') to have at most ${MAX_WEIGHT_RANK} dimensions, but got ${w.shape.length}.`);
  }
  let elements = 1;
  w.shape.forEach((d: unknown, i: number) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new AttentionError(`${fn}: expected ${where}.shape[${i}] (weight '${w.name}') to be a non-negative integer, but got ${describe(d)}.`);
    }
    elements *= d;
  });
  let per: number | undefined;
  if (w.quantization !== undefined && w.quantization !== null) {
    const q = w.quantization;
    if (!isJsonObject(q) || typeof q.dtype !== 'string' || !hasOwn(QUANT_BYTES, q.dtype)) {
      throw new AttentionError(`${fn}: expected ${where}.quantization (weight '${w.name}') to be {dtype: 'uint8' | 'uint16' | 'float16', ...}, but got ${describe(isJsonObject(q) ? q.dtype : q)}.`);
    }
    for (const k of ['scale', 'min'] as const) {
      if (q[k] !== undefined && (typeof q[k] !== 'number' || !Number.isFinite(q[k]))) {
        throw new AttentionError(`${fn}: expected ${where}.quantization.${k} (weight '${w.name}') to be a finite number, but got ${describe(q[k])}.`);
      }
    }
    per = QUANT_BYTES[q.dtype];
  }
  if (typeof w.dtype !== 'string' || !hasOwn(DTYPE_BYTES, w.dtype)) {
    throw new AttentionError(`${fn}: weight '${w.name}' (${where}.dtype) has dtype ${typeof w.dtype === 'string' ? w.dtype : describe(w.dtype)}, which cannot be loaded; expected 'float32', 'int32' or 'bool'.`);
  }
  per = per ?? DTYPE_BYTES[w.dtype];
  const bytes = per * elements;
  if (!Number.isSafeInteger(bytes)) {
    throw new AttentionError(`${fn}: expected ${where}.shape (weight '${w.name}') to describe a loadable size, but got ${JSON.stringify(w.shape)}.`);
  }
  return { spec: w as tf.io.WeightsManifestEntry, bytes };
}

/**
 * Checks weight entries as a whole: no name twice, no name that would act on
 * a prototype (`__proto__`, `constructor`, ...).
 */
export function checkWeightNames(fn: string, where: string, weights: readonly CheckedWeight[]): void {
  const seen = new Set<string>();
  for (const { spec } of weights) {
    if (unsafeKey(spec.name)) {
      throw new AttentionError(`${fn}: expected weight names that are not JavaScript object keys such as __proto__, but got '${spec.name}' in ${where}.`);
    }
    if (seen.has(spec.name)) {
      throw new AttentionError(`${fn}: expected every weight name to appear once, but got '${spec.name}' twice in ${where}.`);
    }
    seen.add(spec.name);
  }
}

/**
 * Checks a `weightsManifest`: a list of `{paths: string[], weights: entry[]}`.
 * Paths are checked for type and form here (relative, no empty segment); where
 * they lead is the loader's business.
 *
 * @param file The file, for messages (`/models/m/model.json`).
 */
export function checkManifest(fn: string, file: string, manifest: Json): CheckedGroup[] {
  if (manifest === undefined || manifest === null) return [];
  if (!Array.isArray(manifest)) {
    throw new AttentionError(`${fn}: expected weightsManifest in ${file} to be a list of {paths, weights}, but got ${describe(manifest)}.`);
  }
  const groups: CheckedGroup[] = [];
  const allWeights: CheckedWeight[] = [];
  const allPaths = new Set<string>();
  manifest.forEach((g: Json, gi: number) => {
    const where = `weightsManifest[${gi}]`;
    if (!isJsonObject(g)) throw new AttentionError(`${fn}: expected ${where} in ${file} to be an object {paths, weights}, but got ${describe(g)}.`);
    if (!Array.isArray(g.paths)) {
      throw new AttentionError(`${fn}: expected ${where}.paths in ${file} to be a list of file names, but got ${describe(g.paths)}.`);
    }
    if (!Array.isArray(g.weights)) {
      throw new AttentionError(`${fn}: expected ${where}.weights in ${file} to be a list of weight entries, but got ${describe(g.weights)}.`);
    }
    const paths = g.paths.map((p: Json, pi: number) => {
      if (typeof p !== 'string' || p.length === 0 || p.includes('\0')) {
        throw new AttentionError(`${fn}: expected ${where}.paths[${pi}] in ${file} to be a non-empty file name, but got ${describe(p)}.`);
      }
      if (allPaths.has(p)) {
        throw new AttentionError(`${fn}: expected every weight file to be listed once, but got '${p}' twice in the weightsManifest of ${file}.`);
      }
      allPaths.add(p);
      return p;
    });
    const weights = g.weights.map((w: Json, wi: number) => checkWeightEntry(fn, `${where}.weights[${wi}] in ${file}`, w));
    if (weights.length > 0 && paths.length === 0) {
      throw new AttentionError(`${fn}: expected ${where}.paths in ${file} to name the files of its ${weights.length} weight(s), but got an empty list.`);
    }
    allWeights.push(...weights);
    groups.push({ paths, weights, bytes: weights.reduce((a: number, w: CheckedWeight) => a + w.bytes, 0) });
  });
  checkWeightNames(fn, `the weightsManifest of ${file}`, allWeights);
  return groups;
}

/**
 * Checks a model topology's structure without recursion: an object, nested no
 * deeper than {@link MAX_TOPOLOGY_DEPTH}, with every `class_name` a string
 * that is not an `Object.prototype` property (`constructor`, `toString`,
 * `__proto__`), which a registry lookup could mistake for a class.
 *
 * @param where What the topology is, for messages (`modelTopology in /m/model.json`).
 */
export function checkTopology(fn: string, where: string, topology: Json): void {
  if (!isJsonObject(topology)) {
    throw new AttentionError(`${fn}: expected ${where} to be a JSON object (a layers-model topology), but got ${describe(topology)}.`);
  }
  // Iterative walk; the path of a node is rebuilt only when reporting.
  const stack: Array<{ v: Json; depth: number; path: string }> = [{ v: topology, depth: 1, path: 'modelTopology' }];
  let nodes = 0;
  while (stack.length > 0) {
    const { v, depth, path } = stack.pop()!;
    if (++nodes > MAX_TOPOLOGY_NODES) {
      throw new AttentionError(`${fn}: expected ${where} to hold at most ${MAX_TOPOLOGY_NODES} values, but got more.`);
    }
    if (depth > MAX_TOPOLOGY_DEPTH) {
      throw new AttentionError(`${fn}: expected ${where} to nest at most ${MAX_TOPOLOGY_DEPTH} levels deep, but got deeper nesting at ${path.length > 200 ? `${path.slice(0, 200)}…` : path}.`);
    }
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) {
        if (v[i] !== null && typeof v[i] === 'object') stack.push({ v: v[i], depth: depth + 1, path: `${path}[${i}]` });
      }
    } else if (v !== null && typeof v === 'object') {
      if (hasOwn(v, 'class_name')) {
        const c = v.class_name;
        if (typeof c !== 'string' || c.length === 0) {
          throw new AttentionError(`${fn}: expected ${path}.class_name in ${where} to be a class name (a non-empty string), but got ${describe(c)}.`);
        }
        if (unsafeKey(c)) {
          throw new AttentionError(`${fn}: expected ${path}.class_name in ${where} to name a layer or Keras class, but got '${c}', a property every JavaScript object has.`);
        }
      }
      for (const k of Object.keys(v)) {
        if (k === '__proto__') {
          throw new AttentionError(`${fn}: expected ${path} in ${where} to hold no key named __proto__, but got one.`);
        }
        const x = v[k];
        if (x !== null && typeof x === 'object') stack.push({ v: x, depth: depth + 1, path: `${path}.${k}` });
      }
    }
  }
}

/**
 * Checks artifacts as an IOHandler returned them: a JSON topology, weight
 * specs, and weight data holding exactly the bytes the specs declare.
 */
export function checkArtifacts(fn: string, artifacts: Json): void {
  if (!isJsonObject(artifacts)) {
    throw new AttentionError(`${fn}: expected the handler's load() to return model artifacts {modelTopology, weightSpecs, weightData}, but got ${describe(artifacts)}.`);
  }
  if (artifacts.modelTopology !== undefined && artifacts.modelTopology !== null && !(artifacts.modelTopology instanceof ArrayBuffer)) {
    checkTopology(fn, 'modelTopology', artifacts.modelTopology);
  }
  const specs = artifacts.weightSpecs;
  if (specs === undefined || specs === null) return;
  if (!Array.isArray(specs)) {
    throw new AttentionError(`${fn}: expected weightSpecs to be a list of weight entries, but got ${describe(specs)}.`);
  }
  const checked = specs.map((w: Json, i: number) => checkWeightEntry(fn, `weightSpecs[${i}]`, w));
  checkWeightNames(fn, 'weightSpecs', checked);
  const declared = checked.reduce((a: number, w: CheckedWeight) => a + w.bytes, 0);
  const data = artifacts.weightData;
  if (data === undefined || data === null) {
    if (declared > 0) throw new AttentionError(`${fn}: expected weight data for the weights manifest, but got none (it lists ${checked.length} weight(s), ${declared} bytes).`);
    return;
  }
  const parts: unknown[] = Array.isArray(data) ? data : [data];
  let held = 0;
  for (const p of parts) {
    // By tag, not instanceof: an ArrayBuffer from another realm (a worker, a vm context) is one too.
    if (Object.prototype.toString.call(p) !== '[object ArrayBuffer]') {
      throw new AttentionError(`${fn}: expected weightData to be an ArrayBuffer or a list of them, but got ${describe(p)}.`);
    }
    held += (p as ArrayBuffer).byteLength;
  }
  if (held !== declared) {
    throw new AttentionError(`${fn}: expected weightData to hold the ${declared} bytes the weight specs declare, but got ${held} bytes.`);
  }
}

/**
 * The model artifacts of a checked model.json, its checked weight groups and
 * their files' bytes (in manifest order): what both loaders (file system and
 * HTTP) hand to tfjs.
 */
export function modelArtifacts(json: Record<string, Json>, groups: readonly CheckedGroup[], buffers: ArrayBuffer[]): tf.io.ModelArtifacts {
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: json.modelTopology,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    weightSpecs: groups.flatMap((g) => g.weights.map((w) => w.spec)),
    weightData: tf.io.concatenateArrayBuffers(buffers),
  };
  if (json.trainingConfig) artifacts.trainingConfig = json.trainingConfig;
  if (json.userDefinedMetadata) artifacts.userDefinedMetadata = json.userDefinedMetadata;
  return artifacts;
}
