/* kernels/cpu/conv1d.c - the token-sequence ops of Vision Mamba besides the scan:
 * RMSNorm, the causal depthwise conv1d (+ SiLU) of the mixer, patch extraction for the
 * patch-embed GEMM, and the class-token insert + position-embedding add. Each row is computed
 * alone: the same bits at any thread count. patchify and the row add hand rows out in dynamic
 * chunks (vssm_cpu_rows_chunk: a thread on a busy core does less). Since passes adapt their
 * thread count (a busy machine's run at 1 thread: vssm/ctx.h adapt_threads), the LayerNorms,
 * RMSNorm, the depthwise convs and the conv1d split their rows statically, in equal contiguous
 * parts: quiet, 2 threads, alternated 3 times with dynamic chunks, VMamba-T 39.0-39.9 -> 38.5-39.4
 * ms, v0-T 45.0-45.4 -> 43.3-44.5, Vim-T 15.1-15.7 -> 15.2-15.3 (each thread keeps the rows it
 * had in the op before, most likely); with one core busy and --fixed-threads, v0-T 2 / 1
 * thread 1.28 -> 1.26 (the spin dominates there). kernels/cpu/README.md.
 * RMSNorm and the conv1d are compiled once per instruction set (conv1d_avx2.c,
 * conv1d_avx512.c; cpu_ops.h), RMSNorm's sum in one order for all (rowsum.h); patchify and
 * the row add once, at the baseline (copies and adds: nothing for wider vectors to gain). */
#if defined(__AVX512F__) && !defined(__clang__) /* clang: -mprefer-vector-width=512 (CMakeLists.txt) */
/* one zmm per 16 floats in the omp simd loops (same operations per lane, so the same bits) */
#pragma GCC target("prefer-vector-width=512")
#endif
#include <math.h>
#include <omp.h>
#include <string.h>
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/dwtaps.h"
#include "kernels/cpu/rows_chunk.h"
#include "kernels/cpu/rowsum.h"
#include "kernels/cpu/vmath.h"

void VSSM_ISA_FN(vssm_cpu_rmsnorm)(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *w, float eps,
                                   float *y) {
    /* as norm.c's LayerNorm: each thread's share of rows, their scales VSSM_CPU_STATS_ROWS
     * at a time before their outputs (rows_chunk.h); the same operations per row */
#pragma omp parallel num_threads(ctx->threads_now)
    {
        int64_t r0, r1;
        vssm_cpu_rows_share(rows, &r0, &r1);
        for (int64_t i0 = r0; i0 < r1; i0 += VSSM_CPU_STATS_ROWS) {
            const int nr = r1 - i0 < VSSM_CPU_STATS_ROWS ? (int)(r1 - i0) : VSSM_CPU_STATS_ROWS;
            float inv[VSSM_CPU_STATS_ROWS];
            for (int q = 0; q < nr; q++) inv[q] = 1.0f / sqrtf(rs_sum_sq(x + (i0 + q) * C, C) / (float)C + eps);
            for (int q = 0; q < nr; q++) {
                const float *r = x + (i0 + q) * C;
                float *o = y + (i0 + q) * C;
                const float iq = inv[q];
#pragma omp simd
                for (int c = 0; c < C; c++) o[c] = r[c] * iq * w[c];
            }
        }
    }
}

/* Vim's d_conv (4) by a sliding window: for the tokens t0 .. t1-1 whose taps all lie inside the
 * sequence, CV_NV DW_W-channel vectors at a time, the 4 weights stay in registers and each
 * input row is loaded once (as the 3x3 conv's dw3_interior): win[k] holds tap k's input, x at
 * t - 3 + k (reverse: t + 3 - k). The sum is dw_taps': bias (0 without), then the taps' FMAs in
 * k order: the same bits. Whole vectors of C only. Three vectors a step with AVX-512 (Vim-T's
 * shape, 1 thread, without the activation: one strided vector a token was bound by its loads,
 * ~15 cycles per 16 outputs; two 8.2, three 7.0; dw_taps 17); AVX2's 16 registers hold one. */
#if DW_W == 16
#define CV_NV 3
#else
#define CV_NV 1
#endif
static inline __attribute__((always_inline)) void conv1d_slide4_nv(const float *xb, int64_t ldx, int64_t t0, int64_t t1,
                                                                   int C, int c, const int NV, const float *w,
                                                                   const float *bias, int reverse, float *yb) {
    dw_vf k[4][CV_NV], win[4][CV_NV], b[CV_NV];
    for (int v = 0; v < NV; v++) {
        for (int q = 0; q < 4; q++) k[q][v] = *(const dw_vf *)(w + (size_t)q * C + c + v * DW_W);
        b[v] = bias ? *(const dw_vf *)(bias + c + v * DW_W) : (dw_vf){0};
        /* the window before t0's step, which shifts it and loads the newest tap: forward win[1..3]
         * = x[t0-3 .. t0-1] (win[0] unused), reverse win[0..2] = x[t0+2 .. t0] (win[3] unused) */
        win[0][v] = win[3][v] = (dw_vf){0};
        for (int q = 0; q < 3; q++)
            win[reverse ? q : q + 1][v] = *(const dw_vf *)(xb + (reverse ? t0 + 2 - q : t0 - 3 + q) * ldx + c +
                                                           v * DW_W);
    }
    for (int64_t t = t0; t < t1; t++)
        for (int v = 0; v < NV; v++) {
            if (reverse) { /* tap k reads t + 3 - k: the window moves down by one */
                win[3][v] = win[2][v], win[2][v] = win[1][v], win[1][v] = win[0][v];
                win[0][v] = *(const dw_vf *)(xb + (t + 3) * ldx + c + v * DW_W);
            } else { /* tap k reads t - 3 + k */
                win[0][v] = win[1][v], win[1][v] = win[2][v], win[2][v] = win[3][v];
                win[3][v] = *(const dw_vf *)(xb + t * ldx + c + v * DW_W);
            }
            dw_vf a = dw_fma(win[0][v], k[0][v], b[v]);
            a = dw_fma(win[1][v], k[1][v], a);
            a = dw_fma(win[2][v], k[2][v], a);
            a = dw_fma(win[3][v], k[3][v], a);
            *(dw_vf *)(yb + t * C + c + v * DW_W) = a;
        }
}
static void conv1d_slide4(const float *xb, int64_t ldx, int64_t t0, int64_t t1, int C, const float *w,
                          const float *bias, int reverse, float *yb) {
    int c = 0;
    for (; c + CV_NV * DW_W <= C; c += CV_NV * DW_W)
        conv1d_slide4_nv(xb, ldx, t0, t1, C, c, CV_NV, w, bias, reverse, yb);
    for (; c + DW_W <= C; c += DW_W) conv1d_slide4_nv(xb, ldx, t0, t1, C, c, 1, w, bias, reverse, yb);
}

/* One task = (b, block of tokens); a token's output row is bias + K multiply-adds over
 * neighbouring rows, summed over the taps in registers (dwtaps.h: one pass per tap over the
 * row loaded and stored it K + 1 times); with K = 4 the block's tokens whose taps are all
 * inside go through conv1d_slide4 (Vim-T's conv1d, 1 thread, with SiLU: ~36 -> ~28 cycles per
 * 16 outputs), the rest (and channels past the last whole vector) through dw_taps. Token
 * blocks sized by vssm_cpu_rows_chunk (4-8 per thread; fixed blocks of 64 split Vim-T's 197
 * tokens 64 / 64 / 64 / 5, so one of 2 threads did 128 rows), split statically (the header).
 * Each output is computed alone: the same bits for any blocking. */
#define CONV1D_TAPS 8 /* Vim's d_conv is 4 */
void VSSM_ISA_FN(vssm_cpu_conv1d)(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int64_t L, int C, const float *w,
                                  const float *bias, int K, int reverse, vssm_act act, float *y) {
    VSSM_KERNEL_REQUIRE(ctx, K >= 1 && C >= 1 && L >= 1 && ldx >= C);
    const int64_t tbl = vssm_cpu_rows_chunk(L, C, ctx->threads_now), nt = (L + tbl - 1) / tbl;
    const int cv = K == 4 ? C / DW_W * DW_W : 0; /* channels the sliding window covers */
#pragma omp parallel for collapse(2) num_threads(ctx->threads_now) schedule(static)
    for (int b = 0; b < B; b++)
        for (int64_t tb = 0; tb < nt; tb++) {
            const int64_t t0 = tb * tbl, t1 = (tb + 1) * tbl < L ? (tb + 1) * tbl : L;
            /* the tokens with every tap inside: t >= 3 (reverse: t <= L - 4) */
            const int64_t i0 = reverse ? t0 : (t0 > 3 ? t0 : 3), i1 = reverse ? (t1 < L - 3 ? t1 : L - 3) : t1;
            if (cv > 0 && i1 > i0)
                conv1d_slide4(x + (size_t)b * L * ldx, ldx, i0, i1, C, w, bias, reverse, y + (size_t)b * L * C);
            for (int64_t t = t0; t < t1; t++) {
                const int c0 = cv > 0 && t >= i0 && t < i1 ? cv : 0;
                if (c0 >= C) continue;
                float *o = y + ((size_t)b * L + t) * C + c0;
                /* the taps inside the sequence in k order, CONV1D_TAPS per call, channels from c0 */
                for (int k0 = 0; k0 < K; k0 += CONV1D_TAPS) {
                    const float *src[CONV1D_TAPS], *wk[CONV1D_TAPS];
                    int n = 0;
                    for (int k = k0; k < K && k < k0 + CONV1D_TAPS; k++) {
                        const int64_t s = reverse ? t + (K - 1) - k : t - (K - 1) + k;
                        if (s < 0 || s >= L) continue;
                        src[n] = x + ((size_t)b * L + s) * ldx + c0, wk[n++] = w + (size_t)k * C + c0;
                    }
                    dw_taps(src, wk, n, k0 || !bias ? NULL : bias + c0, k0 ? DW_OUT : DW_ZERO, C - c0, o);
                }
            }
            float *o = y + ((size_t)b * L + t0) * C;
            const int64_t n = (t1 - t0) * C;
            if (act == VSSM_ACT_SILU) {
#pragma omp simd simdlen(VM_SIMDLEN32)
                for (int64_t i = 0; i < n; i++) o[i] = vm_siluf(o[i]);
            } else if (act == VSSM_ACT_GELU) {
#pragma omp simd simdlen(VM_SIMDLEN32)
                for (int64_t i = 0; i < n; i++) o[i] = vm_geluf(o[i]);
            }
        }
}

#ifdef VSSM_ISA_BASE
/* One patch's column row o from its top-left pixel x0 of an image with rows of ldx floats:
 * (c, ky, kx), each (c, ky) run of P floats written in order, read every C floats from the
 * image row (writes in order: 2x faster at Vim-T's 16 x 16 x 3 patches than the (ky, kx, c)
 * walk's three strided writes). Inlined with C and P constants where the caller knows them:
 * with the sizes in registers GCC copies float by float (Vim-T's 196 patches of 16 x 16 x 3,
 * 1 thread: 75-83 us a call alone, 91-97 in a forward), with C = 3 and P = 16 it moves whole
 * vectors (23 us alone): the same copies in any case. */
static inline __attribute__((always_inline)) void patch_row(float *restrict o, const float *restrict x0, size_t ldx,
                                                            int C, int P) {
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < P; ky++) {
            const float *xr = x0 + (size_t)ky * ldx + c;
            float *oc = o + (size_t)c * P * P + (size_t)ky * P;
            for (int kx = 0; kx < P; kx++) oc[kx] = xr[(size_t)kx * C];
        }
}

void vssm_cpu_patchify(vssm_ctx *ctx, const vssm_patch_args *a) {
    const int P = a->P, S = a->S, C = a->C;
    VSSM_KERNEL_REQUIRE(ctx, P >= 1 && S >= 1 && a->H >= P && a->W >= P);
    const int gh = (a->H - P) / S + 1, gw = (a->W - P) / S + 1;
    const int64_t M = (int64_t)gh * gw, KC = (int64_t)C * P * P;
    const size_t ldx = (size_t)a->W * C;
    const int rgb16 = C == 3 && P == 16; /* Vim's and the trackers' patch embedding */
    const int64_t chunk = vssm_cpu_rows_chunk(a->B * M, (int)KC, ctx->threads_now);
#pragma omp parallel for collapse(2) num_threads(ctx->threads_now) schedule(dynamic, chunk)
    for (int b = 0; b < a->B; b++)
        for (int64_t m = 0; m < M; m++) {
            const int py = (int)(m / gw), px = (int)(m % gw);
            const int64_t row = a->row0 + m + (a->skip >= 0 && m >= a->skip);
            float *o = a->cols + ((size_t)b * a->rows + row) * KC;
            const float *x0 = a->x + (((size_t)b * a->H + (size_t)py * S) * a->W + (size_t)px * S) * C;
            if (rgb16)
                patch_row(o, x0, ldx, 3, 16);
            else
                patch_row(o, x0, ldx, C, P);
        }
}

void vssm_cpu_rows_add(vssm_ctx *ctx, float *x, int B, int64_t L, int C, const float *add, int64_t row,
                       const float *rowval) {
    const int64_t chunk = vssm_cpu_rows_chunk(B * L, C, ctx->threads_now);
#pragma omp parallel for collapse(2) num_threads(ctx->threads_now) schedule(dynamic, chunk)
    for (int b = 0; b < B; b++)
        for (int64_t t = 0; t < L; t++) {
            float *o = x + ((size_t)b * L + t) * C;
            const float *p = add + (size_t)t * C;
            if (t == row) {
#pragma omp simd
                for (int c = 0; c < C; c++) o[c] = rowval[c] + p[c];
            } else {
#pragma omp simd
                for (int c = 0; c < C; c++) o[c] += p[c];
            }
        }
}
#endif
