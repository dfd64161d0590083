/* vssm/weights.h - weight files: safetensors (native) and torch .pth (read safely).
 *
 * Both readers give a vssm_source (vssm/source.h) that model loaders consume, so any
 * model loads from either format.
 *
 *     vssm_weights *w;
 *     if (vssm_weights_open(&w, "model.safetensors", NULL, &err) != VSSM_OK) ...  // or .pth
 *     const vssm_source *src = vssm_weights_source(w);
 *     ... vssm_vmamba_load(&m, ctx, &cfg, src, "", &err) ...
 *     vssm_weights_close(w);
 *
 * Files from strangers never execute code: the .pth reader understands only the
 * pickle opcodes and globals that torch.save emits for tensors and plain containers,
 * and refuses anything else with a message naming it.
 */
#ifndef VSSM_WEIGHTS_H
#define VSSM_WEIGHTS_H

#include "vssm/common.h"
#include "vssm/outfile.h"
#include "vssm/source.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vssm_weights vssm_weights;

typedef struct vssm_weights_opts {
    const char *key; /* .pth: which sub-dict holds the state dict: "model" (default),
                            "model_ema", "state_dict"; a plain state dict is also accepted */
} vssm_weights_opts;

/* Opens a safetensors or .pth file (chosen by content, not by name). */
VSSM_API vssm_status vssm_weights_open(vssm_weights **out, const char *path, const vssm_weights_opts *opts,
                                       vssm_err *err);
VSSM_API void vssm_weights_close(vssm_weights *w);
VSSM_API const vssm_source *vssm_weights_source(const vssm_weights *w);
VSSM_API int vssm_weights_count(const vssm_weights *w);
/* i-th tensor (sorted by name) as a host view valid until close. */
VSSM_API const char *vssm_weights_name(const vssm_weights *w, int i);
VSSM_API vssm_status vssm_weights_get(const vssm_weights *w, const char *name, vssm_tensor *out, vssm_err *err);
/* Metadata (safetensors __metadata__); NULL when absent. */
VSSM_API const char *vssm_weights_meta(const vssm_weights *w, const char *key);
VSSM_API int vssm_weights_meta_count(const vssm_weights *w);
VSSM_API const char *vssm_weights_meta_key(const vssm_weights *w, int i);

/* ---- safetensors reader (weights/safetensors.c) ----
 * The file is memory-mapped; tensors are views into the map (zero-copy), except a tensor
 * whose address is not a multiple of its element size (the header's length decides the data
 * area's alignment), which is copied. The header is validated fully before any tensor is
 * exposed: JSON well-formed, dtypes known, shapes non-negative with at most 2^50 elements
 * (also in the product of the non-zero dims), offsets inside the data area, sorted,
 * non-overlapping, sizes equal to numel * dtype size, names valid UTF-8. */
VSSM_API vssm_status vssm_safetensors_open(vssm_weights **out, const char *path, vssm_err *err);

/* ---- safetensors writer ----
 * Writes through vssm/outfile.h (a unique temp file beside PATH, flushed, then renamed), so
 * no half-written file is ever left at PATH and two writers never share a temp file. Sizes
 * are overflow-checked: a tensor or file past 2^53 bytes is VSSM_ERR_INVALID_ARG. */
typedef struct vssm_st_entry {
    const char *name;
    vssm_tensor t; /* host data */
} vssm_st_entry;
typedef struct vssm_st_meta {
    const char *key, *value;
} vssm_st_meta;
VSSM_API vssm_status vssm_safetensors_write(const char *path, const vssm_st_entry *tensors, int n_tensors,
                                            const vssm_st_meta *meta, int n_meta, vssm_err *err);
/* The same bytes into an output file opened with vssm_outfile_open, flushed to disk but
 * neither committed nor aborted: the caller can check the finished file at o->tmp (load it)
 * before vssm_outfile_commit, or vssm_outfile_abort it. */
VSSM_API vssm_status vssm_safetensors_write_to(vssm_outfile *o, const vssm_st_entry *tensors, int n_tensors,
                                               const vssm_st_meta *meta, int n_meta, vssm_err *err);

/* ---- torch .pth reader (weights/pth.c) ---- */
VSSM_API vssm_status vssm_pth_open(vssm_weights **out, const char *path, const vssm_weights_opts *opts, vssm_err *err);

#ifdef __cplusplus
}
#endif
#endif
