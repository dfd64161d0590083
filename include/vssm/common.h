/* vssm/common.h - status codes, error values and tensors shared by every vssm API.
 *
 * Errors are values: every fallible call returns a vssm_status and, when the caller
 * passes a vssm_err, fills err->msg with one line naming what went wrong and why.
 * The library never prints and never exits.
 *
 *     vssm_err err = {0};
 *     if (vssm_model_load(&m, "w.safetensors", &opts, &err) != VSSM_OK)
 *         fprintf(stderr, "vssm: %s\n", err.msg);
 *
 * Tensors are plain views: a data pointer, a dtype, up to 4 dims (row-major,
 * outermost first) and the device that holds the data. A view never owns memory.
 */
#ifndef VSSM_COMMON_H
#define VSSM_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* VSSM_API marks the public functions. The library is compiled with -fvisibility=hidden,
 * so a shared libvssm exports these and nothing else; VSSM_BUILD_SHARED is defined while
 * compiling the library itself, VSSM_SHARED by users of the Windows DLL (elsewhere, and for
 * the static library, users need no definition). */
#if defined(_WIN32)
#if defined(VSSM_BUILD_SHARED)
#define VSSM_API __declspec(dllexport)
#elif defined(VSSM_SHARED)
#define VSSM_API __declspec(dllimport)
#else
#define VSSM_API
#endif
#elif defined(__GNUC__)
#define VSSM_API __attribute__((visibility("default")))
#else
#define VSSM_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vssm_status {
    VSSM_OK = 0,
    VSSM_ERR_INVALID_ARG, /* a caller's argument is out of range or inconsistent */
    VSSM_ERR_NOMEM,       /* an allocation failed */
    VSSM_ERR_IO,          /* a file could not be opened, read or written */
    VSSM_ERR_FORMAT,      /* a file's content is malformed or refused */
    VSSM_ERR_SHAPE,       /* tensor shapes do not match what the model needs */
    VSSM_ERR_UNSUPPORTED, /* a valid request this build cannot serve */
    VSSM_ERR_DEVICE,      /* a device (GPU) call failed or no device is present */
} vssm_status;

#define VSSM_ERR_MSG_MAX 512
typedef struct vssm_err {
    vssm_status status;
    char msg[VSSM_ERR_MSG_MAX];
} vssm_err;

/* Records status and a printf-style message in err (if err is non-NULL); returns status.
 * A later call overwrites an earlier message. */
VSSM_API vssm_status vssm_err_set(vssm_err *err, vssm_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Prepends "prefix: " to an existing message (adds context on the way up). */
VSSM_API void vssm_err_prefix(vssm_err *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
VSSM_API const char *vssm_status_str(vssm_status s);

/* A config in metadata form: up to VSSM_CONFIG_META_MAX key/value string pairs (what the
 * *_config_to_meta functions fill and `vssm convert` writes into a safetensors header). */
#define VSSM_CONFIG_META_MAX 16
typedef struct vssm_config_meta {
    int n;
    char key[VSSM_CONFIG_META_MAX][24];
    char value[VSSM_CONFIG_META_MAX][96];
} vssm_config_meta;

typedef enum vssm_dtype {
    VSSM_DTYPE_F32 = 0,
    VSSM_DTYPE_F16,
    VSSM_DTYPE_BF16,
    VSSM_DTYPE_F64,
    VSSM_DTYPE_I64,
    VSSM_DTYPE_I32,
    VSSM_DTYPE_I16,
    VSSM_DTYPE_I8,
    VSSM_DTYPE_U8,
    VSSM_DTYPE_BOOL,
    VSSM_DTYPE_COUNT
} vssm_dtype;

VSSM_API size_t vssm_dtype_size(vssm_dtype t);
VSSM_API const char *vssm_dtype_name(vssm_dtype t); /* safetensors spelling: "F32", "BF16", ... */

typedef enum vssm_device {
    VSSM_DEVICE_CPU = 0,
    VSSM_DEVICE_CUDA = 1,
} vssm_device;

#define VSSM_MAX_DIMS 4
typedef struct vssm_tensor {
    void *data; /* not owned */
    vssm_dtype dtype;
    int ndim;
    int64_t shape[VSSM_MAX_DIMS];
    vssm_device device;
} vssm_tensor;

VSSM_API int64_t vssm_tensor_numel(const vssm_tensor *t);
/* Converts a host tensor of dtype F32, F16, BF16 or F64 to f32 in dst (numel floats);
 * VSSM_ERR_UNSUPPORTED for other dtypes. */
VSSM_API vssm_status vssm_tensor_to_f32(const vssm_tensor *t, float *dst, vssm_err *err);
VSSM_API float vssm_f16_to_f32(uint16_t h);
VSSM_API float vssm_bf16_to_f32(uint16_t h);
/* Writes "(2, 3, 64, 64)" into buf; returns buf. */
VSSM_API const char *vssm_shape_str(const int64_t *shape, int ndim, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
