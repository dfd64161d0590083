/* heads/classifier.c - weights file -> backbone + classification head + preprocessing +
 * class names (vssm/classifier.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "vssm/classifier.h"
#include "vssm/heads.h"
#include "vssm/infer.h"
#include "vssm/weights.h"

struct vssm_classifier {
    vssm_ctx *ctx;
    vssm_vmamba_config cfg;
    vssm_preprocess_params pp;
    vssm_vmamba *backbone;
    vssm_cls_head *head;
    vssm_vmamba_state *st;     /* for the last (B, H, W) */
    int sB, sH, sW;
    char **labels;             /* owned, classes entries, or NULL */
    const char *const *builtin;
};

void vssm_classifier_free(vssm_classifier *c) {
    if (!c) return;
    vssm_vmamba_state_free(c->st);
    vssm_cls_head_free(c->head);
    vssm_vmamba_free(c->backbone);
    if (c->labels)
        for (int i = 0; i < c->cfg.num_classes; i++) free(c->labels[i]);
    free(c->labels);
    free(c);
}

static vssm_status labels_from_file(vssm_classifier *c, const char *path, vssm_err *err) {
    FILE *f = fopen(path, "r");
    if (!f) return vssm_err_set(err, VSSM_ERR_IO, "%s: cannot open the labels file", path);
    c->labels = calloc((size_t)c->cfg.num_classes, sizeof(char *));
    if (!c->labels) { fclose(f); return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory"); }
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        size_t l = strcspn(line, "\r\n");
        line[l] = 0;
        if (n < c->cfg.num_classes) c->labels[n] = strdup(line);
        n++;
    }
    fclose(f);
    if (n != c->cfg.num_classes)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: %d labels for a model with %d classes", path, n, c->cfg.num_classes);
    return VSSM_OK;
}

static vssm_status labels_from_json(vssm_classifier *c, const char *json, const char *path, vssm_err *err) {
    cJSON *a = cJSON_Parse(json);
    vssm_status s = VSSM_OK;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != c->cfg.num_classes) {
        s = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: metadata 'labels' is not a JSON array of %d names", path, c->cfg.num_classes);
    } else {
        c->labels = calloc((size_t)c->cfg.num_classes, sizeof(char *));
        if (!c->labels) s = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
        for (int i = 0; s == VSSM_OK && i < c->cfg.num_classes; i++) {
            cJSON *e = cJSON_GetArrayItem(a, i);
            if (!cJSON_IsString(e)) s = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: label %d is not a string", path, i);
            else c->labels[i] = strdup(e->valuestring);
        }
    }
    cJSON_Delete(a);
    return s;
}

/* config + preprocessing + prefix of the VMamba in an open weights file */
static vssm_status resolve_config(const vssm_source *src, const vssm_classifier_opts *opts, vssm_vmamba_config *cfg,
                                  vssm_preprocess_params *pp, char *prefix, size_t nprefix, vssm_err *err) {
    vssm_status s;
    vssm_preprocess_default(pp);
    if ((s = vssm_vmamba_find_prefix(src, prefix, nprefix, err)) != VSSM_OK) return s;
    const int has_meta = src->meta && src->meta(src->user, "dims");
    if (opts->arch) {
        vssm_vmamba_config inferred;
        if ((s = vssm_vmamba_config_preset(cfg, opts->arch, err)) != VSSM_OK) return s;
        cfg->num_classes = vssm_vmamba_config_infer(src, prefix, &inferred, NULL) == VSSM_OK ? inferred.num_classes : 0;
        if ((s = vssm_vmamba_config_check(cfg, src, prefix, err)) != VSSM_OK) return s;
        vssm_vmamba_config ignored;
        if (has_meta) vssm_vmamba_config_from_meta(src, &ignored, pp, NULL);
        return VSSM_OK;
    }
    if (has_meta) return vssm_vmamba_config_from_meta(src, cfg, pp, err);
    return vssm_vmamba_config_infer(src, prefix, cfg, err);
}

vssm_status vssm_vmamba_load_file(vssm_vmamba **out, vssm_ctx *ctx, const char *path, const vssm_classifier_opts *opts,
                                  vssm_vmamba_config *cfg_out, vssm_preprocess_params *pp_out, vssm_err *err) {
    *out = NULL;
    vssm_classifier_opts none = {0};
    if (!opts) opts = &none;
    vssm_weights_opts wo = {opts->key};
    vssm_weights *w = NULL;
    vssm_status s = vssm_weights_open(&w, path, &wo, err);
    if (s != VSSM_OK) return s;
    const vssm_source *src = vssm_weights_source(w);
    vssm_vmamba_config cfg;
    vssm_preprocess_params pp;
    char prefix[128] = "";
    if ((s = resolve_config(src, opts, &cfg, &pp, prefix, sizeof prefix, err)) == VSSM_OK &&
        (s = vssm_vmamba_load(out, ctx, &cfg, src, prefix, err)) == VSSM_OK) {
        if (cfg_out) *cfg_out = cfg;
        if (pp_out) *pp_out = pp;
    } else {
        vssm_err_prefix(err, "%s", path);
    }
    vssm_weights_close(w);
    return s;
}

vssm_status vssm_classifier_load(vssm_classifier **out, vssm_ctx *ctx, const char *path,
                                 const vssm_classifier_opts *opts, vssm_err *err) {
    *out = NULL;
    vssm_classifier_opts none = {0};
    if (!opts) opts = &none;
    vssm_weights_opts wo = {opts->key};
    vssm_weights *w = NULL;
    vssm_status s = vssm_weights_open(&w, path, &wo, err);
    if (s != VSSM_OK) return s;
    const vssm_source *src = vssm_weights_source(w);
    vssm_classifier *c = calloc(1, sizeof *c);
    if (!c) { vssm_weights_close(w); return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory"); }
    c->ctx = ctx;
    char prefix[128] = "";
    if ((s = resolve_config(src, opts, &c->cfg, &c->pp, prefix, sizeof prefix, err)) != VSSM_OK) goto fail;
    if (c->cfg.num_classes < 1) {
        s = vssm_err_set(err, VSSM_ERR_FORMAT, "the weights have no classifier head (classifier.head.weight)");
        goto fail;
    }
    if ((s = vssm_vmamba_load(&c->backbone, ctx, &c->cfg, src, prefix, err)) != VSSM_OK ||
        (s = vssm_cls_head_load(&c->head, ctx, c->cfg.dims[3], c->cfg.num_classes, src, prefix, err)) != VSSM_OK)
        goto fail;
    const char *lj = src->meta ? src->meta(src->user, "labels") : NULL;
    if (opts->labels_path) s = labels_from_file(c, opts->labels_path, err);
    else if (lj) s = labels_from_json(c, lj, path, err);
    else if (c->cfg.num_classes == 1000) c->builtin = vssm_imagenet1k_labels();
    if (s != VSSM_OK) goto fail;
    vssm_weights_close(w);   /* weights were copied into the model's arena */
    *out = c;
    return VSSM_OK;
fail:
    vssm_err_prefix(err, "%s", path);
    vssm_weights_close(w);
    vssm_classifier_free(c);
    return s;
}

vssm_status vssm_classifier_from_source(vssm_classifier **out, vssm_ctx *ctx, const vssm_vmamba_config *cfg,
                                        const vssm_source *src, const char *prefix, vssm_err *err) {
    *out = NULL;
    if (cfg->num_classes < 1) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "a classifier needs num_classes >= 1");
    vssm_classifier *c = calloc(1, sizeof *c);
    if (!c) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    c->ctx = ctx;
    c->cfg = *cfg;
    vssm_preprocess_default(&c->pp);
    vssm_status s;
    if ((s = vssm_vmamba_load(&c->backbone, ctx, &c->cfg, src, prefix, err)) != VSSM_OK ||
        (s = vssm_cls_head_load(&c->head, ctx, c->cfg.dims[3], c->cfg.num_classes, src, prefix, err)) != VSSM_OK) {
        vssm_classifier_free(c);
        return s;
    }
    if (c->cfg.num_classes == 1000) c->builtin = vssm_imagenet1k_labels();
    *out = c;
    return VSSM_OK;
}

size_t vssm_classifier_state_bytes(const vssm_classifier *c) { return c->st ? vssm_vmamba_state_bytes(c->st) : 0; }

const vssm_vmamba_config *vssm_classifier_config(const vssm_classifier *c) { return &c->cfg; }
vssm_preprocess_params vssm_classifier_preprocess(const vssm_classifier *c) { return c->pp; }
int vssm_classifier_classes(const vssm_classifier *c) { return c->cfg.num_classes; }

const char *vssm_classifier_label(const vssm_classifier *c, int i) {
    if (i < 0 || i >= c->cfg.num_classes) return NULL;
    if (c->labels) return c->labels[i];
    if (c->builtin) return c->builtin[i];
    return NULL;
}

vssm_status vssm_classifier_forward(vssm_classifier *c, const float *x, int B, int H, int W, float *logits,
                                    vssm_err *err) {
    if (!c->st || c->sB != B || c->sH != H || c->sW != W) {
        vssm_vmamba_state_free(c->st);
        c->st = NULL;
        vssm_status s = vssm_vmamba_state_new(&c->st, c->backbone, B, H, W, err);
        if (s != VSSM_OK) return s;
        c->sB = B;
        c->sH = H;
        c->sW = W;
    }
    vssm_status s = vssm_vmamba_forward(c->backbone, c->st, x, err);
    if (s != VSSM_OK) return s;
    vssm_tensor f[VSSM_VMAMBA_STAGES];
    for (int i = 0; i < VSSM_VMAMBA_STAGES; i++) f[i] = vssm_vmamba_feature(c->st, i);
    return vssm_cls_head_forward(c->head, f, VSSM_VMAMBA_STAGES, logits, err);
}
