// The model of the fault-injection test: Dense(INPUTS -> units) whose weights
// are a pure function of a seed, so that the parent can tell, bit for bit,
// which save a directory holds.
export const INPUTS = 1024;

/** Kernel [INPUTS * units] and bias [units] of the model of `seed`. */
export function modelWeights(seed, units) {
  const kernel = new Float32Array(INPUTS * units);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < kernel.length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    kernel[i] = (x >>> 8) / 16777216 - 0.5 + seed;
  }
  const bias = new Float32Array(units).map((_, i) => seed * 1000 + i);
  return [kernel, bias];
}
