/* kernels/cpu/linear_bwd.c - the backward of linear, and the pieces every CPU backward op
 * shares: scratch, fixed-block reductions and the two gradient products.
 *
 * The products, every output element one sequential sum (so the bits never depend on the
 * thread count):
 *   dx (M, K) += dz (M, N) . w       on our GEMM (sgemm.c): linear(dz, weight w^T (K, N))
 *   dw (N, K) += dz^T . x            directly from the row-major dz and x (no transposed or
 *                                    packed copies: they cost as much as the product at the
 *                                    small widths of training): tiles of DW_NR x DW_KC outputs
 *                                    in registers, the rows m in order, per block of DW_MB rows
 *                                    added to dw in block order. Compiled for SSE2, AVX2 and
 *                                    AVX-512 (target attributes), picked by the context's ISA.
 * The activation's gradient (bwd_act_mul, also conv_bwd.c's) is compiled once per
 * instruction set (linear_bwd_avx2.c, linear_bwd_avx512.c; cpu_ops.h: the same operations
 * per element in each); the rest once, at the baseline. */
#if defined(__AVX512F__) && !defined(__clang__) /* clang: -mprefer-vector-width=512 (CMakeLists.txt) */
/* one zmm per 16 floats in the omp simd loops (same operations per lane, so the same bits) */
#pragma GCC target("prefer-vector-width=512")
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/cpu/transpose.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_bwd.h"

void VSSM_ISA_FN(vssm_cpu_bwd_act_mul)(vssm_ctx *ctx, const float *dy, int64_t n, vssm_act act, float *z) {
#pragma omp parallel for simd num_threads(ctx->threads_now) schedule(static)
    for (int64_t i = 0; i < n; i++) z[i] = dy[i] * bwd_act_grad(z[i], act);
}

#ifdef VSSM_ISA_BASE

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
#pragma omp parallel for num_threads(ctx->threads_now) schedule(static)
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
#pragma omp parallel for num_threads(ctx->threads_now) schedule(static)
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
#pragma omp parallel for collapse(2) num_threads(ctx->threads_now) schedule(static)
    for (int64_t r0 = 0; r0 < rows; r0 += 32)
        for (int64_t c0 = 0; c0 < cols; c0 += 32) {
            const int64_t r1 = rows - r0 < 32 ? rows : r0 + 32, c1 = cols - c0 < 32 ? cols : c0 + 32;
            vssm_transpose_block(a + r0 * lda + c0, lda, (int)(r1 - r0), (int)(c1 - c0), out + c0 * rows + r0, rows);
        }
}

#define DW_NR 8   /* rows of dw per tile */
#define DW_KC 32  /* columns of dw per tile: two vectors of 16 */
#define DW_NG 4   /* tiles of rows per task */
#define DW_MB 128 /* rows of x per block: each output sums a block, then adds it to dw, blocks in order */
typedef float dw_vf __attribute__((vector_size(16 * sizeof(float)), aligned(4), may_alias));
#define DW_ALWAYS inline __attribute__((always_inline))

static DW_ALWAYS dw_vf dw_load(const float *p, int n) { /* first n (<= 16) lanes, rest 0 */
    dw_vf v = {0};
    if (n >= 16) return *(const dw_vf *)p;
    for (int j = 0; j < n; j++) v[j] = p[j];
    return v;
}

/* dw[n0 .. n0+nr)[k0 .. k0+kc) += sum over rows m0 .. m1 of dz[m][n] x[m][k], m in order */
static DW_ALWAYS void dw_tile_impl(const float *x, int K, const float *dz, int N, int64_t m0, int64_t m1, int n0,
                                   int nr, int k0, int kc, float *dw) {
    dw_vf a0[DW_NR], a1[DW_NR];
    for (int i = 0; i < DW_NR; i++) a0[i] = (dw_vf){0}, a1[i] = (dw_vf){0};
    if (nr == DW_NR && kc == DW_KC) {
        for (int64_t m = m0; m < m1; m++) {
            const float *xr = x + m * K + k0, *zr = dz + m * N + n0;
            const dw_vf x0 = *(const dw_vf *)xr, x1 = *(const dw_vf *)(xr + 16);
            for (int i = 0; i < DW_NR; i++) a0[i] += zr[i] * x0, a1[i] += zr[i] * x1;
        }
    } else {
        for (int64_t m = m0; m < m1; m++) {
            const float *xr = x + m * K + k0, *zr = dz + m * N + n0;
            const dw_vf x0 = dw_load(xr, kc), x1 = kc > 16 ? dw_load(xr + 16, kc - 16) : (dw_vf){0};
            for (int i = 0; i < nr; i++) a0[i] += zr[i] * x0, a1[i] += zr[i] * x1;
        }
    }
    for (int i = 0; i < nr; i++) {
        float *o = dw + (size_t)(n0 + i) * K + k0;
        for (int j = 0; j < kc; j++) o[j] += j < 16 ? a0[i][j] : a1[i][j - 16];
    }
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))) static void
dw_tile_avx512(const float *x, int K, const float *dz, int N, int64_t m0, int64_t m1, int n0, int nr, int k0, int kc,
               float *dw) {
    dw_tile_impl(x, K, dz, N, m0, m1, n0, nr, k0, kc, dw);
}
/* AVX2: the tile a quarter (8 columns) at a time, 8 ymm accumulators: the 16-lane form needs
 * 32 ymm, and GCC's code for it moved them through memory (VMamba's fine-tuning with
 * VSSM_CPU_ISA=avx2 spent 80% of its time here, 49x the AVX-512 tile's). Each dw element is the
 * same FMA chain over m in order, added to dw once: the same bits. */
typedef float dw_v8 __attribute__((vector_size(8 * sizeof(float)), aligned(4), may_alias));
__attribute__((target("avx2,fma"))) static void dw_tile_avx2(const float *x, int K, const float *dz, int N, int64_t m0,
                                                             int64_t m1, int n0, int nr, int k0, int kc, float *dw) {
    for (int q0 = 0; q0 < kc; q0 += 8) {
        const int w = kc - q0 < 8 ? kc - q0 : 8;
        dw_v8 a[DW_NR];
        for (int i = 0; i < DW_NR; i++) a[i] = (dw_v8){0};
        if (nr == DW_NR && w == 8) {
            for (int64_t m = m0; m < m1; m++) {
                const float *zr = dz + m * N + n0;
                const dw_v8 xv = *(const dw_v8 *)(x + m * K + k0 + q0);
                for (int i = 0; i < DW_NR; i++) a[i] += zr[i] * xv;
            }
        } else {
            for (int64_t m = m0; m < m1; m++) {
                const float *xr = x + m * K + k0 + q0, *zr = dz + m * N + n0;
                dw_v8 xv = {0};
                for (int j = 0; j < w; j++) xv[j] = xr[j];
                for (int i = 0; i < nr; i++) a[i] += zr[i] * xv;
            }
        }
        for (int i = 0; i < nr; i++) {
            float *o = dw + (size_t)(n0 + i) * K + k0 + q0;
            for (int j = 0; j < w; j++) o[j] += a[i][j];
        }
    }
}
#endif
static void dw_tile_base(const float *x, int K, const float *dz, int N, int64_t m0, int64_t m1, int n0, int nr, int k0,
                         int kc, float *dw) {
    dw_tile_impl(x, K, dz, N, m0, m1, n0, nr, k0, kc, dw);
}

/* dw (N, K) += dz^T . x: a task per (DW_KC columns, DW_NG tiles of rows), walking the rows in
 * blocks of DW_MB (their x and dz slices stay in L1 while the task's tiles use them) */
static void dw_product(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *dz, int N, float *dw) {
    void (*tile)(const float *, int, const float *, int, int64_t, int64_t, int, int, int, int, float *) = dw_tile_base;
#if defined(__x86_64__) || defined(__i386__)
    const char *isa = ctx->cpu_isa ? ctx->cpu_isa->name : "base";
    tile = !strcmp(isa, "avx512") ? dw_tile_avx512 : !strcmp(isa, "avx2") ? dw_tile_avx2 : dw_tile_base;
#endif
    const int tn = (N + DW_NR - 1) / DW_NR, tk = (K + DW_KC - 1) / DW_KC, ng = (tn + DW_NG - 1) / DW_NG;
#pragma omp parallel for num_threads(ctx->threads_now) schedule(static)
    for (int t = 0; t < ng * tk; t++) {
        const int g = t % ng, k0 = t / ng * DW_KC, kc = K - k0 < DW_KC ? K - k0 : DW_KC;
        const int t1 = (g + 1) * DW_NG < tn ? (g + 1) * DW_NG : tn;
        for (int64_t m0 = 0; m0 < M; m0 += DW_MB)
            for (int q = g * DW_NG; q < t1; q++) {
                const int n0 = q * DW_NR, nr = N - n0 < DW_NR ? N - n0 : DW_NR;
                tile(x, K, dz, N, m0, M - m0 < DW_MB ? M : m0 + DW_MB, n0, nr, k0, kc, dw);
            }
    }
}

void vssm_cpu_bwd_products(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *w, int N, const float *dz,
                           float *dx, float *dw) {
    if (M <= 0 || K <= 0) return;
    if (dx && M > VSSM_CPU_DIRECT_MAX_M && !ctx->cpu_bf16) {
        /* dx += dz . w, w^T packed straight from w's rows (its transpose, then vssm_cpu_linear's
         * transposing pack of it, were ~8% of `vssm train` on the demo model): the packed bytes
         * vssm_cpu_linear makes, so the same bits. 64-byte aligned, as the kernels read panels. */
        const size_t nb = vssm_cpu_f32_pack_numel(K, N) * sizeof(float);
        float *wp = aligned_alloc(64, (nb + 63) & ~(size_t)63);
        if (!wp) {
            vssm_cpu_bwd_fail(ctx, "op linear_bwd: out of memory for %zu bytes of scratch", nb);
            return;
        }
        vssm_cpu_f32_pack_t(w, N, K, wp);
        vssm_cpu_linear_packed(ctx, dz, M, N, wp, NULL, K, VSSM_ACT_NONE, 1, dx);
        free(wp);
    } else if (dx) { /* few rows: vssm_cpu_linear's direct rows read the plain w^T */
        float *wt = vssm_cpu_bwd_alloc(ctx, "linear_bwd", (size_t)K * N);
        if (!wt) return;
        transpose(ctx, w, N, K, K, wt);
        vssm_cpu_linear(ctx, dz, M, N, wt, NULL, K, VSSM_ACT_NONE, 1, dx);
        free(wt);
    }
    if (dw) dw_product(ctx, x, M, K, dz, N, dw);
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
        vssm_cpu_bwd_act_mul(ctx, dy, M * (int64_t)N, act, pre);
        dz = pre;
    }
    if (db) vssm_cpu_bwd_colsum(ctx, dz, M, N, N, db);
    vssm_cpu_bwd_products(ctx, x, M, K, w, N, dz, dx, dw);
    free(pre);
}
#endif
