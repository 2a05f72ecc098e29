/**
 * Input checks shared by the ops. Everything here inspects shapes and dtypes
 * without allocating a tensor, so that a call that fails leaves the tfjs
 * memory exactly as it found it.
 */
import * as tf from '@tensorflow/tfjs';
import { AttentionError } from '../errors';
import { suggestOption } from '../layers/base/call_options';

/** A tensor, or the nested numbers / booleans / typed array it would hold. */
export type TensorInput = tf.Tensor | tf.TensorLike;

/** Shape and dtype of an input, read without allocating. */
export interface InputInfo {
  shape: number[];
  dtype: tf.DataType;
}

/** Formats a shape the way error messages print it: `[1,10,20]`. */
export function fmt(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

const isTyped = (x: unknown): x is tf.TypedArray => ArrayBuffer.isView(x) && !(x instanceof DataView);

function inferNested(fn: string, name: string, x: unknown): InputInfo {
  if (isTyped(x)) {
    const dtype: tf.DataType = x instanceof Int32Array || x instanceof Uint8Array ? 'int32' : 'float32';
    return { shape: [x.length], dtype };
  }
  const shape: number[] = [];
  let level: unknown = x;
  while (Array.isArray(level) || isTyped(level)) {
    shape.push((level as ArrayLike<unknown>).length);
    if ((level as ArrayLike<unknown>).length === 0) {
      break;
    }
    level = (level as ArrayLike<unknown>)[0];
  }
  // Walk every element once to reject ragged arrays and find the dtype.
  let sawBool = false;
  let sawNumber = false;
  let sawString = false;
  const walk = (v: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (typeof v === 'number') sawNumber = true;
      else if (typeof v === 'boolean') sawBool = true;
      else if (typeof v === 'string') sawString = true;
      else {
        throw new AttentionError(`${fn}: expected \`${name}\` to hold numbers, but got an element of type ${typeof v}.`);
      }
      return;
    }
    if (!(Array.isArray(v) || isTyped(v)) || (v as ArrayLike<unknown>).length !== shape[depth]) {
      throw new AttentionError(
        `${fn}: expected \`${name}\` to be a tensor or a rectangular nested array, but got a ragged array ` +
          `(dimension ${depth} should have length ${shape[depth]}).`,
      );
    }
    const arr = v as ArrayLike<unknown>;
    for (let i = 0; i < arr.length; i++) walk(arr[i], depth + 1);
  };
  if (!(shape.length > 0 && shape[shape.length - 1] === 0)) {
    walk(x, 0);
  }
  const dtype: tf.DataType = sawString ? 'string' : sawBool && !sawNumber ? 'bool' : 'float32';
  return { shape, dtype };
}

/** Reads the shape and dtype of `x` without allocating. */
export function inspect(fn: string, name: string, x: unknown): InputInfo {
  if (x instanceof tf.Tensor) {
    if (x.isDisposed) {
      throw new AttentionError(`${fn}: expected \`${name}\` to be a live tensor, but got a tensor ${fmt(x.shape)} that has already been disposed.`);
    }
    return { shape: x.shape.slice(), dtype: x.dtype };
  }
  if (x === null || x === undefined || typeof x !== 'object') {
    throw new AttentionError(`${fn}: expected \`${name}\` to be a tf.Tensor or a nested array of numbers, but got ${x === null ? 'null' : typeof x}.`);
  }
  return inferNested(fn, name, x);
}

/** Checks that a query/key/value input is a floating-point tensor of rank >= 2. */
export function checkFloat(fn: string, name: string, x: unknown, minRank = 2): InputInfo {
  const info = inspect(fn, name, x);
  if (info.dtype !== 'float32') {
    throw new AttentionError(
      `${fn}: expected \`${name}\` to be a float32 tensor, but got dtype ${info.dtype} with shape ${fmt(info.shape)}.`,
    );
  }
  if (info.shape.length < minRank) {
    throw new AttentionError(
      `${fn}: expected \`${name}\` to have rank >= ${minRank}, but got rank ${info.shape.length} with shape ${fmt(info.shape)}.`,
    );
  }
  return info;
}

/** Checks that a mask input is bool or numeric and broadcasts to `target`. */
export function checkMask(fn: string, name: string, mask: unknown, target: readonly number[]): InputInfo {
  const info = inspect(fn, name, mask);
  if (info.dtype === 'string' || info.dtype === 'complex64') {
    throw new AttentionError(`${fn}: expected \`${name}\` to be a bool or 0/1 numeric tensor, but got dtype ${info.dtype}.`);
  }
  if (info.shape.length === 0) {
    throw new AttentionError(`${fn}: expected \`${name}\` to have rank >= 1 and broadcast to ${fmt(target)}, but got a scalar; pass null for no mask.`);
  }
  if (!broadcastsTo(info.shape, target)) {
    throw new AttentionError(
      `${fn}: expected \`${name}\` to broadcast to ${fmt(target)}, but got shape ${fmt(info.shape)}.`,
    );
  }
  return info;
}

/** True when `shape` broadcasts (numpy rules) to exactly `target`. */
export function broadcastsTo(shape: readonly number[], target: readonly number[]): boolean {
  if (shape.length > target.length) return false;
  const off = target.length - shape.length;
  return shape.every((d, i) => d === 1 || d === target[off + i]);
}

/** Checks an optional scale: a finite number. */
export function checkScale(fn: string, scale: unknown): void {
  if (scale === undefined) return;
  if (typeof scale !== 'number' || !Number.isFinite(scale)) {
    throw new AttentionError(`${fn}: expected \`scale\` to be a finite number, but got ${String(scale)}.`);
  }
}

/** Checks a dropout rate in [0, 1). */
export function checkDropout(fn: string, rate: unknown): void {
  if (rate === undefined) return;
  if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) {
    throw new AttentionError(`${fn}: expected \`dropout\` to be a number in [0, 1), but got ${String(rate)}.`);
  }
}

/** Checks a non-negative integer option (window sizes and the like). */
export function checkNonNegativeInt(fn: string, name: string, v: unknown): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new AttentionError(`${fn}: expected \`${name}\` to be a non-negative integer, but got ${String(v)}.`);
  }
}

/** Converts a checked input to a tensor of the given dtype (allocates when `x` is not already one). */
export function toTensor(x: TensorInput, dtype?: tf.DataType): tf.Tensor {
  const t = x instanceof tf.Tensor ? x : tf.tensor(x as tf.TensorLike);
  return dtype !== undefined && t.dtype !== dtype ? t.cast(dtype) : t;
}

/** Converts a checked mask to a bool tensor: nonzero = may attend. */
export function toBoolMask(x: TensorInput): tf.Tensor {
  const t = toTensor(x);
  return t.dtype === 'bool' ? t : tf.notEqual(t, 0);
}

/** How a value prints in a message: strings quoted, objects by kind. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object') return v instanceof tf.Tensor ? `a tensor ${fmt(v.shape)}` : 'an object';
  return String(v);
}

/**
 * Checks an options (or layer arguments) argument: absent, or a plain object.
 * One check for every public function and layer that takes options.
 */
export function checkOptions<T>(fn: string, options: T, name = 'options'): T {
  if (options === undefined) return options;
  if (options === null || typeof options !== 'object' || Array.isArray(options) || options instanceof tf.Tensor) {
    throw new AttentionError(`${fn}: expected \`${name}\` to be an object, but got ${describeValue(options)}.`);
  }
  return options;
}

/**
 * Throws an AttentionError naming every key of `options` (with a value other
 * than `undefined`) that is not among `valid`, with the valid ones listed and
 * the likely one suggested (`is_causal` → `causal`), so that a misspelled
 * option is not silently ignored. Allocates nothing.
 */
export function checkOptionNames(fn: string, options: object | undefined, valid: readonly string[]): void {
  if (options === undefined || options === null) return;
  const values = options as Record<string, unknown>;
  const unknown = Object.keys(options).filter((k) => !valid.includes(k) && values[k] !== undefined);
  if (unknown.length === 0) return;
  const described = unknown.map((k) => {
    const s = suggestOption(k, valid);
    return s === undefined ? k : `${k} (did you mean ${s}?)`;
  });
  throw new AttentionError(
    `${fn}: expected options among ${valid.join(', ')}, but got ${unknown.length === 1 ? 'the unknown option' : 'unknown options'} ${described.join(', ')}.`,
  );
}

/** Checks a `training` flag: absent (false) or a boolean; `'yes'` or 1 is an error, not a silent false. */
export function checkTraining(fn: string, training: unknown): boolean {
  if (training === undefined || training === null) return false;
  if (typeof training !== 'boolean') {
    throw new AttentionError(`${fn}: expected \`training\` to be a boolean, but got ${describeValue(training)}.`);
  }
  return training;
}

/** Checks an optional boolean option: absent or a boolean (`'yes'` is an error, not false). */
export function checkBoolean(fn: string, name: string, v: unknown): void {
  if (v !== undefined && typeof v !== 'boolean') {
    throw new AttentionError(`${fn}: expected \`${name}\` to be a boolean, but got ${describeValue(v)}.`);
  }
}

/** Checks an optional dropout seed: absent or an integer. */
export function checkSeed(fn: string, v: unknown): void {
  if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v))) {
    throw new AttentionError(`${fn}: expected \`seed\` to be an integer, but got ${describeValue(v)}.`);
  }
}

/** Checks an integer option in [min, max]. */
export function checkInteger(fn: string, name: string, v: unknown, min = -Infinity, max = Infinity): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    const range = min === -Infinity && max === Infinity ? 'an integer'
      : max === Infinity ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`;
    throw new AttentionError(`${fn}: expected \`${name}\` to be ${range}, but got ${describeValue(v)}.`);
  }
  return v;
}

/**
 * Most elements a table built in JavaScript (a mask, a position table) may
 * have: 2^28 (a 256 MiB bool mask, 1 GiB of float32).
 */
export const MAX_TABLE_ELEMENTS = 2 ** 28;

/** Refuses a table of `dims` elements beyond {@link MAX_TABLE_ELEMENTS}, before it is allocated. */
export function checkTableSize(fn: string, what: string, dims: readonly number[], hint = ''): void {
  const n = dims.reduce((a, b) => a * b, 1);
  if (n > MAX_TABLE_ELEMENTS) {
    throw new AttentionError(
      `${fn}: expected ${what} of at most ${MAX_TABLE_ELEMENTS} elements, but got ${dims.join('·')} = ${n}.${hint === '' ? '' : ` ${hint}`}`,
    );
  }
}

/**
 * Checks token ids: integers in [0, vocabularySize). Reads the values
 * (a small synchronous read), so a float id such as 1.7 is refused instead of
 * being truncated, and an id past the vocabulary instead of gathering garbage.
 */
export function checkTokenIds(fn: string, ids: tf.Tensor, vocabularySize: number): void {
  if (ids.dtype !== 'int32' && ids.dtype !== 'float32') {
    throw new AttentionError(`${fn}: expected token ids of dtype int32 (or float32 holding integers), but got dtype ${ids.dtype}.`);
  }
  const values = ids.dataSync();
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < 0 || v >= vocabularySize) {
      throw new AttentionError(
        `${fn}: expected token ids to be integers in [0, ${vocabularySize}) (vocabularySize=${vocabularySize}), but got ${ids.dtype === 'float32' ? Number(v.toPrecision(7)) : v} at flat index ${i} of ids ${fmt(ids.shape)}.`,
      );
    }
  }
}
