/* tests/vim_vectors.c - see vim_vectors.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "vim_vectors.h"

float *vimvec_f32(vssm_weights *wf, const char *name, int64_t shape[4], int *ndim) {
    vssm_tensor t;
    vssm_err err = {0};
    if (vssm_weights_get(wf, name, &t, &err) != VSSM_OK) return NULL;
    float *out = malloc((size_t)vssm_tensor_numel(&t) * sizeof(float) + 1);
    if (!out || vssm_tensor_to_f32(&t, out, &err) != VSSM_OK) {
        free(out);
        return NULL;
    }
    if (shape) memcpy(shape, t.shape, sizeof t.shape);
    if (ndim) *ndim = t.ndim;
    return out;
}

float *vimvec_nhwc(vssm_weights *wf, const char *name, int *B, int *H, int *W) {
    int64_t sh[4];
    int nd = 0;
    float *x = vimvec_f32(wf, name, sh, &nd);
    if (!x || nd != 4) {
        free(x);
        return NULL;
    }
    const int64_t b_ = sh[0], c_ = sh[1], h_ = sh[2], w_ = sh[3];
    float *o = malloc((size_t)(b_ * c_ * h_ * w_) * sizeof(float));
    for (int64_t b = 0; o && b < b_; b++)
        for (int64_t c = 0; c < c_; c++)
            for (int64_t h = 0; h < h_; h++)
                for (int64_t w = 0; w < w_; w++)
                    o[((b * h_ + h) * w_ + w) * c_ + c] = x[((b * c_ + c) * h_ + h) * w_ + w];
    free(x);
    *B = (int)b_;
    *H = (int)h_;
    *W = (int)w_;
    return o;
}

float *vimvec_to_host(vssm_ctx *ctx, vssm_tensor t) {
    vssm_err err = {0};
    if (!t.data) return NULL;
    float *h = malloc((size_t)vssm_tensor_numel(&t) * sizeof(float));
    if (h && vssm_tensor_to_host(ctx, &t, h, &err) != VSSM_OK) {
        free(h);
        return NULL;
    }
    return h;
}

double vimvec_compare(vssm_weights *wf, const char *file, const char *ref, const float *mine, double tol, int print) {
    int64_t sh[4];
    int nd;
    float *r = vimvec_f32(wf, ref, sh, &nd);
    TEST_REQUIRE(r && mine, "%s: missing %s", file, ref);
    size_t n = 1;
    for (int i = 0; i < nd; i++) n *= (size_t)sh[i];
    double e = test_rel_err(mine, r, n);
    TEST_CHECK(e <= tol, "%s %s: rel err %.3g > %.0e", file, ref, e, tol);
    if (print) printf("  %-18s %-16s rel err %.2e\n", file, ref, e);
    free(r);
    return e;
}
