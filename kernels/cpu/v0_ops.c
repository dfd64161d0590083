/* kernels/cpu/v0_ops.c - the ops the first VMamba release (v0) brought: a depthwise 3x3 conv
 * that reads the x half of an in_proj output in place and adds a bias, the SiLU(z) output
 * gate of SS2D, and PatchMerging2D's 2x2 gather (kernels/ops.h). dwconv3x3 (conv.c) is this
 * conv with ldx = C and no bias. The conv's image rows are split statically (conv1d.c's header
 * says why); the patch merge's rows and mul_silu's chunks of tokens are handed out
 * dynamically.
 * The conv and the gate are compiled once per instruction set (v0_ops_avx2.c,
 * v0_ops_avx512.c; cpu_ops.h); the patch merge (copies) once, at the baseline. */
#if defined(__AVX512F__) && !defined(__clang__) /* clang: -mprefer-vector-width=512 (CMakeLists.txt) */
/* one zmm per 16 floats in the omp simd loops (same operations per lane, so the same bits) */
#pragma GCC target("prefer-vector-width=512")
#endif
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/dwtaps.h"
#include "kernels/cpu/rows_chunk.h"
#include "kernels/cpu/vmath.h"

void VSSM_ISA_FN(vssm_cpu_dwconv3x3_bias)(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int H, int W, int C,
                                          const float *w, const float *bias, vssm_act act, float *y) {
    /* a row of output pixels per task: its interior pixels' whole channel vectors by the sliding
     * window (dw3_interior), the two edge pixels and the channels past the last whole vector
     * by dw_taps over the pixel's taps inside the image (the same sums), then the activation
     * over the row (per element as before: the same bits). Tiles of pixels whose inputs and
     * outputs stay in L1, activated tile by tile, were slower (VMamba-T's stage 3: 39 -> 44
     * cycles per 16 outputs with SiLU). */
    const int cv = W >= 3 ? C / DW_W * DW_W : 0; /* channels the sliding window covers */
#pragma omp parallel for collapse(2) num_threads(ctx->threads_now) schedule(static)
    for (int bi = 0; bi < B; bi++)
        for (int h = 0; h < H; h++) {
            const float *xb = x + (size_t)bi * H * W * (size_t)ldx;
            float *orow = y + ((size_t)bi * H + h) * W * (size_t)C;
            const float *rows[3];
            int kh[3], nr = 0;
            for (int k = 0; k < 3; k++)
                if (h - 1 + k >= 0 && h - 1 + k < H) rows[nr] = xb + (size_t)(h - 1 + k) * W * ldx, kh[nr++] = k;
            if (cv > 0) dw3_interior(rows, kh, nr, ldx, w, bias, 1, W - 1, C, orow);
            for (int wc = 0; wc < W; wc++) {
                const int c0 = cv > 0 && wc >= 1 && wc + 1 < W ? cv : 0;
                if (c0 >= C) continue;
                const float *src[9], *wk[9]; /* the pixel's taps inside the image, in (kh, kw) order, from c0 */
                int nt = 0;
                for (int r = 0; r < nr; r++)
                    for (int kw = 0; kw < 3; kw++) {
                        const int iw = wc - 1 + kw;
                        if (iw < 0 || iw >= W) continue;
                        src[nt] = rows[r] + (size_t)iw * ldx + c0;
                        wk[nt++] = w + (kh[r] * 3 + kw) * C + c0;
                    }
                dw_taps(src, wk, nt, bias ? bias + c0 : NULL, DW_FIRST, C - c0, orow + (size_t)wc * C + c0);
            }
            const int64_t n = (int64_t)W * C;
            if (act == VSSM_ACT_SILU) {
#pragma omp simd simdlen(VM_SIMDLEN32)
                for (int64_t i = 0; i < n; i++) orow[i] = vm_siluf(orow[i]);
            } else if (act == VSSM_ACT_GELU) {
#pragma omp simd
                for (int64_t i = 0; i < n; i++) orow[i] = vm_geluf(orow[i]);
            }
        }
}

void VSSM_ISA_FN(vssm_cpu_mul_silu)(vssm_ctx *ctx, float *y, int64_t rows, int C, const float *z, int64_t ldz) {
    const int64_t chunk = vssm_cpu_rows_chunk(rows, C, ctx->threads_now);
#pragma omp parallel for num_threads(ctx->threads_now) schedule(dynamic, chunk)
    for (int64_t r = 0; r < rows; r++) {
        float *o = y + (size_t)r * C;
        const float *g = z + (size_t)r * ldz;
#pragma omp simd simdlen(VM_SIMDLEN32)
        for (int c = 0; c < C; c++) o[c] *= vm_siluf(g[c]);
    }
}

#ifdef VSSM_ISA_BASE
void vssm_cpu_patch_merge(vssm_ctx *ctx, const float *x, int B, int H, int W, int C, float *y) {
    const int Ho = (H + 1) / 2, Wo = (W + 1) / 2;
    static const int dy[4] = {0, 1, 0, 1}, dx[4] = {0, 0, 1, 1};
#pragma omp parallel for collapse(2) num_threads(ctx->threads_now) schedule(dynamic, 1)
    for (int b = 0; b < B; b++)
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++) {
                float *o = y + (((size_t)b * Ho + oh) * Wo + ow) * 4 * (size_t)C;
                for (int q = 0; q < 4; q++) {
                    const int ih = 2 * oh + dy[q], iw = 2 * ow + dx[q];
                    float *d = o + (size_t)q * C;
                    if (ih >= H || iw >= W) {
                        for (int c = 0; c < C; c++) d[c] = 0.0f;
                        continue;
                    }
                    const float *s = x + (((size_t)b * H + ih) * W + iw) * C;
                    for (int c = 0; c < C; c++) d[c] = s[c];
                }
            }
}
#endif
