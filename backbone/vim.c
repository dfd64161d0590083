/* backbone/vim.c - the Vision Mamba (Vim) backbone: config, weights, activation plan,
 * forward pass (vssm/vim.h).
 *
 * Official names and shapes (prefix omitted), D = embed_dim, Di = d_inner, R = dt_rank,
 * N = d_state, K = d_conv, M0 = pos grid size:
 *   patch_embed.proj.weight (D, C, P, P) .bias (D)   cls_token (1, 1, D)   pos_embed (1, M0+1, D)
 *   layers.i.norm.weight (D)                        RMSNorm (no bias)
 *   layers.i.mixer.in_proj.weight (2Di, D)          no bias
 *   layers.i.mixer.conv1d.weight (Di, 1, K) .bias   conv1d_b.* the same
 *   layers.i.mixer.x_proj.weight (R+2N, Di)         x_proj_b.weight the same
 *   layers.i.mixer.dt_proj.weight (Di, R) .bias     dt_proj_b.* the same
 *   layers.i.mixer.A_log (Di, N)  .D (Di)           A_b_log, D_b the same
 *   layers.i.mixer.out_proj.weight (D, Di)          no bias
 *   norm_f.weight (D)   (head.weight/.bias: the classifier's, heads/classify.c)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backbone/load.h"
#include "backbone/backbone_internal.h"
#include "backbone/vim_internal.h"

/* ======================================================================= configs */

static const struct {
    const char *name;
    int D, stride, grid;
} presets[] = {
    {"vim-tiny", 192, 16, 14},        {"vim-small", 384, 16, 14},        {"vim-base", 768, 16, 14},
    {"vim-tiny-stride8", 192, 8, 27}, {"vim-small-stride8", 384, 8, 27},
};

vssm_status vssm_vim_config_preset(vssm_vim_config *cfg, const char *name, vssm_err *err) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        if (strcmp(presets[i].name, name) != 0) continue;
        memset(cfg, 0, sizeof *cfg);
        snprintf(cfg->arch, sizeof cfg->arch, "%s", name);
        cfg->in_chans = 3;
        cfg->patch_size = 16;
        cfg->stride = presets[i].stride;
        cfg->pos_grid_h = cfg->pos_grid_w = presets[i].grid;
        cfg->embed_dim = presets[i].D;
        cfg->depth = 24;
        cfg->d_inner = 2 * presets[i].D;
        cfg->d_state = 16;
        cfg->d_conv = 4;
        cfg->num_classes = 1000;
        snprintf(cfg->bimamba_type, sizeof cfg->bimamba_type, "v2");
        cfg->rms_norm = 1;
        cfg->cls_token_middle = 1;
        cfg->divide_out = 1;
        cfg->norm_eps = 1e-5f;
        return VSSM_OK;
    }
    char names[256] = "";
    for (size_t i = 0, o = 0; i < sizeof presets / sizeof presets[0] && o < sizeof names; i++)
        o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "", presets[i].name);
    return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "unknown Vim arch '%s' (known: %s)", name, names);
}

int vssm_vim_preset_count(void) { return (int)(sizeof presets / sizeof presets[0]); }
const char *vssm_vim_preset_name(int i) { return i >= 0 && i < vssm_vim_preset_count() ? presets[i].name : NULL; }

vssm_status vssm_vim_config_validate(const vssm_vim_config *c, vssm_err *err) {
    if (strcmp(c->bimamba_type, "v2") != 0)
        return vssm_err_set(
            err, VSSM_ERR_UNSUPPORTED,
            "Vim bimamba_type '%s' is not supported (only 'v2': separate conv1d_b/x_proj_b/dt_proj_b/A_b_log/D_b)",
            c->bimamba_type);
    if (c->rms_norm != 1)
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED,
                            "Vim with rms_norm False (LayerNorm blocks) is not supported (only RMSNorm)");
    if (c->cls_token_middle != 1 && !c->no_cls_token)
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED,
                            "Vim without a middle class token is not supported (only use_middle_cls_token True)");
    if (c->no_cls_token && c->num_classes > 0)
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED,
                            "a Vim without a class token (the segmentation backbone) has no classification head here "
                            "(num_classes %d)",
                            c->num_classes);
    if (c->n_out < 0 || c->n_out > VSSM_VIM_MAX_OUT)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "Vim config: n_out = %d is out of range [0, %d]", c->n_out,
                            VSSM_VIM_MAX_OUT);
    for (int k = 0; k < c->n_out; k++)
        if (c->out_indices[k] < 0 || c->out_indices[k] >= c->depth)
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "Vim config: out_indices[%d] = %d is not a block (depth %d)",
                                k, c->out_indices[k], c->depth);
    struct {
        const char *what;
        int v, lo, hi;
    } r[] = {
        {"in_chans", c->in_chans, 1, 64},
        {"patch_size", c->patch_size, 1, 64},
        {"stride", c->stride, 1, 64},
        {"pos_grid_h", c->pos_grid_h, 1, 1024},
        {"pos_grid_w", c->pos_grid_w, 1, 1024},
        {"embed_dim", c->embed_dim, 1, 16384},
        {"depth", c->depth, 1, 1024},
        {"d_inner", c->d_inner, 1, 65536},
        {"d_state", c->d_state, 1, VSSM_SCAN_MAX_STATE},
        {"dt_rank", c->dt_rank, 0, 65536},
        {"d_conv", c->d_conv, 1, 64},
        {"num_classes", c->num_classes, 0, 1 << 20},
        {"divide_out", c->divide_out, 0, 1},
        {"no_cls_token", c->no_cls_token, 0, 1},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        if (r[i].v < r[i].lo || r[i].v > r[i].hi)
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "Vim config: %s = %d is out of range [%d, %d]", r[i].what,
                                r[i].v, r[i].lo, r[i].hi);
    if (!(c->norm_eps > 0 && c->norm_eps < 1))
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "Vim config: norm_eps %g is out of range (0, 1)",
                            (double)c->norm_eps);
    return VSSM_OK;
}

int vssm_vim_dt_rank(const vssm_vim_config *c) { return c->dt_rank > 0 ? c->dt_rank : (c->embed_dim + 15) / 16; }

void vssm_vim_grid(const vssm_vim_config *c, int h, int w, int *gh, int *gw) {
    *gh = h >= c->patch_size ? (h - c->patch_size) / c->stride + 1 : 0;
    *gw = w >= c->patch_size ? (w - c->patch_size) / c->stride + 1 : 0;
    if (!*gh || !*gw) *gh = *gw = 0;
}

static double layer_macs(const vssm_vim_config *c, double L) {
    const double D = c->embed_dim, Di = c->d_inner, R = vssm_vim_dt_rank(c), N = c->d_state, K = c->d_conv;
    /* in_proj, out_proj; per direction: conv, x_proj, dt_proj, scan (~3 per state), gate */
    return L * (2 * D * Di + Di * D + 2 * (Di * K + Di * (R + 2 * N) + Di * R + 3 * Di * N + Di));
}

double vssm_vim_macs(const vssm_vim_config *c, int h, int w) {
    int gh, gw;
    vssm_vim_grid(c, h, w, &gh, &gw);
    const double M = (double)gh * gw, L = M + !c->no_cls_token;
    return M * c->embed_dim * (double)c->in_chans * c->patch_size * c->patch_size + c->depth * layer_macs(c, L) +
           (double)c->embed_dim * c->num_classes;
}

/* ======================================================================= position embedding */

/* torch's bicubic (upsample_bicubic2d, align_corners False): Keys kernel A = -0.75,
 * source = (i + 0.5) * in/out - 0.5 (not clamped), taps at floor(source) - 1 .. + 2
 * clamped to the border. */
static void cubic_coeffs(double t, double w[4]) {
    const double A = -0.75;
    double x;
    x = t + 1;
    w[0] = ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    x = t;
    w[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
    x = 1 - t;
    w[2] = ((A + 2) * x - (A + 3)) * x * x + 1;
    x = 2 - t;
    w[3] = ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* pos: a table of gh0*gw0 grid rows with, when c0 >= 0, a class row at index c0 ->
 * out: the gh x gw grid rows with, when c >= 0, that class row at index c. */
static void pos_resample(const float *pos, int64_t c0, int gh0, int gw0, int D, int gh, int gw, int64_t c, float *out) {
    const int64_t M = (int64_t)gh * gw;
    /* grid row m of the stored table (class row skipped), and of the output */
#define GRID(m) (pos + (size_t)(c0 >= 0 && (m) >= c0 ? (m) + 1 : (m)) * D)
#define OUT(m) (out + (size_t)(c >= 0 && (m) >= c ? (m) + 1 : (m)) * D)
    if (gh == gh0 && gw == gw0) {
        for (int64_t m = 0; m < M; m++) memcpy(OUT(m), GRID(m), (size_t)D * sizeof(float));
    } else {
        const double sy = (double)gh0 / gh, sx = (double)gw0 / gw;
        for (int oy = 0; oy < gh; oy++) {
            const double ry = (oy + 0.5) * sy - 0.5;
            const int iy = (int)floor(ry);
            double wy[4];
            cubic_coeffs(ry - iy, wy);
            for (int ox = 0; ox < gw; ox++) {
                const double rx = (ox + 0.5) * sx - 0.5;
                const int ix = (int)floor(rx);
                double wx[4];
                cubic_coeffs(rx - ix, wx);
                float *o = OUT((int64_t)oy * gw + ox);
                for (int d = 0; d < D; d++) {
                    double acc = 0;
                    for (int a = 0; a < 4; a++) {
                        const int y = clampi(iy - 1 + a, 0, gh0 - 1);
                        double row = 0;
                        for (int b = 0; b < 4; b++)
                            row += wx[b] * GRID((int64_t)y * gw0 + clampi(ix - 1 + b, 0, gw0 - 1))[d];
                        acc += wy[a] * row;
                    }
                    o[d] = (float)acc;
                }
            }
        }
    }
    if (c >= 0) memcpy(out + (size_t)c * D, pos + (size_t)c0 * D, (size_t)D * sizeof(float));
#undef GRID
#undef OUT
}

void vssm_vim_pos_resample(const float *pos, int gh0, int gw0, int D, int gh, int gw, float *out) {
    pos_resample(pos, (int64_t)gh0 * gw0 / 2, gh0, gw0, D, gh, gw, (int64_t)gh * gw / 2, out);
}

/* the model's position table resampled to gh x gw: grid rows only (with_cls 0), or with the
 * class row at M/2 (with_cls 1, models with a class token) */
static void model_pos(const vssm_vim *m, int gh, int gw, int with_cls, float *out) {
    const vssm_vim_config *c = &m->cfg;
    const int64_t c0 = c->no_cls_token ? -1 : (int64_t)c->pos_grid_h * c->pos_grid_w / 2;
    pos_resample(m->pos_host, c0, c->pos_grid_h, c->pos_grid_w, c->embed_dim, gh, gw,
                 with_cls && c0 >= 0 ? (int64_t)gh * gw / 2 : -1, out);
}

/* ======================================================================= weights: one walk */

#define VISIT(nm, xf, slot, ...) VSSM_VISIT(w, nm, xf, 1, slot, __VA_ARGS__)

int vssm_vim_walk(vssm_walker *w, const void *config, void *model) {
    const vssm_vim_config *c = config;
    vssm_vim *m = model;
    const int64_t D = c->embed_dim, Di = c->d_inner, R = vssm_vim_dt_rank(c), N = c->d_state, K = c->d_conv;
    const int64_t P = c->patch_size, M0 = (int64_t)c->pos_grid_h * c->pos_grid_w;
    char nm[160];
    VISIT("patch_embed.proj.weight", VSSM_XF_LINEAR, &m->pe_w, D, c->in_chans, P, P);
    VISIT("patch_embed.proj.bias", VSSM_XF_PLAIN, &m->pe_b, D);
    if (!c->no_cls_token) VISIT("cls_token", VSSM_XF_PLAIN, &m->cls, 1, 1, D);
    VISIT("pos_embed", VSSM_XF_PLAIN, &m->pos_dev, 1, M0 + !c->no_cls_token, D);
    static const char *const sfx[2] = {"", "_b"};
    for (int i = 0; i < c->depth; i++) {
        vssm_vim_layer_w dummy, *l = m->layers ? &m->layers[i] : &dummy;
#define NM(...) (snprintf(nm, sizeof nm, __VA_ARGS__), nm)
        VISIT(NM("layers.%d.norm.weight", i), VSSM_XF_PLAIN, &l->norm_w, D);
        VISIT(NM("layers.%d.mixer.in_proj.weight", i), VSSM_XF_LINEAR, &l->in_proj, 2 * Di, D);
        for (int d = 0; d < 2; d++) {
            vssm_vim_dir_w *dw = &l->dir[d];
            VISIT(NM("layers.%d.mixer.conv1d%s.weight", i, sfx[d]), VSSM_XF_T, &dw->conv_w, Di, 1, K);
            VISIT(NM("layers.%d.mixer.conv1d%s.bias", i, sfx[d]), VSSM_XF_PLAIN, &dw->conv_b, Di);
            VISIT(NM("layers.%d.mixer.x_proj%s.weight", i, sfx[d]), VSSM_XF_LINEAR, &dw->x_proj, R + 2 * N, Di);
            VISIT(NM("layers.%d.mixer.dt_proj%s.weight", i, sfx[d]), VSSM_XF_T, &dw->dt_w, Di, R);
            VISIT(NM("layers.%d.mixer.dt_proj%s.bias", i, sfx[d]), VSSM_XF_PLAIN, &dw->dt_b, Di);
            VISIT(NM(d ? "layers.%d.mixer.A_b_log" : "layers.%d.mixer.A_log", i), VSSM_XF_NEG_EXP_T, &dw->A, Di, N);
            VISIT(NM(d ? "layers.%d.mixer.D_b" : "layers.%d.mixer.D", i), VSSM_XF_PLAIN, &dw->Ds, Di);
        }
        VISIT(NM("layers.%d.mixer.out_proj.weight", i), c->divide_out ? VSSM_XF_HALF_LINEAR : VSSM_XF_LINEAR,
              &l->out_proj, D, Di);
#undef NM
    }
    VISIT("norm_f.weight", VSSM_XF_PLAIN, &m->norm_f, D);
    return 0;
}

int64_t vssm_vim_param_count(const vssm_vim_config *cfg) {
    vssm_vim m;
    memset(&m, 0, sizeof m);
    /* + the classifier's linear on the class token (heads/classify.c) */
    return vssm_load_param_count(vssm_vim_walk, cfg, &m) +
           (cfg->num_classes > 0 ? (int64_t)cfg->num_classes * (cfg->embed_dim + 1) : 0);
}

/* the position table is also kept on the host, resampled per state */
static void keep_pos(void *model, float *const *slot, const float *host, int64_t n) {
    vssm_vim *m = model;
    if (slot == &m->pos_dev) memcpy(m->pos_host, host, (size_t)n * sizeof(float));
}

void vssm_vim_free(vssm_vim *m) {
    if (!m) return;
    if (m->arena) vssm_op_free(m->ctx, m->arena);
    free(m->layers);
    free(m->pos_host);
    free(m);
}

vssm_status vssm_vim_load(vssm_vim **out, vssm_ctx *ctx, const vssm_vim_config *cfg, const vssm_source *src,
                          const char *prefix, vssm_err *err) {
    *out = NULL;
    vssm_status s = vssm_vim_config_validate(cfg, err);
    if (s != VSSM_OK) return s;
    vssm_vim *m = calloc(1, sizeof *m);
    if (!m) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    m->cfg = *cfg;
    m->ctx = ctx;
    m->layers = calloc((size_t)cfg->depth, sizeof *m->layers);
    m->pos_host = malloc(((size_t)cfg->pos_grid_h * cfg->pos_grid_w + 1) * cfg->embed_dim *
                         sizeof(float)); /* + 1: with or without a class row */
    if (!m->layers || !m->pos_host) {
        vssm_vim_free(m);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    }
    const vssm_load_spec ls = {vssm_vim_walk, cfg, m, "Vim", keep_pos};
    void *arena = NULL;
    if ((s = vssm_load_weights(ctx, src, prefix, &ls, &arena, &m->arena_bytes, &m->n_params, err)) != VSSM_OK) {
        vssm_vim_free(m);
        return s;
    }
    m->arena = arena;
    *out = m;
    return VSSM_OK;
}

const vssm_vim_config *vssm_vim_get_config(const vssm_vim *m) { return &m->cfg; }
vssm_ctx *vssm_vim_ctx(const vssm_vim *m) { return m->ctx; }

/* ======================================================================= activations */

void vssm_vim_state_free(vssm_vim_state *st) {
    if (!st) return;
    vssm_ctx *ctx = st->m->ctx;
    float *bufs[] = {st->in, st->in2, st->cols, st->pos,  st->x,   st->ln,        st->xz,
                     st->u,  st->y,   st->xdbl, st->feat, st->cls, st->tap_embed, st->tap_b0};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) vssm_op_free(ctx, bufs[i]);
    for (int k = 0; k < VSSM_VIM_MAX_OUT; k++) vssm_op_free(ctx, st->outs[k]);
    free(st);
}

static float *state_alloc(vssm_vim_state *st, size_t floats, int *fail) {
    const size_t bytes = floats * sizeof(float);
    void *p = vssm_op_alloc(st->m->ctx, bytes ? bytes : 1);
    if (!p) *fail = 1;
    st->bytes += bytes;
    return p;
}

/* Common planning once the sequence is known; pos_host (L, D) is uploaded here. */
static vssm_status plan(vssm_vim_state *st, const float *pos_host, vssm_err *err) {
    vssm_vim *m = st->m;
    const vssm_vim_config *c = &m->cfg;
    const size_t B = st->B, L = st->L, D = c->embed_dim, Di = c->d_inner;
    const size_t KC = (size_t)c->in_chans * c->patch_size * c->patch_size, C2 = vssm_vim_dt_rank(c) + 2 * c->d_state;
    int fail = 0;
    st->in = state_alloc(st, B * st->H * st->W * c->in_chans, &fail);
    if (st->onestream) st->in2 = state_alloc(st, B * st->zh * st->zw * c->in_chans, &fail);
    st->cols = state_alloc(st, B * L * KC, &fail);
    st->pos = state_alloc(st, L * D, &fail);
    st->x = state_alloc(st, B * L * D, &fail);
    st->ln = state_alloc(st, B * L * D, &fail);
    st->xz = state_alloc(st, B * L * 2 * Di, &fail);
    st->u = state_alloc(st, 2 * B * L * Di, &fail); /* both directions' (scanned in one call) */
    st->y = state_alloc(st, B * L * Di, &fail);
    st->xdbl = state_alloc(st, 2 * B * L * C2, &fail);
    st->feat = state_alloc(st, B * st->M * D, &fail);
    st->cls = state_alloc(st, B * D, &fail);
    for (int k = 0; k < c->n_out; k++) st->outs[k] = state_alloc(st, B * st->M * D, &fail);
    if (fail) {
        size_t need = st->bytes;
        return vssm_err_set(err, VSSM_ERR_NOMEM,
                            "out of memory planning %.1f MB of Vim activations for batch %d, %lld tokens", need / 1e6,
                            st->B, (long long)st->L);
    }
    /* class-token rows of cols are never written by patchify: make them 0 once */
    float *zeros = calloc(B * L * KC, sizeof(float));
    if (!zeros) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    int bad = vssm_op_upload(m->ctx, st->cols, zeros, B * L * KC * sizeof(float)) != 0 ||
              vssm_op_upload(m->ctx, st->pos, pos_host, L * D * sizeof(float)) != 0;
    free(zeros);
    if (bad) return vssm_err_set(err, VSSM_ERR_DEVICE, "uploading to the device failed");
    return VSSM_OK;
}

static vssm_status check_size(const vssm_vim_config *c, const char *what, int h, int w, int *gh, int *gw,
                              vssm_err *err) {
    if (h < 1 || w < 1 || h > VSSM_INPUT_MAX_SIDE || w > VSSM_INPUT_MAX_SIDE)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s size %dx%d out of range [1, %d]", what, h, w,
                            VSSM_INPUT_MAX_SIDE);
    vssm_vim_grid(c, h, w, gh, gw);
    if (*gh == 0)
        return vssm_err_set(err, VSSM_ERR_SHAPE, "%s size %dx%d is smaller than one %dx%d patch", what, h, w,
                            c->patch_size, c->patch_size);
    return VSSM_OK;
}

vssm_status vssm_vim_state_new(vssm_vim_state **out, vssm_vim *m, int batch, int h, int w, vssm_err *err) {
    *out = NULL;
    if (batch < 1 || batch > 65536)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "batch size %d out of range [1, 65536]", batch);
    const vssm_vim_config *c = &m->cfg;
    int gh, gw;
    vssm_status s = check_size(c, "input", h, w, &gh, &gw, err);
    if (s != VSSM_OK) return s;
    vssm_vim_state *st = calloc(1, sizeof *st);
    float *pos = malloc(((size_t)gh * gw + 1) * c->embed_dim * sizeof(float));
    if (!st || !pos) {
        free(st);
        free(pos);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    }
    st->m = m;
    st->B = batch;
    st->H = h;
    st->W = w;
    st->gh = gh;
    st->gw = gw;
    st->M = (int64_t)gh * gw;
    st->L = st->M + !c->no_cls_token;
    st->cls_row = c->no_cls_token ? -1 : st->M / 2; /* the official token_position = M // 2 */
    model_pos(m, gh, gw, 1, pos);
    s = plan(st, pos, err);
    free(pos);
    if (s != VSSM_OK) {
        vssm_vim_state_free(st);
        return s;
    }
    *out = st;
    return VSSM_OK;
}

vssm_status vssm_vim_state_new_onestream(vssm_vim_state **out, vssm_vim *m, int batch, int zh, int zw, int xh, int xw,
                                         vssm_err *err) {
    *out = NULL;
    if (batch < 1 || batch > 65536)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "batch size %d out of range [1, 65536]", batch);
    const vssm_vim_config *c = &m->cfg;
    const int D = c->embed_dim;
    int zgh, zgw, gh, gw;
    vssm_status s;
    if ((s = check_size(c, "template", zh, zw, &zgh, &zgw, err)) != VSSM_OK ||
        (s = check_size(c, "search", xh, xw, &gh, &gw, err)) != VSSM_OK)
        return s;
    const int64_t Mz = (int64_t)zgh * zgw, Mx = (int64_t)gh * gw;
    vssm_vim_state *st = calloc(1, sizeof *st);
    float *pos = malloc((size_t)(Mz + Mx) * D * sizeof(float));
    if (!st || !pos) {
        free(st);
        free(pos);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    }
    st->m = m;
    st->B = batch;
    st->onestream = 1;
    st->H = xh;
    st->W = xw;
    st->gh = gh;
    st->gw = gw;
    st->zh = zh;
    st->zw = zw;
    st->zgh = zgh;
    st->zgw = zgw;
    st->M = Mx;
    st->L = Mz + Mx;
    st->cls_row = -1;
    /* each image's grid rows of its resampled table, class rows dropped */
    model_pos(m, zgh, zgw, 0, pos);
    model_pos(m, gh, gw, 0, pos + (size_t)Mz * D);
    s = plan(st, pos, err);
    free(pos);
    if (s != VSSM_OK) {
        vssm_vim_state_free(st);
        return s;
    }
    *out = st;
    return VSSM_OK;
}

size_t vssm_vim_state_bytes(const vssm_vim_state *st) { return st->bytes; }

/* ======================================================================= forward */

/* x = x + out_proj(y_f + y_b) (1/2 folded into out_proj), y_d = scan_d(SiLU(conv_d(x_in))) * SiLU(z).
 * keep: the mixer output out_proj(...) is left in st->ln (free once in_proj has read it)
 * and then added to x, instead of being accumulated into x directly. */
static void vim_layer(vssm_vim *m, vssm_vim_state *st, const vssm_vim_layer_w *l, int keep) {
    vssm_ctx *ctx = m->ctx;
    const vssm_vim_config *c = &m->cfg;
    const int D = c->embed_dim, Di = c->d_inner, R = vssm_vim_dt_rank(c), N = c->d_state;
    const int64_t T = (int64_t)st->B * st->L;
    vssm_op_rmsnorm(ctx, st->x, T, D, l->norm_w, c->norm_eps, st->ln);
    vssm_op_linear_packed(ctx, st->ln, T, D, l->in_proj, NULL, 2 * Di, VSSM_ACT_NONE, 0, st->xz);
    vssm_scan1d_args a[2];
    for (int d = 0; d < 2; d++) {
        const vssm_vim_dir_w *w = &l->dir[d];
        float *u = st->u + (size_t)d * T * Di, *xdbl = st->xdbl + (size_t)d * T * (R + 2 * N);
        vssm_op_conv1d(ctx, st->xz, 2 * Di, st->B, st->L, Di, w->conv_w, w->conv_b, c->d_conv, d, VSSM_ACT_SILU, u);
        vssm_op_linear_packed(ctx, u, T, Di, w->x_proj, NULL, R + 2 * N, VSSM_ACT_NONE, 0, xdbl);
        a[d] = (vssm_scan1d_args){st->B,       Di,     R,       N,       st->L, d,     d,     u,    xdbl,
                                  st->xz + Di, 2 * Di, w->dt_w, w->dt_b, w->A,  w->Ds, st->y, NULL, NULL};
    }
    a[0].next = &a[1];     /* both directions in one call: y = scan_f, then += scan_b, as two calls */
    a[0].zs = st->xz + Di; /* SiLU(z) once, in place: z is not read after the scan */
    vssm_op_scan1d(ctx, &a[0]);
    if (!keep) {
        vssm_op_linear_packed(ctx, st->y, T, Di, l->out_proj, NULL, D, VSSM_ACT_NONE, 1, st->x);
        return;
    }
    vssm_op_linear_packed(ctx, st->y, T, Di, l->out_proj, NULL, D, VSSM_ACT_NONE, 0, st->ln);
    vssm_op_rows_add(ctx, st->x, 1, T, D, st->ln, -1, NULL);
}

/* the M grid rows of every image of src (B*L, D) -> dst (B, M, D): the class row skipped,
 * or (no class row) the last M rows: all of them, or the search tokens in one-stream mode */
static void grid_rows(vssm_vim_state *st, const float *src, float *dst) {
    vssm_ctx *ctx = st->m->ctx;
    const int64_t D = st->m->cfg.embed_dim, L = st->L, M = st->M, cr = st->cls_row;
    const size_t row = (size_t)D * sizeof(float);
    for (int b = 0; b < st->B; b++) {
        const float *s = src + (size_t)b * L * D;
        float *d = dst + (size_t)b * M * D;
        if (cr < 0) {
            vssm_op_copy(ctx, d, s + (size_t)(L - M) * D, (size_t)M * row);
        } else {
            vssm_op_copy(ctx, d, s, (size_t)cr * row);
            vssm_op_copy(ctx, d + (size_t)cr * D, s + (size_t)(cr + 1) * D, (size_t)(M - cr) * row);
        }
    }
}

static vssm_status run(vssm_vim *m, vssm_vim_state *st, vssm_err *err) {
    vssm_ctx *ctx = m->ctx;
    const vssm_vim_config *c = &m->cfg;
    const int D = c->embed_dim, B = st->B, KC = c->in_chans * c->patch_size * c->patch_size;
    const int64_t T = (int64_t)B * st->L;
    const size_t tok_bytes = (size_t)T * D * sizeof(float), row = (size_t)D * sizeof(float);
    vssm_op_linear_packed(ctx, st->cols, T, KC, m->pe_w, m->pe_b, D, VSSM_ACT_NONE, 0, st->x);
    vssm_op_rows_add(ctx, st->x, B, st->L, D, st->pos, st->cls_row, m->cls);
    if (st->tap_embed) vssm_op_copy(ctx, st->tap_embed, st->x, tok_bytes);
    for (int i = 0; i < c->depth; i++) {
        int keep = -1;
        for (int k = 0; k < c->n_out; k++)
            if (c->out_indices[k] == i) keep = k;
        vim_layer(m, st, &m->layers[i], keep >= 0);
        if (keep >= 0) { /* the same block may be listed twice */
            grid_rows(st, st->ln, st->outs[keep]);
            for (int k = 0; k < keep; k++)
                if (c->out_indices[k] == i) vssm_op_copy(ctx, st->outs[k], st->outs[keep], (size_t)B * st->M * row);
        }
        if (i == 0 && st->tap_b0) vssm_op_copy(ctx, st->tap_b0, st->x, tok_bytes);
    }
    vssm_op_rmsnorm(ctx, st->x, T, D, m->norm_f, c->norm_eps, st->ln);
    /* split the final tokens: class token rows, and the feature grid without them */
    grid_rows(st, st->ln, st->feat);
    if (st->cls_row >= 0)
        for (int b = 0; b < B; b++)
            vssm_op_copy(ctx, st->cls + (size_t)b * D, st->ln + ((size_t)b * st->L + st->cls_row) * D, row);
    return vssm_op_status(ctx, "the Vim forward pass", err);
}

vssm_status vssm_vim_forward(vssm_vim *m, vssm_vim_state *st, const float *input, vssm_err *err) {
    if (!m || !st || !input) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "vssm_vim_forward: NULL argument");
    if (st->m != m) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "vssm_vim_forward: state belongs to another model");
    if (st->onestream)
        return vssm_err_set(
            err, VSSM_ERR_INVALID_ARG,
            "vssm_vim_forward: the state is a one-stream (tracking) state; use vssm_vim_forward_onestream");
    const vssm_vim_config *c = &m->cfg;
    if (vssm_op_upload(m->ctx, st->in, input, (size_t)st->B * st->H * st->W * c->in_chans * sizeof(float)) != 0)
        return vssm_err_set(err, VSSM_ERR_DEVICE, "uploading the input to the device failed");
    vssm_patch_args pa = {st->B, st->H, st->W,       c->in_chans, c->patch_size, c->stride,
                          st->L, 0,     st->cls_row, st->in,      st->cols};
    vssm_op_patchify(m->ctx, &pa);
    return run(m, st, err);
}

vssm_status vssm_vim_forward_onestream(vssm_vim *m, vssm_vim_state *st, const float *templ, const float *search,
                                       vssm_err *err) {
    if (!m || !st || !templ || !search)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "vssm_vim_forward_onestream: NULL argument");
    if (st->m != m)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "vssm_vim_forward_onestream: state belongs to another model");
    if (!st->onestream)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                            "vssm_vim_forward_onestream: the state was planned by vssm_vim_state_new, not "
                            "vssm_vim_state_new_onestream");
    const vssm_vim_config *c = &m->cfg;
    const size_t C = c->in_chans;
    if (vssm_op_upload(m->ctx, st->in2, templ, (size_t)st->B * st->zh * st->zw * C * sizeof(float)) != 0 ||
        vssm_op_upload(m->ctx, st->in, search, (size_t)st->B * st->H * st->W * C * sizeof(float)) != 0)
        return vssm_err_set(err, VSSM_ERR_DEVICE, "uploading the inputs to the device failed");
    const int64_t Mz = (int64_t)st->zgh * st->zgw;
    vssm_patch_args pz = {st->B, st->zh, st->zw, (int)C, c->patch_size, c->stride, st->L, 0, -1, st->in2, st->cols};
    vssm_patch_args px = {st->B, st->H, st->W, (int)C, c->patch_size, c->stride, st->L, Mz, -1, st->in, st->cols};
    vssm_op_patchify(m->ctx, &pz);
    vssm_op_patchify(m->ctx, &px);
    return run(m, st, err);
}

static vssm_tensor tensor_of(const vssm_vim_state *st, float *p, int ndim, int64_t a, int64_t b, int64_t c, int64_t d) {
    vssm_tensor t;
    memset(&t, 0, sizeof t);
    if (!p) return t;
    t.data = p;
    t.dtype = VSSM_DTYPE_F32;
    t.ndim = ndim;
    t.shape[0] = a;
    t.shape[1] = b;
    t.shape[2] = c;
    t.shape[3] = d;
    for (int i = ndim; i < VSSM_MAX_DIMS; i++) t.shape[i] = 0;
    t.device = vssm_ctx_device(st->m->ctx);
    return t;
}

vssm_tensor vssm_vim_cls(const vssm_vim_state *st) {
    return tensor_of(st, st->cls_row < 0 ? NULL : st->cls, 2, st->B, st->m->cfg.embed_dim, 0, 0);
}
vssm_tensor vssm_vim_out(const vssm_vim_state *st, int k) {
    const int ok = k >= 0 && k < st->m->cfg.n_out;
    return tensor_of(st, ok ? st->outs[k] : NULL, 4, st->B, st->gh, st->gw, st->m->cfg.embed_dim);
}
vssm_tensor vssm_vim_feature(const vssm_vim_state *st) {
    return tensor_of(st, st->feat, 4, st->B, st->gh, st->gw, st->m->cfg.embed_dim);
}
vssm_status vssm_vim_state_keep_taps(vssm_vim_state *st, vssm_err *err) {
    if (st->tap_embed) return VSSM_OK;
    const size_t n = (size_t)st->B * st->L * st->m->cfg.embed_dim;
    int fail = 0;
    st->tap_embed = state_alloc(st, n, &fail);
    st->tap_b0 = state_alloc(st, n, &fail);
    if (!fail) return VSSM_OK;
    vssm_op_free(st->m->ctx, st->tap_embed);
    vssm_op_free(st->m->ctx, st->tap_b0);
    st->tap_embed = st->tap_b0 = NULL;
    return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory for the debug taps");
}

vssm_tensor vssm_vim_tap(const vssm_vim_state *st, const char *name) {
    const int64_t D = st->m->cfg.embed_dim;
    if (!strcmp(name, "embed")) return tensor_of(st, st->tap_embed, 3, st->B, st->L, D, 0);
    if (!strcmp(name, "block0")) return tensor_of(st, st->tap_b0, 3, st->B, st->L, D, 0);
    if (!strcmp(name, "pos")) return tensor_of(st, st->pos, 2, st->L, D, 0, 0);
    return tensor_of(st, NULL, 0, 0, 0, 0, 0);
}

/* ======================================================================= the backbone table */

/* A stated preset: the config the shapes give (the file's classes, position grid and
 * variant), which must have the preset's width, depth, state size, patch and stride; named
 * after it. A source that cannot list its tensors (a random one) takes the preset as it is. */
static vssm_status vim_stated(const vssm_source *src, const char *arch, vssm_backbone_spec *sp, vssm_err *err) {
    vssm_vim_config stated, *v = &sp->cfg.vim;
    vssm_status s = vssm_vim_config_preset(&stated, arch, err);
    if (s != VSSM_OK) return s;
    if (!src->count || !src->name_at) {
        *v = stated;
        return VSSM_OK;
    }
    if ((s = vssm_vim_config_infer(src, sp->prefix, v, err)) != VSSM_OK) return s;
    if (stated.embed_dim != v->embed_dim || stated.depth != v->depth || stated.d_state != v->d_state ||
        stated.patch_size != v->patch_size || stated.stride != v->stride)
        return vssm_err_set(err, VSSM_ERR_SHAPE,
                            "the file is not %s: its tensors (%spatch_embed.proj.weight, %slayers.*) give embed_dim %d "
                            "depth %d d_state %d patch %d stride %d, %s has %d %d %d %d %d",
                            arch, sp->prefix, sp->prefix, v->embed_dim, v->depth, v->d_state, v->patch_size, v->stride,
                            arch, stated.embed_dim, stated.depth, stated.d_state, stated.patch_size, stated.stride);
    snprintf(v->arch, sizeof v->arch, "%s", stated.arch);
    return VSSM_OK;
}

/* Config: a stated arch (above), the metadata, or the shapes. Preprocessing: DeiT's
 * evaluation transform, which Vim uses (Resize 256 bicubic, CenterCrop 224, ImageNet
 * mean/std), unless the metadata says otherwise. */
static vssm_status vi_resolve(const vssm_source *src, const char *arch, vssm_backbone_spec *sp, vssm_err *err) {
    vssm_status s;
    vssm_vim_config *cfg = &sp->cfg.vim;
    const char *meta_prefix = !arch && src->meta ? src->meta(src->user, "prefix") : NULL;
    if (meta_prefix)
        snprintf(sp->prefix, sizeof sp->prefix, "%s", meta_prefix);
    else if (!vssm_vim_detect(src, sp->prefix, sizeof sp->prefix))
        sp->prefix[0] = 0;
    if (arch) {
        if ((s = vim_stated(src, arch, sp, err)) != VSSM_OK) return s;
    } else if (vssm_vim_config_from_meta(src, cfg, NULL) == VSSM_OK) {
        sp->from_meta = 1;
    } else if ((s = vssm_vim_config_infer(src, sp->prefix, cfg, err)) != VSSM_OK) {
        return s;
    }
    return vssm_backbone_pp_from_meta(src, &sp->pp, err);
}

static void vi_describe(const vssm_backbone_spec *sp, vssm_backbone_desc *d) {
    const vssm_vim_config *c = &sp->cfg.vim;
    snprintf(d->arch, sizeof d->arch, "%s", c->arch);
    d->num_classes = c->num_classes;
    vssm_config_meta vm;
    vssm_vim_config_to_meta(c, &vm);
    for (int i = 0; i < vm.n && d->n_meta < VSSM_BACKBONE_META_MAX; i++, d->n_meta++) {
        snprintf(d->meta_key[d->n_meta], sizeof d->meta_key[0], "%s", vm.key[i]);
        snprintf(d->meta_value[d->n_meta], sizeof d->meta_value[0], "%s", vm.value[i]);
    }
}

/* The blocks kept for a dense head of `levels` maps: the file's out_indices or, as the
 * official segmentation configs (5, 11, 17, 23 of 24), the last of each of `levels` parts;
 * in block order without repeats, as VisionMambaSeg collects them. */
static void dense_out_indices(vssm_vim_config *c, int levels) {
    int idx[VSSM_VIM_MAX_OUT], n = c->n_out;
    if (levels > VSSM_VIM_MAX_OUT) levels = VSSM_VIM_MAX_OUT;
    if (n > 0) {
        memcpy(idx, c->out_indices, sizeof idx);
    } else {
        n = levels;
        for (int k = 0; k < levels; k++) idx[k] = (k + 1) * c->depth / levels - 1;
    }
    int kept = 0;
    for (int i = 0; i < c->depth; i++)
        for (int k = 0; k < n; k++)
            if (idx[k] == i) {
                c->out_indices[kept++] = i;
                break;
            }
    c->n_out = kept;
}

static vssm_status vi_load(void **m, vssm_ctx *ctx, vssm_backbone_spec *sp, const vssm_source *src,
                           const vssm_backbone_opts *opts, vssm_err *err) {
    vssm_vim_config *cfg = &sp->cfg.vim;
    *m = NULL;
    if (opts->n_out > 0) {
        if (opts->n_out > VSSM_VIM_MAX_OUT)
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "backbone: %d out_indices (at most %d)", opts->n_out,
                                VSSM_VIM_MAX_OUT);
        cfg->n_out = opts->n_out;
        memcpy(cfg->out_indices, opts->out_indices, sizeof opts->out_indices);
    } else if (opts->n_out < 0) {
        cfg->n_out = 0;
    } else if (opts->dense_levels > 0) {
        dense_out_indices(cfg, opts->dense_levels);
    }
    vssm_vim *vim = NULL;
    vssm_status s = vssm_vim_load(&vim, ctx, cfg, src, sp->prefix, err);
    *m = vim;
    return s;
}

static void vi_free(void *m) { vssm_vim_free((vssm_vim *)m); }
static const vssm_vim_config *vi_cfg(const void *m) { return vssm_vim_get_config((const vssm_vim *)m); }
static const char *vi_arch(const void *m) { return vi_cfg(m)->arch; }
static vssm_ctx *vi_ctx(const void *m) { return vssm_vim_ctx((const vssm_vim *)m); }
static int vi_in_chans(const void *m) { return vi_cfg(m)->in_chans; }
static int vi_min_side(const void *m) { return vi_cfg(m)->patch_size; }
/* one stage (the final token grid), or the chosen blocks' outputs */
static int vi_stages(const void *m) { return vi_cfg(m)->n_out > 0 ? vi_cfg(m)->n_out : 1; }
static int vi_stage_channels(const void *m, int s) {
    (void)s;
    return vi_cfg(m)->embed_dim;
}
static int vi_stage_stride(const void *m, int s) {
    (void)s;
    return vi_cfg(m)->stride;
}
static double vi_stage_offset(const void *m, int s) {
    (void)s;
    return 0.5 * vi_cfg(m)->patch_size;
}
static void vi_stage_size(const void *m, int h, int w, int s, int *hs, int *ws) {
    (void)s;
    vssm_vim_grid(vi_cfg(m), h, w, hs, ws);
}
static double vi_macs(const void *m, int h, int w) { return vssm_vim_macs(vi_cfg(m), h, w); }
static int64_t vi_params(const void *m) { return vssm_vim_param_count(vi_cfg(m)); }
/* the arena, and the host copy of the position embedding the states resample */
static size_t vi_weight_bytes(const void *m) {
    const vssm_vim *v = m;
    return v->arena_bytes + ((size_t)v->cfg.pos_grid_h * v->cfg.pos_grid_w + 1) * v->cfg.embed_dim * sizeof(float);
}
static int vi_num_classes(const void *m) { return vi_cfg(m)->num_classes; }
static vssm_cls_input vi_cls_input(const void *m) {
    (void)m;
    return VSSM_CLS_TOKEN;
}
static int vi_detect(const vssm_source *src, char *prefix, size_t n) { return vssm_vim_detect(src, prefix, n); }
static vssm_tensor vi_cls_token(const void *m, const void *st) {
    (void)m;
    return vssm_vim_cls((const vssm_vim_state *)st);
}
static vssm_status vi_state_new(void **st, void *m, int batch, int h, int w, vssm_err *err) {
    vssm_vim_state *s = NULL;
    vssm_status r = vssm_vim_state_new(&s, (vssm_vim *)m, batch, h, w, err);
    *st = s;
    return r;
}
static void vi_state_free(void *st) { vssm_vim_state_free((vssm_vim_state *)st); }
static size_t vi_state_bytes(const void *st) { return vssm_vim_state_bytes((const vssm_vim_state *)st); }
static vssm_status vi_forward(void *m, void *st, const float *x, vssm_err *err) {
    return vssm_vim_forward((vssm_vim *)m, (vssm_vim_state *)st, x, err);
}
static vssm_tensor vi_feature(const void *m, const void *st, int s) {
    const vssm_vim_state *vs = (const vssm_vim_state *)st;
    return vi_cfg(m)->n_out > 0 ? vssm_vim_out(vs, s) : vssm_vim_feature(vs);
}

const vssm_backbone_impl vssm_vim_impl = {
    .kind = VSSM_BACKBONE_VIM,
    .name = "Vision Mamba",
    .arch_prefix = "vim",
    .detect = vi_detect,
    .resolve = vi_resolve,
    .load = vi_load,
    .free = vi_free,
    .describe = vi_describe,
    .arch = vi_arch,
    .ctx = vi_ctx,
    .in_chans = vi_in_chans,
    .min_side = vi_min_side,
    .num_classes = vi_num_classes,
    .cls_input = vi_cls_input,
    .stages = vi_stages,
    .stage_channels = vi_stage_channels,
    .stage_stride = vi_stage_stride,
    .stage_offset = vi_stage_offset,
    .stage_size = vi_stage_size,
    .macs = vi_macs,
    .params = vi_params,
    .weight_bytes = vi_weight_bytes,
    .state_new = vi_state_new,
    .state_free = vi_state_free,
    .state_bytes = vi_state_bytes,
    .forward = vi_forward,
    .feature = vi_feature,
    .cls_token = vi_cls_token,
};
