/*
 * Fused attention for WebAssembly SIMD128, forward and backward, in the
 * manner of FlashAttention-2: softmax(Q·Kᵀ·scale + bias | visible)·V without
 * ever materializing the [T, S] matrix.
 *
 * Built by scripts/build-wasm.sh (clang + lld, wasm32, -msimd128, no libc) in
 * four variants from this one source: a plain-memory module (one thread) and
 * a shared-memory module (worker threads share one memory), each with plain
 * SIMD128 and with relaxed SIMD (-mrelaxed-simd -DRELAXED_SIMD: every
 * multiply-add is one f32x4.relaxed_madd, a fused multiply-add where the CPU
 * has one). The only atomic is the forward pass's item counter; the JS side
 * synchronizes the threads.
 *
 * Layout (every array is float32 and owned by the caller, in linear memory):
 *   q  [BN][Tp][H]    k  [BN][Sp][H]    v  [BN][Sp][Hv]
 *   o  [BN][Tp][Hv]   lse [BN][Tp]      (and dO, dQ, dK, dV shaped alike)
 * H and Hv are multiples of 4, Tp of 4 and Sp of 8; the padding is zeros and
 * rows i >= T or keys j >= S are never visible. mask (uint8) and bias (f32)
 * are read through element strides (0 on a broadcast dimension).
 *
 * Exact masking: a key that is not visible gets exactly zero weight (its
 * score is replaced, not offset), and its value or key row is never
 * multiplied into a result: tiles holding a key with a non-finite K or V row
 * skip every zero coefficient instead of multiplying by it. A row with no
 * visible key, or whose visible scores are all -inf, is an empty row: zeros
 * (lse = -inf marks it) or, with `uniform`, the mean of all S value rows.
 */
#include <wasm_simd128.h>
#include <stdint.h>

typedef v128_t vf;

/* acc + a·b, lane-wise: fused in the relaxed-SIMD build (rounded once, or twice where the CPU has no FMA). */
#ifdef RELAXED_SIMD
#define MADD(acc, a, b) wasm_f32x4_relaxed_madd(a, b, acc)
#else
#define MADD(acc, a, b) wasm_f32x4_add(acc, wasm_f32x4_mul(a, b))
#endif

#define QB 128 /* query rows per forward work item */
#define KP 128 /* keys per panel */

/* Parameter block, int32 slots (see src/kernels/wasm/runtime.ts). */
enum {
  P_B, P_N, P_T, P_S, P_TP, P_SP, P_H, P_HV, P_SCALE, P_CAUSAL, P_WINDOW, P_UNIFORM,
  P_Q, P_K, P_V, P_O, P_LSE,
  P_MASK, P_MSB, P_MSN, P_MST, P_MSS,
  P_BIAS, P_BSB, P_BSN, P_BST, P_BSS,
  P_DO, P_DQ, P_DK, P_DV, P_DBIAS, P_DBIAS_TSTRIDE,
  P_SCRATCH, P_SCRATCH_TSTRIDE, P_THREADS, P_DBIAS_SLOTS, P_NEXT, P_GROUPS, P_DQ_PARTS,
  P_COUNT
};

static const float NEG_INF = -__builtin_inff();

static inline float as_float(int32_t i) { union { int32_t i; float f; } u; u.i = i; return u.f; }

/*
 * 2^x lane-wise (scores are kept in log2 units: the scale carries log2(e)).
 * x <= -127, -inf included, gives exactly 0; NaN stays NaN; x is clamped at
 * 127. Round-to-nearest split x = n + r, |r| <= 1/2, by the 1.5·2^23 trick,
 * then a degree-5 polynomial for 2^r (fitted for relative error, 1.8e-7 in
 * float32) times 2^n built in the exponent bits.
 */
static inline vf vexp2(vf x) {
  const vf magic = wasm_f32x4_splat(12582912.0f);
  x = wasm_f32x4_pmin(wasm_f32x4_pmax(x, wasm_f32x4_splat(-127.0f)), wasm_f32x4_splat(127.0f));
  const vf t = wasm_f32x4_add(x, magic);
  const vf r = wasm_f32x4_sub(x, wasm_f32x4_sub(t, magic));
  vf y = wasm_f32x4_splat(1.3219078537e-3f);
  y = MADD(wasm_f32x4_splat(9.6716992557e-3f), y, r);
  y = MADD(wasm_f32x4_splat(5.5508915335e-2f), y, r);
  y = MADD(wasm_f32x4_splat(2.4022237957e-1f), y, r);
  y = MADD(wasm_f32x4_splat(6.9314688444e-1f), y, r);
  y = MADD(wasm_f32x4_splat(1.0f), y, r);
  /* t's low bits hold n (t = 1.5·2^23 + n exactly); (n + 127) << 23 is 2^n, and 0 for n = -127 */
  const v128_t pow2n = wasm_i32x4_shl(wasm_i32x4_add(t, wasm_i32x4_splat(127)), 23);
  return wasm_f32x4_mul(y, pow2n);
}

#define LOG2E 1.44269504088896341f
#define LN2 0.6931471805599453

static inline float sexp2(float x) { return wasm_f32x4_extract_lane(vexp2(wasm_f32x4_splat(x)), 0); }

/* Natural log of x >= 1 (finite), in double: the row's sum of exponentials. */
static double dlog(double x) {
  int e = 0;
  while (x >= 2.0) { x *= 0.5; e++; }
  if (x > 1.4142135623730951) { x *= 0.5; e++; }
  double s = (x - 1.0) / (x + 1.0), s2 = s * s;
  double t = s * (2.0 + s2 * (2.0 / 3 + s2 * (2.0 / 5 + s2 * (2.0 / 7 + s2 * (2.0 / 9 + s2 * (2.0 / 11 + s2 * (2.0 / 13)))))));
  return t + e * 0.6931471805599453;
}

/* max that propagates NaN (NaN anywhere → NaN). */
static inline float nmax(float a, float b) { return (a != a || b != b) ? a + b : (a > b ? a : b); }

static inline int finite_row(const float *x, int n) {
  v128_t bad = wasm_i32x4_splat(0);
  for (int h = 0; h < n; h += 4) {
    vf z = wasm_f32x4_mul(wasm_v128_load(x + h), wasm_f32x4_splat(0.0f));
    bad = wasm_v128_or(bad, wasm_f32x4_ne(z, z));
  }
  return !wasm_v128_any_true(bad);
}

typedef struct {
  int B, N, T, S, Tp, Sp, H, Hv, causal, window, uniform;
  float scale;
  const uint8_t *mask; int msb, msn, mst, mss;
  const float *bias; int bsb, bsn, bst, bss;
} Problem;

static void read_problem(const int32_t *p, Problem *pr) {
  pr->B = p[P_B]; pr->N = p[P_N]; pr->T = p[P_T]; pr->S = p[P_S];
  pr->Tp = p[P_TP]; pr->Sp = p[P_SP]; pr->H = p[P_H]; pr->Hv = p[P_HV];
  pr->scale = as_float(p[P_SCALE]); pr->causal = p[P_CAUSAL]; pr->window = p[P_WINDOW];
  pr->uniform = p[P_UNIFORM];
  pr->mask = (const uint8_t *)(uintptr_t)p[P_MASK];
  pr->msb = p[P_MSB]; pr->msn = p[P_MSN]; pr->mst = p[P_MST]; pr->mss = p[P_MSS];
  pr->bias = (const float *)(uintptr_t)p[P_BIAS];
  pr->bsb = p[P_BSB]; pr->bsn = p[P_BSN]; pr->bst = p[P_BST]; pr->bss = p[P_BSS];
}

/* Keys visible from row i lie in [key_lo(i), key_hi(i)) before the mask. */
static inline int key_lo(const Problem *pr, int i) {
  if (pr->window < 0) return 0;
  int lo = i - pr->window;
  return lo < 0 ? 0 : lo;
}
static inline int key_hi(const Problem *pr, int i) {
  int hi = pr->S;
  if (pr->causal) { if (i + 1 < hi) hi = i + 1; }
  else if (pr->window >= 0) { long w = (long)i + pr->window + 1; if (w < hi) hi = (int)w; }
  return hi;
}

/* Packs keys [j0, j0+n) (n <= KP, padded to 8; H a multiple of 4) of a [Sp][H] array as [n/8][H][8]. */
__attribute__((noinline)) static void pack_panel(const float *k, int H, int j0, int n, float *kt, uint8_t *bad, const float *v, int Hv) {
  for (int g = 0; g < n; g += 8) {
    float *dst = kt + g * H;
    for (int c = 0; c < 8; c += 4) {
      const float *s0 = k + (long)(j0 + g + c) * H, *s1 = s0 + H, *s2 = s1 + H, *s3 = s2 + H;
      /* 4 keys × 4 dims at a time: a 4×4 transpose in registers */
      for (int h = 0; h < H; h += 4) {
        const vf r0 = wasm_v128_load(s0 + h), r1 = wasm_v128_load(s1 + h), r2 = wasm_v128_load(s2 + h), r3 = wasm_v128_load(s3 + h);
        const vf t0 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5);
        const vf t2 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7), t3 = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7);
        wasm_v128_store(dst + h * 8 + c, wasm_i64x2_shuffle(t0, t1, 0, 2));
        wasm_v128_store(dst + (h + 1) * 8 + c, wasm_i64x2_shuffle(t0, t1, 1, 3));
        wasm_v128_store(dst + (h + 2) * 8 + c, wasm_i64x2_shuffle(t2, t3, 0, 2));
        wasm_v128_store(dst + (h + 3) * 8 + c, wasm_i64x2_shuffle(t2, t3, 1, 3));
      }
    }
  }
  if (bad) {
    for (int c = 0; c < n; c++) {
      const long j = j0 + c;
      bad[c] = !(finite_row(k + j * H, H) && finite_row(v + j * Hv, Hv));
    }
  }
}

/*
 * Scores beyond ±SCORE_LIMIT (a float32 overflow to ±inf, as q = k = [1e20]
 * gives) are clamped to it, as the tfjs paths do (ops/masked_softmax.ts), so
 * the softmax gives its limit instead of inf - inf = NaN, and an overflow to
 * -inf is not read as a hidden key. pmax/pmin keep NaN.
 */
#define SCORE_LIMIT (1e38f * LOG2E) /* 1e38 in natural units; scores are in log2 units */
static inline vf clamp_scores(vf x) {
  return wasm_f32x4_pmin(wasm_f32x4_pmax(x, wasm_f32x4_splat(-SCORE_LIMIT)), wasm_f32x4_splat(SCORE_LIMIT));
}

/* sc[r][c] for c in [c0, c1) (multiples of 8) = scale · q_r · k_(j0+c), 4 rows × 8 keys in registers. */
__attribute__((noinline)) static void scores4x8(const float *q, int H, const float *kt, int c0, int c1, float scale, float *sc) {
  const vf vs = wasm_f32x4_splat(scale);
  for (int c = c0; c < c1; c += 8) {
    const float *kp = kt + c * H;
    vf a0 = wasm_f32x4_splat(0), a1 = a0, b0 = a0, b1 = a0, c0v = a0, c1v = a0, d0 = a0, d1 = a0;
    const float *q0 = q, *q1 = q + H, *q2 = q + 2 * H, *q3 = q + 3 * H;
#pragma clang loop unroll(disable)
    for (int h = 0; h < H; h++) {
      vf k0 = wasm_v128_load(kp + h * 8), k1 = wasm_v128_load(kp + h * 8 + 4);
      vf x = wasm_v128_load32_splat(q0 + h);
      a0 = MADD(a0, x, k0); a1 = MADD(a1, x, k1);
      x = wasm_v128_load32_splat(q1 + h);
      b0 = MADD(b0, x, k0); b1 = MADD(b1, x, k1);
      x = wasm_v128_load32_splat(q2 + h);
      c0v = MADD(c0v, x, k0); c1v = MADD(c1v, x, k1);
      x = wasm_v128_load32_splat(q3 + h);
      d0 = MADD(d0, x, k0); d1 = MADD(d1, x, k1);
    }
    wasm_v128_store(sc + c, clamp_scores(wasm_f32x4_mul(a0, vs))); wasm_v128_store(sc + c + 4, clamp_scores(wasm_f32x4_mul(a1, vs)));
    wasm_v128_store(sc + KP + c, clamp_scores(wasm_f32x4_mul(b0, vs))); wasm_v128_store(sc + KP + c + 4, clamp_scores(wasm_f32x4_mul(b1, vs)));
    wasm_v128_store(sc + 2 * KP + c, clamp_scores(wasm_f32x4_mul(c0v, vs))); wasm_v128_store(sc + 2 * KP + c + 4, clamp_scores(wasm_f32x4_mul(c1v, vs)));
    wasm_v128_store(sc + 3 * KP + c, clamp_scores(wasm_f32x4_mul(d0, vs))); wasm_v128_store(sc + 3 * KP + c + 4, clamp_scores(wasm_f32x4_mul(d1, vs)));
  }
}

/*
 * Adds the bias and hides what is not visible (score := -inf) for rows
 * i0..i0+3 and keys j0+c, c in [c0, c1). Returns nothing; cheap next to the products.
 */
__attribute__((noinline)) static void bias_and_visibility(const Problem *pr, int b, int n, int i0, int j0, int c0, int c1, float *sc) {
  const int fast_rows = i0 + 3 < pr->T;
  for (int r = 0; r < 4; r++) {
    const int i = i0 + r;
    float *row = sc + r * KP;
    if (i >= pr->T) { for (int c = c0; c < c1; c++) row[c] = NEG_INF; continue; }
    const int lo = key_lo(pr, i), hi = key_hi(pr, i);
    if (pr->bias) {
      const float *bp = pr->bias + (long)b * pr->bsb + (long)n * pr->bsn + (long)i * pr->bst;
      const int jmax = c1 + j0 <= pr->S ? c1 : pr->S - j0;
      for (int c = c0; c < jmax; c++) {
        row[c] += bp[(long)(j0 + c) * pr->bss] * LOG2E;
        if (row[c] > SCORE_LIMIT) row[c] = SCORE_LIMIT; /* a +inf bias, or an overflow of the sum; -inf still hides */
      }
    }
    if (pr->mask) {
      const uint8_t *mp = pr->mask + (long)b * pr->msb + (long)n * pr->msn + (long)i * pr->mst;
      for (int c = c0; c < c1; c++) {
        const int j = j0 + c;
        if (j < lo || j >= hi || !mp[(long)j * pr->mss]) row[c] = NEG_INF;
      }
    } else {
      for (int c = c0; c < c1; c++) {
        const int j = j0 + c;
        if (j < lo || j >= hi) row[c] = NEG_INF;
      }
    }
  }
  (void)fast_rows;
}

/* Whether keys [j0+c0, j0+c1) are visible from all of rows i0..i0+3 with no mask/bias work. */
static inline int tile_clean(const Problem *pr, int i0, int ja, int jb) {
  if (pr->mask || pr->bias || i0 + 3 >= pr->T || jb > pr->S) return 0;
  /* the band of the last row starts latest, the band of the first row ends earliest */
  return ja >= key_lo(pr, i0 + 3) && jb <= key_hi(pr, i0);
}

/* Mean of the S value rows of one head into out[Hv] (the 'uniform' empty-row result). */
static void value_mean(const float *v, int S, int Hv, float *out) {
  for (int h = 0; h < Hv; h++) out[h] = 0;
  if (S == 0) return;
  for (int j = 0; j < S; j++)
    for (int h = 0; h < Hv; h += 4)
      wasm_v128_store(out + h, wasm_f32x4_add(wasm_v128_load(out + h), wasm_v128_load(v + (long)j * Hv + h)));
  const vf inv = wasm_f32x4_splat(1.0f / (float)S);
  for (int h = 0; h < Hv; h += 4) wasm_v128_store(out + h, wasm_f32x4_mul(wasm_v128_load(out + h), inv));
}

/*
 * acc[r][:] += Σ_c coef[r][c] · rows[j0+c][:] for c in [c0, c1), 4 rows; rows
 * is [.][W] row-major. In a tile of 8 keys that holds a key with a
 * non-finite row, zero coefficients are skipped instead of multiplied.
 */
__attribute__((noinline)) static void accumulate4(float *acc, int accStride, const float *coef, const float *rows, int W, int j0, int c0, int c1, const uint8_t *bad) {
  unsigned badtiles = 0; /* bit t/8: the tile holds a key with a non-finite row */
  if (bad) for (int c = c0; c < c1; c++) if (bad[c]) badtiles |= 1u << (c / 8);
  int h = 0;
  /* 4 rows × 8 columns in registers while the keys stream by */
  for (; h + 8 <= W; h += 8) {
    float *r0 = acc + h, *r1 = acc + accStride + h, *r2 = acc + 2 * accStride + h, *r3 = acc + 3 * accStride + h;
    vf a0 = wasm_v128_load(r0), a1 = wasm_v128_load(r1), a2 = wasm_v128_load(r2), a3 = wasm_v128_load(r3);
    vf b0 = wasm_v128_load(r0 + 4), b1 = wasm_v128_load(r1 + 4), b2 = wasm_v128_load(r2 + 4), b3 = wasm_v128_load(r3 + 4);
    for (int t = c0; t < c1; t += 8) {
      if (!(badtiles >> (t / 8) & 1u)) {
#pragma clang loop unroll(disable)
        for (int c = t; c < t + 8; c++) {
          const float *xr = rows + (long)(j0 + c) * W + h;
          const vf x = wasm_v128_load(xr), y = wasm_v128_load(xr + 4);
          vf p = wasm_v128_load32_splat(coef + c);
          a0 = MADD(a0, p, x); b0 = MADD(b0, p, y);
          p = wasm_v128_load32_splat(coef + KP + c);
          a1 = MADD(a1, p, x); b1 = MADD(b1, p, y);
          p = wasm_v128_load32_splat(coef + 2 * KP + c);
          a2 = MADD(a2, p, x); b2 = MADD(b2, p, y);
          p = wasm_v128_load32_splat(coef + 3 * KP + c);
          a3 = MADD(a3, p, x); b3 = MADD(b3, p, y);
        }
      } else {
        for (int c = t; c < t + 8; c++) {
          const float *xr = rows + (long)(j0 + c) * W + h;
          const vf x = wasm_v128_load(xr), y = wasm_v128_load(xr + 4);
          vf p;
          if (!bad[c] || coef[c] != 0) { p = wasm_v128_load32_splat(coef + c); a0 = MADD(a0, p, x); b0 = MADD(b0, p, y); }
          if (!bad[c] || coef[KP + c] != 0) { p = wasm_v128_load32_splat(coef + KP + c); a1 = MADD(a1, p, x); b1 = MADD(b1, p, y); }
          if (!bad[c] || coef[2 * KP + c] != 0) { p = wasm_v128_load32_splat(coef + 2 * KP + c); a2 = MADD(a2, p, x); b2 = MADD(b2, p, y); }
          if (!bad[c] || coef[3 * KP + c] != 0) { p = wasm_v128_load32_splat(coef + 3 * KP + c); a3 = MADD(a3, p, x); b3 = MADD(b3, p, y); }
        }
      }
    }
    wasm_v128_store(r0, a0); wasm_v128_store(r1, a1); wasm_v128_store(r2, a2); wasm_v128_store(r3, a3);
    wasm_v128_store(r0 + 4, b0); wasm_v128_store(r1 + 4, b1); wasm_v128_store(r2 + 4, b2); wasm_v128_store(r3 + 4, b3);
  }
  for (; h < W; h += 4) {
    vf a0 = wasm_v128_load(acc + h), a1 = wasm_v128_load(acc + accStride + h);
    vf a2 = wasm_v128_load(acc + 2 * accStride + h), a3 = wasm_v128_load(acc + 3 * accStride + h);
    for (int t = c0; t < c1; t += 8) {
      const int tb = badtiles >> (t / 8) & 1u;
      for (int c = t; c < t + 8; c++) {
        const vf x = wasm_v128_load(rows + (long)(j0 + c) * W + h);
        if (!tb || !bad[c] || coef[c] != 0) a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wasm_v128_load32_splat(coef + c), x));
        if (!tb || !bad[c] || coef[KP + c] != 0) a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(wasm_v128_load32_splat(coef + KP + c), x));
        if (!tb || !bad[c] || coef[2 * KP + c] != 0) a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(wasm_v128_load32_splat(coef + 2 * KP + c), x));
        if (!tb || !bad[c] || coef[3 * KP + c] != 0) a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(wasm_v128_load32_splat(coef + 3 * KP + c), x));
      }
    }
    wasm_v128_store(acc + h, a0); wasm_v128_store(acc + accStride + h, a1);
    wasm_v128_store(acc + 2 * accStride + h, a2); wasm_v128_store(acc + 3 * accStride + h, a3);
  }
}

/* acc[r][:] += Σ_c pt[c][r] · rows[j0+c][:], c in [c0, c1): pt holds the 4 rows' coefficients key-major; every row finite. */
__attribute__((noinline)) static void accumulate4t(float *acc, int accStride, const float *pt, const float *rows, int W, int j0, int c0, int c1) {
  for (int h = 0; h < W; h += 8) {
    float *r0 = acc + h, *r1 = acc + accStride + h, *r2 = acc + 2 * accStride + h, *r3 = acc + 3 * accStride + h;
    vf a0 = wasm_v128_load(r0), a1 = wasm_v128_load(r1), a2 = wasm_v128_load(r2), a3 = wasm_v128_load(r3);
    vf b0 = wasm_v128_load(r0 + 4), b1 = wasm_v128_load(r1 + 4), b2 = wasm_v128_load(r2 + 4), b3 = wasm_v128_load(r3 + 4);
    const float *xr = rows + (long)(j0 + c0) * W + h;
    const float *cp = pt + 4 * c0, *const cend = pt + 4 * c1;
#pragma clang loop unroll(disable)
    for (; cp < cend; cp += 4, xr += W) {
      const vf x = wasm_v128_load(xr), y = wasm_v128_load(xr + 4);
      vf p = wasm_v128_load32_splat(cp);
      a0 = MADD(a0, p, x); b0 = MADD(b0, p, y);
      p = wasm_v128_load32_splat(cp + 1);
      a1 = MADD(a1, p, x); b1 = MADD(b1, p, y);
      p = wasm_v128_load32_splat(cp + 2);
      a2 = MADD(a2, p, x); b2 = MADD(b2, p, y);
      p = wasm_v128_load32_splat(cp + 3);
      a3 = MADD(a3, p, x); b3 = MADD(b3, p, y);
    }
    wasm_v128_store(r0, a0); wasm_v128_store(r1, a1); wasm_v128_store(r2, a2); wasm_v128_store(r3, a3);
    wasm_v128_store(r0 + 4, b0); wasm_v128_store(r1 + 4, b1); wasm_v128_store(r2 + 4, b2); wasm_v128_store(r3 + 4, b3);
  }
}

/* pt[c][r] = sc[r][c] for c in [c0, c1) (multiples of 4). */
static inline void transpose4(const float *sc, int c0, int c1, float *pt) {
  for (int c = c0; c < c1; c += 4) {
    const vf r0 = wasm_v128_load(sc + c), r1 = wasm_v128_load(sc + KP + c), r2 = wasm_v128_load(sc + 2 * KP + c), r3 = wasm_v128_load(sc + 3 * KP + c);
    const vf t0 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5);
    const vf t2 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7), t3 = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7);
    wasm_v128_store(pt + 4 * c, wasm_i64x2_shuffle(t0, t1, 0, 2));
    wasm_v128_store(pt + 4 * c + 4, wasm_i64x2_shuffle(t0, t1, 1, 3));
    wasm_v128_store(pt + 4 * c + 8, wasm_i64x2_shuffle(t2, t3, 0, 2));
    wasm_v128_store(pt + 4 * c + 12, wasm_i64x2_shuffle(t2, t3, 1, 3));
  }
}

/*
 * out[j0+c][:] += Σ_r coef[r][c] · x_r[:] for c in [c0, c1): the transposed
 * product (dV += Pᵀ·dO, dK += dSᵀ·Q). Zero coefficients add exactly zero
 * (x is a query-side row, finite or the caller's own NaN).
 */
__attribute__((noinline)) static void scatter4(float *out, int W, const float *coef, const float *x, int xStride, int j0, int c0, int c1) {
  int h = 0;
  for (; h + 8 <= W; h += 8) {
    const vf x0 = wasm_v128_load(x + h), x1 = wasm_v128_load(x + xStride + h);
    const vf x2 = wasm_v128_load(x + 2 * xStride + h), x3 = wasm_v128_load(x + 3 * xStride + h);
    const vf y0 = wasm_v128_load(x + h + 4), y1 = wasm_v128_load(x + xStride + h + 4);
    const vf y2 = wasm_v128_load(x + 2 * xStride + h + 4), y3 = wasm_v128_load(x + 3 * xStride + h + 4);
#pragma clang loop unroll_count(2)
    for (int c = c0; c < c1; c++) {
      float *o = out + (long)(j0 + c) * W + h;
      vf a = wasm_v128_load(o), b = wasm_v128_load(o + 4);
      vf p = wasm_v128_load32_splat(coef + c);
      a = MADD(a, p, x0); b = MADD(b, p, y0);
      p = wasm_v128_load32_splat(coef + KP + c);
      a = MADD(a, p, x1); b = MADD(b, p, y1);
      p = wasm_v128_load32_splat(coef + 2 * KP + c);
      a = MADD(a, p, x2); b = MADD(b, p, y2);
      p = wasm_v128_load32_splat(coef + 3 * KP + c);
      a = MADD(a, p, x3); b = MADD(b, p, y3);
      wasm_v128_store(o, a); wasm_v128_store(o + 4, b);
    }
  }
  for (; h < W; h += 4) {
    const vf x0 = wasm_v128_load(x + h), x1 = wasm_v128_load(x + xStride + h);
    const vf x2 = wasm_v128_load(x + 2 * xStride + h), x3 = wasm_v128_load(x + 3 * xStride + h);
    for (int c = c0; c < c1; c++) {
      float *o = out + (long)(j0 + c) * W + h;
      vf a = wasm_v128_load(o);
      a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_v128_load32_splat(coef + c), x0));
      a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_v128_load32_splat(coef + KP + c), x1));
      a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_v128_load32_splat(coef + 2 * KP + c), x2));
      a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_v128_load32_splat(coef + 3 * KP + c), x3));
      wasm_v128_store(o, a);
    }
  }
}

/* Forward scratch per thread, in floats. */
static long fwd_scratch_floats(int H, int Hv) { return (long)KP * H + KP + 8 * KP + QB * 2 + (long)QB * Hv + Hv; }

/* One forward work item: head bn, query rows [qb*QB, qb*QB+QB). */
static void forward_item(const int32_t *p, const Problem *pr, int bn, int qb, float *scratch) {
  const int H = pr->H, Hv = pr->Hv, b = bn / pr->N, n = bn % pr->N;
  const float *q = (const float *)(uintptr_t)p[P_Q] + (long)bn * pr->Tp * H;
  const float *k = (const float *)(uintptr_t)p[P_K] + (long)bn * pr->Sp * H;
  const float *v = (const float *)(uintptr_t)p[P_V] + (long)bn * pr->Sp * Hv;
  float *o = (float *)(uintptr_t)p[P_O] + (long)bn * pr->Tp * Hv;
  float *lse = (float *)(uintptr_t)p[P_LSE] + (long)bn * pr->Tp;

  float *kt = scratch;
  uint8_t *bad = (uint8_t *)(kt + KP * H);
  float *sc = kt + KP * H + KP / 4 * 4;
  float *pt = sc + 4 * KP;
  float *m = pt + 4 * KP;
  float *l = m + QB;
  float *acc = l + QB;
  float *mean = acc + QB * Hv;

  const int i0 = qb * QB;
  const int i1 = i0 + QB < pr->Tp ? i0 + QB : pr->Tp;
  for (int i = i0; i < i1; i++) { m[i - i0] = NEG_INF; l[i - i0] = 0; }
  for (long x = 0; x < (long)(i1 - i0) * Hv; x++) acc[x] = 0;

  /* keys any row of this item may see */
  int jlo = pr->S, jhi = 0;
  for (int i = i0; i < i1 && i < pr->T; i++) {
    const int lo = key_lo(pr, i), hi = key_hi(pr, i);
    if (lo < hi) { if (lo < jlo) jlo = lo; if (hi > jhi) jhi = hi; }
  }
  if (jlo < jhi) {
    for (int p0 = jlo / 8 * 8; p0 < jhi; p0 += KP) {
      int np = jhi - p0; if (np > KP) np = KP; np = (np + 7) / 8 * 8;
      pack_panel(k, H, p0, np, kt, bad, v, Hv);
      int panel_bad = 0; /* a key of this panel has a non-finite K or V row */
      for (int c = 0; c < np; c++) panel_bad |= bad[c];
      for (int iq = i0; iq < i1; iq += 4) {
        if (iq >= pr->T) break;
        /* keys of this quad inside the panel, in whole tiles of 8 */
        int qlo = pr->S, qhi = 0;
        for (int r = 0; r < 4 && iq + r < pr->T; r++) {
          const int lo = key_lo(pr, iq + r), hi = key_hi(pr, iq + r);
          if (lo < hi) { if (lo < qlo) qlo = lo; if (hi > qhi) qhi = hi; }
        }
        if (qlo < p0) qlo = p0;
        if (qhi > p0 + np) qhi = p0 + np;
        if (qlo >= qhi) continue;
        const int c0 = (qlo - p0) / 8 * 8, c1 = (qhi - p0 + 7) / 8 * 8;
        scores4x8(q + (long)iq * H, H, kt, c0, c1, pr->scale * LOG2E, sc);
        int clean = 1;
        for (int t = c0; t < c1 && clean; t += 8) clean = tile_clean(pr, iq, p0 + t, p0 + t + 8);
        if (!clean) bias_and_visibility(pr, b, n, iq, p0, c0, c1, sc);
        for (int r = 0; r < 4; r++) {
          float *row = sc + r * KP;
          const int ri = iq - i0 + r;
          /* pmax skips NaN (a single x64 maxps); a NaN score still reaches the sum and the output through exp */
          vf vmx = wasm_f32x4_splat(NEG_INF);
          for (int c = c0; c < c1; c += 4) vmx = wasm_f32x4_pmax(vmx, wasm_v128_load(row + c));
          vmx = wasm_f32x4_pmax(vmx, wasm_i32x4_shuffle(vmx, vmx, 2, 3, 0, 1));
          vmx = wasm_f32x4_pmax(vmx, wasm_i32x4_shuffle(vmx, vmx, 1, 0, 3, 2));
          const float pm = wasm_f32x4_extract_lane(vmx, 0);
          const float mold = m[ri];
          float mnew = nmax(mold, pm);
          if (mnew == NEG_INF) {
            /* nothing visible here yet, unless a score is NaN: then the row is NaN, as it would be with a finite max */
            int nan = 0;
            for (int c = c0; c < c1; c++) nan |= row[c] != row[c];
            if (!nan) { for (int c = c0; c < c1; c++) row[c] = 0; continue; }
            mnew = __builtin_nanf("");
          }
          const float alpha = sexp2(mold - mnew);
          const vf vm = wasm_f32x4_splat(mnew);
          vf sum = wasm_f32x4_splat(0);
          for (int c = c0; c < c1; c += 4) {
            const vf e = vexp2(wasm_f32x4_sub(wasm_v128_load(row + c), vm));
            wasm_v128_store(row + c, e);
            sum = wasm_f32x4_add(sum, e);
          }
          const float s = wasm_f32x4_extract_lane(sum, 0) + wasm_f32x4_extract_lane(sum, 1) +
                          wasm_f32x4_extract_lane(sum, 2) + wasm_f32x4_extract_lane(sum, 3);
          l[ri] = l[ri] * alpha + s;
          m[ri] = mnew;
          if (alpha != 1.0f) {
            float *a = acc + (long)ri * Hv;
            const vf va = wasm_f32x4_splat(alpha);
            for (int h = 0; h < Hv; h += 4) wasm_v128_store(a + h, wasm_f32x4_mul(wasm_v128_load(a + h), va));
          }
        }
        {
          int anybad = 0;
          if (panel_bad) for (int c = c0; c < c1; c++) anybad |= bad[c];
          if (anybad || (Hv & 7)) accumulate4(acc + (long)(iq - i0) * Hv, Hv, sc, v, Hv, p0, c0, c1, bad);
          else { transpose4(sc, c0, c1, pt); accumulate4t(acc + (long)(iq - i0) * Hv, Hv, pt, v, Hv, p0, c0, c1); }
        }
      }
    }
  }
  int have_mean = 0;
  for (int i = i0; i < i1; i++) {
    const int ri = i - i0;
    float *orow = o + (long)i * Hv;
    const float mi = m[ri];
    if (mi == NEG_INF || i >= pr->T) {
      lse[i] = NEG_INF;
      if (pr->uniform && i < pr->T) {
        if (!have_mean) { value_mean(v, pr->S, Hv, mean); have_mean = 1; }
        for (int h = 0; h < Hv; h++) orow[h] = mean[h];
      } else {
        for (int h = 0; h < Hv; h++) orow[h] = 0;
      }
      continue;
    }
    const float li = l[ri];
    const vf inv = wasm_f32x4_splat(1.0f / li);
    const float *a = acc + (long)ri * Hv;
    for (int h = 0; h < Hv; h += 4) wasm_v128_store(orow + h, wasm_f32x4_mul(wasm_v128_load(a + h), inv));
    lse[i] = (li != li || mi != mi) ? mi + li : (float)((double)mi * LN2 + dlog((double)li));
  }
}

extern unsigned char __heap_base;

/* First free byte after the module's stack and data (the JS side allocates from here). */
__attribute__((export_name("attn_heap_base"))) int attn_heap_base(void) { return (int)(uintptr_t)&__heap_base; }

/* Scratch each thread needs, in bytes (the JS side allocates threads × this). */
__attribute__((export_name("attn_scratch_bytes"))) int attn_scratch_bytes(int H, int Hv) {
  const long f = fwd_scratch_floats(H, Hv);
  const long bwd = (long)KP * H + (long)KP * Hv + KP + 4 * 4 * KP + Hv;
  const long mx = f > bwd ? f : bwd;
  return (int)((mx * 4 + 64 + 15) / 16 * 16);
}

/* Forward for thread tid: work items (head, block of QB query rows) from a shared counter. */
__attribute__((export_name("attn_forward"))) void attn_forward(const int32_t *p, int tid) {
  Problem pr;
  read_problem(p, &pr);
  const int nth = p[P_THREADS];
  if (tid >= nth) return;
  float *scratch = (float *)(uintptr_t)(p[P_SCRATCH] + tid * p[P_SCRATCH_TSTRIDE]);
  const int blocks = (pr.Tp + QB - 1) / QB;
  const int items = pr.B * pr.N * blocks;
  /* Items are handed out from a shared counter (zeroed by the caller), so a thread that drew cheap
     items (causal: early rows) takes more of them. Each item is computed the same way whichever
     thread runs it, so the result does not depend on the thread count or the order. */
  int32_t *next = (int32_t *)p + P_NEXT;
  for (int it = __atomic_fetch_add(next, 1, __ATOMIC_RELAXED); it < items; it = __atomic_fetch_add(next, 1, __ATOMIC_RELAXED))
    forward_item(p, &pr, it / blocks, it % blocks, scratch);
}

/*
 * Backward of one head's key panels g, g+G, g+2G, ... (all of them when G = 1):
 * dK and dV of those keys, dBias of their columns, and their share of dQ into
 * dq_out ([Tp][H], the head's dQ when G = 1, else group g's partial sum).
 */
static void backward_item(const int32_t *p, const Problem *pr, int bn, int g0, int G, float *dq_out, float *scratch, float *dbias) {
  const int H = pr->H, Hv = pr->Hv, b = bn / pr->N, n = bn % pr->N, T = pr->T, S = pr->S;
  const float *q = (const float *)(uintptr_t)p[P_Q] + (long)bn * pr->Tp * H;
  const float *k = (const float *)(uintptr_t)p[P_K] + (long)bn * pr->Sp * H;
  const float *v = (const float *)(uintptr_t)p[P_V] + (long)bn * pr->Sp * Hv;
  const float *o = (const float *)(uintptr_t)p[P_O] + (long)bn * pr->Tp * Hv;
  const float *lse = (const float *)(uintptr_t)p[P_LSE] + (long)bn * pr->Tp;
  const float *dout = (const float *)(uintptr_t)p[P_DO] + (long)bn * pr->Tp * Hv;
  float *dq = dq_out;
  float *dk = (float *)(uintptr_t)p[P_DK] + (long)bn * pr->Sp * H;
  float *dv = (float *)(uintptr_t)p[P_DV] + (long)bn * pr->Sp * Hv;

  float *kt = scratch;
  float *vt = kt + KP * H;
  uint8_t *bad = (uint8_t *)(vt + KP * Hv);
  float *sc = vt + KP * Hv + KP / 4;
  float *dp = sc + 4 * KP;
  float *pt = dp + 4 * KP; /* dS of 4 rows, key-major (accumulate4t) */
  float *g = pt + 4 * KP;  /* Σ dO over empty rows ('uniform') */

  for (long x = 0; x < (long)pr->Tp * H; x++) dq[x] = 0;
  for (int p0 = g0 * KP; p0 < pr->Sp; p0 += G * KP) {
    const int pe = p0 + KP < pr->Sp ? p0 + KP : pr->Sp;
    for (long x = (long)p0 * H; x < (long)pe * H; x++) dk[x] = 0;
    for (long x = (long)p0 * Hv; x < (long)pe * Hv; x++) dv[x] = 0;
  }
  for (int h = 0; h < Hv; h++) g[h] = 0;

  int any_empty = 0;
  for (int i = 0; i < T; i++) {
    if (lse[i] == NEG_INF) {
      any_empty = 1;
      if (pr->uniform) for (int h = 0; h < Hv; h++) g[h] += dout[(long)i * Hv + h];
    }
  }

  for (int p0 = g0 * KP; p0 < S; p0 += G * KP) {
    int np = S - p0; if (np > KP) np = KP; np = (np + 7) / 8 * 8;
    const int plast = p0 + np - 1 < S - 1 ? p0 + np - 1 : S - 1;
    /* rows that may see a key of this panel */
    int ilo = 0, ihi = T;
    if (pr->causal) ilo = p0;
    if (pr->window >= 0) {
      if (!pr->causal) { int lo = p0 - pr->window; if (lo > ilo) ilo = lo; }
      long hi = (long)plast + pr->window + 1; if (hi < ihi) ihi = (int)hi;
    }
    if (ilo >= ihi) continue;
    pack_panel(k, H, p0, np, kt, bad, v, Hv);
    pack_panel(v, Hv, p0, np, vt, 0, 0, 0);
    int panel_bad = 0;
    for (int c = 0; c < np; c++) panel_bad |= bad[c];
    for (int iq = ilo / 4 * 4; iq < ihi; iq += 4) {
      int qlo = S, qhi = 0, live = 0;
      for (int r = 0; r < 4 && iq + r < T; r++) {
        if (lse[iq + r] == NEG_INF) continue;
        live = 1;
        const int lo = key_lo(pr, iq + r), hi = key_hi(pr, iq + r);
        if (lo < hi) { if (lo < qlo) qlo = lo; if (hi > qhi) qhi = hi; }
      }
      if (!live) continue;
      if (qlo < p0) qlo = p0;
      if (qhi > p0 + np) qhi = p0 + np;
      if (qlo >= qhi) continue;
      const int c0 = (qlo - p0) / 8 * 8, c1 = (qhi - p0 + 7) / 8 * 8;
      scores4x8(q + (long)iq * H, H, kt, c0, c1, pr->scale * LOG2E, sc);
      int clean = 1;
      for (int t = c0; t < c1 && clean; t += 8) clean = tile_clean(pr, iq, p0 + t, p0 + t + 8);
      if (!clean) bias_and_visibility(pr, b, n, iq, p0, c0, c1, sc);
      scores4x8(dout + (long)iq * Hv, Hv, vt, c0, c1, 1.0f, dp);
      for (int r = 0; r < 4; r++) {
        const int i = iq + r;
        float *prow = sc + r * KP, *srow = dp + r * KP;
        const float li = i < T ? lse[i] : NEG_INF;
        if (li == NEG_INF) {
          for (int c = c0; c < c1; c++) { prow[c] = 0; srow[c] = 0; }
          continue;
        }
        float di = 0;
        for (int h = 0; h < Hv; h++) di += dout[(long)i * Hv + h] * o[(long)i * Hv + h];
        const vf vl = wasm_f32x4_splat(li * LOG2E), vd = wasm_f32x4_splat(di), zero = wasm_f32x4_splat(0);
        for (int c = c0; c < c1; c += 4) {
          const vf pv = vexp2(wasm_f32x4_sub(wasm_v128_load(prow + c), vl));
          vf ds = wasm_f32x4_mul(pv, wasm_f32x4_sub(wasm_v128_load(srow + c), vd));
          ds = wasm_v128_bitselect(zero, ds, wasm_f32x4_eq(pv, zero));
          wasm_v128_store(prow + c, pv);
          wasm_v128_store(srow + c, ds);
        }
        if (dbias) {
          float *bp = dbias + (long)b * pr->bsb + (long)n * pr->bsn + (long)i * pr->bst;
          for (int c = c0; c < c1; c++) {
            const int j = p0 + c;
            if (j < S && prow[c] != 0) bp[(long)j * pr->bss] += srow[c];
          }
        }
        const vf vs = wasm_f32x4_splat(pr->scale);
        for (int c = c0; c < c1; c += 4) wasm_v128_store(srow + c, wasm_f32x4_mul(wasm_v128_load(srow + c), vs));
      }
      scatter4(dv, Hv, sc, dout + (long)iq * Hv, Hv, p0, c0, c1);
      scatter4(dk, H, dp, q + (long)iq * H, H, p0, c0, c1);
      int anybad = 0;
      if (panel_bad) for (int c = c0; c < c1; c++) anybad |= bad[c];
      if (anybad || (H & 7)) accumulate4(dq + (long)iq * H, H, dp, k, H, p0, c0, c1, bad);
      else { transpose4(dp, c0, c1, pt); accumulate4t(dq + (long)iq * H, H, pt, k, H, p0, c0, c1); }
    }
  }
  if (any_empty && pr->uniform && S > 0) {
    const vf inv = wasm_f32x4_splat(1.0f / (float)S);
    for (int h = 0; h < Hv; h += 4) wasm_v128_store(g + h, wasm_f32x4_mul(wasm_v128_load(g + h), inv));
    for (int p0 = g0 * KP; p0 < S; p0 += G * KP) {
      const int pe = p0 + KP < S ? p0 + KP : S;
      for (int j = p0; j < pe; j++)
        for (int h = 0; h < Hv; h += 4)
          wasm_v128_store(dv + (long)j * Hv + h, wasm_f32x4_add(wasm_v128_load(dv + (long)j * Hv + h), wasm_v128_load(g + h)));
    }
  }
}

/*
 * Backward for thread tid. With P_GROUPS = 1, heads round-robin over threads;
 * a bias shared by several heads gets P_DBIAS_SLOTS partial sums (head bn
 * adds into slot bn % slots; the thread count divides slots, so a slot has
 * one writer and the sums do not depend on the thread count). With G =
 * P_GROUPS > 1 (fewer heads than threads could share), items (head, key
 * panel group) come from the shared counter; group g writes its dQ share to
 * P_DQ_PARTS[g] and the caller sums the G parts in order (so the result
 * depends on G, which the caller fixes, not on the threads); each head has
 * its own dBias slot, and a group's columns are its own.
 */
__attribute__((export_name("attn_backward"))) void attn_backward(const int32_t *p, int tid) {
  Problem pr;
  read_problem(p, &pr);
  const int nth = p[P_THREADS];
  if (tid >= nth) return;
  float *scratch = (float *)(uintptr_t)(p[P_SCRATCH] + tid * p[P_SCRATCH_TSTRIDE]);
  const int slots = p[P_DBIAS_SLOTS] > 0 ? p[P_DBIAS_SLOTS] : 1;
  const int heads = pr.B * pr.N;
  const int G = p[P_GROUPS] > 1 ? p[P_GROUPS] : 1;
  const long head_q = (long)pr.Tp * pr.H;
  if (G == 1) {
    for (int bn = tid; bn < heads; bn += nth) {
      float *dbias = p[P_DBIAS] ? (float *)(uintptr_t)p[P_DBIAS] + (long)(bn % slots) * p[P_DBIAS_TSTRIDE] : 0;
      backward_item(p, &pr, bn, 0, 1, (float *)(uintptr_t)p[P_DQ] + bn * head_q, scratch, dbias);
    }
    return;
  }
  int32_t *next = (int32_t *)p + P_NEXT;
  const int items = heads * G;
  for (int it = __atomic_fetch_add(next, 1, __ATOMIC_RELAXED); it < items; it = __atomic_fetch_add(next, 1, __ATOMIC_RELAXED)) {
    const int bn = it / G, g = it % G;
    float *dbias = p[P_DBIAS] ? (float *)(uintptr_t)p[P_DBIAS] + (long)(bn % slots) * p[P_DBIAS_TSTRIDE] : 0;
    float *part = (float *)(uintptr_t)p[P_DQ_PARTS] + ((long)g * heads + bn) * head_q;
    backward_item(p, &pr, bn, g, G, part, scratch, dbias);
  }
}

/*
 * The bench's ceiling: a register-only loop of 12 independent chains of
 * a = a·m + c (8 flops each: an f32x4 multiply and add, or one relaxed_madd in
 * the relaxed-SIMD build): 96 flops per iteration.
 */
__attribute__((export_name("attn_simd_peak"))) float attn_simd_peak(int iters, float x) {
  const vf m = wasm_f32x4_splat(0.999f), c = wasm_f32x4_splat(x * 1e-3f);
  vf a0 = wasm_f32x4_splat(x), a1 = wasm_f32x4_add(a0, c), a2 = wasm_f32x4_add(a1, c), a3 = wasm_f32x4_add(a2, c);
  vf a4 = wasm_f32x4_add(a3, c), a5 = wasm_f32x4_add(a4, c), a6 = wasm_f32x4_add(a5, c), a7 = wasm_f32x4_add(a6, c);
  vf a8 = wasm_f32x4_add(a7, c), a9 = wasm_f32x4_add(a8, c), a10 = wasm_f32x4_add(a9, c), a11 = wasm_f32x4_add(a10, c);
  for (int i = 0; i < iters; i++) {
    a0 = MADD(c, a0, m); a1 = MADD(c, a1, m);
    a2 = MADD(c, a2, m); a3 = MADD(c, a3, m);
    a4 = MADD(c, a4, m); a5 = MADD(c, a5, m);
    a6 = MADD(c, a6, m); a7 = MADD(c, a7, m);
    a8 = MADD(c, a8, m); a9 = MADD(c, a9, m);
    a10 = MADD(c, a10, m); a11 = MADD(c, a11, m);
  }
  vf s = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(a0, a1), wasm_f32x4_add(a2, a3)), wasm_f32x4_add(wasm_f32x4_add(a4, a5), wasm_f32x4_add(a6, a7)));
  s = wasm_f32x4_add(s, wasm_f32x4_add(wasm_f32x4_add(a8, a9), wasm_f32x4_add(a10, a11)));
  return wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1) + wasm_f32x4_extract_lane(s, 2) + wasm_f32x4_extract_lane(s, 3);
}
