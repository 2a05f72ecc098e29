/**
 * Seeded dropout that moves, as Keras's `SeedGenerator`: a layer built with
 * `seed` draws a new dropout mask on every call that applies dropout, and the
 * sequence of masks is a pure function of the seed and the call count. Two
 * fresh layers (or two fresh processes) with the same seed, the same
 * `implementation`, backend and shapes reproduce the same sequence.
 *
 * The counter lives beside the layer (a WeakMap), is not serialised, and
 * starts at 0 for every new layer object, including one loaded from a file.
 */

const counters = new WeakMap<object, number>();

/**
 * The seed of call `counter` of a generator seeded with `seed`: a 32-bit mix
 * (splitmix32) of both, in [0, 2^31).
 */
export function mixSeed(seed: number, counter: number): number {
  let z = (Math.imul(seed | 0, 0x9e3779b9) + Math.imul(counter + 1, 0x85ebca6b)) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 1;
}

/**
 * The seed a layer passes to its dropout on this call: `undefined` when the
 * layer is unseeded; the fixed `seed` when dropout is inactive (nothing is
 * drawn); otherwise the next seed of the layer's sequence, advancing it.
 *
 * @param layer The layer object (keys its own counter).
 * @param seed The layer's `seed` argument.
 * @param active Whether this call applies dropout (training with a positive rate).
 */
export function nextDropoutSeed(layer: object, seed: number | undefined, active: boolean): number | undefined {
  if (seed === undefined || !active) return seed;
  const n = counters.get(layer) ?? 0;
  counters.set(layer, n + 1);
  return mixSeed(seed, n);
}
