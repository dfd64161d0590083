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

#if defined(__AVX2__) && !defined(__AVX512F__)
/* The AVX2 unit: the same sums on two 8-lane halves (lanes 0-7 and 8-15 of the 16 partial
 * sums), then lanes j and j + 8 added first, as rs_hsum does: the same bits. On the 16-lane
 * type GCC moved the partial sums through the stack every step (VMamba-T's LayerNorm 1.9 ns
 * an element with AVX2 against 0.29 with AVX-512). */
#include <string.h>
static inline rs_v8 rs_ld8(const float *p) {
    rs_v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline float rs_hsum2(rs_v8 lo, rs_v8 hi) {
    const rs_v8 a = lo + hi;
    const rs_v4 c = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
    const rs_v2 d = __builtin_shufflevector(c, c, 0, 1) + __builtin_shufflevector(c, c, 2, 3);
    return d[0] + d[1];
}
/* the last cw < RS_W elements of r minus x0, the other lanes 0 (rs_tail's), as two halves */
static inline void rs_tail2(const float *r, int cw, float x0, rs_v8 *lo, rs_v8 *hi) {
    float t[RS_W] = {0};
    for (int j = 0; j < cw; j++) t[j] = r[j] - x0;
    *lo = rs_ld8(t), *hi = rs_ld8(t + 8);
}
static inline float rs_sum_sq(const float *r, int C) {
    rs_v8 s0 = {0}, s1 = {0};
    int c = 0;
    for (; c + RS_W <= C; c += RS_W) {
        const rs_v8 v0 = rs_ld8(r + c), v1 = rs_ld8(r + c + 8);
        s0 += v0 * v0, s1 += v1 * v1;
    }
    if (c < C) {
        rs_v8 v0, v1;
        rs_tail2(r + c, C - c, 0.0f, &v0, &v1);
        s0 += v0 * v0, s1 += v1 * v1;
    }
    return rs_hsum2(s0, s1);
}
static inline float rs_sum_dev(const float *r, int C, float x0) {
    rs_v8 s0 = {0}, s1 = {0};
    int c = 0;
    for (; c + RS_W <= C; c += RS_W) s0 += rs_ld8(r + c) - x0, s1 += rs_ld8(r + c + 8) - x0;
    if (c < C) {
        rs_v8 v0, v1;
        rs_tail2(r + c, C - c, x0, &v0, &v1);
        s0 += v0, s1 += v1;
    }
    return rs_hsum2(s0, s1);
}
static inline float rs_sum_sq_dev(const float *r, int C, float x0, float dm) {
    rs_v8 s0 = {0}, s1 = {0};
    int c = 0;
    for (; c + RS_W <= C; c += RS_W) {
        const rs_v8 d0 = (rs_ld8(r + c) - x0) - dm, d1 = (rs_ld8(r + c + 8) - x0) - dm;
        s0 += d0 * d0, s1 += d1 * d1;
    }
    if (c < C) {
        float t[RS_W] = {0};
        for (int j = 0; j < C - c; j++) t[j] = (r[c + j] - x0) - dm;
        const rs_v8 d0 = rs_ld8(t), d1 = rs_ld8(t + 8);
        s0 += d0 * d0, s1 += d1 * d1;
    }
    return rs_hsum2(s0, s1);
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
