/* backbone/load.c - shared weight-loading steps (backbone/load.h). */
#include <stdio.h>
#include "backbone/load.h"

vssm_status vssm_load_fetch_f32(const vssm_source *src, const char *full, const int64_t *shape, int ndim, float *host,
                                vssm_err *err) {
    char a[96], b[96];
    vssm_tensor t;
    vssm_status s = src->get(src->user, full, shape, ndim, &t, err);
    if (s != VSSM_OK) return s;
    int same = t.ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t.shape[i] == shape[i];
    if (!same)
        return vssm_err_set(err, VSSM_ERR_SHAPE, "tensor '%s' has shape %s but the config needs %s", full,
                            vssm_shape_str(t.shape, t.ndim, a, sizeof a), vssm_shape_str(shape, ndim, b, sizeof b));
    if ((s = vssm_tensor_to_f32(&t, host, err)) != VSSM_OK) vssm_err_prefix(err, "tensor '%s'", full);
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
