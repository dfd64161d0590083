/* weights/safetensors.c - the safetensors reader (the native weights format).
 *
 * Layout: u64 little-endian header length n, n bytes of UTF-8 JSON
 *   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"key": "value", ...}}
 * then the data area; offsets are relative to its start. The whole header is checked
 * before any tensor is exposed; tensors are zero-copy views into the mapped file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "weights/weights_internal.h"

#define ST_MAX_HEADER (100u << 20) /* 100 MiB, as the reference implementation */
#define ST_MAX_NUMEL (1ull << 50)  /* elements in one tensor (and in any product of its dims) */

static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > n) return 0;
        for (int k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80) return 0;
        if (len == 2 && c < 0xc2) return 0; /* overlong */
        if (len == 3 && c == 0xe0 && s[i + 1] < 0xa0) return 0;
        if (len == 3 && c == 0xed && s[i + 1] >= 0xa0) return 0; /* surrogates */
        if (len == 4 && (c > 0xf4 || (c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90))) return 0;
        i += (size_t)len;
    }
    return 1;
}

static int dtype_from_name(const char *s, vssm_dtype *out) {
    for (int t = 0; t < VSSM_DTYPE_COUNT; t++)
        if (!strcmp(vssm_dtype_name((vssm_dtype)t), s)) {
            *out = (vssm_dtype)t;
            return 1;
        }
    return 0;
}

static int json_u64(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return 0;
    double v = j->valuedouble;
    if (!(v >= 0) || v > 9007199254740992.0 || floor(v) != v) return 0;
    *out = (uint64_t)v;
    return 1;
}

typedef struct {
    uint64_t begin, end;
    const char *name;
} span;
static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end < y->end ? -1 : x->end > y->end);
}

static vssm_status parse_metadata(vssm_weights *w, const char *path, const cJSON *it, vssm_err *err) {
    if (!cJSON_IsObject(it)) return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: __metadata__ is not an object", path);
    vssm_status s = VSSM_OK;
    for (const cJSON *m = it->child; m && s == VSSM_OK; m = m->next) {
        if (!cJSON_IsString(m))
            s = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: metadata value of '%s' is not a string", path, m->string);
        else
            s = vssm_weights_add_meta(w, m->string, m->valuestring, err);
    }
    return s;
}

/* dtype and shape of tensor `name` into t, and its element count (every size checked) */
static vssm_status parse_dtype_shape(const char *path, const char *name, const cJSON *jd, const cJSON *js,
                                     vssm_tensor *t, uint64_t *numel, vssm_err *err) {
    if (!dtype_from_name(jd->valuestring, &t->dtype))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: tensor '%s' has unknown dtype '%s'", path, name,
                            jd->valuestring);
    int nd = cJSON_GetArraySize(js);
    if (nd > VSSM_MAX_DIMS)
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dims (at most %d supported)", path, name,
                            nd, VSSM_MAX_DIMS);
    t->ndim = nd;
    /* the product of the non-zero dims is bounded too: a (0, 2^40, 2^40) tensor holds
     * nothing, but whoever multiplies its other dims would overflow */
    uint64_t nonzero = 1;
    int zero = 0;
    for (int d = 0; d < nd; d++) {
        uint64_t v = 0;
        if (!json_u64(cJSON_GetArrayItem(js, d), &v) || v > ST_MAX_NUMEL)
            return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: tensor '%s' has a bad shape entry at dim %d", path, name, d);
        if (v == 0)
            zero = 1;
        else if (__builtin_mul_overflow(nonzero, v, &nonzero) || nonzero > ST_MAX_NUMEL)
            return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: tensor '%s' is impossibly large (more than 2^50 elements)",
                                path, name);
        t->shape[d] = (int64_t)v;
    }
    *numel = zero ? 0 : nonzero; /* <= 2^50, so numel * 8 cannot overflow */
    return VSSM_OK;
}

/* one tensor entry: checked, pointed into data (copied when misaligned), added to w; its span */
static vssm_status parse_tensor(vssm_weights *w, const char *path, const cJSON *it, const unsigned char *data,
                                uint64_t data_size, span *sp, vssm_err *err) {
    const char *name = it->string;
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(it, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(it, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
    vssm_tensor t;
    memset(&t, 0, sizeof t);
    if (!cJSON_IsObject(it) || !cJSON_IsString(jd) || !cJSON_IsArray(js) || !cJSON_IsArray(jo) ||
        cJSON_GetArraySize(jo) != 2)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: tensor '%s' needs dtype, shape and data_offsets [begin, end]",
                            path, name);
    uint64_t numel = 0, b, e;
    vssm_status s = parse_dtype_shape(path, name, jd, js, &t, &numel, err);
    if (s != VSSM_OK) return s;
    if (!json_u64(cJSON_GetArrayItem(jo, 0), &b) || !json_u64(cJSON_GetArrayItem(jo, 1), &e) || b > e || e > data_size)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: tensor '%s' has data_offsets outside the data area (%llu bytes)",
                            path, name, (unsigned long long)data_size);
    if (e - b != numel * vssm_dtype_size(t.dtype))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: tensor '%s' holds %llu bytes but its shape and dtype need %llu",
                            path, name, (unsigned long long)(e - b),
                            (unsigned long long)(numel * vssm_dtype_size(t.dtype)));
    t.data = (void *)(data + b);
    t.device = VSSM_DEVICE_CPU;
    /* the format does not promise alignment (the header's length decides where the data
     * area starts): a tensor whose address is not a multiple of its element size is
     * copied, so no reader ever loads a misaligned float */
    size_t es = vssm_dtype_size(t.dtype);
    if (es > 1 && (uintptr_t)t.data % es != 0) {
        void *copy = malloc(e - b ? (size_t)(e - b) : 1);
        if (!copy) return vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory copying tensor '%s'", path, name);
        if ((s = vssm_weights_own(w, copy, err)) != VSSM_OK) return s; /* freed by vssm_weights_own */
        memcpy(copy, t.data, (size_t)(e - b));
        t.data = copy;
    }
    sp->begin = b;
    sp->end = e;
    sp->name = name;
    return vssm_weights_add(w, name, &t, err);
}

/* as the reference implementation: tensors tile the data area exactly, in order, with no
 * overlap, hole or trailing bytes */
static vssm_status check_tiling(const char *path, span *spans, int ns, uint64_t data_size, vssm_err *err) {
    if (ns > 1) qsort(spans, (size_t)ns, sizeof *spans, cmp_span);
    uint64_t at = 0;
    for (int i = 0; i < ns; i++) {
        if (spans[i].begin < at)
            return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap in the data area", path,
                                spans[i - 1].name, spans[i].name);
        if (spans[i].begin > at)
            return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: %llu unused bytes before tensor '%s' in the data area", path,
                                (unsigned long long)(spans[i].begin - at), spans[i].name);
        at = spans[i].end;
    }
    if (at != data_size)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: the data area has %llu bytes but the tensors use %llu", path,
                            (unsigned long long)data_size, (unsigned long long)at);
    return VSSM_OK;
}

static vssm_status parse_header(vssm_weights *w, const char *path, const char *hdr, size_t n, const unsigned char *data,
                                uint64_t data_size, vssm_err *err) {
    if (!utf8_valid((const unsigned char *)hdr, n))
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: safetensors header is not valid UTF-8", path);
    cJSON *root = cJSON_ParseWithLength(hdr, n);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: safetensors header is not a JSON object", path);
    }
    vssm_status s = VSSM_OK;
    int count = cJSON_GetArraySize(root);
    span *spans = calloc((size_t)count + 1, sizeof *spans);
    int ns = 0;
    if (!spans) {
        cJSON_Delete(root);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    }
    for (cJSON *it = root->child; it && s == VSSM_OK; it = it->next) {
        const char *name = it->string;
        if (!name || !*name)
            s = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: empty tensor name", path);
        else if (!strcmp(name, "__metadata__"))
            s = parse_metadata(w, path, it, err);
        else if ((s = parse_tensor(w, path, it, data, data_size, &spans[ns], err)) == VSSM_OK)
            ns++;
    }
    if (s == VSSM_OK) s = check_tiling(path, spans, ns, data_size, err);
    free(spans);
    cJSON_Delete(root);
    if (s == VSSM_OK) s = vssm_weights_finish(w, path, err);
    return s;
}

vssm_status vssm_safetensors_open(vssm_weights **out, const char *path, vssm_err *err) {
    *out = NULL;
    vssm_weights *w = vssm_weights_alloc();
    if (!w) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    vssm_status s = vssm_weights_map_file(w, path, err);
    if (s != VSSM_OK) {
        vssm_weights_close(w);
        return s;
    }
    const unsigned char *p = w->map;
    const size_t size = w->map_size;
    if (size < 8) {
        vssm_weights_close(w);
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: too short for a safetensors file (%zu bytes)", path, size);
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | p[i];
    if (n < 2 || n > ST_MAX_HEADER || n > size - 8) {
        vssm_weights_close(w);
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: not a safetensors file (header length %llu, file %zu bytes)",
                            path, (unsigned long long)n, size);
    }
    s = parse_header(w, path, (const char *)p + 8, (size_t)n, p + 8 + n, w->map_size - 8 - n, err);
    if (s != VSSM_OK) {
        vssm_weights_close(w);
        return s;
    }
    *out = w;
    return VSSM_OK;
}
