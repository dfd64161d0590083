/* kernels/cpu/conv_bwd.c - backward of the convolutions: depthwise 3x3 (+ act), 3x3
 * stride 2 (im2col + linear_bwd + a gathering col2im), the causal depthwise conv1d of Vim
 * (+ act) and patch extraction.
 *
 * Input gradients are gathered (each dx element sums, in a fixed order, what the outputs
 * that read it send back): no two tasks write one element, no atomics. Weight gradients
 * are summed per fixed block of rows (one image row, or BWD_RB tokens) and the blocks added
 * in order (vssm_cpu_bwd_reduce): the same bits at any thread count.
 *
 * conv1d_bwd is compiled once per instruction set (conv_bwd_avx2.c, conv_bwd_avx512.c;
 * cpu_ops.h: the same operations per element in each); the rest (copies and sums of
 * copies) once, at the baseline. */
#if defined(__AVX512F__) && !defined(__clang__) /* clang: -mprefer-vector-width=512 (CMakeLists.txt) */
/* one zmm per 16 floats in the omp simd loops (same operations per lane, so the same bits) */
#pragma GCC target("prefer-vector-width=512")
#endif
#include <stdlib.h>
#include <string.h>
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_bwd.h"

#ifdef VSSM_ISA_BASE
/* ================================================================ depthwise 3x3 */

/* dwconv3x3_bias_bwd (v0_bwd.c) with ldx = C and no bias, as the forwards */
void vssm_cpu_dwconv3x3_bwd(vssm_ctx *ctx, const float *x, int B, int H, int W, int C, const float *w, vssm_act act,
                            const float *dy, float *dx, float *dw) {
    vssm_cpu_dwconv3x3_bias_bwd(ctx, x, C, B, H, W, C, w, NULL, act, dy, dx, dw, NULL);
}

/* ================================================================ 3x3 stride 2 */

static inline int half_up(int n) { return (n + 1) / 2; }

void vssm_cpu_conv3x3s2_bwd(vssm_ctx *ctx, const float *x, int B, int H, int W, int Cin, const float *w, int Cout,
                            const float *dy, float *dx, float *dw, float *db) {
    const int Ho = half_up(H), Wo = half_up(W), KC = 9 * Cin;
    const int64_t Mo = (int64_t)B * Ho * Wo;
    float *col = vssm_cpu_bwd_alloc(ctx, "conv3x3s2_bwd", (size_t)Mo * KC * (dx ? 2 : 1));
    if (!col) return;
    float *dcol = dx ? col + (size_t)Mo * KC : NULL;
    /* the columns as the forward's (conv.c): output pixel, then (kh, kw, ci), zero padding */
#pragma omp parallel for num_threads(ctx->threads_now) schedule(static)
    for (int64_t m = 0; m < Mo; m++) {
        const int ow = (int)(m % Wo), oh = (int)(m / Wo % Ho), b = (int)(m / ((int64_t)Wo * Ho));
        for (int k = 0; k < 9; k++) {
            const int ih = 2 * oh - 1 + k / 3, iw = 2 * ow - 1 + k % 3;
            float *d = col + (size_t)m * KC + (size_t)k * Cin;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                memset(d, 0, (size_t)Cin * sizeof(float));
            else
                memcpy(d, x + (((size_t)b * H + ih) * W + iw) * Cin, (size_t)Cin * sizeof(float));
        }
        if (dcol) memset(dcol + (size_t)m * KC, 0, (size_t)KC * sizeof(float));
    }
    vssm_cpu_linear_bwd(ctx, col, Mo, KC, w, NULL, Cout, VSSM_ACT_NONE, dy, dcol, dw, db);
    if (dx) { /* col2im, gathered: input (ih, iw) is tap (kh, kw) of output (oh, ow) when ih = 2 oh - 1 + kh */
#pragma omp parallel for collapse(2) num_threads(ctx->threads_now) schedule(static)
        for (int b = 0; b < B; b++)
            for (int ih = 0; ih < H; ih++)
                for (int iw = 0; iw < W; iw++) {
                    float *o = dx + (((size_t)b * H + ih) * W + iw) * Cin;
                    for (int kh = 0; kh < 3; kh++) {
                        const int th = ih + 1 - kh;
                        if (th < 0 || th & 1 || th / 2 >= Ho) continue;
                        for (int kw = 0; kw < 3; kw++) {
                            const int tw = iw + 1 - kw;
                            if (tw < 0 || tw & 1 || tw / 2 >= Wo) continue;
                            const float *g = dcol + ((((size_t)b * Ho + th / 2) * Wo + tw / 2) * 9 + kh * 3 + kw) * Cin;
#pragma omp simd
                            for (int c = 0; c < Cin; c++) o[c] += g[c];
                        }
                    }
                }
    }
    free(col);
}

#endif

/* ================================================================ causal conv1d (Vim) */

/* the input token s read by tap k of output t, and the output t that reads s through tap k */
static inline int64_t c1_src(int64_t t, int k, int K, int reverse) {
    return reverse ? t + (K - 1) - k : t - (K - 1) + k;
}
static inline int64_t c1_dst(int64_t s, int k, int K, int reverse) {
    return reverse ? s - (K - 1) + k : s + (K - 1) - k;
}

void VSSM_ISA_FN(vssm_cpu_conv1d_bwd)(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int64_t L, int C,
                                      const float *w, const float *bias, int K, int reverse, vssm_act act,
                                      const float *dy, float *dx, float *dw, float *dbias) {
    const int64_t nt = (L + BWD_RB - 1) / BWD_RB, nblk = B * nt;
    float *dzb = NULL;
    if (act != VSSM_ACT_NONE) { /* dz = dy * act'(the forward's sum) */
        dzb = vssm_cpu_bwd_alloc(ctx, "conv1d_bwd", (size_t)B * L * C);
        if (!dzb) return;
        vssm_cpu_conv1d(ctx, x, ldx, B, L, C, w, bias, K, reverse, VSSM_ACT_NONE, dzb);
        VSSM_ISA_FN(vssm_cpu_bwd_act_mul)(ctx, dy, (int64_t)B * L * C, act, dzb);
    }
    const float *dz = dzb ? dzb : dy;
    if (dbias) vssm_cpu_bwd_colsum(ctx, dz, (int64_t)B * L, C, C, dbias);
    float *part = dw ? vssm_cpu_bwd_alloc(ctx, "conv1d_bwd", (size_t)nblk * K * C) : NULL;
    if (dw && !part) {
        free(dzb);
        return;
    }
#pragma omp parallel for num_threads(ctx->threads_now) schedule(static)
    for (int64_t bk = 0; bk < nblk; bk++) {
        const int b = (int)(bk / nt);
        const int64_t t0 = bk % nt * BWD_RB, t1 = L - t0 < BWD_RB ? L : t0 + BWD_RB;
        float *pw = part ? part + (size_t)bk * K * C : NULL;
        if (pw) memset(pw, 0, (size_t)K * C * sizeof(float));
        for (int64_t t = t0; t < t1; t++)
            for (int k = 0; k < K; k++) {
                const float *wk = w + (size_t)k * C;
                const int64_t s = c1_src(t, k, K, reverse), u = c1_dst(t, k, K, reverse);
                if (pw && s >= 0 && s < L) { /* output t's tap k read input s */
                    const float *g = dz + ((size_t)b * L + t) * C, *xs = x + ((size_t)b * L + s) * ldx;
                    float *p = pw + (size_t)k * C;
#pragma omp simd
                    for (int c = 0; c < C; c++) p[c] += g[c] * xs[c];
                }
                if (dx && u >= 0 && u < L) { /* input t is read by output u's tap k */
                    const float *g = dz + ((size_t)b * L + u) * C;
                    float *o = dx + ((size_t)b * L + t) * ldx;
#pragma omp simd
                    for (int c = 0; c < C; c++) o[c] += g[c] * wk[c];
                }
            }
    }
    if (part) vssm_cpu_bwd_reduce(ctx, part, nblk, (int64_t)K * C, dw);
    free(part);
    free(dzb);
}

#ifdef VSSM_ISA_BASE
/* ================================================================ patch extraction */

/* dx (y, x) gathers, patch by patch in grid order, the entries of the patches covering it */
void vssm_cpu_patchify_bwd(vssm_ctx *ctx, const vssm_patch_args *a, const float *dcols, float *dx) {
    const int P = a->P, S = a->S, C = a->C, H = a->H, W = a->W;
    const int gh = (H - P) / S + 1, gw = (W - P) / S + 1;
    const int64_t KC = (int64_t)C * P * P;
#pragma omp parallel for collapse(2) num_threads(ctx->threads_now) schedule(static)
    for (int b = 0; b < a->B; b++)
        for (int y = 0; y < H; y++) {
            const int py0 = y < P ? 0 : (y - P) / S + 1, py1 = y / S < gh - 1 ? y / S : gh - 1;
            for (int q = 0; q < W; q++) {
                const int px0 = q < P ? 0 : (q - P) / S + 1, px1 = q / S < gw - 1 ? q / S : gw - 1;
                float *o = dx + (((size_t)b * H + y) * W + q) * C;
                for (int py = py0; py <= py1; py++)
                    for (int px = px0; px <= px1; px++) {
                        const int64_t m = (int64_t)py * gw + px;
                        const int64_t row = a->row0 + m + (a->skip >= 0 && m >= a->skip);
                        const float *g = dcols + ((size_t)b * a->rows + row) * KC + (y - py * S) * P + (q - px * S);
                        for (int c = 0; c < C; c++) o[c] += g[(size_t)c * P * P];
                    }
            }
        }
}
#endif
