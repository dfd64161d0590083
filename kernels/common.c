/* kernels/common.c - error values, dtypes and tensor views (vssm/common.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "vssm/common.h"

vssm_status vssm_err_set(vssm_err *err, vssm_status status, const char *fmt, ...) {
    if (err) {
        err->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

void vssm_err_prefix(vssm_err *err, const char *fmt, ...) {
    if (!err) return;
    char pre[VSSM_ERR_MSG_MAX], old[VSSM_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    size_t np = n < 0 ? 0 : (size_t)n < sizeof pre ? (size_t)n : sizeof pre - 1;
    memcpy(err->msg, pre, np);
    size_t left = sizeof err->msg - np;
    if (left > 2) {
        memcpy(err->msg + np, ": ", 2);
        size_t no = strlen(old);
        if (no > left - 3) no = left - 3;
        memcpy(err->msg + np + 2, old, no);
        err->msg[np + 2 + no] = '\0';
    } else
        err->msg[np] = '\0';
}

const char *vssm_status_str(vssm_status s) {
    switch (s) {
    case VSSM_OK: return "ok";
    case VSSM_ERR_INVALID_ARG: return "invalid argument";
    case VSSM_ERR_NOMEM: return "out of memory";
    case VSSM_ERR_IO: return "i/o error";
    case VSSM_ERR_FORMAT: return "bad format";
    case VSSM_ERR_SHAPE: return "shape mismatch";
    case VSSM_ERR_UNSUPPORTED: return "unsupported";
    case VSSM_ERR_DEVICE: return "device error";
    }
    return "unknown status";
}

static const struct {
    const char *name;
    size_t size;
} dtypes[VSSM_DTYPE_COUNT] = {
    [VSSM_DTYPE_F32] = {"F32", 4},   [VSSM_DTYPE_F16] = {"F16", 2}, [VSSM_DTYPE_BF16] = {"BF16", 2},
    [VSSM_DTYPE_F64] = {"F64", 8},   [VSSM_DTYPE_I64] = {"I64", 8}, [VSSM_DTYPE_I32] = {"I32", 4},
    [VSSM_DTYPE_I16] = {"I16", 2},   [VSSM_DTYPE_I8] = {"I8", 1},   [VSSM_DTYPE_U8] = {"U8", 1},
    [VSSM_DTYPE_BOOL] = {"BOOL", 1},
};

size_t vssm_dtype_size(vssm_dtype t) { return (unsigned)t < VSSM_DTYPE_COUNT ? dtypes[t].size : 0; }
const char *vssm_dtype_name(vssm_dtype t) { return (unsigned)t < VSSM_DTYPE_COUNT ? dtypes[t].name : "?"; }

int64_t vssm_tensor_numel(const vssm_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

const char *vssm_shape_str(const int64_t *shape, int ndim, char *buf, size_t n) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, o < n ? n - o : 0, "(");
    for (int i = 0; i < ndim; i++)
        o += (size_t)snprintf(buf + o, o < n ? n - o : 0, "%s%lld", i ? ", " : "", (long long)shape[i]);
    snprintf(buf + o, o < n ? n - o : 0, ")");
    return buf;
}

float vssm_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0)
            bits = sign;
        else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31)
        bits = sign | 0x7f800000u | (man << 13);
    else
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float vssm_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

vssm_status vssm_tensor_to_f32(const vssm_tensor *t, float *dst, vssm_err *err) {
    int64_t n = vssm_tensor_numel(t);
    switch (t->dtype) {
    case VSSM_DTYPE_F32: memcpy(dst, t->data, (size_t)n * 4); return VSSM_OK;
    case VSSM_DTYPE_F16: {
        const uint16_t *s = t->data;
        for (int64_t i = 0; i < n; i++) dst[i] = vssm_f16_to_f32(s[i]);
        return VSSM_OK;
    }
    case VSSM_DTYPE_BF16: {
        const uint16_t *s = t->data;
        for (int64_t i = 0; i < n; i++) dst[i] = vssm_bf16_to_f32(s[i]);
        return VSSM_OK;
    }
    case VSSM_DTYPE_F64: {
        const double *s = t->data;
        for (int64_t i = 0; i < n; i++) dst[i] = (float)s[i];
        return VSSM_OK;
    }
    default:
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED, "dtype %s cannot be used as a float weight",
                            vssm_dtype_name(t->dtype));
    }
}
