/* backbone/load.h - the steps every weight loader shares, backbones' and heads'
 * (library-internal): fetch a named tensor, check its shape against the config, convert it
 * to f32 on the host; place a prepared tensor in the model's device arena. */
#ifndef VSSM_BACKBONE_LOAD_H
#define VSSM_BACKBONE_LOAD_H

#include "kernels/ops.h"
#include "vssm/source.h"

/* src[full] -> host (numel of shape floats). VSSM_ERR_SHAPE names the tensor and both
 * shapes; a missing tensor or an unusable dtype is named too. */
vssm_status vssm_load_fetch_f32(const vssm_source *src, const char *full, const int64_t *shape, int ndim, float *host,
                                vssm_err *err);
/* src[full] with the given shape as a malloc'ed f32 host copy in *out (free it). A missing
 * tensor is VSSM_ERR_FORMAT when required, else VSSM_OK with *out NULL. */
vssm_status vssm_load_tensor_f32(const vssm_source *src, const char *full, const int64_t *shape, int ndim, int required,
                                 float **out, vssm_err *err);
/* The same, uploaded into a buffer of its own on ctx's device (vssm_op_free it). */
vssm_status vssm_load_tensor_dev(vssm_ctx *ctx, const vssm_source *src, const char *full, const int64_t *shape, int ndim,
                                 float **out, vssm_err *err);
/* Copies n floats to arena + *off (64-byte aligned steps), advances *off and returns the
 * device pointer; NULL (and err set) when the upload fails. */
float *vssm_load_place(vssm_ctx *ctx, char *arena, size_t *off, const float *host, int64_t n, const char *full,
                       vssm_err *err);
/* bytes an n-float tensor takes in an arena */
static inline size_t vssm_load_arena_bytes(int64_t n) { return ((size_t)n * sizeof(float) + 63) & ~(size_t)63; }

#endif
