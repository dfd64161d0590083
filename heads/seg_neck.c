/* heads/seg_neck.c - the Vim segmentation neck: hustvl/Vim's VisionMambaSeg keeps four block
 * outputs, each a (B, D, gh, gw) map at the patch stride, and turns them into a hierarchy for
 * the UPerHead with fpn1..fpn4 (BEiT's layout), chosen by the patch size:
 *   patch 16: fpn1 = ConvTranspose2d(D, D, 2, 2) -> BatchNorm2d -> GELU -> ConvTranspose2d (x4),
 *             fpn2 = ConvTranspose2d (x2), fpn3 = identity, fpn4 = MaxPool2d(2) (/2)
 *   patch 8:  fpn1 = ConvTranspose2d (x2), fpn2 = identity, fpn3 = MaxPool2d(2), fpn4 = MaxPool2d(4)
 * A kernel-2 stride-2 transposed conv writes each input cell's 2x2 output block from its own
 * channels alone: one GEMM (cells x D) . (D x 4D) and a scatter. The BatchNorm (eval, eps
 * 1e-5) is folded into the conv before it, and GELU (erf) fused into that GEMM. Max pooling
 * floors the size (odd rows and columns at the end are dropped), as torch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backbone/load.h"
#include "heads/seg_internal.h"
#include "kernels/ops.h"

#define LEVELS 4
#define MAX_DECONV 2
#define BN_EPS 1e-5

typedef struct seg_deconv {
    float *w, *b; /* (4D, D) rows (dy*2 + dx)*D + o, (4D); BN folded */
    int gelu;
} seg_deconv;

struct seg_neck {
    int D;
    int n_deconv[LEVELS];
    seg_deconv dc[LEVELS][MAX_DECONV];
    int pool[LEVELS]; /* max-pool kernel = stride after the deconvs; 1: none */
};

void vssm_seg_neck_free(seg_neck *n) {
    if (!n) return;
    for (int l = 0; l < LEVELS; l++)
        for (int i = 0; i < MAX_DECONV; i++) free(n->dc[l][i].w), free(n->dc[l][i].b);
    free(n);
}

/* PREFIX + BASE.{weight (D, D, 2, 2), bias}, then, with bn, PREFIX + BN.{weight, bias,
 * running_mean, running_var} folded in and GELU after */
static vssm_status load_deconv(seg_deconv *d, const vssm_source *src, const char *prefix, const char *base,
                               const char *bn, int D, vssm_err *err) {
    char nm[512];
    const int64_t ws[4] = {D, D, 2, 2}, s1[1] = {D};
    float *w = NULL, *b = NULL, *g[4] = {NULL, NULL, NULL, NULL};
    static const char *const bn_names[4] = {"weight", "bias", "running_mean", "running_var"};
    vssm_status s;
    snprintf(nm, sizeof nm, "%s%s.weight", prefix, base);
    if ((s = vssm_load_tensor_f32(src, nm, ws, 4, 1, &w, err))) goto done;
    snprintf(nm, sizeof nm, "%s%s.bias", prefix, base);
    if ((s = vssm_load_tensor_f32(src, nm, s1, 1, 1, &b, err))) goto done;
    for (int k = 0; bn && k < 4; k++) {
        snprintf(nm, sizeof nm, "%s%s.%s", prefix, bn, bn_names[k]);
        if ((s = vssm_load_tensor_f32(src, nm, s1, 1, 1, &g[k], err))) goto done;
    }
    d->w = malloc(sizeof(float) * 4 * (size_t)D * D);
    d->b = malloc(sizeof(float) * 4 * (size_t)D);
    if (!d->w || !d->b) {
        s = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
        goto done;
    }
    d->gelu = bn != NULL;
    for (int o = 0; o < D; o++) {
        /* y = gamma * (deconv + b - mean) / sqrt(var + eps) + beta */
        double sc = 1.0, sh = b[o];
        if (bn) {
            sc = g[0][o] / sqrt((double)g[3][o] + BN_EPS);
            sh = (sh - g[2][o]) * sc + g[1][o];
        }
        for (int q = 0; q < 4; q++) { /* q = dy*2 + dx */
            d->b[(size_t)q * D + o] = (float)sh;
            for (int i = 0; i < D; i++)
                d->w[((size_t)q * D + o) * D + i] = (float)(w[((size_t)i * D + o) * 4 + q] * sc);
        }
    }
    s = VSSM_OK;
done:
    free(w), free(b);
    for (int k = 0; k < 4; k++) free(g[k]);
    return s;
}

vssm_status vssm_seg_neck_load(seg_neck **out, const vssm_source *src, const char *prefix, int D, int patch_size,
                               vssm_err *err) {
    *out = NULL;
    char nm[512];
    vssm_tensor t;
    snprintf(nm, sizeof nm, "%sfpn1.0.weight", prefix);
    if (src->get(src->user, nm, NULL, 0, &t, NULL) != VSSM_OK) return VSSM_OK; /* no neck (if_fpn False) */
    if (patch_size != 16 && patch_size != 8)
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED,
                            "the fpn neck ('%s') is defined for patch sizes 16 and 8, not %d", nm, patch_size);
    seg_neck *n = calloc(1, sizeof *n);
    if (!n) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    n->D = D;
    vssm_status s;
    if (patch_size == 16) {
        const int pool[LEVELS] = {1, 1, 1, 2};
        memcpy(n->pool, pool, sizeof pool);
        n->n_deconv[0] = 2, n->n_deconv[1] = 1;
        if ((s = load_deconv(&n->dc[0][0], src, prefix, "fpn1.0", "fpn1.1", D, err)) == VSSM_OK &&
            (s = load_deconv(&n->dc[0][1], src, prefix, "fpn1.3", NULL, D, err)) == VSSM_OK)
            s = load_deconv(&n->dc[1][0], src, prefix, "fpn2.0", NULL, D, err);
    } else {
        const int pool[LEVELS] = {1, 1, 2, 4};
        memcpy(n->pool, pool, sizeof pool);
        n->n_deconv[0] = 1;
        s = load_deconv(&n->dc[0][0], src, prefix, "fpn1.0", NULL, D, err);
    }
    if (s != VSSM_OK) {
        vssm_seg_neck_free(n);
        return s;
    }
    *out = n;
    return VSSM_OK;
}

void vssm_seg_neck_level_size(const seg_neck *n, int l, int gh, int gw, int *h, int *w) {
    if (!n) {
        *h = gh, *w = gw;
        return;
    }
    *h = (gh << n->n_deconv[l]) / n->pool[l];
    *w = (gw << n->n_deconv[l]) / n->pool[l];
}

size_t vssm_seg_neck_workspace(const seg_neck *n, int B, int gh, int gw) {
    if (!n) return 0;
    /* the largest deconv's GEMM output (its input grid x 4D) + one intermediate map (x D) */
    size_t gemm = 0, mid = 0;
    for (int l = 0; l < LEVELS; l++)
        for (int i = 0; i < n->n_deconv[l]; i++) {
            const size_t cells = (size_t)B * ((size_t)gh << i) * ((size_t)gw << i);
            if (cells * 4 > gemm) gemm = cells * 4;
            if (i + 1 < n->n_deconv[l] && cells * 4 > mid) mid = cells * 4;
        }
    return (gemm + mid) * (size_t)n->D;
}

/* x (B, h, w, D) -> y (B, 2h, 2w, D); tmp: (B*h*w, 4D) */
static void deconv(vssm_ctx *ctx, const seg_deconv *d, int D, const float *x, int B, int h, int w, float *y,
                   float *tmp) {
    const int64_t cells = (int64_t)B * h * w;
    vssm_op_linear(ctx, x, cells, D, d->w, d->b, 4 * D, d->gelu ? VSSM_ACT_GELU : VSSM_ACT_NONE, 0, tmp);
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < cells; c++) {
        const int64_t b = c / ((int64_t)h * w), yy = c / w % h, xx = c % w;
        for (int dy = 0; dy < 2; dy++) /* (dx, o) of one dy are contiguous on both sides */
            memcpy(y + (((size_t)b * 2 * h + 2 * yy + dy) * 2 * w + 2 * xx) * D, tmp + ((size_t)c * 4 + 2 * dy) * D,
                   sizeof(float) * 2 * D);
    }
}

/* MaxPool2d(k, k): x (B, h, w, D) -> y (B, h/k, w/k, D) */
static void maxpool(const float *x, int B, int h, int w, int D, int k, float *y) {
    const int oh = h / k, ow = w / k;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                float *o = y + (((size_t)b * oh + i) * ow + j) * D;
                for (int dy = 0; dy < k; dy++)
                    for (int dx = 0; dx < k; dx++) {
                        const float *p = x + (((size_t)b * h + i * k + dy) * w + j * k + dx) * D;
                        for (int c = 0; c < D; c++) o[c] = (dy | dx) == 0 || p[c] > o[c] ? p[c] : o[c];
                    }
            }
}

void vssm_seg_neck_forward(vssm_ctx *ctx, const seg_neck *n, int l, const float *x, int B, int gh, int gw, float *y,
                           float *ws) {
    const int D = n->D, nd = n->n_deconv[l];
    if (nd == 0 && n->pool[l] == 1) {
        memcpy(y, x, sizeof(float) * (size_t)B * gh * gw * D);
        return;
    }
    if (nd == 0) {
        maxpool(x, B, gh, gw, D, n->pool[l], y);
        return;
    }
    /* ws: [GEMM output | intermediate map]; the pooled layouts never follow a deconv */
    float *tmp = ws, *mid = ws + (size_t)B * ((size_t)gh << (nd - 1)) * ((size_t)gw << (nd - 1)) * 4 * D;
    const float *cur = x;
    int h = gh, w = gw;
    for (int i = 0; i < nd; i++) {
        float *dst = i + 1 == nd ? y : mid;
        deconv(ctx, &n->dc[l][i], D, cur, B, h, w, dst, tmp);
        cur = dst, h *= 2, w *= 2;
    }
}
