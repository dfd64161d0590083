/* kernels/cpu/v0_bwd.c - backward of the ops the first VMamba release (v0) brought
 * (v0_ops.c): the depthwise 3x3 conv with a bias that reads a strided input (dwconv3x3_bwd,
 * conv_bwd.c, is this op with ldx = C and no bias, as the forwards), the SiLU(z) output gate,
 * and PatchMerging2D's 2x2 gather.
 *
 * Input gradients are gathered (each dx element sums what the outputs that read it send
 * back, in a fixed order): no two tasks write one element. The weight gradient is summed per
 * image row and the rows added in order, the bias gradient by fixed blocks of rows
 * (kernels/BACKWARD.md): the same bits at any thread count.
 *
 * The conv and the gate are compiled once per instruction set (v0_bwd_avx2.c,
 * v0_bwd_avx512.c; cpu_ops.h: the same operations per element in each); the patch merge
 * (sums of copies) once, at the baseline. */
#if defined(__AVX512F__) && !defined(__clang__) /* clang: -mprefer-vector-width=512 (CMakeLists.txt) */
/* one zmm per 16 floats in the omp simd loops (same operations per lane, so the same bits) */
#pragma GCC target("prefer-vector-width=512")
#endif
#include <stdlib.h>
#include <string.h>
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_bwd.h"

/* dz = dy * act'(the forward's sum at each pixel, bias first as the forward adds it); NULL (dz is
 * dy) without an act */
static float *dw3_dz(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int H, int W, int C, const float *w,
                     const float *bias, vssm_act act, const float *dy) {
    if (act == VSSM_ACT_NONE) return NULL;
    float *dz = vssm_cpu_bwd_alloc(ctx, "dwconv3x3_bias_bwd", (size_t)B * H * W * C);
    if (!dz) return NULL;
#pragma omp parallel for collapse(2) num_threads(ctx->threads_now) schedule(static)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int q = 0; q < W; q++) {
                const size_t o = (((size_t)b * H + h) * W + q) * C;
                float *s = dz + o; /* the sum, channels as vectors; then dz in place */
                /* not `bias ? bias[c] : 0` in the loop: GCC makes that a masked load from NULL + c
                 * (VMASKMOVPS, masked-off lanes: AMD leaves faults there to the implementation) */
                if (bias)
                    memcpy(s, bias, sizeof(float) * C);
                else
                    memset(s, 0, sizeof(float) * C);
                for (int kh = 0; kh < 3; kh++)
                    for (int kw = 0; kw < 3; kw++) {
                        const int ih = h - 1 + kh, iw = q - 1 + kw;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                        const float *xi = x + (((size_t)b * H + ih) * W + iw) * ldx, *wk = w + (kh * 3 + kw) * C;
#pragma omp simd
                        for (int c = 0; c < C; c++) s[c] += xi[c] * wk[c];
                    }
#pragma omp simd
                for (int c = 0; c < C; c++) s[c] = dy[o + c] * bwd_act_grad(s[c], act);
            }
    return dz;
}

void VSSM_ISA_FN(vssm_cpu_dwconv3x3_bias_bwd)(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int H, int W, int C,
                                              const float *w, const float *bias, vssm_act act, const float *dy,
                                              float *dx, float *dw, float *dbias) {
    float *dzb = dw3_dz(ctx, x, ldx, B, H, W, C, w, bias, act, dy);
    if (act != VSSM_ACT_NONE && !dzb) return;
    const float *dz = dzb ? dzb : dy;
    if (dbias) vssm_cpu_bwd_colsum(ctx, dz, (int64_t)B * H * W, C, C, dbias);
    float *part = dw ? vssm_cpu_bwd_alloc(ctx, "dwconv3x3_bias_bwd", (size_t)B * H * 9 * C) : NULL;
    if (dw && !part) {
        free(dzb);
        return;
    }
    /* one task per image row h: dx of row h (gathered from output rows h-1..h+1), and the
     * weight gradient of output row h (reading input rows h-1..h+1) into its partial */
#pragma omp parallel for collapse(2) num_threads(ctx->threads_now) schedule(static)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            float *pw = part ? part + ((size_t)b * H + h) * 9 * C : NULL;
            if (pw) memset(pw, 0, (size_t)9 * C * sizeof(float));
            for (int q = 0; q < W; q++) {
                const size_t o = (((size_t)b * H + h) * W + q) * C;
                for (int kh = 0; kh < 3; kh++)
                    for (int kw = 0; kw < 3; kw++) {
                        const int ih = h - 1 + kh, iw = q - 1 + kw; /* the input this output reads */
                        const int oh = h + 1 - kh, ow = q + 1 - kw; /* the output that reads this input */
                        const float *wk = w + (kh * 3 + kw) * C;
                        if (dx && oh >= 0 && oh < H && ow >= 0 && ow < W) {
                            const float *g = dz + (((size_t)b * H + oh) * W + ow) * C;
                            float *d = dx + (((size_t)b * H + h) * W + q) * ldx;
#pragma omp simd
                            for (int c = 0; c < C; c++) d[c] += g[c] * wk[c];
                        }
                        if (pw && ih >= 0 && ih < H && iw >= 0 && iw < W) {
                            const float *xi = x + (((size_t)b * H + ih) * W + iw) * ldx, *g = dz + o;
                            float *p = pw + (kh * 3 + kw) * C;
#pragma omp simd
                            for (int c = 0; c < C; c++) p[c] += g[c] * xi[c];
                        }
                    }
            }
        }
    if (part) vssm_cpu_bwd_reduce(ctx, part, (int64_t)B * H, (int64_t)9 * C, dw);
    free(part);
    free(dzb);
}

void VSSM_ISA_FN(vssm_cpu_mul_silu_bwd)(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *z, int64_t ldz,
                                        const float *dy, float *dx, float *dz) {
#pragma omp parallel for num_threads(ctx->threads_now) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *g = dy + (size_t)r * C, *xr = x + (size_t)r * C, *zr = z + (size_t)r * ldz;
        if (dx) {
            float *d = dx + (size_t)r * C;
#pragma omp simd
            for (int c = 0; c < C; c++) d[c] += g[c] * vm_siluf(zr[c]);
        }
        if (dz) {
            float *d = dz + (size_t)r * ldz;
#pragma omp simd
            for (int c = 0; c < C; c++) d[c] += g[c] * xr[c] * bwd_act_grad(zr[c], VSSM_ACT_SILU);
        }
    }
}

#ifdef VSSM_ISA_BASE
/* input pixel (ih, iw) is part q = (ih & 1) + 2 (iw & 1) of output cell (ih/2, iw/2) (the
 * forward's order (0,0), (1,0), (0,1), (1,1)); the zero padding past an odd edge has no input */
void vssm_cpu_patch_merge_bwd(vssm_ctx *ctx, int B, int H, int W, int C, const float *dy, float *dx) {
    const int Ho = (H + 1) / 2, Wo = (W + 1) / 2;
#pragma omp parallel for collapse(2) num_threads(ctx->threads_now) schedule(static)
    for (int b = 0; b < B; b++)
        for (int ih = 0; ih < H; ih++)
            for (int iw = 0; iw < W; iw++) {
                const int q = (ih & 1) + 2 * (iw & 1);
                const float *g = dy + ((((size_t)b * Ho + ih / 2) * Wo + iw / 2) * 4 + q) * C;
                float *d = dx + (((size_t)b * H + ih) * W + iw) * C;
#pragma omp simd
                for (int c = 0; c < C; c++) d[c] += g[c];
            }
}
#endif
