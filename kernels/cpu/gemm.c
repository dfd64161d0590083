/* kernels/cpu/gemm.c - linear layers: CBLAS sgemm, then one pass for bias + activation.
 * Matmul is where most of the time goes (~80% of VMamba's multiply-adds). */
#include <cblas.h>
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/vmath.h"

void vssm_cpu_linear(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *w, const float *b,
                     int N, vssm_act act, int accumulate, float *y) {
    if (M <= 0 || N <= 0) return;
    /* y (M, N) = x (M, K) . w (N, K)^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, N, K, 1.0f, x, K, w, K,
                accumulate ? 1.0f : 0.0f, y, N);
    if (!b && act == VSSM_ACT_NONE) return;
#pragma omp parallel for num_threads(ctx->opts.n_threads) schedule(static)
    for (int64_t i = 0; i < M; i++) {
        float *r = y + i * N;
        if (b) {
#pragma omp simd
            for (int j = 0; j < N; j++) r[j] += b[j];
        }
        if (act == VSSM_ACT_GELU) {
#pragma omp simd simdlen(32)
            for (int j = 0; j < N; j++) r[j] = vm_geluf(r[j]);
        } else if (act == VSSM_ACT_SILU) {
#pragma omp simd simdlen(32)
            for (int j = 0; j < N; j++) r[j] = vm_siluf(r[j]);
        }
    }
}
