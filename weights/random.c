/* weights/random.c - a tensor source that invents weights of the requested shape:
 * deterministic (seed + name), in the ranges a trained VMamba has, for benchmarks.
 * Each tensor is made when it is asked for, into one buffer the next request reuses: the
 * source holds one tensor (the largest asked so far), not the model (~115 MB of VMamba-T
 * in fp32 when it kept them all, whatever the context's precision). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "vssm/source.h"

typedef struct {
    uint64_t seed;
    float *buf; /* the last tensor made */
    size_t cap; /* floats buf holds */
} rnd_src;

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static float uni(uint64_t *s) { return (float)((splitmix(s) >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f; } /* [-1, 1) */

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static vssm_status rnd_get(void *user, const char *name, const int64_t *shape, int ndim, vssm_tensor *out,
                           vssm_err *err) {
    rnd_src *r = user;
    if (!shape || ndim < 1 || ndim > VSSM_MAX_DIMS)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "random source needs the expected shape of '%s'", name);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0 || __builtin_mul_overflow(n, shape[i], &n) || n > ((int64_t)1 << 40))
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "random source: tensor '%s' has a negative or absurd shape",
                                name);
    if ((size_t)n > r->cap || !r->buf) { /* the previous view's contents need not survive */
        free(r->buf);
        r->cap = (size_t)(n ? n : 1);
        if (!(r->buf = malloc(r->cap * sizeof(float)))) {
            r->cap = 0;
            return vssm_err_set(err, VSSM_ERR_NOMEM, "random source: out of memory for tensor '%s'", name);
        }
    }
    float *d = r->buf;
    uint64_t s = r->seed;
    for (const char *c = name; *c; c++) s = s * 131 + (unsigned char)*c;
    int64_t fan_in = ndim >= 2 && shape[0] > 0 ? n / shape[0] : 1; /* shape[0] 0: n is 0, nothing drawn */
    float scale = 1.0f / sqrtf((float)(fan_in > 0 ? fan_in : 1));
    for (int64_t i = 0; i < n; i++) {
        float v = uni(&s);
        if (ends_with(name, "A_logs"))
            d[i] = logf((float)(i % shape[1] + 1)) + 0.05f * v;
        else if (ends_with(name, "Ds"))
            d[i] = 1.0f + 0.1f * v;
        else if (ends_with(name, "dt_projs_bias"))
            d[i] = logf(expm1f(0.001f + 0.05f * (v + 1.0f)));
        else if (ndim == 1 &&
                 (strstr(name, "norm") || ends_with(name, ".2.weight") || ends_with(name, ".7.weight") ||
                  ends_with(name, ".3.weight")) &&
                 ends_with(name, "weight"))
            d[i] = 1.0f + 0.1f * v;
        else if (ndim == 1)
            d[i] = 0.02f * v;
        else
            d[i] = scale * v * 1.7320508f; /* unit variance / fan_in */
    }
    memset(out, 0, sizeof *out);
    out->data = d;
    out->dtype = VSSM_DTYPE_F32;
    out->ndim = ndim;
    memcpy(out->shape, shape, (size_t)ndim * sizeof(int64_t));
    out->device = VSSM_DEVICE_CPU;
    return VSSM_OK;
}

vssm_source *vssm_random_source_new(uint64_t seed) {
    vssm_source *s = calloc(1, sizeof *s);
    rnd_src *r = calloc(1, sizeof *r);
    if (!s || !r) {
        free(s);
        free(r);
        return NULL;
    }
    r->seed = seed;
    s->user = r;
    s->get = rnd_get;
    return s;
}

void vssm_random_source_free(vssm_source *s) {
    if (!s) return;
    rnd_src *r = s->user;
    free(r->buf);
    free(r);
    free(s);
}
