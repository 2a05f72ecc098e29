/**
 * tfjs 4.22 behaviour worked around here: tfjs's `GRU` refuses
 * `resetAfter: true` ("GRUCell does not support reset_after parameter set to
 * true"), which is Keras's default, so every Keras GRU fails to load.
 *
 * `ResetAfterGRU` is tfjs's GRU with Keras's reset-after cell: the bias is
 * `[2, 3·units]` (input bias, recurrent bias), the recurrent bias is added
 * before the reset gate is applied, and `r` multiplies the recurrent part of
 * the candidate: `z = σ(x·Wz + bz + h·Uz + b'z)`, `r = σ(x·Wr + br + h·Ur + b'r)`,
 * `ĥ = tanh(x·Wh + bh + r ⊙ (h·Uh + b'h))`, `h' = z ⊙ h + (1 - z) ⊙ ĥ`
 * (keras/src/layers/rnn/gru.py). The loader builds it for a Keras GRU with
 * `reset_after=True`; everything else (masking, sequences, states, going
 * backwards) is tfjs's RNN.
 *
 * Pinned by `__tests__/tfjs_compat/gru_lacks_reset_after.test.ts`.
 */
import * as tf from '@tensorflow/tfjs';
import type { Initializer } from '../layers/tfjs_types';

type Args = Record<string, unknown> & { units: number };
type CellLike = tf.layers.Layer & {
  units: number;
  useBias: boolean;
  kernel: tf.LayerVariable;
  recurrentKernel: tf.LayerVariable;
  bias: tf.LayerVariable | null;
  activation: { apply: (x: tf.Tensor) => tf.Tensor };
  recurrentActivation: { apply: (x: tf.Tensor) => tf.Tensor };
  kernelInitializer: Initializer;
  recurrentInitializer: Initializer;
  biasInitializer: Initializer;
  dropout: number;
  recurrentDropout: number;
};

// tfjs exports the GRU and its cell only through factories: their classes are the prototypes' constructors.
const GRUCellBase = Object.getPrototypeOf(tf.layers.gruCell({ units: 1 })).constructor as new (args: Args) => CellLike;
const GRUBase = Object.getPrototypeOf(tf.layers.gru({ units: 1 })).constructor as new (args: Args) => tf.RNN;

/** Keras's reset-after GRU cell. */
class ResetAfterGRUCell extends GRUCellBase {
  static className = 'ResetAfterGRUCell';

  constructor(args: Args) {
    super({ ...args, resetAfter: false });
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const inputDim = shape[shape.length - 1] as number;
    const U = this.units;
    this.kernel = this.addWeight('kernel', [inputDim, 3 * U], undefined, this.kernelInitializer, undefined, true);
    this.recurrentKernel = this.addWeight('recurrent_kernel', [U, 3 * U], undefined, this.recurrentInitializer, undefined, true);
    this.bias = this.useBias ? this.addWeight('bias', [2, 3 * U], undefined, this.biasInitializer, undefined, true) : null;
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
    return tf.tidy(() => {
      const [x, h] = inputs as tf.Tensor[];
      let mx = tf.matMul(x, this.kernel.read());
      let mh = tf.matMul(h, this.recurrentKernel.read());
      if (this.bias !== null) {
        const [bIn, bRec] = tf.unstack(this.bias.read());
        mx = tf.add(mx, bIn);
        mh = tf.add(mh, bRec);
      }
      const [xz, xr, xh] = tf.split(mx, 3, -1);
      const [hz, hr, hh] = tf.split(mh, 3, -1);
      const z = this.recurrentActivation.apply(tf.add(xz, hz));
      const r = this.recurrentActivation.apply(tf.add(xr, hr));
      const candidate = this.activation.apply(tf.add(xh, tf.mul(r, hh)));
      const out = tf.add(tf.mul(z, h), tf.mul(tf.sub(1, z), candidate));
      return [out, out];
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), resetAfter: true };
  }
}
tf.serialization.registerClass(ResetAfterGRUCell as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);

/**
 * tfjs's `GRU` layer with Keras's reset-after cell (see the file comment).
 * Dropout is not supported (Keras models predict without it; the loader's
 * models are for inference and fine-tuning without recurrent dropout).
 */
export class ResetAfterGRU extends GRUBase {
  static className = 'ResetAfterGRU';

  constructor(args: Args) {
    super({ ...args, resetAfter: false });
    (this as unknown as { cell: tf.layers.Layer }).cell = new ResetAfterGRUCell(args);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), resetAfter: true };
  }
}
tf.serialization.registerClass(ResetAfterGRU as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);

/** The class the loader builds for a Keras layer instead of tfjs's, by Keras class name and config (snake_case keys). */
export function resetAfterGRUReplacement(kerasName: string, config: Record<string, unknown>): string | undefined {
  return kerasName === 'GRU' && config.reset_after === true ? ResetAfterGRU.className : undefined;
}
