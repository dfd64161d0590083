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
vssm_status vssm_load_tensor_dev(vssm_ctx *ctx, const vssm_source *src, const char *full, const int64_t *shape,
                                 int ndim, float **out, vssm_err *err);
/* A linear's (N, K) weight, packed for vssm_op_linear_packed in ctx's layout (bf16 in a bf16
 * context), uploaded into a buffer of its own (vssm_op_linear_pack_numel(ctx, N, K) floats). */
vssm_status vssm_load_linear_dev(vssm_ctx *ctx, const vssm_source *src, const char *full, int N, int K, float **out,
                                 vssm_err *err);
/* Copies n floats to arena + *off (64-byte aligned steps), advances *off and returns the
 * device pointer; NULL (and err set) when the upload fails. */
float *vssm_load_place(vssm_ctx *ctx, char *arena, size_t *off, const float *host, int64_t n, const char *full,
                       vssm_err *err);
/* ---- one walk over a model's tensors, used to count, size and load them ----
 * A model file writes one walk function that visits every tensor it needs (its name table)
 * with the shape its config implies, how the tensor is laid out on the device, and the slot
 * that receives its device pointer; everything else is here. */

/* How a tensor is laid out on the device. T: `groups` groups of (A, B) matrices, each
 * transposed to (B, A); one group: A = shape[0], B = the rest; more: B = the last dim, A =
 * numel / (groups * B). */
typedef enum vssm_xform {
    VSSM_XF_PLAIN, /* as stored */
    VSSM_XF_T,     /* transposed (above): dt_proj (Di, R) -> (R, Di), a depthwise kernel (C, 1, k...) -> (k..., C) */
    VSSM_XF_NEG_EXP_T,   /* the same of -exp(x): A_log -> A */
    VSSM_XF_DT,          /* dt projections, groups of (D, R): T, then the backend's second layout of the
                          * (groups, R, D) result after it where the context has one (vssm_op_dt_pack) */
    VSSM_XF_LINEAR,      /* packed for vssm_op_linear_packed: one group (N, K...) (a conv kernel (N, C, P, P)
                          * as (N, C*P*P)); stacked groups (G, ..., K) as (numel / K, K) */
    VSSM_XF_HALF_LINEAR, /* the same of x / 2 */
    VSSM_XF_CONV,        /* (Cout, Cin, 3, 3) -> (Cout, 3, 3, Cin) (the im2col order of vssm_op_conv3x3), packed */
} vssm_xform;

typedef struct vssm_walker {
    /* called once per tensor (name without the prefix); nonzero stops the walk */
    int (*visit)(struct vssm_walker *w, const char *name, const int64_t *shape, int ndim, vssm_xform xf, int groups,
                 float **slot);
} vssm_walker;

/* Visits one tensor from inside a walk function (returns 1 from it when the walk stops). */
#define VSSM_VISIT(w, name, xf, groups, slot, ...)                                                                \
    do {                                                                                                          \
        const int64_t shp_[] = {__VA_ARGS__};                                                                     \
        if ((w)->visit((w), (name), shp_, (int)(sizeof shp_ / sizeof shp_[0]), (xf), (groups), (slot))) return 1; \
    } while (0)

/* A model's walk: visits each tensor of model (whose slots it names) for config cfg. */
typedef int (*vssm_walk_fn)(vssm_walker *w, const void *cfg, void *model);

/* Parameters (elements) of every tensor the walk visits; model's slots are not written. */
int64_t vssm_load_param_count(vssm_walk_fn walk, const void *cfg, void *model);

typedef struct vssm_load_spec {
    vssm_walk_fn walk;
    const void *cfg;
    void *model;
    const char *what; /* "VMamba", "Vim": named in an out-of-memory message */
    /* NULL, or called with each tensor's f32 host copy as stored (before its transform) */
    void (*host_copy)(void *model, float *const *slot, const float *host, int64_t n);
} vssm_load_spec;

/* Counts the walk's tensors, makes one device arena for all of them, and loads each
 * (src[prefix + name]: shape-checked, converted, transformed, uploaded), pointing its slot
 * into the arena. On success *arena (free with vssm_op_free), *bytes and *params are set;
 * on failure the arena is freed and the slots must not be used. */
vssm_status vssm_load_weights(vssm_ctx *ctx, const vssm_source *src, const char *prefix, const vssm_load_spec *ls,
                              void **arena, size_t *bytes, int64_t *params, vssm_err *err);

/* bytes an n-float tensor takes in an arena */
static inline size_t vssm_load_arena_bytes(int64_t n) { return ((size_t)n * sizeof(float) + 63) & ~(size_t)63; }

#endif
