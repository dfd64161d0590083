/* weights/weights_internal.h - the shared insides of a vssm_weights (library-internal).
 * Readers fill entries (sorted by name, unique) and metadata, then the generic code in
 * weights/weights.c serves lookups, listings and the vssm_source. */
#ifndef VSSM_WEIGHTS_INTERNAL_H
#define VSSM_WEIGHTS_INTERNAL_H

#include "vssm/weights.h"

typedef struct vssm_wentry {
    char *name;    /* owned */
    vssm_tensor t; /* host view into the map or into owned memory */
} vssm_wentry;

struct vssm_weights {
    vssm_source src; /* user = this */
    vssm_wentry *e;  /* sorted by strcmp(name) */
    int n, cap;
    char **meta_k, **meta_v; /* owned strings */
    int n_meta, cap_meta;
    void *map; /* mmap'ed file (munmap on close) */
    size_t map_size;
    const vssm_tensor *served; /* the entry the source gave last (its pages are dropped at the next) */
    void **owned;              /* heap blocks freed on close (converted or copied storages) */
    int n_owned, cap_owned;
    void *impl; /* reader-specific state */
    void (*impl_free)(void *impl);
};

vssm_weights *vssm_weights_alloc(void); /* NULL on OOM; sets up src */
/* Append (name copied). Call vssm_weights_finish afterwards to sort and check
 * uniqueness. */
vssm_status vssm_weights_add(vssm_weights *w, const char *name, const vssm_tensor *t, vssm_err *err);
vssm_status vssm_weights_add_meta(vssm_weights *w, const char *k, const char *v, vssm_err *err);
vssm_status vssm_weights_own(vssm_weights *w, void *block, vssm_err *err); /* freed on close */
vssm_status vssm_weights_finish(vssm_weights *w, const char *path, vssm_err *err);
/* legacy_names.c: the first VMamba release's tensor names -> today's, as the official loader
 * maps them (called by vssm_weights_finish, before sorting) */
vssm_status vssm_weights_map_legacy_names(vssm_weights *w, vssm_err *err);
/* mmap the whole file read-only into w->map; VSSM_ERR_IO with a message naming path. */
vssm_status vssm_weights_map_file(vssm_weights *w, const char *path, vssm_err *err);

#endif
