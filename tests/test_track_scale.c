/* tests/test_track_scale.c - the correlation tracker's scale step (heads/track.c tracker_step:
 * vssm_tracker_scale_at, the hybrid decoding's scale search, and vssm_tracker_update) against its
 * float64 numpy reference (tests/reference/gen_track_scale_vectors.py), on the small random
 * VMamba of tests/data/track/head_vmamba.safetensors (stage 0: stride 4, 8 channels) and its
 * frame. The template from that frame, the steps on it magnified 1.2 x about the first box's
 * centre (so that other scales than the middle one win). Two cases of two steps each: "hybrid"
 * (the hybrid's settings: template and search crops of factor 2 at 64 px, 3 scales,
 * vssm_tracker_scale_at at a centre 6-8 px off the box's, radius 2: the peak on the searched
 * window's edge in step 2, the smaller scale winning) and "update" (a 32 px template, 64 px search
 * crops of factor 4, 5 scales, pos_lr 0.7, the size clamped to [0.97, 1.03] x the first box's,
 * vssm_tracker_update: the whole map; step 2's largest scale wins and the clamp acts).
 *
 * The step's inputs come from the library's public crop-features API (vssm_crop_feats_run at
 * the boxes the step crops: the first box with the template factor, then n_scales boxes of the
 * current size x step^k around the centre); `--write OUT` dumps them with the C steps' states to
 * OUT, from which the generator computes the reference and writes tests/data/track/scale_step.
 * safetensors. Checked per step: the recomputed inputs equal the fixture's (crop geometry exactly,
 * feature maps max|a-b| / max|b| <= 1e-5: a changed backbone is reported as such, not as a step
 * error), the box within 1e-3 px of the reference's, the raw cosine at the peak within 1e-5, the
 * winning scale equal. The reference takes the float32 maps to float64; the C step centres and
 * correlates in float32, its float64 window norms aside (measured: boxes within 3e-7 px, scores
 * 4e-8). The test fails when the C step drops the parabola, the scale penalty, the scale_lr
 * smoothing, the max_scale clamp, pos_lr or the search maps' centring, changes the Hann window,
 * ignores the window in the candidates, shifts the searched window by a cell, or takes lo / hi
 * over the searched positions only; another penalty value that flips no decision (0.95, 0.99) it
 * cannot see (the penalty acts only through the argmax).
 *
 *   build/test_track_scale --write /tmp/scale_in.safetensors
 *   /usr/bin/python3 tests/reference/gen_track_scale_vectors.py /tmp/scale_in.safetensors
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "vssm/backbone.h"
#include "vssm/ctx.h"
#include "vssm/track.h"
#include "vssm/weights.h"

#define FEAT_TOL 1e-5  /* the recomputed feature maps against the fixture's */
#define BOX_TOL 1e-3   /* px */
#define SCORE_TOL 1e-5 /* the raw cosine at the peak */
#define N_STEPS 2
#define N_CASES 2
#define MAX_OUT 64
#define ZOOM 1.2 /* the steps' frame: the first frame magnified */

typedef struct scase {
    const char *name;
    vssm_tracker_config tc;
    int radius;             /* -1: vssm_tracker_update (the whole map), else vssm_tracker_scale_at */
    double off[N_STEPS][2]; /* scale_at: the centre, off the current box's centre by this (px) */
} scase;

/* what --write collects (all host buffers, freed at the end) */
typedef struct dump {
    vssm_st_entry e[MAX_OUT];
    void *buf[MAX_OUT];
    char *names[MAX_OUT];
    int n;
} dump;

static void *dump_add(dump *d, const char *name, vssm_dtype dt, int ndim, const int64_t *shape, const void *src,
                      size_t bytes) {
    TEST_REQUIRE(d->n < MAX_OUT, "dump: too many tensors");
    void *p = malloc(bytes);
    char *nm = malloc(strlen(name) + 1);
    TEST_REQUIRE(p && nm, "dump: out of memory");
    memcpy(p, src, bytes);
    strcpy(nm, name);
    vssm_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.ndim = ndim;
    for (int i = 0; i < ndim; i++) t.shape[i] = shape[i];
    t.data = p;
    d->e[d->n] = (vssm_st_entry){nm, t};
    d->buf[d->n] = p;
    d->names[d->n] = nm;
    d->n++;
    return p;
}

static const void *get(const vssm_weights *w, const char *name, vssm_dtype dt, int64_t numel) {
    vssm_tensor t;
    vssm_err err = {0};
    if (vssm_weights_get(w, name, &t, &err) != VSSM_OK || t.dtype != dt || vssm_tensor_numel(&t) != numel) {
        TEST_CHECK(0, "fixture tensor %s: %s (dtype %d, %lld values)", name, err.msg, (int)t.dtype,
                   (long long)vssm_tensor_numel(&t));
        return NULL;
    }
    return t.data;
}

static void info_ints(const vssm_crop_info *ci, int n, int32_t *out) {
    for (int k = 0; k < n; k++) {
        out[4 * k] = ci[k].x1;
        out[4 * k + 1] = ci[k].y1;
        out[4 * k + 2] = ci[k].crop_sz;
        out[4 * k + 3] = ci[k].out_sz;
    }
}

/* the inputs one feature crop gives: written (d) or compared with the fixture's (fx) */
static void inputs(const char *tag, const float *feats, size_t nf, const int64_t *fshape, const vssm_crop_info *ci,
                   int n, dump *d, const vssm_weights *fx) {
    char nm[96];
    int32_t ints[4 * 16];
    info_ints(ci, n, ints);
    snprintf(nm, sizeof nm, "%s.feats", tag);
    if (d) {
        dump_add(d, nm, VSSM_DTYPE_F32, 4, fshape, feats, nf * sizeof(float));
        snprintf(nm, sizeof nm, "%s.info", tag);
        const int64_t ishape[2] = {n, 4};
        dump_add(d, nm, VSSM_DTYPE_I32, 2, ishape, ints, sizeof(int32_t) * 4 * n);
        return;
    }
    const float *ref = get(fx, nm, VSSM_DTYPE_F32, (int64_t)nf);
    if (ref) {
        double e = test_rel_err(feats, ref, nf);
        TEST_CHECK(e <= FEAT_TOL, "%s: the step's input features differ from the fixture's: rel err %.3g (tol %g)", tag,
                   e, FEAT_TOL);
    }
    snprintf(nm, sizeof nm, "%s.info", tag);
    const int32_t *ri = get(fx, nm, VSSM_DTYPE_I32, 4 * n);
    TEST_CHECK(ri && memcmp(ri, ints, sizeof(int32_t) * 4 * n) == 0, "%s: crop geometry differs from the fixture's",
               tag);
}

/* the frame magnified by z about (cx, cy) (bilinear, edges clamped): the object grows, so the
 * search's larger scales compete with the template's own */
static void zoom(const vssm_image *src, double z, double cx, double cy, vssm_image *dst) {
    for (int y = 0; y < src->h; y++)
        for (int x = 0; x < src->w; x++) {
            double sx = cx + (x + 0.5 - cx) / z - 0.5, sy = cy + (y + 0.5 - cy) / z - 0.5;
            sx = fmin(fmax(sx, 0.0), src->w - 1.0);
            sy = fmin(fmax(sy, 0.0), src->h - 1.0);
            const int x0 = (int)sx, y0 = (int)sy, x1 = x0 + 1 < src->w ? x0 + 1 : x0,
                      y1 = y0 + 1 < src->h ? y0 + 1 : y0;
            const double fx = sx - x0, fy = sy - y0;
            for (int c = 0; c < 3; c++) {
                const uint8_t *p = src->data;
                double v = (1 - fy) * ((1 - fx) * p[((size_t)y0 * src->w + x0) * 3 + c] +
                                       fx * p[((size_t)y0 * src->w + x1) * 3 + c]) +
                           fy * ((1 - fx) * p[((size_t)y1 * src->w + x0) * 3 + c] +
                                 fx * p[((size_t)y1 * src->w + x1) * 3 + c]);
                dst->data[((size_t)y * src->w + x) * 3 + c] = (uint8_t)floor(v + 0.5);
            }
        }
}

/* init on frame0, the steps on frame */
static void run_case(int ci_, const scase *sc, vssm_backbone *bb, const vssm_preprocess_params *pp,
                     const vssm_image *frame0, const vssm_image *frame, vssm_box box0, dump *d,
                     const vssm_weights *fx) {
    vssm_err err = {0};
    char tag[64], nm[64];
    const vssm_tracker_config *tc = &sc->tc;
    const int S = tc->n_scales;
    vssm_tracker *t = NULL;
    TEST_REQUIRE(vssm_tracker_new_backbone(&t, bb, pp, tc, &err) == VSSM_OK, "%s: %s", sc->name, err.msg);
    vssm_crop_feats *cf = NULL;
    TEST_REQUIRE(vssm_crop_feats_new_backbone(&cf, bb, pp, tc->stage, &err) == VSSM_OK, "%s: %s", sc->name, err.msg);
    int th, tw, C, stride, sh, sw;
    vssm_crop_feats_shape(cf, tc->template_size, &th, &tw, &C, &stride);
    vssm_crop_feats_shape(cf, tc->search_size, &sh, &sw, NULL, NULL);
    float *tm = malloc((size_t)th * tw * C * sizeof(float)), *se = malloc((size_t)S * sh * sw * C * sizeof(float));
    vssm_box *boxes = malloc((size_t)S * sizeof *boxes);
    double *factors = malloc((size_t)S * sizeof(double));
    vssm_crop_info infos[16];
    TEST_REQUIRE(tm && se && boxes && factors && S <= 16, "%s: out of memory", sc->name);
    if (d) {
        const double cfg[15] = {tc->stage,       tc->template_factor,  tc->search_factor, tc->template_size,
                                tc->search_size, tc->n_scales,         tc->scale_step,    tc->scale_penalty,
                                tc->scale_lr,    tc->window_influence, tc->pos_lr,        tc->min_scale,
                                tc->max_scale,   sc->radius,           (double)stride};
        const int64_t s15[1] = {15}, s4[1] = {4}, so[2] = {N_STEPS, 2}, s1[1] = {1};
        const double off = vssm_backbone_stage_offset(bb, tc->stage);
        snprintf(nm, sizeof nm, "c%d.config", ci_);
        dump_add(d, nm, VSSM_DTYPE_F64, 1, s15, cfg, sizeof cfg);
        snprintf(nm, sizeof nm, "c%d.cell_offset", ci_);
        dump_add(d, nm, VSSM_DTYPE_F64, 1, s1, &off, sizeof off);
        snprintf(nm, sizeof nm, "c%d.init", ci_);
        dump_add(d, nm, VSSM_DTYPE_F64, 1, s4, &box0, sizeof box0);
        snprintf(nm, sizeof nm, "c%d.centre_offsets", ci_);
        dump_add(d, nm, VSSM_DTYPE_F64, 2, so, sc->off, sizeof sc->off);
    }
    /* the template: what init crops */
    TEST_REQUIRE(vssm_crop_feats_run(cf, frame0, &box0, &tc->template_factor, 1, tc->template_size, tm, infos, &err) ==
                     VSSM_OK,
                 "%s template: %s", sc->name, err.msg);
    snprintf(tag, sizeof tag, "c%d.tmpl", ci_);
    const int64_t tshape[4] = {1, th, tw, C}, sshape[4] = {S, sh, sw, C};
    inputs(tag, tm, (size_t)th * tw * C, tshape, infos, 1, d, fx);
    TEST_REQUIRE(vssm_tracker_init(t, frame0, box0, &err) == VSSM_OK, "%s init: %s", sc->name, err.msg);
    vssm_box box = box0;
    for (int k = 0; k < N_STEPS; k++) {
        double cx = box.x + 0.5 * box.w, cy = box.y + 0.5 * box.h;
        if (sc->radius >= 0) {
            cx += sc->off[k][0];
            cy += sc->off[k][1];
        }
        /* the step's crops: n_scales boxes of the current size x step^j around (cx, cy) */
        for (int j = 0; j < S; j++) {
            const double s = pow(tc->scale_step, j - (S - 1) / 2.0), w = box.w * s, h = box.h * s;
            boxes[j] = (vssm_box){cx - 0.5 * w, cy - 0.5 * h, w, h};
            factors[j] = tc->search_factor;
        }
        TEST_REQUIRE(vssm_crop_feats_run(cf, frame, boxes, factors, S, tc->search_size, se, infos, &err) == VSSM_OK,
                     "%s step %d crops: %s", sc->name, k + 1, err.msg);
        snprintf(tag, sizeof tag, "c%d.search_%d", ci_, k + 1);
        inputs(tag, se, (size_t)S * sh * sw * C, sshape, infos, S, d, fx);
        vssm_box nb;
        float score = 0;
        double scale = 1.0;
        vssm_status s = sc->radius >= 0 ? vssm_tracker_scale_at(t, frame, cx, cy, sc->radius, &nb, &score, &scale, &err)
                                        : vssm_tracker_update(t, frame, &nb, &score, &err);
        TEST_REQUIRE(s == VSSM_OK, "%s step %d: %s", sc->name, k + 1, err.msg);
        if (d) { /* the C state the next step starts from: the generator checks it reproduces it */
            const int64_t s4[1] = {4}, s1[1] = {1};
            const double sd = score;
            snprintf(nm, sizeof nm, "c%d.c_box_%d", ci_, k + 1);
            dump_add(d, nm, VSSM_DTYPE_F64, 1, s4, &nb, sizeof nb);
            snprintf(nm, sizeof nm, "c%d.c_score_%d", ci_, k + 1);
            dump_add(d, nm, VSSM_DTYPE_F64, 1, s1, &sd, sizeof sd);
        } else {
            snprintf(nm, sizeof nm, "ref.c%d.box_%d", ci_, k + 1);
            const double *rb = get(fx, nm, VSSM_DTYPE_F64, 4);
            if (rb) {
                double e = fmax(fmax(fabs(nb.x - rb[0]), fabs(nb.y - rb[1])),
                                fmax(fabs(nb.w - rb[2]), fabs(nb.h - rb[3])));
                TEST_CHECK(e <= BOX_TOL,
                           "%s step %d: box (%.6f %.6f %.6f %.6f) vs the reference's (%.6f %.6f %.6f %.6f): %.3g px",
                           sc->name, k + 1, nb.x, nb.y, nb.w, nb.h, rb[0], rb[1], rb[2], rb[3], e);
            }
            snprintf(nm, sizeof nm, "ref.c%d.score_%d", ci_, k + 1);
            const double *rs = get(fx, nm, VSSM_DTYPE_F64, 1);
            TEST_CHECK(rs && fabs(score - *rs) <= SCORE_TOL, "%s step %d: score %.7f vs %.7f", sc->name, k + 1, score,
                       rs ? *rs : 0.0);
            snprintf(nm, sizeof nm, "ref.c%d.scale_%d", ci_, k + 1);
            const double *rk = get(fx, nm, VSSM_DTYPE_F64, 1);
            TEST_CHECK(sc->radius < 0 || (rk && fabs(scale - *rk) <= 1e-12), "%s step %d: scale %.6f vs %.6f", sc->name,
                       k + 1, scale, rk ? *rk : 0.0);
        }
        box = nb;
    }
    free(tm);
    free(se);
    free(boxes);
    free(factors);
    vssm_crop_feats_free(cf);
    vssm_tracker_free(t);
}

/* The hybrid's last step (vssm_track_hybrid_box) against tests/reference/gen_track_blend_vectors.py:
 * 400 cases, boxes inside, across and past the frame, below the margin; pos_lr and aspect_lr 0,
 * 1, 0.5 and random. The reference is OSTrack's clip_box and a geometric mean for the aspect in
 * float64 (the C code's exp/log): equal to 1e-9 px. */
static void check_blend(void) {
    char *p = test_data_path("track/hybrid_blend.safetensors");
    vssm_weights *w = NULL;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_weights_open(&w, p, NULL, &err) == VSSM_OK, "%s: %s", p, err.msg);
    vssm_tensor t;
    const int n = vssm_weights_get(w, "out", &t, &err) == VSSM_OK ? (int)t.shape[0] : 0;
    const double *in = get(w, "in", VSSM_DTYPE_F64, (int64_t)n * 8), *lr = get(w, "lr", VSSM_DTYPE_F64, (int64_t)n * 2),
                 *fr = get(w, "frame", VSSM_DTYPE_F64, (int64_t)n * 2),
                 *ex = get(w, "out", VSSM_DTYPE_F64, (int64_t)n * 4);
    TEST_REQUIRE(n >= 100 && in && lr && fr && ex, "%s: in, lr, frame, out (%d cases)", p, n);
    double worst = 0;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        const double *v = in + 8 * i;
        const vssm_box hb = {v[0], v[1], v[2], v[3]}, sb = {v[4], v[5], v[6], v[7]};
        const vssm_box b = vssm_track_hybrid_box(&hb, &sb, lr[2 * i], lr[2 * i + 1], (int)fr[2 * i],
                                                 (int)fr[2 * i + 1]);
        const double got[4] = {b.x, b.y, b.w, b.h};
        int off = 0;
        for (int k = 0; k < 4; k++) {
            const double e = fabs(got[k] - ex[4 * i + k]);
            if (e > worst) worst = e;
            if (!(e <= 1e-9)) off = 1; /* NaN too */
        }
        if (off && bad++ < 5)
            TEST_CHECK(0, "hybrid blend case %d: %.9f %.9f %.9f %.9f, reference %.9f %.9f %.9f %.9f", i, got[0], got[1],
                       got[2], got[3], ex[4 * i], ex[4 * i + 1], ex[4 * i + 2], ex[4 * i + 3]);
    }
    TEST_CHECK(bad == 0, "hybrid blend: %d of %d cases off by more than 1e-9 px", bad, n);
    printf("  hybrid blend: %d cases, max |C - reference| %.2e px\n", n, worst);
    vssm_weights_close(w);
    free(p);
}

int main(int argc, char **argv) {
    const char *out = argc == 3 && strcmp(argv[1], "--write") == 0 ? argv[2] : NULL;
    TEST_REQUIRE(argc == 1 || out, "usage: test_track_scale [--write OUT.safetensors]");
    vssm_ctx *ctx = NULL;
    vssm_err err = {0};
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = 1;
    TEST_REQUIRE(vssm_ctx_new(&ctx, &o, &err) == VSSM_OK, "ctx: %s", err.msg);
    char *mp = test_data_path("track/head_vmamba.safetensors");
    vssm_weights *mw = NULL, *fx = NULL;
    TEST_REQUIRE(vssm_weights_open(&mw, mp, NULL, &err) == VSSM_OK, "%s: %s", mp, err.msg);
    char *fp = test_data_path("track/scale_step.safetensors");
    TEST_REQUIRE(out || vssm_weights_open(&fx, fp, NULL, &err) == VSSM_OK, "%s: %s", fp, err.msg);
    vssm_backbone *bb = NULL;
    vssm_preprocess_params pp;
    TEST_REQUIRE(vssm_backbone_load_source(&bb, ctx, vssm_weights_source(mw), NULL, &pp, &err) == VSSM_OK,
                 "backbone: %s", err.msg);
    const uint8_t *fr = get(mw, "frame", VSSM_DTYPE_U8, 96 * 128 * 3);
    const double *b0 = get(mw, "ref.init", VSSM_DTYPE_F64, 4);
    TEST_REQUIRE(fr && b0, "head_vmamba: frame, ref.init");
    const vssm_image frame = {128, 96, 3, (uint8_t *)fr};
    const vssm_box box0 = {b0[0], b0[1], b0[2], b0[3]};
    vssm_image zf = {128, 96, 3, malloc((size_t)128 * 96 * 3)};
    TEST_REQUIRE(zf.data, "out of memory");
    zoom(&frame, ZOOM, box0.x + 0.5 * box0.w, box0.y + 0.5 * box0.h, &zf);

    scase cases[N_CASES];
    /* the hybrid's tracker (heads/track_head.c make_scale) at 64 px, stage 0 */
    cases[0].name = "hybrid";
    cases[0].tc = vssm_tracker_config_default();
    cases[0].tc.stage = 0;
    cases[0].tc.template_factor = 2.0;
    cases[0].tc.template_size = 64;
    cases[0].tc.search_factor = 2.0;
    cases[0].tc.search_size = 64;
    cases[0].tc.n_scales = 3;
    cases[0].tc.scale_step = 1.0375;
    cases[0].tc.scale_lr = 0.59;
    cases[0].tc.pos_lr = 1.0;
    cases[0].radius = 2;
    const double off0[N_STEPS][2] = {{6.0, -5.0}, {-5.0, 4.0}};
    memcpy(cases[0].off, off0, sizeof off0);
    /* the plain update with a wider pyramid, position smoothing and a tight size clamp */
    cases[1].name = "update";
    cases[1].tc = vssm_tracker_config_default();
    cases[1].tc.stage = 0;
    cases[1].tc.template_size = 32;
    cases[1].tc.search_size = 64;
    cases[1].tc.n_scales = 5;
    cases[1].tc.scale_step = 1.1;
    cases[1].tc.scale_penalty = 0.97;
    cases[1].tc.scale_lr = 0.8;
    cases[1].tc.window_influence = 0.4;
    cases[1].tc.pos_lr = 0.7;
    cases[1].tc.min_scale = 0.97;
    cases[1].tc.max_scale = 1.03;
    cases[1].radius = -1;
    memset(cases[1].off, 0, sizeof cases[1].off);

    if (!out) check_blend();
    dump d;
    memset(&d, 0, sizeof d);
    for (int c = 0; c < N_CASES; c++) run_case(c, &cases[c], bb, &pp, &frame, &zf, box0, out ? &d : NULL, fx);
    if (out) {
        char fw[16], fh[16];
        snprintf(fw, sizeof fw, "%d", frame.w);
        snprintf(fh, sizeof fh, "%d", frame.h);
        const vssm_st_meta meta[3] = {{"frame_w", fw}, {"frame_h", fh}, {"cases", "hybrid,update"}};
        TEST_REQUIRE(vssm_safetensors_write(out, d.e, d.n, meta, 3, &err) == VSSM_OK, "%s: %s", out, err.msg);
        for (int i = 0; i < d.n; i++) {
            free(d.buf[i]);
            free(d.names[i]);
        }
    }
    free(zf.data);
    vssm_backbone_free(bb);
    if (fx) vssm_weights_close(fx);
    vssm_weights_close(mw);
    free(mp);
    free(fp);
    vssm_ctx_free(ctx);
    return test_finish("test_track_scale");
}
