/* backbone/load.c - shared weight-loading steps (backbone/load.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "backbone/load.h"

/* t (fetched as full) has the shape? then -> host f32 */
static vssm_status check_convert(const vssm_tensor *t, const char *full, const int64_t *shape, int ndim, float *host,
                                 vssm_err *err) {
    char a[96], b[96];
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same)
        return vssm_err_set(err, VSSM_ERR_SHAPE, "tensor '%s' has shape %s but the config needs %s", full,
                            vssm_shape_str(t->shape, t->ndim, a, sizeof a), vssm_shape_str(shape, ndim, b, sizeof b));
    vssm_status s = vssm_tensor_to_f32(t, host, err);
    if (s != VSSM_OK) vssm_err_prefix(err, "tensor '%s'", full);
    return s;
}

vssm_status vssm_load_fetch_f32(const vssm_source *src, const char *full, const int64_t *shape, int ndim, float *host,
                                vssm_err *err) {
    vssm_tensor t;
    vssm_status s = src->get(src->user, full, shape, ndim, &t, err);
    return s != VSSM_OK ? s : check_convert(&t, full, shape, ndim, host, err);
}

static int64_t numel(const int64_t *shape, int ndim) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

vssm_status vssm_load_tensor_f32(const vssm_source *src, const char *full, const int64_t *shape, int ndim, int required,
                                 float **out, vssm_err *err) {
    *out = NULL;
    vssm_tensor t;
    vssm_status s = src->get(src->user, full, shape, ndim, &t, required ? err : NULL);
    if (s != VSSM_OK) return required ? s : VSSM_OK; /* the source names what is missing */
    const int64_t n = numel(shape, ndim);
    float *host = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!host) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory loading '%s'", full);
    if ((s = check_convert(&t, full, shape, ndim, host, err)) != VSSM_OK) {
        free(host);
        return s;
    }
    *out = host;
    return VSSM_OK;
}

/* *out = a new device buffer holding host's bytes; cleaned up on failure */
static vssm_status upload_new(vssm_ctx *ctx, const float *host, size_t bytes, const char *full, float **out,
                              vssm_err *err) {
    vssm_status s = VSSM_OK;
    *out = vssm_op_alloc(ctx, bytes ? bytes : sizeof(float));
    if (!*out)
        s = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory loading '%s'", full);
    else if (vssm_op_upload(ctx, *out, host, bytes) != 0)
        s = vssm_err_set(err, VSSM_ERR_DEVICE, "uploading '%s' failed", full);
    if (s != VSSM_OK && *out) {
        vssm_op_free(ctx, *out);
        *out = NULL;
    }
    return s;
}

vssm_status vssm_load_tensor_dev(vssm_ctx *ctx, const vssm_source *src, const char *full, const int64_t *shape,
                                 int ndim, float **out, vssm_err *err) {
    float *host = NULL;
    *out = NULL;
    vssm_status s = vssm_load_tensor_f32(src, full, shape, ndim, 1, &host, err);
    if (s != VSSM_OK) return s;
    s = upload_new(ctx, host, (size_t)numel(shape, ndim) * sizeof(float), full, out, err);
    free(host);
    return s;
}

vssm_status vssm_load_linear_dev(vssm_ctx *ctx, const vssm_source *src, const char *full, int N, int K, float **out,
                                 vssm_err *err) {
    float *host = NULL;
    *out = NULL;
    const int64_t shape[2] = {N, K};
    vssm_status s = vssm_load_tensor_f32(src, full, shape, 2, 1, &host, err);
    if (s != VSSM_OK) return s;
    const size_t bytes = vssm_op_linear_pack_numel(ctx, N, K) * sizeof(float);
    float *packed = malloc(bytes ? bytes : sizeof(float));
    if (!packed)
        s = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory loading '%s'", full);
    else {
        vssm_op_linear_pack(ctx, host, N, K, packed);
        s = upload_new(ctx, packed, bytes, full, out, err);
    }
    free(packed);
    free(host);
    return s;
}

float *vssm_load_place(vssm_ctx *ctx, char *arena, size_t *off, const float *host, int64_t n, const char *full,
                       vssm_err *err) {
    float *dst = (float *)(arena + *off);
    *off += vssm_load_arena_bytes(n);
    if (vssm_op_upload(ctx, dst, host, (size_t)n * sizeof(float)) != 0) {
        vssm_err_set(err, VSSM_ERR_DEVICE, "uploading tensor '%s' to the device failed", full);
        return NULL;
    }
    return dst;
}

/* ======================================================================= the walk */

/* pass 1: parameters, arena bytes and the largest tensor (ctx NULL: parameters only) */
typedef struct counter {
    vssm_walker w;
    vssm_ctx *ctx;
    int64_t params, maxn;
    size_t bytes;
} counter;

static int is_packed(vssm_xform xf) { return xf == VSSM_XF_LINEAR || xf == VSSM_XF_HALF_LINEAR || xf == VSSM_XF_CONV; }

/* a packed weight as (N, K): one group (N, K...), or stacked groups (..., K) */
static void linear_nk(const int64_t *shape, int ndim, int groups, int *N, int *K) {
    const int64_t n = numel(shape, ndim);
    const int64_t k = groups > 1 ? shape[ndim - 1] : n / shape[0];
    *K = (int)k;
    *N = (int)(n / k);
}

/* dt projections as G groups of (D, R) (groups as transpose_groups') */
static void dt_grd(const int64_t *shape, int ndim, int groups, int *G, int *R, int *D) {
    *G = groups > 1 ? groups : 1;
    *R = (int)(*G > 1 ? shape[ndim - 1] : numel(shape, ndim) / shape[0]);
    *D = (int)(numel(shape, ndim) / ((int64_t)*G * *R));
}

static int count_visit(vssm_walker *w, const char *name, const int64_t *shape, int ndim, vssm_xform xf, int groups,
                       float **slot) {
    (void)name, (void)slot;
    counter *c = (counter *)w;
    const int64_t raw = numel(shape, ndim);
    int64_t n = raw;
    c->params += raw;
    if (is_packed(xf) && c->ctx) {
        int N, K;
        linear_nk(shape, ndim, groups, &N, &K);
        n = (int64_t)vssm_op_linear_pack_numel(c->ctx, N, K);
    }
    if (xf == VSSM_XF_DT && c->ctx) {
        int G, R, D;
        dt_grd(shape, ndim, groups, &G, &R, &D);
        n += (int64_t)vssm_op_dt_pack_numel(c->ctx, G, R, D);
    }
    if (n > c->maxn) c->maxn = n;
    if (raw > c->maxn) c->maxn = raw;
    c->bytes += vssm_load_arena_bytes(n);
    return 0;
}

int64_t vssm_load_param_count(vssm_walk_fn walk, const void *cfg, void *model) {
    counter c = {{count_visit}, NULL, 0, 0, 0};
    walk(&c.w, cfg, model);
    return c.params;
}

/* pass 2: fetch, check, convert, lay out, upload */
typedef struct loader {
    vssm_walker w;
    vssm_ctx *ctx;
    const vssm_source *src;
    const char *prefix;
    const vssm_load_spec *ls;
    char *arena;
    size_t off;
    float *host, *host2; /* scratch of the largest tensor's size */
    vssm_err *err;
    vssm_status status;
} loader;

/* groups of (A, B) -> (B, A), of -exp(x) when neg_exp */
static void transpose_groups(const float *in, const int64_t *shape, int ndim, int groups, int neg_exp, float *out) {
    const int64_t n = numel(shape, ndim), G = groups > 1 ? groups : 1;
    const int64_t B = G > 1 ? shape[ndim - 1] : n / shape[0], A = n / (G * B);
    for (int64_t g = 0; g < G; g++)
        for (int64_t a = 0; a < A; a++)
            for (int64_t b = 0; b < B; b++) {
                const float v = in[(g * A + a) * B + b];
                out[(g * B + b) * A + a] = neg_exp ? -expf(v) : v;
            }
}

static int load_visit(vssm_walker *w, const char *name, const int64_t *shape, int ndim, vssm_xform xf, int groups,
                      float **slot) {
    loader *ld = (loader *)w;
    char full[320];
    snprintf(full, sizeof full, "%s%s", ld->prefix, name);
    vssm_status s = vssm_load_fetch_f32(ld->src, full, shape, ndim, ld->host, ld->err);
    if (s != VSSM_OK) {
        ld->status = s;
        return 1;
    }
    if (ld->ls->host_copy) ld->ls->host_copy(ld->ls->model, slot, ld->host, numel(shape, ndim));
    int64_t n = numel(shape, ndim);
    const float *out = ld->host;
    float *h2 = ld->host2;
    switch (xf) {
    case VSSM_XF_PLAIN: break;
    case VSSM_XF_T:
    case VSSM_XF_NEG_EXP_T:
        transpose_groups(ld->host, shape, ndim, groups, xf == VSSM_XF_NEG_EXP_T, h2);
        out = h2;
        break;
    case VSSM_XF_DT: {
        int G, R, D;
        dt_grd(shape, ndim, groups, &G, &R, &D);
        transpose_groups(ld->host, shape, ndim, groups, 0, h2);
        vssm_op_dt_pack(ld->ctx, h2, G, R, D, h2 + n);
        n += (int64_t)vssm_op_dt_pack_numel(ld->ctx, G, R, D);
        out = h2;
        break;
    }
    case VSSM_XF_LINEAR:
    case VSSM_XF_HALF_LINEAR:
    case VSSM_XF_CONV: {
        int N, K;
        linear_nk(shape, ndim, groups, &N, &K);
        const float *lin = ld->host;
        if (xf == VSSM_XF_HALF_LINEAR) /* out_proj((a + b) / 2) = (out_proj / 2)(a + b), exactly */
            for (int64_t i = 0; i < n; i++) ld->host[i] *= 0.5f;
        if (xf == VSSM_XF_CONV) { /* (Cout, Cin, 3, 3) -> (Cout, 3, 3, Cin) in host2, then packed into host */
            vssm_conv_weight_layout(ld->host, N, (int)shape[1], h2);
            lin = h2;
            h2 = ld->host;
        }
        vssm_op_linear_pack(ld->ctx, lin, N, K, h2);
        n = (int64_t)vssm_op_linear_pack_numel(ld->ctx, N, K);
        out = h2;
        break;
    }
    }
    float *dst = vssm_load_place(ld->ctx, ld->arena, &ld->off, out, n, full, ld->err);
    if (!dst) {
        ld->status = VSSM_ERR_DEVICE;
        return 1;
    }
    *slot = dst;
    return 0;
}

vssm_status vssm_load_weights(vssm_ctx *ctx, const vssm_source *src, const char *prefix, const vssm_load_spec *ls,
                              void **arena, size_t *bytes, int64_t *params, vssm_err *err) {
    *arena = NULL;
    counter c = {{count_visit}, ctx, 0, 0, 0};
    ls->walk(&c.w, ls->cfg, ls->model);
    loader ld = {{load_visit}, ctx, src, prefix ? prefix : "", ls, NULL, 0, NULL, NULL, err, VSSM_OK};
    ld.arena = vssm_op_alloc(ctx, c.bytes ? c.bytes : 64);
    ld.host = malloc((size_t)(c.maxn > 0 ? c.maxn : 1) * sizeof(float));
    ld.host2 = malloc((size_t)(c.maxn > 0 ? c.maxn : 1) * sizeof(float));
    if (!ld.arena || !ld.host || !ld.host2)
        ld.status = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory for %.1f MB of %s weights", c.bytes / 1e6,
                                 ls->what);
    else
        ls->walk(&ld.w, ls->cfg, ls->model);
    free(ld.host);
    free(ld.host2);
    if (ld.status != VSSM_OK) {
        if (ld.arena) vssm_op_free(ctx, ld.arena);
        return ld.status;
    }
    *arena = ld.arena;
    *bytes = c.bytes;
    *params = c.params;
    return VSSM_OK;
}
