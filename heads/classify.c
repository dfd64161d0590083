/* heads/classify.c - classification head: LayerNorm over channels -> global average
 * pool -> linear, on the last stage's features (the official `classifier`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/ops.h"
#include "vssm/heads.h"

struct vssm_cls_head {
    vssm_ctx *ctx;
    int C, classes;
    float *norm_w, *norm_b, *fc_w, *fc_b;   /* device */
    /* activations, re-planned only when (B, L) changes */
    int B;
    int64_t L;
    float *ln, *pooled, *logits;
};

static void free_acts(vssm_cls_head *h) {
    vssm_op_free(h->ctx, h->ln);
    vssm_op_free(h->ctx, h->pooled);
    vssm_op_free(h->ctx, h->logits);
    h->ln = h->pooled = h->logits = NULL;
    h->B = 0;
    h->L = 0;
}

void vssm_cls_head_free(vssm_cls_head *h) {
    if (!h) return;
    free_acts(h);
    float *w[] = {h->norm_w, h->norm_b, h->fc_w, h->fc_b};
    for (int i = 0; i < 4; i++) vssm_op_free(h->ctx, w[i]);
    free(h);
}

static vssm_status fetch(vssm_cls_head *h, const vssm_source *src, const char *prefix, const char *name,
                         int64_t d0, int64_t d1, int ndim, float **out, vssm_err *err) {
    char full[256], a[64], b[64];
    snprintf(full, sizeof full, "%s%s", prefix ? prefix : "", name);
    int64_t shape[2] = {d0, d1};
    vssm_tensor t;
    vssm_status s = src->get(src->user, full, shape, ndim, &t, err);
    if (s != VSSM_OK) return s;
    if (t.ndim != ndim || t.shape[0] != d0 || (ndim == 2 && t.shape[1] != d1))
        return vssm_err_set(err, VSSM_ERR_SHAPE, "tensor '%s' has shape %s but the head needs %s", full,
                            vssm_shape_str(t.shape, t.ndim, a, sizeof a), vssm_shape_str(shape, ndim, b, sizeof b));
    size_t n = (size_t)d0 * (ndim == 2 ? (size_t)d1 : 1);
    float *host = malloc(n * sizeof(float));
    *out = vssm_op_alloc(h->ctx, n * sizeof(float));
    if (!host || !*out) { free(host); return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory loading '%s'", full); }
    s = vssm_tensor_to_f32(&t, host, err);
    if (s == VSSM_OK && vssm_op_upload(h->ctx, *out, host, n * sizeof(float)) != 0)
        s = vssm_err_set(err, VSSM_ERR_DEVICE, "uploading '%s' failed", full);
    free(host);
    return s;
}

vssm_status vssm_cls_head_load(vssm_cls_head **out, vssm_ctx *ctx, int in_dim, int num_classes,
                               const vssm_source *src, const char *prefix, vssm_err *err) {
    *out = NULL;
    if (in_dim < 1 || num_classes < 1)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "classifier needs in_dim >= 1 and classes >= 1 (got %d, %d)", in_dim, num_classes);
    vssm_cls_head *h = calloc(1, sizeof *h);
    if (!h) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    h->ctx = ctx;
    h->C = in_dim;
    h->classes = num_classes;
    vssm_status s;
    if ((s = fetch(h, src, prefix, "classifier.norm.weight", in_dim, 0, 1, &h->norm_w, err)) != VSSM_OK ||
        (s = fetch(h, src, prefix, "classifier.norm.bias", in_dim, 0, 1, &h->norm_b, err)) != VSSM_OK ||
        (s = fetch(h, src, prefix, "classifier.head.weight", num_classes, in_dim, 2, &h->fc_w, err)) != VSSM_OK ||
        (s = fetch(h, src, prefix, "classifier.head.bias", num_classes, 0, 1, &h->fc_b, err)) != VSSM_OK) {
        vssm_cls_head_free(h);
        return s;
    }
    *out = h;
    return VSSM_OK;
}

int vssm_cls_head_classes(const vssm_cls_head *h) { return h->classes; }

vssm_status vssm_cls_head_forward(vssm_cls_head *h, const vssm_tensor *feats, int n_feats, float *logits, vssm_err *err) {
    if (!feats || n_feats < 1 || !logits) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "classifier: no features given");
    const vssm_tensor *f = &feats[n_feats - 1];
    char a[64];
    if (f->ndim != 4 || f->shape[3] != h->C || f->dtype != VSSM_DTYPE_F32 || f->device != vssm_ctx_device(h->ctx))
        return vssm_err_set(err, VSSM_ERR_SHAPE, "classifier expects f32 features (B, H, W, %d) on its device, got %s", h->C,
                            vssm_shape_str(f->shape, f->ndim, a, sizeof a));
    const int B = (int)f->shape[0];
    const int64_t L = f->shape[1] * f->shape[2];
    if (B != h->B || L != h->L) {
        free_acts(h);
        h->ln = vssm_op_alloc(h->ctx, (size_t)B * L * h->C * sizeof(float));
        h->pooled = vssm_op_alloc(h->ctx, (size_t)B * h->C * sizeof(float));
        h->logits = vssm_op_alloc(h->ctx, (size_t)B * h->classes * sizeof(float));
        if (!h->ln || !h->pooled || !h->logits) { free_acts(h); return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory"); }
        h->B = B;
        h->L = L;
    }
    vssm_op_layernorm(h->ctx, f->data, (int64_t)B * L, h->C, h->norm_w, h->norm_b, 1e-5f, VSSM_ACT_NONE, h->ln);
    vssm_op_avgpool(h->ctx, h->ln, B, L, h->C, h->pooled);
    vssm_op_linear(h->ctx, h->pooled, B, h->C, h->fc_w, h->fc_b, h->classes, VSSM_ACT_NONE, 0, h->logits);
    if (vssm_op_download(h->ctx, logits, h->logits, (size_t)B * h->classes * sizeof(float)) != 0)
        return vssm_err_set(err, VSSM_ERR_DEVICE, "copying logits from the device failed");
    return VSSM_OK;
}
