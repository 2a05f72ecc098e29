/**
 * `UnsortedSegmentSum` for the wasm backend, which tfjs 4.22 lacks.
 *
 * `tf.unsortedSegmentSum` is the gradient of `tf.gather`, so without it
 * nothing built on `tf.layers.embedding` (this library's
 * `TokenAndPositionEmbedding` and `PositionEmbedding` included, and a user's
 * own embedding) can train on wasm: `fit` fails with "Kernel
 * 'UnsortedSegmentSum' not registered for backend 'wasm'". This registers the
 * kernel through tfjs's public registry (`tf.registerKernel`); it reads its
 * inputs with the backend's `readSync` and writes the output in place on the
 * wasm heap through `makeOutput` / `typedArrayFromHeap`, as the wasm
 * backend's own JavaScript kernels do.
 *
 * Semantics are TensorFlow's: `segmentIds` is int32 with a shape that is a
 * prefix of `x`'s; output `[numSegments, ...x.shape.slice(segmentIds.rank)]`,
 * `out[s] = Σ x[i]` over the `i` with `segmentIds[i] = s`; ids outside
 * `[0, numSegments)` are dropped, empty segments are 0.
 */
import * as tf from '@tensorflow/tfjs';

const KERNEL = 'UnsortedSegmentSum';
const BACKEND = 'wasm';

type Numeric = Float32Array | Int32Array | Uint8Array;
type Info = { dataId: object; shape: number[]; dtype: tf.DataType };

/** The public methods of tfjs-backend-wasm's BackendWasm that the kernel uses. */
interface WasmBackendLike {
  readSync(dataId: object): unknown;
  makeOutput(shape: number[], dtype: tf.DataType): Info;
  typedArrayFromHeap(info: Info): Numeric;
}

function unsortedSegmentSum(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const x = args.inputs['x'] as Info;
  const segmentIds = args.inputs['segmentIds'] as Info;
  const numSegments = (args.attrs as { numSegments: number }).numSegments;
  const backend = args.backend as WasmBackendLike;
  const values = backend.readSync(x.dataId) as Numeric;
  const ids = backend.readSync(segmentIds.dataId) as Numeric;
  const inner = x.shape.slice(segmentIds.shape.length).reduce((a, b) => a * b, 1);
  const out = backend.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
  const sums = backend.typedArrayFromHeap(out);
  sums.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) sums[dst + j] += values[src + j];
  }
  return out as unknown as tf.TensorInfo;
}

/**
 * Registers `UnsortedSegmentSum` for the wasm backend, unless a kernel of
 * that name is already registered there (a later tfjs that has its own).
 * Returns whether it registered one. Idempotent.
 */
export function registerWasmUnsortedSegmentSum(): boolean {
  if (tf.getKernel(KERNEL, BACKEND) !== undefined) return false;
  tf.registerKernel({ kernelName: KERNEL, backendName: BACKEND, kernelFunc: unsortedSegmentSum as tf.KernelFunc });
  return true;
}
