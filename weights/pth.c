/* weights/pth.c - torch.save (.pth) files read without Python and without running the pickle.
 *
 * A torch.save file is a zip archive (zip.c) holding <archive>/data.pkl, a pickle whose
 * tensors refer to storages by persistent id ('storage', torch.<T>Storage, key, location,
 * numel); storage KEY is the raw little-endian entry <archive>/data/KEY. The pickle is run by
 * the allow-listed machine in pickle.c, which only builds values; this file picks the state
 * dict out of the result and makes each tensor a vssm_tensor:
 *   - contiguous tensors are zero-copy views into the mapped file (any dtype the storage has:
 *     F16 and BF16 stay as they are; loaders convert);
 *   - non-contiguous views (a transpose, a strided slice) are materialised as an owned
 *     contiguous copy, as are views whose address is not aligned to their element size
 *     (all copies together at most 256 MiB + 8 x the file's size);
 *   - every storage a kept tensor uses has its CRC-32 checked, and every view is checked to
 *     lie inside its storage.
 * Which dict: opts->key when given ("model", "model_ema", "state_dict", ...); otherwise
 * "model", then "state_dict" (mmseg), then the top-level dict itself when all its values are
 * tensors (a plain state dict). The other entries of a training checkpoint (optimizer,
 * epoch, config, ...) are parsed (inertly) and dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weights/pth_internal.h"
#include "weights/weights_internal.h"

typedef struct pth_reader {
    vssm_zip zip;
    char prefix[512];             /* "<archive>/" */
    uint64_t copied, copy_budget; /* bytes of owned copies made, and the most allowed */
} pth_reader;

/* Owned copies (strided or misaligned views) may take at most 256 MiB + 8 x the file's size:
 * a transpose or a slice copies at most its storage, but a stride-0 view (expand) of one
 * float can claim 2^50 elements, and a 500-byte file must not make us fill gigabytes. */
#define PTH_COPY_BASE ((uint64_t)256 << 20)
#define PTH_COPY_FACTOR 8

/* ---------------------------------------------------------------- persistent_load */
static vssm_pk_val *pth_persistent(void *user, vssm_pk_machine *m, const vssm_pk_val *pid, vssm_err *err) {
    pth_reader *r = user;
    if (pid->kind != VSSM_PK_TUPLE || pid->n != 5 || pid->items[0]->kind != VSSM_PK_STR ||
        strcmp(pid->items[0]->str, "storage") != 0) {
        vssm_err_set(err, VSSM_ERR_FORMAT, "pickle: persistent id is not ('storage', type, key, location, numel)");
        return NULL;
    }
    const vssm_pk_val *ty = pid->items[1], *key = pid->items[2], *numel = pid->items[4];
    if (ty->kind != VSSM_PK_GLOBAL || ty->ival < VSSM_PKG_STORAGE_FIRST || ty->ival >= VSSM_PKG_INERT) {
        vssm_err_set(err, VSSM_ERR_FORMAT, "pickle: persistent id names no known storage type");
        return NULL;
    }
    if (key->kind != VSSM_PK_STR || key->n == 0 || key->n > 64 || strchr(key->str, '/') || numel->kind != VSSM_PK_INT ||
        numel->ival < 0) {
        vssm_err_set(err, VSSM_ERR_FORMAT, "pickle: malformed storage key or size in a persistent id");
        return NULL;
    }
    vssm_dtype dt = (vssm_dtype)(ty->ival - VSSM_PKG_STORAGE_FIRST);
    char name[600];
    snprintf(name, sizeof name, "%sdata/%s", r->prefix, key->str);
    int i = vssm_zip_find(&r->zip, name);
    if (i < 0) {
        vssm_err_set(err, VSSM_ERR_FORMAT, "storage '%s' is missing from the archive (no entry %s)", key->str, name);
        return NULL;
    }
    size_t es = vssm_dtype_size(dt);
    if ((uint64_t)numel->ival > r->zip.e[i].size / es) {
        vssm_err_set(err, VSSM_ERR_FORMAT, "storage '%s' claims %lld %s elements but its entry holds only %llu bytes",
                     key->str, (long long)numel->ival, vssm_dtype_name(dt), (unsigned long long)r->zip.e[i].size);
        return NULL;
    }
    vssm_pk_val *v = vssm_pk_new(m, VSSM_PK_STORAGE);
    if (!v) {
        vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
        return NULL;
    }
    v->ival = dt;
    v->n = numel->ival;
    v->storage = &r->zip.e[i];
    return v;
}

/* ---------------------------------------------------------------- tensors */
static int utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s, *e = p + n;
    while (p < e) {
        unsigned c = *p++;
        int k = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
        if (k < 0 || (c >= 0xf5) || (c == 0xc0 || c == 0xc1) || e - p < k) return 0;
        for (int i = 0; i < k; i++)
            if ((*p++ & 0xc0) != 0x80) return 0;
    }
    return 1;
}

/* Copies the strided view into dst (contiguous), element by element of es bytes. Every
 * element offset is inside the storage: view_extent checked the largest one. */
static void gather(uint8_t *dst, const uint8_t *base, const vssm_pk_tensor *t, size_t es, int64_t numel) {
    int64_t idx[VSSM_PK_MAX_DIMS] = {0};
    for (int64_t n = 0; n < numel; n++) {
        int64_t off = t->offset;
        for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
        memcpy(dst + (size_t)n * es, base + (size_t)off * es, es);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->size[d]) break;
            idx[d] = 0;
        }
    }
}

/* The most elements a tensor may have (2^50: 4 PiB of f32), so numel * element size and
 * every product of its dims fit in 64 bits with room to spare. */
#define PTH_MAX_NUMEL ((int64_t)1 << 50)

/* Checks a view (offset, size, stride) of a storage of n_storage elements:
 * sizes, strides and offset non-negative, the product of the non-zero sizes at most
 * PTH_MAX_NUMEL, and the last element it touches, offset + sum (size-1)*stride, inside the
 * storage, each step overflow-checked (a view whose extent overflows int64 is refused, not
 * wrapped round into a small number). Fills numel and contiguous; 0 or a message in why. */
static int view_extent(const vssm_pk_tensor *t, int64_t n_storage, int64_t *numel_out, int *contiguous,
                       int64_t *last_out, const char **why) {
    int64_t numel = 1, nonzero = 1, want = 1, last = t->offset;
    int zero = 0;
    *contiguous = 1;
    *last_out = -1;
    if (t->ndim < 0 || t->ndim > VSSM_PK_MAX_DIMS) {
        *why = "has a bad number of dimensions";
        return 0;
    }
    if (t->offset < 0) {
        *why = "has a negative storage offset";
        return 0;
    }
    for (int d = t->ndim - 1; d >= 0; d--) {
        int64_t sz = t->size[d], st = t->stride[d];
        if (sz < 0 || st < 0) {
            *why = "has a negative size or stride";
            return 0;
        }
        if (sz == 0) {
            zero = 1;
            continue;
        }
        if (__builtin_mul_overflow(nonzero, sz, &nonzero) || nonzero > PTH_MAX_NUMEL) {
            *why = "is absurdly large (more than 2^50 elements)";
            return 0;
        }
        if (sz > 1 && st != want) *contiguous = 0;
        want = nonzero; /* the contiguous stride of the next dim out: product of the sizes inside */
        int64_t span;
        if (__builtin_mul_overflow(sz - 1, st, &span) || __builtin_add_overflow(last, span, &last)) {
            *why = "has a view (offset + (size-1)*stride) that overflows 64 bits";
            return 0;
        }
    }
    numel = zero ? 0 : nonzero;
    *numel_out = numel;
    if (numel == 0) {
        *last_out = -1;
        return 1;
    }
    *last_out = last;
    /* last < n_storage <= entry size / element size (checked by pth_persistent), so every
     * byte the view touches lies inside the storage's zip entry */
    if (last >= n_storage) {
        *why = NULL;
        return 0;
    }
    return 1;
}

static vssm_status add_tensor(vssm_weights *w, pth_reader *r, const char *name, const vssm_pk_tensor *t,
                              vssm_err *err) {
    const vssm_pk_val *st = t->storage;
    vssm_zip_entry *ze = st->storage;
    vssm_dtype dt = (vssm_dtype)st->ival;
    size_t es = vssm_dtype_size(dt);
    if (t->ndim > VSSM_MAX_DIMS)
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED, "tensor '%s' has %d dimensions; vssm holds at most %d", name,
                            t->ndim, VSSM_MAX_DIMS);
    int64_t numel = 0, last = -1;
    int contiguous = 1;
    const char *why = NULL;
    if (!view_extent(t, st->n, &numel, &contiguous, &last, &why)) {
        char sh[96];
        int64_t shape[VSSM_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) shape[d] = t->size[d];
        if (why)
            return vssm_err_set(err, VSSM_ERR_FORMAT, "tensor '%s' %s (offset %lld) %s", name,
                                vssm_shape_str(shape, t->ndim, sh, sizeof sh), (long long)t->offset, why);
        return vssm_err_set(err, VSSM_ERR_FORMAT,
                            "tensor '%s' %s (offset %lld) needs %lld elements of its storage, which holds only %lld",
                            name, vssm_shape_str(shape, t->ndim, sh, sizeof sh), (long long)t->offset,
                            (long long)last + 1, (long long)st->n);
    }
    vssm_status s = vssm_zip_verify(&r->zip, (int)(ze - r->zip.e), err);
    if (s) return s;
    vssm_tensor out = {0};
    out.dtype = dt;
    out.ndim = t->ndim;
    out.device = VSSM_DEVICE_CPU;
    for (int d = 0; d < t->ndim; d++) out.shape[d] = t->size[d];
    const uint8_t *base = r->zip.base + ze->data_off;
    /* numel > 0: offset <= last < st->n, inside the entry; numel == 0: no byte is read */
    const uint8_t *ptr = base + (numel ? (size_t)t->offset * es : 0);
    if (contiguous && ((uintptr_t)ptr % es) == 0) {
        out.data = (void *)ptr;
    } else {
        uint64_t bytes = (uint64_t)numel * es; /* numel <= 2^50, es <= 8 */
        if (bytes > r->copy_budget - r->copied)
            return vssm_err_set(err, VSSM_ERR_FORMAT,
                                "tensor '%s' is a %llu-byte view that must be copied, past the %llu bytes of copies a "
                                "file of this size may need (a stride-0 or overlapping view?)",
                                name, (unsigned long long)bytes, (unsigned long long)r->copy_budget);
        r->copied += bytes;
        uint8_t *copy = malloc(numel ? (size_t)numel * es : 1);
        if (!copy) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory copying tensor '%s'", name);
        if ((s = vssm_weights_own(w, copy, err))) return s; /* vssm_weights_own frees it on failure */
        if (contiguous)
            memcpy(copy, ptr, (size_t)numel * es);
        else
            gather(copy, base, t, es, numel);
        out.data = copy;
    }
    return vssm_weights_add(w, name, &out, err);
}

/* ---------------------------------------------------------------- choosing the state dict */
static int all_tensors(const vssm_pk_val *d) {
    if (d->kind != VSSM_PK_DICT || d->n == 0) return 0;
    for (int64_t i = 0; i < d->n / 2; i++)
        if (d->items[2 * i + 1]->kind != VSSM_PK_TENSOR) return 0;
    return 1;
}

static void list_keys(const vssm_pk_val *d, char *buf, size_t n) {
    size_t used = 0;
    buf[0] = 0;
    for (int64_t i = 0; i < d->n / 2 && used + 1 < n; i++) {
        const vssm_pk_val *k = d->items[2 * i];
        int w = snprintf(buf + used, n - used, "%s'%.40s'", i ? ", " : "", k->kind == VSSM_PK_STR ? k->str : "?");
        if (w < 0) break;
        used += (size_t)w;
    }
}

static vssm_status pick_dict(const vssm_pk_val *top, const char *key, const vssm_pk_val **out, vssm_err *err) {
    char keys[256];
    if (top->kind != VSSM_PK_DICT)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "the checkpoint holds a %s, not a dict of tensors",
                            vssm_pk_kind_name(top->kind));
    list_keys(top, keys, sizeof keys);
    if (!keys[0]) snprintf(keys, sizeof keys, "no entries");
    const vssm_pk_val *d = NULL;
    if (key) {
        d = vssm_pk_dict_get(top, key);
        if (!d) return vssm_err_set(err, VSSM_ERR_FORMAT, "no entry '%s' in the checkpoint (it has %s)", key, keys);
    } else if ((d = vssm_pk_dict_get(top, "model")) || (d = vssm_pk_dict_get(top, "state_dict"))) {
        /* a training checkpoint or an mmseg one */
    } else if (all_tensors(top)) {
        d = top;
    } else {
        return vssm_err_set(
            err, VSSM_ERR_FORMAT,
            "no state dict found: no 'model' or 'state_dict' entry and not a plain dict of tensors (it has %s)", keys);
    }
    if (d->kind != VSSM_PK_DICT)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "entry '%s' is a %s, not a dict of tensors", key ? key : "model",
                            vssm_pk_kind_name(d->kind));
    *out = d;
    return VSSM_OK;
}

/* ---------------------------------------------------------------- open */
static vssm_status find_archive(pth_reader *r, int *pkl, vssm_err *err) {
    *pkl = -1;
    for (int i = 0; i < r->zip.n; i++) {
        const char *n = r->zip.e[i].name, *slash = strchr(n, '/');
        if (slash && !strcmp(slash, "/data.pkl") && (size_t)(slash - n) + 1 < sizeof r->prefix) {
            if (*pkl >= 0) return vssm_err_set(err, VSSM_ERR_FORMAT, "the archive holds more than one data.pkl");
            *pkl = i;
            memcpy(r->prefix, n, (size_t)(slash - n) + 1);
            r->prefix[slash - n + 1] = 0;
        }
    }
    if (*pkl < 0)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "a zip file but not a torch.save archive (no <name>/data.pkl)");
    char bo[600];
    snprintf(bo, sizeof bo, "%sbyteorder", r->prefix);
    int i = vssm_zip_find(&r->zip, bo);
    if (i >= 0) {
        const vssm_zip_entry *e = &r->zip.e[i];
        if (e->size != 6 || memcmp(r->zip.base + e->data_off, "little", 6) != 0)
            return vssm_err_set(err, VSSM_ERR_UNSUPPORTED, "the checkpoint was saved big-endian");
    }
    return VSSM_OK;
}

static vssm_status pth_load(vssm_weights *w, pth_reader *r, const vssm_weights_opts *opts, vssm_err *err) {
    const uint16_t one = 1;
    if (*(const uint8_t *)&one != 1)
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED, ".pth reading needs a little-endian host");
    uint64_t scaled = (uint64_t)w->map_size > (UINT64_MAX - PTH_COPY_BASE) / PTH_COPY_FACTOR
                          ? UINT64_MAX - PTH_COPY_BASE
                          : (uint64_t)w->map_size * PTH_COPY_FACTOR;
    r->copy_budget = PTH_COPY_BASE + scaled;
    r->copied = 0;
    vssm_status s = vssm_zip_open(&r->zip, w->map, w->map_size, err);
    int pkl;
    if (!s) s = find_archive(r, &pkl, err);
    if (!s) s = vssm_zip_verify(&r->zip, pkl, err);
    if (s) return s;
    vssm_pk_machine *m = NULL;
    vssm_pk_val *top = NULL;
    const vssm_zip_entry *pe = &r->zip.e[pkl];
    s = vssm_pk_run(&m, r->zip.base + pe->data_off, (size_t)pe->size, pth_persistent, r, &top, err);
    const vssm_pk_val *d = NULL;
    if (!s) s = pick_dict(top, opts ? opts->key : NULL, &d, err);
    for (int64_t i = 0; !s && i < d->n / 2; i++) {
        const vssm_pk_val *k = d->items[2 * i], *v = d->items[2 * i + 1];
        if (k->kind != VSSM_PK_STR || k->n == 0 || (size_t)k->n != strlen(k->str) || !utf8_valid(k->str, (size_t)k->n))
            s = vssm_err_set(err, VSSM_ERR_FORMAT, "state dict key %lld is not a valid name", (long long)i);
        else if (v->kind != VSSM_PK_TENSOR)
            s = vssm_err_set(err, VSSM_ERR_FORMAT, "state dict entry '%s' is a %s, not a tensor", k->str,
                             vssm_pk_kind_name(v->kind));
        else
            s = add_tensor(w, r, k->str, v->tensor, err);
    }
    vssm_pk_free(m);
    return s;
}

vssm_status vssm_pth_open(vssm_weights **out, const char *path, const vssm_weights_opts *opts, vssm_err *err) {
    *out = NULL;
    vssm_weights *w = vssm_weights_alloc();
    if (!w) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    pth_reader *r = calloc(1, sizeof *r);
    vssm_status s = r ? VSSM_OK : vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    if (!s) s = vssm_weights_map_file(w, path, err);
    if (!s && (s = pth_load(w, r, opts, err))) vssm_err_prefix(err, "%s", path);
    if (r) vssm_zip_close(&r->zip);
    free(r);
    if (!s) s = vssm_weights_finish(w, path, err);
    if (s) {
        vssm_weights_close(w);
        return s;
    }
    *out = w;
    return VSSM_OK;
}
