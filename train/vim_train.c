/* train/vim_train.c - forward with saved activations and the whole-model backward of the
 * Vision Mamba (Vim) classifier (vssm/train.h): patch embed, class token at M/2, position
 * rows, depth blocks x <- x + out_proj((y_f + y_b) / 2) with y_d the gated 1D scan of
 * SiLU(causal conv(x half of in_proj(RMSNorm(x)))) in direction d, norm_f, the class token's
 * linear head.
 *
 * Weights. Vim's name table (vssm_vim_walk) and the head's two tensors make the parameter
 * table (train/table.h): the MASTER and GRADIENT copies in the layouts the backward ops take
 * (plain linear (N, K) weights, the patch embed as (D, C*P*P), conv1d (K, Di), dt_proj (R, Di),
 * A_log (N, Di): kernels/BACKWARD.md), the FORWARD copy packed (out_proj of x / 2 for div2,
 * exact) and A = -exp(A_log). Three vssm_vim structs point into the three.
 *
 * The /2 of div2 in the backward: out_proj's gradient input is g/2 (exact), so that
 * linear_bwd on the plain weight and the saved sum y = y_f + y_b gives d out_proj.weight =
 * (g/2)^T y and d y = (g/2) W.
 *
 * Training runs at the position grid (pos_embed is used as it is, no resampling: the
 * official training size). Saved activations, per (batch, size), planned once:
 *   in (B,H,W,C), cols (B L, C P P: the patches, class rows 0)
 *   per block: x_in (B L D, the residual stream entering it), xz (B L 2Di: in_proj out),
 *              y (B L Di: y_f + y_b, gated); per token D + 3 Di floats
 *   x_fin (B L D: the stream after the last block), clsn (B D: norm_f of the class rows), logits
 * Recomputed in the backward: RMSNorm(x_in), per direction u = SiLU(conv1d(x)) and
 * xdbl = x_proj(u) (one conv and one product each), the scan states (by the op).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backbone/vim_internal.h"
#include "kernels/ops.h"
#include "train/table.h"
#include "vssm/train.h"

/* one view of the weights: the backbone's slots and the head's */
typedef struct vview {
    vssm_vim m;
    float *fc_w, *fc_b; /* head.weight (classes, D), head.bias (classes) */
} vview;

typedef struct vacts {
    int B, H, W;
    int64_t L, T, cls_row; /* tokens per image, B L, the class token's row */
    /* saved */
    float *in, *cols, **x_in, **xz, **y, *x_fin, *clsn, *logits;
    /* scratch */
    float *g, *ln, *dln, *dxz, *u, *du, *dy, *xdbl, *dxdbl, *gh, *xc, *dc, *dlogits, *loss;
    int32_t *labels;
    size_t saved, scratch;
} vacts;

struct vssm_vim_trainer {
    vssm_ctx *ctx;
    int frozen;
    vssm_vim_config cfg;
    vview fw, pw, gw; /* forward, master, gradient */
    vssm_ttab tab;
    vacts a;
    void *act_mem, *scratch_mem;
};

/* ======================================================================= the table */

static int walk_all(vssm_walker *w, const void *config, void *view) {
    const vssm_vim_config *c = config;
    vview *v = view;
    if (vssm_vim_walk(w, c, &v->m)) return 1;
    VSSM_VISIT(w, "head.weight", VSSM_XF_PLAIN, 1, &v->fc_w, c->num_classes, c->embed_dim);
    VSSM_VISIT(w, "head.bias", VSSM_XF_PLAIN, 1, &v->fc_b, c->num_classes);
    return 0;
}

/* ======================================================================= create, free */

void vssm_vim_trainer_free(vssm_vim_trainer *t) {
    if (!t) return;
    free(t->fw.m.layers), free(t->pw.m.layers), free(t->gw.m.layers);
    free(t->a.x_in);
    vssm_op_free(t->ctx, t->act_mem);
    vssm_op_free(t->ctx, t->scratch_mem);
    vssm_ttab_free(&t->tab);
    free(t);
}

/* ---- initial values (vssm_train_init): the official Vim's (models_mamba.py, mamba_simple.py) ---- */

static double trunc_normal(uint64_t *s, double std) { /* N(0, std) redrawn outside +-2 std (timm) */
    for (;;) {
        const double z = vssm_ttab_normal(s);
        if (fabs(z) <= 2.0) return std * z;
    }
}

typedef struct vinit {
    const vssm_vim_config *cfg;
    const vssm_train_init *init;
} vinit;

/* every tensor without a source, the head's for a new head */
static int vim_from_init(const vssm_ttab_entry *e, const char *full, void *user) {
    const vinit *vi = user;
    return !full || (vi->init && vi->init->new_head && !strncmp(e->name, "head.", 5));
}

enum { I_NORMAL, I_ALOG, I_ONE, I_ZERO, I_UNIFORM, I_DT_BIAS }; /* how an entry's values are drawn */

/* entry e (index i) into dst, master layout: head, pos_embed, cls_token trunc_normal(0.02)
 * (segm_init_weights), the patch embed lecun_normal (trunc_normal sqrt(1/fan_in) / .8796),
 * biases 0 except conv1d's (PyTorch's U(+-1/sqrt(K))), in_proj / x_proj / conv1d weights
 * U(+-1/sqrt(fan_in)), out_proj the same / sqrt(depth) (rescale_prenorm_residual), dt_proj
 * weight U(+-R^-0.5), dt_proj bias softplus^-1 of a log-uniform dt in [1e-3, 0.1] (floor 1e-4),
 * A_log log(1..N), D 1, RMSNorm weights 1 */
static void vim_init(const vssm_ttab_entry *e, int i, void *user, float *dst) {
    const vinit *vi = user;
    uint64_t s = (vi->init ? vi->init->seed : 0) ^ (0xD1B54A32D192ED03ull * (uint64_t)(i + 1));
    const char *nm = e->name;
    const int64_t A = e->shape[0], fan_in = e->n / A;
    double scale = 0.02; /* I_NORMAL: the std; I_UNIFORM: the bound */
    int how = I_UNIFORM;
#define ENDS(suf) vssm_ttab_ends_with(nm, suf)
    if (!strcmp(nm, "head.weight") || !strcmp(nm, "pos_embed") || !strcmp(nm, "cls_token"))
        how = I_NORMAL;
    else if (!strcmp(nm, "patch_embed.proj.weight"))
        how = I_NORMAL, scale = sqrt(1.0 / (double)fan_in) / .87962566103423978;
    else if (ENDS("A_log") || ENDS("A_b_log"))
        how = I_ALOG;
    else if (ENDS(".D") || ENDS(".D_b") || ENDS("norm.weight") || !strcmp(nm, "norm_f.weight"))
        how = I_ONE;
    else if (strstr(nm, "dt_proj") && ENDS(".bias"))
        how = I_DT_BIAS;
    else if (strstr(nm, "conv1d") && ENDS(".bias"))
        scale = 1.0 / sqrt((double)vi->cfg->d_conv);
    else if (e->ndim == 1)
        how = I_ZERO;
    else
        scale = 1.0 / sqrt((double)fan_in) / (ENDS("out_proj.weight") ? sqrt((double)vi->cfg->depth) : 1.0);
#undef ENDS
    for (int64_t j = 0; j < e->n; j++) {
        double v = 0.0;
        if (how == I_NORMAL)
            v = trunc_normal(&s, scale);
        else if (how == I_ALOG) /* master (N, Di): row j / Di */
            v = log((double)(j / A + 1));
        else if (how == I_ONE)
            v = 1.0;
        else if (how == I_UNIFORM)
            v = (2.0 * vssm_ttab_unif(&s) - 1.0) * scale;
        else if (how == I_DT_BIAS) {
            double dt = exp(vssm_ttab_unif(&s) * (log(0.1) - log(1e-3)) + log(1e-3));
            dt = dt < 1e-4 ? 1e-4 : dt;
            v = dt + log(-expm1(-dt));
        }
        dst[j] = (float)v;
    }
}

vssm_status vssm_vim_trainer_create(vssm_vim_trainer **out, vssm_ctx *ctx, const vssm_vim_config *cfg,
                                    const vssm_source *src, const char *prefix, const vssm_train_init *init,
                                    vssm_err *err) {
    *out = NULL;
    vssm_status s = vssm_vim_config_validate(cfg, err);
    if (s != VSSM_OK) return s;
    if (cfg->num_classes < 1 || cfg->no_cls_token)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                            "training a Vim needs its classifier (a class token and num_classes >= 1)");
    if ((s = vssm_op_training_supported(ctx, err)) != VSSM_OK) return s;
    vssm_vim_trainer *t = calloc(1, sizeof *t);
    if (!t) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    t->ctx = ctx;
    t->cfg = *cfg;
    vview *v[3] = {&t->fw, &t->pw, &t->gw};
    for (int k = 0; k < 3; k++) {
        v[k]->m.cfg = *cfg, v[k]->m.ctx = ctx;
        if (!(v[k]->m.layers = calloc((size_t)cfg->depth, sizeof(vssm_vim_layer_w)))) {
            vssm_vim_trainer_free(t);
            return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
        }
    }
    vinit vi = {cfg, init};
    const vssm_ttab_init ti = {vim_from_init, vim_init, &vi};
    void *const views[3] = {&t->fw, &t->pw, &t->gw};
    if ((s = vssm_ttab_build(&t->tab, ctx, walk_all, cfg, views, err)) != VSSM_OK ||
        (s = vssm_ttab_load(&t->tab, src, prefix, &ti, err)) != VSSM_OK) {
        vssm_vim_trainer_free(t);
        return s;
    }
    for (int i = 0; i < t->tab.ne; i++) { /* no decay: 1-D tensors, pos_embed, cls_token, A_log, A_b_log */
        vssm_ttab_entry *e = &t->tab.e[i];
        e->decay = e->ndim > 1 && strcmp(e->name, "pos_embed") && strcmp(e->name, "cls_token") &&
                   !vssm_ttab_ends_with(e->name, "A_log") && !vssm_ttab_ends_with(e->name, "A_b_log");
    }
    vssm_ttab_params_changed(&t->tab);
    *out = t;
    return VSSM_OK;
}

int vssm_vim_trainer_n_tensors(const vssm_vim_trainer *t) { return t->tab.ne; }
vssm_train_tensor vssm_vim_trainer_tensor(const vssm_vim_trainer *t, int i) { return vssm_ttab_tensor(&t->tab, i); }
void vssm_vim_trainer_read_flat(const vssm_vim_trainer *t, const float *flat, int i, float *host) {
    if (i < 0 || i >= t->tab.ne) return; /* no such tensor: nothing read */
    vssm_ttab_to_master(&t->tab.e[i], flat + t->tab.e[i].off, host, 1);
}
void vssm_vim_trainer_write_flat(const vssm_vim_trainer *t, const float *host, int i, float *flat) {
    if (i < 0 || i >= t->tab.ne) return; /* no such tensor: nothing written */
    vssm_ttab_to_master(&t->tab.e[i], host, flat + t->tab.e[i].off, 0);
}
void vssm_vim_trainer_read(const vssm_vim_trainer *t, int i, int grad, float *host) {
    vssm_vim_trainer_read_flat(t, grad ? t->tab.grad : t->tab.master, i, host);
}
void vssm_vim_trainer_freeze_backbone(vssm_vim_trainer *t, int on) { t->frozen = on != 0; }
float *vssm_vim_trainer_params(vssm_vim_trainer *t, int64_t *n) {
    *n = t->tab.n_master;
    return t->tab.master;
}
float *vssm_vim_trainer_grads(vssm_vim_trainer *t, int64_t *n) {
    *n = t->tab.n_master;
    return t->tab.grad;
}
void vssm_vim_trainer_zero_grad(vssm_vim_trainer *t) { vssm_ttab_zero_grad(&t->tab); }
void vssm_vim_trainer_params_changed(vssm_vim_trainer *t) { vssm_ttab_params_changed(&t->tab); }

/* ======================================================================= activation plan */

static void plan_layout(vacts *a, const vssm_vim_config *c, char *saved, char *scratch) {
    const size_t T = (size_t)a->T, D = c->embed_dim, Di = c->d_inner, B = a->B, nc = c->num_classes;
    const size_t C2 = (size_t)vssm_vim_dt_rank(c) + 2 * c->d_state,
                 KC = (size_t)c->in_chans * c->patch_size * c->patch_size;
    vssm_ttab_bump sv = {saved, 0}, sc = {scratch, 0};
    a->in = vssm_ttab_take(&sv, B * a->H * a->W * c->in_chans);
    a->cols = vssm_ttab_take(&sv, T * KC);
    for (int i = 0; i < c->depth; i++) {
        float *x = vssm_ttab_take(&sv, T * D), *xz = vssm_ttab_take(&sv, T * 2 * Di), *y = vssm_ttab_take(&sv, T * Di);
        if (a->x_in) a->x_in[i] = x, a->xz[i] = xz, a->y[i] = y;
    }
    a->x_fin = vssm_ttab_take(&sv, T * D);
    a->clsn = vssm_ttab_take(&sv, B * D);
    a->logits = vssm_ttab_take(&sv, B * nc);
    float **sct[] = {&a->g,  &a->ln,   &a->dln,   &a->gh, &a->dxz, &a->u,       &a->du,
                     &a->dy, &a->xdbl, &a->dxdbl, &a->xc, &a->dc,  &a->dlogits, &a->loss};
    const size_t sn[] = {T * D,  T * D,  T * D,  T * D, T * 2 * Di, T * Di, T * Di,
                         T * Di, T * C2, T * C2, B * D, B * D,      B * nc, 1};
    for (size_t k = 0; k < sizeof sn / sizeof *sn; k++) *sct[k] = vssm_ttab_take(&sc, sn[k]);
    a->labels = (int32_t *)vssm_ttab_take(&sc, B);
    a->saved = sv.off, a->scratch = sc.off;
}

static void plan_sizes(vacts *a, const vssm_vim_config *c, int batch, int h, int w) {
    int gh, gw;
    vssm_vim_grid(c, h, w, &gh, &gw);
    a->B = batch, a->H = h, a->W = w;
    a->L = (int64_t)gh * gw + 1, a->T = a->L * batch, a->cls_row = (int64_t)gh * gw / 2;
}

void vssm_vim_train_memory(const vssm_vim_config *cfg, int batch, size_t *saved, size_t *scratch) {
    vacts a;
    memset(&a, 0, sizeof a);
    plan_sizes(&a, cfg, batch, (cfg->pos_grid_h - 1) * cfg->stride + cfg->patch_size,
               (cfg->pos_grid_w - 1) * cfg->stride + cfg->patch_size);
    plan_layout(&a, cfg, NULL, NULL);
    *saved = a.saved, *scratch = a.scratch;
}

vssm_status vssm_vim_trainer_plan(vssm_vim_trainer *t, int batch, int h, int w, vssm_err *err) {
    const vssm_vim_config *c = &t->cfg;
    if (batch < 1 || batch > 65536 || h < 1 || w < 1 || h > 32768 || w > 32768)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "batch %d at %dx%d out of range", batch, h, w);
    int gh, gw;
    vssm_vim_grid(c, h, w, &gh, &gw);
    if (gh != c->pos_grid_h || gw != c->pos_grid_w)
        return vssm_err_set(err, VSSM_ERR_SHAPE,
                            "a Vim trains at its position grid: %dx%d gives a %dx%d patch grid, pos_embed has %dx%d "
                            "(input %dx%d)",
                            h, w, gh, gw, c->pos_grid_h, c->pos_grid_w, (c->pos_grid_h - 1) * c->stride + c->patch_size,
                            (c->pos_grid_w - 1) * c->stride + c->patch_size);
    vacts *a = &t->a;
    if (t->act_mem && a->B == batch && a->H == h && a->W == w) return VSSM_OK;
    vssm_op_free(t->ctx, t->act_mem), vssm_op_free(t->ctx, t->scratch_mem);
    t->act_mem = t->scratch_mem = NULL;
    free(a->x_in);
    memset(a, 0, sizeof *a);
    plan_sizes(a, c, batch, h, w);
    plan_layout(a, c, NULL, NULL);
    a->x_in = calloc((size_t)3 * c->depth, sizeof(float *));
    t->act_mem = vssm_op_alloc(t->ctx, a->saved);
    t->scratch_mem = vssm_op_alloc(t->ctx, a->scratch);
    if (!a->x_in || !t->act_mem || !t->scratch_mem) {
        const size_t sv = a->saved, sc = a->scratch;
        vssm_op_free(t->ctx, t->act_mem), vssm_op_free(t->ctx, t->scratch_mem);
        t->act_mem = t->scratch_mem = NULL;
        return vssm_err_set(err, VSSM_ERR_NOMEM,
                            "out of memory planning %.1f MB of saved activations and %.1f MB of scratch for batch %d "
                            "at %dx%d",
                            sv / 1e6, sc / 1e6, batch, h, w);
    }
    a->xz = a->x_in + c->depth, a->y = a->xz + c->depth;
    plan_layout(a, c, t->act_mem, t->scratch_mem);
    /* the class rows of the patches are never written by patchify: 0 once */
    memset(a->cols, 0, (size_t)a->T * c->in_chans * c->patch_size * c->patch_size * sizeof(float));
    return VSSM_OK;
}

size_t vssm_vim_trainer_saved_bytes(const vssm_vim_trainer *t) { return t->a.saved; }
size_t vssm_vim_trainer_scratch_bytes(const vssm_vim_trainer *t) { return t->a.scratch; }

/* ======================================================================= forward */

static void zero(float *p, size_t n) { memset(p, 0, n * sizeof(float)); } /* CPU: device memory is host memory */

/* the class rows of x (B L, D) -> out (B, D) */
static void cls_rows(const vacts *a, int D, const float *x, float *out) {
    for (int b = 0; b < a->B; b++)
        memcpy(out + (size_t)b * D, x + ((size_t)b * a->L + a->cls_row) * D, (size_t)D * sizeof(float));
}

/* u = SiLU(conv1d_d(x half of xz)), xdbl = x_proj_d(u): direction d's scan inputs */
static void scan_inputs(vssm_vim_trainer *t, const float *xz, int d, const vssm_vim_layer_w *l) {
    const vssm_vim_config *c = &t->cfg;
    vacts *a = &t->a;
    const vssm_vim_dir_w *w = &l->dir[d];
    const int Di = c->d_inner, C2 = vssm_vim_dt_rank(c) + 2 * c->d_state;
    vssm_op_conv1d(t->ctx, xz, 2 * Di, a->B, a->L, Di, w->conv_w, w->conv_b, c->d_conv, d, VSSM_ACT_SILU, a->u);
    vssm_op_linear_packed(t->ctx, a->u, a->T, Di, w->x_proj, NULL, C2, VSSM_ACT_NONE, 0, a->xdbl);
}

static vssm_scan1d_args scan_args(vssm_vim_trainer *t, const float *xz, int d, const vssm_vim_dir_w *w, float *y) {
    const vssm_vim_config *c = &t->cfg;
    const vacts *a = &t->a;
    const int Di = c->d_inner;
    vssm_scan1d_args s = {a->B,       Di,     vssm_vim_dt_rank(c),
                          c->d_state, a->L,   d,
                          d,          a->u,   a->xdbl,
                          xz + Di,    2 * Di, w->dt_w,
                          w->dt_b,    w->A,   w->Ds,
                          y,          NULL,   NULL};
    return s;
}

static void forward(vssm_vim_trainer *t) {
    vssm_ctx *ctx = t->ctx;
    const vssm_vim_config *c = &t->cfg;
    vacts *a = &t->a;
    const vssm_vim *m = &t->fw.m;
    const int D = c->embed_dim, Di = c->d_inner, KC = c->in_chans * c->patch_size * c->patch_size;
    vssm_patch_args pa = {a->B, a->H, a->W, c->in_chans, c->patch_size, c->stride, a->L, 0, a->cls_row, a->in, a->cols};
    vssm_op_patchify(ctx, &pa);
    float *x0 = c->depth ? a->x_in[0] : a->x_fin;
    vssm_op_linear_packed(ctx, a->cols, a->T, KC, m->pe_w, m->pe_b, D, VSSM_ACT_NONE, 0, x0);
    vssm_op_rows_add(ctx, x0, a->B, a->L, D, m->pos_dev, a->cls_row, m->cls);
    for (int i = 0; i < c->depth; i++) {
        const vssm_vim_layer_w *l = &m->layers[i];
        float *x_out = i + 1 < c->depth ? a->x_in[i + 1] : a->x_fin;
        vssm_op_rmsnorm(ctx, a->x_in[i], a->T, D, l->norm_w, c->norm_eps, a->ln);
        vssm_op_linear_packed(ctx, a->ln, a->T, D, l->in_proj, NULL, 2 * Di, VSSM_ACT_NONE, 0, a->xz[i]);
        for (int d = 0; d < 2; d++) {
            scan_inputs(t, a->xz[i], d, l);
            vssm_scan1d_args s = scan_args(t, a->xz[i], d, &l->dir[d], a->y[i]);
            vssm_op_scan1d(ctx, &s);
        }
        vssm_op_copy(ctx, x_out, a->x_in[i], (size_t)a->T * D * sizeof(float));
        vssm_op_linear_packed(ctx, a->y[i], a->T, Di, l->out_proj, NULL, D, VSSM_ACT_NONE, 1, x_out);
    }
    cls_rows(a, D, a->x_fin, a->xc);
    vssm_op_rmsnorm(ctx, a->xc, a->B, D, m->norm_f, c->norm_eps, a->clsn);
    vssm_op_linear(ctx, a->clsn, a->B, D, t->fw.fc_w, t->fw.fc_b, c->num_classes, VSSM_ACT_NONE, 0, a->logits);
}

/* ======================================================================= backward */

/* g: the gradient of block i's output on entry, of its input on return */
static void bwd_block(vssm_vim_trainer *t, int i, float *g) {
    vssm_ctx *ctx = t->ctx;
    const vssm_vim_config *c = &t->cfg;
    vacts *a = &t->a;
    const vssm_vim_layer_w *p = &t->pw.m.layers[i], *f = &t->fw.m.layers[i], *gr = &t->gw.m.layers[i];
    const int D = c->embed_dim, Di = c->d_inner, C2 = vssm_vim_dt_rank(c) + 2 * c->d_state;
    const int64_t T = a->T;
    /* x_out = x_in + out_proj(y / 2): d out_proj = (g/2)^T y, dy = (g/2) W (div2; else g) */
    const float *go = g;
    if (c->divide_out) {
        for (int64_t j = 0; j < T * D; j++) a->gh[j] = 0.5f * g[j];
        go = a->gh;
    }
    zero(a->dy, (size_t)T * Di);
    vssm_op_linear_bwd(ctx, a->y[i], T, Di, p->out_proj, NULL, D, VSSM_ACT_NONE, go, a->dy, gr->out_proj, NULL);
    /* y = sum over d of scan_d(SiLU(conv_d(x)), x_proj_d(.), gate z) */
    zero(a->dxz, (size_t)T * 2 * Di);
    for (int d = 0; d < 2; d++) {
        const vssm_vim_dir_w *pd = &p->dir[d], *gd = &gr->dir[d];
        scan_inputs(t, a->xz[i], d, f);
        vssm_scan1d_args s = scan_args(t, a->xz[i], d, &f->dir[d], NULL);
        zero(a->du, (size_t)T * Di), zero(a->dxdbl, (size_t)T * C2);
        vssm_scan1d_grads sg = {a->du, a->dxdbl, a->dxz + Di, gd->dt_w, gd->dt_b, gd->A, gd->Ds}; /* gd->A: dA_log */
        vssm_op_scan1d_bwd(ctx, &s, a->dy, &sg);
        vssm_op_linear_bwd(ctx, a->u, T, Di, pd->x_proj, NULL, C2, VSSM_ACT_NONE, a->dxdbl, a->du, gd->x_proj, NULL);
        vssm_op_conv1d_bwd(ctx, a->xz[i], 2 * Di, a->B, a->L, Di, pd->conv_w, pd->conv_b, c->d_conv, d, VSSM_ACT_SILU,
                           a->du, a->dxz, gd->conv_w, gd->conv_b);
    }
    /* xz = in_proj(RMSNorm(x_in)); x_in's gradient adds to the residual's */
    vssm_op_rmsnorm(ctx, a->x_in[i], T, D, p->norm_w, c->norm_eps, a->ln);
    zero(a->dln, (size_t)T * D);
    vssm_op_linear_bwd(ctx, a->ln, T, D, p->in_proj, NULL, 2 * Di, VSSM_ACT_NONE, a->dxz, a->dln, gr->in_proj, NULL);
    vssm_op_rmsnorm_bwd(ctx, a->x_in[i], T, D, p->norm_w, c->norm_eps, a->dln, g, gr->norm_w);
}

static void backward(vssm_vim_trainer *t) {
    vssm_ctx *ctx = t->ctx;
    const vssm_vim_config *c = &t->cfg;
    vacts *a = &t->a;
    const int D = c->embed_dim, nc = c->num_classes, KC = c->in_chans * c->patch_size * c->patch_size;
    const vssm_vim *p = &t->pw.m, *gr = &t->gw.m;
    if (t->frozen) { /* the head's linear layer alone */
        vssm_op_linear_bwd(ctx, a->clsn, a->B, D, t->pw.fc_w, t->pw.fc_b, nc, VSSM_ACT_NONE, a->dlogits, NULL,
                           t->gw.fc_w, t->gw.fc_b);
        return;
    }
    zero(a->dc, (size_t)a->B * D);
    vssm_op_linear_bwd(ctx, a->clsn, a->B, D, t->pw.fc_w, t->pw.fc_b, nc, VSSM_ACT_NONE, a->dlogits, a->dc, t->gw.fc_w,
                       t->gw.fc_b);
    /* norm_f on the class rows (xc still holds them); the other rows get no gradient */
    zero(a->g, (size_t)a->T * D);
    zero(a->dln, (size_t)a->B * D);
    vssm_op_rmsnorm_bwd(ctx, a->xc, a->B, D, p->norm_f, c->norm_eps, a->dc, a->dln, gr->norm_f);
    for (int b = 0; b < a->B; b++)
        memcpy(a->g + ((size_t)b * a->L + a->cls_row) * D, a->dln + (size_t)b * D, (size_t)D * sizeof(float));
    for (int i = c->depth - 1; i >= 0; i--) bwd_block(t, i, a->g);
    /* x0 = patches . pe_w^T + pe_b, the class rows replaced by cls_token, + pos_embed rows:
     * d pos_embed[t] = sum over images of g[b, t] (in image order), d cls_token the class
     * rows' sum, and the patch embed sees g without its class rows */
    for (int b = 0; b < a->B; b++)
        for (int64_t r = 0; r < a->L; r++) {
            float *gp = gr->pos_dev + r * D;
            const float *gg = a->g + ((size_t)b * a->L + r) * D;
            for (int k = 0; k < D; k++) gp[k] += gg[k];
        }
    for (int b = 0; b < a->B; b++) {
        float *gg = a->g + ((size_t)b * a->L + a->cls_row) * D;
        for (int k = 0; k < D; k++) gr->cls[k] += gg[k];
        zero(gg, (size_t)D);
    }
    vssm_op_linear_bwd(ctx, a->cols, a->T, KC, p->pe_w, p->pe_b, D, VSSM_ACT_NONE, a->g, NULL, gr->pe_w, gr->pe_b);
}

static vssm_status upload_input(vssm_vim_trainer *t, const float *input, vssm_err *err) {
    vacts *a = &t->a;
    if (vssm_op_upload(t->ctx, a->in, input, (size_t)a->B * a->H * a->W * t->cfg.in_chans * sizeof(float)))
        return vssm_err_set(err, VSSM_ERR_DEVICE, "uploading the batch failed");
    return VSSM_OK;
}

vssm_status vssm_vim_trainer_step(vssm_vim_trainer *t, const float *input, const int32_t *labels, float smoothing,
                                  float *loss, vssm_err *err) {
    vacts *a = &t->a;
    if (!t->act_mem) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "vssm_vim_trainer_step: no plan (call _plan)");
    for (int i = 0; i < a->B; i++)
        if (labels[i] < 0 || labels[i] >= t->cfg.num_classes)
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "label %d of image %d outside [0, %d)", labels[i], i,
                                t->cfg.num_classes);
    vssm_status s = upload_input(t, input, err);
    if (s != VSSM_OK) return s;
    if (vssm_op_upload(t->ctx, a->labels, labels, a->B * sizeof(int32_t)))
        return vssm_err_set(err, VSSM_ERR_DEVICE, "uploading the labels failed");
    forward(t);
    zero(a->dlogits, (size_t)a->B * t->cfg.num_classes);
    vssm_op_softmax_xent(t->ctx, a->logits, a->B, t->cfg.num_classes, a->labels, smoothing, a->loss, a->dlogits);
    backward(t);
    s = vssm_op_status(t->ctx, "the training step", err);
    if (s == VSSM_OK && loss && vssm_op_download(t->ctx, loss, a->loss, sizeof(float)))
        s = vssm_err_set(err, VSSM_ERR_DEVICE, "reading the loss failed");
    return s;
}

vssm_status vssm_vim_trainer_forward(vssm_vim_trainer *t, const float *input, vssm_err *err) {
    if (!t->act_mem) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "vssm_vim_trainer_forward: no plan (call _plan)");
    vssm_status s = upload_input(t, input, err);
    if (s != VSSM_OK) return s;
    forward(t);
    return vssm_op_status(t->ctx, "the forward", err);
}

vssm_status vssm_vim_trainer_logits(vssm_vim_trainer *t, float *host, vssm_err *err) {
    if (!t->act_mem || vssm_op_download(t->ctx, host, t->a.logits, (size_t)t->a.B * t->cfg.num_classes * sizeof(float)))
        return vssm_err_set(err, VSSM_ERR_DEVICE, "reading the logits failed");
    return VSSM_OK;
}
