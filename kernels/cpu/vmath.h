/* kernels/cpu/vmath.h - branch-free float math that the compiler vectorises inside
 * `#pragma omp simd` loops (glibc's expf/erff/log1pf are scalar calls without
 * -ffast-math, and -ffast-math would break parity with the reference).
 * Accuracy (checked by tests/test_vmath.c against double libm over wide ranges):
 * vm_expf (and vm_expf_neg on x <= 0) <= 2 ulp, vm_logf <= 1.2e-7, vm_softplusf <= 2.5e-7, vm_siluf <= 1e-6 relative;
 * vm_geluf <= 1.2e-6 absolute (1.5e-6 in a build without FMA). */
#ifndef VSSM_CPU_VMATH_H
#define VSSM_CPU_VMATH_H

#include <stdint.h>
#include <string.h>

/* `#pragma omp simd simdlen(VM_SIMDLEN32)`: GCC then works in 32 lanes a step (two zmm, where
 * its own choice is ymm); clang takes simdlen as the exact vector width and leaves what is left
 * of a row scalar (VMamba-T's stem LayerNorm + GELU, rows of 48: 32 lanes + 16 scalar, 2.9x
 * slower), so 16 there (one zmm; its own choice under -mprefer-vector-width=512) */
#ifdef __clang__
#define VM_SIMDLEN32 16
#else
#define VM_SIMDLEN32 32
#endif

static inline float vm_bits_to_float(int32_t i) {
    float f;
    memcpy(&f, &i, 4);
    return f;
}
static inline int32_t vm_float_to_bits(float f) {
    int32_t i;
    memcpy(&i, &f, 4);
    return i;
}

/* fp32 -> bf16, round to nearest even, as VCVTNEPS2BF16 does (subnormals to zero, NaN quiet):
 * the bf16 products' weights at load (sgemm_bf16.c, and the scan's dt projection, scan_bf16.c) */
static inline uint16_t vm_bf16_round(float f) {
    uint32_t u = (uint32_t)vm_float_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    if ((u & 0x7f800000u) == 0) u &= 0x80000000u;
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

/* c[0] x^(n-1) + c[1] x^(n-2) + ... + c[n-1] by Horner's rule, one FMA a step (n is a
 * constant at every call: the loop unrolls, the coefficients become immediates) */
static inline float vm_horner(float x, const float *c, int n) {
    float p = c[0];
    for (int i = 1; i < n; i++) p = p * x + c[i];
    return p;
}

/* e^xc for xc in [-87.34, 88.38]: xc = n ln2 + r, |r| <= ln2/2, degree-6 polynomial for
 * e^r, scaled by 2^n (n >= -126: the scale is a normal float). n is rounded by adding
 * VM_EXP2_MAGIC, whose low mantissa bits then hold n + 127: shifted into the exponent field
 * they are the scale, without a float-to-int conversion (a NaN in stays NaN: r, p and the
 * result are NaN, and no NaN reaches an int conversion, which would be undefined). */
#define VM_EXP2_MAGIC 12583039.0f /* 1.5 2^23 + 127: v's bits are those of the magic + n */
static inline float vm_exp_core(float xc) {
    const float v = xc * 1.44269504088896341f + VM_EXP2_MAGIC, n = v - VM_EXP2_MAGIC;
    float r = xc - n * 0.693145751953125f; /* ln2 split in two for an exact product */
    r = r - n * 1.428606765330187e-06f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const uint32_t e = (uint32_t)vm_float_to_bits(v) << 23; /* (n + 127) << 23: 2^n */
    return p * vm_bits_to_float((int32_t)e);
}

/* exp(x). Inputs below -87.3 flush to 0 (denormal results are not produced). */
static inline float vm_expf(float x) {
    x = x > 88.37626f ? 88.37626f : x;
    float y = vm_exp_core(x < -87.33654f ? -87.33654f : x);
    return x < -87.33654f ? 0.0f : y;
}

/* exp(x) for x <= 0 where a result below 1.2e-38 may stand for 0: inputs below -87.3
 * give the smallest normal float instead of flushing. No upper clamp and no flush
 * select: the softplus and scan-decay loops run ~1.6x faster than with vm_expf. */
static inline float vm_expf_neg(float x) { return vm_exp_core(x < -87.33654f ? -87.33654f : x); }

/* 2^(a b) for a b in [-124, 0]: the selective scans' decay exp(delta A) as 2^(delta A log2(e)),
 * with A log2(e) formed once per weight. The product enters unrounded (FMA: v = a b + magic
 * rounds it to the integer n in v's low mantissa bits, f = a b - n), a degree-5 minimax
 * polynomial gives 2^f on |f| <= 1/2 (7.5e-8 relative before rounding), and n is added to the
 * exponent from v's bits: 10 operations against vm_expf_neg's 17 (no clamps, no conversion).
 * Error: <= 2 ulp of 2^(a b) (tests/test_vmath.c); against exp(delta A) add the rounding of
 * A log2(e) (|delta A| 6e-8 relative). Below -124 the result is garbage: callers that cannot
 * rule that out use vm_exp2_mul_safe, which equals this function bit for bit on [-124, 0]. */
#ifdef __FMA__
#define VM_FMA_(a, b, c) __builtin_fmaf(a, b, c)
#else
#define VM_FMA_(a, b, c) ((a) * (b) + (c))
#endif
/* the polynomial's coefficients, highest degree first (also used by scan_simd.h's AVX-512
 * form, which must give the same bits) */
#define VM_EXP2_C5 1.3276471e-3f
#define VM_EXP2_C4 9.6755419e-3f
#define VM_EXP2_C3 5.5507131e-2f
#define VM_EXP2_C2 2.4022120e-1f
#define VM_EXP2_C1 6.9314694e-1f
#define VM_EXP2_C0 1.0000001f
static inline float vm_exp2_poly(float f, float v) {
    static const float c[6] = {VM_EXP2_C5, VM_EXP2_C4, VM_EXP2_C3, VM_EXP2_C2, VM_EXP2_C1, VM_EXP2_C0};
    const float p = vm_horner(f, c, 6);
    uint32_t e = (uint32_t)vm_float_to_bits(v) << 23; /* (n + 127) << 23: 2^n */
    return p * vm_bits_to_float((int32_t)e);
}
static inline float vm_exp2_mul(float a, float b) {
    const float v = VM_FMA_(a, b, VM_EXP2_MAGIC), n = v - VM_EXP2_MAGIC;
    return vm_exp2_poly(VM_FMA_(a, b, -n), v);
}
/* the same for every a b <= 0 (NaN stays NaN): below -125.5 it gives 2^-125.5 (1.7e-38), a
 * normal float standing for 0, as vm_expf_neg does */
static inline float vm_exp2_mul_safe(float a, float b) {
    float v = VM_FMA_(a, b, VM_EXP2_MAGIC);
    v = v < VM_EXP2_MAGIC - 125.0f ? VM_EXP2_MAGIC - 125.0f : v;
    const float n = v - VM_EXP2_MAGIC;
    float f = VM_FMA_(a, b, -n);
    f = f < -0.5f ? -0.5f : f;
    return vm_exp2_poly(f, v);
}

/* log((1 + f) * 2^fe) for f in [sqrt(1/2) - 1, sqrt 2 - 1] (Cephes logf polynomial, ln 2
 * split in two so fe * ln2 adds exactly). */
static inline float vm_log_reduced(float f, float fe) {
    float z = f * f;
    float p = 7.0376836292e-2f;
    p = p * f - 1.1514610310e-1f;
    p = p * f + 1.1676998740e-1f;
    p = p * f - 1.2420140846e-1f;
    p = p * f + 1.4249322787e-1f;
    p = p * f - 1.6668057665e-1f;
    p = p * f + 2.0000714765e-1f;
    p = p * f - 2.4999993993e-1f;
    p = p * f + 3.3333331174e-1f;
    float y = f * z * p;
    y += -2.12194440e-4f * fe;
    y += -0.5f * z;
    return f + y + 0.693359375f * fe;
}

/* log(x) for finite x > 0 (normal range): x = m 2^e, m in [sqrt(1/2), sqrt 2). */
static inline float vm_logf(float x) {
    int32_t ix = vm_float_to_bits(x);
    int32_t e = ((ix >> 23) & 0xff) - 127;
    float m = vm_bits_to_float((ix & 0x007fffff) | 0x3f800000); /* [1, 2) */
    int big = m > 1.41421356f;
    m = big ? m * 0.5f : m;
    float fe = (float)(e + big);
    float f = m - 1.0f;
    return vm_log_reduced(f, fe);
}

/* log(1 + x), x > -1: log(u) * x / (u - 1) with u = 1 + x recovers the bits that
 * rounding 1 + x loses (Goldberg's trick). */
static inline float vm_log1pf(float x) {
    float u = 1.0f + x;
    float d = u - 1.0f;
    float l = vm_logf(u);
    return d == 0.0f ? x : l * (x / d);
}

/* log(1 + e) for e in [0, 1] as e P(e): P a degree-9 fit of log1p(e)/e (relative error
 * 3.7e-8 with its float coefficients), 10 operations against 20 for a range reduction and
 * vm_log_reduced */
#define VM_LOG1P_TERMS 10
static const float vm_log1p_poly[VM_LOG1P_TERMS] = {-3.2440242e-3f, 1.9851461e-2f, -5.6959532e-2f, 1.0603655e-1f,
                                                    -1.5305594e-1f, 1.9675940e-1f, -2.4954134e-1f, 3.3329964e-1f,
                                                    -4.9999902e-1f, 1.0f};
static inline float vm_log1p_unit(float e) { return e * vm_horner(e, vm_log1p_poly, VM_LOG1P_TERMS); }

/* softplus as torch (threshold 20): x > 20 ? x : log1p(exp(x)), computed as
 * max(x, 0) + log1p(exp(-|x|)) (the same value; above 20 the second term is below
 * half an ulp of x, so x comes back exactly). */
static inline float vm_softplusf(float x) {
    float ax = x < 0.0f ? -x : x;
    float l = vm_log1p_unit(vm_expf_neg(-ax));
    return (x > 0.0f ? x : 0.0f) + l;
}

/* erf(x): odd rational minimax fit on [-4, 4] (erf(4) = 1 - 1.5e-8), no exp and one
 * division: 2.3x cheaper than an erfc/exp form. Absolute error <= 2.5e-7, so GELU is
 * within 1.1e-6 absolute of the exact erf form for every x (about 4 float ulps at the
 * values GELU sees in a network; the parity tests bound its effect end to end). */
/* Under clang the FMAs are spelled out (VM_ERF_FMA): clang 16's SLP vectoriser packed the p and
 * q chains into one two-lane vector with a multiply, then an add in one lane and a subtract in
 * the other, which it could no longer fuse: the scalar form rounded differently from the vector
 * one (GELU for |x| > 4 up to 2x apart, where 1 + erf cancels), so a row alone and the same row
 * in a batch differed (test_batch_invariance). Spelled out, clang 14 and 16 give GCC's bits (2^20
 * inputs, scalar and vector). GCC keeps the contracted form: spelled out there, its backward
 * GELU' gave other bits at another thread count (test_ops_bwd). */
#if defined(__clang__) && defined(__FMA__)
#define VM_ERF_FMA(a, b, c) __builtin_fmaf(a, b, c)
#else
#define VM_ERF_FMA(a, b, c) ((a) * (b) + (c))
#endif
static inline float vm_erff(float x) {
    x = x > 4.0f ? 4.0f : (x < -4.0f ? -4.0f : x);
    float x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = VM_ERF_FMA(p, x2, 2.77068142495902e-08f);
    p = VM_ERF_FMA(p, x2, -2.10102402082508e-06f);
    p = VM_ERF_FMA(p, x2, -5.69250639462346e-05f);
    p = VM_ERF_FMA(p, x2, -7.34990630326855e-04f);
    p = VM_ERF_FMA(p, x2, -2.95459980854025e-03f);
    p = VM_ERF_FMA(p, x2, -1.60960333262415e-02f);
    p = p * x;
    float q = -1.45660718464996e-05f;
    q = VM_ERF_FMA(q, x2, -2.13374055278905e-04f);
    q = VM_ERF_FMA(q, x2, -1.68282697438203e-03f);
    q = VM_ERF_FMA(q, x2, -7.37332916720468e-03f);
    q = VM_ERF_FMA(q, x2, -1.42647390514189e-02f);
    return p / q;
}

/* GELU, exact (erf) form as torch's default, not the tanh approximation. */
static inline float vm_geluf(float x) { return 0.5f * x * (1.0f + vm_erff(x * 0.70710678118654752f)); }
static inline float vm_siluf(float x) { return x / (1.0f + vm_expf(-x)); }

#ifdef __AVX512F__
#include <immintrin.h>
/* vm_geluf on 16 lanes: the same operations in the same order, its FMAs where the compiler
 * contracts vm_erff's `p * x2 + c` (-ffp-contract=fast), so the same bits (test_cpu_isa
 * compares the products' GELU with the AVX2 build's, test_vmath this with vm_geluf). For the
 * products' epilogue (sgemm.c): in an `omp simd` loop over a 32-column tile row the
 * compiler's peeling and remainder code cost as much as the function (VMamba-T: ~12 ns per
 * 16 outputs there, 6.4 in a long loop). */
static inline __m512 vm_gelu16(__m512 x) {
    __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f));
    const __m512 hi = _mm512_set1_ps(4.0f), lo = _mm512_set1_ps(-4.0f);
    /* vm_erff's clamp: MAXPS / MINPS return their second operand where either is NaN, so a NaN
     * t passes as there; two operations where two compares and two blends took four (the
     * function ~7% faster alone, the same bits) */
    t = _mm512_min_ps(hi, _mm512_max_ps(lo, t));
    const __m512 x2 = _mm512_mul_ps(t, t);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(-2.72614225801306e-10f), x2, _mm512_set1_ps(2.77068142495902e-08f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-2.10102402082508e-06f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-5.69250639462346e-05f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-7.34990630326855e-04f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-2.95459980854025e-03f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-1.60960333262415e-02f));
    p = _mm512_mul_ps(p, t);
    __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(-1.45660718464996e-05f), x2, _mm512_set1_ps(-2.13374055278905e-04f));
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-1.68282697438203e-03f));
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-7.37332916720468e-03f));
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-1.42647390514189e-02f));
    const __m512 e = _mm512_div_ps(p, q);
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}
#ifdef __AVX512BF16__
/* n floats rounded to bf16 (VCVTNEPS2BF16: vm_bf16_round's bits) into o, then zeros up to
 * `to` (>= n): x's rows for the bf16 products (sgemm_bf16.c), dt_r for the scan's (scan_bf16.c) */
static inline void vm_bf16_round_row(const float *r, int n, int to, uint16_t *o) {
    for (int k = 0; k < to; k += 16) {
        const int c = n - k;
        const __mmask16 m = c >= 16 ? 0xffff : c > 0 ? (__mmask16)((1u << c) - 1) : 0;
        const __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, r + k));
        const __mmask16 ms = to - k >= 16 ? 0xffff : (__mmask16)((1u << (to - k)) - 1);
        _mm256_mask_storeu_epi16(o + k, ms, (__m256i)h);
    }
}
#endif
#endif

#endif
