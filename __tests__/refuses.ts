/** The shared expectation of a refusal: an AttentionError whose message matches, and no tensor left behind. */
import * as tf from '@tensorflow/tfjs';
import { AttentionError } from '../src/errors';

/** Expects `f` to throw an AttentionError matching `message` and to leave no tensor behind. */
export function refuses(f: () => unknown, message: RegExp): void {
  const before = tf.memory().numTensors;
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(AttentionError);
  expect((err as Error).message).toMatch(message);
  expect(tf.memory().numTensors).toBe(before);
}
