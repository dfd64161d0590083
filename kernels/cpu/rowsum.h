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
