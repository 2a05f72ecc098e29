/**
 * A float64 reference of Keras 3.16's MultiHeadAttention and
 * GroupedQueryAttention, written in plain loops from Keras's source
 * (keras/src/layers/attention/multi_head_attention.py and
 * grouped_query_attention.py at keras-team/keras 3422977a), not from the
 * library under test. Used where no real Keras output exists; tests that use
 * it say so.
 *
 * What it encodes, each from the named line of Keras's source:
 * - projections `EinsumDense("bqm,muh->bquh")`: `x·W + b` per head;
 * - GroupedQueryAttention: `ops.repeat(key, num_repeats, axis=2)`, i.e.
 *   query head `h` uses key/value head `floor(h / (Nq / Nkv))`;
 * - the mask `_compute_attention_mask`: query mask `[B,T,1]` & value mask
 *   `[B,1,S]` & key mask `[B,1,S]` & causal (`row >= col`) & sliding window
 *   (`|row - col| < sliding_window`) & attention_mask;
 * - `use_gate`: `gate = sigmoid(query·Wg + bg)`, output_dense(attention · gate);
 * - rows with no visible key: on the scores path (`return_attention_scores`
 *   or `dropout > 0`), `Softmax` sets masked scores to -1e9 and then zeroes
 *   masked positions, so the row's weights are 0; on the fused path
 *   (`ops.dot_product_attention`) masked scores get a large negative number,
 *   so such a row's weights are uniform, 1/S.
 */
import { arr, Arr } from '../reference';

export interface KerasProj {
  kernel: Arr; // [Din, heads, H] (or [heads, H, Dout] for the output)
  bias?: Arr; // [heads, H] (or [Dout])
}

export interface KerasAttentionWeights {
  query: KerasProj;
  key: KerasProj;
  value: KerasProj;
  gate?: KerasProj;
  output: KerasProj;
}

export interface KerasMaskParts {
  queryMask?: Arr; // [B, T]
  valueMask?: Arr; // [B, S]
  keyMask?: Arr; // [B, S]
  attentionMask?: Arr; // [B, T, S]
  causal?: boolean;
  slidingWindow?: number;
}

/** Keras's `_compute_attention_mask` (+ the causal mask of the scores path) as 0/1 `[B, T, S]`, or undefined. */
export function kerasMask(B: number, T: number, S: number, m: KerasMaskParts): Arr | undefined {
  const any = m.queryMask || m.valueMask || m.keyMask || m.attentionMask || m.causal || m.slidingWindow !== undefined;
  if (!any) return undefined;
  const out = arr([B, T, S]);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < T; i++) {
      for (let j = 0; j < S; j++) {
        let ok = true;
        if (m.queryMask && m.queryMask.data[b * T + i] === 0) ok = false;
        if (m.valueMask && m.valueMask.data[b * S + j] === 0) ok = false;
        if (m.keyMask && m.keyMask.data[b * S + j] === 0) ok = false;
        if (m.attentionMask && m.attentionMask.data[(b * T + i) * S + j] === 0) ok = false;
        if (m.causal && i < j) ok = false;
        if (m.slidingWindow !== undefined && !(Math.abs(i - j) < m.slidingWindow)) ok = false;
        out.data[(b * T + i) * S + j] = ok ? 1 : 0;
      }
    }
  }
  return out;
}

/** `x [B, L, Din] · W [Din, heads, H] + b [heads, H]` → `[B, L, heads, H]` (flat). */
function project(x: Arr, p: KerasProj): { data: Float64Array; heads: number; H: number } {
  const [B, L, Din] = x.shape;
  const [, heads, H] = p.kernel.shape;
  const data = new Float64Array(B * L * heads * H);
  for (let r = 0; r < B * L; r++) {
    for (let h = 0; h < heads; h++) {
      for (let e = 0; e < H; e++) {
        let acc = p.bias ? p.bias.data[h * H + e] : 0;
        for (let d = 0; d < Din; d++) acc += x.data[r * Din + d] * p.kernel.data[(d * heads + h) * H + e];
        data[((r * heads) + h) * H + e] = acc;
      }
    }
  }
  return { data, heads, H };
}

/**
 * Keras's MultiHeadAttention / GroupedQueryAttention call in float64.
 * query `[B, T, Dq]`, value `[B, S, Dv]`, key `[B, S, Dk]`; `mask` 0/1
 * `[B, T, S]` from `kerasMask`; `path` chooses Keras's rule for rows with no
 * visible key. Returns output `[B, T, Dout]` and scores `[B, N, T, S]`.
 */
export function refKerasAttention(
  query: Arr,
  value: Arr,
  key: Arr,
  w: KerasAttentionWeights,
  mask: Arr | undefined,
  path: 'scores' | 'fused',
): { output: Arr; scores: Arr } {
  const [B, T] = query.shape;
  const S = value.shape[1];
  const q = project(query, w.query);
  const k = project(key, w.key);
  const v = project(value, w.value);
  const gate = w.gate ? project(query, w.gate) : null;
  const N = q.heads;
  const K = q.H;
  const G = k.heads;
  const Hv = v.H;
  const repeats = N / G;
  const scale = 1 / Math.sqrt(K);
  const scores = arr([B, N, T, S]);
  const att = new Float64Array(B * T * N * Hv); // [B, T, N, Hv]
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) {
      const g = Math.floor(n / repeats);
      for (let i = 0; i < T; i++) {
        const s = new Float64Array(S);
        const visible = new Array<boolean>(S);
        for (let j = 0; j < S; j++) {
          let dot = 0;
          for (let e = 0; e < K; e++) dot += q.data[((b * T + i) * N + n) * K + e] * k.data[((b * S + j) * G + g) * K + e];
          visible[j] = mask === undefined || mask.data[(b * T + i) * S + j] !== 0;
          s[j] = visible[j] ? dot * scale : -1e9;
        }
        const anyVisible = visible.some((x) => x);
        let m = -Infinity;
        for (let j = 0; j < S; j++) m = Math.max(m, s[j]);
        let z = 0;
        const e = new Float64Array(S);
        for (let j = 0; j < S; j++) z += (e[j] = Math.exp(s[j] - m));
        for (let j = 0; j < S; j++) {
          // Scores path: Softmax zeroes masked positions. Fused path: a row with
          // nothing visible is uniform (the large negative absorbs the scores).
          const p = visible[j] ? e[j] / z : path === 'fused' && !anyVisible ? 1 / S : 0;
          scores.data[((b * N + n) * T + i) * S + j] = p;
          for (let h = 0; h < Hv; h++) att[((b * T + i) * N + n) * Hv + h] += p * v.data[((b * S + j) * G + g) * Hv + h];
        }
      }
    }
  }
  if (gate) {
    for (let r = 0; r < att.length; r++) att[r] *= 1 / (1 + Math.exp(-gate.data[r]));
  }
  const [, , Dout] = w.output.kernel.shape;
  const output = arr([B, T, Dout]);
  for (let r = 0; r < B * T; r++) {
    for (let o = 0; o < Dout; o++) {
      let acc = w.output.bias ? w.output.bias.data[o] : 0;
      for (let n = 0; n < N; n++) {
        for (let h = 0; h < Hv; h++) acc += att[(r * N + n) * Hv + h] * w.output.kernel.data[(n * Hv + h) * Dout + o];
      }
      output.data[r * Dout + o] = acc;
    }
  }
  return { output, scores };
}

// ---------------------------------------------------------------------------
// keras-hub's TransformerEncoder / TransformerDecoder (keras-hub 71453d08,
// keras_hub/src/layers/modeling/transformer_encoder.py, transformer_decoder.py)
// on top of the attention above. Weights keyed by keras-hub's names without
// the block prefix ('self_attention_layer/query/kernel', ...).

export type HubWeights = Record<string, Arr>;

export interface HubOptions {
  normalizeFirst?: boolean;
  eps?: number;
}

function hubAttention(w: HubWeights, prefix: string): KerasAttentionWeights {
  const p = (n: string) => ({ kernel: w[`${prefix}/${n}/kernel`], bias: w[`${prefix}/${n}/bias`] });
  return { query: p('query'), key: p('key'), value: p('value'), output: p('attention_output') };
}

function layerNorm(x: Arr, gamma: Arr, beta: Arr, eps: number): Arr {
  const D = x.shape[x.shape.length - 1];
  const out = arr(x.shape);
  for (let r = 0; r < x.data.length / D; r++) {
    let mean = 0;
    for (let i = 0; i < D; i++) mean += x.data[r * D + i];
    mean /= D;
    let v = 0;
    for (let i = 0; i < D; i++) v += (x.data[r * D + i] - mean) ** 2;
    v /= D;
    for (let i = 0; i < D; i++) out.data[r * D + i] = ((x.data[r * D + i] - mean) / Math.sqrt(v + eps)) * gamma.data[i] + beta.data[i];
  }
  return out;
}

function dense(x: Arr, W: Arr, b: Arr, relu: boolean): Arr {
  const [Din, Dout] = W.shape;
  const rows = x.data.length / Din;
  const out = arr([...x.shape.slice(0, -1), Dout]);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < Dout; o++) {
      let acc = b.data[o];
      for (let i = 0; i < Din; i++) acc += x.data[r * Din + i] * W.data[i * Dout + o];
      out.data[r * Dout + o] = relu ? Math.max(0, acc) : acc;
    }
  }
  return out;
}

function block(x: Arr, w: HubWeights, norm: string, o: HubOptions, f: (y: Arr) => Arr): Arr {
  const ln = (a: Arr) => layerNorm(a, w[`${norm}/gamma`], w[`${norm}/beta`], o.eps ?? 1e-5);
  const y = o.normalizeFirst ? ln(x) : x;
  const fy = f(y);
  const sum = arr(x.shape, fy.data.map((v, i) => v + x.data[i]));
  return o.normalizeFirst ? sum : ln(sum);
}

function feedForward(x: Arr, w: HubWeights): Arr {
  const h = dense(x, w['feedforward_intermediate_dense/kernel'], w['feedforward_intermediate_dense/bias'], true);
  return dense(h, w['feedforward_output_dense/kernel'], w['feedforward_output_dense/bias'], false);
}

/**
 * keras-hub TransformerEncoder: `mask` is the self-attention's whole mask
 * `[B, T, T]` (0/1), built by the caller with `kerasMask` from keras-hub's
 * rule (padding `[B,1,T]` & attention mask, and, when the mask rides on x,
 * its MultiHeadAttention's query `[B,T,1]` and value `[B,1,T]` masks).
 */
export function refHubEncoder(x: Arr, w: HubWeights, mask: Arr | undefined, path: 'scores' | 'fused', o: HubOptions = {}): { output: Arr; scores: Arr } {
  let scores = arr([0]);
  const h = block(x, w, 'self_attention_layer_norm', o, (y) => {
    const r = refKerasAttention(y, y, y, hubAttention(w, 'self_attention_layer'), mask, path);
    scores = r.scores;
    return r.output;
  });
  return { output: block(h, w, 'feedforward_layer_norm', o, (y) => feedForward(y, w)), scores };
}

/** keras-hub TransformerDecoder: `selfMask` `[B,T,T]` (causal included by the caller), `crossMask` `[B,T,S]`. */
export function refHubDecoder(
  x: Arr, w: HubWeights, encoder: Arr | undefined, selfMask: Arr | undefined, crossMask: Arr | undefined,
  path: 'scores' | 'fused', o: HubOptions = {},
): { output: Arr; selfScores: Arr; crossScores?: Arr } {
  let selfScores = arr([0]);
  let crossScores: Arr | undefined;
  let h = block(x, w, 'self_attention_layer_norm', o, (y) => {
    const r = refKerasAttention(y, y, y, hubAttention(w, 'self_attention'), selfMask, path);
    selfScores = r.scores;
    return r.output;
  });
  if (encoder) {
    h = block(h, w, 'cross_attention_layer_norm', o, (y) => {
      const r = refKerasAttention(y, encoder, encoder, hubAttention(w, 'cross_attention'), crossMask, path);
      crossScores = r.scores;
      return r.output;
    });
  }
  return { output: block(h, w, 'feedforward_layer_norm', o, (y) => feedForward(y, w)), selfScores, crossScores };
}
