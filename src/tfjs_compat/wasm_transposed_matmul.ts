/**
 * tfjs 4.22's wasm `BatchMatMul` with `transposeA` or `transposeB` runs about
 * a tenth as fast as without (here, `[2048, 512]·[512, 512]ᵀ`: 2.3 GFLOP/s
 * against 29 for the plain product; `npm run bench -- --kernel` prints both).
 * Those flags are what the gradient of every `tf.matMul` uses
 * (`dA = dC·Bᵀ`, `dB = Aᵀ·dC`), so training anything with a dense layer or
 * a projection (MultiHeadAttention's, the Transformer blocks' feed-forward)
 * on wasm spent most of its backward pass there.
 *
 * This wraps the wasm kernel through tfjs's public registry: a product with
 * a transposed operand transposes it first with the wasm `Transpose` kernel
 * (a copy, fast) and runs the plain product; the temporary is freed before
 * returning. Values are the same products of the same numbers.
 */
import * as tf from '@tensorflow/tfjs';

const KERNEL = 'BatchMatMul';
const BACKEND = 'wasm';

type Info = { dataId: object; shape: number[]; dtype: tf.DataType };
interface Attrs {
  transposeA: boolean;
  transposeB: boolean;
}
interface BackendLike {
  disposeData(dataId: object): unknown;
}

/** Set on the wrapper so that registering twice is a no-op. */
const WRAPPED = Symbol('tfjs-attention transposed matMul');

/**
 * Wraps the wasm `BatchMatMul` kernel as described above, unless the wasm
 * backend has no such kernel or it is wrapped already. Returns whether it
 * wrapped it. Idempotent.
 */
export function registerWasmTransposedMatMul(): boolean {
  const original = tf.getKernel(KERNEL, BACKEND);
  const transpose = tf.getKernel('Transpose', BACKEND);
  if (!original || !transpose || (original.kernelFunc as { [WRAPPED]?: boolean })[WRAPPED]) return false;
  const plain = original.kernelFunc;
  const kernelFunc = ((args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }) => {
    const attrs = args.attrs as unknown as Attrs;
    if (!attrs.transposeA && !attrs.transposeB) return plain(args as Parameters<tf.KernelFunc>[0]);
    const backend = args.backend as BackendLike;
    const temps: Info[] = [];
    const flip = (x: Info): Info => {
      const perm = x.shape.map((_, i) => i);
      const r = perm.length;
      [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
      const t = transpose.kernelFunc({ inputs: { x } as unknown as tf.NamedTensorInfoMap, backend: args.backend, attrs: { perm } } as Parameters<tf.KernelFunc>[0]) as unknown as Info;
      temps.push(t);
      return t;
    };
    try {
      const a = args.inputs['a'] as unknown as Info;
      const b = args.inputs['b'] as unknown as Info;
      const inputs = { a: attrs.transposeA ? flip(a) : a, b: attrs.transposeB ? flip(b) : b } as unknown as tf.NamedTensorInfoMap;
      return plain({ ...args, inputs, attrs: { ...args.attrs, transposeA: false, transposeB: false } } as Parameters<tf.KernelFunc>[0]);
    } finally {
      for (const t of temps) backend.disposeData(t.dataId);
    }
  }) as tf.KernelFunc;
  (kernelFunc as { [WRAPPED]?: boolean })[WRAPPED] = true;
  tf.unregisterKernel(KERNEL, BACKEND);
  tf.registerKernel({ ...original, kernelFunc });
  return true;
}
