/**
 * tfjs 4.22 behaviours worked around here, all in how a layers model moves
 * Keras masks (`Embedding(maskZero)` padding) from layer to layer when it
 * runs (`predict`, `evaluate`, `fit`, `execute`):
 *
 * 1. First mask only. The executor computes every input's mask but hands a
 *    layer only the first one (`kwargs.mask = inputMasks[0]`), so a
 *    decoder's cross-attention never sees the encoder's padding, and
 *    `MultiHeadAttention(query, value)` never sees the value's.
 * 2. Stale masks. The executor writes that mask into one `kwargs` object
 *    shared by all layers and never clears it, so once a mask has appeared,
 *    every later layer receives it, also after a layer that drops masks
 *    (Keras's operation nodes, pooling, recurrent layers): Keras passes none.
 * 3. Merge masks. tfjs's `Add`/`Multiply`/... compute their output mask as
 *    the first mask with an extra leading axis and AND the rest (skipping
 *    the last); Keras ORs all masks, and gives none if any input has none.
 *    tfjs's `Concatenate` likewise differs from Keras's.
 * 4. Recurrent layers. From Keras 3.16 on, `LSTM`, `GRU`, `SimpleRNN` and
 *    `Bidirectional` pass no mask on (they still read the one they are
 *    given); tfjs's pass theirs on when they return sequences.
 * 5. MultiHeadAttention clears its inputs' masks. From Keras 3.8 on,
 *    `MultiHeadAttention.call` reads the Keras masks of query, value and key
 *    and then deletes them from those tensors, in place
 *    (`backend.set_keras_mask(query, None)`, likewise value and key). A layer
 *    that takes one of those tensors and runs after the attention sees no
 *    mask: in `Add([x, MultiHeadAttention()(x, x)])` the Add has an input
 *    without a mask, so (Keras's merge rule) its output has none, and the
 *    layers after it (LayerNormalization, a second attention layer) run
 *    unmasked. Measured with Keras 3.16 (torch) on model_attention_options of
 *    __tests__/fixtures/keras-real-extra. keras-hub's post-norm
 *    `TransformerEncoder` does the same to its input (its attention is
 *    called on that very tensor); `GroupQueryAttention`, keras-hub's
 *    pre-norm encoder and its decoders do not (measured with Keras 3.16 and
 *    keras-hub at 71453d08f: `Add([x, block(x)])` gets x without its mask
 *    only after MultiHeadAttention and the post-norm encoder;
 *    scripts/keras-golden/probe_mask_clearing.py). A mask passed
 *    as an explicit argument in the file (`mask=` of GlobalAveragePooling1D)
 *    is a graph tensor and is unaffected. The masks are cleared when tfjs's
 *    executor runs the layer; a consumer that Keras runs after it runs after
 *    it in tfjs too when it depends on it (a residual `Add`); for parallel
 *    branches of equal depth the two executors' orders may differ.

 * The workaround is per layer instance, in a loaded model only (tfjs's
 * prototypes are untouched), and acts only while the model itself runs
 * (`predict`, `predictOnBatch`, `execute`, `evaluate`, `evaluateDataset`,
 * `fit`, `fitDataset`, `trainOnBatch`; a direct `layer.apply(x, {mask})` is
 * left as called): each layer's `apply` gives the layer the masks
 * of all its inputs (`kwargs.mask`: the mask, or one per input) and only
 * those, read from the mask each input tensor carries (`kerasMask`); after
 * the call it puts the layer's output mask, computed as Keras computes it,
 * on each output tensor (a clone, freed with the tensor).
 *
 * Pinned by `__tests__/tfjs_compat/executor_mask_flow.test.ts`.
 */
import * as tf from '@tensorflow/tfjs';

type Masks = tf.Tensor | tf.Tensor[] | null | undefined;
type Apply = tf.layers.Layer['apply'];

const MERGES = ['Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum'];
const RECURRENT = ['LSTM', 'GRU', 'ResetAfterGRU', 'SimpleRNN', 'RNN', 'Bidirectional', 'ConvLSTM2D'];
/**
 * How many of a layer's first inputs Keras's `call` deletes the masks of
 * (item 5): MultiHeadAttention's query, value and key; keras-hub's
 * post-norm TransformerEncoder's input (its MultiHeadAttention is called on
 * the input tensor itself; pre-norm, on a LayerNormalization's output).
 */
function clearedInputs(layer: tf.layers.Layer): number {
  const cls = layer.getClassName();
  if (cls === 'MultiHeadAttention') return 3;
  if (cls === 'TransformerEncoder') return layer.getConfig().normalizeFirst === true ? 0 : 1;
  return 0;
}

/** Keras's merge mask: the OR of all masks, or none if any input has none. */
function mergeMask(masks: Array<tf.Tensor | null>): tf.Tensor | null {
  if (masks.length === 0 || masks.some((m) => m === null)) return null;
  const given = masks as tf.Tensor[];
  return tf.tidy(() => given.slice(1).reduce((a, m) => tf.logicalOr(a, tf.cast(m, 'bool')), tf.cast(given[0], 'bool')));
}

/** Keras's Concatenate mask: masks widened to their input's shape (all true where none), concatenated, any over the last axis. */
function concatenateMask(inputs: tf.Tensor[], masks: Array<tf.Tensor | null>, axis: number): tf.Tensor | null {
  if (masks.every((m) => m === null)) return null;
  return tf.tidy(() => {
    const full = inputs.map((x, i) => {
      const m = masks[i];
      if (m === null) return tf.onesLike(x).cast('bool');
      const b = tf.cast(m, 'bool');
      return m.rank < x.rank ? tf.logicalOr(tf.expandDims(b, -1), tf.zerosLike(x).cast('bool')) : b;
    });
    return tf.any(tf.concat(full, axis), -1);
  });
}

function asList<T>(x: T | T[]): T[] {
  return Array.isArray(x) ? x : [x];
}

/** Whether a Keras version string is at least major.minor; an unknown version is taken as the newest (a `to_json()` topology has none). */
function atLeast(version: string | undefined, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version ?? '');
  if (m === null) return true;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > major || (a === major && b >= minor);
}

/**
 * The output mask of `layer` for concrete inputs and their masks, as Keras
 * computes it: merges and Concatenate by Keras's rule, recurrent layers none
 * from Keras 3.16, every other layer by its own `computeMask` when it
 * supports masking, else none.
 */
function kerasOutputMask(layer: tf.layers.Layer, inputs: tf.Tensor[], masks: Array<tf.Tensor | null>, kerasVersion?: string): Masks {
  const cls = layer.getClassName();
  if (MERGES.includes(cls)) return mergeMask(masks);
  if (cls === 'Concatenate') {
    const axis = (layer.getConfig().axis as number | undefined) ?? -1;
    return concatenateMask(inputs, masks, axis);
  }
  if (RECURRENT.includes(cls) && atLeast(kerasVersion, 3, 16)) return null;
  if (!layer.supportsMasking) return null;
  const m = layer.computeMask(inputs.length === 1 ? inputs[0] : inputs, (inputs.length === 1 ? masks[0] : masks) as tf.Tensor | tf.Tensor[]);
  return m;
}

/**
 * Makes the executor's mask flow through `model` the one Keras has (see the
 * file comment). Call once, on a model built from a Keras topology.
 *
 * @param model The loaded model; its layers' `apply` are wrapped in place.
 * @param kerasVersion The `keras_version` of the file (decides item 4; unknown = the newest Keras).
 */
export function matchKerasMaskFlow(model: tf.LayersModel, kerasVersion?: string): void {
  let running = 0;
  // Masks taken off tensors during a run (item 5), by the layer that took them; put back (or freed
  // with their tensor, if it was disposed) when the run ends.
  let cleared = new Map<tf.Tensor, { mask: tf.Tensor; by: tf.layers.Layer }>();
  const endRun = (): void => {
    running -= 1;
    if (running > 0) return;
    for (const [x, { mask }] of cleared) {
      if (x.isDisposed || (x.kerasMask !== undefined && x.kerasMask !== null)) mask.dispose();
      else x.kerasMask = mask;
    }
    cleared = new Map();
  };
  const clearsInputMasks = atLeast(kerasVersion, 3, 8);
  const entry = model as unknown as Record<string, unknown>;
  for (const method of ['predict', 'predictOnBatch', 'execute', 'evaluate', 'evaluateDataset', 'fit', 'fitDataset', 'trainOnBatch']) {
    const original = entry[method] as ((...args: unknown[]) => unknown) | undefined;
    if (typeof original !== 'function') continue;
    entry[method] = (...args: unknown[]): unknown => {
      running += 1;
      let result: unknown;
      try {
        result = original.apply(model, args);
      } catch (e) {
        endRun();
        throw e;
      }
      if (result instanceof Promise) return result.finally(endRun);
      endRun();
      return result;
    };
  }
  for (const layer of model.layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    const apply: Apply = layer.apply.bind(layer);
    const wrapped = (inputs: Parameters<Apply>[0], kwargs?: Parameters<Apply>[1]): ReturnType<Apply> => {
      const list = asList(inputs as tf.Tensor | tf.Tensor[]);
      if (running === 0 || list.some((x) => x instanceof tf.SymbolicTensor || !(x instanceof tf.Tensor))) return apply(inputs, kwargs);
      // tfjs applies a layer once per output it has in the graph: every application sees the masks the first one saw.
      const masks = list.map((x) => {
        const c = cleared.get(x);
        return c !== undefined && c.by === layer ? c.mask : x.kerasMask ?? null;
      });
      const k = { ...(kwargs ?? {}) };
      delete k.mask;
      if (masks.some((m) => m !== null)) k.mask = list.length === 1 ? masks[0] : masks;
      const out = apply(inputs, k);
      const outs = asList(out as tf.Tensor | tf.Tensor[]);
      const computed = kerasOutputMask(layer, list, masks, kerasVersion);
      const perOutput = asList(computed as tf.Tensor | tf.Tensor[]);
      outs.forEach((o, i) => {
        const m = (Array.isArray(computed) ? perOutput[i] : computed) ?? null;
        if (o.kerasMask !== undefined && o.kerasMask !== null) o.kerasMask.dispose();
        o.kerasMask = m === null ? undefined : tf.clone(m);
      });
      // computeMask may return one of the input masks itself; only fresh tensors are ours to free.
      for (const m of asList(computed as tf.Tensor | tf.Tensor[])) {
        if (m !== null && m !== undefined && !masks.includes(m)) m.dispose();
      }
      const clears = clearsInputMasks ? clearedInputs(layer) : 0;
      for (const x of new Set(list.slice(0, clears))) {
        if (x.kerasMask === undefined || x.kerasMask === null || outs.includes(x)) continue;
        cleared.set(x, { mask: x.kerasMask, by: layer });
        x.kerasMask = undefined;
      }
      return out;
    };
    layer.apply = wrapped as Apply;
  }
}
