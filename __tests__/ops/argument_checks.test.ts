/**
 * Issue 11, items 10-11 (the ops): inputs that were silently accepted or
 * answered with an unclear error each get an AttentionError naming the
 * function, the argument, what was expected and what came, before any
 * tensor is allocated.
 */
import * as tf from '@tensorflow/tfjs';
import {
  additiveAttention, alibiSlopes, attentionWeights, causalMask, paddingMask, relativePositionBucket, scaledDotProductAttention,
} from '../../src';
import { refuses } from '../refuses';
import { alibiBias, relativePositionOneHot, rotaryCosSin, sinePositionEncoding } from '../../src/ops/position';


const q = [[[1, 0], [0, 1]]];
const k = [[[1, 0], [0, 1], [1, 1]]];
const v = [[[1], [2], [3]]];

describe('options and arguments of the attention functions', () => {
  it.each([
    ['scaledDotProductAttention', () => scaledDotProductAttention(q, k, v, null as never)],
    ['attentionWeights', () => attentionWeights(q, k, null as never)],
    ['additiveAttention', () => additiveAttention(q, k, v, null as never)],
  ])('%s: options null is "expected `options` to be an object"', (fn, f) => {
    refuses(f, new RegExp(`^${fn}: expected \`options\` to be an object, but got null\\.$`));
  });

  it.each([
    ['scaledDotProductAttention', () => scaledDotProductAttention(q, k, v, 5 as never)],
    ['additiveAttention', () => additiveAttention(q, k, v, [] as never)],
  ])('%s: options that are not an object', (fn, f) => refuses(f, new RegExp(`${fn}: expected \`options\` to be an object, but got (5|an array)`)));

  it.each([
    ['scaledDotProductAttention', () => scaledDotProductAttention(q, k, undefined as never)],
    ['additiveAttention', () => additiveAttention(q, k, undefined as never)],
  ])('%s: value undefined names `value`', (fn, f) => {
    expect(f).toThrow(new RegExp(`${fn}: expected \`value\` to be a tf.Tensor or a nested array of numbers, but got undefined`));
  });

  it.each(['yes', 1, 'true', {}])('training %p is an error, not dropout silently off', (training) => {
    refuses(() => scaledDotProductAttention(q, k, v, { dropout: 0.5, training: training as never }), /scaledDotProductAttention: expected `training` to be a boolean, but got/);
    refuses(() => additiveAttention(q, k, v, { dropout: 0.5, training: training as never }), /additiveAttention: expected `training` to be a boolean/);
    refuses(() => attentionWeights(q, k, { training: training as never }), /attentionWeights: expected `training` to be a boolean/);
  });

  it.each([
    ['returnWeights', { returnWeights: 'yes' }, /expected `returnWeights` to be a boolean, but got "yes"/],
    ['seed', { seed: 1.5, dropout: 0.5, training: true }, /expected `seed` to be an integer, but got 1\.5/],
    ['seed', { seed: 'abc', dropout: 0.5, training: true }, /expected `seed` to be an integer, but got "abc"/],
  ])('%s of the wrong type is an error, not silently ignored', (_name, options, message) => {
    refuses(() => scaledDotProductAttention(q, k, v, options as never), message);
    refuses(() => additiveAttention(q, k, v, options as never), message);
  });

  it.each(['naive', 'blocked', 'chunked', 'fused', 'auto'] as const)('a scalar mask is refused on %s (and on additiveAttention)', (implementation) => {
    const one = tf.scalar(1);
    const yes = tf.scalar(true, 'bool');
    refuses(() => scaledDotProductAttention(q, k, v, { mask: one, implementation }), /scaledDotProductAttention: expected `mask` to have rank >= 1 and broadcast to \[1,2,3\], but got a scalar/);
    refuses(() => additiveAttention(q, k, v, { mask: yes }), /additiveAttention: expected `mask` to have rank >= 1 and broadcast to \[1,2,3\], but got a scalar/);
    tf.dispose([one, yes]);
  });
});

describe('mask sizes', () => {
  it('causalMask(1e5, 1e5) is refused by size before allocating, and points to causal: true', () => {
    refuses(() => causalMask(1e5, 1e5), /causalMask: expected a \[queryLength, keyLength\] mask of at most 268435456 elements, but got 100000·100000 = 10000000000\. For long sequences pass `causal: true`/);
    expect(causalMask(3).shape).toEqual([3, 3]);
  });

  it('paddingMask with a huge keyLength is refused by size', () => {
    refuses(() => paddingMask([1, 2], 1e10), /paddingMask: expected a \[B, 1, keyLength\] mask of at most 268435456 elements, but got 2·10000000000/);
  });
});

describe('position maths', () => {
  it.each([2.5, 0, -1, NaN, Infinity, '4', 2 ** 21])('alibiSlopes(%p) is an error (2.5 returned 2 slopes, 0/-1/NaN overflowed the stack)', (n) => {
    refuses(() => alibiSlopes(n as never), /alibiSlopes: expected `N \(the number of heads\)` to be an integer in \[1, 1048576\], but got/);
  });

  it('alibiSlopes of valid counts match the paper (2^(-8i/N))', () => {
    expect(alibiSlopes(4)).toEqual([2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8]);
    expect(alibiSlopes(3)).toEqual([2 ** -4, 2 ** -8, 2 ** -2]);
  });

  it.each([
    [[NaN, true, 32, 128], /relativePositionBucket: expected `relative` to be an integer in .*, but got NaN/],
    [[1.5, true, 32, 128], /expected `relative` to be an integer .*, but got 1\.5/],
    [[1, 'yes', 32, 128], /expected `bidirectional` to be a boolean, but got "yes"/],
    [[1, true, 0, 128], /expected `numBuckets` to be an integer in \[4, 1048576\], but got 0/],
    [[1, true, 3, 128], /expected `numBuckets` to be an integer in \[4, 1048576\], but got 3/],
    [[1, false, 1, 128], /expected `numBuckets` to be an integer in \[2, 1048576\], but got 1/],
    [[1, true, 1.5, 128], /expected `numBuckets` to be an integer in \[4, 1048576\], but got 1\.5/],
    [[1, true, 32, 8], /expected `maxDistance` to be an integer in \[9, \d+\], but got 8/],
    [[1, true, 32, NaN], /expected `maxDistance` to be an integer .*, but got NaN/],
  ])('relativePositionBucket(%p) is an error, not NaN or a fraction', (args, message) => {
    refuses(() => relativePositionBucket(...(args as [number, boolean, number, number])), message);
  });

  it('relativePositionBucket gives T5\'s buckets for valid input (values from T5\'s formula by hand)', () => {
    // bidirectional, 32 buckets, maxDistance 128: 16 per direction, 8 exact.
    expect(relativePositionBucket(0, true, 32, 128)).toBe(0);
    expect(relativePositionBucket(-3, true, 32, 128)).toBe(3);
    expect(relativePositionBucket(3, true, 32, 128)).toBe(19);
    // n = 20: 8 + floor(log(20/8) / log(128/8) * 8) = 8 + floor(2.643) = 10
    expect(relativePositionBucket(-20, true, 32, 128)).toBe(10);
    expect(relativePositionBucket(-1000, true, 32, 128)).toBe(15);
  });

  it('the table builders check their sizes and integers before allocating', () => {
    refuses(() => alibiBias(4, 1e5, 1e5), /alibiBias: expected an \[N, T, S\] bias of at most 268435456 elements/);
    refuses(() => alibiBias(2.5, 2, 2), /alibiBias: expected `N` to be an integer in \[1, 1048576\], but got 2\.5/);
    refuses(() => relativePositionOneHot(1e4, 1e4, true, 32, 128), /relativePositionOneHot: expected a \[T·S, numBuckets\] table of at most/);
    refuses(() => relativePositionOneHot(2, 2, true, 3, 128), /relativePositionOneHot: expected `numBuckets` to be an integer in \[4/);
    refuses(() => sinePositionEncoding(1.5, 4), /sinePositionEncoding: expected `T` to be an integer >= 0, but got 1\.5/);
    refuses(() => sinePositionEncoding(4, 4, 0), /sinePositionEncoding: expected `maxWavelength` to be a finite positive number, but got 0/);
    refuses(() => rotaryCosSin(4, 3), /rotaryCosSin: expected `D` to be even, but got 3/);
    refuses(() => rotaryCosSin(4, 4, 10000, NaN), /rotaryCosSin: expected `scalingFactor` to be a finite positive number, but got NaN/);
  });
});
