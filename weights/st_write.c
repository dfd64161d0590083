/* weights/st_write.c - safetensors writer, laid out byte for byte like the reference library.
 *
 * File: u64 LE header length N, N bytes of JSON padded with spaces to a multiple of 8, then
 * the tensors back to back. The JSON is what the Rust `safetensors` crate (and therefore
 * Python's safetensors.torch.save_file) emits: compact, "__metadata__" first (keys sorted
 * here; the crate's order is its HashMap's), then each tensor as
 * {"dtype":"F32","shape":[..],"data_offsets":[b,e]}, ordered by dtype (widest first, the
 * crate's alignment order) and then by name - so files of one dtype are in plain name order.
 * Strings are escaped as serde_json does. The file goes through vssm/outfile.h: written to a
 * unique temp file beside PATH (mkstemp), flushed to disk, then renamed onto PATH.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "vssm/outfile.h"
#include "vssm/weights.h"

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->n + n + 1) nc *= 2;
        char *q = realloc(b->p, nc);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* A JSON string literal, escaped like serde_json (short escapes, else \u00xx; UTF-8 raw). */
static void sb_json(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char e[8];
        switch (*p) {
        case '"': sb_str(b, "\\\""); break;
        case '\\': sb_str(b, "\\\\"); break;
        case '\b': sb_str(b, "\\b"); break;
        case '\f': sb_str(b, "\\f"); break;
        case '\n': sb_str(b, "\\n"); break;
        case '\r': sb_str(b, "\\r"); break;
        case '\t': sb_str(b, "\\t"); break;
        default:
            if (*p < 0x20) {
                snprintf(e, sizeof e, "\\u%04x", *p);
                sb_str(b, e);
            } else
                sb_put(b, (const char *)p, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static int utf8_ok(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p++;
        int k = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
        if (k < 0 || c >= 0xf5 || c == 0xc0 || c == 0xc1) return 0;
        for (int i = 0; i < k; i++)
            if ((*p++ & 0xc0) != 0x80) return 0;
    }
    return 1;
}

/* The crate's Dtype enum order (BOOL < U8 < I8 < I16 < F16 < BF16 < I32 < F32 < F64 < I64). */
static int dtype_rank(vssm_dtype t) {
    switch (t) {
    case VSSM_DTYPE_BOOL: return 0;
    case VSSM_DTYPE_U8: return 1;
    case VSSM_DTYPE_I8: return 2;
    case VSSM_DTYPE_I16: return 3;
    case VSSM_DTYPE_F16: return 4;
    case VSSM_DTYPE_BF16: return 5;
    case VSSM_DTYPE_I32: return 6;
    case VSSM_DTYPE_F32: return 7;
    case VSSM_DTYPE_F64: return 8;
    case VSSM_DTYPE_I64: return 9;
    default: return -1;
    }
}

static int entry_cmp(const void *a, const void *b) {
    const vssm_st_entry *x = *(const vssm_st_entry *const *)a, *y = *(const vssm_st_entry *const *)b;
    int rx = dtype_rank(x->t.dtype), ry = dtype_rank(y->t.dtype);
    if (rx != ry) return ry - rx;
    return strcmp(x->name, y->name);
}
static int name_cmp(const void *a, const void *b) {
    return strcmp((*(const vssm_st_entry *const *)a)->name, (*(const vssm_st_entry *const *)b)->name);
}
static int meta_cmp(const void *a, const void *b) {
    return strcmp((*(const vssm_st_meta *const *)a)->key, (*(const vssm_st_meta *const *)b)->key);
}

/* Bytes of t's data: numel * element size, overflow-checked (0 and *ok = 0 when a
 * product overflows or passes 2^53, the largest offset a safetensors reader accepts). */
#define ST_MAX_BYTES (1ull << 53)
static size_t nbytes_of(const vssm_tensor *t, int *ok) {
    uint64_t n = vssm_dtype_size(t->dtype);
    *ok = 1;
    for (int d = 0; d < t->ndim && d < VSSM_MAX_DIMS; d++) {
        if (t->shape[d] < 0 || __builtin_mul_overflow(n, (uint64_t)t->shape[d], &n) || n > ST_MAX_BYTES) {
            *ok = 0;
            return 0;
        }
    }
    return (size_t)n;
}

static vssm_status check_inputs(const vssm_st_entry **ord, int n, const vssm_st_meta **mord, int n_meta,
                                uint64_t *total, vssm_err *err) {
    *total = 0;
    for (int i = 0; i < n; i++) {
        const vssm_st_entry *e = ord[i];
        if (!e->name || !e->name[0] || !utf8_ok(e->name) || !strcmp(e->name, "__metadata__"))
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                                "safetensors: tensor %d has an empty, reserved or non-UTF-8 name", i);
        if (dtype_rank(e->t.dtype) < 0 || e->t.ndim < 0 || e->t.ndim > VSSM_MAX_DIMS || e->t.device != VSSM_DEVICE_CPU)
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "safetensors: tensor '%s' has a bad dtype, rank or device",
                                e->name);
        for (int d = 0; d < e->t.ndim; d++)
            if (e->t.shape[d] < 0)
                return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "safetensors: tensor '%s' has a negative dimension",
                                    e->name);
        int ok;
        size_t nb = nbytes_of(&e->t, &ok);
        if (!ok || __builtin_add_overflow(*total, (uint64_t)nb, total) || *total > ST_MAX_BYTES)
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                                "safetensors: tensor '%s' is too large (its bytes overflow 2^53)", e->name);
        if (!e->t.data && nb)
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "safetensors: tensor '%s' has no data", e->name);
        if (i && !strcmp(ord[i - 1]->name, e->name))
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "safetensors: tensor name '%s' given twice", e->name);
    }
    for (int i = 0; i < n_meta; i++) {
        if (!mord[i]->key || !mord[i]->value || !utf8_ok(mord[i]->key) || !utf8_ok(mord[i]->value))
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "safetensors: metadata entry %d is missing or not UTF-8", i);
        if (i && !strcmp(mord[i - 1]->key, mord[i]->key))
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "safetensors: metadata key '%s' given twice", mord[i]->key);
    }
    return VSSM_OK;
}

static void build_header(sbuf *h, const vssm_st_entry **ord, int n, const vssm_st_meta **mord, int n_meta) {
    char num[64];
    sb_str(h, "{");
    if (n_meta > 0) {
        sb_str(h, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i) sb_str(h, ",");
            sb_json(h, mord[i]->key);
            sb_str(h, ":");
            sb_json(h, mord[i]->value);
        }
        sb_str(h, "}");
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const vssm_st_entry *e = ord[i];
        if (i || n_meta > 0) sb_str(h, ",");
        sb_json(h, e->name);
        sb_str(h, ":{\"dtype\":\"");
        sb_str(h, vssm_dtype_name(e->t.dtype));
        sb_str(h, "\",\"shape\":[");
        for (int d = 0; d < e->t.ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)e->t.shape[d]);
            sb_str(h, num);
        }
        int ok;
        size_t nb = nbytes_of(&e->t, &ok); /* checked by check_inputs */
        snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", off, off + nb);
        sb_str(h, num);
        off += nb;
    }
    sb_str(h, "}");
    while (h->n % 8) sb_str(h, " ");
}

static vssm_status write_body(FILE *f, const char *path, const sbuf *h, const vssm_st_entry **ord, int n,
                              vssm_err *err) {
    uint8_t len[8];
    errno = 0; /* what a failed write sets is named below */
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)h->n >> (8 * i));
    int ok = fwrite(len, 1, 8, f) == 8 && fwrite(h->p, 1, h->n, f) == h->n;
    for (int i = 0; ok && i < n; i++) {
        int nb_ok;
        size_t nb = nbytes_of(&ord[i]->t, &nb_ok);
        ok = !nb || fwrite(ord[i]->t.data, 1, nb, f) == nb;
    }
    ok = ok && fflush(f) == 0; /* on disk before the rename: vssm_outfile_commit syncs it */
    if (!ok)
        return vssm_err_set(err, VSSM_ERR_IO, "%s: write failed (%s)", path, errno ? strerror(errno) : "disk full?");
    return VSSM_OK;
}

vssm_status vssm_safetensors_write_to(vssm_outfile *o, const vssm_st_entry *tensors, int n_tensors,
                                      const vssm_st_meta *meta, int n_meta, vssm_err *err) {
    if (!o || !o->f || n_tensors < 0 || n_meta < 0 || (n_tensors && !tensors) || (n_meta && !meta))
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "safetensors: bad arguments to the writer");
    const char *path = o->path ? o->path : "safetensors";
    const vssm_st_entry **ord = malloc((size_t)n_tensors * sizeof *ord + 1);
    const vssm_st_meta **mord = malloc((size_t)n_meta * sizeof *mord + 1);
    sbuf h = {0};
    uint64_t total = 0;
    vssm_status s = VSSM_OK;
    if (!ord || !mord) {
        s = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n_tensors; i++) ord[i] = &tensors[i];
    for (int i = 0; i < n_meta; i++) mord[i] = &meta[i];
    for (int i = 0; i < n_tensors; i++)
        if (!tensors[i].name) {
            s = vssm_err_set(err, VSSM_ERR_INVALID_ARG, "safetensors: tensor %d has no name", i);
            goto done;
        }
    for (int i = 0; i < n_meta; i++)
        if (!meta[i].key || !meta[i].value) {
            s = vssm_err_set(err, VSSM_ERR_INVALID_ARG, "safetensors: metadata entry %d is missing", i);
            goto done;
        }
    qsort(mord, (size_t)n_meta, sizeof *mord, meta_cmp);
    /* checked in name order (duplicates adjacent), written in the crate's order */
    qsort(ord, (size_t)n_tensors, sizeof *ord, name_cmp);
    if ((s = check_inputs(ord, n_tensors, mord, n_meta, &total, err))) goto done;
    qsort(ord, (size_t)n_tensors, sizeof *ord, entry_cmp);
    build_header(&h, ord, n_tensors, mord, n_meta);
    if (h.oom) {
        s = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory (header)");
        goto done;
    }
    s = write_body(o->f, path, &h, ord, n_tensors, err);
done:
    free(h.p);
    free(ord);
    free(mord);
    return s;
}

vssm_status vssm_safetensors_write(const char *path, const vssm_st_entry *tensors, int n_tensors,
                                   const vssm_st_meta *meta, int n_meta, vssm_err *err) {
    if (!path || n_tensors < 0 || n_meta < 0 || (n_tensors && !tensors) || (n_meta && !meta))
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "safetensors: bad arguments to the writer");
    vssm_outfile o;
    vssm_status s = vssm_outfile_open(&o, path, err);
    if (s != VSSM_OK) return s;
    if ((s = vssm_safetensors_write_to(&o, tensors, n_tensors, meta, n_meta, err)) != VSSM_OK) {
        vssm_outfile_abort(&o);
        return s;
    }
    return vssm_outfile_commit(&o, err);
}
