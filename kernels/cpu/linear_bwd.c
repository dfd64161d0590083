/* kernels/cpu/linear_bwd.c - the backward of linear, and the pieces every CPU backward op
 * shares: scratch, fixed-block reductions and the two gradient products.
 *
 * The products run on our GEMM (sgemm.c), whose every output element is one sequential sum
 * (so the bits never depend on the thread count):
 *   dx (M, K) += dz (M, N) . w       as linear(dz, weight w^T (K, N))
 *   dw (N, K) += dz^T . x            as linear(dz^T (N, M), weight x^T (K, M)), over blocks of
 *                                    BWD_MB rows of x at a time, accumulated in block order
 * The transposes cost O(MN + MK) moves against the O(MNK) products. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_bwd.h"

#define BWD_MB 4096 /* rows of x per dw product (bounds the transposed copies) */

void vssm_cpu_bwd_fail(vssm_ctx *ctx, const char *fmt, ...) {
    if (ctx->op_error[0]) return; /* the first failure is kept until reported */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->op_error, sizeof ctx->op_error, fmt, ap);
    va_end(ap);
}

float *vssm_cpu_bwd_alloc(vssm_ctx *ctx, const char *op, size_t floats) {
    float *p = malloc((floats ? floats : 1) * sizeof(float));
    if (!p) vssm_cpu_bwd_fail(ctx, "op %s: out of memory for %zu bytes of scratch", op, floats * sizeof(float));
    return p;
}

void vssm_cpu_bwd_reduce(vssm_ctx *ctx, const float *part, int64_t nblk, int64_t n, float *out) {
#pragma omp parallel for num_threads(ctx->opts.n_threads) schedule(static)
    for (int64_t i0 = 0; i0 < n; i0 += 256) {
        const int64_t i1 = n - i0 < 256 ? n : i0 + 256;
        for (int64_t b = 0; b < nblk; b++) {
            const float *p = part + b * n;
#pragma omp simd
            for (int64_t i = i0; i < i1; i++) out[i] += p[i];
        }
    }
}

void vssm_cpu_bwd_colsum(vssm_ctx *ctx, const float *a, int64_t rows, int C, int64_t lda, float *out) {
#pragma omp parallel for num_threads(ctx->opts.n_threads) schedule(static)
    for (int c0 = 0; c0 < C; c0 += 64) {
        const int cw = C - c0 < 64 ? C - c0 : 64;
        float tot[64] = {0};
        for (int64_t r0 = 0; r0 < rows; r0 += BWD_RB) {
            const int64_t r1 = rows - r0 < BWD_RB ? rows : r0 + BWD_RB;
            float s[64] = {0};
            for (int64_t r = r0; r < r1; r++) {
                const float *ar = a + r * lda + c0;
#pragma omp simd
                for (int j = 0; j < cw; j++) s[j] += ar[j];
            }
            for (int j = 0; j < cw; j++) tot[j] += s[j];
        }
        for (int j = 0; j < cw; j++) out[c0 + j] += tot[j];
    }
}

/* out (cols, rows) = a (rows, cols; row stride lda)^T, in 32 x 32 tiles */
static void transpose(vssm_ctx *ctx, const float *a, int64_t rows, int64_t cols, int64_t lda, float *out) {
#pragma omp parallel for collapse(2) num_threads(ctx->opts.n_threads) schedule(static)
    for (int64_t r0 = 0; r0 < rows; r0 += 32)
        for (int64_t c0 = 0; c0 < cols; c0 += 32) {
            const int64_t r1 = rows - r0 < 32 ? rows : r0 + 32, c1 = cols - c0 < 32 ? cols : c0 + 32;
            for (int64_t c = c0; c < c1; c++)
                for (int64_t r = r0; r < r1; r++) out[c * rows + r] = a[r * lda + c];
        }
}

void vssm_cpu_bwd_products(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *w, int N, const float *dz,
                           float *dx, float *dw) {
    if (M <= 0 || K <= 0) return;
    if (dx) {
        float *wt = vssm_cpu_bwd_alloc(ctx, "linear_bwd", (size_t)K * N);
        if (!wt) return;
        transpose(ctx, w, N, K, K, wt);
        vssm_cpu_linear(ctx, dz, M, N, wt, NULL, K, VSSM_ACT_NONE, 1, dx);
        free(wt);
    }
    if (dw) {
        const int64_t mb = M < BWD_MB ? M : BWD_MB;
        float *dzt = vssm_cpu_bwd_alloc(ctx, "linear_bwd", (size_t)mb * (N + (size_t)K));
        if (!dzt) return;
        float *xt = dzt + (size_t)mb * N;
        for (int64_t m0 = 0; m0 < M; m0 += mb) {
            const int64_t m = M - m0 < mb ? M - m0 : mb;
            transpose(ctx, dz + m0 * N, m, N, N, dzt);
            transpose(ctx, x + m0 * K, m, K, K, xt);
            vssm_cpu_linear(ctx, dzt, N, (int)m, xt, NULL, K, VSSM_ACT_NONE, 1, dw);
        }
        free(dzt);
    }
}

void vssm_cpu_linear_bwd(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *w, const float *b, int N,
                         vssm_act act, const float *dy, float *dx, float *dw, float *db) {
    if (M <= 0) return;
    const float *dz = dy;
    float *pre = NULL;
    if (act != VSSM_ACT_NONE) { /* dz = dy * act'(x . w^T + b): the forward's sums, recomputed */
        pre = vssm_cpu_bwd_alloc(ctx, "linear_bwd", (size_t)M * N);
        if (!pre) return;
        vssm_cpu_linear(ctx, x, M, K, w, b, N, VSSM_ACT_NONE, 0, pre);
        const int64_t n = M * (int64_t)N;
#pragma omp parallel for simd num_threads(ctx->opts.n_threads) schedule(static)
        for (int64_t i = 0; i < n; i++) pre[i] = dy[i] * bwd_act_grad(pre[i], act);
        dz = pre;
    }
    if (db) vssm_cpu_bwd_colsum(ctx, dz, M, N, N, db);
    vssm_cpu_bwd_products(ctx, x, M, K, w, N, dz, dx, dw);
    free(pre);
}
