/**
 * keras-hub's TransformerEncoder and TransformerDecoder against real
 * keras-hub output: __tests__/fixtures/keras-real-extra/hub_blocks.json
 * (Keras 3.16.0 + keras-hub 0.32.0.dev0 at 71453d08, torch backend; written
 * by scripts/keras-golden/, whose README says exactly how). Masks riding on
 * the tensors and masks given as inputs, both against Keras (item 7), and
 * the encoder's attention scores (item 8).
 */
import * as tf from '@tensorflow/tfjs';
import { TransformerDecoder } from '../../src/layers/transformer_decoder';
import { TransformerEncoder } from '../../src/layers/transformer_encoder';
import { readReal, RealCase, RealLayer } from './keras_real_cases';

const real = readReal('keras-real-extra/hub_blocks.json');

/** The block built as keras-hub's config says, with keras-hub's weights set by name. */
function block(spec: RealLayer, shapes: number[][]): tf.layers.Layer {
  const c = spec.config;
  const args = {
    intermediateDim: c.intermediate_dim as number, numHeads: c.num_heads as number, dropout: c.dropout as number,
    activation: c.activation as string, layerNormEpsilon: c.layer_norm_epsilon as number, normalizeFirst: c.normalize_first as boolean,
  };
  const layer = 'decoder_sequence_shape' in c ? new TransformerDecoder(args) : new TransformerEncoder(args);
  layer.apply(shapes.map((s) => tf.input({ shape: s.slice(1) })));
  const byName = new Map(spec.weights.map((w) => [w.path.slice(w.path.indexOf('/') + 1), w]));
  expect(layer.weights.map((w) => w.originalName.slice(layer.name.length + 1))).toEqual(spec.weights.map((w) => w.path.slice(w.path.indexOf('/') + 1)));
  layer.setWeights(layer.weights.map((w) => {
    const k = byName.get(w.originalName.slice(layer.name.length + 1))!;
    return tf.tensor(k.value as number[], k.shape);
  }));
  return layer;
}

const f = (x: unknown) => tf.tensor(x as number[][][]);
const m = (x: unknown) => (x === undefined || x === null ? null : tf.tensor(x as number[][], undefined, 'bool'));

const cases = (kind: string) => real.cases.filter((c) => c.layer.startsWith(kind)).map((c) => [`${c.layer}: ${c.name}`, c] as [string, RealCase]);

describe('TransformerEncoder against keras-hub', () => {
  function encoderCall(layer: tf.layers.Layer, c: RealCase, returnAttentionScores: boolean): tf.Tensor | tf.Tensor[] {
    const x = f(c.inputs.inputs);
    const names: string[] = [];
    const inputs = [x];
    for (const [key, name] of [['padding_mask', 'paddingMask'], ['attention_mask', 'attentionMask']]) {
      if (c.kwargs[key] !== undefined) {
        names.push(name);
        inputs.push(tf.tensor(c.kwargs[key] as number[]));
      }
    }
    const kwargs: Record<string, unknown> = { inputNames: names, returnAttentionScores };
    // The Keras mask rides on the tensor, as an Embedding(maskZero)'s output carries it.
    if (c.keras_masks?.inputs) x.kerasMask = m(c.keras_masks.inputs) as tf.Tensor;
    return layer.apply(inputs.length === 1 ? x : inputs, kwargs) as tf.Tensor | tf.Tensor[];
  }

  it.each(cases('hub_encoder'))('%s: output and scores with returnAttentionScores', (_n, c) => {
    const layer = block(real.layers[c.layer], [[2, 6, 8]]);
    const [out, scores] = encoderCall(layer, c, true) as tf.Tensor[];
    expect(out).toBeAllClose(c.output, 1e-4);
    expect(scores).toBeAllClose(c.scores, 1e-5);
  });

  it.each(cases('hub_encoder'))('%s: output of the plain call, and its Keras mask', (_n, c) => {
    const layer = block(real.layers[c.layer], [[2, 6, 8]]);
    const out = encoderCall(layer, c, false) as tf.Tensor;
    expect(out).toBeAllClose(c.output_without_scores_call, 1e-4);
    if (c.output_keras_mask) expect(out.kerasMask).toBeAllClose(c.output_keras_mask.map((r) => r.map(Number)), 0);
    else expect(out.kerasMask ?? null).toBeNull();
  });

  it('the mask on the tensor and the same padding_mask agree on real tokens, and differ on padded rows as in keras-hub', () => {
    const onTensor = real.cases.find((c) => c.layer === 'hub_encoder' && c.name === 'Keras mask on the input tensor')!;
    const keyword = real.cases.find((c) => c.layer === 'hub_encoder' && c.name === 'padding_mask keyword')!;
    const layer = block(real.layers.hub_encoder, [[2, 6, 8]]);
    const a = (encoderCall(layer, onTensor, false) as tf.Tensor).arraySync() as number[][][];
    const b = (encoderCall(layer, keyword, false) as tf.Tensor).arraySync() as number[][][];
    const pad = keyword.kwargs.padding_mask as number[][];
    const rows = (y: number[][][], real: boolean) => y.flatMap((r, i) => r.filter((_, t) => (pad[i][t] === 1) === real));
    expect(rows(a, true)).toBeAllClose(rows(b, true), 1e-5);
    expect(rows(a, false)).not.toBeAllClose(rows(b, false), 1e-2);
  });
});

describe('TransformerDecoder against keras-hub', () => {
  /** via: 'list' = masks as tfjs's container passes them (one per input), 'tensor' = the encoder's mask riding on it (tfjs's executor). */
  function decoderCall(layer: tf.layers.Layer, c: RealCase, via: 'list' | 'tensor'): tf.Tensor {
    const x = f(c.inputs.decoder_sequence);
    const e = c.inputs.encoder_sequence === undefined ? null : f(c.inputs.encoder_sequence);
    const names: string[] = e ? ['encoderSequence'] : [];
    const inputs = e ? [x, e] : [x];
    for (const [key, name] of [['decoder_padding_mask', 'decoderPaddingMask'], ['encoder_padding_mask', 'encoderPaddingMask']]) {
      if (c.kwargs[key] !== undefined) {
        names.push(name);
        inputs.push(tf.tensor(c.kwargs[key] as number[]));
      }
    }
    const kwargs: Record<string, unknown> = { inputNames: names };
    if (c.kwargs.use_causal_mask !== undefined) kwargs.useCausalMask = c.kwargs.use_causal_mask;
    const km = c.keras_masks ?? {};
    if (via === 'list' && (km.decoder_sequence || km.encoder_sequence)) {
      kwargs.mask = inputs.map((_, i) => (i === 0 ? m(km.decoder_sequence) : i === 1 && e ? m(km.encoder_sequence) : null));
    }
    if (via === 'tensor') {
      if (km.decoder_sequence) x.kerasMask = m(km.decoder_sequence) as tf.Tensor;
      if (km.encoder_sequence && e) e.kerasMask = m(km.encoder_sequence) as tf.Tensor;
    }
    return layer.apply(inputs.length === 1 ? x : inputs, kwargs) as tf.Tensor;
  }

  it.each(cases('hub_decoder'))('%s (masks as one per input)', (_n, c) => {
    const shapes = c.inputs.encoder_sequence === undefined ? [[2, 5, 8]] : [[2, 5, 8], [2, 6, 8]];
    const layer = block(real.layers[c.layer], shapes);
    expect(decoderCall(layer, c, 'list')).toBeAllClose(c.output, 1e-4);
  });

  it.each(cases('hub_decoder').filter(([, c]) => c.keras_masks))('%s (masks riding on the tensors), and the output\'s Keras mask', (_n, c) => {
    const layer = block(real.layers[c.layer], c.inputs.encoder_sequence === undefined ? [[2, 5, 8]] : [[2, 5, 8], [2, 6, 8]]);
    const out = decoderCall(layer, c, 'tensor');
    expect(out).toBeAllClose(c.output, 1e-4);
    if (c.output_keras_mask) expect(out.kerasMask).toBeAllClose(c.output_keras_mask.map((r) => r.map(Number)), 0);
    else expect(out.kerasMask ?? null).toBeNull();
  });

  it('Keras masks on the sequences equal the same masks as keywords, on every row (as in keras-hub)', () => {
    const onTensors = real.cases.find((c) => c.layer === 'hub_decoder_cross' && c.name === 'Keras masks on decoder_sequence and encoder_sequence')!;
    const keywords = real.cases.find((c) => c.layer === 'hub_decoder_cross' && c.name === 'decoder_padding_mask + encoder_padding_mask keywords')!;
    expect(onTensors.output).toBeAllClose(keywords.output, 1e-6); // Keras's own outputs agree
    const layer = block(real.layers.hub_decoder_cross, [[2, 5, 8], [2, 6, 8]]);
    expect(decoderCall(layer, onTensors, 'tensor')).toBeAllClose(decoderCall(layer, keywords, 'list'), 1e-6);
  });
});
