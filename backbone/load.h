/* backbone/load.h - the steps every backbone's weight loader shares (library-internal):
 * fetch a named tensor, check its shape against the config, convert it to f32 on the
 * host; and place a prepared tensor in the model's device arena. */
#ifndef VSSM_BACKBONE_LOAD_H
#define VSSM_BACKBONE_LOAD_H

#include "kernels/ops.h"
#include "vssm/source.h"

/* src[full] -> host (numel of shape floats). VSSM_ERR_SHAPE names the tensor and both
 * shapes; a missing tensor or an unusable dtype is named too. */
vssm_status vssm_load_fetch_f32(const vssm_source *src, const char *full, const int64_t *shape, int ndim, float *host,
                                vssm_err *err);
/* Copies n floats to arena + *off (64-byte aligned steps), advances *off and returns the
 * device pointer; NULL (and err set) when the upload fails. */
float *vssm_load_place(vssm_ctx *ctx, char *arena, size_t *off, const float *host, int64_t n, const char *full,
                       vssm_err *err);
/* bytes an n-float tensor takes in an arena */
static inline size_t vssm_load_arena_bytes(int64_t n) { return ((size_t)n * sizeof(float) + 63) & ~(size_t)63; }

#endif
