/* backbone/load.c - shared weight-loading steps (backbone/load.h). */
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
    if (s != VSSM_OK) return required ? s : VSSM_OK;   /* the source names what is missing */
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

vssm_status vssm_load_tensor_dev(vssm_ctx *ctx, const vssm_source *src, const char *full, const int64_t *shape, int ndim,
                                 float **out, vssm_err *err) {
    float *host = NULL;
    *out = NULL;
    vssm_status s = vssm_load_tensor_f32(src, full, shape, ndim, 1, &host, err);
    if (s != VSSM_OK) return s;
    const size_t bytes = (size_t)numel(shape, ndim) * sizeof(float);
    *out = vssm_op_alloc(ctx, bytes ? bytes : sizeof(float));
    if (!*out) s = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory loading '%s'", full);
    else if (vssm_op_upload(ctx, *out, host, bytes) != 0) s = vssm_err_set(err, VSSM_ERR_DEVICE, "uploading '%s' failed", full);
    if (s != VSSM_OK && *out) {
        vssm_op_free(ctx, *out);
        *out = NULL;
    }
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
