/* heads/track_head.c - the trained tracker of OSTrack's kind on either backbone: template and
 * search features (VMamba: two crops, the search map modulated by the template's pooled
 * features; Vim: one stream), the CenterPredictor towers, OSTrack's Hann-windowed decoding.
 * See vssm/track.h for the contract and tests/reference/ostrack_ref.py for the reference. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cnum.h"
#include "heads/seg_internal.h"
#include "vssm/backbone.h"
#include "vssm/track.h"
#include "vssm/vim.h"

#define N_TOWERS 4 /* conv3x3-BN-ReLU blocks per tower, then a 1x1 conv */
#define CLIP_MARGIN 10.0

static const char *const TOWER_NAME[3] = {"ctr", "offset", "size"};
static const int TOWER_OUT[3] = {1, 2, 2};

struct vssm_track_head {
    vssm_track_head_info info;
    vssm_backbone *bb;
    vssm_ctx *hctx, *owned_ctx; /* the towers run on the CPU: the backbone's ctx or one of ours */
    float mean[3], std[3];
    seg_conv conv[3][N_TOWERS + 1];
    /* VMamba: crop features of the template and the search crop */
    vssm_crop_feats *cf;
    int th, tw, C; /* template map, stage channels */
    float *zbar;   /* (C) */
    float *zmap;   /* "modcorr": the (pooled) template map (corr_cells, C), scaled by 1 / C */
    /* Vim: one-stream state and the two normalised crops */
    vssm_vim_state *vst;
    uint8_t *crop; /* (search_size^2 * 3) */
    float *zin, *xin;
    /* the head */
    float *xfeat; /* (fs*fs, C) search features */
    float *fin;   /* (fs*fs, in_ch) */
    float *t0, *t1, *ws;
    float *maps; /* score (fs*fs), size (2 fs*fs), offset (2 fs*fs), planar */
    int cell;
    vssm_box box;   /* the last estimate, around which the next search crop is taken */
    double hw, hh;  /* the head's own size (its smoothing's previous box): box's, unless the hybrid is on */
    double aspect0; /* the first box's w / h */
    vssm_preprocess_params pp;
    vssm_tracker *scale; /* the hybrid's scale search (info.scale.on), else NULL */
    int ready;
};

void vssm_track_head_free(vssm_track_head *h) {
    if (!h) return;
    for (int t = 0; t < 3; t++)
        for (int i = 0; i <= N_TOWERS; i++) vssm_seg_conv_free(&h->conv[t][i]);
    vssm_crop_feats_free(h->cf);
    vssm_tracker_free(h->scale);
    vssm_vim_state_free(h->vst);
    vssm_ctx_free(h->owned_ctx);
    free(h->zbar);
    free(h->zmap);
    free(h->crop);
    free(h->zin);
    free(h->xin);
    free(h->xfeat);
    free(h->fin);
    free(h->t0);
    free(h->t1);
    free(h->ws);
    free(h->maps);
    free(h);
}

static const char *meta(const vssm_source *src, const char *key) {
    return src && src->meta ? src->meta(src->user, key) : NULL;
}

int vssm_track_head_present(const vssm_source *src) {
    const char *v = meta(src, "track_head");
    return v && strcmp(v, "ostrack") == 0;
}

/* a metadata number within [lo, hi] */
static vssm_status meta_num(const vssm_source *src, const char *key, double lo, double hi, int integer, double *out,
                            vssm_err *err) {
    const char *v = meta(src, key);
    if (!v) return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata key '%s' is missing", key);
    char *end;
    double x = vssm_strtod_c(v, &end);
    if (end == v || *end || !(x >= lo && x <= hi) || (integer && x != floor(x)))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata %s '%s' is not %s in [%g, %g]", key, v,
                            integer ? "an integer" : "a number", lo, hi);
    *out = x;
    return VSSM_OK;
}

vssm_track_scale_config vssm_track_scale_config_default(void) {
    const vssm_track_scale_config c = {.on = 0,
                                       .stage = 0,
                                       .factor = 2.0,
                                       .size = 128,
                                       .n_scales = 3,
                                       .step = 1.0375,
                                       .lr = 0.59,
                                       .radius = 2,
                                       .pos_lr = 1.0,
                                       .aspect_lr = 0.0};
    return c;
}

vssm_status vssm_track_scale_config_validate(const vssm_track_scale_config *c, vssm_err *err) {
    if (!c) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "scale search: NULL config");
    if (c->on != 0 && c->on != 1) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "scale search: on must be 0 or 1");
    if (c->stage < 0 || c->stage >= VSSM_BACKBONE_MAX_STAGES || !(c->factor >= 2.0 && c->factor <= 16) ||
        c->size < 16 || c->size > 512 || c->n_scales < 1 || c->n_scales > 9 || c->n_scales % 2 == 0 ||
        !(c->step >= 1 && c->step <= 2) || !(c->lr >= 0 && c->lr <= 1) || c->radius < 0 || c->radius > 16 ||
        !(c->pos_lr >= 0 && c->pos_lr <= 1) || !(c->aspect_lr >= 0 && c->aspect_lr <= 1))
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                            "scale search: need stage in 0..%d (%d), factor in [2, 16] (%g), size in 16..512 (%d), "
                            "n_scales odd in 1..9 (%d), step in [1, 2] (%g), lr, pos_lr, aspect_lr in [0, 1] (%g, "
                            "%g, %g), radius in 0..16 (%d)",
                            VSSM_BACKBONE_MAX_STAGES - 1, c->stage, c->factor, c->size, c->n_scales, c->step, c->lr,
                            c->pos_lr, c->aspect_lr, c->radius);
    return VSSM_OK;
}

/* the hybrid's settings from the metadata (track_scale_*; absent: off, the defaults) */
static vssm_status read_scale(const vssm_source *src, vssm_track_scale_config *c, vssm_err *err) {
    *c = vssm_track_scale_config_default();
    const char *on = meta(src, "track_scale_search");
    if (!on) return VSSM_OK;
    if (strcmp(on, "0") && strcmp(on, "1"))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata track_scale_search '%s' is not '0' or '1'", on);
    c->on = on[0] == '1';
    const char *keys[9] = {"track_scale_stage",  "track_scale_size",   "track_scale_n",
                           "track_scale_radius", "track_scale_factor", "track_scale_step",
                           "track_scale_lr",     "track_scale_pos_lr", "track_scale_aspect_lr"};
    const double lo[9] = {0, 16, 1, 0, 2, 1, 0, 0, 0},
                 hi[9] = {VSSM_BACKBONE_MAX_STAGES - 1, 512, 9, 16, 16, 2, 1, 1, 1};
    int *ip[4] = {&c->stage, &c->size, &c->n_scales, &c->radius};
    double *dp[5] = {&c->factor, &c->step, &c->lr, &c->pos_lr, &c->aspect_lr};
    for (int i = 0; i < 9; i++) {
        if (!meta(src, keys[i])) continue;
        double v;
        vssm_status s = meta_num(src, keys[i], lo[i], hi[i], i < 4, &v, err);
        if (s != VSSM_OK) return s;
        if (i < 4)
            *ip[i] = (int)v;
        else
            *dp[i - 4] = v;
    }
    if (c->n_scales % 2 == 0)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata track_scale_n %d is not odd", c->n_scales);
    return VSSM_OK;
}

static vssm_status read_info(const vssm_source *src, vssm_backbone *bb, vssm_track_head_info *in, vssm_err *err) {
    memset(in, 0, sizeof *in);
    if (!vssm_track_head_present(src))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "the file holds no tracker head (metadata track_head)");
    const char *fu = meta(src, "track_fusion");
    const int is_vim = vssm_backbone_get_kind(bb) == VSSM_BACKBONE_VIM;
    if (!fu || (strcmp(fu, "mod") && strcmp(fu, "modcorr") && strcmp(fu, "onestream")))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "metadata track_fusion '%s' is not 'mod', 'modcorr' or 'onestream'",
                            fu ? fu : "(missing)");
    in->fusion_onestream = strcmp(fu, "onestream") == 0;
    if (in->fusion_onestream != is_vim)
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED, "fusion '%s' does not go with a %s backbone", fu,
                            is_vim ? "Vision Mamba" : "VMamba");
    double v[6];
    const char *keys[6] = {"track_stage",       "track_channel",         "track_template_size",
                           "track_search_size", "track_template_factor", "track_search_factor"};
    const double lo[6] = {0, 8, 8, 8, 0.1, 0.1}, hi[6] = {VSSM_BACKBONE_MAX_STAGES - 1, 4096, 2048, 2048, 16, 16};
    for (int i = 0; i < 6; i++) {
        vssm_status s = meta_num(src, keys[i], lo[i], hi[i], i < 4, &v[i], err);
        if (s != VSSM_OK) return s;
    }
    in->stage = (int)v[0];
    in->channel = (int)v[1];
    in->template_size = (int)v[2];
    in->search_size = (int)v[3];
    in->template_factor = v[4];
    in->search_factor = v[5];
    in->size_lr = 1.0;
    if (meta(src, "track_size_lr")) {
        vssm_status s = meta_num(src, "track_size_lr", 1e-6, 1, 0, &in->size_lr, err);
        if (s != VSSM_OK) return s;
    }
    in->aspect_lr = 1.0;
    if (meta(src, "track_aspect_lr")) {
        vssm_status s = meta_num(src, "track_aspect_lr", 0, 1, 0, &in->aspect_lr, err);
        if (s != VSSM_OK) return s;
    }
    if (in->template_size > in->search_size)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "template size %d > search size %d", in->template_size,
                            in->search_size);
    if (in->channel % 8)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "track_channel %d is not a multiple of 8", in->channel);
    if (in->stage >= vssm_backbone_stages(bb))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "track_stage %d but the backbone has %d stage(s)", in->stage,
                            vssm_backbone_stages(bb));
    const int C = vssm_backbone_stage_channels(bb, in->stage);
    in->in_ch = in->fusion_onestream ? C : 2 * C;
    in->corr_pool = 1;
    if (strcmp(fu, "modcorr") == 0) { /* one channel per (pooled) template cell: bounded, so in_ch cannot overflow */
        if (meta(src, "track_corr_pool")) {
            double p;
            vssm_status s = meta_num(src, "track_corr_pool", 1, 16, 1, &p, err);
            if (s != VSSM_OK) return s;
            in->corr_pool = (int)p;
        }
        int th, tw;
        const int p = in->corr_pool;
        vssm_backbone_stage_size(bb, in->template_size, in->template_size, in->stage, &th, &tw);
        if (th < 1 || tw < 1 || th % p || tw % p || th / p > VSSM_TRACK_MAX_CORR_CELLS / (tw / p))
            return vssm_err_set(err, VSSM_ERR_FORMAT,
                                "fusion 'modcorr': a %d px template gives a %dx%d map, track_corr_pool %d (sides "
                                "divisible by it, 1 to %d pooled cells supported)",
                                in->template_size, th, tw, p, VSSM_TRACK_MAX_CORR_CELLS);
        in->corr_cells = (th / p) * (tw / p);
        in->in_ch += in->corr_cells;
    }
    int fh, fw;
    vssm_backbone_stage_size(bb, in->search_size, in->search_size, in->stage, &fh, &fw);
    if (fh < 1 || fh != fw)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "a %d px search crop gives a %dx%d map (need a square)",
                            in->search_size, fh, fw);
    in->feat_sz = fh;
    vssm_status s = read_scale(src, &in->scale, err);
    if (s == VSSM_OK && in->scale.on && in->fusion_onestream)
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED, "track_scale_search needs a VMamba head, not 'onestream'");
    if (s == VSSM_OK && in->scale.stage >= vssm_backbone_stages(bb))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "track_scale_stage %d but the backbone has %d stage(s)",
                            in->scale.stage, vssm_backbone_stages(bb));
    return s;
}

/* (re)makes the hybrid's scale search for h->info.scale */
static vssm_status make_scale(vssm_track_head *h, vssm_err *err) {
    vssm_tracker_free(h->scale);
    h->scale = NULL;
    const vssm_track_scale_config *c = &h->info.scale;
    if (!c->on) return VSSM_OK;
    vssm_tracker_config tc = vssm_tracker_config_default();
    tc.stage = c->stage;
    tc.template_factor = 2.0;
    tc.template_size = c->size;
    tc.search_factor = c->factor;
    tc.search_size = c->size;
    tc.n_scales = c->n_scales;
    tc.scale_step = c->step;
    tc.scale_lr = c->lr;
    tc.pos_lr = 1.0; /* the peak's centre: the head blends it in by pos_lr */
    return vssm_tracker_new_backbone(&h->scale, h->bb, &h->pp, &tc, err);
}

vssm_status vssm_track_head_set_scale(vssm_track_head *h, const vssm_track_scale_config *c, vssm_err *err) {
    if (!h || !c) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "track head: NULL argument");
    vssm_status s = vssm_track_scale_config_validate(c, err);
    if (s == VSSM_OK && c->on && h->info.fusion_onestream)
        s = vssm_err_set(err, VSSM_ERR_UNSUPPORTED, "scale search: needs a VMamba head, not 'onestream'");
    if (s == VSSM_OK && c->stage >= vssm_backbone_stages(h->bb))
        s = vssm_err_set(err, VSSM_ERR_INVALID_ARG, "scale search: stage %d but the backbone has %d stage(s)", c->stage,
                         vssm_backbone_stages(h->bb));
    if (s != VSSM_OK) return s;
    h->info.scale = *c;
    h->ready = 0;
    return make_scale(h, err);
}

static vssm_status load_towers(vssm_track_head *h, const vssm_source *src, vssm_err *err) {
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%strack_head.", vssm_backbone_prefix(h->bb));
    const int ch = h->info.channel;
    const int w[N_TOWERS + 1] = {h->info.in_ch, ch, ch / 2, ch / 4, ch / 8};
    for (int t = 0; t < 3; t++) {
        for (int i = 0; i <= N_TOWERS; i++) {
            char base[32];
            snprintf(base, sizeof base, "conv%d_%s", i + 1, TOWER_NAME[t]);
            const int last = i == N_TOWERS;
            vssm_status s = vssm_seg_conv_load(&h->conv[t][i], h->hctx, src, prefix, base, w[last ? N_TOWERS : i],
                                               last ? TOWER_OUT[t] : w[i + 1], last ? 1 : 3, !last, last, err);
            if (s != VSSM_OK) return s;
        }
    }
    return VSSM_OK;
}

static vssm_status alloc_bufs(vssm_track_head *h, vssm_err *err) {
    const vssm_track_head_info *in = &h->info;
    const size_t cells = (size_t)in->feat_sz * in->feat_sz;
    const int C = vssm_backbone_stage_channels(h->bb, in->stage);
    size_t ws = 0;
    for (int t = 0; t < 3; t++)
        for (int i = 0; i <= N_TOWERS; i++) {
            size_t k = vssm_seg_conv_workspace(&h->conv[t][i]);
            ws = k > ws ? k : ws;
        }
    h->C = C;
    h->xfeat = malloc(cells * C * sizeof(float));
    h->fin = malloc(cells * in->in_ch * sizeof(float));
    h->t0 = malloc(cells * in->channel * sizeof(float));
    h->t1 = malloc(cells * in->channel * sizeof(float));
    h->ws = malloc((ws ? ws : 1) * sizeof(float));
    h->maps = malloc(cells * 5 * sizeof(float));
    int ok = h->xfeat && h->fin && h->t0 && h->t1 && h->ws && h->maps;
    if (in->fusion_onestream) {
        const size_t zs = in->template_size, xs = in->search_size;
        h->crop = malloc(xs * xs * 3 > zs * zs * 3 ? xs * xs * 3 : zs * zs * 3);
        h->zin = malloc(zs * zs * 3 * sizeof(float));
        h->xin = malloc(xs * xs * 3 * sizeof(float));
        ok = ok && h->crop && h->zin && h->xin;
    } else {
        h->zbar = malloc(C * sizeof(float));
        h->zmap = in->corr_cells ? malloc((size_t)in->corr_cells * C * sizeof(float)) : NULL;
        ok = ok && h->zbar && (h->zmap || !in->corr_cells);
    }
    return ok ? VSSM_OK : vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
}

vssm_status vssm_track_head_new(vssm_track_head **out, vssm_backbone *bb, const vssm_preprocess_params *pp,
                                const vssm_source *src, vssm_err *err) {
    *out = NULL;
    if (!bb || !pp || !src) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "track head: NULL argument");
    vssm_track_head *h = calloc(1, sizeof *h);
    if (!h) return vssm_err_set(err, VSSM_ERR_NOMEM, "track head: out of memory");
    h->bb = bb;
    h->pp = *pp;
    for (int c = 0; c < 3; c++) {
        h->mean[c] = pp->mean[c];
        h->std[c] = pp->std[c];
    }
    vssm_status s = read_info(src, bb, &h->info, err);
    vssm_ctx *ctx = vssm_backbone_ctx(bb);
    if (s == VSSM_OK) {
        if (vssm_ctx_device(ctx) == VSSM_DEVICE_CPU) {
            h->hctx = ctx;
        } else {
            vssm_ctx_opts o = vssm_ctx_default_opts();
            s = vssm_ctx_new(&h->owned_ctx, &o, err);
            h->hctx = h->owned_ctx;
        }
    }
    if (s == VSSM_OK) s = load_towers(h, src, err);
    if (s == VSSM_OK) s = alloc_bufs(h, err);
    const vssm_track_head_info *in = &h->info;
    if (s == VSSM_OK && in->fusion_onestream) {
        s = vssm_vim_state_new_onestream(&h->vst, vssm_backbone_vim(bb), 1, in->template_size, in->template_size,
                                         in->search_size, in->search_size, err);
    } else if (s == VSSM_OK) {
        s = vssm_crop_feats_new_backbone(&h->cf, bb, pp, in->stage, err);
        if (s == VSSM_OK) vssm_crop_feats_shape(h->cf, in->template_size, &h->th, &h->tw, NULL, NULL);
        if (s == VSSM_OK && (h->th < 1 || h->tw < 1))
            s = vssm_err_set(err, VSSM_ERR_FORMAT, "a %d px template gives no feature map", in->template_size);
        if (s == VSSM_OK && in->corr_cells && (h->th / in->corr_pool) * (h->tw / in->corr_pool) != in->corr_cells)
            s = vssm_err_set(err, VSSM_ERR_FORMAT, "the template map is %dx%d, not the %d cells planned", h->th, h->tw,
                             in->corr_cells);
    }
    if (s == VSSM_OK) s = make_scale(h, err);
    if (s != VSSM_OK) {
        vssm_err_prefix(err, "track head");
        vssm_track_head_free(h);
        return s;
    }
    *out = h;
    return VSSM_OK;
}

vssm_track_head_info vssm_track_head_get_info(const vssm_track_head *h) { return h->info; }

void vssm_track_head_maps(const vssm_track_head *h, const float **score, const float **size, const float **offset,
                          int *cell) {
    const size_t n = (size_t)h->info.feat_sz * h->info.feat_sz;
    if (score) *score = h->maps;
    if (size) *size = h->maps + n;
    if (offset) *offset = h->maps + 3 * n;
    if (cell) *cell = h->cell;
}

/* OSTrack's hann1d(n, centered=True)[k] */
static double hann(int k, int n) { return 0.5 * (1 - cos(2 * M_PI * (k + 1) / (n + 1))); }

/* OSTrack's clip_box(margin=10) of the box centred at (cx, cy), w x h */
static vssm_box clip_box(double cx, double cy, double w, double h, int frame_w, int frame_h) {
    const double m = CLIP_MARGIN, W = frame_w, H = frame_h;
    double x1 = cx - 0.5 * w, y1 = cy - 0.5 * h, x2 = x1 + w, y2 = y1 + h;
    x1 = fmin(fmax(0.0, x1), W - m);
    x2 = fmin(fmax(m, x2), W);
    y1 = fmin(fmax(0.0, y1), H - m);
    y2 = fmin(fmax(m, y2), H);
    return (vssm_box){x1, y1, fmax(m, x2 - x1), fmax(m, y2 - y1)};
}

vssm_box vssm_track_hybrid_box(const vssm_box *head, const vssm_box *scale, double pos_lr, double aspect_lr,
                               int frame_w, int frame_h) {
    const double hcx = head->x + 0.5 * head->w, hcy = head->y + 0.5 * head->h;
    double w = scale->w, ht = scale->h;
    if (aspect_lr > 0) { /* the aspect towards the head's, the area kept */
        const double r = exp(aspect_lr * log(head->w / head->h) + (1 - aspect_lr) * log(scale->w / scale->h)),
                     area = scale->w * scale->h;
        w = sqrt(area * r);
        ht = sqrt(area / r);
    }
    const double cx = hcx + pos_lr * (scale->x + 0.5 * scale->w - hcx),
                 cy = hcy + pos_lr * (scale->y + 0.5 * scale->h - hcy);
    return clip_box(cx, cy, w, ht, frame_w, frame_h);
}

void vssm_track_head_decode(const float *score, const float *size, const float *offset, int fs, int search_size,
                            const vssm_crop_info *ci, int frame_w, int frame_h, const vssm_box *prev, double size_lr,
                            double aspect0, double aspect_lr, vssm_box *box, float *peak, int *cell) {
    int best = 0;
    double bv = -DBL_MAX;
    for (int y = 0; y < fs; y++) {
        const double wy = hann(y, fs);
        for (int x = 0; x < fs; x++) {
            const double v = (double)score[y * fs + x] * (wy * hann(x, fs));
            if (v > bv) {
                bv = v;
                best = y * fs + x;
            }
        }
    }
    const int iy = best / fs, ix = best % fs, n = fs * fs;
    const double cx = (ix + (double)offset[best]) / fs * search_size;
    const double cy = (iy + (double)offset[n + best]) / fs * search_size;
    const double w = (double)size[best] * search_size, h = (double)size[n + best] * search_size;
    const double rf = (double)search_size / ci->crop_sz;
    const double cxi = ci->x1 + cx / rf, cyi = ci->y1 + cy / rf;
    double wi = w / rf, hi = h / rf;
    if (prev && size_lr != 1.0) { /* the size smoothing (ostrack_ref.decode's prev, size_lr) */
        wi = size_lr * wi + (1 - size_lr) * prev->w;
        hi = size_lr * hi + (1 - size_lr) * prev->h;
    }
    if (aspect_lr != 1.0 && aspect0 > 0) { /* the aspect prior (ostrack_ref.decode's aspect0, aspect_lr) */
        const double r = exp(aspect_lr * log(wi / hi) + (1 - aspect_lr) * log(aspect0)), area = wi * hi;
        wi = sqrt(area * r);
        hi = sqrt(area / r);
    }
    if (box) *box = clip_box(cxi, cyi, wi, hi, frame_w, frame_h);
    if (peak) *peak = score[best];
    if (cell) *cell = best;
}

static int frame_ok(const vssm_image *f) { return f && f->data && f->w >= 1 && f->h >= 1 && f->c == 3; }

/* the template map z (th, tw, C) kept for the correlation: each corr_pool x corr_pool block's mean
 * (row-major blocks, as avg_pool2d), its 1 / C folded in */
static void pool_template(vssm_track_head *h, const float *z) {
    const int p = h->info.corr_pool, pw = h->tw / p, C = h->C;
    for (int k = 0; k < h->info.corr_cells; k++) {
        const int by = k / pw * p, bx = k % pw * p;
        for (int c = 0; c < C; c++) {
            double acc = 0;
            for (int y = by; y < by + p; y++)
                for (int x = bx; x < bx + p; x++) acc += z[((size_t)y * h->tw + x) * C + c];
            h->zmap[(size_t)k * C + c] = (float)(acc / (p * p)) / (float)C;
        }
    }
}

/* the normalised crop of box (factor, size) into dst (size, size, 3) */
static vssm_status crop_norm(vssm_track_head *h, const vssm_image *frame, vssm_box box, double factor, int size,
                             float *dst, vssm_crop_info *ci, vssm_err *err) {
    vssm_status s = vssm_crop_sample(frame, box, factor, size, h->crop, ci, err);
    if (s != VSSM_OK) return s;
    const size_t n = (size_t)size * size * 3;
    for (size_t p = 0; p < n; p += 3)
        for (int c = 0; c < 3; c++) dst[p + c] = ((float)h->crop[p + c] / 255.0f - h->mean[c]) / h->std[c];
    return VSSM_OK;
}

vssm_status vssm_track_head_init(vssm_track_head *h, const vssm_image *frame, vssm_box box, vssm_err *err) {
    h->ready = 0;
    if (!frame_ok(frame)) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "track head init: need a non-empty RGB frame");
    if (!(isfinite(box.x) && isfinite(box.y) && box.w > 0 && box.h > 0 && isfinite(box.w) && isfinite(box.h)) ||
        box.x >= frame->w || box.y >= frame->h || box.x + box.w <= 0 || box.y + box.h <= 0)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                            "track head init: box (%g, %g, %g, %g) must have w, h > 0 and overlap the %dx%d frame",
                            box.x, box.y, box.w, box.h, frame->w, frame->h);
    const vssm_track_head_info *in = &h->info;
    vssm_status s;
    if (in->fusion_onestream) {
        s = crop_norm(h, frame, box, in->template_factor, in->template_size, h->zin, NULL, err);
    } else {
        float *z = h->fin; /* the template map (th, tw, C) fits: template_size <= search_size, checked at load */
        double f = in->template_factor;
        s = vssm_crop_feats_run(h->cf, frame, &box, &f, 1, in->template_size, z, NULL, err);
        if (s == VSSM_OK) {
            const int y0 = h->th / 4, y1 = h->th - h->th / 4, x0 = h->tw / 4, x1 = h->tw - h->tw / 4;
            const double n = (double)(y1 - y0) * (x1 - x0);
            for (int c = 0; c < h->C; c++) {
                double acc = 0;
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++) acc += z[((size_t)y * h->tw + x) * h->C + c];
                h->zbar[c] = (float)(acc / n);
            }
            if (in->corr_cells) pool_template(h, z);
        }
    }
    if (s == VSSM_OK && h->scale) s = vssm_tracker_init(h->scale, frame, box, err);
    if (s != VSSM_OK) return s;
    h->box = box;
    h->hw = box.w;
    h->hh = box.h;
    h->aspect0 = box.w / box.h;
    h->ready = 1;
    return VSSM_OK;
}

/* one tower: fin -> t0 -> t1 -> t0 -> t1 -> out (cells, nout) NHWC */
static void tower(vssm_track_head *h, int t, float *out) {
    const int fs = h->info.feat_sz;
    const float *x = h->fin;
    float *buf[2] = {h->t0, h->t1};
    for (int i = 0; i < N_TOWERS; i++) {
        vssm_seg_conv_forward(h->hctx, &h->conv[t][i], x, 1, fs, fs, buf[i & 1], h->ws);
        x = buf[i & 1];
    }
    vssm_seg_conv_forward(h->hctx, &h->conv[t][N_TOWERS], x, 1, fs, fs, out, h->ws);
}

static float sigmoid_clamp(float v) {
    float s = 1.0f / (1.0f + expf(-v));
    return s < 1e-4f ? 1e-4f : s > 1 - 1e-4f ? 1 - 1e-4f : s;
}

vssm_status vssm_track_head_update(vssm_track_head *h, const vssm_image *frame, vssm_box *box, float *score,
                                   vssm_err *err) {
    if (!h->ready) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "track head update: call vssm_track_head_init first");
    if (!frame_ok(frame))
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "track head update: need a non-empty RGB frame");
    const vssm_track_head_info *in = &h->info;
    const int fs = in->feat_sz, cells = fs * fs, C = h->C;
    vssm_crop_info ci;
    vssm_status s;
    if (in->fusion_onestream) {
        s = crop_norm(h, frame, h->box, in->search_factor, in->search_size, h->xin, &ci, err);
        vssm_vim *vim = vssm_backbone_vim(h->bb);
        if (s == VSSM_OK) s = vssm_vim_forward_onestream(vim, h->vst, h->zin, h->xin, err);
        if (s == VSSM_OK) {
            vssm_tensor t = vssm_vim_feature(h->vst);
            s = vssm_tensor_to_host(vssm_backbone_ctx(h->bb), &t, h->fin, err);
        }
    } else {
        double f = in->search_factor;
        s = vssm_crop_feats_run(h->cf, frame, &h->box, &f, 1, in->search_size, h->xfeat, &ci, err);
        const int K = in->corr_cells;
        if (s == VSSM_OK)
            for (int i = 0; i < cells; i++) {
                const float *x = h->xfeat + (size_t)i * C;
                float *o = h->fin + (size_t)i * in->in_ch;
                for (int c = 0; c < C; c++) {
                    o[c] = x[c];
                    o[C + c] = x[c] * h->zbar[c];
                }
                for (int k = 0; k < K; k++) { /* "modcorr": the pixel-wise correlation with each template cell */
                    const float *z = h->zmap + (size_t)k * C;
                    float acc = 0;
                    for (int c = 0; c < C; c++) acc += x[c] * z[c];
                    o[2 * C + k] = acc;
                }
            }
    }
    if (s != VSSM_OK) {
        vssm_err_prefix(err, "track head update");
        return s;
    }
    /* each tower's NHWC output (cells, 1 | 2) goes to xfeat (cells * C >= cells * 2 floats), free by now */
    float *o = h->xfeat;
    float *sc = h->maps, *sz = h->maps + cells, *of = h->maps + 3 * (size_t)cells;
    tower(h, 0, o);
    for (int i = 0; i < cells; i++) sc[i] = sigmoid_clamp(o[i]);
    tower(h, 1, o);
    for (int i = 0; i < cells; i++) {
        of[i] = o[2 * i];
        of[cells + i] = o[2 * i + 1];
    }
    tower(h, 2, o);
    for (int i = 0; i < cells; i++) {
        sz[i] = sigmoid_clamp(o[2 * i]);
        sz[cells + i] = sigmoid_clamp(o[2 * i + 1]);
    }
    float peak;
    const vssm_box prev = {h->box.x, h->box.y, h->hw, h->hh};
    vssm_box hb;
    vssm_track_head_decode(sc, sz, of, fs, in->search_size, &ci, frame->w, frame->h, &prev, in->size_lr, h->aspect0,
                           in->aspect_lr, &hb, &peak, &h->cell);
    h->hw = hb.w;
    h->hh = hb.h;
    if (h->scale) { /* the hybrid: the size from the scale search at the head's centre */
        const vssm_track_scale_config *c = &in->scale;
        const double hcx = hb.x + 0.5 * hb.w, hcy = hb.y + 0.5 * hb.h;
        vssm_box sb;
        s = vssm_tracker_scale_at(h->scale, frame, hcx, hcy, c->radius, &sb, NULL, NULL, err);
        if (s != VSSM_OK) {
            vssm_err_prefix(err, "track head update");
            return s;
        }
        hb = vssm_track_hybrid_box(&hb, &sb, c->pos_lr, c->aspect_lr, frame->w, frame->h);
    }
    h->box = hb;
    if (box) *box = h->box;
    if (score) *score = peak;
    return VSSM_OK;
}
