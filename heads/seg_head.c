/* heads/seg_head.c - mmseg's UPerHead (PPM + FPN) and FPNHead on the backbone's four
 * NHWC feature maps (vssm/segment.h). Buffers are planned once per (B, feature sizes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "heads/seg_internal.h"
#include "kernels/ops.h"

#define LEVELS 4
#define MAX_FPN_CONVS 8

struct vssm_seg_head {
    vssm_ctx *ctx;
    vssm_seg_head_config cfg;
    /* UPerHead */
    seg_conv ppm[VSSM_SEG_MAX_POOL], bottleneck, lateral[LEVELS - 1], fpn[LEVELS - 1], fpn_bottleneck;
    /* FPNHead: scale_heads[i] has n_scale[i] conv blocks */
    seg_conv scale[LEVELS][MAX_FPN_CONVS];
    int n_scale[LEVELS];
    seg_conv cls;
    /* plan */
    int pB, pH[LEVELS], pW[LEVELS];
    float *buf; /* one arena */
    size_t buf_n;
};

static int has_tensor(const vssm_source *src, const char *prefix, const char *name) {
    char nm[512];
    vssm_tensor t;
    snprintf(nm, sizeof nm, "%s%s", prefix, name);
    return src->get(src->user, nm, NULL, 0, &t, NULL) == VSSM_OK ? 1 : 0;
}
static int tensor_dim(const vssm_source *src, const char *prefix, const char *name, int d) {
    char nm[512];
    vssm_tensor t;
    snprintf(nm, sizeof nm, "%s%s", prefix, name);
    if (src->get(src->user, nm, NULL, 0, &t, NULL) != VSSM_OK || d >= t.ndim) return -1;
    return (int)t.shape[d];
}

vssm_status vssm_seg_head_config_infer(const vssm_source *src, const char *prefix, vssm_seg_head_config *cfg,
                                       vssm_err *err) {
    prefix = prefix ? prefix : "";
    int classes = tensor_dim(src, prefix, "conv_seg.weight", 0), ch = tensor_dim(src, prefix, "conv_seg.weight", 1);
    if (classes < 1 || ch < 1)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "no segmentation head: tensor '%sconv_seg.weight' is missing",
                            prefix);
    cfg->num_classes = classes;
    cfg->channels = ch;
    if (has_tensor(src, prefix, "psp_modules.0.1.conv.weight")) {
        cfg->kind = VSSM_SEG_HEAD_UPER;
        int n = 0;
        char nm[64];
        while (n < VSSM_SEG_MAX_POOL &&
               (snprintf(nm, sizeof nm, "psp_modules.%d.1.conv.weight", n), has_tensor(src, prefix, nm)))
            n++;
        static const int def[VSSM_SEG_MAX_POOL] = {1, 2, 3, 6, 8, 12, 16, 24};
        if (!cfg->n_pool) {
            cfg->n_pool = n;
            for (int i = 0; i < n; i++) cfg->pool_scales[i] = def[i];
        } else if (cfg->n_pool != n) {
            return vssm_err_set(err, VSSM_ERR_FORMAT, "%d pool scales stated but the checkpoint has %d psp_modules",
                                cfg->n_pool, n);
        }
    } else if (has_tensor(src, prefix, "scale_heads.0.0.conv.weight")) {
        cfg->kind = VSSM_SEG_HEAD_FPN;
        cfg->n_pool = 0;
    } else {
        return vssm_err_set(err, VSSM_ERR_FORMAT,
                            "unknown decode head under '%s': neither UPerHead (psp_modules) nor FPNHead (scale_heads)",
                            prefix);
    }
    return VSSM_OK;
}

void vssm_seg_head_free(vssm_seg_head *h) {
    if (!h) return;
    for (int i = 0; i < VSSM_SEG_MAX_POOL; i++) vssm_seg_conv_free(&h->ppm[i]);
    for (int i = 0; i < LEVELS - 1; i++) vssm_seg_conv_free(&h->lateral[i]), vssm_seg_conv_free(&h->fpn[i]);
    vssm_seg_conv_free(&h->bottleneck);
    vssm_seg_conv_free(&h->fpn_bottleneck);
    for (int i = 0; i < LEVELS; i++)
        for (int k = 0; k < MAX_FPN_CONVS; k++) vssm_seg_conv_free(&h->scale[i][k]);
    vssm_seg_conv_free(&h->cls);
    free(h->buf);
    free(h);
}

const vssm_seg_head_config *vssm_seg_head_get_config(const vssm_seg_head *h) { return &h->cfg; }

/* FPNHead: blocks of level i = max(1, log2(stride_i / stride_0)) with strides 4..32 */
static int fpn_blocks(int i) { return i == 0 ? 1 : i; }

vssm_status vssm_seg_head_load(vssm_seg_head **out, vssm_ctx *ctx, const vssm_seg_head_config *cfg,
                               const vssm_source *src, const char *prefix, vssm_err *err) {
    *out = NULL;
    prefix = prefix ? prefix : "";
    if (vssm_ctx_device(ctx) != VSSM_DEVICE_CPU)
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED, "the segmentation head runs on a CPU context");
    if (cfg->channels < 1 || cfg->num_classes < 1 || cfg->n_pool < 0 || cfg->n_pool > VSSM_SEG_MAX_POOL)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "bad head config (channels %d, classes %d, pool scales %d)",
                            cfg->channels, cfg->num_classes, cfg->n_pool);
    for (int i = 0; i < LEVELS; i++)
        if (cfg->in_channels[i] < 1)
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "head in_channels[%d] = %d", i, cfg->in_channels[i]);
    vssm_seg_head *h = calloc(1, sizeof *h);
    if (!h) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    h->ctx = ctx;
    h->cfg = *cfg;
    const int C = cfg->channels, *in = cfg->in_channels;
    vssm_status s = VSSM_OK;
    char nm[128];
    if (cfg->kind == VSSM_SEG_HEAD_UPER) {
        if (cfg->n_pool < 1) s = vssm_err_set(err, VSSM_ERR_INVALID_ARG, "UPerHead needs pool scales");
        for (int i = 0; s == VSSM_OK && i < cfg->n_pool; i++) {
            if (cfg->pool_scales[i] < 1 || cfg->pool_scales[i] > VSSM_SEG_MAX_POOL_SCALE) {
                s = vssm_err_set(err, VSSM_ERR_INVALID_ARG, "pool scale %d is not from 1 to %d", cfg->pool_scales[i],
                                 VSSM_SEG_MAX_POOL_SCALE);
                break;
            }
            snprintf(nm, sizeof nm, "psp_modules.%d.1", i);
            s = vssm_seg_conv_load(&h->ppm[i], ctx, src, prefix, nm, in[3], C, 1, 1, 0, err);
        }
        if (s == VSSM_OK)
            s = vssm_seg_conv_load(&h->bottleneck, ctx, src, prefix, "bottleneck", in[3] + cfg->n_pool * C, C, 3, 1, 0,
                                   err);
        for (int i = 0; s == VSSM_OK && i < LEVELS - 1; i++) {
            snprintf(nm, sizeof nm, "lateral_convs.%d", i);
            if ((s = vssm_seg_conv_load(&h->lateral[i], ctx, src, prefix, nm, in[i], C, 1, 1, 0, err))) break;
            snprintf(nm, sizeof nm, "fpn_convs.%d", i);
            s = vssm_seg_conv_load(&h->fpn[i], ctx, src, prefix, nm, C, C, 3, 1, 0, err);
        }
        if (s == VSSM_OK)
            s = vssm_seg_conv_load(&h->fpn_bottleneck, ctx, src, prefix, "fpn_bottleneck", LEVELS * C, C, 3, 1, 0, err);
    } else if (cfg->kind == VSSM_SEG_HEAD_FPN) {
        for (int i = 0; s == VSSM_OK && i < LEVELS; i++) {
            h->n_scale[i] = fpn_blocks(i);
            for (int k = 0; s == VSSM_OK && k < h->n_scale[i]; k++) {
                /* Sequential index: [conv, upsample]* for i > 0, [conv] for i == 0 */
                snprintf(nm, sizeof nm, "scale_heads.%d.%d", i, i == 0 ? k : 2 * k);
                s = vssm_seg_conv_load(&h->scale[i][k], ctx, src, prefix, nm, k == 0 ? in[i] : C, C, 3, 1, 0, err);
            }
        }
    } else {
        s = vssm_err_set(err, VSSM_ERR_INVALID_ARG, "unknown head kind %d", (int)cfg->kind);
    }
    if (s == VSSM_OK) s = vssm_seg_conv_load(&h->cls, ctx, src, prefix, "conv_seg", C, cfg->num_classes, 1, 0, 1, err);
    if (s != VSSM_OK) {
        vssm_seg_head_free(h);
        return s;
    }
    *out = h;
    return VSSM_OK;
}

/* ------------------------------------------------------------------ forward */

/* buffer layout (floats), for (B, Hi, Wi):
 *  UPer: pooled (B*36*in3 max) | ppm (B*s*s*C) | cat4 (B*H3*W3*(in3+nP*C)) | lat[0..3] (B*Hi*Wi*C) |
 *        fpnout[0..2] | cat1 (B*H0*W0*4C) | feat (B*H0*W0*C) | ws
 *  FPN:  t0, t1 (B*H0*W0*C each, ping-pong inside a level) | sum (B*H0*W0*C) | ws */
typedef struct plan {
    float *pooled, *ppm, *cat4, *lat[LEVELS], *fpnout[LEVELS], *cat1, *feat, *t0, *t1, *ws;
} plan;

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

static size_t plan_layout(const vssm_seg_head *h, int B, const int *H, const int *W, plan *p, float *base) {
    const vssm_seg_head_config *cfg = &h->cfg;
    const size_t C = (size_t)cfg->channels;
    size_t off = 0, ws = 0;
#define TAKE(ptr, n)                             \
    do {                                         \
        (ptr) = base ? base + off : NULL;        \
        off += ((size_t)(n) + 15) & ~(size_t)15; \
    } while (0)
    const size_t hw0 = (size_t)B * H[0] * W[0];
    if (cfg->kind == VSSM_SEG_HEAD_UPER) {
        int smax = 1;
        for (int i = 0; i < cfg->n_pool; i++) smax = cfg->pool_scales[i] > smax ? cfg->pool_scales[i] : smax;
        const size_t hw3 = (size_t)B * H[3] * W[3];
        TAKE(p->pooled, (size_t)B * smax * smax * cfg->in_channels[3]);
        TAKE(p->ppm, (size_t)B * smax * smax * C);
        TAKE(p->cat4, hw3 * (cfg->in_channels[3] + cfg->n_pool * C));
        for (int i = 0; i < LEVELS; i++) TAKE(p->lat[i], (size_t)B * H[i] * W[i] * C);
        for (int i = 0; i < LEVELS - 1; i++) TAKE(p->fpnout[i], (size_t)B * H[i] * W[i] * C);
        TAKE(p->cat1, hw0 * LEVELS * C);
        TAKE(p->feat, hw0 * C);
        ws = max_sz(vssm_seg_conv_workspace(&h->bottleneck), vssm_seg_conv_workspace(&h->fpn_bottleneck));
        ws = max_sz(ws, vssm_seg_conv_workspace(&h->fpn[0]));
    } else {
        size_t big = 0;
        for (int i = 0; i < LEVELS; i++) {
            const int up = i > 0 ? h->n_scale[i] : 0; /* 2x upsamples of level i */
            big = max_sz(big, (size_t)B * ((size_t)H[i] << up) * ((size_t)W[i] << up) * C);
        }
        big = max_sz(big, hw0 * C);
        TAKE(p->t0, big);
        TAKE(p->t1, big);
        TAKE(p->feat, hw0 * C);
        for (int i = 0; i < LEVELS; i++)
            for (int k = 0; k < h->n_scale[i]; k++) ws = max_sz(ws, vssm_seg_conv_workspace(&h->scale[i][k]));
    }
    TAKE(p->ws, ws);
#undef TAKE
    return off;
}

size_t vssm_seg_head_plan_bytes(const vssm_seg_head *h, int B, const int *H, const int *W) {
    plan p;
    return plan_layout(h, B, H, W, &p, NULL) * sizeof(float);
}

vssm_status vssm_seg_head_forward(vssm_seg_head *h, const vssm_tensor *feats, int n_feats, float *logits,
                                  vssm_err *err) {
    const vssm_seg_head_config *cfg = &h->cfg;
    if (n_feats != LEVELS)
        return vssm_err_set(err, VSSM_ERR_SHAPE, "the head needs %d feature maps, got %d", LEVELS, n_feats);
    int B = (int)feats[0].shape[0], H[LEVELS], W[LEVELS];
    for (int i = 0; i < LEVELS; i++) {
        const vssm_tensor *f = &feats[i];
        if (f->ndim != 4 || f->dtype != VSSM_DTYPE_F32 || f->shape[0] != B || f->shape[3] != cfg->in_channels[i])
            return vssm_err_set(err, VSSM_ERR_SHAPE, "feature %d: expected (%d, H, W, %d) f32", i, B,
                                cfg->in_channels[i]);
        if (f->device != VSSM_DEVICE_CPU)
            return vssm_err_set(err, VSSM_ERR_UNSUPPORTED, "feature %d is not in host memory", i);
        H[i] = (int)f->shape[1];
        W[i] = (int)f->shape[2];
    }
    int same = h->buf && h->pB == B;
    for (int i = 0; same && i < LEVELS; i++) same = h->pH[i] == H[i] && h->pW[i] == W[i];
    plan p;
    if (!same) {
        free(h->buf);
        h->buf_n = plan_layout(h, B, H, W, &p, NULL);
        h->buf = malloc(h->buf_n * sizeof(float));
        if (!h->buf)
            return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory (%zu MB of head activations)", h->buf_n * 4 >> 20);
        h->pB = B;
        memcpy(h->pH, H, sizeof H);
        memcpy(h->pW, W, sizeof W);
    }
    plan_layout(h, B, H, W, &p, h->buf);
    const int C = cfg->channels;
    const float *x[LEVELS];
    for (int i = 0; i < LEVELS; i++) x[i] = (const float *)feats[i].data;
    vssm_ctx *ctx = h->ctx;

    if (cfg->kind == VSSM_SEG_HEAD_UPER) {
        /* PPM: cat4 = [x3, up(conv(pool_s(x3))) for each s] */
        const int c3 = cfg->in_channels[3], ct = c3 + cfg->n_pool * C;
        const size_t hw3 = (size_t)B * H[3] * W[3];
        for (size_t t = 0; t < hw3; t++) memcpy(p.cat4 + t * ct, x[3] + t * c3, sizeof(float) * c3);
        for (int i = 0; i < cfg->n_pool; i++) {
            const int sc = cfg->pool_scales[i];
            vssm_seg_adaptive_avgpool(x[3], B, H[3], W[3], c3, sc, p.pooled);
            vssm_seg_conv_forward(ctx, &h->ppm[i], p.pooled, B, sc, sc, p.ppm, p.ws);
            vssm_resize_bilinear_f32(p.ppm, B, sc, sc, C, C, H[3], W[3], p.cat4 + c3 + i * C, ct, 0);
        }
        vssm_seg_conv_forward(ctx, &h->bottleneck, p.cat4, B, H[3], W[3], p.lat[3], p.ws);
        for (int i = 0; i < LEVELS - 1; i++)
            vssm_seg_conv_forward(ctx, &h->lateral[i], x[i], B, H[i], W[i], p.lat[i], p.ws);
        /* top-down: lat[i-1] += up(lat[i]) */
        for (int i = LEVELS - 1; i > 0; i--)
            vssm_resize_bilinear_f32(p.lat[i], B, H[i], W[i], C, C, H[i - 1], W[i - 1], p.lat[i - 1], C, 1);
        for (int i = 0; i < LEVELS - 1; i++)
            vssm_seg_conv_forward(ctx, &h->fpn[i], p.lat[i], B, H[i], W[i], p.fpnout[i], p.ws);
        p.fpnout[LEVELS - 1] = p.lat[LEVELS - 1];
        for (int i = 0; i < LEVELS; i++)
            vssm_resize_bilinear_f32(p.fpnout[i], B, H[i], W[i], C, C, H[0], W[0], p.cat1 + i * C, LEVELS * C, 0);
        vssm_seg_conv_forward(ctx, &h->fpn_bottleneck, p.cat1, B, H[0], W[0], p.feat, p.ws);
    } else {
        /* each level: [conv (+2x up)]* then resized onto level 0 and summed */
        for (int i = 0; i < LEVELS; i++) {
            const float *cur = x[i];
            int ch = H[i], cw = W[i];
            float *bufs[2] = {p.t0, p.t1};
            int which = 0;
            for (int k = 0; k < h->n_scale[i]; k++) {
                float *o = bufs[which];
                vssm_seg_conv_forward(ctx, &h->scale[i][k], cur, B, ch, cw, o, p.ws);
                cur = o;
                which ^= 1;
                if (i > 0) { /* Upsample(scale_factor=2): output 2h x 2w, source (dst + .5) / 2 - .5 */
                    float *u = bufs[which];
                    vssm_resize_bilinear_f32(cur, B, ch, cw, C, C, 2 * ch, 2 * cw, u, C, 0);
                    ch *= 2, cw *= 2;
                    cur = u;
                    which ^= 1;
                }
            }
            vssm_resize_bilinear_f32(cur, B, ch, cw, C, C, H[0], W[0], p.feat, C, i > 0);
        }
    }
    vssm_seg_conv_forward(ctx, &h->cls, p.feat, B, H[0], W[0], logits, NULL);
    return VSSM_OK;
}
