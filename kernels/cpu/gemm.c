/* kernels/cpu/gemm.c - linear layers: CBLAS sgemm, then one pass for bias + activation.
 * Matmul is where most of the time goes (~80% of VMamba's multiply-adds).
 *
 * Threading: for tall products OpenBLAS splits the work itself. For short ones (fewer
 * than SHORT_M rows: VMamba's stages 3-4 at batch 1, 196 and 49 tokens) its split is
 * poorer, so each of our threads runs a single-threaded sgemm on its own slice of the
 * output columns (OpenBLAS's OpenMP build stays on one thread inside a parallel region)
 * and applies bias + activation to that slice while it is still in cache. */
#include <cblas.h>
#include <omp.h>
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/vmath.h"

#define SHORT_M 512

/* y[r][0..n) += b, then act, for rows r < rows (row stride ldy) */
static void epilogue(float *y, int64_t rows, int n, int64_t ldy, const float *b, vssm_act act) {
    for (int64_t i = 0; i < rows; i++) {
        float *r = y + i * ldy;
        if (b) {
#pragma omp simd
            for (int j = 0; j < n; j++) r[j] += b[j];
        }
        if (act == VSSM_ACT_GELU) {
#pragma omp simd simdlen(32)
            for (int j = 0; j < n; j++) r[j] = vm_geluf(r[j]);
        } else if (act == VSSM_ACT_SILU) {
#pragma omp simd simdlen(32)
            for (int j = 0; j < n; j++) r[j] = vm_siluf(r[j]);
        }
    }
}

void vssm_cpu_linear(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *w, const float *b,
                     int N, vssm_act act, int accumulate, float *y) {
    if (M <= 0 || N <= 0) return;
    const int nt = ctx->opts.n_threads;
    const float beta = accumulate ? 1.0f : 0.0f;
    const int has_epi = b || act != VSSM_ACT_NONE;
    /* y (M, N) = x (M, K) . w (N, K)^T */
    if (nt > 1 && M < SHORT_M && N >= 32 * nt) {
#pragma omp parallel num_threads(nt)
        {
            const int t = omp_get_thread_num(), T = omp_get_num_threads();
            /* column slices on 16-float boundaries (whole cache lines of y) */
            const int n0 = t == 0 ? 0 : (int)((int64_t)N * t / T) & ~15;
            const int n1 = t == T - 1 ? N : (int)((int64_t)N * (t + 1) / T) & ~15;
            if (n1 > n0) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, n1 - n0, K, 1.0f, x, K,
                            w + (size_t)n0 * K, K, beta, y + n0, N);
                if (has_epi) epilogue(y + n0, M, n1 - n0, N, b ? b + n0 : NULL, act);
            }
        }
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, N, K, 1.0f, x, K, w, K, beta, y, N);
    if (!has_epi) return;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < M; i++) epilogue(y + i * N, 1, N, N, b, act);
}
