/* train/table.c - a trainer's parameter table: the walk's tensors, their master, gradient and
 * forward copies, the layout conversions and the first values (train/table.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train/table.h"

#define ALIGN_F 16 /* tensors start on 64-byte boundaries in every copy */

static int64_t align_f(int64_t n) { return (n + ALIGN_F - 1) / ALIGN_F * ALIGN_F; }

/* a packed weight as (N, K), as the loader reads it */
static void entry_nk(const vssm_ttab_entry *e, int *N, int *K) {
    const int64_t k = e->groups > 1 ? e->shape[e->ndim - 1] : e->n / e->shape[0];
    *K = (int)k;
    *N = (int)(e->n / k);
}

/* pass 1 (over the master view): records every entry and its offsets */
typedef struct recorder {
    vssm_walker w;
    vssm_ttab *t;
} recorder;

static int record_visit(vssm_walker *w, const char *name, const int64_t *shape, int ndim, vssm_xform xf, int groups,
                        float **slot) {
    vssm_ttab *t = ((recorder *)w)->t;
    (void)slot;
    if (t->ne == t->cap) {
        vssm_ttab_entry *ne = realloc(t->e, (size_t)(t->cap = t->cap ? 2 * t->cap : 256) * sizeof *ne);
        if (!ne) return 1;
        t->e = ne;
    }
    vssm_ttab_entry *e = &t->e[t->ne++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->ndim = ndim, e->groups = groups, e->xf = xf, e->n = 1, e->fwd_off = -1;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i], e->n *= shape[i];
    e->off = t->n_master;
    t->n_master += align_f(e->n);
    if (xf == VSSM_XF_LINEAR || xf == VSSM_XF_HALF_LINEAR || xf == VSSM_XF_CONV || xf == VSSM_XF_NEG_EXP_T) {
        int N, K;
        entry_nk(e, &N, &K);
        e->fwd_off = t->n_fwd;
        t->n_fwd += align_f(xf == VSSM_XF_NEG_EXP_T ? e->n : (int64_t)vssm_op_linear_pack_numel(t->ctx, N, K));
    }
    return 0;
}

/* pass 2 (one per view): slot i points at base + offset of entry i (fwd: the forward view) */
typedef struct placer {
    vssm_walker w;
    const vssm_ttab *t;
    float *base, *fwd;
    int i;
} placer;

static int place_visit(vssm_walker *w, const char *name, const int64_t *shape, int ndim, vssm_xform xf, int groups,
                       float **slot) {
    (void)name, (void)shape, (void)ndim, (void)xf, (void)groups;
    placer *p = (placer *)w;
    const vssm_ttab_entry *e = &p->t->e[p->i++];
    *slot = p->fwd && e->fwd_off >= 0 ? p->fwd + e->fwd_off : p->base + e->off;
    return 0;
}

vssm_status vssm_ttab_build(vssm_ttab *t, vssm_ctx *ctx, vssm_walk_fn walk, const void *cfg, void *const views[3],
                            vssm_err *err) {
    memset(t, 0, sizeof *t);
    t->ctx = ctx;
    recorder r = {{record_visit}, t};
    if (walk(&r.w, cfg, views[1])) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    const size_t mb = (size_t)t->n_master * sizeof(float);
    t->master = vssm_op_alloc(ctx, mb ? mb : 1);
    t->grad = vssm_op_alloc(ctx, mb ? mb : 1);
    t->fwd = vssm_op_alloc(ctx, (size_t)(t->n_fwd ? t->n_fwd : 1) * sizeof(float));
    if (!t->master || !t->grad || !t->fwd)
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory for %.1f MB of weights and gradients", 2.0 * mb / 1e6);
    memset(t->master, 0, mb); /* CPU: device memory is host memory; the gaps stay 0 */
    memset(t->grad, 0, mb);
    placer pf = {{place_visit}, t, t->master, t->fwd, 0}, pm = {{place_visit}, t, t->master, NULL, 0},
           pg = {{place_visit}, t, t->grad, NULL, 0};
    walk(&pf.w, cfg, views[0]);
    walk(&pm.w, cfg, views[1]);
    walk(&pg.w, cfg, views[2]);
    return VSSM_OK;
}

void vssm_ttab_free(vssm_ttab *t) {
    vssm_op_free(t->ctx, t->master);
    vssm_op_free(t->ctx, t->grad);
    vssm_op_free(t->ctx, t->fwd);
    free(t->e);
    memset(t, 0, sizeof *t);
}

/* ======================================================================= layouts */

/* G groups of (A, B) -> (B, A) (inverse: (B, A) -> (A, B)) */
static void regroup(const float *in, float *out, int64_t G, int64_t A, int64_t B, int inverse) {
    for (int64_t g = 0; g < G; g++)
        for (int64_t a = 0; a < A; a++)
            for (int64_t b = 0; b < B; b++) {
                const int64_t ia = (g * A + a) * B + b, ib = (g * B + b) * A + a;
                if (inverse)
                    out[ia] = in[ib];
                else
                    out[ib] = in[ia];
            }
}

void vssm_ttab_to_master(const vssm_ttab_entry *e, const float *src, float *dst, int inverse) {
    switch (e->xf) {
    case VSSM_XF_T:
    case VSSM_XF_DT:          /* training contexts (fp32) keep no second layout: T */
    case VSSM_XF_NEG_EXP_T: { /* groups as backbone/load.h's T */
        const int64_t G = e->groups > 1 ? e->groups : 1, B = G > 1 ? e->shape[e->ndim - 1] : e->n / e->shape[0];
        regroup(src, dst, G, e->n / (G * B), B, inverse);
        return;
    }
    case VSSM_XF_CONV: { /* (Cout, Cin, 3, 3) <-> (Cout, 3, 3, Cin) */
        const int64_t co = e->shape[0], ci = e->shape[1];
        if (!inverse) {
            vssm_conv_weight_layout(src, (int)co, (int)ci, dst);
            return;
        }
        for (int64_t o = 0; o < co; o++)
            for (int64_t c = 0; c < ci; c++)
                for (int k = 0; k < 9; k++) dst[(o * ci + c) * 9 + k] = src[(o * 9 + k) * ci + c];
        return;
    }
    default: memcpy(dst, src, (size_t)e->n * sizeof(float)); /* plain, linear (the master is unpacked) */
    }
}

/* the entries are independent (each writes its own forward copy): one task each */
void vssm_ttab_params_changed(vssm_ttab *t) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(vssm_ctx_threads(t->ctx))
    for (int i = 0; i < t->ne; i++) {
        const vssm_ttab_entry *e = &t->e[i];
        const float *m = t->master + e->off;
        float *f = t->fwd + e->fwd_off;
        if (e->fwd_off < 0) continue;
        if (e->xf == VSSM_XF_NEG_EXP_T) {
            for (int64_t j = 0; j < e->n; j++) f[j] = -expf(m[j]);
            continue;
        }
        int N, K;
        entry_nk(e, &N, &K);
        float *h = NULL;
        if (e->xf == VSSM_XF_HALF_LINEAR && (h = malloc((size_t)e->n * sizeof(float)))) { /* x / 2: exact */
            for (int64_t j = 0; j < e->n; j++) h[j] = 0.5f * m[j];
            m = h;
        } else if (e->xf == VSSM_XF_HALF_LINEAR) {
            continue; /* out of memory for a few KB: the forward copy keeps its values */
        }
        vssm_op_linear_pack(t->ctx, m, N, K, f);
        free(h);
    }
}

void vssm_ttab_zero_grad(vssm_ttab *t) {
    const int64_t n = t->n_master, nb = (n + 65535) / 65536;
#pragma omp parallel for schedule(static) num_threads(vssm_ctx_threads(t->ctx))
    for (int64_t b = 0; b < nb; b++)
        memset(t->grad + b * 65536, 0, (size_t)(n - b * 65536 < 65536 ? n - b * 65536 : 65536) * sizeof(float));
}

vssm_train_tensor vssm_ttab_tensor(const vssm_ttab *t, int i) {
    vssm_train_tensor r;
    memset(&r, 0, sizeof r);
    if (i < 0 || i >= t->ne) return r;
    const vssm_ttab_entry *e = &t->e[i];
    r.name = e->name, r.ndim = e->ndim, r.numel = e->n, r.offset = e->off, r.decay = e->decay;
    memcpy(r.shape, e->shape, sizeof r.shape);
    return r;
}

/* ======================================================================= first values */

vssm_status vssm_ttab_load(vssm_ttab *t, const vssm_source *src, const char *prefix, const vssm_ttab_init *in,
                           vssm_err *err) {
    int64_t maxn = 1;
    for (int i = 0; i < t->ne; i++) maxn = t->e[i].n > maxn ? t->e[i].n : maxn;
    float *host = malloc((size_t)maxn * sizeof(float));
    if (!host) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    vssm_status s = VSSM_OK;
    for (int i = 0; i < t->ne && s == VSSM_OK; i++) {
        const vssm_ttab_entry *e = &t->e[i];
        char full[320];
        snprintf(full, sizeof full, "%s%s", prefix ? prefix : "", e->name);
        if (in->from_init(e, src ? full : NULL, in->user))
            in->init(e, i, in->user, t->master + e->off);
        else if ((s = vssm_load_fetch_f32(src, full, e->shape, e->ndim, host, err)) == VSSM_OK)
            vssm_ttab_to_master(e, host, t->master + e->off, 0);
    }
    free(host);
    return s;
}

double vssm_ttab_unif(uint64_t *s) { return (double)(vssm_rng_next(s) >> 11) * (1.0 / 9007199254740992.0); }
double vssm_ttab_normal(uint64_t *s) {
    double u = vssm_ttab_unif(s), v = vssm_ttab_unif(s);
    return sqrt(-2.0 * log(u > 0 ? u : 1e-300)) * cos(2.0 * M_PI * v);
}
int vssm_ttab_ends_with(const char *s, const char *suf) {
    const size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

float *vssm_ttab_take(vssm_ttab_bump *b, size_t floats) {
    float *p = b->base ? (float *)(b->base + b->off) : NULL;
    b->off += (floats * sizeof(float) + 63) & ~(size_t)63;
    return p;
}
