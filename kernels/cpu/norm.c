/* kernels/cpu/norm.c - LayerNorm over channels (+ fused activation or SiLU gate) and pooling.
 * Rows are split statically: see conv1d.c's header.
 * The LayerNorms are compiled once per instruction set (norm_avx2.c, norm_avx512.c;
 * cpu_ops.h), their sums in one order for all (rowsum.h); pooling once, at the baseline. */
#if defined(__AVX512F__) && !defined(__clang__) /* clang: -mprefer-vector-width=512 (CMakeLists.txt) */
/* one zmm per 16 floats in the omp simd loops (same operations per lane, so the same bits) */
#pragma GCC target("prefer-vector-width=512")
#endif
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/rows_chunk.h"
#include "kernels/cpu/rowsum.h"
#include "kernels/cpu/vmath.h"
#include <math.h>
#include <omp.h>

/* rows of LayerNorm, then act; z (may be NULL): times SiLU(z) after (v0's output gate).
 * Each thread's share of rows (vssm_cpu_layernorm_block: also norm_proj's blocks, sgemm.c),
 * the statistics of VSSM_CPU_STATS_ROWS rows before their
 * outputs (rows_chunk.h): a row's mean and variance (~120 cycles of dependent operations at
 * C = 48) were overlapped by the next row's only after a whole row of GELU (VMamba-T's stem,
 * 12544 rows of 48: 0.9 ns an element). The same operations per row: the same bits. */
#define LN_RB VSSM_CPU_STATS_ROWS
void VSSM_ISA_FN(vssm_cpu_layernorm_block)(const float *x, int64_t rows, int C, const float *g, const float *b,
                                           float eps, vssm_act act, const float *z, int64_t ldz, float *y,
                                           int64_t ldy) {
    for (int64_t i0 = 0; i0 < rows; i0 += LN_RB) {
        const int nr = rows - i0 < LN_RB ? (int)(rows - i0) : LN_RB;
        float x0s[LN_RB], dms[LN_RB], invs[LN_RB];
        for (int q = 0; q < nr; q++) {
            const float *r = x + (i0 + q) * C;
            /* two passes (mean, then centred variance), the mean summed relative
             * to the row's first value: no cancellation even when |mean| >> std */
            const float x0 = r[0];
            const float dm = rs_sum_dev(r, C, x0) / (float)C; /* mean - x0 */
            const float v = rs_sum_sq_dev(r, C, x0, dm);
            x0s[q] = x0, dms[q] = dm, invs[q] = 1.0f / sqrtf(v / (float)C + eps);
        }
        for (int q = 0; q < nr; q++) {
            const int64_t i = i0 + q;
            const float *r = x + i * C;
            float *o = y + i * ldy;
            const float x0 = x0s[q], dm = dms[q], inv = invs[q];
            if (z) {
                const float *zr = z + i * ldz;
#pragma omp simd simdlen(VM_SIMDLEN32)
                for (int c = 0; c < C; c++) {
                    const float t = ((r[c] - x0) - dm) * inv * g[c] + b[c];
                    o[c] = t * vm_siluf(zr[c]);
                }
            } else if (act == VSSM_ACT_GELU) {
#ifdef __AVX512F__
                /* vm_gelu16 on masked vectors: the loop's operations (the product with g fused
                 * into its FMA, as the compiler contracts it), without its peeling and remainder
                 * code around a 48-float row (VMamba's stem) */
                const __m512 vx0 = _mm512_set1_ps(x0), vdm = _mm512_set1_ps(dm), vinv = _mm512_set1_ps(inv);
                for (int c = 0; c < C; c += 16) {
                    const __mmask16 m = C - c >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (C - c)) - 1);
                    const __m512 d = _mm512_sub_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, r + c), vx0), vdm);
                    const __m512 t = _mm512_fmadd_ps(_mm512_mul_ps(d, vinv), _mm512_maskz_loadu_ps(m, g + c),
                                                     _mm512_maskz_loadu_ps(m, b + c));
                    _mm512_mask_storeu_ps(o + c, m, vm_gelu16(t));
                }
                continue;
#endif
#pragma omp simd simdlen(VM_SIMDLEN32)
                for (int c = 0; c < C; c++) o[c] = vm_geluf(((r[c] - x0) - dm) * inv * g[c] + b[c]);
            } else {
#pragma omp simd
                for (int c = 0; c < C; c++) o[c] = ((r[c] - x0) - dm) * inv * g[c] + b[c];
            }
        }
    }
}

static inline void layernorm_rows(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *g, const float *b,
                                  float eps, vssm_act act, const float *z, int64_t ldz, float *y) {
#pragma omp parallel num_threads(ctx->threads_now)
    {
        int64_t r0, r1;
        vssm_cpu_rows_share(rows, &r0, &r1);
        if (r1 > r0) VSSM_ISA_FN(vssm_cpu_layernorm_block)
        (x + r0 * C, r1 - r0, C, g, b, eps, act, z ? z + r0 * ldz : NULL, ldz, y + r0 * C, C);
    }
}

void VSSM_ISA_FN(vssm_cpu_layernorm)(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *g, const float *b,
                                     float eps, vssm_act act, float *y) {
    layernorm_rows(ctx, x, rows, C, g, b, eps, act, NULL, 0, y);
}

void VSSM_ISA_FN(vssm_cpu_layernorm_gate)(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *g,
                                          const float *b, float eps, const float *z, int64_t ldz, float *y) {
    layernorm_rows(ctx, x, rows, C, g, b, eps, VSSM_ACT_NONE, z, ldz, y);
}

#ifdef VSSM_ISA_BASE
void vssm_cpu_avgpool(vssm_ctx *ctx, const float *x, int B, int64_t L, int C, float *y) {
    for (int bi = 0; bi < B; bi++) {
        float *o = y + (size_t)bi * C;
        for (int c = 0; c < C; c++) o[c] = 0;
        for (int64_t l = 0; l < L; l++) {
            const float *r = x + ((size_t)bi * L + l) * C;
#pragma omp simd
            for (int c = 0; c < C; c++) o[c] += r[c];
        }
        for (int c = 0; c < C; c++) o[c] /= (float)L;
    }
}
#endif
