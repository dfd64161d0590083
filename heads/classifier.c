/* heads/classifier.c - weights file -> backbone + classification head + preprocessing +
 * class names (vssm/classifier.h). The backbone is a VMamba (stage features -> the
 * LN + pool + linear head of heads/classify.c) or a Vim (class token -> its own linear
 * head, inside backbone/vim.c): a tagged union, chosen by the stated arch, the file's
 * metadata, or the tensor names (vssm_backbone_resolve, the rules of vssm/backbone.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "backbone/backbone_internal.h"
#include "vssm/classifier.h"
#include "vssm/heads.h"
#include "vssm/infer.h"
#include "vssm/vim.h"
#include "vssm/weights.h"

struct vssm_classifier {
    vssm_ctx *ctx;
    int is_vim;                /* which backbone the union holds */
    vssm_vmamba_config cfg;    /* VMamba; for a Vim: arch, in_chans, num_classes only */
    vssm_vim_config vcfg;      /* Vim */
    vssm_vim *vim;
    vssm_vim_state *vst;
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
    vssm_vim_state_free(c->vst);
    vssm_vim_free(c->vim);
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
    /* one name a line, any length (a fixed buffer split long lines into several names) */
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int n = 0, oom = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        if (memchr(line, 0, (size_t)got)) {
            free(line);
            fclose(f);
            return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: line %d holds a NUL byte (not a text file of names)", path,
                                n + 1);
        }
        line[strcspn(line, "\r\n")] = 0;
        if (n < c->cfg.num_classes && !(c->labels[n] = strdup(line))) oom = 1;
        if (n < INT_MAX) n++;
    }
    int rerr = ferror(f);
    free(line);
    fclose(f);
    if (oom) return vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory", path);
    if (rerr) return vssm_err_set(err, VSSM_ERR_IO, "%s: read error", path);
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

/* the VMamba-shaped view of a Vim config that vssm_classifier_config returns */
static void vim_facade(vssm_classifier *c) {
    memset(&c->cfg, 0, sizeof c->cfg);
    snprintf(c->cfg.arch, sizeof c->cfg.arch, "%s", c->vcfg.arch);
    snprintf(c->cfg.forward_type, sizeof c->cfg.forward_type, "vim");
    c->cfg.in_chans = c->vcfg.in_chans;
    c->cfg.num_classes = c->vcfg.num_classes;
    c->cfg.d_state = c->vcfg.d_state;
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
    vssm_backbone_spec sp;
    if ((s = vssm_backbone_resolve(src, opts->arch, &sp, err)) == VSSM_OK && sp.is_vim)
        s = vssm_err_set(err, VSSM_ERR_UNSUPPORTED, "holds a Vision Mamba (%s), not a VMamba; vssm_backbone_load_file loads either",
                         sp.vcfg.arch);
    if (s == VSSM_OK && (s = vssm_vmamba_load(out, ctx, &sp.cfg, src, sp.prefix, err)) == VSSM_OK) {
        if (cfg_out) *cfg_out = sp.cfg;
        if (pp_out) *pp_out = sp.pp;
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
    vssm_backbone_spec sp;
    const char *prefix = sp.prefix;
    if ((s = vssm_backbone_resolve(src, opts->arch, &sp, err)) != VSSM_OK) goto fail;
    c->pp = sp.pp;
    if (sp.is_vim) {
        c->is_vim = 1;
        c->vcfg = sp.vcfg;
        vim_facade(c);
        if (c->vcfg.num_classes < 1) {
            s = vssm_err_set(err, VSSM_ERR_FORMAT, "the Vim weights have no classifier head (%shead.weight)", prefix);
            goto fail;
        }
        if ((s = vssm_vim_load(&c->vim, ctx, &c->vcfg, src, prefix, err)) != VSSM_OK) goto fail;
    } else {
        c->cfg = sp.cfg;
        if (c->cfg.num_classes < 1) {
            s = vssm_err_set(err, VSSM_ERR_FORMAT, "the weights have no classifier head (classifier.head.weight)");
            goto fail;
        }
        if ((s = vssm_vmamba_load(&c->backbone, ctx, &c->cfg, src, prefix, err)) != VSSM_OK ||
            (s = vssm_cls_head_load(&c->head, ctx, c->cfg.dims[3], c->cfg.num_classes, src, prefix, err)) != VSSM_OK)
            goto fail;
    }
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

vssm_status vssm_classifier_from_vim_source(vssm_classifier **out, vssm_ctx *ctx, const vssm_vim_config *cfg,
                                            const vssm_source *src, const char *prefix, vssm_err *err) {
    *out = NULL;
    if (cfg->num_classes < 1) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "a classifier needs num_classes >= 1");
    vssm_classifier *c = calloc(1, sizeof *c);
    if (!c) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    c->ctx = ctx;
    c->is_vim = 1;
    c->vcfg = *cfg;
    vim_facade(c);
    vssm_preprocess_default(&c->pp);
    vssm_status s = vssm_vim_load(&c->vim, ctx, &c->vcfg, src, prefix, err);
    if (s != VSSM_OK) { vssm_classifier_free(c); return s; }
    if (c->cfg.num_classes == 1000) c->builtin = vssm_imagenet1k_labels();
    *out = c;
    return VSSM_OK;
}

const vssm_vim_config *vssm_classifier_vim_config(const vssm_classifier *c) { return c->is_vim ? &c->vcfg : NULL; }

double vssm_classifier_macs(const vssm_classifier *c, int h, int w) {
    return c->is_vim ? vssm_vim_macs(&c->vcfg, h, w) : vssm_vmamba_macs(&c->cfg, h, w);
}
int64_t vssm_classifier_params(const vssm_classifier *c) {
    return c->is_vim ? vssm_vim_param_count(&c->vcfg) : vssm_vmamba_param_count(&c->cfg);
}

size_t vssm_classifier_state_bytes(const vssm_classifier *c) {
    if (c->is_vim) return c->vst ? vssm_vim_state_bytes(c->vst) : 0;
    return c->st ? vssm_vmamba_state_bytes(c->st) : 0;
}

const vssm_vmamba_config *vssm_classifier_config(const vssm_classifier *c) { return &c->cfg; }
vssm_preprocess_params vssm_classifier_preprocess(const vssm_classifier *c) { return c->pp; }
int vssm_classifier_classes(const vssm_classifier *c) { return c->cfg.num_classes; }

const char *vssm_classifier_label(const vssm_classifier *c, int i) {
    if (i < 0 || i >= c->cfg.num_classes) return NULL;
    if (c->labels) return c->labels[i];
    if (c->builtin) return c->builtin[i];
    return NULL;
}

/* Activations are planned for one (B, H, W) and kept; a new size re-plans them. */
static vssm_status plan_state(vssm_classifier *c, int B, int H, int W, vssm_err *err) {
    if ((c->is_vim ? (void *)c->vst : (void *)c->st) && c->sB == B && c->sH == H && c->sW == W) return VSSM_OK;
    vssm_status s;
    if (c->is_vim) {
        vssm_vim_state_free(c->vst);
        c->vst = NULL;
        s = vssm_vim_state_new(&c->vst, c->vim, B, H, W, err);
    } else {
        vssm_vmamba_state_free(c->st);
        c->st = NULL;
        s = vssm_vmamba_state_new(&c->st, c->backbone, B, H, W, err);
    }
    if (s == VSSM_OK) {
        c->sB = B;
        c->sH = H;
        c->sW = W;
    }
    return s;
}

static vssm_status vim_forward(vssm_classifier *c, const float *x, int B, int H, int W, float *logits, vssm_err *err) {
    vssm_status s = vssm_vim_forward(c->vim, c->vst, x, err);
    if (s != VSSM_OK) return s;
    vssm_tensor t = vssm_vim_logits(c->vst);
    return vssm_tensor_to_host(c->ctx, &t, logits, err);
}

vssm_status vssm_classifier_forward(vssm_classifier *c, const float *x, int B, int H, int W, float *logits,
                                    vssm_err *err) {
    vssm_status s = plan_state(c, B, H, W, err);
    if (s != VSSM_OK) return s;
    if (c->is_vim) return vim_forward(c, x, B, H, W, logits, err);
    s = vssm_vmamba_forward(c->backbone, c->st, x, err);
    if (s != VSSM_OK) return s;
    vssm_tensor f[VSSM_VMAMBA_STAGES];
    for (int i = 0; i < VSSM_VMAMBA_STAGES; i++) f[i] = vssm_vmamba_feature(c->st, i);
    return vssm_cls_head_forward(c->head, f, VSSM_VMAMBA_STAGES, logits, err);
}
