/* train/vmamba_train.c - forward with saved activations and the whole-model backward of the
 * VMamba classifier, v05_noz and the first release's v0 (vssm/train.h).
 *
 * Weights. The backbone's name table (vssm_vmamba_walk) and the classifier's four tensors are
 * walked into a table of entries; the MASTER copy holds each in the layout its backward op
 * takes (kernels/BACKWARD.md: plain, never packed; dt_w (K, R, D), A_logs (K, N, D), conv
 * (Cout, 3, 3, Cin), depthwise (3, 3, C)), the GRADIENT buffer has the same layout, and the
 * FORWARD copy is what the inference ops want: linear and conv weights packed, A = -exp(A_logs)
 * (the other tensors are the master's own). Three vssm_vmamba structs point into the three.
 *
 * Saved activations, per (batch, size), planned once (bump_plan counts, then places):
 *   stem:   in (B,H,W,in), pe_pre (conv 1 out, B h1 w1 C/2), f0_pre (conv 2 out, M0 C)
 *   block:  x_in (M d: the residual stream entering it), xi (M Di: in_proj out), y (M Di: scan
 *           out), xm (M d: after the SS2D residual), h (M hid: GELU(fc1)); per token
 *           2d + 2Di + hid floats. Recomputed in the backward: LN outputs, u = SiLU(dwconv(xi))
 *           and the stem's GELU(LN(pe_pre)) (one cheap op each), the scan states (by the op).
 *   stage:  its output (M d), the downsample's conv output (M' d')
 *   head:   pooled (B d3), logits (B classes)
 * Scratch (shared by all layers, the largest stage's size): two residual-gradient buffers,
 * two of M d, three of M Di, one of M hid, the stem's two, the op workspaces.
 * v0 (backbone/vmamba.c's v0 paths): xi holds in_proj's x and gate z (M 2Di), the conv has a
 * bias, SS2D's output is out_proj(out_norm(y) * SiLU(z)), no MLP (mlp_ratio 0: x_out = xm); the
 * stem keeps the 4x4 patches (pe_cols) and the linear's output (f0_pre, then LN pe2); a
 * downsample keeps patch_merge's output (down_pre: M' 4d), then LN(4d) and the reduction
 * (recomputed in the backward). Scratch: the (M 2Di) gradient of xi, two of M' 4d.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backbone/load.h"
#include "backbone/vmamba_internal.h"
#include "kernels/ops.h"
#include "train/table.h"
#include "vssm/train.h"

#define LN_EPS 1e-5f

typedef struct thead {
    float *norm_w, *norm_b, *fc_w, *fc_b; /* classifier.norm (d3), classifier.head (classes, d3) + (classes) */
} thead;

/* one view of the weights: the backbone's slots and the head's */
typedef struct tview {
    vssm_vmamba m;
    thead h;
} tview;

typedef struct tblock {
    float *x_in, *xi, *y, *xm, *h;
} tblock;

typedef struct tacts {
    int B, H, W, h1, w1, hs[VSSM_VMAMBA_STAGES], wd[VSSM_VMAMBA_STAGES]; /* stage sizes */
    /* saved */
    float *in, *pe_pre, *pe_cols, *f0_pre, *out[VSSM_VMAMBA_STAGES], *down_pre[VSSM_VMAMBA_STAGES - 1], *pooled,
        *logits;
    tblock *blk[VSSM_VMAMBA_STAGES];
    /* scratch */
    float *ga, *gb, *td, *td2, *t1, *t2, *t3, *th, *pe_a, *pe_g, *dpool, *dlogits, *loss, *txz, *tm, *tm2;
    int32_t *labels;
    void *ws;
    size_t saved, scratch;
} tacts;

struct vssm_vmamba_trainer {
    vssm_ctx *ctx;
    int frozen; /* vssm_vmamba_trainer_freeze_backbone */
    vssm_vmamba_config cfg;
    tview fw, pw, gw; /* forward, master, gradient (slots into tab's copies) */
    vssm_ttab tab;
    tacts a;
    void *act_mem, *scratch_mem;
};

/* ======================================================================= the table */

static int walk_all(vssm_walker *w, const void *config, void *view) {
    const vssm_vmamba_config *cfg = config;
    tview *v = view;
    const int64_t d3 = cfg->dims[VSSM_VMAMBA_STAGES - 1], nc = cfg->num_classes;
    if (vssm_vmamba_walk(w, cfg, &v->m)) return 1;
    VSSM_VISIT(w, "classifier.norm.weight", VSSM_XF_PLAIN, 1, &v->h.norm_w, d3);
    VSSM_VISIT(w, "classifier.norm.bias", VSSM_XF_PLAIN, 1, &v->h.norm_b, d3);
    VSSM_VISIT(w, "classifier.head.weight", VSSM_XF_PLAIN, 1, &v->h.fc_w, nc, d3);
    VSSM_VISIT(w, "classifier.head.bias", VSSM_XF_PLAIN, 1, &v->h.fc_b, nc);
    return 0;
}

static vssm_status views_alloc(vssm_vmamba_trainer *t, vssm_err *err) {
    tview *v[3] = {&t->fw, &t->pw, &t->gw};
    for (int k = 0; k < 3; k++)
        for (int s = 0; s < VSSM_VMAMBA_STAGES; s++)
            if (t->cfg.depths[s] > 0 &&
                !(v[k]->m.stage[s].blocks = calloc((size_t)t->cfg.depths[s], sizeof(vssm_block_w))))
                return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    return VSSM_OK;
}

void vssm_vmamba_trainer_params_changed(vssm_vmamba_trainer *t) { vssm_ttab_params_changed(&t->tab); }

/* ======================================================================= create, free */

void vssm_vmamba_trainer_free(vssm_vmamba_trainer *t) {
    if (!t) return;
    tview *v[3] = {&t->fw, &t->pw, &t->gw};
    for (int k = 0; k < 3; k++)
        for (int s = 0; s < VSSM_VMAMBA_STAGES; s++) free(v[k]->m.stage[s].blocks);
    for (int s = 0; s < VSSM_VMAMBA_STAGES; s++) free(t->a.blk[s]);
    vssm_op_free(t->ctx, t->act_mem);
    vssm_op_free(t->ctx, t->scratch_mem);
    vssm_ttab_free(&t->tab);
    free(t);
}

/* ---- initial values (vssm_train_init): the official VMamba's _init_weights and SS2D's inits ---- */

typedef struct vm_init {
    const vssm_source *src;
    const vssm_train_init *init;
} vm_init;

/* entry e into dst (its master layout) from the seed: linear weights N(0, 0.02) (timm's
 * trunc_normal_ at +-2, never reached), x_proj and convolutions U(+-1/sqrt(fan_in)) (PyTorch's
 * default), biases 0, LayerNorm 1, A_logs log(1..N), Ds 1, dt_projs_weight U(+-R^-0.5),
 * dt_projs_bias softplus^-1(dt) with dt log-uniform in [1e-3, 0.1] (SS2D's dt_init) */
static void init_entry(const vssm_ttab_entry *e, int index, void *user, float *dst) {
    const vm_init *vi = user;
    uint64_t s = (vi->init ? vi->init->seed : 0) ^ (0xD1B54A32D192ED03ull * (uint64_t)(index + 1));
    const char *nm = e->name;
    const int64_t fan_in = e->n / e->shape[0];
    for (int64_t j = 0; j < e->n; j++) {
        double v;
        if (vssm_ttab_ends_with(nm, "A_logs")) {
            const int64_t N = e->shape[1], D = e->shape[0] / VSSM_VMAMBA_K;
            v = log((double)((j / D) % N + 1));
        } else if (vssm_ttab_ends_with(nm, ".Ds"))
            v = 1.0;
        else if (vssm_ttab_ends_with(nm, "dt_projs_weight"))
            v = (2.0 * vssm_ttab_unif(&s) - 1.0) / sqrt((double)e->shape[2]);
        else if (vssm_ttab_ends_with(nm, "dt_projs_bias")) {
            double dt = exp(vssm_ttab_unif(&s) * (log(0.1) - log(1e-3)) + log(1e-3));
            dt = dt < 1e-4 ? 1e-4 : dt;
            v = dt + log(-expm1(-dt));
        } else if (e->ndim == 1)
            v = vssm_ttab_ends_with(nm, ".weight") ? 1.0 : 0.0;
        else if (e->xf == VSSM_XF_LINEAR && e->ndim == 2 && !vssm_ttab_ends_with(nm, "x_proj_weight"))
            v = 0.02 * vssm_ttab_normal(&s);
        else if (!strcmp(nm, "classifier.head.weight"))
            v = 0.02 * vssm_ttab_normal(&s);
        else
            v = (2.0 * vssm_ttab_unif(&s) - 1.0) /
                sqrt((double)(vssm_ttab_ends_with(nm, "x_proj_weight") ? e->shape[2] : fan_in));
        if (v < -2.0 && e->ndim == 2) v = -2.0;
        if (v > 2.0 && e->ndim == 2) v = 2.0;
        dst[j] = (float)v;
    }
}

/* which entries come from the initialiser instead of the source (full is NULL without one) */
static int from_init(const vssm_ttab_entry *e, const char *full, void *user) {
    const vm_init *vi = user;
    if (!full) return 1;
    if (!vi->init || !vi->init->new_head || strncmp(e->name, "classifier.", 11)) return 0;
    if (!strncmp(e->name, "classifier.head.", 16)) return 1;
    vssm_tensor tv; /* classifier.norm: the file's when it has one of this size */
    vssm_err e2 = {0};
    return vi->src->get(vi->src->user, full, e->shape, e->ndim, &tv, &e2) != VSSM_OK || tv.ndim != 1 ||
           tv.shape[0] != e->shape[0];
}

vssm_status vssm_vmamba_trainer_new(vssm_vmamba_trainer **out, vssm_ctx *ctx, const vssm_vmamba_config *cfg,
                                    const vssm_source *src, const char *prefix, vssm_err *err) {
    return vssm_vmamba_trainer_create(out, ctx, cfg, src, prefix, NULL, err);
}

vssm_status vssm_vmamba_trainer_create(vssm_vmamba_trainer **out, vssm_ctx *ctx, const vssm_vmamba_config *cfg,
                                       const vssm_source *src, const char *prefix, const vssm_train_init *init,
                                       vssm_err *err) {
    *out = NULL;
    vssm_status s = vssm_vmamba_config_validate(cfg, err);
    if (s != VSSM_OK) return s;
    if (cfg->num_classes < 1)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "training needs a classifier (num_classes >= 1)");
    if ((s = vssm_op_training_supported(ctx, err)) != VSSM_OK) return s;
    vssm_vmamba_trainer *t = calloc(1, sizeof *t);
    if (!t) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    t->ctx = ctx;
    t->cfg = *cfg;
    void *const views[3] = {&t->fw, &t->pw, &t->gw};
    vm_init vi = {src, init};
    const vssm_ttab_init ti = {from_init, init_entry, &vi};
    if ((s = views_alloc(t, err)) != VSSM_OK || (s = vssm_ttab_build(&t->tab, ctx, walk_all, cfg, views, err)) ||
        (s = vssm_ttab_load(&t->tab, src, prefix, &ti, err)) != VSSM_OK) {
        vssm_vmamba_trainer_free(t);
        return s;
    }
    for (int i = 0; i < t->tab.ne; i++) { /* no decay: 1-D tensors, dt_projs_bias, A_logs */
        vssm_ttab_entry *e = &t->tab.e[i];
        e->decay = e->ndim > 1 && !strstr(e->name, "dt_projs_bias") && !vssm_ttab_ends_with(e->name, "A_logs");
    }
    vssm_ttab_params_changed(&t->tab);
    *out = t;
    return VSSM_OK;
}

int vssm_vmamba_trainer_n_tensors(const vssm_vmamba_trainer *t) { return t->tab.ne; }

vssm_train_tensor vssm_vmamba_trainer_tensor(const vssm_vmamba_trainer *t, int i) {
    return vssm_ttab_tensor(&t->tab, i);
}

void vssm_vmamba_trainer_read_flat(const vssm_vmamba_trainer *t, const float *flat, int i, float *host) {
    if (i < 0 || i >= t->tab.ne) return; /* no such tensor: nothing read */
    vssm_ttab_to_master(&t->tab.e[i], flat + t->tab.e[i].off, host, 1);
}

void vssm_vmamba_trainer_read(const vssm_vmamba_trainer *t, int i, int grad, float *host) {
    vssm_vmamba_trainer_read_flat(t, grad ? t->tab.grad : t->tab.master, i, host);
}

void vssm_vmamba_trainer_write_flat(const vssm_vmamba_trainer *t, const float *host, int i, float *flat) {
    if (i < 0 || i >= t->tab.ne) return; /* no such tensor: nothing written */
    vssm_ttab_to_master(&t->tab.e[i], host, flat + t->tab.e[i].off, 0);
}

void vssm_vmamba_trainer_freeze_backbone(vssm_vmamba_trainer *t, int on) { t->frozen = on != 0; }

float *vssm_vmamba_trainer_params(vssm_vmamba_trainer *t, int64_t *n) {
    *n = t->tab.n_master;
    return t->tab.master;
}
float *vssm_vmamba_trainer_grads(vssm_vmamba_trainer *t, int64_t *n) {
    *n = t->tab.n_master;
    return t->tab.grad;
}
void vssm_vmamba_trainer_zero_grad(vssm_vmamba_trainer *t) { vssm_ttab_zero_grad(&t->tab); }

/* ======================================================================= activation plan */

typedef vssm_ttab_bump bump; /* base NULL: counting */
static void *take(bump *b, size_t floats) { return vssm_ttab_take(b, floats); }

static int64_t hid_of(const vssm_vmamba_config *cfg, int s) { return (int64_t)((float)cfg->dims[s] * cfg->mlp_ratio); }

static void plan_sizes(tacts *a, const vssm_vmamba_config *cfg, int B, int h, int w) {
    a->B = B, a->H = h, a->W = w, a->h1 = (h + 1) / 2, a->w1 = (w + 1) / 2;
    for (int s = 0; s < VSSM_VMAMBA_STAGES; s++) vssm_vmamba_config_stage_size(cfg, h, w, s, &a->hs[s], &a->wd[s]);
}

/* the saved activations from sv, the scratch from sc (either base may be NULL: counting);
 * blk arrays are filled only when allocated */
static void plan_layout(tacts *a, vssm_ctx *ctx, const vssm_vmamba_config *cfg, bump *sv, bump *sc) {
    const size_t B = a->B, C = cfg->dims[0], in = cfg->in_chans, nc = cfg->num_classes;
    const int v0 = vssm_vmamba_is_v0(cfg);
    const size_t p1 = v0 ? 0 : B * a->h1 * a->w1 * (C / 2);
    size_t md = 0, mdi = 0, mhid = 0, ws = 0, m4 = 0;
    a->in = take(sv, B * a->H * a->W * in);
    a->pe_pre = take(sv, p1);
    a->pe_cols = take(sv, v0 ? B * a->hs[0] * a->wd[0] * 16 * in : 0);
    ws = vssm_op_conv3x3s2_workspace(ctx, (int)B, a->H, a->W, (int)in);
    size_t w2 = vssm_op_conv3x3s2_workspace(ctx, (int)B, a->h1, a->w1, (int)C / 2);
    ws = w2 > ws ? w2 : ws;
    for (int s = 0; s < VSSM_VMAMBA_STAGES; s++) {
        const size_t M = B * a->hs[s] * a->wd[s], d = cfg->dims[s], di = vssm_vmamba_d_inner(cfg, s);
        const size_t hid = (size_t)hid_of(cfg, s);
        md = M * d > md ? M * d : md, mdi = M * di > mdi ? M * di : mdi, mhid = M * hid > mhid ? M * hid : mhid;
        const size_t m4s = s && v0 ? M * 4 * cfg->dims[s - 1] : 0; /* v0: patch_merge's output */
        m4 = m4s > m4 ? m4s : m4;
        if (s == 0)
            a->f0_pre = take(sv, M * d);
        else
            a->down_pre[s - 1] = take(sv, v0 ? m4s : M * d);
        for (int j = 0; j < cfg->depths[s]; j++) {
            tblock tb;
            tb.x_in = take(sv, M * d), tb.xi = take(sv, M * di * (v0 ? 2 : 1)), tb.y = take(sv, M * di);
            tb.xm = take(sv, hid ? M * d : 0), tb.h = take(sv, M * hid);
            if (a->blk[s]) a->blk[s][j] = tb;
        }
        a->out[s] = take(sv, M * d);
        size_t sw = vssm_op_scan_workspace(ctx, (int)B, a->hs[s], a->wd[s], (int)di, vssm_vmamba_dt_rank(cfg, s),
                                           cfg->d_state);
        size_t cw = s + 1 < VSSM_VMAMBA_STAGES ? vssm_op_conv3x3s2_workspace(ctx, (int)B, a->hs[s], a->wd[s], (int)d)
                                               : 0;
        ws = sw > ws ? sw : ws;
        ws = cw > ws ? cw : ws;
    }
    a->pooled = take(sv, B * cfg->dims[3]);
    a->logits = take(sv, B * nc);
    a->ga = take(sc, md), a->gb = take(sc, md), a->td = take(sc, md), a->td2 = take(sc, md);
    a->t1 = take(sc, mdi), a->t2 = take(sc, mdi), a->t3 = take(sc, mdi), a->th = take(sc, mhid);
    a->pe_a = take(sc, p1), a->pe_g = take(sc, p1);
    a->txz = take(sc, v0 ? 2 * mdi : 0), a->tm = take(sc, m4), a->tm2 = take(sc, m4);
    a->dpool = take(sc, B * cfg->dims[3]), a->dlogits = take(sc, B * nc), a->loss = take(sc, 1);
    a->labels = take(sc, B);
    a->ws = take(sc, (ws + sizeof(float) - 1) / sizeof(float));
    a->saved = sv->off, a->scratch = sc->off;
}

void vssm_vmamba_train_memory(vssm_ctx *ctx, const vssm_vmamba_config *cfg, int batch, int h, int w, size_t *saved,
                              size_t *scratch) {
    tacts a;
    memset(&a, 0, sizeof a);
    bump sv = {NULL, 0}, sc = {NULL, 0};
    plan_sizes(&a, cfg, batch, h, w);
    plan_layout(&a, ctx, cfg, &sv, &sc);
    *saved = a.saved, *scratch = a.scratch;
}

vssm_status vssm_vmamba_trainer_plan(vssm_vmamba_trainer *t, int batch, int h, int w, vssm_err *err) {
    if (batch < 1 || batch > 65536 || h < 1 || w < 1 || h > 32768 || w > 32768)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "batch %d at %dx%d out of range", batch, h, w);
    tacts *a = &t->a;
    if (t->act_mem && a->B == batch && a->H == h && a->W == w) return VSSM_OK;
    vssm_op_free(t->ctx, t->act_mem), vssm_op_free(t->ctx, t->scratch_mem);
    t->act_mem = t->scratch_mem = NULL;
    for (int s = 0; s < VSSM_VMAMBA_STAGES; s++) free(a->blk[s]);
    memset(a, 0, sizeof *a);
    size_t saved, scratch;
    vssm_vmamba_train_memory(t->ctx, &t->cfg, batch, h, w, &saved, &scratch);
    int fail = 0;
    for (int s = 0; s < VSSM_VMAMBA_STAGES; s++)
        if (t->cfg.depths[s] && !(a->blk[s] = calloc((size_t)t->cfg.depths[s], sizeof(tblock)))) fail = 1;
    t->act_mem = vssm_op_alloc(t->ctx, saved);
    t->scratch_mem = vssm_op_alloc(t->ctx, scratch);
    if (fail || !t->act_mem || !t->scratch_mem) {
        vssm_op_free(t->ctx, t->act_mem), vssm_op_free(t->ctx, t->scratch_mem);
        t->act_mem = t->scratch_mem = NULL;
        return vssm_err_set(err, VSSM_ERR_NOMEM,
                            "out of memory planning %.1f MB of saved activations and %.1f MB of "
                            "scratch for batch %d at %dx%d",
                            saved / 1e6, scratch / 1e6, batch, h, w);
    }
    bump sv = {t->act_mem, 0}, sc = {t->scratch_mem, 0};
    plan_sizes(a, &t->cfg, batch, h, w);
    plan_layout(a, t->ctx, &t->cfg, &sv, &sc);
    return VSSM_OK;
}

size_t vssm_vmamba_trainer_saved_bytes(const vssm_vmamba_trainer *t) { return t->a.saved; }
size_t vssm_vmamba_trainer_scratch_bytes(const vssm_vmamba_trainer *t) { return t->a.scratch; }

/* ======================================================================= forward */

static void zero(float *p, size_t n) { memset(p, 0, n * sizeof(float)); } /* CPU: device memory is host memory */

static float *block_out(const tacts *a, const vssm_vmamba_config *cfg, int s, int j) {
    return j + 1 < cfg->depths[s] ? a->blk[s][j + 1].x_in : a->out[s];
}
static float *stage_in(const tacts *a, const vssm_vmamba_config *cfg, int s) {
    return cfg->depths[s] ? a->blk[s][0].x_in : a->out[s];
}

/* The forward of a block runs FWD_ROWS tokens (whole images) at a time: the chunk's
 * activations and scratch stay in the L2 cache from one op to the next (a whole batch's do
 * not: 128 Fashion-MNIST images are 8192 tokens at stage 0, 12 MB of them). Every op is per token or
 * per image and batch-invariant, so the bits are those of the whole batch at once. */
#define FWD_ROWS 512

/* one chunk of block (s, j): images b0 .. b0+nb (FWD_ROWS tokens, whole images), M tokens,
 * the block's sizes and its saved tensors at the chunk's offset */
typedef struct tchunk {
    int nb, H, W, d, Di, hid, v0;
    int64_t M;
    float *x_in, *xi, *y, *xm, *h, *x_out;
} tchunk;

static tchunk chunk_at(const vssm_vmamba_trainer *t, int s, int j, int b0) {
    const tacts *a = &t->a;
    const vssm_vmamba_config *cfg = &t->cfg;
    const tblock *k = &a->blk[s][j];
    tchunk c;
    c.H = a->hs[s], c.W = a->wd[s], c.d = cfg->dims[s], c.Di = vssm_vmamba_d_inner(cfg, s);
    c.hid = (int)hid_of(cfg, s);
    const int64_t L = (int64_t)c.H * c.W, per = L >= FWD_ROWS ? 1 : FWD_ROWS / L, o = b0 * L;
    c.nb = a->B - b0 < per ? a->B - b0 : (int)per;
    c.M = c.nb * L;
    c.v0 = vssm_vmamba_is_v0(cfg);
    c.x_in = k->x_in + o * c.d, c.xi = k->xi + o * (c.v0 ? 2 : 1) * c.Di, c.y = k->y + o * c.Di;
    c.h = k->h + o * c.hid, c.x_out = block_out(a, cfg, s, j) + o * c.d;
    c.xm = c.hid ? k->xm + o * c.d : c.x_out; /* no MLP: x_out = xm */
    return c;
}

static void fwd_block(vssm_vmamba_trainer *t, int s, int j) {
    vssm_ctx *ctx = t->ctx;
    tacts *a = &t->a;
    const vssm_block_w *b = &t->fw.m.stage[s].blocks[j];
    const int R = vssm_vmamba_dt_rank(&t->cfg, s), N = t->cfg.d_state;
    for (int b0 = 0; b0 < a->B;) {
        const tchunk c = chunk_at(t, s, j, b0);
        b0 += c.nb;
        vssm_op_layernorm(ctx, c.x_in, c.M, c.d, b->norm_w, b->norm_b, LN_EPS, VSSM_ACT_NONE, a->td);
        vssm_op_linear_packed(ctx, a->td, c.M, c.d, b->in_proj, NULL, c.v0 ? 2 * c.Di : c.Di, VSSM_ACT_NONE, 0, c.xi);
        if (c.v0)
            vssm_op_dwconv3x3_bias(ctx, c.xi, 2 * c.Di, c.nb, c.H, c.W, c.Di, b->conv, b->conv_b, VSSM_ACT_SILU, a->t1);
        else
            vssm_op_dwconv3x3(ctx, c.xi, c.nb, c.H, c.W, c.Di, b->conv, VSSM_ACT_SILU, a->t1);
        vssm_scan_args sa = {c.nb, c.H, c.W, c.Di, R, N, a->t1, b->x_proj, b->dt_w, b->dt_b, b->A, b->Ds, c.y, NULL};
        vssm_op_ss2d_scan(ctx, &sa, a->ws);
        vssm_op_layernorm(ctx, c.y, c.M, c.Di, b->out_norm_w, b->out_norm_b, LN_EPS, VSSM_ACT_NONE, a->t2);
        if (c.v0) vssm_op_mul_silu(ctx, a->t2, c.M, c.Di, c.xi + c.Di, 2 * c.Di);
        vssm_op_copy(ctx, c.xm, c.x_in, (size_t)c.M * c.d * sizeof(float));
        vssm_op_linear_packed(ctx, a->t2, c.M, c.Di, b->out_proj, NULL, c.d, VSSM_ACT_NONE, 1, c.xm);
        if (!c.hid) continue;
        vssm_op_layernorm(ctx, c.xm, c.M, c.d, b->norm2_w, b->norm2_b, LN_EPS, VSSM_ACT_NONE, a->td);
        vssm_op_linear_packed(ctx, a->td, c.M, c.d, b->fc1_w, b->fc1_b, c.hid, VSSM_ACT_GELU, 0, c.h);
        vssm_op_copy(ctx, c.x_out, c.xm, (size_t)c.M * c.d * sizeof(float));
        vssm_op_linear_packed(ctx, c.h, c.M, c.hid, b->fc2_w, b->fc2_b, c.d, VSSM_ACT_NONE, 1, c.x_out);
    }
}

static void forward(vssm_vmamba_trainer *t) {
    vssm_ctx *ctx = t->ctx;
    const vssm_vmamba_config *cfg = &t->cfg;
    tacts *a = &t->a;
    const vssm_vmamba *m = &t->fw.m;
    const int B = a->B, C = cfg->dims[0], v0 = vssm_vmamba_is_v0(cfg);
    if (v0) { /* 4x4 patches -> linear (f0_pre) -> LN (patch_embed.2) */
        const int64_t M0 = (int64_t)B * a->hs[0] * a->wd[0];
        const vssm_patch_args pa = {B, a->H, a->W,  cfg->in_chans, 4, 4, (int64_t)a->hs[0] * a->wd[0],
                                    0, -1,   a->in, a->pe_cols};
        vssm_op_patchify(ctx, &pa);
        vssm_op_linear_packed(ctx, a->pe_cols, M0, 16 * cfg->in_chans, m->pe0_w, m->pe0_b, C, VSSM_ACT_NONE, 0,
                              a->f0_pre);
        vssm_op_layernorm(ctx, a->f0_pre, M0, C, m->pe2_w, m->pe2_b, LN_EPS, VSSM_ACT_NONE, stage_in(a, cfg, 0));
    } else {
        vssm_op_conv3x3s2(ctx, a->in, B, a->H, a->W, cfg->in_chans, m->pe0_w, m->pe0_b, C / 2, a->pe_pre, a->ws);
        vssm_op_layernorm(ctx, a->pe_pre, (int64_t)B * a->h1 * a->w1, C / 2, m->pe2_w, m->pe2_b, LN_EPS, VSSM_ACT_GELU,
                          a->pe_a);
        vssm_op_conv3x3s2(ctx, a->pe_a, B, a->h1, a->w1, C / 2, m->pe5_w, m->pe5_b, C, a->f0_pre, a->ws);
    }
    for (int s = 0; s < VSSM_VMAMBA_STAGES; s++) {
        const int64_t M = (int64_t)B * a->hs[s] * a->wd[s];
        const float *pre = s ? a->down_pre[s - 1] : a->f0_pre;
        const float *lw = s ? m->stage[s - 1].down_ln_w : m->pe7_w, *lb = s ? m->stage[s - 1].down_ln_b : m->pe7_b;
        if (!v0) vssm_op_layernorm(ctx, pre, M, cfg->dims[s], lw, lb, LN_EPS, VSSM_ACT_NONE, stage_in(a, cfg, s));
        for (int j = 0; j < cfg->depths[s]; j++) fwd_block(t, s, j);
        if (s + 1 == VSSM_VMAMBA_STAGES) break;
        const vssm_stage_w *sw = &m->stage[s];
        if (!v0) {
            vssm_op_conv3x3s2(ctx, a->out[s], B, a->hs[s], a->wd[s], cfg->dims[s], sw->down_w, sw->down_b,
                              cfg->dims[s + 1], a->down_pre[s], a->ws);
            continue;
        }
        const int64_t Mn = (int64_t)B * a->hs[s + 1] * a->wd[s + 1]; /* v0: 2x2 gather -> LN(4d) -> reduction */
        vssm_op_patch_merge(ctx, a->out[s], B, a->hs[s], a->wd[s], cfg->dims[s], a->down_pre[s]);
        vssm_op_layernorm(ctx, a->down_pre[s], Mn, 4 * cfg->dims[s], sw->down_ln_w, sw->down_ln_b, LN_EPS,
                          VSSM_ACT_NONE, a->tm);
        vssm_op_linear_packed(ctx, a->tm, Mn, 4 * cfg->dims[s], sw->down_w, NULL, cfg->dims[s + 1], VSSM_ACT_NONE, 0,
                              stage_in(a, cfg, s + 1));
    }
    const int d3 = cfg->dims[3];
    const int64_t L3 = (int64_t)a->hs[3] * a->wd[3];
    const thead *h = &t->fw.h;
    vssm_op_layernorm(ctx, a->out[3], B * L3, d3, h->norm_w, h->norm_b, LN_EPS, VSSM_ACT_NONE, a->td);
    vssm_op_avgpool(ctx, a->td, B, L3, d3, a->pooled);
    vssm_op_linear(ctx, a->pooled, B, d3, h->fc_w, h->fc_b, cfg->num_classes, VSSM_ACT_NONE, 0, a->logits);
}

/* ======================================================================= backward */

/* x_out = xm + fc2(GELU(fc1(norm2(xm)))) on chunk c: g, the gradient of x_out on entry, of xm on return */
static void bwd_mlp(vssm_vmamba_trainer *t, int s, int j, const tchunk *c, float *g) {
    vssm_ctx *ctx = t->ctx;
    tacts *a = &t->a;
    const vssm_block_w *p = &t->pw.m.stage[s].blocks[j], *gr = &t->gw.m.stage[s].blocks[j];
    const int64_t M = c->M;
    const int d = c->d, hid = c->hid;
    vssm_op_layernorm(ctx, c->xm, M, d, p->norm2_w, p->norm2_b, LN_EPS, VSSM_ACT_NONE, a->td);
    zero(a->th, (size_t)M * hid);
    vssm_op_linear_bwd(ctx, c->h, M, hid, p->fc2_w, p->fc2_b, d, VSSM_ACT_NONE, g, a->th, gr->fc2_w, gr->fc2_b);
    zero(a->td2, (size_t)M * d);
    vssm_op_linear_bwd(ctx, a->td, M, d, p->fc1_w, p->fc1_b, hid, VSSM_ACT_GELU, a->th, a->td2, gr->fc1_w, gr->fc1_b);
    vssm_op_layernorm_bwd(ctx, c->xm, M, d, p->norm2_w, p->norm2_b, LN_EPS, VSSM_ACT_NONE, a->td2, g, gr->norm2_w,
                          gr->norm2_b);
}

/* xm = x_in + out_proj(n), n = out_norm(scan(SiLU(dwconv(in_proj(norm(x_in)))))) on chunk c (v0: n SiLU(z)
 * instead of n, the conv with a bias): g, the gradient of xm on entry, of x_in on return */
static void bwd_ss2d(vssm_vmamba_trainer *t, int s, int j, const tchunk *c, float *g) {
    vssm_ctx *ctx = t->ctx;
    tacts *a = &t->a;
    const vssm_block_w *p = &t->pw.m.stage[s].blocks[j], *gr = &t->gw.m.stage[s].blocks[j];
    const vssm_block_w *f = &t->fw.m.stage[s].blocks[j];
    const int R = vssm_vmamba_dt_rank(&t->cfg, s), N = t->cfg.d_state;
    const int64_t M = c->M;
    const int d = c->d, Di = c->Di, v0 = c->v0;
    vssm_op_layernorm(ctx, c->y, M, Di, p->out_norm_w, p->out_norm_b, LN_EPS, VSSM_ACT_NONE, a->t1);
    if (v0) { /* the gated n */
        vssm_op_copy(ctx, a->t2, a->t1, (size_t)M * Di * sizeof(float));
        vssm_op_mul_silu(ctx, a->t2, M, Di, c->xi + Di, 2 * Di);
    }
    zero(a->t3, (size_t)M * Di);
    vssm_op_linear_bwd(ctx, v0 ? a->t2 : a->t1, M, Di, p->out_proj, NULL, d, VSSM_ACT_NONE, g, a->t3, gr->out_proj,
                       NULL);
    if (v0) { /* d n into t2, d z into the gate half of txz */
        zero(a->txz, (size_t)M * 2 * Di), zero(a->t2, (size_t)M * Di);
        vssm_op_mul_silu_bwd(ctx, a->t1, M, Di, c->xi + Di, 2 * Di, a->t3, a->t2, a->txz + Di);
    }
    zero(a->t1, (size_t)M * Di);
    vssm_op_layernorm_bwd(ctx, c->y, M, Di, p->out_norm_w, p->out_norm_b, LN_EPS, VSSM_ACT_NONE, v0 ? a->t2 : a->t3,
                          a->t1, gr->out_norm_w, gr->out_norm_b);
    if (v0) /* u again */
        vssm_op_dwconv3x3_bias(ctx, c->xi, 2 * Di, c->nb, c->H, c->W, Di, p->conv, p->conv_b, VSSM_ACT_SILU, a->t2);
    else
        vssm_op_dwconv3x3(ctx, c->xi, c->nb, c->H, c->W, Di, p->conv, VSSM_ACT_SILU, a->t2);
    zero(a->t3, (size_t)M * Di);
    vssm_scan_args sa = {c->nb, c->H, c->W, Di, R, N, a->t2, p->x_proj, p->dt_w, p->dt_b, f->A, p->Ds, NULL, NULL};
    vssm_scan_grads sg = {a->t3, gr->x_proj, gr->dt_w, gr->dt_b, gr->A, gr->Ds}; /* gr->A: dA_logs */
    vssm_op_ss2d_scan_bwd(ctx, &sa, a->t1, &sg);
    float *dxi = a->t1; /* v0: the x half of txz */
    if (v0) {
        dxi = a->txz;
        vssm_op_dwconv3x3_bias_bwd(ctx, c->xi, 2 * Di, c->nb, c->H, c->W, Di, p->conv, p->conv_b, VSSM_ACT_SILU, a->t3,
                                   dxi, gr->conv, gr->conv_b);
    } else {
        zero(a->t1, (size_t)M * Di);
        vssm_op_dwconv3x3_bwd(ctx, c->xi, c->nb, c->H, c->W, Di, p->conv, VSSM_ACT_SILU, a->t3, a->t1, gr->conv);
    }
    vssm_op_layernorm(ctx, c->x_in, M, d, p->norm_w, p->norm_b, LN_EPS, VSSM_ACT_NONE, a->td);
    zero(a->td2, (size_t)M * d);
    vssm_op_linear_bwd(ctx, a->td, M, d, p->in_proj, NULL, v0 ? 2 * Di : Di, VSSM_ACT_NONE, dxi, a->td2, gr->in_proj,
                       NULL);
    vssm_op_layernorm_bwd(ctx, c->x_in, M, d, p->norm_w, p->norm_b, LN_EPS, VSSM_ACT_NONE, a->td2, g, gr->norm_w,
                          gr->norm_b);
}

/* g: the gradient of the block's output on entry, of its input on return. In chunks of
 * FWD_ROWS tokens as the forward (the parameter gradients add the chunks' sums in order:
 * still the same bits at any thread count). */
static void bwd_block(vssm_vmamba_trainer *t, int s, int j, float *gfull) {
    for (int b0 = 0; b0 < t->a.B;) {
        const tchunk c = chunk_at(t, s, j, b0);
        float *g = gfull + (int64_t)b0 * c.H * c.W * c.d;
        b0 += c.nb;
        if (c.hid) bwd_mlp(t, s, j, &c, g);
        bwd_ss2d(t, s, j, &c, g);
    }
}

/* the loss and dlogits -> the classifier's gradients; returns the gradient of out[3] */
static float *bwd_head(vssm_vmamba_trainer *t) {
    vssm_ctx *ctx = t->ctx;
    const vssm_vmamba_config *cfg = &t->cfg;
    tacts *a = &t->a;
    const int B = a->B, d3 = cfg->dims[3];
    const int64_t L3 = (int64_t)a->hs[3] * a->wd[3];
    const thead *p = &t->pw.h, *gr = &t->gw.h;
    zero(a->dpool, (size_t)B * d3);
    vssm_op_linear_bwd(ctx, a->pooled, B, d3, p->fc_w, p->fc_b, cfg->num_classes, VSSM_ACT_NONE, a->dlogits, a->dpool,
                       gr->fc_w, gr->fc_b);
    zero(a->td2, (size_t)B * L3 * d3);
    vssm_op_avgpool_bwd(ctx, B, L3, d3, a->dpool, a->td2);
    zero(a->ga, (size_t)B * L3 * d3);
    vssm_op_layernorm_bwd(ctx, a->out[3], B * L3, d3, p->norm_w, p->norm_b, LN_EPS, VSSM_ACT_NONE, a->td2, a->ga,
                          gr->norm_w, gr->norm_b);
    return a->ga;
}

/* g: the gradient of stage 0's input (after patch_embed.7) */
static void bwd_stem(vssm_vmamba_trainer *t, const float *g) {
    vssm_ctx *ctx = t->ctx;
    const vssm_vmamba_config *cfg = &t->cfg;
    tacts *a = &t->a;
    const vssm_vmamba *p = &t->pw.m, *gr = &t->gw.m;
    const int B = a->B, C = cfg->dims[0];
    const int64_t M0 = (int64_t)B * a->hs[0] * a->wd[0], M1 = (int64_t)B * a->h1 * a->w1;
    zero(a->td2, (size_t)M0 * C);
    if (vssm_vmamba_is_v0(cfg)) { /* LN (patch_embed.2) of the 4x4 patches' linear */
        vssm_op_layernorm_bwd(ctx, a->f0_pre, M0, C, p->pe2_w, p->pe2_b, LN_EPS, VSSM_ACT_NONE, g, a->td2, gr->pe2_w,
                              gr->pe2_b);
        vssm_op_linear_bwd(ctx, a->pe_cols, M0, 16 * cfg->in_chans, p->pe0_w, p->pe0_b, C, VSSM_ACT_NONE, a->td2, NULL,
                           gr->pe0_w, gr->pe0_b);
        return;
    }
    vssm_op_layernorm_bwd(ctx, a->f0_pre, M0, C, p->pe7_w, p->pe7_b, LN_EPS, VSSM_ACT_NONE, g, a->td2, gr->pe7_w,
                          gr->pe7_b);
    vssm_op_layernorm(ctx, a->pe_pre, M1, C / 2, p->pe2_w, p->pe2_b, LN_EPS, VSSM_ACT_GELU, a->pe_a);
    zero(a->pe_g, (size_t)M1 * (C / 2));
    vssm_op_conv3x3s2_bwd(ctx, a->pe_a, B, a->h1, a->w1, C / 2, p->pe5_w, C, a->td2, a->pe_g, gr->pe5_w, gr->pe5_b);
    zero(a->pe_a, (size_t)M1 * (C / 2));
    vssm_op_layernorm_bwd(ctx, a->pe_pre, M1, C / 2, p->pe2_w, p->pe2_b, LN_EPS, VSSM_ACT_GELU, a->pe_g, a->pe_a,
                          gr->pe2_w, gr->pe2_b);
    vssm_op_conv3x3s2_bwd(ctx, a->in, B, a->H, a->W, cfg->in_chans, p->pe0_w, C / 2, a->pe_a, NULL, gr->pe0_w,
                          gr->pe0_b);
}

static void backward(vssm_vmamba_trainer *t) {
    vssm_ctx *ctx = t->ctx;
    const vssm_vmamba_config *cfg = &t->cfg;
    tacts *a = &t->a;
    if (t->frozen) { /* the head's linear layer alone */
        vssm_op_linear_bwd(ctx, a->pooled, a->B, cfg->dims[3], t->pw.h.fc_w, t->pw.h.fc_b, cfg->num_classes,
                           VSSM_ACT_NONE, a->dlogits, NULL, t->gw.h.fc_w, t->gw.h.fc_b);
        return;
    }
    float *g = bwd_head(t);
    for (int s = VSSM_VMAMBA_STAGES - 1; s >= 0; s--) {
        for (int j = cfg->depths[s] - 1; j >= 0; j--) bwd_block(t, s, j, g);
        if (s == 0) break;
        /* stage s's input = LN(conv(out[s - 1])) */
        const vssm_stage_w *p = &t->pw.m.stage[s - 1], *gr = &t->gw.m.stage[s - 1];
        const int64_t M = (int64_t)a->B * a->hs[s] * a->wd[s], Mp = (int64_t)a->B * a->hs[s - 1] * a->wd[s - 1];
        float *g2 = g == a->ga ? a->gb : a->ga;
        zero(g2, (size_t)Mp * cfg->dims[s - 1]);
        if (vssm_vmamba_is_v0(cfg)) { /* stage s's input = reduction(LN(patch_merge(out[s - 1]))) */
            const int d4 = 4 * cfg->dims[s - 1];
            vssm_op_layernorm(ctx, a->down_pre[s - 1], M, d4, p->down_ln_w, p->down_ln_b, LN_EPS, VSSM_ACT_NONE, a->tm);
            zero(a->tm2, (size_t)M * d4);
            vssm_op_linear_bwd(ctx, a->tm, M, d4, p->down_w, NULL, cfg->dims[s], VSSM_ACT_NONE, g, a->tm2, gr->down_w,
                               NULL);
            zero(a->tm, (size_t)M * d4);
            vssm_op_layernorm_bwd(ctx, a->down_pre[s - 1], M, d4, p->down_ln_w, p->down_ln_b, LN_EPS, VSSM_ACT_NONE,
                                  a->tm2, a->tm, gr->down_ln_w, gr->down_ln_b);
            vssm_op_patch_merge_bwd(ctx, a->B, a->hs[s - 1], a->wd[s - 1], cfg->dims[s - 1], a->tm, g2);
            g = g2;
            continue;
        }
        zero(a->td2, (size_t)M * cfg->dims[s]);
        vssm_op_layernorm_bwd(ctx, a->down_pre[s - 1], M, cfg->dims[s], p->down_ln_w, p->down_ln_b, LN_EPS,
                              VSSM_ACT_NONE, g, a->td2, gr->down_ln_w, gr->down_ln_b);
        vssm_op_conv3x3s2_bwd(ctx, a->out[s - 1], a->B, a->hs[s - 1], a->wd[s - 1], cfg->dims[s - 1], p->down_w,
                              cfg->dims[s], a->td2, g2, gr->down_w, gr->down_b);
        g = g2;
    }
    bwd_stem(t, g);
}

vssm_status vssm_vmamba_trainer_step(vssm_vmamba_trainer *t, const float *input, const int32_t *labels, float smoothing,
                                     float *loss, vssm_err *err) {
    tacts *a = &t->a;
    if (!t->act_mem) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "vssm_vmamba_trainer_step: no plan (call _plan)");
    for (int i = 0; i < a->B; i++)
        if (labels[i] < 0 || labels[i] >= t->cfg.num_classes)
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "label %d of image %d outside [0, %d)", labels[i], i,
                                t->cfg.num_classes);
    const size_t in_bytes = (size_t)a->B * a->H * a->W * t->cfg.in_chans * sizeof(float);
    if (vssm_op_upload(t->ctx, a->in, input, in_bytes) ||
        vssm_op_upload(t->ctx, a->labels, labels, a->B * sizeof(int32_t)))
        return vssm_err_set(err, VSSM_ERR_DEVICE, "uploading the batch failed");
    forward(t);
    zero(a->dlogits, (size_t)a->B * t->cfg.num_classes);
    vssm_op_softmax_xent(t->ctx, a->logits, a->B, t->cfg.num_classes, a->labels, smoothing, a->loss, a->dlogits);
    backward(t);
    vssm_status s = vssm_op_status(t->ctx, "the training step", err);
    if (s == VSSM_OK && loss && vssm_op_download(t->ctx, loss, a->loss, sizeof(float)))
        s = vssm_err_set(err, VSSM_ERR_DEVICE, "reading the loss failed");
    return s;
}

vssm_status vssm_vmamba_trainer_forward(vssm_vmamba_trainer *t, const float *input, vssm_err *err) {
    tacts *a = &t->a;
    if (!t->act_mem)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "vssm_vmamba_trainer_forward: no plan (call _plan)");
    if (vssm_op_upload(t->ctx, a->in, input, (size_t)a->B * a->H * a->W * t->cfg.in_chans * sizeof(float)))
        return vssm_err_set(err, VSSM_ERR_DEVICE, "uploading the batch failed");
    forward(t);
    return vssm_op_status(t->ctx, "the forward", err);
}

vssm_status vssm_vmamba_trainer_logits(vssm_vmamba_trainer *t, float *host, vssm_err *err) {
    if (!t->act_mem || vssm_op_download(t->ctx, host, t->a.logits, (size_t)t->a.B * t->cfg.num_classes * sizeof(float)))
        return vssm_err_set(err, VSSM_ERR_DEVICE, "reading the logits failed");
    return VSSM_OK;
}
