/* heads/reid.c - the re-ID embedding head: global average pool of the last stage ->
 * optional BNNeck (BatchNorm1d, eval mode) -> optional L2 normalisation (vssm/reid.h),
 * and the weights file -> backbone (VMamba or Vim, vssm/backbone.h) + head object. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backbone/load.h"
#include "vssm/backbone.h"
#include "vssm/reid.h"
#include "vssm/weights.h"

struct vssm_reid_head {
    int C;
    int l2norm;
    const char *bnneck; /* static string: which naming matched, or NULL */
    float *mean, *var, *weight, *bias;
    float eps;
    float *ln_w, *ln_b; /* the classifier's final LayerNorm, applied per token before pooling, or NULL */
    float *host;        /* last stage on the host, (B, H, W, C), grown on demand */
    size_t host_cap;
};

vssm_reid_head_opts vssm_reid_head_default_opts(void) {
    vssm_reid_head_opts o = {-1, -1, 1e-5f, 0};
    return o;
}

void vssm_reid_head_free(vssm_reid_head *h) {
    if (!h) return;
    free(h->mean);
    free(h->var);
    free(h->weight);
    free(h->bias);
    free(h->ln_w);
    free(h->ln_b);
    free(h->host);
    free(h);
}

int vssm_reid_head_dim(const vssm_reid_head *h) { return h->C; }
int vssm_reid_head_l2norm(const vssm_reid_head *h) { return h->l2norm; }
const char *vssm_reid_head_bnneck(const vssm_reid_head *h) { return h->bnneck; }

/* tensor PREFIX+BASE+NAME of shape (C) into a new f32 array */
static vssm_status fetch_vec(const vssm_source *src, const char *prefix, const char *base, const char *name, int C,
                             float **out, vssm_err *err) {
    char full[256];
    snprintf(full, sizeof full, "%s%s%s", prefix, base, name);
    const int64_t shape[1] = {C};
    return vssm_load_tensor_f32(src, full, shape, 1, 1, out, err);
}

static int has_tensor(const vssm_source *src, const char *prefix, const char *base, const char *name) {
    char full[256];
    snprintf(full, sizeof full, "%s%s%s", prefix, base, name);
    vssm_tensor t;
    /* file sources ignore the expected shape; synthesising sources are never asked (count == NULL) */
    if (!src->count) return 0;
    return src->get(src->user, full, NULL, 0, &t, NULL) == VSSM_OK;
}

vssm_status vssm_reid_head_load(vssm_reid_head **out, int dim, const vssm_source *src, const char *prefix,
                                const vssm_reid_head_opts *opts, vssm_err *err) {
    *out = NULL;
    vssm_reid_head_opts o = opts ? *opts : vssm_reid_head_default_opts();
    if (dim < 1) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "re-ID head: dim must be >= 1 (got %d)", dim);
    if (!(o.eps > 0)) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "re-ID head: BatchNorm eps must be > 0");
    if (!prefix) prefix = "";
    vssm_reid_head *h = calloc(1, sizeof *h);
    if (!h) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    h->C = dim;
    /* auto: as the weights' metadata says (reid_l2norm "1"), else off */
    const char *l2m = o.l2norm < 0 && src && src->meta ? src->meta(src->user, "reid_l2norm") : NULL;
    h->l2norm = o.l2norm < 0 ? (l2m && !strcmp(l2m, "1")) : o.l2norm != 0;
    h->eps = o.eps;
    static const char *const bases[] = {"bnneck.", "bottleneck.", "heads.bottleneck.0."};
    const char *found = NULL;
    if (o.bnneck != 0 && src)
        for (size_t i = 0; i < sizeof bases / sizeof bases[0] && !found; i++)
            if (has_tensor(src, prefix, bases[i], "running_mean")) found = bases[i];
    if (o.bnneck == 1 && !found) {
        vssm_reid_head_free(h);
        return vssm_err_set(err, VSSM_ERR_FORMAT,
                            "no BNNeck in the weights (looked for %sbnneck.running_mean, "
                            "%sbottleneck.running_mean, %sheads.bottleneck.0.running_mean)",
                            prefix, prefix, prefix);
    }
    if (found) {
        vssm_status s;
        if ((s = fetch_vec(src, prefix, found, "running_mean", dim, &h->mean, err)) != VSSM_OK ||
            (s = fetch_vec(src, prefix, found, "running_var", dim, &h->var, err)) != VSSM_OK ||
            (has_tensor(src, prefix, found, "weight") &&
             (s = fetch_vec(src, prefix, found, "weight", dim, &h->weight, err)) != VSSM_OK) ||
            (has_tensor(src, prefix, found, "bias") &&
             (s = fetch_vec(src, prefix, found, "bias", dim, &h->bias, err)) != VSSM_OK)) {
            vssm_reid_head_free(h);
            return s;
        }
        for (int c = 0; c < dim; c++)
            if (!(h->var[c] + h->eps > 0) || !isfinite(h->mean[c])) {
                s = vssm_err_set(err, VSSM_ERR_FORMAT, "'%s%srunning_var' / running_mean entry %d is unusable (%g, %g)",
                                 prefix, found, c, (double)h->var[c], (double)h->mean[c]);
                vssm_reid_head_free(h);
                return s;
            }
        h->bnneck = found;
    }
    if (o.final_norm) {
        vssm_status s;
        if ((s = fetch_vec(src, prefix, "classifier.norm.", "weight", dim, &h->ln_w, err)) != VSSM_OK ||
            (s = fetch_vec(src, prefix, "classifier.norm.", "bias", dim, &h->ln_b, err)) != VSSM_OK) {
            vssm_reid_head_free(h);
            return s;
        }
    }
    *out = h;
    return VSSM_OK;
}

void vssm_reid_head_apply(const vssm_reid_head *h, float *x, int B) {
    const int C = h->C;
    for (int b = 0; b < B; b++) {
        float *v = x + (size_t)b * C;
        if (h->bnneck)
            for (int c = 0; c < C; c++) {
                float y = (v[c] - h->mean[c]) / sqrtf(h->var[c] + h->eps);
                v[c] = y * (h->weight ? h->weight[c] : 1.f) + (h->bias ? h->bias[c] : 0.f);
            }
        if (h->l2norm) {
            double s = 0;
            for (int c = 0; c < C; c++) s += (double)v[c] * v[c];
            float n = (float)sqrt(s);
            if (n < 1e-12f) n = 1e-12f;
            for (int c = 0; c < C; c++) v[c] /= n;
        }
    }
}

vssm_status vssm_reid_head_forward(vssm_reid_head *h, vssm_ctx *ctx, const vssm_tensor *feats, int n_feats, float *emb,
                                   vssm_err *err) {
    if (!feats || n_feats < 1) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "re-ID head: no features");
    const vssm_tensor *t = &feats[n_feats - 1]; /* (B, H, W, C) */
    if (t->ndim != 4 || t->shape[3] != h->C || t->dtype != VSSM_DTYPE_F32)
        return vssm_err_set(err, VSSM_ERR_SHAPE, "re-ID head: last stage must be (B, H, W, %d) f32", h->C);
    const int64_t B = t->shape[0], L = t->shape[1] * t->shape[2], C = h->C;
    size_t n = (size_t)(B * L * C);
    if (n > h->host_cap) {
        float *p = realloc(h->host, n * sizeof(float));
        if (!p) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
        h->host = p;
        h->host_cap = n;
    }
    vssm_status s = vssm_tensor_to_host(ctx, t, h->host, err);
    if (s != VSSM_OK) return s;
    /* global average pool (adaptive_avg_pool2d to 1x1) */
    double *acc = calloc((size_t)C, sizeof *acc);
    if (!acc) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    for (int64_t b = 0; b < B; b++) {
        memset(acc, 0, (size_t)C * sizeof *acc);
        float *f = h->host + (size_t)(b * L * C);
        for (int64_t l = 0; l < L; l++) {
            float *tok = f + l * C;
            if (h->ln_w) { /* LayerNorm over channels, eps 1e-5 (nn.LayerNorm) */
                double mu = 0, var = 0;
                for (int64_t c = 0; c < C; c++) mu += tok[c];
                mu /= (double)C;
                for (int64_t c = 0; c < C; c++) var += (tok[c] - mu) * (tok[c] - mu);
                const float rstd = (float)(1.0 / sqrt(var / (double)C + 1e-5));
                for (int64_t c = 0; c < C; c++) tok[c] = (float)(tok[c] - mu) * rstd * h->ln_w[c] + h->ln_b[c];
            }
            for (int64_t c = 0; c < C; c++) acc[c] += tok[c];
        }
        for (int64_t c = 0; c < C; c++) emb[b * C + c] = (float)(acc[c] / (double)L);
    }
    free(acc);
    vssm_reid_head_apply(h, emb, (int)B);
    return VSSM_OK;
}

/* ---------------------------------------------------------------- the model */

struct vssm_reid_model {
    vssm_ctx *ctx;
    vssm_backbone *backbone;
    vssm_reid_head *head;
    vssm_preprocess_params pp;
    vssm_backbone_state *st;
    int sB, sH, sW;
};

vssm_reid_model_opts vssm_reid_model_default_opts(void) {
    vssm_reid_model_opts o = {NULL, NULL, vssm_reid_head_default_opts()};
    return o;
}

void vssm_reid_model_free(vssm_reid_model *m) {
    if (!m) return;
    vssm_backbone_state_free(m->st);
    vssm_reid_head_free(m->head);
    vssm_backbone_free(m->backbone);
    free(m);
}

vssm_status vssm_reid_model_load(vssm_reid_model **out, vssm_ctx *ctx, const char *path,
                                 const vssm_reid_model_opts *opts, vssm_err *err) {
    *out = NULL;
    vssm_reid_model_opts o = opts ? *opts : vssm_reid_model_default_opts();
    vssm_reid_model *m = calloc(1, sizeof *m);
    if (!m) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    m->ctx = ctx;
    vssm_weights_opts wo = {o.key};
    vssm_weights *w = NULL;
    vssm_backbone_opts bo;
    memset(&bo, 0, sizeof bo);
    bo.arch = o.arch;
    bo.n_out = -1; /* a Vim's final token grid, whatever out_indices the file states */
    vssm_status s = vssm_weights_open(&w, path, &wo, err);
    if (s != VSSM_OK) {
        free(m);
        return s;
    }
    const vssm_source *src = vssm_weights_source(w);
    if ((s = vssm_backbone_load_source(&m->backbone, ctx, src, &bo, &m->pp, err)) == VSSM_OK) {
        const int last = vssm_backbone_stages(m->backbone) - 1;
        if (o.head.final_norm && vssm_backbone_get_kind(m->backbone) == VSSM_BACKBONE_VIM)
            s = vssm_err_set(
                err, VSSM_ERR_UNSUPPORTED,
                "final_norm (classifier.norm) is VMamba's: this Vision Mamba's tokens are already normalised by its "
                "norm_f");
        else
            s = vssm_reid_head_load(&m->head, vssm_backbone_stage_channels(m->backbone, last), src,
                                    vssm_backbone_prefix(m->backbone), &o.head, err);
    }
    if (s != VSSM_OK) {
        vssm_err_prefix(err, "%s", path);
        vssm_reid_model_free(m);
        m = NULL;
    }
    vssm_weights_close(w);
    *out = m;
    return s;
}

int vssm_reid_model_dim(const vssm_reid_model *m) { return vssm_reid_head_dim(m->head); }
const vssm_reid_head *vssm_reid_model_head(const vssm_reid_model *m) { return m->head; }
vssm_preprocess_params vssm_reid_model_preprocess(const vssm_reid_model *m) { return m->pp; }
const vssm_backbone *vssm_reid_model_backbone(const vssm_reid_model *m) { return m->backbone; }

vssm_status vssm_reid_model_forward(vssm_reid_model *m, const float *x, int B, int H, int W, float *emb,
                                    vssm_err *err) {
    if (B < 1 || H < 1 || W < 1)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "re-ID forward: bad size %dx%dx%d", B, H, W);
    if (!m->st || m->sB != B || m->sH != H || m->sW != W) {
        vssm_backbone_state_free(m->st);
        m->st = NULL;
        vssm_status s = vssm_backbone_state_new(&m->st, m->backbone, B, H, W, err);
        if (s != VSSM_OK) return s;
        m->sB = B;
        m->sH = H;
        m->sW = W;
    }
    vssm_status s = vssm_backbone_forward(m->backbone, m->st, x, err);
    if (s != VSSM_OK) return s;
    vssm_tensor f[VSSM_BACKBONE_MAX_STAGES];
    const int n = vssm_backbone_stages(m->backbone);
    for (int i = 0; i < n; i++) f[i] = vssm_backbone_feature(m->st, i);
    return vssm_reid_head_forward(m->head, m->ctx, f, n, emb, err);
}
