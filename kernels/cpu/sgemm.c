/* kernels/cpu/sgemm.c - our own fp32 GEMM for linear layers whose weights are laid out
 * once, at model load ("packed"), for the register kernel below.
 *
 *   y (M, N) = act(x (M, K) . w (N, K)^T + b [+ y])
 *
 * Why not BLAS: the products of a VMamba at batch 1 are short or thin (M = 49..3136,
 * K = 96..3072) and OpenBLAS re-packs the weight matrix on every call and splits such
 * shapes poorly across two threads; on the development machine (Zen 4, 2 cores) it runs
 * VMamba-T's linear layers at 150-200 GFLOP/s where this kernel runs them at 200-230
 * (bench: `vssm bench`, op share "gemm"). The weights never change, so packing them once
 * costs nothing per call.
 *
 * Layout: w is cut into panels of NR = 32 output columns; panel q holds, for k = 0..K-1,
 * the 32 weights w[q*32 + j][k] contiguously (zero past N). A micro-kernel keeps an
 * MR x 32 tile of y in 2*MR AVX-512 registers (MR = 14: 28 accumulators), and for each k
 * broadcasts x[i][k] of its MR rows against the panel's two vectors: 28 FMAs per two
 * vector loads. Rows that do not fill 14 use the 7/4/2/1-row variants. K is walked in
 * blocks of KC so the rows of x being read stay in L1; the tile is stored between blocks.
 * Bias and activation are applied to a finished tile while it is in L1.
 *
 * Threads split the (panel, row block) tiles, panel-major, so a thread reuses its panel
 * across consecutive row blocks. Without AVX-512 the packed layout is the plain one and
 * the call goes to BLAS (vssm_cpu_linear). */
#include <string.h>
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/vmath.h"

#if defined(__AVX512F__)
#define PACKED_GEMM 1
#endif

#define NR 32
#define MR 14
#define KC 512

size_t vssm_cpu_linear_pack_numel(int N, int K) {
#ifdef PACKED_GEMM
    return (size_t)((N + NR - 1) / NR) * NR * (size_t)K;
#else
    (void)N, (void)K;
    return 0;   /* the plain (N, K) layout */
#endif
}

void vssm_cpu_linear_pack(const float *w, int N, int K, float *out) {
#ifdef PACKED_GEMM
    const int np = (N + NR - 1) / NR;
    for (int q = 0; q < np; q++)
        for (int k = 0; k < K; k++) {
            float *o = out + ((size_t)q * K + k) * NR;
            for (int j = 0; j < NR; j++) {
                const int n = q * NR + j;
                o[j] = n < N ? w[(size_t)n * K + k] : 0.0f;
            }
        }
#else
    memcpy(out, w, (size_t)N * K * sizeof(float));
#endif
}

float vssm_cpu_linear_packed_get(const float *wp, int N, int K, int n, int k) {
#ifdef PACKED_GEMM
    (void)N;
    return wp[((size_t)(n / NR) * K + k) * NR + n % NR];
#else
    (void)N;
    return wp[(size_t)n * K + k];
#endif
}

#ifdef PACKED_GEMM
typedef float vf __attribute__((vector_size(16 * sizeof(float)), aligned(64), may_alias));
typedef float vfu __attribute__((vector_size(16 * sizeof(float)), aligned(4), may_alias));

/* y[R rows][0..nc) (row stride ldy) = (load ? y : 0) + x[R rows][0..kc) . panel[0..kc)[32] */
static inline __attribute__((always_inline)) void kernel(const int R, int kc, const float *x, int64_t ldx,
                                                         const float *p, float *y, int64_t ldy, int load, int nc) {
    vf c0[MR], c1[MR];
#pragma GCC unroll 14
    for (int i = 0; i < R; i++) {
        if (!load) {
            c0[i] = (vf){0};
            c1[i] = (vf){0};
        } else if (nc == NR) {
            c0[i] = *(const vfu *)(y + i * ldy);
            c1[i] = *(const vfu *)(y + i * ldy + 16);
        } else {
            float t[NR] = {0};
            memcpy(t, y + i * ldy, (size_t)nc * sizeof(float));
            c0[i] = *(const vfu *)t;
            c1[i] = *(const vfu *)(t + 16);
        }
    }
    for (int k = 0; k < kc; k++) {
        const vf b0 = *(const vfu *)(p + (size_t)k * NR), b1 = *(const vfu *)(p + (size_t)k * NR + 16);
#pragma GCC unroll 14
        for (int i = 0; i < R; i++) {
            const float a = x[i * ldx + k];
            c0[i] += a * b0;
            c1[i] += a * b1;
        }
    }
#pragma GCC unroll 14
    for (int i = 0; i < R; i++) {
        if (nc == NR) {
            *(vfu *)(y + i * ldy) = c0[i];
            *(vfu *)(y + i * ldy + 16) = c1[i];
        } else {
            float t[NR];
            *(vfu *)t = c0[i];
            *(vfu *)(t + 16) = c1[i];
            memcpy(y + i * ldy, t, (size_t)nc * sizeof(float));
        }
    }
}

/* rows of a tile: 14 at a time, then 7, 4, 2, 1 (each variant fully unrolled) */
static void tile_rows(int rows, int kc, const float *x, int64_t ldx, const float *p, float *y, int64_t ldy, int load,
                      int nc) {
    int r = 0;
    for (; rows - r >= 14; r += 14) kernel(14, kc, x + r * ldx, ldx, p, y + r * ldy, ldy, load, nc);
    if (rows - r >= 7) { kernel(7, kc, x + r * ldx, ldx, p, y + r * ldy, ldy, load, nc); r += 7; }
    if (rows - r >= 4) { kernel(4, kc, x + r * ldx, ldx, p, y + r * ldy, ldy, load, nc); r += 4; }
    if (rows - r >= 2) { kernel(2, kc, x + r * ldx, ldx, p, y + r * ldy, ldy, load, nc); r += 2; }
    if (rows - r >= 1) kernel(1, kc, x + r * ldx, ldx, p, y + r * ldy, ldy, load, nc);
}
#endif

void vssm_cpu_linear_packed(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *wp, const float *b,
                            int N, vssm_act act, int accumulate, float *y) {
#ifndef PACKED_GEMM
    vssm_cpu_linear(ctx, x, M, K, wp, b, N, act, accumulate, y);
#else
    if (M <= 0 || N <= 0) return;
    const int np = (N + NR - 1) / NR;
    const int64_t nmb = (M + MR - 1) / MR;
    const int64_t tiles = np * nmb;
#pragma omp parallel for num_threads(ctx->opts.n_threads) schedule(static)
    for (int64_t t = 0; t < tiles; t++) {
        const int q = (int)(t / nmb);
        const int64_t m0 = (t % nmb) * MR;
        const int rows = M - m0 < MR ? (int)(M - m0) : MR;
        const int n0 = q * NR, nc = N - n0 < NR ? N - n0 : NR;
        const float *xt = x + m0 * K;
        float *yt = y + m0 * N + n0;
        const float *pq = wp + (size_t)q * K * NR;
        int k0 = 0;
        do {   /* at least once, so K = 0 still writes the tile */
            const int kc = K - k0 < KC ? K - k0 : KC;
            tile_rows(rows, kc, xt + k0, K, pq + (size_t)k0 * NR, yt, N, k0 > 0 || accumulate, nc);
            k0 += kc;
        } while (k0 < K);
        if (!b && act == VSSM_ACT_NONE) continue;
        for (int i = 0; i < rows; i++) {
            float *r = yt + (int64_t)i * N;
            if (b) {
                const float *bq = b + n0;
#pragma omp simd
                for (int j = 0; j < nc; j++) r[j] += bq[j];
            }
            if (act == VSSM_ACT_GELU) {
#pragma omp simd
                for (int j = 0; j < nc; j++) r[j] = vm_geluf(r[j]);
            } else if (act == VSSM_ACT_SILU) {
#pragma omp simd
                for (int j = 0; j < nc; j++) r[j] = vm_siluf(r[j]);
            }
        }
    }
#endif
}
