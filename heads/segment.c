/* heads/segment.c - the segmenter: weights file -> backbone (VMamba + per-stage output norms,
 * or Vim block outputs + the fpn neck of heads/seg_neck.c) -> decode head, and mmseg 1.x's
 * test pipeline around them (vssm/segment.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "kernels/cnum.h"
#include "heads/seg_internal.h"
#include "kernels/membudget.h"
#include "kernels/ops.h"
#include "vssm/backbone.h"
#include "vssm/infer.h"
#include "vssm/seg_data.h"
#include "vssm/weights.h"

#define LN_EPS 1e-5f
#define LEVELS 4 /* the decode head's inputs: strides 4, 8, 16, 32 */

struct vssm_segmenter {
    vssm_ctx *ctx;  /* backbone */
    vssm_ctx *hctx; /* head (CPU): ctx itself or owned_ctx */
    vssm_ctx *owned_ctx;
    vssm_backbone *bb;
    int n_stages; /* the backbone's: VMamba 4; Vim 1 or 4 block outputs (one feeds every level) */
    float *outnorm_w[LEVELS], *outnorm_b[LEVELS]; /* VMamba, host; NULL: no outnorm for the stage */
    seg_neck *neck;                               /* Vim: fpn1..4; NULL: the block outputs go to the head as they are */
    vssm_seg_head *head;
    vssm_seg_preprocess pp;
    int reduce_zero_label;
    char **names; /* classes entries (owned) */
    uint8_t palette[768];
    /* per input size */
    vssm_backbone_state *st;
    int sH, sW;
    float *feat[LEVELS]; /* the backbone's stages on the host */
    size_t feat_n[LEVELS];
    int fh[LEVELS], fw[LEVELS]; /* their sizes */
    float *lvl[LEVELS];         /* Vim with a neck: its four levels */
    size_t lvl_n[LEVELS];
    int lh[LEVELS], lw[LEVELS]; /* the head's inputs' sizes */
    float *neck_ws;
    size_t neck_ws_n;
    float *hlogits; /* (H0, W0, classes) */
    size_t hlogits_n;
    /* per image (grown as needed) */
    float *x, *crop, *crop_logits, *logits;
    int *count;
    size_t x_n, crop_n, crop_logits_n, logits_n, count_n;
    uint8_t *resized;
};

static int grow(void **p, size_t *have, size_t need, size_t elem) {
    if (*have >= need && *p) return 0;
    void *q = realloc(*p, (need ? need : 1) * elem);
    if (!q) return -1;
    *p = q;
    *have = need;
    return 0;
}

void vssm_segmenter_free(vssm_segmenter *s) {
    if (!s) return;
    if (s->names) /* before the head, whose config says how many */
        for (int i = 0; i < (s->head ? vssm_seg_head_get_config(s->head)->num_classes : 0); i++) free(s->names[i]);
    free(s->names);
    vssm_backbone_state_free(s->st);
    vssm_backbone_free(s->bb);
    vssm_seg_head_free(s->head);
    vssm_seg_neck_free(s->neck);
    free(s->neck_ws);
    for (int i = 0; i < LEVELS; i++) free(s->outnorm_w[i]), free(s->outnorm_b[i]), free(s->feat[i]), free(s->lvl[i]);
    free(s->hlogits), free(s->x), free(s->crop), free(s->crop_logits), free(s->logits), free(s->count);
    vssm_ctx_free(s->owned_ctx);
    free(s);
}

/* ------------------------------------------------------------------ metadata */

static int parse_list(const char *v, double *out, int max) {
    int n = 0;
    while (v && *v && n < max) {
        char *end;
        double d = vssm_strtod_c(v, &end);
        if (end == v) return -1;
        out[n++] = d;
        v = end;
        while (*v == ',' || *v == ' ') v++;
    }
    return n;
}

/* one number of a list: finite and in [lo, hi] (a whole number where whole) */
static int in_range(double d, double lo, double hi, int whole) {
    return isfinite(d) && d >= lo && d <= hi && (!whole || d == floor(d));
}

static const char *meta(const vssm_source *src, const char *key) {
    return src->meta ? src->meta(src->user, key) : NULL;
}

/* the preprocessing's own checks (the options' and the metadata's alike); where says whose */
static vssm_status check_pp(const vssm_seg_preprocess *pp, const char *where, vssm_status code, vssm_err *err) {
    const char *sp = *where ? " " : "";
    if (pp->scale_long < 0 || pp->scale_short < 0 || (pp->scale_long == 0) != (pp->scale_short == 0) ||
        pp->scale_long > VSSM_SEG_MAX_SIDE || pp->scale_short > VSSM_SEG_MAX_SIDE)
        return vssm_err_set(err, code, "%s%sresize scale must be two sides from 1 to %d or 0,0 (got %d,%d)", where, sp,
                            VSSM_SEG_MAX_SIDE, pp->scale_long, pp->scale_short);
    if (pp->mode == VSSM_SEG_MODE_SLIDE &&
        (pp->crop < 1 || pp->stride < 1 || pp->crop > VSSM_SEG_MAX_SIDE || pp->stride > VSSM_SEG_MAX_SIDE))
        return vssm_err_set(err, code, "%s%sslide mode needs crop and stride from 1 to %d (got %d, %d)", where, sp,
                            VSSM_SEG_MAX_SIDE, pp->crop, pp->stride);
    /* mmseg's windows start stride apart: a stride over the crop leaves pixels no window
     * covers (no prediction; mmseg asserts on its count matrix) */
    if (pp->mode == VSSM_SEG_MODE_SLIDE && pp->stride > pp->crop)
        return vssm_err_set(err, code,
                            "%s%sslide mode's stride %d is larger than its crop %d: the pixels between windows would "
                            "get no prediction",
                            where, sp, pp->stride, pp->crop);
    for (int i = 0; i < 3; i++)
        if (!(pp->std[i] > 0 && isfinite(pp->std[i]) && isfinite(pp->mean[i])))
            return vssm_err_set(err, code, "%s%sstd must be positive and mean and std finite", where, sp);
    return VSSM_OK;
}

static vssm_status read_meta(vssm_segmenter *s, const vssm_source *src, vssm_seg_head_config *hc, vssm_err *err) {
    /* mmseg ADE20K test defaults; the Vim UperNets are tested with 512 x 512 windows */
    vssm_seg_preprocess pp = {2048, 512, {123.675f, 116.28f, 103.53f}, {58.395f, 57.12f, 57.375f}, VSSM_SEG_MODE_WHOLE,
                              512,  341};
    if (vssm_backbone_get_kind(s->bb) == VSSM_BACKBONE_VIM) pp.mode = VSSM_SEG_MODE_SLIDE;
    double v[768];
    const char *m;
    int n;
    s->reduce_zero_label = -1;
#define BAD(key) return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata '%s' is malformed: '%s'", key, m)
    if ((m = meta(src, "seg_scale"))) {
        if (parse_list(m, v, 2) != 2 || !in_range(v[0], 0, VSSM_SEG_MAX_SIDE, 1) ||
            !in_range(v[1], 0, VSSM_SEG_MAX_SIDE, 1))
            BAD("seg_scale");
        pp.scale_long = (int)v[0], pp.scale_short = (int)v[1];
    }
    if ((m = meta(src, "seg_mean"))) {
        if (parse_list(m, v, 3) != 3 || !in_range(v[0], -1e6, 1e6, 0) || !in_range(v[1], -1e6, 1e6, 0) ||
            !in_range(v[2], -1e6, 1e6, 0))
            BAD("seg_mean");
        for (int i = 0; i < 3; i++) pp.mean[i] = (float)v[i];
    }
    if ((m = meta(src, "seg_std"))) {
        if (parse_list(m, v, 3) != 3 || !in_range(v[0], 1e-6, 1e6, 0) || !in_range(v[1], 1e-6, 1e6, 0) ||
            !in_range(v[2], 1e-6, 1e6, 0))
            BAD("seg_std");
        for (int i = 0; i < 3; i++) pp.std[i] = (float)v[i];
    }
    if ((m = meta(src, "seg_mode"))) {
        if (!strcmp(m, "whole"))
            pp.mode = VSSM_SEG_MODE_WHOLE;
        else if (!strcmp(m, "slide"))
            pp.mode = VSSM_SEG_MODE_SLIDE;
        else
            BAD("seg_mode");
    }
    if ((m = meta(src, "seg_crop"))) {
        if (parse_list(m, v, 1) != 1 || !in_range(v[0], 1, VSSM_SEG_MAX_SIDE, 1)) BAD("seg_crop");
        pp.crop = (int)v[0];
    }
    if ((m = meta(src, "seg_stride"))) {
        if (parse_list(m, v, 1) != 1 || !in_range(v[0], 1, VSSM_SEG_MAX_SIDE, 1)) BAD("seg_stride");
        pp.stride = (int)v[0];
    }
    if ((m = meta(src, "seg_reduce_zero_label"))) {
        if (parse_list(m, v, 2) != 1 || (v[0] != 0 && v[0] != 1)) BAD("seg_reduce_zero_label");
        s->reduce_zero_label = v[0] != 0;
    }
    if ((m = meta(src, "seg_pool_scales"))) {
        n = parse_list(m, v, VSSM_SEG_MAX_POOL + 1);
        if (n < 1 || n > VSSM_SEG_MAX_POOL) BAD("seg_pool_scales");
        for (int i = 0; i < n; i++)
            if (!in_range(v[i], 1, VSSM_SEG_MAX_POOL_SCALE, 1)) BAD("seg_pool_scales");
        hc->n_pool = n;
        for (int i = 0; i < n; i++) hc->pool_scales[i] = (int)v[i];
    }
    vssm_seg_palette_voc(s->palette);
    if ((m = meta(src, "seg_palette"))) {
        n = parse_list(m, v, 768);
        if (n < 3 || n % 3) BAD("seg_palette");
        for (int i = 0; i < n; i++)
            if (!in_range(v[i], 0, 255, 0)) BAD("seg_palette");
        for (int i = 0; i < n; i++) s->palette[i] = (uint8_t)v[i];
    }
#undef BAD
    vssm_status st = check_pp(&pp, "metadata:", VSSM_ERR_FORMAT, err);
    if (st == VSSM_OK) s->pp = pp;
    return st;
}

static vssm_status read_names(vssm_segmenter *s, const vssm_source *src, int classes, vssm_err *err) {
    s->names = calloc((size_t)classes, sizeof(char *));
    if (!s->names) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    const char *lj = meta(src, "labels");
    cJSON *a = lj ? cJSON_Parse(lj) : NULL;
    if (lj && (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != classes)) {
        cJSON_Delete(a);
        return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata 'labels' is not a JSON array of %d names", classes);
    }
    for (int i = 0; i < classes; i++) {
        cJSON *e = a ? cJSON_GetArrayItem(a, i) : NULL;
        char buf[32];
        snprintf(buf, sizeof buf, "class%d", i);
        s->names[i] = strdup(cJSON_IsString(e) ? e->valuestring : buf);
    }
    cJSON_Delete(a);
    return VSSM_OK;
}

/* the prefix of "...conv_seg.weight" that is not the auxiliary head */
static vssm_status find_head_prefix(const vssm_source *src, char *buf, size_t n, vssm_err *err) {
    const char *key = "conv_seg.weight";
    const size_t kl = strlen(key);
    int count = src->count ? src->count(src->user) : 0;
    for (int i = 0; i < count; i++) {
        const char *nm = src->name_at(src->user, i);
        size_t l = strlen(nm);
        if (l < kl || strcmp(nm + l - kl, key) || (l > kl && nm[l - kl - 1] != '.')) continue;
        if (!strncmp(nm, "auxiliary_head.", 15)) continue;
        if (l - kl >= n) continue;
        memcpy(buf, nm, l - kl);
        buf[l - kl] = 0;
        return VSSM_OK;
    }
    return vssm_err_set(err, VSSM_ERR_FORMAT, "no segmentation head: no tensor named [decode_head.]conv_seg.weight");
}

static vssm_status load_outnorms(vssm_segmenter *s, const vssm_source *src, const char *bb_prefix, vssm_err *err) {
    for (int i = 0; i < LEVELS; i++) {
        const int C = vssm_backbone_stage_channels(s->bb, i);
        char nm[256];
        vssm_tensor t; /* each view used before the next get: a source's view may not outlive it */
        snprintf(nm, sizeof nm, "%soutnorm%d.weight", bb_prefix, i);
        if (src->get(src->user, nm, NULL, 0, &t, NULL) != VSSM_OK) continue;
        s->outnorm_w[i] = malloc(sizeof(float) * C);
        s->outnorm_b[i] = malloc(sizeof(float) * C);
        if (!s->outnorm_w[i] || !s->outnorm_b[i]) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
        for (int k = 0; k < 2; k++) {
            if (k == 1) {
                snprintf(nm, sizeof nm, "%soutnorm%d.bias", bb_prefix, i);
                if (src->get(src->user, nm, NULL, 0, &t, NULL) != VSSM_OK)
                    return vssm_err_set(err, VSSM_ERR_FORMAT, "tensor '%s' is missing", nm);
            }
            if (vssm_tensor_numel(&t) != C || t.ndim != 1)
                return vssm_err_set(err, VSSM_ERR_SHAPE, "%soutnorm%d: expected (%d) weight and bias", bb_prefix, i, C);
            vssm_status st = vssm_tensor_to_f32(&t, k ? s->outnorm_b[i] : s->outnorm_w[i], err);
            if (st != VSSM_OK) return st;
        }
    }
    return VSSM_OK;
}

/* everything after the backbone: outnorms (VMamba) or neck (Vim), head, metadata, names,
 * head context */
static vssm_status finish_load(vssm_segmenter *s, const vssm_source *src, const char *bb_prefix,
                               const char *head_prefix, vssm_err *err) {
    vssm_status st;
    vssm_seg_head_config hc;
    memset(&hc, 0, sizeof hc);
    s->n_stages = vssm_backbone_stages(s->bb);
    vssm_vim *vim = vssm_backbone_vim(s->bb);
    if (vim && s->n_stages != 1 && s->n_stages != LEVELS)
        return vssm_err_set(err, VSSM_ERR_FORMAT,
                            "the segmentation neck takes 1 or 4 Vim block outputs (out_indices), not %d", s->n_stages);
    if ((st = read_meta(s, src, &hc, err))) return st;
    if (vim)
        st = vssm_seg_neck_load(&s->neck, src, bb_prefix, vssm_vim_get_config(vim)->embed_dim,
                                vssm_vim_get_config(vim)->patch_size, err);
    else
        st = load_outnorms(s, src, bb_prefix, err);
    if (st) return st;
    if ((st = vssm_seg_head_config_infer(src, head_prefix, &hc, err))) return st;
    const char *hk = meta(src, "seg_head");
    if (hk && strcmp(hk, hc.kind == VSSM_SEG_HEAD_UPER ? "uper" : "fpn"))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata seg_head '%s' does not match the head's tensors", hk);
    for (int i = 0; i < LEVELS; i++) hc.in_channels[i] = vssm_backbone_stage_channels(s->bb, i < s->n_stages ? i : 0);
    if (vssm_ctx_device(s->ctx) == VSSM_DEVICE_CPU) {
        s->hctx = s->ctx;
    } else {
        vssm_ctx_opts o = vssm_ctx_default_opts();
        if ((st = vssm_ctx_new(&s->owned_ctx, &o, err))) return st;
        s->hctx = s->owned_ctx;
    }
    if ((st = vssm_seg_head_load(&s->head, s->hctx, &hc, src, head_prefix, err))) return st;
    if (hc.num_classes > 256)
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED, "%d classes: label maps hold at most 256", hc.num_classes);
    return read_names(s, src, hc.num_classes, err);
}

/* the backbone of an open file; a plain one (Vim) keeps LEVELS block outputs for the neck */
static vssm_status load_backbone(vssm_segmenter *s, const vssm_source *src, const char *arch, vssm_err *err) {
    vssm_backbone_opts o;
    memset(&o, 0, sizeof o);
    o.arch = arch;
    o.dense_levels = LEVELS;
    return vssm_backbone_load_source(&s->bb, s->ctx, src, &o, NULL, err);
}

vssm_status vssm_segmenter_load(vssm_segmenter **out, vssm_ctx *ctx, const char *path, const vssm_segmenter_opts *opts,
                                vssm_err *err) {
    *out = NULL;
    vssm_segmenter_opts none = {0};
    if (!opts) opts = &none;
    vssm_segmenter *s = calloc(1, sizeof *s);
    if (!s) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    s->ctx = ctx;
    vssm_weights_opts wo = {opts->key};
    vssm_weights *w = NULL;
    vssm_status st = vssm_weights_open(&w, path, &wo, err);
    if (st != VSSM_OK) {
        vssm_segmenter_free(s);
        return st;
    }
    const vssm_source *src = vssm_weights_source(w);
    char hp[128] = "";
    if ((st = load_backbone(s, src, opts->arch, err)) == VSSM_OK &&
        (st = find_head_prefix(src, hp, sizeof hp, err)) == VSSM_OK)
        st = finish_load(s, src, vssm_backbone_prefix(s->bb), hp, err);
    vssm_weights_close(w);
    if (st != VSSM_OK) {
        vssm_err_prefix(err, "%s", path);
        vssm_segmenter_free(s);
        return st;
    }
    *out = s;
    return VSSM_OK;
}

vssm_status vssm_segmenter_from_source(vssm_segmenter **out, vssm_ctx *ctx, const vssm_vmamba_config *cfg,
                                       const vssm_source *src, const char *bb_prefix, const char *head_prefix,
                                       vssm_err *err) {
    *out = NULL;
    vssm_segmenter *s = calloc(1, sizeof *s);
    if (!s) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    s->ctx = ctx;
    vssm_vmamba *m = NULL;
    vssm_status st = vssm_vmamba_load(&m, ctx, cfg, src, bb_prefix ? bb_prefix : "", err);
    if (st == VSSM_OK && (st = vssm_backbone_wrap_vmamba(&s->bb, m, 1, err)) != VSSM_OK) vssm_vmamba_free(m);
    if (st == VSSM_OK) st = finish_load(s, src, bb_prefix ? bb_prefix : "", head_prefix ? head_prefix : "", err);
    if (st != VSSM_OK) {
        vssm_segmenter_free(s);
        return st;
    }
    *out = s;
    return VSSM_OK;
}

int vssm_segmenter_classes(const vssm_segmenter *s) { return vssm_seg_head_get_config(s->head)->num_classes; }
const char *vssm_segmenter_class_name(const vssm_segmenter *s, int c) {
    return c >= 0 && c < vssm_segmenter_classes(s) ? s->names[c] : NULL;
}
const uint8_t *vssm_segmenter_palette(const vssm_segmenter *s) { return s->palette; }
vssm_seg_preprocess vssm_segmenter_get_preprocess(const vssm_segmenter *s) { return s->pp; }
const vssm_seg_head_config *vssm_segmenter_head_config(const vssm_segmenter *s) {
    return vssm_seg_head_get_config(s->head);
}
int vssm_segmenter_reduce_zero_label(const vssm_segmenter *s) { return s->reduce_zero_label; }

vssm_status vssm_segmenter_set_preprocess(vssm_segmenter *s, const vssm_seg_preprocess *pp, vssm_err *err) {
    vssm_status st = check_pp(pp, "", VSSM_ERR_INVALID_ARG, err);
    if (st != VSSM_OK) return st;
    s->pp = *pp;
    return VSSM_OK;
}

/* ------------------------------------------------------------------ forward */

#define GROW(p, n, need) grow((void **)&(p), &(n), (need), sizeof *(p))

static vssm_status plan_size(vssm_segmenter *s, int H, int W, vssm_err *err) {
    if (s->st && s->sH == H && s->sW == W) return VSSM_OK;
    vssm_backbone_state_free(s->st);
    s->st = NULL;
    vssm_status st = vssm_backbone_state_new(&s->st, s->bb, 1, H, W, err);
    if (st != VSSM_OK) return st;
    int gh = 0, gw = 0;
    for (int i = 0; i < s->n_stages; i++) {
        vssm_backbone_stage_size(s->bb, H, W, i, &gh, &gw);
        if (GROW(s->feat[i], s->feat_n[i], (size_t)gh * gw * vssm_backbone_stage_channels(s->bb, i)))
            return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
        s->fh[i] = s->lh[i] = gh, s->fw[i] = s->lw[i] = gw;
    }
    if (vssm_backbone_vim(s->bb)) { /* the levels: the neck's, or the block outputs' own grid */
        const int D = vssm_backbone_stage_channels(s->bb, 0);
        for (int l = 0; l < LEVELS; l++) {
            vssm_seg_neck_level_size(s->neck, l, gh, gw, &s->lh[l], &s->lw[l]);
            if (s->lh[l] < 1 || s->lw[l] < 1)
                return vssm_err_set(err, VSSM_ERR_SHAPE,
                                    "a %dx%d input gives a %dx%d token grid: the neck's level %d (stride %d) is empty",
                                    W, H, gw, gh, l, 4 << l);
            if (s->neck && GROW(s->lvl[l], s->lvl_n[l], (size_t)s->lh[l] * s->lw[l] * D))
                return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
        }
        if (GROW(s->neck_ws, s->neck_ws_n, vssm_seg_neck_workspace(s->neck, 1, gh, gw)))
            return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    }
    /* the whole plan against the machine's memory before a page of it is touched: malloc
     * succeeds past it (overcommit) and the OOM killer ends the run (a 20 KB 13000x13000 PNG at
     * its own size planned 14.6 GB) */
    double need = (double)vssm_backbone_state_bytes(s->st) +
                  (double)vssm_seg_head_plan_bytes(s->head, 1, s->lh, s->lw) +
                  4.0 * (double)s->lh[0] * s->lw[0] * vssm_segmenter_classes(s);
    for (int i = 0; i < s->n_stages; i++) need += 4.0 * (double)s->feat_n[i];
    const size_t budget = vssm_mem_budget();
    if (need > (double)budget) {
        vssm_backbone_state_free(s->st);
        s->st = NULL;
        return vssm_err_set(err, VSSM_ERR_NOMEM,
                            "a %dx%d input needs %.2f GB of activations, more than the %.2f GB a plan may take (3/4 of "
                            "the machine's or its container's memory; VSSM_MEM_BUDGET): segment it at a smaller scale "
                            "(--scale)",
                            W, H, need / 1e9, (double)budget / 1e9);
    }
    s->sH = H, s->sW = W;
    if (GROW(s->hlogits, s->hlogits_n, (size_t)s->lh[0] * s->lw[0] * vssm_segmenter_classes(s)))
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    return VSSM_OK;
}

/* the decode head's four inputs from the backbone's stages: VMamba stage i after its
 * outnorm; a Vim's block output i (or the only one) through the neck's level i */
static vssm_status levels(vssm_segmenter *s, vssm_tensor *f, vssm_err *err) {
    vssm_status st;
    for (int i = 0; i < s->n_stages; i++) {
        vssm_tensor t = vssm_backbone_feature(s->st, i);
        const int64_t rows = t.shape[0] * t.shape[1] * t.shape[2];
        const int C = (int)t.shape[3];
        if (vssm_ctx_device(s->ctx) != VSSM_DEVICE_CPU) {
            if ((st = vssm_tensor_to_host(s->ctx, &t, s->feat[i], err))) return st;
        } else {
            memcpy(s->feat[i], t.data, (size_t)rows * C * sizeof(float));
        }
        if (s->outnorm_w[i])
            vssm_op_layernorm(s->hctx, s->feat[i], rows, C, s->outnorm_w[i], s->outnorm_b[i], LN_EPS, VSSM_ACT_NONE,
                              s->feat[i]);
    }
    const int D = vssm_backbone_stage_channels(s->bb, 0);
    for (int l = 0; l < LEVELS; l++) {
        const int i = l < s->n_stages ? l : 0;
        float *data = s->feat[i];
        if (s->neck) {
            vssm_seg_neck_forward(s->hctx, s->neck, l, s->feat[i], 1, s->fh[i], s->fw[i], s->lvl[l], s->neck_ws);
            data = s->lvl[l];
        }
        memset(&f[l], 0, sizeof f[l]);
        f[l].data = data;
        f[l].dtype = VSSM_DTYPE_F32;
        f[l].ndim = 4;
        f[l].shape[0] = 1, f[l].shape[1] = s->lh[l], f[l].shape[2] = s->lw[l];
        f[l].shape[3] = vssm_backbone_vim(s->bb) ? D : vssm_backbone_stage_channels(s->bb, l);
        f[l].device = VSSM_DEVICE_CPU;
    }
    return VSSM_OK;
}

vssm_status vssm_segmenter_encode_decode(vssm_segmenter *s, const float *x, int H, int W, float *logits,
                                         vssm_err *err) {
    vssm_status st;
    if (H < 1 || W < 1) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "input size %dx%d", W, H);
    vssm_tensor f[LEVELS];
    if ((st = plan_size(s, H, W, err)) || (st = vssm_backbone_forward(s->bb, s->st, x, err)) ||
        (st = levels(s, f, err)) || (st = vssm_seg_head_forward(s->head, f, LEVELS, s->hlogits, err)))
        return st;
    const int K = vssm_segmenter_classes(s);
    vssm_resize_bilinear_f32(s->hlogits, 1, (int)f[0].shape[1], (int)f[0].shape[2], K, K, H, W, logits, K, 0);
    return VSSM_OK;
}

vssm_status vssm_segmenter_infer(vssm_segmenter *s, const float *x, int H, int W, float *logits, vssm_err *err) {
    if (s->pp.mode == VSSM_SEG_MODE_WHOLE) return vssm_segmenter_encode_decode(s, x, H, W, logits, err);
    const int K = vssm_segmenter_classes(s), crop = s->pp.crop, stride = s->pp.stride;
    const int gh = vssm_seg_slide_grids(H, crop, stride), gw = vssm_seg_slide_grids(W, crop, stride);
    const int ch = crop < H ? crop : H, cw = crop < W ? crop : W;
    if (grow((void **)&s->crop, &s->crop_n, (size_t)ch * cw * 3, sizeof(float)) ||
        grow((void **)&s->crop_logits, &s->crop_logits_n, (size_t)ch * cw * K, sizeof(float)) ||
        grow((void **)&s->count, &s->count_n, (size_t)H * W, sizeof(int)))
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    memset(logits, 0, sizeof(float) * (size_t)H * W * K);
    memset(s->count, 0, sizeof(int) * (size_t)H * W);
    for (int gi = 0; gi < gh; gi++)
        for (int gj = 0; gj < gw; gj++) {
            int y1, y2, x1, x2;
            vssm_seg_slide_window(H, crop, stride, gi, &y1, &y2);
            vssm_seg_slide_window(W, crop, stride, gj, &x1, &x2);
            const int hh = y2 - y1, ww = x2 - x1;
            for (int y = 0; y < hh; y++)
                memcpy(s->crop + (size_t)y * ww * 3, x + ((size_t)(y1 + y) * W + x1) * 3, sizeof(float) * ww * 3);
            vssm_status st = vssm_segmenter_encode_decode(s, s->crop, hh, ww, s->crop_logits, err);
            if (st != VSSM_OK) return st;
            for (int y = 0; y < hh; y++)
                for (int xx = 0; xx < ww; xx++) {
                    float *d = logits + ((size_t)(y1 + y) * W + x1 + xx) * K;
                    const float *c = s->crop_logits + ((size_t)y * ww + xx) * K;
                    for (int k = 0; k < K; k++) d[k] += c[k];
                    s->count[(size_t)(y1 + y) * W + x1 + xx]++;
                }
        }
    for (size_t p = 0; p < (size_t)H * W; p++) {
        const float n = (float)s->count[p];
        for (int k = 0; k < K; k++) logits[p * K + k] /= n;
    }
    return VSSM_OK;
}

/* bilinear resize (as vssm_resize_bilinear_f32) fused with the argmax over classes */
/* output index o of a resize by `scale` over n inputs: taps i0, i1 and weights (half-pixel
 * centres, clamped; as vssm_resize_bilinear_f32) */
static inline void bilinear_tap(int o, float scale, int n, int *i0, int *i1, float *l0, float *l1) {
    float f = scale * ((float)o + 0.5f) - 0.5f;
    if (f < 0) f = 0;
    int a = (int)f;
    if (a > n - 1) a = n - 1;
    *i0 = a;
    *i1 = a + (a < n - 1);
    *l1 = f - (float)a;
    *l0 = 1.0f - *l1;
}

static void resize_argmax(const float *x, int h, int w, int K, int oh, int ow, uint8_t *labels) {
    const float sy = (float)h / (float)oh, sx = (float)w / (float)ow;
#pragma omp parallel for schedule(static)
    for (int oy = 0; oy < oh; oy++) {
        int y0, y1;
        float ly0, ly1;
        bilinear_tap(oy, sy, h, &y0, &y1, &ly0, &ly1);
        for (int ox = 0; ox < ow; ox++) {
            int x0, x1;
            float lx0, lx1;
            bilinear_tap(ox, sx, w, &x0, &x1, &lx0, &lx1);
            const float *p00 = x + ((size_t)y0 * w + x0) * K, *p01 = x + ((size_t)y0 * w + x1) * K;
            const float *p10 = x + ((size_t)y1 * w + x0) * K, *p11 = x + ((size_t)y1 * w + x1) * K;
            int best = 0;
            float bv = 0;
            for (int c = 0; c < K; c++) {
                float v = ly0 * (lx0 * p00[c] + lx1 * p01[c]) + ly1 * (lx0 * p10[c] + lx1 * p11[c]);
                if (c == 0 || v > bv) bv = v, best = c;
            }
            labels[(size_t)oy * ow + ox] = (uint8_t)best;
        }
    }
}

vssm_status vssm_segmenter_predict(vssm_segmenter *s, const vssm_image *im, float *logits_out, uint8_t *labels,
                                   vssm_err *err) {
    if (!im || !im->data || im->c != 3 || im->w < 1 || im->h < 1)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "predict needs an RGB image");
    int rw, rh;
    vssm_seg_rescale_size(im->w, im->h, s->pp.scale_long, s->pp.scale_short, &rw, &rh);
    if (rw < 1 || rh < 1)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "image %dx%d resizes to nothing", im->w, im->h);
    vssm_image rs = {0};
    const vssm_image *src = im;
    vssm_status st;
    if (rw != im->w || rh != im->h) {
        if ((st = vssm_image_resize_cv2(im, rw, rh, &rs, err))) return st;
        src = &rs;
    }
    const int K = vssm_segmenter_classes(s);
    if (grow((void **)&s->x, &s->x_n, (size_t)rw * rh * 3, sizeof(float)) ||
        grow((void **)&s->logits, &s->logits_n, (size_t)rw * rh * K, sizeof(float))) {
        vssm_image_free(&rs);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    }
    for (size_t p = 0; p < (size_t)rw * rh; p++)
        for (int c = 0; c < 3; c++) s->x[p * 3 + c] = ((float)src->data[p * 3 + c] - s->pp.mean[c]) / s->pp.std[c];
    vssm_image_free(&rs);
    if ((st = vssm_segmenter_infer(s, s->x, rh, rw, s->logits, err))) return st;
    if (logits_out) vssm_resize_bilinear_f32(s->logits, 1, rh, rw, K, K, im->h, im->w, logits_out, K, 0);
    resize_argmax(s->logits, rh, rw, K, im->h, im->w, labels);
    return VSSM_OK;
}
