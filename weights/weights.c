/* weights/weights.c - the generic weight container: entries sorted by name, metadata,
 * lookups and the vssm_source that model loaders read. Readers (safetensors.c, pth.c)
 * only fill it. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <errno.h>
#include "kernels/infile.h"
#include "weights/weights_internal.h"

static int find(const vssm_weights *w, const char *name) { /* the entry's index, -1 when missing */
    int lo = 0, hi = w->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(w->e[mid].name, name);
        if (c == 0) return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* Drops the file pages wholly inside t (a view into the map) from this process's resident
 * set: a loader converts each tensor it fetches into its own layout, so without this a model
 * loaded from a file holds the file's pages too until it is closed (VMamba-T: 121 MB on top
 * of its weights, over issue 17's budget at bf16). The view stays valid: the pages of a
 * read-only private mapping are read again from the file on the next access. */
static void drop_pages(const vssm_weights *w, const vssm_tensor *t) {
    const uintptr_t map = (uintptr_t)w->map, page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t a = (uintptr_t)t->data, b = a + (uintptr_t)vssm_tensor_numel(t) * vssm_dtype_size(t->dtype);
    if (!w->map || a < map || b > map + w->map_size) return; /* a copied tensor */
    const uintptr_t a0 = (a + page - 1) / page * page, b0 = b / page * page;
    if (b0 > a0) madvise((void *)a0, b0 - a0, MADV_DONTNEED);
}

static vssm_status src_get(void *user, const char *name, const int64_t *expect, int expect_ndim, vssm_tensor *out,
                           vssm_err *err) {
    vssm_weights *w = user;
    const int i = find(w, name);
    const vssm_tensor *t = i >= 0 ? &w->e[i].t : NULL;
    if (w->served && (!t || w->served->data != t->data)) drop_pages(w, w->served);
    w->served = t;
    return vssm_weights_get(w, name, out, err);
}
static int src_count(void *user) { return vssm_weights_count(user); }
static const char *src_name(void *user, int i) { return vssm_weights_name(user, i); }
static const char *src_meta(void *user, const char *k) { return vssm_weights_meta(user, k); }

vssm_weights *vssm_weights_alloc(void) {
    vssm_weights *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->src.user = w;
    w->src.get = src_get;
    w->src.count = src_count;
    w->src.name_at = src_name;
    w->src.meta = src_meta;
    return w;
}

static int grow(void **p, int *cap, int need, size_t elem) {
    if (need <= *cap) return 1;
    int nc = *cap ? *cap * 2 : 64;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return 0;
    *p = q;
    *cap = nc;
    return 1;
}

vssm_status vssm_weights_add(vssm_weights *w, const char *name, const vssm_tensor *t, vssm_err *err) {
    if (!grow((void **)&w->e, &w->cap, w->n + 1, sizeof *w->e))
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    char *nm = strdup(name);
    if (!nm) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    w->e[w->n].name = nm;
    w->e[w->n].t = *t;
    w->n++;
    return VSSM_OK;
}

vssm_status vssm_weights_add_meta(vssm_weights *w, const char *k, const char *v, vssm_err *err) {
    int cap = w->cap_meta;
    if (!grow((void **)&w->meta_k, &cap, w->n_meta + 1, sizeof(char *)))
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    cap = w->cap_meta;
    if (!grow((void **)&w->meta_v, &cap, w->n_meta + 1, sizeof(char *)))
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    w->cap_meta = cap;
    char *a = strdup(k), *b = strdup(v);
    if (!a || !b) {
        free(a);
        free(b);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    }
    w->meta_k[w->n_meta] = a;
    w->meta_v[w->n_meta] = b;
    w->n_meta++;
    return VSSM_OK;
}

vssm_status vssm_weights_own(vssm_weights *w, void *block, vssm_err *err) {
    if (!grow((void **)&w->owned, &w->cap_owned, w->n_owned + 1, sizeof(void *))) {
        free(block);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    }
    w->owned[w->n_owned++] = block;
    return VSSM_OK;
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const vssm_wentry *)a)->name, ((const vssm_wentry *)b)->name);
}

vssm_status vssm_weights_finish(vssm_weights *w, const char *path, vssm_err *err) {
    vssm_status s = vssm_weights_map_legacy_names(w, err);
    if (s != VSSM_OK) return s;
    if (w->n > 1) qsort(w->e, (size_t)w->n, sizeof *w->e, cmp_entry);
    for (int i = 1; i < w->n; i++)
        if (!strcmp(w->e[i - 1].name, w->e[i].name))
            return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: tensor name '%s' appears twice", path, w->e[i].name);
    return VSSM_OK;
}

vssm_status vssm_weights_map_file(vssm_weights *w, const char *path, vssm_err *err) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return vssm_err_set(err, VSSM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return vssm_err_set(err, VSSM_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size == 0) {
        close(fd);
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: the file is empty", path);
    }
    void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return vssm_err_set(err, VSSM_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    w->map = p;
    w->map_size = (size_t)sb.st_size;
    return VSSM_OK;
}

void vssm_weights_close(vssm_weights *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->e[i].name);
    free(w->e);
    for (int i = 0; i < w->n_meta; i++) {
        free(w->meta_k[i]);
        free(w->meta_v[i]);
    }
    free(w->meta_k);
    free(w->meta_v);
    for (int i = 0; i < w->n_owned; i++) free(w->owned[i]);
    free(w->owned);
    if (w->impl_free) w->impl_free(w->impl);
    if (w->map) munmap(w->map, w->map_size);
    free(w);
}

const vssm_source *vssm_weights_source(const vssm_weights *w) { return &w->src; }
int vssm_weights_count(const vssm_weights *w) { return w->n; }
const char *vssm_weights_name(const vssm_weights *w, int i) { return i >= 0 && i < w->n ? w->e[i].name : NULL; }

vssm_status vssm_weights_get(const vssm_weights *w, const char *name, vssm_tensor *out, vssm_err *err) {
    const int i = find(w, name);
    if (i < 0) return vssm_err_set(err, VSSM_ERR_FORMAT, "tensor '%s' is missing from the weights", name);
    *out = w->e[i].t;
    return VSSM_OK;
}

const char *vssm_weights_meta(const vssm_weights *w, const char *key) {
    for (int i = 0; i < w->n_meta; i++)
        if (!strcmp(w->meta_k[i], key)) return w->meta_v[i];
    return NULL;
}
int vssm_weights_meta_count(const vssm_weights *w) { return w->n_meta; }
const char *vssm_weights_meta_key(const vssm_weights *w, int i) {
    return i >= 0 && i < w->n_meta ? w->meta_k[i] : NULL;
}

vssm_status vssm_weights_open(vssm_weights **out, const char *path, const vssm_weights_opts *opts, vssm_err *err) {
    *out = NULL;
    FILE *f;
    vssm_status st = vssm_fopen_regular(&f, path, "the weights", 0, err); /* a FIFO blocked fopen */
    if (st != VSSM_OK) return st;
    unsigned char magic[4] = {0};
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got == 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4) {
        return vssm_pth_open(out, path, opts, err);
    }
    return vssm_safetensors_open(out, path, err);
}
