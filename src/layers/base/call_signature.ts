/**
 * How a layer is called, declared by the layer class itself (a static
 * `callSignature`), so that the Keras loader and the check of call options
 * read one source. Adding a layer never means editing `io/`.
 */
import * as tf from '@tensorflow/tfjs';

/** A layer's call, in Keras's terms and in the library's. */
export interface CallSignature {
  /**
   * Keras's call parameters after the first (positional) input, in
   * signature order, e.g. MultiHeadAttention: `['value', 'key', 'query_mask',
   * 'value_mask', 'key_mask', 'attention_mask', 'return_attention_scores',
   * 'training', 'use_causal_mask']`. Empty for a one-input call.
   */
  readonly keras: readonly string[];
  /** Of those, the tensors that the tfjs layer takes as extra inputs, in its input order. */
  readonly tensorInputs: readonly string[];
  /**
   * When a later tensor input is given but an earlier one is not: the input
   * whose tensor fills the gap (MultiHeadAttention's key defaults to value).
   */
  readonly fill?: Readonly<Record<string, string>>;
  /** Input order to use instead when the named tensor argument is absent. */
  readonly inputsWithout?: Readonly<Record<string, readonly string[]>>;
  /** The layer takes a config `input_names` naming its inputs after the first, so absent arguments are skipped. */
  readonly namedInputs?: boolean;
  /** Keras call options that become layer config in a loaded model (tfjs's executor drops call kwargs). */
  readonly optionsAsConfig: readonly string[];
  /** The call options (camelCase) that `apply`/`call` accept in JavaScript; any other is refused by name. */
  readonly callOptions: readonly string[];
}

/** A layer class that declares its call. */
export interface WithCallSignature {
  readonly callSignature: CallSignature;
}

/**
 * The call signature a registered layer class declares, or undefined for
 * classes that declare none (tfjs's own layers). Looks the class up in tfjs's
 * serialization registry by its class name, own properties only.
 */
export function callSignatureOf(className: string): CallSignature | undefined {
  const map = tf.serialization.SerializationMap.getMap().classNameMap;
  if (!Object.prototype.hasOwnProperty.call(map, className)) return undefined;
  const [cls] = map[className] as unknown as [Partial<WithCallSignature>, unknown];
  return Object.prototype.hasOwnProperty.call(cls, 'callSignature') ? cls.callSignature : undefined;
}
