/**
 * An independent float64 reference for the tests, in plain TypeScript loops.
 * Nothing here imports the library under test or tfjs: reference values in
 * the tests are "computed by the float64 reference in __tests__/reference.ts".
 */

/** A dense float64 array with a row-major shape. */
export interface Arr {
  shape: number[];
  data: Float64Array;
}

export function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function arr(shape: number[], data?: ArrayLike<number>): Arr {
  const out = new Float64Array(size(shape));
  if (data !== undefined) {
    if (data.length !== out.length) throw new Error(`arr: ${data.length} values for shape [${shape}]`);
    out.set(Array.from(data));
  }
  return { shape: shape.slice(), data: out };
}

/** mulberry32: a small seeded generator of uniforms in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples (Box-Muller) from a seeded generator. */
export function randn(shape: number[], seed: number, std = 1): Arr {
  const r = rng(seed);
  const out = arr(shape);
  for (let i = 0; i < out.data.length; i++) {
    const u = Math.max(r(), 1e-12);
    const v = r();
    out.data[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

/** Nested JS array of an Arr (for tf.tensor or toBeAllClose). */
export function nested(a: Arr): unknown {
  const build = (dim: number, offset: number): unknown => {
    if (dim === a.shape.length) return a.data[offset];
    const stride = size(a.shape.slice(dim + 1));
    const out: unknown[] = [];
    for (let i = 0; i < a.shape[dim]; i++) out.push(build(dim + 1, offset + i * stride));
    return out;
  };
  return build(0, 0);
}

/** Index of a broadcast operand: maps an index of `full` onto `shape` (right-aligned). */
function broadcastIndex(fullShape: readonly number[], idx: readonly number[], shape: readonly number[]): number {
  const off = fullShape.length - shape.length;
  let flat = 0;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    flat = flat * d + (d === 1 ? 0 : idx[off + i]);
  }
  return flat;
}

function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array(shape.length).fill(0);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

export interface RefOptions {
  /** Nonzero = may attend; broadcast to [..., T, S]. */
  mask?: Arr;
  causal?: boolean;
  /** Band half-width: key j visible iff |i - j| <= window (with causal: i - window <= j <= i). */
  window?: number;
  scale?: number;
  /** 'zeros' (default) or 'uniform' for rows with nothing visible. */
  emptyRows?: 'zeros' | 'uniform';
  /** Score function; default dot product. */
  score?: (q: Float64Array, k: Float64Array) => number;
  /** Additive bias per [.., T, S] (broadcast), added to the scaled scores. */
  bias?: Arr;
}

/**
 * Reference attention over leading dims: returns output [..., T, Hv] and
 * weights [..., T, S]. Masked scores get -1e9 added, as the library and Keras do.
 */
export function refAttention(q: Arr, k: Arr, v: Arr, opts: RefOptions = {}): { output: Arr; weights: Arr } {
  const r = q.shape.length;
  const lead = q.shape.slice(0, r - 2);
  const T = q.shape[r - 2];
  const H = q.shape[r - 1];
  const S = k.shape[r - 2];
  const Hk = k.shape[r - 1];
  const Hv = v.shape[r - 1];
  const scale = opts.scale ?? 1 / Math.sqrt(H);
  const nLead = size(lead);
  const weights = arr([...lead, T, S]);
  const output = arr([...lead, T, Hv]);
  const full = [...lead, T, S];
  const qi = new Float64Array(H);
  const kj = new Float64Array(Hk);
  for (let b = 0; b < nLead; b++) {
    for (let i = 0; i < T; i++) {
      qi.set(q.data.subarray((b * T + i) * H, (b * T + i + 1) * H));
      const s = new Float64Array(S);
      const visible = new Array<boolean>(S).fill(true);
      for (let j = 0; j < S; j++) {
        kj.set(k.data.subarray((b * S + j) * Hk, (b * S + j + 1) * Hk));
        let dot = 0;
        if (opts.score) dot = opts.score(qi, kj);
        else for (let h = 0; h < H; h++) dot += qi[h] * kj[h];
        s[j] = opts.score ? dot : dot * scale;
        const idx = [...unravel(b, lead), i, j];
        if (opts.bias) s[j] += opts.bias.data[broadcastIndex(full, idx, opts.bias.shape)];
        if (opts.mask && opts.mask.data[broadcastIndex(full, idx, opts.mask.shape)] === 0) visible[j] = false;
        if (opts.causal && j > i) visible[j] = false;
        if (opts.window !== undefined && Math.abs(i - j) > opts.window) visible[j] = false;
        // A masked score becomes -1e9, as it does in float32 (s - 1e9 rounds to -1e9 for |s| < 32).
        if (!visible[j]) s[j] = -1e9;
      }
      const anyVisible = visible.some((x) => x);
      let m = -Infinity;
      for (let j = 0; j < S; j++) m = Math.max(m, s[j]);
      let z = 0;
      const e = new Float64Array(S);
      for (let j = 0; j < S; j++) {
        e[j] = Math.exp(s[j] - m);
        z += e[j];
      }
      for (let j = 0; j < S; j++) {
        const w = anyVisible || opts.emptyRows === 'uniform' ? e[j] / z : 0;
        weights.data[(b * T + i) * S + j] = w;
        for (let h = 0; h < Hv; h++) output.data[(b * T + i) * Hv + h] += w * v.data[(b * S + j) * Hv + h];
      }
    }
  }
  return { output, weights };
}

/** Reference `x·W + b` over the last axis: x [..., Din], W [Din, Dout], b [Dout]. */
export function refDense(x: Arr, W: Arr, b?: Arr): Arr {
  const Din = W.shape[0];
  const Dout = W.shape[1];
  const rows = x.data.length / Din;
  const out = arr([...x.shape.slice(0, -1), Dout]);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < Dout; o++) {
      let acc = b ? b.data[o] : 0;
      for (let i = 0; i < Din; i++) acc += x.data[r * Din + i] * W.data[i * Dout + o];
      out.data[r * Dout + o] = acc;
    }
  }
  return out;
}

/** Permutes axes of a float64 array. */
export function transpose(a: Arr, perm: number[]): Arr {
  const shape = perm.map((p) => a.shape[p]);
  const out = arr(shape);
  for (let i = 0; i < out.data.length; i++) {
    const idx = unravel(i, shape);
    const src = new Array(a.shape.length);
    perm.forEach((p, d) => (src[p] = idx[d]));
    let flat = 0;
    for (let d = 0; d < a.shape.length; d++) flat = flat * a.shape[d] + src[d];
    out.data[i] = a.data[flat];
  }
  return out;
}

/** Reshape (same data, new shape). */
export function reshape(a: Arr, shape: number[]): Arr {
  if (size(shape) !== a.data.length) throw new Error(`reshape: [${a.shape}] -> [${shape}]`);
  return { shape: shape.slice(), data: a.data };
}

/** Elementwise map. */
export function map(a: Arr, f: (x: number, i: number) => number): Arr {
  const out = arr(a.shape);
  for (let i = 0; i < a.data.length; i++) out.data[i] = f(a.data[i], i);
  return out;
}

/** Reference layer normalisation over the last axis. */
export function refLayerNorm(x: Arr, gamma: Arr, beta: Arr, eps: number): Arr {
  const D = x.shape[x.shape.length - 1];
  const out = arr(x.shape);
  for (let r = 0; r < x.data.length / D; r++) {
    let mean = 0;
    for (let i = 0; i < D; i++) mean += x.data[r * D + i];
    mean /= D;
    let v = 0;
    for (let i = 0; i < D; i++) v += (x.data[r * D + i] - mean) ** 2;
    v /= D;
    for (let i = 0; i < D; i++) {
      out.data[r * D + i] = ((x.data[r * D + i] - mean) / Math.sqrt(v + eps)) * gamma.data[i] + beta.data[i];
    }
  }
  return out;
}

/** Weights of a multi-head attention layer, in Keras's shapes. */
export interface MhaWeights {
  Wq: Arr; bq: Arr; // [Dq, N, K], [N, K]
  Wk: Arr; bk: Arr; // [Dk, N, K], [N, K]
  Wv: Arr; bv: Arr; // [Dv, N, Hv], [N, Hv]
  Wo: Arr; bo: Arr; // [N, Hv, Dout], [Dout]
}

/** x [B, T, D] · W [D, N, K] + b → [B, N, T, K]. */
function refHeads(x: Arr, W: Arr, b: Arr): Arr {
  const [D, N, K] = W.shape;
  const y = refDense(x, reshape(W, [D, N * K]), reshape(b, [N * K]));
  return transpose(reshape(y, [x.shape[0], x.shape[1], N, K]), [0, 2, 1, 3]);
}

/**
 * Keras MultiHeadAttention in float64: projections, per-head attention with
 * scale 1/sqrt(K) and the given options, output projection. `headOpts` may
 * transform the heads (rotary) or add a bias.
 */
export function refMultiHead(
  q: Arr,
  v: Arr,
  k: Arr,
  w: MhaWeights,
  opts: RefOptions = {},
  transformQK?: (qh: Arr, kh: Arr) => [Arr, Arr],
): { output: Arr; scores: Arr } {
  let qh = refHeads(q, w.Wq, w.bq);
  let kh = refHeads(k, w.Wk, w.bk);
  const vh = refHeads(v, w.Wv, w.bv);
  if (transformQK) [qh, kh] = transformQK(qh, kh);
  const K = w.Wq.shape[2];
  const { output, weights } = refAttention(qh, kh, vh, { scale: 1 / Math.sqrt(K), ...opts });
  const [B, N, T, Hv] = output.shape;
  const merged = reshape(transpose(output, [0, 2, 1, 3]), [B, T, N * Hv]);
  const Dout = w.Wo.shape[2];
  return { output: refDense(merged, reshape(w.Wo, [N * Hv, Dout]), w.bo), scores: weights };
}

/** Split-half rotary embedding of x [..., T, D] in float64 (keras-hub's formula). */
export function refRotary(x: Arr, maxWavelength = 10000, scalingFactor = 1, start = 0): Arr {
  const D = x.shape[x.shape.length - 1];
  const T = x.shape[x.shape.length - 2];
  const half = D / 2;
  const out = arr(x.shape);
  for (let r = 0; r < x.data.length / D; r++) {
    const t = r % T;
    const p = (t + start) / scalingFactor;
    for (let d = 0; d < D; d++) {
      const i = d % half;
      const angle = p * Math.pow(maxWavelength, -(2 * i) / D);
      const partner = d < half ? -x.data[r * D + d + half] : x.data[r * D + d - half];
      out.data[r * D + d] = x.data[r * D + d] * Math.cos(angle) + partner * Math.sin(angle);
    }
  }
  return out;
}

/**
 * T5's relative-position bucket (Raffel et al. 2020), written from the
 * paper's description: half the buckets for exact small offsets, the rest
 * logarithmic up to maxDistance; with `bidirectional`, keys after the query
 * use the upper half of the buckets.
 */
export function refT5Bucket(keyMinusQuery: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
  let nb = numBuckets;
  let offset = 0;
  let dist: number;
  if (bidirectional) {
    nb = nb / 2;
    if (keyMinusQuery > 0) offset = nb;
    dist = Math.abs(keyMinusQuery);
  } else {
    dist = keyMinusQuery < 0 ? -keyMinusQuery : 0;
  }
  const exact = nb / 2;
  if (dist < exact) return offset + dist;
  const logBucket = exact + Math.trunc((Math.log(dist / exact) / Math.log(maxDistance / exact)) * (nb - exact));
  return offset + Math.min(logBucket, nb - 1);
}

// ---------------------------------------------------------------------------
// Keras MultiHeadAttention and keras-hub transformer blocks (float64).

/** Weights of a reference layer, keyed by Keras weight name (e.g. 'query/kernel'). */
export type RefWeights = Record<string, Arr>;

function addArr(a: Arr, b: Arr): Arr {
  return map(a, (x, i) => x + b.data[i]);
}

function projectHeads(x: Arr, kernel: Arr, bias: Arr): Arr {
  const [D, N, K] = kernel.shape;
  const [B, T] = x.shape;
  const y = refDense(x, reshape(kernel, [D, N * K]), reshape(bias, [N * K]));
  return transpose(reshape(y, [B, T, N, K]), [0, 2, 1, 3]);
}

/**
 * Keras MultiHeadAttention: query [B,T,Dq], value [B,S,Dv], key [B,S,Dk];
 * mask nonzero = may attend, broadcast to [B,1,T,S] (give [B,1,T,S] or [1,1,T,S]).
 * Fully masked rows get uniform weights, as Keras does.
 */
export function refMultiHeadAttention(
  query: Arr, value: Arr, key: Arr, w: RefWeights, opts: { mask?: Arr; causal?: boolean } = {},
): Arr {
  const q = projectHeads(query, w['query/kernel'], w['query/bias']);
  const k = projectHeads(key, w['key/kernel'], w['key/bias']);
  const v = projectHeads(value, w['value/kernel'], w['value/bias']);
  const { output } = refAttention(q, k, v, { mask: opts.mask, causal: opts.causal, emptyRows: 'uniform' });
  const [B, N, T, Vd] = output.shape;
  const merged = reshape(transpose(output, [0, 2, 1, 3]), [B, T, N * Vd]);
  const ko = w['attention_output/kernel'];
  return refDense(merged, reshape(ko, [N * Vd, ko.shape[2]]), w['attention_output/bias']);
}

function sub(w: RefWeights, prefix: string): RefWeights {
  const out: RefWeights = {};
  for (const [k, v] of Object.entries(w)) if (k.startsWith(`${prefix}/`)) out[k.slice(prefix.length + 1)] = v;
  return out;
}

export const refRelu = (x: number): number => Math.max(0, x);

export interface RefBlockOptions {
  normalizeFirst?: boolean;
  eps?: number;
  activation?: (x: number) => number;
}

function refResidual(x: Arr, w: RefWeights, norm: string, o: RefBlockOptions, f: (y: Arr) => Arr): Arr {
  const eps = o.eps ?? 1e-5;
  const ln = (a: Arr): Arr => refLayerNorm(a, w[`${norm}/gamma`], w[`${norm}/beta`], eps);
  const y = o.normalizeFirst ? ln(x) : x;
  const out = addArr(f(y), x);
  return o.normalizeFirst ? out : ln(out);
}

function refFeedForward(x: Arr, w: RefWeights, o: RefBlockOptions): Arr {
  const act = o.activation ?? refRelu;
  const h = map(refDense(x, w['feedforward_intermediate_dense/kernel'], w['feedforward_intermediate_dense/bias']), act);
  return refDense(h, w['feedforward_output_dense/kernel'], w['feedforward_output_dense/bias']);
}

/** keras-hub merge_padding_and_attention_mask → [B,1,T,S] (nonzero = may attend), or undefined. */
export function refMergeMasks(B: number, T: number, S: number, padding?: Arr, attention?: Arr): Arr | undefined {
  if (!padding && !attention) return undefined;
  const out = arr([B, 1, T, S]);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < T; i++) {
      for (let j = 0; j < S; j++) {
        const p = padding ? padding.data[b * S + j] !== 0 : true;
        const a = attention ? attention.data[(b * T + i) * S + j] !== 0 : true;
        out.data[((b * T) + i) * S + j] = p && a ? 1 : 0;
      }
    }
  }
  return out;
}

/** keras-hub TransformerEncoder on x [B,T,D]; weights keyed 'self_attention_layer/query/kernel', ... */
export function refTransformerEncoder(x: Arr, w: RefWeights, o: RefBlockOptions = {}, padding?: Arr, attention?: Arr): Arr {
  const [B, T] = x.shape;
  const mask = refMergeMasks(B, T, T, padding, attention);
  const h = refResidual(x, w, 'self_attention_layer_norm', o,
    (y) => refMultiHeadAttention(y, y, y, sub(w, 'self_attention_layer'), { mask }));
  return refResidual(h, w, 'feedforward_layer_norm', o, (y) => refFeedForward(y, w, o));
}

/** keras-hub TransformerDecoder on x [B,T,D] with optional encoder [B,S,D]; causal self-attention by default. */
export function refTransformerDecoder(
  x: Arr, w: RefWeights, o: RefBlockOptions & { causal?: boolean } = {},
  encoder?: Arr, masks: { decoderPadding?: Arr; encoderPadding?: Arr } = {},
): Arr {
  const [B, T] = x.shape;
  const selfMask = refMergeMasks(B, T, T, masks.decoderPadding);
  let h = refResidual(x, w, 'self_attention_layer_norm', o,
    (y) => refMultiHeadAttention(y, y, y, sub(w, 'self_attention'), { mask: selfMask, causal: o.causal ?? true }));
  if (encoder) {
    const S = encoder.shape[1];
    const crossMask = refMergeMasks(B, T, S, masks.encoderPadding);
    h = refResidual(h, w, 'cross_attention_layer_norm', o,
      (y) => refMultiHeadAttention(y, encoder, encoder, sub(w, 'cross_attention'), { mask: crossMask }));
  }
  return refResidual(h, w, 'feedforward_layer_norm', o, (y) => refFeedForward(y, w, o));
}

/** keras-hub TokenAndPositionEmbedding: ids [B,T] → tokens[ids] + positions[t]. */
export function refTokenAndPositionEmbedding(ids: Arr, tokens: Arr, positions: Arr, startIndex = 0): Arr {
  const D = tokens.shape[1];
  const [B, T] = ids.shape;
  const out = arr([B, T, D]);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const id = ids.data[b * T + t];
      for (let d = 0; d < D; d++) {
        out.data[(b * T + t) * D + d] = tokens.data[id * D + d] + positions.data[(startIndex + t) * D + d];
      }
    }
  }
  return out;
}

/** Options of the exact-masking reference: the fused kernel's semantics. */
export interface ExactOptions {
  /** [B|1, N|1, T|1, S|1], nonzero = may attend. */
  mask?: Arr;
  /** [B|1, N|1, T|1, S|1], added to the scaled scores. */
  bias?: Arr;
  causal?: boolean;
  window?: number;
  scale: number;
  emptyRows?: 'zeros' | 'uniform';
}

export interface ExactResult {
  output: Arr;
  dq: Arr;
  dk: Arr;
  dv: Arr;
  /** In the bias's own shape, when a bias is given. */
  dbias?: Arr;
}

/**
 * Attention with exact masking over [B, N, T, H] / [B, N, S, H] / [B, N, S, Hv],
 * and its gradients for an output gradient `dout` [B, N, T, Hv], in float64.
 * A key that is hidden (mask, causal, window) gets weight exactly 0 and its
 * key and value never enter a sum; a row with no visible key, or whose
 * visible scores are all -inf, is empty: output 0 and no gradient ('zeros'),
 * or the mean of all S values with dV += dO / S ('uniform').
 */
export function refExactAttention(q: Arr, k: Arr, v: Arr, dout: Arr | null, o: ExactOptions): ExactResult {
  const [B, N, T, H] = q.shape;
  const S = k.shape[2];
  const Hv = v.shape[3];
  const output = arr([B, N, T, Hv]);
  const dq = arr(q.shape);
  const dk = arr(k.shape);
  const dv = arr(v.shape);
  const dbias = o.bias ? arr(o.bias.shape) : undefined;
  const at = (x: Arr, b: number, n: number, i: number, j: number): number => {
    const [sb, sn, st, ss] = x.shape;
    return ((((sb === 1 ? 0 : b) * sn + (sn === 1 ? 0 : n)) * st + (st === 1 ? 0 : i)) * ss) + (ss === 1 ? 0 : j);
  };
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) {
      const hq = (b * N + n) * T;
      const hk = (b * N + n) * S;
      for (let i = 0; i < T; i++) {
        const s = new Float64Array(S);
        const vis: boolean[] = [];
        let m = -Infinity;
        for (let j = 0; j < S; j++) {
          let ok = true;
          if (o.mask && o.mask.data[at(o.mask, b, n, i, j)] === 0) ok = false;
          if (o.causal && j > i) ok = false;
          if (o.window !== undefined && (j < i - o.window || (!o.causal && j > i + o.window))) ok = false;
          vis.push(ok);
          if (!ok) continue;
          let d = 0;
          for (let h = 0; h < H; h++) d += q.data[(hq + i) * H + h] * k.data[(hk + j) * H + h];
          s[j] = d * o.scale + (o.bias ? o.bias.data[at(o.bias, b, n, i, j)] : 0);
          if (s[j] > m || Number.isNaN(s[j])) m = Number.isNaN(m) ? m : s[j];
        }
        const orow = (hq + i) * Hv;
        if (m === -Infinity) {
          if (o.emptyRows === 'uniform' && S > 0) {
            for (let j = 0; j < S; j++) {
              for (let h = 0; h < Hv; h++) {
                output.data[orow + h] += v.data[(hk + j) * Hv + h] / S;
                if (dout) dv.data[(hk + j) * Hv + h] += dout.data[orow + h] / S;
              }
            }
          }
          continue;
        }
        const w = new Float64Array(S);
        let z = 0;
        for (let j = 0; j < S; j++) if (vis[j]) z += Math.exp(s[j] - m);
        for (let j = 0; j < S; j++) {
          w[j] = vis[j] ? Math.exp(s[j] - m) / z : 0;
          if (w[j] === 0) continue;
          for (let h = 0; h < Hv; h++) output.data[orow + h] += w[j] * v.data[(hk + j) * Hv + h];
        }
        if (!dout) continue;
        const dP = new Float64Array(S);
        let D = 0;
        for (let j = 0; j < S; j++) {
          if (w[j] === 0) continue;
          for (let h = 0; h < Hv; h++) dP[j] += dout.data[orow + h] * v.data[(hk + j) * Hv + h];
          D += w[j] * dP[j];
        }
        for (let j = 0; j < S; j++) {
          if (w[j] === 0) continue;
          const dS = w[j] * (dP[j] - D);
          if (dbias && o.bias) dbias.data[at(o.bias, b, n, i, j)] += dS;
          for (let h = 0; h < H; h++) {
            dq.data[(hq + i) * H + h] += o.scale * dS * k.data[(hk + j) * H + h];
            dk.data[(hk + j) * H + h] += o.scale * dS * q.data[(hq + i) * H + h];
          }
          for (let h = 0; h < Hv; h++) dv.data[(hk + j) * Hv + h] += w[j] * dout.data[orow + h];
        }
      }
    }
  }
  return { output, dq, dk, dv, dbias };
}
