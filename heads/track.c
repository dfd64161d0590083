/* heads/track.c - backbone features of image crops, and a training-free Siamese tracker
 * (template features x search features, cosine-normalised, Hann window, SiamFC scale
 * pyramid), on either backbone (vssm/backbone.h). See vssm/track.h for the contract. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vssm/backbone.h"
#include "vssm/track.h"

/* ================================================================ crop features */

#define CF_MAX_STATES 4 /* one backbone state per (batch, crop size); template + search fit */

typedef struct cf_state {
    vssm_backbone_state *st;
    int batch, size;
    unsigned long last_use;
} cf_state;

struct vssm_crop_feats {
    vssm_backbone *bb;
    vssm_backbone *owned; /* the wrapper vssm_crop_feats_new makes around a VMamba */
    int stage;
    float mean[3], std[3];
    cf_state states[CF_MAX_STATES];
    unsigned long tick;
    uint8_t *crop; /* (out_sz, out_sz, 3) u8 scratch */
    float *x;      /* (n, out_sz, out_sz, 3) normalised input */
    size_t crop_cap, x_cap;
};

vssm_status vssm_crop_feats_new_backbone(vssm_crop_feats **out, vssm_backbone *bb, const vssm_preprocess_params *pp,
                                         int stage, vssm_err *err) {
    *out = NULL;
    if (!bb || !pp) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "crop features: need a backbone and preprocessing");
    const int n = vssm_backbone_stages(bb);
    if (stage < 0 || stage >= n)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                            "crop features: stage %d is not in 0..%d (the %s backbone has %d feature map%s%s)", stage,
                            n - 1, vssm_backbone_get_kind(bb) == VSSM_BACKBONE_VIM ? "Vision Mamba" : "VMamba", n,
                            n == 1 ? "" : "s", n == 1 ? ", its token grid" : "");
    for (int c = 0; c < 3; c++)
        if (!(pp->std[c] > 0) || !isfinite(pp->mean[c]))
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "crop features: std[%d] = %g must be > 0", c, pp->std[c]);
    vssm_crop_feats *cf = calloc(1, sizeof *cf);
    if (!cf) return vssm_err_set(err, VSSM_ERR_NOMEM, "crop features: out of memory");
    cf->bb = bb;
    cf->stage = stage;
    for (int c = 0; c < 3; c++) {
        cf->mean[c] = pp->mean[c];
        cf->std[c] = pp->std[c];
    }
    *out = cf;
    return VSSM_OK;
}

vssm_status vssm_crop_feats_new(vssm_crop_feats **out, vssm_vmamba *m, const vssm_preprocess_params *pp, int stage,
                                vssm_err *err) {
    *out = NULL;
    vssm_backbone *bb = NULL;
    if (!m || !pp) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "crop features: need a backbone and preprocessing");
    vssm_status s = vssm_backbone_wrap_vmamba(&bb, m, 0, err);
    if (s == VSSM_OK && (s = vssm_crop_feats_new_backbone(out, bb, pp, stage, err)) == VSSM_OK)
        (*out)->owned = bb;
    else
        vssm_backbone_free(bb);
    return s;
}

void vssm_crop_feats_free(vssm_crop_feats *cf) {
    if (!cf) return;
    for (int i = 0; i < CF_MAX_STATES; i++) vssm_backbone_state_free(cf->states[i].st);
    vssm_backbone_free(cf->owned);
    free(cf->crop);
    free(cf->x);
    free(cf);
}

void vssm_crop_feats_shape(const vssm_crop_feats *cf, int out_sz, int *hs, int *ws, int *c, int *stride) {
    int h, w;
    vssm_backbone_stage_size(cf->bb, out_sz, out_sz, cf->stage, &h, &w);
    if (hs) *hs = h;
    if (ws) *ws = w;
    if (c) *c = vssm_backbone_stage_channels(cf->bb, cf->stage);
    if (stride) *stride = vssm_backbone_stage_stride(cf->bb, cf->stage);
}

void vssm_crop_feats_cell_center(const vssm_crop_feats *cf, const vssm_crop_info *ci, double fx, double fy, double *x,
                                 double *y) {
    const double s = vssm_backbone_stage_stride(cf->bb, cf->stage), o = vssm_backbone_stage_offset(cf->bb, cf->stage);
    vssm_crop_to_image(ci, s * fx + o, s * fy + o, x, y);
}

/* the state for (batch, size): reused when present, else planned once (evicting the
 * least recently used when all slots are taken) */
static vssm_status cf_state_get(vssm_crop_feats *cf, int batch, int size, vssm_backbone_state **out, vssm_err *err) {
    cf->tick++;
    int victim = 0;
    for (int i = 0; i < CF_MAX_STATES; i++) {
        cf_state *s = &cf->states[i];
        if (s->st && s->batch == batch && s->size == size) {
            s->last_use = cf->tick;
            *out = s->st;
            return VSSM_OK;
        }
        if (!s->st || (cf->states[victim].st && s->last_use < cf->states[victim].last_use)) victim = i;
    }
    cf_state *s = &cf->states[victim];
    vssm_backbone_state_free(s->st);
    memset(s, 0, sizeof *s);
    vssm_status st = vssm_backbone_state_new(&s->st, cf->bb, batch, size, size, err);
    if (st != VSSM_OK) return st;
    s->batch = batch;
    s->size = size;
    s->last_use = cf->tick;
    *out = s->st;
    return VSSM_OK;
}

static int grow(void **p, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    void *q = realloc(*p, need);
    if (!q) return -1;
    *p = q;
    *cap = need;
    return 0;
}

vssm_status vssm_crop_feats_run(vssm_crop_feats *cf, const vssm_image *im, const vssm_box *boxes, const double *factors,
                                int n, int out_sz, float *feats, vssm_crop_info *infos, vssm_err *err) {
    if (!cf || !im || !boxes || !feats || n < 1 || n > 1024)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "crop features: bad arguments (n = %d)", n);
    if (out_sz < 1 || out_sz > 4096)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "crop features: crop size %d is not in 1..4096", out_sz);
    const size_t per = (size_t)out_sz * out_sz * 3;
    if (grow((void **)&cf->crop, &cf->crop_cap, per) || grow((void **)&cf->x, &cf->x_cap, per * n * sizeof(float)))
        return vssm_err_set(err, VSSM_ERR_NOMEM, "crop features: out of memory for %d crops of %d px", n, out_sz);
    for (int i = 0; i < n; i++) {
        vssm_crop_info ci;
        vssm_status st = vssm_crop_sample(im, boxes[i], factors ? factors[i] : 4.0, out_sz, cf->crop, &ci, err);
        if (st != VSSM_OK) return st;
        if (infos) infos[i] = ci;
        float *x = cf->x + per * i;
        for (size_t p = 0; p < per; p += 3)
            for (int c = 0; c < 3; c++) x[p + c] = ((float)cf->crop[p + c] / 255.0f - cf->mean[c]) / cf->std[c];
    }
    vssm_backbone_state *st = NULL;
    vssm_status s = cf_state_get(cf, n, out_sz, &st, err);
    if (s == VSSM_OK) s = vssm_backbone_forward(cf->bb, st, cf->x, err);
    if (s == VSSM_OK) {
        vssm_tensor t = vssm_backbone_feature(st, cf->stage);
        s = vssm_tensor_to_host(vssm_backbone_ctx(cf->bb), &t, feats, err);
    }
    if (s != VSSM_OK) vssm_err_prefix(err, "crop features");
    return s;
}

/* ================================================================ tracker */

vssm_tracker_config vssm_tracker_config_default(void) {
    const vssm_tracker_config c = {
        .stage = 0,
        .template_factor = 2.0,
        .search_factor = 4.0,
        .template_size = 128,
        .search_size = 256,
        .n_scales = 3,
        .scale_step = 1.0375,
        .scale_penalty = 0.9745,
        .scale_lr = 0.59,
        .window_influence = 0.3,
        .pos_lr = 1.0,
        .min_scale = 0.2,
        .max_scale = 5.0,
    };
    return c;
}

vssm_status vssm_tracker_config_validate(const vssm_tracker_config *c, vssm_err *err) {
    if (c->stage < 0 || c->stage >= VSSM_BACKBONE_MAX_STAGES)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "tracker: stage %d is not in 0..%d", c->stage,
                            VSSM_BACKBONE_MAX_STAGES - 1);
    if (!(c->template_factor > 0) || !(c->search_factor >= c->template_factor))
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "tracker: need 0 < template_factor (%g) <= search_factor (%g)",
                            c->template_factor, c->search_factor);
    if (c->template_size < 8 || c->search_size < c->template_size || c->search_size > 2048)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                            "tracker: need 8 <= template_size (%d) <= search_size (%d) <= 2048", c->template_size,
                            c->search_size);
    if (c->n_scales < 1 || c->n_scales > 15 || !(c->scale_step >= 1.0) ||
        !(c->scale_penalty > 0 && c->scale_penalty <= 1))
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                            "tracker: need n_scales in 1..15 (%d), scale_step >= 1 (%g), scale_penalty in (0, 1] (%g)",
                            c->n_scales, c->scale_step, c->scale_penalty);
    if (!(c->scale_lr >= 0 && c->scale_lr <= 1) || !(c->pos_lr > 0 && c->pos_lr <= 1) ||
        !(c->window_influence >= 0 && c->window_influence <= 1))
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                            "tracker: scale_lr, window_influence in [0, 1], pos_lr in (0, 1]");
    if (!(c->min_scale > 0 && c->min_scale <= 1 && c->max_scale >= 1))
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "tracker: need 0 < min_scale <= 1 <= max_scale");
    return VSSM_OK;
}

struct vssm_tracker {
    vssm_tracker_config cfg;
    vssm_crop_feats *cf;
    int stride, C;
    double offset; /* cell f of the feature map is centred at crop coordinate stride * f + offset */
    int th, tw;    /* template feature map */
    int kh, kw;    /* the kernel: template cells whose centres lie in the box */
    int sh, sw;    /* search feature map */
    int rh, rw;    /* response map: (sh - th + 1, sw - tw + 1) */
    float *tmpl;   /* (th, tw, C) */
    double tmpl_norm;
    double tmpl_fcx, tmpl_fcy; /* the object's centre in template feature coordinates */
    float *search;             /* (n_scales, sh, sw, C) */
    double *cellsq;            /* (sh + 1, sw + 1) integral image of per-cell squared norms */
    double *resp;              /* (n_scales, rh, rw) raw cosine */
    double *window;            /* (rh, rw) Hann */
    vssm_box *boxes;           /* (n_scales) */
    double *factors, *scales;
    vssm_crop_info *infos;
    vssm_box box; /* current estimate */
    double init_w, init_h;
    int ready;
};

void vssm_tracker_free(vssm_tracker *t) {
    if (!t) return;
    vssm_crop_feats_free(t->cf);
    free(t->tmpl);
    free(t->search);
    free(t->cellsq);
    free(t->resp);
    free(t->window);
    free(t->boxes);
    free(t->factors);
    free(t->scales);
    free(t->infos);
    free(t);
}

/* the tracker around its crop features (either backbone's: bb, or a VMamba: vm) */
static vssm_status tracker_new(vssm_tracker **out, vssm_backbone *bb, vssm_vmamba *vm, const vssm_preprocess_params *pp,
                               const vssm_tracker_config *cfg, vssm_err *err) {
    *out = NULL;
    vssm_tracker_config def = vssm_tracker_config_default();
    if (!cfg) cfg = &def;
    vssm_status s = vssm_tracker_config_validate(cfg, err);
    if (s != VSSM_OK) return s;
    vssm_tracker *t = calloc(1, sizeof *t);
    if (!t) return vssm_err_set(err, VSSM_ERR_NOMEM, "tracker: out of memory");
    t->cfg = *cfg;
    s = bb ? vssm_crop_feats_new_backbone(&t->cf, bb, pp, cfg->stage, err)
           : vssm_crop_feats_new(&t->cf, vm, pp, cfg->stage, err);
    if (s != VSSM_OK) {
        vssm_tracker_free(t);
        return s;
    }
    vssm_crop_feats_shape(t->cf, cfg->template_size, &t->th, &t->tw, &t->C, &t->stride);
    t->offset = vssm_backbone_stage_offset(t->cf->bb, cfg->stage);
    if (t->th < 1 || t->tw < 1) {
        vssm_tracker_free(t);
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                            "tracker: a %d px template is smaller than one %d px patch of the backbone",
                            cfg->template_size, vssm_backbone_min_side(bb ? bb : t->cf->bb));
    }
    vssm_crop_feats_shape(t->cf, cfg->search_size, &t->sh, &t->sw, NULL, NULL);
    t->rh = t->sh - t->th + 1;
    t->rw = t->sw - t->tw + 1;
    if (t->rh < 1 || t->rw < 1) {
        vssm_tracker_free(t);
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                            "tracker: search features (%dx%d) smaller than template features (%dx%d)", t->sh, t->sw,
                            t->th, t->tw);
    }
    const int S = cfg->n_scales;
    t->tmpl = malloc((size_t)t->th * t->tw * t->C * sizeof(float));
    t->search = malloc((size_t)S * t->sh * t->sw * t->C * sizeof(float));
    t->cellsq = malloc((size_t)(t->sh + 1) * (t->sw + 1) * sizeof(double));
    /* the response grows when the kernel is smaller than the template map: size for 1x1 */
    t->resp = malloc((size_t)S * t->sh * t->sw * sizeof(double));
    t->window = malloc((size_t)t->sh * t->sw * sizeof(double));
    t->boxes = malloc((size_t)S * sizeof *t->boxes);
    t->factors = malloc((size_t)S * sizeof(double));
    t->scales = malloc((size_t)S * sizeof(double));
    t->infos = malloc((size_t)S * sizeof *t->infos);
    if (!t->tmpl || !t->search || !t->cellsq || !t->resp || !t->window || !t->boxes || !t->factors || !t->scales ||
        !t->infos) {
        vssm_tracker_free(t);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "tracker: out of memory");
    }
    for (int k = 0; k < S; k++) {
        t->scales[k] = pow(cfg->scale_step, k - (S - 1) / 2.0);
        t->factors[k] = cfg->search_factor;
    }
    *out = t;
    return VSSM_OK;
}

vssm_status vssm_tracker_new(vssm_tracker **out, vssm_vmamba *backbone, const vssm_preprocess_params *pp,
                             const vssm_tracker_config *cfg, vssm_err *err) {
    return tracker_new(out, NULL, backbone, pp, cfg, err);
}

vssm_status vssm_tracker_new_backbone(vssm_tracker **out, vssm_backbone *backbone, const vssm_preprocess_params *pp,
                                      const vssm_tracker_config *cfg, vssm_err *err) {
    if (out) *out = NULL; /* as every constructor: NULL on failure */
    if (!backbone) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "tracker: need a backbone");
    return tracker_new(out, backbone, NULL, pp, cfg, err);
}

/* subtracts each channel's spatial mean: the shared (DC) part of the features would make
 * every window look alike under the cosine */
static void center_channels(float *f, int cells, int C) {
    for (int c = 0; c < C; c++) {
        double m = 0;
        for (int i = 0; i < cells; i++) m += f[(size_t)i * C + c];
        m /= cells;
        for (int i = 0; i < cells; i++) f[(size_t)i * C + c] -= (float)m;
    }
}

/* Hann window over the (rh, rw) response, OSTrack's hann1d(centered=True):
 * 0.5 * (1 - cos(2 pi k / (n + 1))), k = 1..n */
static void make_window(vssm_tracker *t) {
    for (int y = 0; y < t->rh; y++)
        for (int x = 0; x < t->rw; x++) {
            double wy = 0.5 * (1 - cos(2 * M_PI * (y + 1) / (t->rh + 1)));
            double wx = 0.5 * (1 - cos(2 * M_PI * (x + 1) / (t->rw + 1)));
            t->window[y * t->rw + x] = wy * wx;
        }
}

/* the cells [f0, f1] of a stride-s map whose centres s*f + o lie within [a, b] */
static void cell_range(double a, double b, int s, double o, int n, int *f0, int *f1) {
    int lo = (int)ceil((a - o) / s), hi = (int)floor((b - o) / s);
    if (hi < lo) lo = hi = (int)lround(((a + b) / 2 - o) / s); /* box smaller than a cell */
    *f0 = lo < 0 ? 0 : lo > n - 1 ? n - 1 : lo;
    *f1 = hi < *f0 ? *f0 : hi > n - 1 ? n - 1 : hi;
}

static int box_ok(vssm_box b) {
    return isfinite(b.x) && isfinite(b.y) && isfinite(b.w) && isfinite(b.h) && b.w > 0 && b.h > 0;
}

vssm_status vssm_tracker_init(vssm_tracker *t, const vssm_image *frame, vssm_box box, vssm_err *err) {
    t->ready = 0;
    if (!frame || !frame->data || frame->w < 1 || frame->h < 1 || frame->c != 3)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "tracker init: need a non-empty RGB frame");
    if (!box_ok(box))
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                            "tracker init: box (%g, %g, %g, %g) must have a finite position and w, h > 0", box.x, box.y,
                            box.w, box.h);
    if (box.x >= frame->w || box.y >= frame->h || box.x + box.w <= 0 || box.y + box.h <= 0)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                            "tracker init: box (%g, %g, %g, %g) lies outside the %dx%d frame", box.x, box.y, box.w,
                            box.h, frame->w, frame->h);
    vssm_crop_info ci;
    double f = t->cfg.template_factor;
    vssm_status s = vssm_crop_feats_run(t->cf, frame, &box, &f, 1, t->cfg.template_size, t->tmpl, &ci, err);
    if (s != VSSM_OK) return s;
    /* The kernel is the template cells on the object: the template crop holds context
     * (3/4 of a 2x crop), which would otherwise win the match and pin the box to the
     * background. */
    double u0, v0, u1, v1;
    vssm_crop_from_image(&ci, box.x, box.y, &u0, &v0);
    vssm_crop_from_image(&ci, box.x + box.w, box.y + box.h, &u1, &v1);
    int fx0, fx1, fy0, fy1;
    cell_range(u0, u1, t->stride, t->offset, t->tw, &fx0, &fx1);
    cell_range(v0, v1, t->stride, t->offset, t->th, &fy0, &fy1);
    t->kw = fx1 - fx0 + 1;
    t->kh = fy1 - fy0 + 1;
    for (int y = 0; y < t->kh; y++) /* compact in place: rows move towards the front */
        memmove(t->tmpl + (size_t)y * t->kw * t->C, t->tmpl + ((size_t)(fy0 + y) * t->tw + fx0) * t->C,
                (size_t)t->kw * t->C * sizeof(float));
    t->rh = t->sh - t->kh + 1;
    t->rw = t->sw - t->kw + 1;
    make_window(t);
    center_channels(t->tmpl, t->kh * t->kw, t->C);
    double n2 = 0;
    size_t nt = (size_t)t->kh * t->kw * t->C;
    for (size_t i = 0; i < nt; i++) n2 += (double)t->tmpl[i] * t->tmpl[i];
    t->tmpl_norm = sqrt(n2);
    /* the object's centre, in kernel feature coordinates (cell f is centred at s*f + offset) */
    double u, v;
    vssm_crop_from_image(&ci, box.x + 0.5 * box.w, box.y + 0.5 * box.h, &u, &v);
    t->tmpl_fcx = (u - t->offset) / t->stride - fx0;
    t->tmpl_fcy = (v - t->offset) / t->stride - fy0;
    t->box = box;
    t->init_w = box.w;
    t->init_h = box.h;
    t->ready = 1;
    return VSSM_OK;
}

/* resp[y][x] = <T, S window at (y, x)> / (|T| |S window|), for y in [y0, y1], x in [x0, x1] */
static void correlate(const vssm_tracker *t, const float *S, double *cellsq, double *resp, int y0, int y1, int x0,
                      int x1) {
    const int C = t->C, sw = t->sw;
    /* integral image of squared cell norms, for the window norms */
    memset(cellsq, 0, (size_t)(sw + 1) * sizeof(double));
    for (int y = 0; y < t->sh; y++) {
        double *row = cellsq + (size_t)(y + 1) * (sw + 1), *up = row - (sw + 1);
        row[0] = 0;
        for (int x = 0; x < sw; x++) {
            const float *c = S + ((size_t)y * sw + x) * C;
            double q = 0;
            for (int k = 0; k < C; k++) q += (double)c[k] * c[k];
            row[x + 1] = row[x] + up[x + 1] - up[x] + q;
        }
    }
    for (int py = y0; py <= y1; py++)
        for (int px = x0; px <= x1; px++) {
            double dot = 0;
            for (int dy = 0; dy < t->kh; dy++) {
                const float *srow = S + ((size_t)(py + dy) * sw + px) * C;
                const float *trow = t->tmpl + (size_t)dy * t->kw * C;
                float acc = 0;
                for (int i = 0; i < t->kw * C; i++) acc += trow[i] * srow[i];
                dot += acc;
            }
            const double *a = cellsq + (size_t)py * (sw + 1), *b = cellsq + (size_t)(py + t->kh) * (sw + 1);
            double wn2 = b[px + t->kw] - b[px] - a[px + t->kw] + a[px];
            double den = t->tmpl_norm * sqrt(wn2 > 0 ? wn2 : 0);
            resp[py * t->rw + px] = den > 1e-12 ? dot / den : 0.0;
        }
}

/* offset of a parabola's vertex through (-1, a), (0, b), (1, c), within [-0.5, 0.5] */
static double parabola(double a, double b, double c) {
    double d = a - 2 * b + c;
    if (!(d < 0)) return 0;
    double o = 0.5 * (a - c) / d;
    return o < -0.5 ? -0.5 : o > 0.5 ? 0.5 : o;
}

/* One step around the centre (cx, cy): n_scales crops there; the peak searched within radius
 * cells of the response position that puts the object's centre at (cx, cy) (radius < 0: the
 * whole map); the new box (the peak's centre by pos_lr, the size by scale_lr) into t->box. */
static vssm_status tracker_step(vssm_tracker *t, const vssm_image *frame, double cx, double cy, int radius,
                                float *score, double *scale, vssm_err *err) {
    const vssm_tracker_config *c = &t->cfg;
    const int S = c->n_scales, mid = (S - 1) / 2;
    for (int k = 0; k < S; k++) {
        double w = t->box.w * t->scales[k], h = t->box.h * t->scales[k];
        t->boxes[k] = (vssm_box){cx - 0.5 * w, cy - 0.5 * h, w, h};
    }
    vssm_status s = vssm_crop_feats_run(t->cf, frame, t->boxes, t->factors, S, c->search_size, t->search, t->infos,
                                        err);
    if (s != VSSM_OK) return s;
    /* the searched positions [y0, y1] x [x0, x1]; the correlation also at their neighbours
     * (the parabola's), [cy0, cy1] x [cx0, cx1] */
    int y0 = 0, y1 = t->rh - 1, x0 = 0, x1 = t->rw - 1;
    if (radius >= 0) {
        double u, v;
        vssm_crop_from_image(&t->infos[mid], cx, cy, &u, &v);
        const int fx = (int)lround((u - t->offset) / t->stride - t->tmpl_fcx);
        const int fy = (int)lround((v - t->offset) / t->stride - t->tmpl_fcy);
        x0 = fx - radius < 0 ? 0 : fx - radius > t->rw - 1 ? t->rw - 1 : fx - radius;
        x1 = fx + radius > t->rw - 1 ? t->rw - 1 : fx + radius < x0 ? x0 : fx + radius;
        y0 = fy - radius < 0 ? 0 : fy - radius > t->rh - 1 ? t->rh - 1 : fy - radius;
        y1 = fy + radius > t->rh - 1 ? t->rh - 1 : fy + radius < y0 ? y0 : fy + radius;
    }
    const int cy0 = y0 > 0 ? y0 - 1 : 0, cy1 = y1 < t->rh - 1 ? y1 + 1 : y1;
    const int cx0 = x0 > 0 ? x0 - 1 : 0, cx1 = x1 < t->rw - 1 ? x1 + 1 : x1;
    const size_t per_s = (size_t)t->sh * t->sw * t->C, per_r = (size_t)t->rh * t->rw;
    int best_k = mid, best_i = y0 * t->rw + x0;
    double best = -DBL_MAX, lo = DBL_MAX, hi = -DBL_MAX;
    for (int k = 0; k < S; k++) {
        double *r = t->resp + per_r * k;
        center_channels(t->search + per_s * k, t->sh * t->sw, t->C);
        correlate(t, t->search + per_s * k, t->cellsq, r, cy0, cy1, cx0, cx1);
        for (int y = cy0; y <= cy1; y++)
            for (int x = cx0; x <= cx1; x++) {
                lo = fmin(lo, r[y * t->rw + x]);
                hi = fmax(hi, r[y * t->rw + x]);
            }
    }
    /* the window blends with the response rescaled to [0, 1] over all scales, so its
     * weight does not depend on how high this backbone's cosines run */
    const double span = hi - lo > 1e-12 ? hi - lo : 1.0;
    for (int k = 0; k < S; k++) {
        const double *r = t->resp + per_r * k;
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++) {
                const int i = y * t->rw + x;
                double v = (1 - c->window_influence) * (r[i] - lo) / span + c->window_influence * t->window[i];
                if (k != mid) v = v > 0 ? v * c->scale_penalty : v / c->scale_penalty;
                if (v > best) {
                    best = v;
                    best_k = k;
                    best_i = i;
                }
            }
    }
    const double *r = t->resp + per_r * best_k;
    const int py = best_i / t->rw, px = best_i % t->rw;
    /* sub-cell refinement on the windowed map */
#define WIN(y, x) \
    ((1 - c->window_influence) * (r[(y)*t->rw + (x)] - lo) / span + c->window_influence * t->window[(y)*t->rw + (x)])
    double ox = 0, oy = 0;
    if (px > cx0 && px < cx1) ox = parabola(WIN(py, px - 1), WIN(py, px), WIN(py, px + 1));
    if (py > cy0 && py < cy1) oy = parabola(WIN(py - 1, px), WIN(py, px), WIN(py + 1, px));
#undef WIN
    double nx, ny;
    vssm_crop_feats_cell_center(t->cf, &t->infos[best_k], px + ox + t->tmpl_fcx, py + oy + t->tmpl_fcy, &nx, &ny);
    double ncx = cx + c->pos_lr * (nx - cx), ncy = cy + c->pos_lr * (ny - cy);
    double f = 1 - c->scale_lr + c->scale_lr * t->scales[best_k];
    double w = t->box.w * f, h = t->box.h * f;
    /* keep the size within [min_scale, max_scale] x the initial one, the centre in the frame */
    const double smin = c->min_scale, smax = c->max_scale;
    if (w < smin * t->init_w || h < smin * t->init_h) {
        double g = fmax(smin * t->init_w / w, smin * t->init_h / h);
        w *= g;
        h *= g;
    }
    if (w > smax * t->init_w || h > smax * t->init_h) {
        double g = fmin(smax * t->init_w / w, smax * t->init_h / h);
        w *= g;
        h *= g;
    }
    ncx = fmin(fmax(ncx, 0.0), (double)frame->w);
    ncy = fmin(fmax(ncy, 0.0), (double)frame->h);
    t->box = (vssm_box){ncx - 0.5 * w, ncy - 0.5 * h, w, h};
    if (score) *score = (float)r[best_i];
    if (scale) *scale = t->scales[best_k];
    return VSSM_OK;
}

vssm_status vssm_tracker_update(vssm_tracker *t, const vssm_image *frame, vssm_box *box, float *score, vssm_err *err) {
    if (!t->ready) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "tracker update: call vssm_tracker_init first");
    if (!frame || !frame->data || frame->w < 1 || frame->h < 1 || frame->c != 3)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "tracker update: need a non-empty RGB frame");
    vssm_status s = tracker_step(t, frame, t->box.x + 0.5 * t->box.w, t->box.y + 0.5 * t->box.h, -1, score, NULL, err);
    if (s == VSSM_OK && box) *box = t->box;
    return s;
}

vssm_status vssm_tracker_scale_at(vssm_tracker *t, const vssm_image *frame, double cx, double cy, int radius,
                                  vssm_box *box, float *score, double *scale, vssm_err *err) {
    if (!t->ready) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "tracker scale search: call vssm_tracker_init first");
    if (!frame || !frame->data || frame->w < 1 || frame->h < 1 || frame->c != 3)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "tracker scale search: need a non-empty RGB frame");
    if (!isfinite(cx) || !isfinite(cy) || radius < 0)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                            "tracker scale search: centre (%g, %g) must be finite and radius (%d) >= 0", cx, cy,
                            radius);
    vssm_status s = tracker_step(t, frame, cx, cy, radius, score, scale, err);
    if (s == VSSM_OK && box) *box = t->box;
    return s;
}
