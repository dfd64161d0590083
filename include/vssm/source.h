/* vssm/source.h - where model loaders get their tensors from.
 *
 * A tensor source answers "give me tensor NAME" with a view in its stored dtype
 * (F32, F16 or BF16 are accepted by the loaders, which convert to f32). Weight file
 * readers (safetensors, torch .pth) provide one; so does the random initialiser used by
 * benchmarks. Loaders never see files, so every format loads every model.
 *
 * Threads: one source answers one caller at a time (a weights file's source remembers the
 * tensor it served last, to drop that tensor's file pages from memory when the next one is
 * asked for; the random source reuses one buffer). Loading two models from one source at
 * once needs a lock around get, or a source each.
 */
#ifndef VSSM_SOURCE_H
#define VSSM_SOURCE_H

#include "vssm/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vssm_source {
    void *user;
    /* Looks NAME up. expect/expect_ndim give the shape the loader needs (sources that
     * synthesise tensors use it; file sources ignore it). Returns VSSM_OK and fills *out
     * (a host view valid until the source is closed), or VSSM_ERR_FORMAT with a message
     * when the name is missing. */
    vssm_status (*get)(void *user, const char *name, const int64_t *expect, int expect_ndim, vssm_tensor *out,
                       vssm_err *err);
    /* Optional (NULL when unknown): number of tensors and the i-th name, for config
     * inference and listings. */
    int (*count)(void *user);
    const char *(*name_at)(void *user, int i);
    /* Optional: metadata value for KEY or NULL. */
    const char *(*meta)(void *user, const char *key);
} vssm_source;

/* A source that makes tensors of the requested shape with deterministic pseudo-random
 * values (seeded, name-dependent) in the ranges a trained VMamba has; for benchmarks
 * and tests. It makes each tensor when asked, into one buffer it reuses: a view it gives
 * is valid until its next get (not until it is freed, as a file's views are), so it holds
 * one tensor, not the model. Owned by the caller; free with vssm_random_source_free. */
VSSM_API vssm_source *vssm_random_source_new(uint64_t seed);
VSSM_API void vssm_random_source_free(vssm_source *s);

#ifdef __cplusplus
}
#endif
#endif
