/**
 * The base of the library's layers: what every one of them checks on `apply`
 * before tfjs runs it, in the layer's name and the caller's terms.
 *
 * - Call options: any option the class does not declare in its static
 *   `callSignature.callOptions` is refused by name (`checkCallOptions`).
 * - Keras masks: each mask of `maskedInputs` is `[B, T]` of its input.
 * - A first call that fails: the layer is left unbuilt and the weights the
 *   call made are freed (`asFirstCall`), so a refused first call leaves no
 *   tensor behind and the next call builds the layer for its own shapes.
 * - Reuse at another width: a layer's weights are made for the widths of its
 *   first call; a later call with another width would fail deep inside tfjs
 *   (`Size(256) must match the product of shape 12,16`), so it is refused
 *   first, saying what happened.
 */
import * as tf from '@tensorflow/tfjs';
import { AttentionError } from '../../errors';
import type { LayerArgs } from '../tfjs_types';
import { checkTableSize } from '../../ops/checks';
import { checkCallOptions } from './call_options';
import { asFirstCall } from './first_call';
import { checkKerasMasks } from './keras_masks';
import type { WithCallSignature } from './call_signature';

type Inputs = tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[];
/** tfjs's type of call options (`Kwargs` in tfjs-layers), which subclasses narrow. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyKwargs = { [key: string]: any };

type AddWeightRest = Parameters<tf.layers.Layer['addWeight']> extends [unknown, unknown, ...infer R] ? R : never;

const showShape = (s: ReadonlyArray<number | null>) => `[${s.map((d) => (d === null ? 'null' : d)).join(',')}]`;

export abstract class LibraryLayer extends tf.layers.Layer {
  /**
   * The names of the leading inputs whose last dimension the weights are
   * built for, in input order (checked on every call after the first).
   * Default: the first input. Empty for layers without width-bound weights.
   */
  protected readonly widthBoundInputs: readonly string[] = ['input'];
  /**
   * The inputs whose Keras masks (the `mask` call option) the layer reads, in
   * input order, as named in messages (`['query', 'value', 'key']`). Each
   * mask given must be `[B, T]` of its input; checked before the build.
   * Default: none (masks pass through unread).
   */
  protected readonly maskedInputs: readonly string[] = [];
  /** The shapes of those inputs at the first call. */
  private builtShapes?: Array<ReadonlyArray<number | null> | undefined>;

  constructor(args: LayerArgs) {
    super(args);
  }

  /**
   * Refuses a weight beyond `MAX_TABLE_ELEMENTS` (2^28) elements before its
   * initializer runs: `numHeads: 1e5, keyDim: 1e5` failed with an
   * out-of-memory crash or ran for minutes instead of failing fast.
   */
  override addWeight(name: string, shape: tf.Shape, ...rest: AddWeightRest): tf.LayerVariable {
    checkTableSize(this.messageName, `weight '${name}'`, shape as number[], 'Check the layer\'s size arguments.');
    return super.addWeight(name, shape, ...rest);
  }

  /** The class name the layer's messages start with. */
  protected get messageName(): string {
    return this.getClassName();
  }

  /**
   * Hook: checks the inputs' shapes (null: unknown, in a model being built)
   * and the call options, in the layer's name and the caller's shapes,
   * before tfjs builds or runs anything. Throws AttentionError.
   */
  protected checkCall(_inputs: ReadonlyArray<{ shape: ReadonlyArray<number | null> }>, _kwargs: AnyKwargs): void {}

  override apply(inputs: Inputs, kwargs?: AnyKwargs): Inputs {
    checkCallOptions(this.messageName, this.constructor as Partial<WithCallSignature>, kwargs);
    const list = (Array.isArray(inputs) ? inputs : [inputs]) as Array<{ shape: ReadonlyArray<number | null> } | undefined>;
    this.checkCall(list as Array<{ shape: ReadonlyArray<number | null> }>, kwargs ?? {});
    checkKerasMasks(this.messageName, list, kwargs?.['mask'], this.maskedInputs);
    const shapes = this.widthBoundInputs.map((_, i) => list[i]?.shape);
    if (this.builtShapes !== undefined) {
      this.widthBoundInputs.forEach((name, i) => {
        const was = this.builtShapes?.[i];
        const now = shapes[i];
        if (was === undefined || now === undefined) return;
        const w0 = was[was.length - 1];
        const w1 = now[now.length - 1];
        if (w0 !== null && w1 !== null && w0 !== w1) {
          throw new AttentionError(
            `${this.messageName}: expected ${name} of width ${w0}, but got ${name} ${showShape(now)}. ` +
              `This layer ('${this.name}') was built by its first call, with ${name} ${showShape(was)}, and its weights fit that width; ` +
              `use a new layer for inputs of another width.`,
          );
        }
      });
    }
    // A first call that throws after tfjs built the layer leaves it unbuilt, its weights freed.
    const out = asFirstCall(this, () => super.apply(inputs, kwargs));
    if (this.builtShapes === undefined && this.built) this.builtShapes = shapes;
    return out;
  }
}
