/* weights/pth_internal.h - the two halves of the torch .pth reader (library-internal).
 *
 *   zip.c     a read-only view of a zip archive held in memory (the mmap'ed file):
 *             stored entries only, ZIP64 aware, every offset checked, CRC-32 on demand.
 *   pickle.c  a small stack machine over an allow-listed subset of the pickle protocol.
 *             It never calls anything: it builds its own tagged values (dicts, lists,
 *             tuples, ints, strings, tensor references, opaque placeholders).
 *   pth.c     glues them: torch.save's persistent storage ids -> zip entries, picks the
 *             state dict, turns tensor references into vssm_tensor views.
 */
#ifndef VSSM_PTH_INTERNAL_H
#define VSSM_PTH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "vssm/common.h"

/* ---------------------------------------------------------------- zip */
typedef struct vssm_zip_entry {
    char *name;        /* owned, NUL-terminated */
    uint64_t data_off; /* offset of the stored bytes in the archive */
    uint64_t size;
    uint32_t crc;
    int crc_checked; /* 1 once vssm_zip_verify succeeded */
} vssm_zip_entry;

typedef struct vssm_zip {
    const uint8_t *base;
    uint64_t size;
    vssm_zip_entry *e; /* sorted by name */
    int n;
} vssm_zip;

/* Parses the central directory of the archive in [base, base+size). Refuses compressed
 * or encrypted entries, offsets outside the file, and malformed records. */
vssm_status vssm_zip_open(vssm_zip *z, const uint8_t *base, uint64_t size, vssm_err *err);
void vssm_zip_close(vssm_zip *z);
/* Index of the entry called NAME, or -1. */
int vssm_zip_find(const vssm_zip *z, const char *name);
/* Checks entry i's CRC-32 (once; later calls are free). */
vssm_status vssm_zip_verify(vssm_zip *z, int i, vssm_err *err);
uint32_t vssm_crc32(uint32_t crc, const void *data, size_t n);

/* ---------------------------------------------------------------- pickle values */
typedef enum vssm_pk_kind {
    VSSM_PK_NONE,
    VSSM_PK_BOOL,
    VSSM_PK_INT,
    VSSM_PK_FLOAT,
    VSSM_PK_STR,
    VSSM_PK_BYTES,
    VSSM_PK_TUPLE,
    VSSM_PK_LIST,
    VSSM_PK_DICT,
    VSSM_PK_GLOBAL,  /* an allow-listed name (ival = vssm_pk_global id), never callable */
    VSSM_PK_STORAGE, /* result of persistent_load (owned by the callback's user) */
    VSSM_PK_TENSOR,  /* result of _rebuild_tensor_v2 / _rebuild_parameter */
    VSSM_PK_OPAQUE,  /* an inert object (config, Namespace, numpy scalar): content dropped */
} vssm_pk_kind;

#define VSSM_PK_MAX_DIMS 8

typedef struct vssm_pk_val vssm_pk_val;
struct vssm_pk_val {
    vssm_pk_kind kind;
    int64_t ival; /* BOOL, INT, GLOBAL id */
    double fval;
    char *str;           /* STR, BYTES (owned, NUL-terminated), len in n */
    vssm_pk_val **items; /* TUPLE, LIST: n items; DICT: 2n (key, value, ...) */
    int64_t n, cap;
    void *storage;                 /* STORAGE: opaque pointer from persistent_load */
    struct vssm_pk_tensor *tensor; /* TENSOR (owned by the machine) */
};

typedef struct vssm_pk_tensor {
    const vssm_pk_val *storage; /* a VSSM_PK_STORAGE value */
    int64_t offset;             /* in elements */
    int ndim;
    int64_t size[VSSM_PK_MAX_DIMS], stride[VSSM_PK_MAX_DIMS];
} vssm_pk_tensor;

/* Globals the machine knows. Builders are interpreted (never called); inert classes only
 * ever yield VSSM_PK_OPAQUE placeholders. Everything else is refused at GLOBAL time. */
typedef enum vssm_pk_global {
    VSSM_PKG_ORDERED_DICT,
    VSSM_PKG_REBUILD_TENSOR_V2,
    VSSM_PKG_REBUILD_PARAMETER,
    VSSM_PKG_REBUILD_PARAMETER_WITH_STATE,
    VSSM_PKG_REBUILD_FROM_TYPE_V2,
    VSSM_PKG_TENSOR_TYPE,   /* torch.Tensor / torch.nn.parameter.Parameter as new_type */
    VSSM_PKG_STORAGE_FIRST, /* torch.<X>Storage: id = STORAGE_FIRST + vssm_dtype */
    VSSM_PKG_INERT = VSSM_PKG_STORAGE_FIRST + VSSM_DTYPE_COUNT,
} vssm_pk_global;

typedef struct vssm_pk_machine vssm_pk_machine;

/* Called for BINPERSID with the id object; returns a value (usually VSSM_PK_STORAGE made
 * with vssm_pk_new) or NULL after filling err. */
typedef vssm_pk_val *(*vssm_pk_persistent_fn)(void *user, vssm_pk_machine *m, const vssm_pk_val *pid, vssm_err *err);

/* Runs the pickle in [data, data+n) to its STOP; *result is owned by the machine. */
vssm_status vssm_pk_run(vssm_pk_machine **out, const uint8_t *data, size_t n, vssm_pk_persistent_fn persistent,
                        void *user, vssm_pk_val **result, vssm_err *err);
void vssm_pk_free(vssm_pk_machine *m);
/* A fresh value owned by the machine (NULL on OOM). */
vssm_pk_val *vssm_pk_new(vssm_pk_machine *m, vssm_pk_kind kind);
/* Dict lookup by string key (last occurrence wins); NULL when absent or not a dict. */
const vssm_pk_val *vssm_pk_dict_get(const vssm_pk_val *d, const char *key);
const char *vssm_pk_kind_name(vssm_pk_kind k);

#endif
