/* kernels/cpu/rowsum.h - sums over a row of floats in one fixed order, whatever the vector
 * width: the norms (norm.c, conv1d.c) are compiled once per instruction set (cpu_ops.h), and
 * `omp simd reduction` sums in as many partial sums as the unit's vectors have lanes (4, 8
 * or 16), and adds the tail in where the vector loop leaves it, so each variant would round
 * differently. Here lane j of 16 partial sums takes c = j, j + 16, ...; the last, partial,
 * block is padded with zeros (that add nothing); then the lanes pairwise, 8 + 8, 4 + 4, 2 + 2,
 * 1 + 1. A 16-float GCC vector is one zmm with AVX-512, two ymm with AVX2, four xmm with SSE2:
 * the same operations per lane, so the same bits where the units fuse the same products
 * (AVX2 and AVX-512 both contract a b + s into one FMA; a build without FMA rounds twice). */
#ifndef VSSM_CPU_ROWSUM_H
#define VSSM_CPU_ROWSUM_H


#define RS_W 16
typedef float rs_vec __attribute__((vector_size(RS_W * sizeof(float))));
typedef float rs_vecu __attribute__((vector_size(RS_W * sizeof(float)), aligned(4), may_alias));

/* lanes j and j + w added for j < w, w = 8, 4, 2, 1: as halves of the vector (a store and
 * 15 scalar loads and adds before; the same additions) */
typedef float rs_v8 __attribute__((vector_size(8 * sizeof(float))));
typedef float rs_v4 __attribute__((vector_size(4 * sizeof(float))));
typedef float rs_v2 __attribute__((vector_size(2 * sizeof(float))));
static inline float rs_hsum(rs_vec v) {
    const rs_v8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                    __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    const rs_v4 c = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
    const rs_v2 d = __builtin_shufflevector(c, c, 0, 1) + __builtin_shufflevector(c, c, 2, 3);
    return d[0] + d[1];
}

/* the last cw < RS_W elements of r minus x0, the other lanes 0 */
static inline rs_vec rs_tail(const float *r, int cw, float x0) {
    rs_vec v = {0};
    for (int j = 0; j < cw; j++) v[j] = r[j] - x0;
    return v;
}

#if (defined(__AVX512F__) || defined(__AVX2__)) && defined(__FMA__)
/* The AVX-512 and AVX2 units: the same sums with explicit FMAs (the generic form relies on the
 * compiler contracting `s += v * v`; under AddressSanitizer gcc did so for one unit's form and
 * not the other's, so the units disagreed), the lanes added as rs_hsum does: the same bits as the
 * generic form where it contracts. AVX2 holds the 16 partial sums as two 8-lane halves: on the
 * 16-lane type GCC moved them through the stack every step (VMamba-T's LayerNorm 1.9 ns an
 * element with AVX2 against 0.29 with AVX-512). */
#include <immintrin.h>
static inline float rs_hsum4(__m128 c) { /* lanes 0 + 2, 1 + 3, then the two */
    const __m128 d = _mm_add_ps(c, _mm_movehl_ps(c, c));
    return _mm_cvtss_f32(d) + _mm_cvtss_f32(_mm_shuffle_ps(d, d, 1));
}
static inline float rs_hsum8(__m256 a) {
    return rs_hsum4(_mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1)));
}
#ifdef __AVX512F__
typedef __m512 rs_acc;
#define RS_ZERO() _mm512_setzero_ps()
static inline float rs_hsum_acc(rs_acc v) {
    /* the upper half by AVX512F alone (a -march=native build on a CPU without AVX512DQ) */
    const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    return rs_hsum8(_mm256_add_ps(_mm512_castps512_ps256(v), hi));
}
/* lanes of r[c + j] - x0 - dm (dm, x0 may be 0), j < cw, the rest 0 */
static inline rs_acc rs_dev(const float *r, int cw, float x0, float dm) {
    if (cw >= RS_W) return _mm512_sub_ps(_mm512_sub_ps(_mm512_loadu_ps(r), _mm512_set1_ps(x0)), _mm512_set1_ps(dm));
    const __mmask16 m = (__mmask16)((1u << cw) - 1);
    return _mm512_maskz_sub_ps(m, _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, r), _mm512_set1_ps(x0)),
                               _mm512_set1_ps(dm));
}
#define RS_ADD(s, v) _mm512_add_ps(s, v)
#define RS_FMA(s, v) _mm512_fmadd_ps(v, v, s)
#else
typedef struct {
    __m256 lo, hi;
} rs_acc;
static inline rs_acc RS_ZERO(void) { return (rs_acc){_mm256_setzero_ps(), _mm256_setzero_ps()}; }
static inline float rs_hsum_acc(rs_acc v) { return rs_hsum8(_mm256_add_ps(v.lo, v.hi)); }
static inline rs_acc rs_dev(const float *r, int cw, float x0, float dm) {
    float t[RS_W] = {0};
    const float *p = r;
    if (cw < RS_W) { /* the tail: zero lanes past it, as rs_tail */
        for (int j = 0; j < cw; j++) t[j] = r[j];
        p = t;
    }
    const __m256 x = _mm256_set1_ps(x0), d = _mm256_set1_ps(dm);
    __m256 lo = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(p), x), d);
    __m256 hi = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(p + 8), x), d);
    if (cw < RS_W) { /* lanes past the tail 0, not -x0 - dm */
        const __m256i j = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), c = _mm256_set1_epi32(cw);
        lo = _mm256_and_ps(lo, _mm256_castsi256_ps(_mm256_cmpgt_epi32(c, j)));
        hi = _mm256_and_ps(hi, _mm256_castsi256_ps(_mm256_cmpgt_epi32(c, _mm256_add_epi32(j, _mm256_set1_epi32(8)))));
    }
    return (rs_acc){lo, hi};
}
static inline rs_acc RS_ADD(rs_acc s, rs_acc v) {
    return (rs_acc){_mm256_add_ps(s.lo, v.lo), _mm256_add_ps(s.hi, v.hi)};
}
static inline rs_acc RS_FMA(rs_acc s, rs_acc v) {
    return (rs_acc){_mm256_fmadd_ps(v.lo, v.lo, s.lo), _mm256_fmadd_ps(v.hi, v.hi, s.hi)};
}
#endif
/* sum of r[c]^2 */
static inline float rs_sum_sq(const float *r, int C) {
    rs_acc s = RS_ZERO();
    for (int c = 0; c < C; c += RS_W) s = RS_FMA(s, rs_dev(r + c, C - c, 0.0f, 0.0f));
    return rs_hsum_acc(s);
}
/* sum of r[c] - x0 */
static inline float rs_sum_dev(const float *r, int C, float x0) {
    rs_acc s = RS_ZERO();
    for (int c = 0; c < C; c += RS_W) s = RS_ADD(s, rs_dev(r + c, C - c, x0, 0.0f));
    return rs_hsum_acc(s);
}
/* sum of ((r[c] - x0) - dm)^2 */
static inline float rs_sum_sq_dev(const float *r, int C, float x0, float dm) {
    rs_acc s = RS_ZERO();
    for (int c = 0; c < C; c += RS_W) s = RS_FMA(s, rs_dev(r + c, C - c, x0, dm));
    return rs_hsum_acc(s);
}
#else
/* sum of r[c]^2 */
static inline float rs_sum_sq(const float *r, int C) {
    rs_vec s = {0};
    int c = 0;
    for (; c + RS_W <= C; c += RS_W) {
        const rs_vec v = *(const rs_vecu *)(r + c);
        s += v * v;
    }
    if (c < C) {
        const rs_vec v = rs_tail(r + c, C - c, 0.0f);
        s += v * v;
    }
    return rs_hsum(s);
}

/* sum of r[c] - x0 */
static inline float rs_sum_dev(const float *r, int C, float x0) {
    rs_vec s = {0};
    int c = 0;
    for (; c + RS_W <= C; c += RS_W) s += *(const rs_vecu *)(r + c) - x0;
    if (c < C) s += rs_tail(r + c, C - c, x0);
    return rs_hsum(s);
}

/* sum of ((r[c] - x0) - dm)^2 */
static inline float rs_sum_sq_dev(const float *r, int C, float x0, float dm) {
    rs_vec s = {0};
    int c = 0;
    for (; c + RS_W <= C; c += RS_W) {
        const rs_vec d = (*(const rs_vecu *)(r + c) - x0) - dm;
        s += d * d;
    }
    if (c < C) {
        rs_vec d = {0};
        for (int j = 0; j < C - c; j++) d[j] = (r[c + j] - x0) - dm;
        s += d * d;
    }
    return rs_hsum(s);
}
#endif

#endif
