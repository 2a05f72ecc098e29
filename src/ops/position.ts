/**
 * Position maths: sinusoidal encodings, rotary embeddings, ALiBi slopes and
 * biases, and T5's relative-position buckets. Tables are computed in float64
 * JavaScript and handed to tfjs as float32 constants.
 *
 * Shape legend: T query length, S key length, D features, N heads.
 */
import * as tf from '@tensorflow/tfjs';
import { AttentionError } from '../errors';
import { checkInteger, checkTableSize, describeValue } from './checks';

function checkPositive(fn: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new AttentionError(`${fn}: expected \`${name}\` to be a finite positive number, but got ${describeValue(v)}.`);
  }
  return v;
}

/** Checks T and D of a [T, D] position table, and its size. */
function checkTable(fn: string, T: unknown, D: unknown, startIndex: unknown): void {
  checkInteger(fn, 'T', T, 0);
  checkInteger(fn, 'D', D, 0);
  checkInteger(fn, 'startIndex', startIndex, 0);
  checkTableSize(fn, 'a [T, D] table', [T as number, D as number]);
}

/**
 * keras-hub's sinusoidal position encoding: feature `d` of position `p` is
 * `sin(p·w)` for even `d` and `cos(p·w)` for odd `d`, with
 * `w = (1/maxWavelength)^(2·floor(d/2)/D)`.
 *
 * @returns float32 `[T, D]`.
 */
export function sinePositionEncoding(T: number, D: number, maxWavelength = 10000, startIndex = 0): tf.Tensor2D {
  checkTable('sinePositionEncoding', T, D, startIndex);
  checkPositive('sinePositionEncoding', 'maxWavelength', maxWavelength);
  const data = new Float32Array(T * D);
  for (let t = 0; t < T; t++) {
    const p = t + startIndex;
    for (let d = 0; d < D; d++) {
      const w = Math.pow(1 / maxWavelength, (2 * Math.floor(d / 2)) / D);
      data[t * D + d] = d % 2 === 0 ? Math.sin(p * w) : Math.cos(p * w);
    }
  }
  return tf.tensor2d(data, [T, D]);
}

/**
 * The cosines and sines of keras-hub's rotary embedding for positions
 * `startIndex..startIndex+T-1` (divided by `scalingFactor`) and a feature
 * size D (even): angle `(p / scalingFactor) · maxWavelength^(-2i/D)` for
 * `i < D/2`, repeated for both halves.
 *
 * @returns `[cos, sin]`, each float32 `[T, D]`.
 */
export function rotaryCosSin(T: number, D: number, maxWavelength = 10000, scalingFactor = 1, startIndex = 0): [tf.Tensor2D, tf.Tensor2D] {
  const fn = 'rotaryCosSin';
  checkTable(fn, T, D, startIndex);
  if (D % 2 !== 0) throw new AttentionError(`${fn}: expected \`D\` to be even, but got ${D}.`);
  checkPositive(fn, 'maxWavelength', maxWavelength);
  checkPositive(fn, 'scalingFactor', scalingFactor);
  const half = D / 2;
  const cos = new Float32Array(T * D);
  const sin = new Float32Array(T * D);
  for (let t = 0; t < T; t++) {
    const p = (t + startIndex) / scalingFactor;
    for (let i = 0; i < half; i++) {
      const a = p / Math.pow(maxWavelength, (2 * i) / D);
      cos[t * D + i] = cos[t * D + i + half] = Math.cos(a);
      sin[t * D + i] = sin[t * D + i + half] = Math.sin(a);
    }
  }
  return [tf.tensor2d(cos, [T, D]), tf.tensor2d(sin, [T, D])];
}

/**
 * Rotary position embedding with split-half rotation, as keras-hub:
 * `x·cos + rotateHalf(x)·sin`, `rotateHalf([x1, x2]) = [-x2, x1]`.
 *
 * @param x float32 `[..., T, D]` (positions on axis -2, features on axis -1; D even).
 * @returns float32, the shape of `x`.
 */
export function applyRotary(x: tf.Tensor, maxWavelength = 10000, scalingFactor = 1, startIndex = 0): tf.Tensor {
  if (!(x instanceof tf.Tensor) || x.rank < 2) {
    throw new AttentionError(`applyRotary: expected \`x\` to be a tensor of rank >= 2 [..., T, D], but got ${describeValue(x)}.`);
  }
  const D = x.shape[x.rank - 1];
  const T = x.shape[x.rank - 2];
  if (D % 2 !== 0) {
    throw new AttentionError(`applyRotary: expected an even feature size, but got shape [${x.shape.join(',')}].`);
  }
  return tf.tidy(() => {
    const [cos, sin] = rotaryCosSin(T, D, maxWavelength, scalingFactor, startIndex);
    const [x1, x2] = tf.split(x, 2, -1);
    const rotated = tf.concat([tf.neg(x2), x1], -1);
    return tf.add(tf.mul(x, cos), tf.mul(rotated, sin));
  });
}

/**
 * ALiBi slopes for N heads (Press et al. 2022, and the paper's reference
 * code for N not a power of 2): for N = 2^k, `2^(-8i/N)` for i = 1..N;
 * otherwise those of the closest lower power of 2 followed by every other
 * slope of twice that.
 *
 * @param N The number of heads, an integer in [1, 2^20].
 * @returns N slopes.
 * @throws AttentionError when N is not such an integer (2.5, 0, -1, NaN).
 */
export function alibiSlopes(N: number): number[] {
  checkInteger('alibiSlopes', 'N (the number of heads)', N, 1, MAX_HEADS);
  return slopes(N);
}

/** Most heads alibiSlopes accepts. */
const MAX_HEADS = 2 ** 20;

function slopes(N: number): number[] {
  const pow2 = (n: number): number[] => {
    const start = Math.pow(2, -Math.pow(2, -(Math.log2(n) - 3)));
    return Array.from({ length: n }, (_, i) => start * Math.pow(start, i));
  };
  if (Number.isInteger(Math.log2(N))) return pow2(N);
  const closest = Math.pow(2, Math.floor(Math.log2(N)));
  return [...pow2(closest), ...slopes(2 * closest).filter((_, i) => i % 2 === 0).slice(0, N - closest)];
}

/**
 * ALiBi score bias `-slope_n · |i - j|`, float32 `[N, T, S]`. With a causal
 * mask only `j <= i` survives, which is the paper's `-slope·(i - j)`.
 */
export function alibiBias(N: number, T: number, S: number): tf.Tensor3D {
  checkInteger('alibiBias', 'N', N, 1, MAX_HEADS);
  checkInteger('alibiBias', 'T', T, 0);
  checkInteger('alibiBias', 'S', S, 0);
  checkTableSize('alibiBias', 'an [N, T, S] bias', [N, T, S]);
  const m = slopes(N);
  const data = new Float32Array(N * T * S);
  for (let n = 0; n < N; n++) {
    for (let i = 0; i < T; i++) {
      for (let j = 0; j < S; j++) data[(n * T + i) * S + j] = -m[n] * Math.abs(i - j);
    }
  }
  return tf.tensor3d(data, [N, T, S]);
}

/**
 * T5's relative-position bucket of `j - i` (key minus query position):
 * exact buckets for small distances, logarithmic ones up to `maxDistance`,
 * and separate buckets for keys before and after the query when
 * `bidirectional`.
 *
 * @param relative `j - i`, an integer.
 * @param bidirectional Whether keys after the query get their own buckets.
 * @param numBuckets An integer >= 2 (>= 4 when bidirectional, which halves it).
 * @param maxDistance An integer above the exact range `floor(buckets / 2)`.
 * @returns The bucket, an integer in [0, numBuckets).
 * @throws AttentionError for a non-integer relative position, a bucket count
 *   or distance out of range (NaN, 0, 3 with bidirectional, 1.5).
 */
export function relativePositionBucket(relative: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
  const fn = 'relativePositionBucket';
  checkInteger(fn, 'relative', relative, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  checkBuckets(fn, bidirectional, numBuckets, maxDistance);
  return bucket(relative, bidirectional, numBuckets, maxDistance);
}

/**
 * Checks T5's bucket options: `bidirectional` a boolean; `numBuckets` an
 * integer >= 2 (>= 4 when bidirectional, which halves it); `maxDistance` an
 * integer above the exact range, `floor(buckets / 2)`.
 */
function checkBuckets(fn: string, bidirectional: unknown, numBuckets: unknown, maxDistance: unknown): void {
  if (typeof bidirectional !== 'boolean') {
    throw new AttentionError(`${fn}: expected \`bidirectional\` to be a boolean, but got ${describeValue(bidirectional)}.`);
  }
  const nb = checkInteger(fn, 'numBuckets', numBuckets, bidirectional ? 4 : 2, 2 ** 20);
  const maxExact = Math.floor((bidirectional ? Math.floor(nb / 2) : nb) / 2);
  checkInteger(fn, 'maxDistance', maxDistance, maxExact + 1, Number.MAX_SAFE_INTEGER);
}

function bucket(relative: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
  let ret = 0;
  let n = -relative;
  let buckets = numBuckets;
  if (bidirectional) {
    buckets = Math.floor(buckets / 2);
    if (n < 0) ret += buckets;
    n = Math.abs(n);
  } else {
    n = Math.max(n, 0);
  }
  const maxExact = Math.floor(buckets / 2);
  if (n < maxExact) return ret + n;
  const large = maxExact + Math.floor((Math.log(n / maxExact) / Math.log(maxDistance / maxExact)) * (buckets - maxExact));
  return ret + Math.min(large, buckets - 1);
}

/**
 * One-hot bucket matrix of every (query, key) pair, float32
 * `[T·S, numBuckets]`: multiplying it by a `[numBuckets, N]` table looks the
 * biases up with a matrix product, which trains on every backend (the
 * gradient of `gather` is missing on wasm in tfjs 4.22).
 */
export function relativePositionOneHot(T: number, S: number, bidirectional: boolean, numBuckets: number, maxDistance: number): tf.Tensor2D {
  const fn = 'relativePositionOneHot';
  checkInteger(fn, 'T', T, 0);
  checkInteger(fn, 'S', S, 0);
  checkBuckets(fn, bidirectional, numBuckets, maxDistance);
  checkTableSize(fn, 'a [T·S, numBuckets] table', [T, S, numBuckets]);
  const data = new Float32Array(T * S * numBuckets);
  for (let i = 0; i < T; i++) {
    for (let j = 0; j < S; j++) {
      data[(i * S + j) * numBuckets + bucket(j - i, bidirectional, numBuckets, maxDistance)] = 1;
    }
  }
  return tf.tensor2d(data, [T * S, numBuckets]);
}
