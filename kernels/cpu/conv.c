/* kernels/cpu/conv.c - the two convolutions VMamba has: 3x3 stride 2 (patch embed,
 * downsample) as im2col + GEMM, and depthwise 3x3 stride 1 (+SiLU) vectorised over
 * channels. NHWC throughout; zero padding of 1.
 * Threads take output rows one at a time (dynamic): a thread whose core is taken by another
 * process does less of the work instead of holding every other thread at the region's end
 * (kernels/cpu/README.md, under load). Every row is computed alone: the same bits.
 * conv3x3s2 is compiled once per instruction set (conv_avx2.c, conv_avx512.c; cpu_ops.h):
 * the RGB stem's direct convolution is vector work (the im2col path's product is the GEMM,
 * dispatched on its own). */
#ifdef __AVX512F__
/* one zmm per 16 floats in the omp simd loops (same operations per lane, so the same bits) */
#pragma GCC target("prefer-vector-width=512")
#endif
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/vmath.h"

static inline int out_size(int n) { return (n + 1) / 2; }

#ifdef VSSM_ISA_BASE
size_t vssm_cpu_conv3x3s2_workspace(int B, int H, int W, int Cin) {
    return (size_t)B * out_size(H) * out_size(W) * 9 * Cin * sizeof(float);
}
#endif

/* Few input channels (an RGB stem): a direct convolution, vectorised over the output
 * channels, beats im2col + GEMM (K = 27 is far too short for a GEMM to reach speed, and
 * the column matrix is 9x the input). The weights are transposed to (3, 3, Cin, Cout) on
 * the stack once per call. */
#define DIRECT_MAX_K 32 /* 9 * Cin */
#define DIRECT_MAX_COUT 64

static void conv3x3s2_direct(vssm_ctx *ctx, const float *x, int B, int H, int W, int Cin, const float *w,
                             const float *b, int Cout, float *y) {
    const int Ho = out_size(H), Wo = out_size(W), K = 9 * Cin;
    float wt[DIRECT_MAX_K * DIRECT_MAX_COUT];
    for (int co = 0; co < Cout; co++) /* w is laid out for the packed GEMM (ops.h) */
        for (int t = 0; t < K; t++) wt[t * Cout + co] = vssm_cpu_linear_packed_get(ctx, w, Cout, K, co, t);
#pragma omp parallel for collapse(2) num_threads(ctx->threads_now) schedule(dynamic, 1)
    for (int bi = 0; bi < B; bi++)
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++) {
                float acc[DIRECT_MAX_COUT];
                for (int co = 0; co < Cout; co++) acc[co] = b ? b[co] : 0.0f;
                for (int kh = 0; kh < 3; kh++) {
                    const int ih = 2 * oh - 1 + kh;
                    if (ih < 0 || ih >= H) continue;
                    for (int kw = 0; kw < 3; kw++) {
                        const int iw = 2 * ow - 1 + kw;
                        if (iw < 0 || iw >= W) continue;
                        const float *s = x + (((size_t)bi * H + ih) * W + iw) * Cin;
                        const float *wk = wt + (kh * 3 + kw) * Cin * Cout;
                        for (int ci = 0; ci < Cin; ci++) {
                            const float v = s[ci];
#pragma omp simd
                            for (int co = 0; co < Cout; co++) acc[co] += v * wk[ci * Cout + co];
                        }
                    }
                }
                float *o = y + (((size_t)bi * Ho + oh) * Wo + ow) * Cout;
#pragma omp simd
                for (int co = 0; co < Cout; co++) o[co] = acc[co];
            }
}

void VSSM_ISA_FN(vssm_cpu_conv3x3s2)(vssm_ctx *ctx, const float *x, int B, int H, int W, int Cin, const float *w,
                                     const float *b, int Cout, float *y, void *ws) {
    if (9 * Cin <= DIRECT_MAX_K && Cout <= DIRECT_MAX_COUT) {
        conv3x3s2_direct(ctx, x, B, H, W, Cin, w, b, Cout, y);
        return;
    }
    const int Ho = out_size(H), Wo = out_size(W);
    float *col = ws; /* (B*Ho*Wo, 3, 3, Cin): the row order matches w (Cout, 3, 3, Cin) */
#pragma omp parallel for collapse(2) num_threads(ctx->threads_now) schedule(dynamic, 1)
    for (int bi = 0; bi < B; bi++)
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++) {
                float *dst = col + (((size_t)bi * Ho + oh) * Wo + ow) * 9 * Cin;
                for (int kh = 0; kh < 3; kh++) {
                    int ih = 2 * oh - 1 + kh;
                    for (int kw = 0; kw < 3; kw++) {
                        int iw = 2 * ow - 1 + kw;
                        float *d = dst + (kh * 3 + kw) * Cin;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) {
                            for (int c = 0; c < Cin; c++) d[c] = 0.0f;
                        } else {
                            const float *s = x + (((size_t)bi * H + ih) * W + iw) * Cin;
                            for (int c = 0; c < Cin; c++) d[c] = s[c];
                        }
                    }
                }
            }
    vssm_cpu_linear_packed(ctx, col, (int64_t)B * Ho * Wo, 9 * Cin, w, b, Cout, VSSM_ACT_NONE, 0, y);
}

#ifdef VSSM_ISA_BASE
void vssm_cpu_dwconv3x3(vssm_ctx *ctx, const float *x, int B, int H, int W, int C, const float *w, vssm_act act,
                        float *y) {
    vssm_cpu_dwconv3x3_bias(ctx, x, C, B, H, W, C, w, NULL, act, y);
}
#endif
