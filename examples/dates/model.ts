/**
 * The date-translation model, built from the library's layers.
 *
 * Non-autoregressive: the ten output characters "YYYY-MM-DD" are predicted
 * at once. An encoder reads the input characters (each character with its
 * two neighbours on either side, one-hot · dense: a convolution of width 5
 * written as a dense layer, since tfjs's wasm backend has no gradient for
 * conv1d; plus a learned `PositionEmbedding`, then a `SelfAttention` block); ten learned
 * output queries (ten learned mixtures of the encoded characters plus a
 * `PositionEmbedding` naming the output slot) look over the encoded characters with `ContentAttention`, and a dense softmax
 * reads each output character from what its query found. The
 * `ContentAttention` weights `[10, S]` say which input characters each output
 * character was read from: that is the heatmap.
 *
 * Plain TypeScript with no Node imports: the browser demo uses it too.
 */
import * as tf from '@tensorflow/tfjs';
import { ContentAttention, PositionEmbedding, SelfAttention } from '../../src';
import { INPUT_CHARS, MAX_INPUT, OUTPUT_CHARS, OUTPUT_LENGTH, encodeInput } from './data';

/** Sizes of the model. */
export interface DatesModelConfig {
  /** Model depth. Default 64. */
  dim?: number;
  /** Self-attention blocks in the encoder. Default 0 (they are slow to train on wasm). */
  blocks?: number;
  /** Heads of each self-attention. Default 2. */
  heads?: number;
}

/** The name of the layer whose weights are the heatmap. */
export const ATTENTION_LAYER = 'output_attention';

/**
 * Builds the model: input `[B, MAX_INPUT, WINDOW_FEATURES]` (see `inputTensor`);
 * outputs `[probs [B, 10, |OUTPUT_CHARS|], weights [B, 10, MAX_INPUT]]`.
 */
export function buildDatesModel(config: DatesModelConfig = {}): tf.LayersModel {
  const dim = config.dim ?? 64;
  const blocks = config.blocks ?? 0;
  const heads = config.heads ?? 2;
  const input = tf.input({ shape: [MAX_INPUT, WINDOW_FEATURES], name: 'chars' });
  let x = tf.layers.dense({ units: dim, useBias: false, name: 'char_embedding' }).apply(input) as tf.SymbolicTensor;
  const pos = new PositionEmbedding({ sequenceLength: MAX_INPUT, name: 'input_positions' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.add().apply([x, pos]) as tf.SymbolicTensor;
  for (let b = 0; b < blocks; b++) {
    const a = new SelfAttention({ numHeads: heads, keyDim: dim / heads, name: `self_attention_${b}` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.layerNormalization({ name: `norm_a${b}` }).apply(tf.layers.add().apply([x, a])) as tf.SymbolicTensor;
    let f = tf.layers.dense({ units: 2 * dim, activation: 'relu', name: `ffn_in_${b}` }).apply(x) as tf.SymbolicTensor;
    f = tf.layers.dense({ units: dim, name: `ffn_out_${b}` }).apply(f) as tf.SymbolicTensor;
    x = tf.layers.layerNormalization({ name: `norm_f${b}` }).apply(tf.layers.add().apply([x, f])) as tf.SymbolicTensor;
  }
  // Ten output queries: ten learned mixtures of the encoded characters (a
  // dense layer across positions) plus a learned PositionEmbedding saying
  // which output character each query is for.
  let mixed = tf.layers.permute({ dims: [2, 1], name: 'positions_last' }).apply(x) as tf.SymbolicTensor;
  mixed = tf.layers.dense({ units: OUTPUT_LENGTH, name: 'mix_positions' }).apply(mixed) as tf.SymbolicTensor;
  mixed = tf.layers.permute({ dims: [2, 1], name: 'positions_first' }).apply(mixed) as tf.SymbolicTensor;
  const slots = new PositionEmbedding({ sequenceLength: OUTPUT_LENGTH, name: 'output_queries' }).apply(mixed) as tf.SymbolicTensor;
  const queries = tf.layers.add().apply([mixed, slots]) as tf.SymbolicTensor;
  const [context, weights] = new ContentAttention({
    score: 'general',
    returnAttentionScores: true,
    name: ATTENTION_LAYER,
  }).apply([queries, x]) as tf.SymbolicTensor[];
  let h = tf.layers.concatenate().apply([context, queries]) as tf.SymbolicTensor;
  h = tf.layers.dense({ units: 2 * dim, activation: 'relu', name: 'read_out' }).apply(h) as tf.SymbolicTensor;
  const probs = tf.layers.dense({ units: OUTPUT_CHARS.length, activation: 'softmax', name: 'output_chars' }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: [probs, weights], name: 'dates' });
}

/**
 * The model that is trained: the same layers, the character probabilities
 * only (the attention weights need no loss).
 */
export function trainingModel(full: tf.LayersModel): tf.LayersModel {
  return tf.model({ inputs: full.inputs, outputs: full.outputs[0], name: 'dates_train' });
}

/** Characters each side of a position that its input features include. */
export const WINDOW = 2;
/** Features of one input position: the one-hot characters of its window. */
export const WINDOW_FEATURES = (2 * WINDOW + 1) * INPUT_CHARS.length;

/**
 * Model input `[B, MAX_INPUT, WINDOW_FEATURES]` of human dates: at each
 * position, the one-hot characters from WINDOW before to WINDOW after it
 * (padding outside the text).
 */
export function inputTensor(texts: string[]): tf.Tensor3D {
  const V = INPUT_CHARS.length;
  const data = new Float32Array(texts.length * MAX_INPUT * WINDOW_FEATURES);
  texts.forEach((text, b) => {
    const ids = encodeInput(text);
    for (let t = 0; t < MAX_INPUT; t++) {
      for (let o = -WINDOW; o <= WINDOW; o++) {
        const id = t + o >= 0 && t + o < MAX_INPUT ? ids[t + o] : 0;
        data[(b * MAX_INPUT + t) * WINDOW_FEATURES + (o + WINDOW) * V + id] = 1;
      }
    }
  });
  return tf.tensor3d(data, [texts.length, MAX_INPUT, WINDOW_FEATURES]);
}

/** Translation and attention weights `[10, S]` of each text. */
export function translate(model: tf.LayersModel, texts: string[]): { iso: string[]; weights: number[][][] } {
  const x = inputTensor(texts);
  const [probs, weights] = model.predict(x) as tf.Tensor[];
  const ids = tf.tidy(() => probs.argMax(-1));
  const idsArr = ids.arraySync() as number[][];
  const w = weights.arraySync() as number[][][];
  tf.dispose([x, probs, weights, ids]);
  return { iso: idsArr.map((row) => row.map((i) => OUTPUT_CHARS[i]).join('')), weights: w };
}
