/* train/vim_train.c - forward with saved activations and the whole-model backward of the
 * Vision Mamba (Vim) classifier (vssm/train.h): patch embed, class token at M/2, position
 * rows, depth blocks x <- x + out_proj((y_f + y_b) / 2) with y_d the gated 1D scan of
 * SiLU(causal conv(x half of in_proj(RMSNorm(x)))) in direction d, norm_f, the class token's
 * linear head.
 *
 * Weights. Vim's name table (vssm_vim_walk) and the head's two tensors are walked into a
 * table; the MASTER copy holds each tensor in the layout its backward op takes (plain linear
 * (N, K) weights, the patch embed as (D, C*P*P), conv1d (K, Di), dt_proj (R, Di), A_log (N, Di):
 * kernels/BACKWARD.md), the GRADIENT buffer the same, and the FORWARD copy what the inference
 * ops want: linear weights packed (out_proj of x / 2 for div2, exact), A = -exp(A_log); the
 * others are the master's own. Three vssm_vim structs point into the three.
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
#include "vssm/train.h"

#define ALIGN_F 16 /* tensors start on 64-byte boundaries in every arena */

/* one view of the weights: the backbone's slots and the head's */
typedef struct vview {
    vssm_vim m;
    float *fc_w, *fc_b; /* head.weight (classes, D), head.bias (classes) */
} vview;

typedef struct ventry {
    char name[96];
    int ndim;
    int64_t shape[5], n, off, fwd_off; /* fwd_off < 0: the forward reads the master copy */
    vssm_xform xf;
} ventry;

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
    ventry *e;
    int ne, cap;
    float *master, *grad, *fwd;
    int64_t n_master, n_fwd;
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

static int64_t align_f(int64_t n) { return (n + ALIGN_F - 1) / ALIGN_F * ALIGN_F; }
static int is_linear(vssm_xform xf) { return xf == VSSM_XF_LINEAR || xf == VSSM_XF_HALF_LINEAR; }

/* pass 1: the entries and their offsets */
typedef struct vrec {
    vssm_walker w;
    vssm_vim_trainer *t;
} vrec;

static int rec_visit(vssm_walker *w, const char *name, const int64_t *shape, int ndim, vssm_xform xf, int groups,
                     float **slot) {
    vssm_vim_trainer *t = ((vrec *)w)->t;
    (void)groups, (void)slot;
    if (t->ne == t->cap) {
        ventry *ne = realloc(t->e, (size_t)(t->cap = t->cap ? 2 * t->cap : 256) * sizeof *ne);
        if (!ne) return 1;
        t->e = ne;
    }
    ventry *e = &t->e[t->ne++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->ndim = ndim, e->xf = xf, e->n = 1, e->fwd_off = -1;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i], e->n *= shape[i];
    e->off = t->n_master;
    t->n_master += align_f(e->n);
    if (is_linear(xf) || xf == VSSM_XF_NEG_EXP_T) {
        const int64_t K = e->n / e->shape[0];
        e->fwd_off = t->n_fwd;
        t->n_fwd += align_f(
            xf == VSSM_XF_NEG_EXP_T ? e->n : (int64_t)vssm_op_linear_pack_numel(t->ctx, (int)e->shape[0], (int)K));
    }
    return 0;
}

/* pass 2 (one per view): slot i points into base (or fwd, for the entries with a forward copy) */
typedef struct vplace {
    vssm_walker w;
    const vssm_vim_trainer *t;
    float *base, *fwd;
    int i;
} vplace;

static int place_visit(vssm_walker *w, const char *name, const int64_t *shape, int ndim, vssm_xform xf, int groups,
                       float **slot) {
    vplace *p = (vplace *)w;
    const ventry *e = &p->t->e[p->i++];
    (void)name, (void)shape, (void)ndim, (void)xf, (void)groups;
    *slot = p->fwd && e->fwd_off >= 0 ? p->fwd + e->fwd_off : p->base + e->off;
    return 0;
}

/* official (A, B) <-> master (B, A) for the transposed tensors (one group: A = shape[0]);
 * inverse: master -> official */
static void to_master(const ventry *e, const float *src, float *dst, int inverse) {
    if (e->xf != VSSM_XF_T && e->xf != VSSM_XF_NEG_EXP_T) {
        memcpy(dst, src, (size_t)e->n * sizeof(float));
        return;
    }
    const int64_t A = e->shape[0], B = e->n / A;
    for (int64_t a = 0; a < A; a++)
        for (int64_t b = 0; b < B; b++) {
            if (inverse)
                dst[a * B + b] = src[b * A + a];
            else
                dst[b * A + a] = src[a * B + b];
        }
}

void vssm_vim_trainer_params_changed(vssm_vim_trainer *t) {
    for (int i = 0; i < t->ne; i++) {
        const ventry *e = &t->e[i];
        const float *m = t->master + e->off;
        float *f = t->fwd + e->fwd_off;
        if (e->fwd_off < 0) continue;
        if (e->xf == VSSM_XF_NEG_EXP_T) {
            for (int64_t j = 0; j < e->n; j++) f[j] = -expf(m[j]);
            continue;
        }
        const int N = (int)e->shape[0], K = (int)(e->n / N);
        if (e->xf == VSSM_XF_LINEAR) {
            vssm_op_linear_pack(t->ctx, m, N, K, f);
            continue;
        }
        float *h = malloc((size_t)e->n * sizeof(float)); /* HALF_LINEAR: x / 2, exact */
        if (!h) continue;                                /* (fwd keeps its values: a failure of a few KB) */
        for (int64_t j = 0; j < e->n; j++) h[j] = 0.5f * m[j];
        vssm_op_linear_pack(t->ctx, h, N, K, f);
        free(h);
    }
}

/* ======================================================================= create, free */

void vssm_vim_trainer_free(vssm_vim_trainer *t) {
    if (!t) return;
    free(t->fw.m.layers), free(t->pw.m.layers), free(t->gw.m.layers);
    free(t->a.x_in);
    vssm_op_free(t->ctx, t->act_mem);
    vssm_op_free(t->ctx, t->scratch_mem);
    vssm_op_free(t->ctx, t->master);
    vssm_op_free(t->ctx, t->grad);
    vssm_op_free(t->ctx, t->fwd);
    free(t->e);
    free(t);
}

/* ---- initial values (vssm_train_init): the official Vim's (models_mamba.py, mamba_simple.py) ---- */

static double unif(uint64_t *s) { return (double)(vssm_rng_next(s) >> 11) * (1.0 / 9007199254740992.0); }
static double trunc_normal(uint64_t *s, double std) { /* N(0, std) redrawn outside +-2 std (timm) */
    for (;;) {
        const double u = unif(s), v = unif(s);
        const double z = sqrt(-2.0 * log(u > 0 ? u : 1e-300)) * cos(2.0 * M_PI * v);
        if (fabs(z) <= 2.0) return std * z;
    }
}
static int has_suffix(const char *s, const char *suf) {
    const size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

/* entry e (index i) into dst, master layout: head, pos_embed, cls_token trunc_normal(0.02)
 * (segm_init_weights), the patch embed lecun_normal (trunc_normal sqrt(1/fan_in) / .8796),
 * biases 0 except conv1d's (PyTorch's U(+-1/sqrt(K))), in_proj / x_proj / conv1d weights
 * U(+-1/sqrt(fan_in)), out_proj the same / sqrt(depth) (rescale_prenorm_residual), dt_proj
 * weight U(+-R^-0.5), dt_proj bias softplus^-1 of a log-uniform dt in [1e-3, 0.1] (floor 1e-4),
 * A_log log(1..N), D 1, RMSNorm weights 1 */
static void init_entry(const vssm_vim_trainer *t, const ventry *e, int i, uint64_t seed, float *dst) {
    uint64_t s = seed ^ (0xD1B54A32D192ED03ull * (uint64_t)(i + 1));
    const char *nm = e->name;
    const int64_t A = e->shape[0], fan_in = e->n / A;
    for (int64_t j = 0; j < e->n; j++) {
        double v;
        if (!strcmp(nm, "head.weight") || !strcmp(nm, "pos_embed") || !strcmp(nm, "cls_token"))
            v = trunc_normal(&s, 0.02);
        else if (!strcmp(nm, "patch_embed.proj.weight"))
            v = trunc_normal(&s, sqrt(1.0 / (double)fan_in) / .87962566103423978);
        else if (has_suffix(nm, "A_log") || has_suffix(nm, "A_b_log")) /* master (N, Di): row j / Di */
            v = log((double)(j / A + 1));
        else if (has_suffix(nm, ".D") || has_suffix(nm, ".D_b") || has_suffix(nm, "norm.weight") ||
                 !strcmp(nm, "norm_f.weight"))
            v = 1.0;
        else if (strstr(nm, "dt_proj") && has_suffix(nm, ".weight"))
            v = (2.0 * unif(&s) - 1.0) / sqrt((double)fan_in);
        else if (strstr(nm, "dt_proj") && has_suffix(nm, ".bias")) {
            double dt = exp(unif(&s) * (log(0.1) - log(1e-3)) + log(1e-3));
            dt = dt < 1e-4 ? 1e-4 : dt;
            v = dt + log(-expm1(-dt));
        } else if (strstr(nm, "conv1d") && has_suffix(nm, ".bias"))
            v = (2.0 * unif(&s) - 1.0) / sqrt((double)t->cfg.d_conv);
        else if (e->ndim == 1)
            v = 0.0;
        else
            v = (2.0 * unif(&s) - 1.0) / sqrt((double)fan_in) /
                (has_suffix(nm, "out_proj.weight") ? sqrt((double)t->cfg.depth) : 1.0);
        dst[j] = (float)v;
    }
}

static vssm_status load_master(vssm_vim_trainer *t, const vssm_source *src, const char *prefix,
                               const vssm_train_init *init, vssm_err *err) {
    int64_t maxn = 1;
    for (int i = 0; i < t->ne; i++) maxn = t->e[i].n > maxn ? t->e[i].n : maxn;
    float *host = malloc((size_t)maxn * sizeof(float));
    if (!host) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    vssm_status s = VSSM_OK;
    for (int i = 0; i < t->ne && s == VSSM_OK; i++) {
        const ventry *e = &t->e[i];
        char full[320];
        snprintf(full, sizeof full, "%s%s", prefix ? prefix : "", e->name);
        if (!src || (init && init->new_head && !strncmp(e->name, "head.", 5)))
            init_entry(t, e, i, init ? init->seed : 0, t->master + e->off);
        else if ((s = vssm_load_fetch_f32(src, full, e->shape, e->ndim, host, err)) == VSSM_OK)
            to_master(e, host, t->master + e->off, 0);
    }
    free(host);
    return s;
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
    vrec r = {{rec_visit}, t};
    if (walk_all(&r.w, cfg, &t->pw)) {
        vssm_vim_trainer_free(t);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    }
    const size_t mb = (size_t)t->n_master * sizeof(float);
    t->master = vssm_op_alloc(ctx, mb);
    t->grad = vssm_op_alloc(ctx, mb);
    t->fwd = vssm_op_alloc(ctx, (size_t)(t->n_fwd ? t->n_fwd : 1) * sizeof(float));
    if (!t->master || !t->grad || !t->fwd) {
        vssm_vim_trainer_free(t);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory for %.1f MB of weights and gradients", 2.0 * mb / 1e6);
    }
    memset(t->master, 0, mb); /* the gaps stay 0 */
    memset(t->grad, 0, mb);
    vplace pf = {{place_visit}, t, t->master, t->fwd, 0}, pm = {{place_visit}, t, t->master, NULL, 0},
           pg = {{place_visit}, t, t->grad, NULL, 0};
    walk_all(&pf.w, cfg, &t->fw);
    walk_all(&pm.w, cfg, &t->pw);
    walk_all(&pg.w, cfg, &t->gw);
    if ((s = load_master(t, src, prefix, init, err)) != VSSM_OK) {
        vssm_vim_trainer_free(t);
        return s;
    }
    vssm_vim_trainer_params_changed(t);
    *out = t;
    return VSSM_OK;
}

int vssm_vim_trainer_n_tensors(const vssm_vim_trainer *t) { return t->ne; }

vssm_train_tensor vssm_vim_trainer_tensor(const vssm_vim_trainer *t, int i) {
    vssm_train_tensor r;
    memset(&r, 0, sizeof r);
    if (i < 0 || i >= t->ne) return r;
    const ventry *e = &t->e[i];
    r.name = e->name, r.ndim = e->ndim, r.numel = e->n, r.offset = e->off;
    memcpy(r.shape, e->shape, sizeof r.shape);
    r.decay = e->ndim > 1 && strcmp(e->name, "pos_embed") && strcmp(e->name, "cls_token") &&
              !has_suffix(e->name, "A_log") && !has_suffix(e->name, "A_b_log");
    return r;
}

void vssm_vim_trainer_read_flat(const vssm_vim_trainer *t, const float *flat, int i, float *host) {
    to_master(&t->e[i], flat + t->e[i].off, host, 1);
}
void vssm_vim_trainer_write_flat(const vssm_vim_trainer *t, const float *host, int i, float *flat) {
    to_master(&t->e[i], host, flat + t->e[i].off, 0);
}
void vssm_vim_trainer_read(const vssm_vim_trainer *t, int i, int grad, float *host) {
    vssm_vim_trainer_read_flat(t, grad ? t->grad : t->master, i, host);
}
void vssm_vim_trainer_freeze_backbone(vssm_vim_trainer *t, int on) { t->frozen = on != 0; }
float *vssm_vim_trainer_params(vssm_vim_trainer *t, int64_t *n) {
    *n = t->n_master;
    return t->master;
}
float *vssm_vim_trainer_grads(vssm_vim_trainer *t, int64_t *n) {
    *n = t->n_master;
    return t->grad;
}
void vssm_vim_trainer_zero_grad(vssm_vim_trainer *t) { memset(t->grad, 0, (size_t)t->n_master * sizeof(float)); }

/* ======================================================================= activation plan */

/* n floats from the arena at *base + *off (base NULL: counting) */
static float *carve(char *base, size_t *off, size_t n) {
    float *p = base ? (float *)(base + *off) : NULL;
    *off += (n * sizeof(float) + 63) & ~(size_t)63;
    return p;
}

static void plan_layout(vacts *a, const vssm_vim_config *c, char *sv, char *sc) {
    const size_t T = (size_t)a->T, D = c->embed_dim, Di = c->d_inner, B = a->B, nc = c->num_classes;
    const size_t C2 = (size_t)vssm_vim_dt_rank(c) + 2 * c->d_state,
                 KC = (size_t)c->in_chans * c->patch_size * c->patch_size;
    size_t o = 0;
    a->in = carve(sv, &o, B * a->H * a->W * c->in_chans);
    a->cols = carve(sv, &o, T * KC);
    for (int i = 0; i < c->depth; i++) {
        float *x = carve(sv, &o, T * D), *xz = carve(sv, &o, T * 2 * Di), *y = carve(sv, &o, T * Di);
        if (a->x_in) a->x_in[i] = x, a->xz[i] = xz, a->y[i] = y;
    }
    a->x_fin = carve(sv, &o, T * D);
    a->clsn = carve(sv, &o, B * D);
    a->logits = carve(sv, &o, B * nc);
    a->saved = o;
    o = 0;
    a->g = carve(sc, &o, T * D), a->ln = carve(sc, &o, T * D), a->dln = carve(sc, &o, T * D);
    a->gh = carve(sc, &o, T * D), a->dxz = carve(sc, &o, T * 2 * Di);
    a->u = carve(sc, &o, T * Di), a->du = carve(sc, &o, T * Di), a->dy = carve(sc, &o, T * Di);
    a->xdbl = carve(sc, &o, T * C2), a->dxdbl = carve(sc, &o, T * C2);
    a->xc = carve(sc, &o, B * D), a->dc = carve(sc, &o, B * D);
    a->dlogits = carve(sc, &o, B * nc), a->loss = carve(sc, &o, 1);
    a->labels = (int32_t *)carve(sc, &o, B);
    a->scratch = o;
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
    a->B = batch, a->H = h, a->W = w;
    a->L = (int64_t)gh * gw + 1, a->T = a->L * batch, a->cls_row = (int64_t)gh * gw / 2;
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
    vssm_scan1d_args s = {
        a->B,  Di, vssm_vim_dt_rank(c), c->d_state, a->L, d, d, a->u, a->xdbl, xz + Di, 2 * Di, w->dt_w, w->dt_b, w->A,
        w->Ds, y};
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
