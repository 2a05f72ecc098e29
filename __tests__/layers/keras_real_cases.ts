/**
 * Reading the golden layer files of real Keras runs
 * (__tests__/fixtures/keras-real/mha.json, the shared set, and
 * __tests__/fixtures/keras-real-extra/*.json, scripts/keras-golden/README.md
 * says how each was made) and running their cases through the library's
 * attention layers.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { GroupedQueryAttention, MultiHeadAttention } from '../../src';

export interface RealWeight { path: string; shape: number[]; value: unknown }
export interface RealLayer { class_name?: string; config: Record<string, unknown>; weights: RealWeight[] }
export interface RealCase {
  name: string;
  layer: string;
  inputs: Record<string, unknown>;
  positional?: string[];
  kwargs: Record<string, unknown>;
  keras_masks?: Record<string, boolean[][]> | null;
  output: number[][][];
  scores?: number[][][][] | null;
  output_without_scores_call?: number[][][] | null;
  output_keras_mask?: boolean[][] | null;
  fully_masked_rows?: number[][];
}
export interface RealFile { env: { keras_version: string }; layers: Record<string, RealLayer>; cases: RealCase[] }

export function readReal(rel: string): RealFile {
  return JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures', rel), 'utf8')) as RealFile;
}

/** A MultiHeadAttention or GroupedQueryAttention from Keras's config, with Keras's weights set. */
export function attentionLayer(spec: RealLayer, inputShapes: number[][]): MultiHeadAttention {
  const c = spec.config;
  const common = {
    dropout: c.dropout as number,
    useBias: c.use_bias as boolean,
    useGate: (c.use_gate as boolean | undefined) ?? false,
    slidingWindow: (c.sliding_window as number | null | undefined) ?? null,
  };
  const layer = 'head_dim' in c
    ? new GroupedQueryAttention({
      headDim: c.head_dim as number, numQueryHeads: c.num_query_heads as number, numKeyValueHeads: c.num_key_value_heads as number, ...common,
    })
    : new MultiHeadAttention({ numHeads: c.num_heads as number, keyDim: c.key_dim as number, valueDim: c.value_dim as number, ...common });
  layer.apply(inputShapes.map((s) => tf.zeros([1, ...s.slice(1)])));
  layer.setWeights(spec.weights.map((w) => tf.tensor(w.value as number[], w.shape)));
  return layer;
}

const bool = (m?: boolean[][] | null) => (m === undefined || m === null ? null : tf.tensor(m, undefined, 'bool'));

/** Runs one attention case: its inputs, Keras masks (as tfjs's per-input `mask`), attention mask and causal flag. */
export function runAttentionCase(layer: MultiHeadAttention, c: RealCase, returnAttentionScores: boolean): tf.Tensor | tf.Tensor[] {
  const q = tf.tensor(c.inputs.query as number[][][]);
  const v = tf.tensor(c.inputs.value as number[][][]);
  const inputs = c.inputs.key ? [q, v, tf.tensor(c.inputs.key as number[][][])] : [q, v];
  const kwargs: Record<string, unknown> = { returnAttentionScores };
  const km = c.keras_masks;
  if (km) kwargs.mask = [bool(km.query), bool(km.value), bool(km.key)];
  if (c.kwargs.attention_mask) kwargs.attentionMask = tf.tensor(c.kwargs.attention_mask as boolean[][][], undefined, 'bool');
  if (c.kwargs.use_causal_mask) kwargs.useCausalMask = true;
  return layer.call(inputs, kwargs);
}

/** The shapes of a case's inputs, query first. */
export function caseShapes(c: RealCase): number[][] {
  const shape = (x: unknown): number[] => {
    const s: number[] = [];
    for (let a = x; Array.isArray(a); a = a[0]) s.push(a.length);
    return s;
  };
  return ['query', 'value', 'key'].filter((k) => c.inputs[k] !== undefined).map((k) => shape(c.inputs[k]));
}
