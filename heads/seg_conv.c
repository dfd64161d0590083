/* heads/seg_conv.c - the decode heads' conv blocks: mmcv ConvModule (conv, BN, ReLU) with
 * the BN folded into the conv at load; 3x3 stride-1 convs as im2col + the GEMM op. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backbone/load.h"
#include "heads/seg_internal.h"
#include "kernels/ops.h"

#define BN_EPS 1e-5
#define IM2COL_ROWS 1024 /* tokens per im2col chunk: bounds the scratch to 1024 * 9 * cin floats */

void vssm_seg_conv_free(seg_conv *c) {
    if (!c) return;
    free(c->w);
    free(c->b);
    c->w = c->b = NULL;
}

vssm_status vssm_seg_conv_load(seg_conv *c, vssm_ctx *ctx, const vssm_source *src, const char *prefix, const char *base,
                               int cin, int cout, int k, int relu, int plain_names, vssm_err *err) {
    memset(c, 0, sizeof *c);
    c->cin = cin, c->cout = cout, c->k = k, c->relu = relu;
    char nm[512];
    const char *cv = plain_names ? "" : ".conv";
    float *w = NULL, *cb = NULL, *g = NULL, *be = NULL, *mu = NULL, *var = NULL;
    int64_t ws[4] = {cout, cin, k, k}, s1[1] = {cout};
    vssm_status s;
    snprintf(nm, sizeof nm, "%s%s%s.weight", prefix, base, cv);
    if ((s = vssm_load_tensor_f32(src, nm, ws, 4, 1, &w, err))) goto done;
    snprintf(nm, sizeof nm, "%s%s%s.bias", prefix, base, cv);
    if ((s = vssm_load_tensor_f32(src, nm, s1, 1, plain_names, &cb, err))) goto done;
    if (!plain_names) {
        snprintf(nm, sizeof nm, "%s%s.bn.weight", prefix, base);
        if ((s = vssm_load_tensor_f32(src, nm, s1, 1, 0, &g, err))) goto done;
        if (g) {
            const char *rest[3] = {"bias", "running_mean", "running_var"};
            float **dst[3] = {&be, &mu, &var};
            for (int i = 0; i < 3; i++) {
                snprintf(nm, sizeof nm, "%s%s.bn.%s", prefix, base, rest[i]);
                if ((s = vssm_load_tensor_f32(src, nm, s1, 1, 1, dst[i], err))) goto done;
            }
        }
    }
    c->w = malloc(sizeof(float) * (size_t)cout * cin * k * k);
    c->b = malloc(sizeof(float) * (size_t)cout);
    if (!c->w || !c->b) {
        s = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int o = 0; o < cout; o++) {
        /* y = gamma * (conv + cb - mean) / sqrt(var + eps) + beta */
        double sc = 1.0, sh = cb ? cb[o] : 0.0;
        if (g) {
            sc = g[o] / sqrt((double)var[o] + BN_EPS);
            sh = (sh - mu[o]) * sc + be[o];
        }
        c->b[o] = (float)sh;
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++)
                for (int i = 0; i < cin; i++)
                    c->w[(((size_t)o * k + ky) * k + kx) * cin + i] =
                        (float)(w[(((size_t)o * cin + i) * k + ky) * k + kx] * sc);
    }
    /* laid out once for the backend's GEMM (a 2048 -> 512 3x3 conv's weight is 38 MB: packing
     * it per call, per im2col chunk, would cost more than half the product) */
    const int K = k * k * cin;
    const size_t pn = vssm_op_linear_pack_numel(ctx, cout, K);
    if (pn) {
        float *wp = malloc(pn * sizeof(float));
        if (!wp) {
            s = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
            goto done;
        }
        vssm_op_linear_pack(ctx, c->w, cout, K, wp);
        free(c->w);
        c->w = wp;
        c->packed = 1;
    }
    s = VSSM_OK;
done:
    free(w), free(cb), free(g), free(be), free(mu), free(var);
    if (s != VSSM_OK) vssm_seg_conv_free(c);
    return s;
}

size_t vssm_seg_conv_workspace(const seg_conv *c) { return c->k == 1 ? 0 : (size_t)IM2COL_ROWS * c->k * c->k * c->cin; }

static void relu_inplace(float *y, int64_t n) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) y[i] = y[i] > 0 ? y[i] : 0;
}

void vssm_seg_conv_forward(vssm_ctx *ctx, const seg_conv *c, const float *x, int B, int H, int W, float *y, float *ws) {
    const int64_t M = (int64_t)B * H * W;
    const int cin = c->cin, k = c->k, r = k / 2, K = k * k * cin;
    if (k == 1) {
        vssm_op_linear_packed(ctx, x, M, cin, c->w, c->b, c->cout, VSSM_ACT_NONE, 0, y);
    } else {
        for (int64_t t0 = 0; t0 < M; t0 += IM2COL_ROWS) {
            const int64_t n = M - t0 < IM2COL_ROWS ? M - t0 : IM2COL_ROWS;
#pragma omp parallel for schedule(static)
            for (int64_t t = 0; t < n; t++) {
                const int64_t tok = t0 + t;
                const int b = (int)(tok / ((int64_t)H * W)), yy = (int)(tok / W % H), xx = (int)(tok % W);
                float *col = ws + t * K;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        const int sy = yy + ky - r, sx = xx + kx - r;
                        float *dst = col + (ky * k + kx) * cin;
                        if (sy < 0 || sy >= H || sx < 0 || sx >= W)
                            memset(dst, 0, sizeof(float) * cin);
                        else
                            memcpy(dst, x + (((size_t)b * H + sy) * W + sx) * cin, sizeof(float) * cin);
                    }
            }
            vssm_op_linear_packed(ctx, ws, n, K, c->w, c->b, c->cout, VSSM_ACT_NONE, 0, y + t0 * c->cout);
        }
    }
    if (c->relu) relu_inplace(y, M * c->cout);
}
