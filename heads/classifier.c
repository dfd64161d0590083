/* heads/classifier.c - weights file -> backbone + classification head + preprocessing +
 * class names (vssm/classifier.h). The backbone is any family behind vssm/backbone.h; the
 * head is the one its family's classifier uses (vssm_backbone_cls_input: LayerNorm + pool +
 * linear on the last stage, or a linear on the class token), read from the same file. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "kernels/infile.h"
#include "vssm/backbone.h"
#include "vssm/classifier.h"
#include "vssm/heads.h"
#include "vssm/infer.h"
#include "vssm/weights.h"

struct vssm_classifier {
    vssm_ctx *ctx;
    vssm_backbone *bb;
    vssm_cls_head *head;
    vssm_backbone_state *st; /* for the last (B, H, W) */
    int sB, sH, sW;
    int classes;
    vssm_preprocess_params pp;
    char **labels; /* owned, classes entries, or NULL */
    const char *const *builtin;
};

void vssm_classifier_free(vssm_classifier *c) {
    if (!c) return;
    vssm_backbone_state_free(c->st);
    vssm_cls_head_free(c->head);
    vssm_backbone_free(c->bb);
    if (c->labels)
        for (int i = 0; i < c->classes; i++) free(c->labels[i]);
    free(c->labels);
    free(c);
}

static vssm_status labels_from_file(vssm_classifier *c, const char *path, vssm_err *err) {
    FILE *f;
    vssm_status st = vssm_fopen_regular(&f, path, "the labels file", VSSM_TEXT_FILE_MAX, err);
    if (st != VSSM_OK) return st;
    c->labels = calloc((size_t)c->classes, sizeof(char *));
    if (!c->labels) {
        fclose(f);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    }
    /* one name a line, any length (a fixed buffer split long lines into several names) */
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int n = 0, named = 0, oom = 0; /* named: the lines up to the last that is not empty */
    while ((got = getline(&line, &cap, f)) >= 0) {
        if (memchr(line, 0, (size_t)got)) {
            free(line);
            fclose(f);
            return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: line %d holds a NUL byte (not a text file of names)", path,
                                n + 1);
        }
        line[strcspn(line, "\r\n")] = 0;
        const int bom = n == 0 && !strncmp(line, "\xEF\xBB\xBF", 3); /* a UTF-8 BOM (Notepad's): not the name's */
        if (n < c->classes && !(c->labels[n] = strdup(line + (bom ? 3 : 0)))) oom = 1;
        if (n < INT_MAX) n++;
        if (line[0]) named = n;
    }
    int rerr = ferror(f);
    free(line);
    fclose(f);
    if (oom) return vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory", path);
    if (rerr) return vssm_err_set(err, VSSM_ERR_IO, "%s: read error", path);
    if (named != c->classes) /* empty lines at the end (an editor's) are no labels */
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: %d labels for a model with %d classes", path, named, c->classes);
    return VSSM_OK;
}

static vssm_status labels_from_json(vssm_classifier *c, const char *json, const char *path, vssm_err *err) {
    cJSON *a = cJSON_Parse(json);
    vssm_status s = VSSM_OK;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != c->classes) {
        s = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: metadata 'labels' is not a JSON array of %d names", path,
                         c->classes);
    } else {
        c->labels = calloc((size_t)c->classes, sizeof(char *));
        if (!c->labels) s = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
        for (int i = 0; s == VSSM_OK && i < c->classes; i++) {
            cJSON *e = cJSON_GetArrayItem(a, i);
            if (!cJSON_IsString(e))
                s = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: label %d is not a string", path, i);
            else
                c->labels[i] = strdup(e->valuestring);
        }
    }
    cJSON_Delete(a);
    return s;
}

/* the head the backbone's family uses, from src; takes bb (freed on failure) */
static vssm_status attach(vssm_classifier *c, vssm_backbone *bb, const vssm_source *src, vssm_err *err) {
    c->bb = bb;
    c->classes = vssm_backbone_num_classes(bb);
    const vssm_cls_input in = vssm_backbone_cls_input(bb);
    const char *prefix = vssm_backbone_prefix(bb);
    if (c->classes < 1)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "the weights have no classifier head (%s%s.weight)", prefix,
                            in == VSSM_CLS_TOKEN ? "head" : "classifier.head");
    const int dim = vssm_backbone_stage_channels(bb, vssm_backbone_stages(bb) - 1);
    return vssm_cls_head_load(&c->head, c->ctx, in, dim, c->classes, src, prefix, err);
}

static vssm_status new_classifier(vssm_classifier **out, vssm_ctx *ctx, vssm_err *err) {
    *out = calloc(1, sizeof **out);
    if (!*out) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    (*out)->ctx = ctx;
    vssm_preprocess_default(&(*out)->pp);
    return VSSM_OK;
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
    vssm_classifier *c = NULL;
    vssm_backbone *bb = NULL;
    vssm_backbone_opts bo;
    memset(&bo, 0, sizeof bo);
    bo.arch = opts->arch;
    bo.key = opts->key;
    if ((s = new_classifier(&c, ctx, err)) != VSSM_OK ||
        (s = vssm_backbone_load_source(&bb, ctx, src, &bo, &c->pp, err)) != VSSM_OK ||
        (s = attach(c, bb, src, err)) != VSSM_OK)
        goto fail;
    const char *lj = src->meta ? src->meta(src->user, "labels") : NULL;
    if (opts->labels_path) {
        if ((s = labels_from_file(c, opts->labels_path, err)) != VSSM_OK) { /* names the labels file, not the weights */
            vssm_weights_close(w);
            vssm_classifier_free(c);
            return s;
        }
    } else if (lj)
        s = labels_from_json(c, lj, path, err);
    else if (c->classes == 1000)
        c->builtin = vssm_imagenet1k_labels();
    if (s != VSSM_OK) goto fail;
    vssm_weights_close(w); /* weights were copied into the model's arena */
    *out = c;
    return VSSM_OK;
fail:
    vssm_err_prefix(err, "%s", path);
    vssm_weights_close(w);
    if (c && !c->bb) vssm_backbone_free(bb);
    vssm_classifier_free(c);
    return s;
}

vssm_status vssm_classifier_from_backbone(vssm_classifier **out, vssm_backbone *bb, const vssm_source *src,
                                          vssm_err *err) {
    *out = NULL;
    vssm_classifier *c = NULL;
    vssm_status s = new_classifier(&c, vssm_backbone_ctx(bb), err);
    if (s != VSSM_OK) {
        vssm_backbone_free(bb);
        return s;
    }
    if ((s = attach(c, bb, src, err)) != VSSM_OK) {
        vssm_classifier_free(c);
        return s;
    }
    if (c->classes == 1000) c->builtin = vssm_imagenet1k_labels();
    *out = c;
    return VSSM_OK;
}

vssm_status vssm_classifier_from_preset(vssm_classifier **out, vssm_ctx *ctx, const char *arch, const vssm_source *src,
                                        vssm_err *err) {
    *out = NULL;
    vssm_backbone *bb = NULL;
    vssm_status s;
    if (!strncmp(arch, "vim-", 4)) {
        vssm_vim_config c;
        if ((s = vssm_vim_config_preset(&c, arch, err)) == VSSM_OK)
            s = vssm_backbone_from_vim_config(&bb, ctx, &c, src, "", err);
    } else {
        vssm_vmamba_config c;
        if ((s = vssm_vmamba_config_preset(&c, arch, err)) == VSSM_OK)
            s = vssm_backbone_from_vmamba_config(&bb, ctx, &c, src, "", err);
    }
    return s != VSSM_OK ? s : vssm_classifier_from_backbone(out, bb, src, err);
}

const vssm_backbone *vssm_classifier_backbone(const vssm_classifier *c) { return c->bb; }

/* the backbone's multiply-adds and parameters include the head it holds in its config */
double vssm_classifier_macs(const vssm_classifier *c, int h, int w) { return vssm_backbone_macs(c->bb, h, w); }
int64_t vssm_classifier_params(const vssm_classifier *c) { return vssm_backbone_params(c->bb); }
size_t vssm_classifier_state_bytes(const vssm_classifier *c) { return c->st ? vssm_backbone_state_bytes(c->st) : 0; }
size_t vssm_classifier_weight_bytes(const vssm_classifier *c) {
    return vssm_backbone_weight_bytes(c->bb) + vssm_cls_head_weight_bytes(c->head);
}

vssm_preprocess_params vssm_classifier_preprocess(const vssm_classifier *c) { return c->pp; }
int vssm_classifier_classes(const vssm_classifier *c) { return c->classes; }

const char *vssm_classifier_label(const vssm_classifier *c, int i) {
    if (i < 0 || i >= c->classes) return NULL;
    if (c->labels) return c->labels[i];
    if (c->builtin) return c->builtin[i];
    return NULL;
}

/* Activations are planned for one (B, H, W) and kept; a new size re-plans them. */
static vssm_status plan_state(vssm_classifier *c, int B, int H, int W, vssm_err *err) {
    if (c->st && c->sB == B && c->sH == H && c->sW == W) return VSSM_OK;
    vssm_backbone_state_free(c->st);
    c->st = NULL;
    vssm_status s = vssm_backbone_state_new(&c->st, c->bb, B, H, W, err);
    if (s == VSSM_OK) {
        c->sB = B;
        c->sH = H;
        c->sW = W;
    }
    return s;
}

vssm_status vssm_classifier_forward(vssm_classifier *c, const float *x, int B, int H, int W, float *logits,
                                    vssm_err *err) {
    vssm_status s = plan_state(c, B, H, W, err);
    if (s == VSSM_OK) s = vssm_backbone_forward(c->bb, c->st, x, err);
    if (s != VSSM_OK) return s;
    if (vssm_backbone_cls_input(c->bb) == VSSM_CLS_TOKEN) {
        vssm_tensor t = vssm_backbone_cls_token(c->st);
        return vssm_cls_head_forward(c->head, &t, 1, logits, err);
    }
    vssm_tensor f[VSSM_BACKBONE_MAX_STAGES];
    const int n = vssm_backbone_stages(c->bb);
    for (int i = 0; i < n; i++) f[i] = vssm_backbone_feature(c->st, i);
    return vssm_cls_head_forward(c->head, f, n, logits, err);
}
