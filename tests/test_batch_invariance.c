/* test_batch_invariance: what the library promises about batches (kernels/cpu/sgemm.c):
 * an input's result does not depend on the other inputs beside it, its position in the
 * batch, the batch size or the thread count - bit for bit, not to a tolerance. CTest runs
 * it under several OPENBLAS_CORETYPE values (tests/invariance.cmake): no product of the
 * forward goes through BLAS, so the CPU OpenBLAS picks must not matter either.
 *
 *   ops      every CPU product (plain and packed weights; K below, at and over the K
 *            block; N over several panels with a partial one; bias, GELU, accumulate;
 *            few rows (the direct path) and the K-outermost order with x copied in
 *            blocks (x over 8 MB, or over 1 MB with K < 256: kernels/cpu/sgemm.c)):
 *            each row of an M-row product equals the same row computed alone (M = 1) and
 *            computed at another offset, with 1 and 2 threads
 *   models   small random VMamba and Vim classifiers: image A alone, at positions 0 and 3
 *            of a batch of 5 and at position 1 of a batch of 2 gives identical logits */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/ops.h"
#include "testutil.h"
#include "vssm/backbone.h"
#include "vssm/classifier.h"
#include "vssm/vssm.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}
static void fill(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = frand();
}

static vssm_ctx *make_ctx(int threads) {
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = threads;
    vssm_ctx *ctx = NULL;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_ctx_new(&ctx, &o, &err) == VSSM_OK, "ctx: %s", err.msg);
    return ctx;
}

/* one product, every row against the row computed alone and at an offset */
static void check_product(vssm_ctx *ctx1, vssm_ctx *ctx2, int M, int K, int N, int packed, int bias, vssm_act act,
                          int acc) {
    float *x = malloc(sizeof(float) * ((size_t)M + 3) * (K ? K : 1));
    float *w = malloc(sizeof(float) * (size_t)N * (K ? K : 1));
    float *b = malloc(sizeof(float) * (size_t)N);
    float *y0 = malloc(sizeof(float) * ((size_t)M + 3) * N);
    float *y = malloc(sizeof(float) * ((size_t)M + 3) * N);
    float *y2 = malloc(sizeof(float) * ((size_t)M + 3) * N);
    fill(x, ((size_t)M + 3) * K);
    fill(w, (size_t)N * K);
    fill(b, N);
    fill(y0, ((size_t)M + 3) * N); /* the accumulate input */
    size_t pn = vssm_op_linear_pack_numel(ctx1, N, K);
    float *wp = NULL;
    if (packed) {
        TEST_REQUIRE(pn > 0 || K == 0, "the CPU backend packs weights");
        wp = malloc((pn ? pn : 1) * sizeof(float));
        vssm_op_linear_pack(ctx1, w, N, K, wp);
    }
#define RUN(ctx, xp, m, yp)                                                              \
    (packed ? vssm_op_linear_packed(ctx, xp, m, K, wp, bias ? b : NULL, N, act, acc, yp) \
            : vssm_op_linear(ctx, xp, m, K, w, bias ? b : NULL, N, act, acc, yp))
    memcpy(y, y0, sizeof(float) * (size_t)M * N);
    memcpy(y2, y0, sizeof(float) * (size_t)M * N);
    RUN(ctx1, x, M, y);
    RUN(ctx2, x, M, y2);
    int bad_thr = memcmp(y, y2, sizeof(float) * (size_t)M * N) != 0;
    int bad_alone = 0, bad_shift = 0;
    for (int r = 0; r < M; r++) {
        float one[N];
        memcpy(one, y0 + (size_t)r * N, sizeof one);
        RUN(ctx2, x + (size_t)r * K, 1, one);
        bad_alone += memcmp(one, y + (size_t)r * N, sizeof one) != 0;
    }
    /* rows 1..M-1 as an (M-1)-row product starting at row 1: every row moves one tile slot */
    if (M > 1) {
        memcpy(y2, y0 + N, sizeof(float) * (size_t)(M - 1) * N);
        RUN(ctx1, x + K, M - 1, y2);
        bad_shift = memcmp(y2, y + N, sizeof(float) * (size_t)(M - 1) * N) != 0;
    }
#undef RUN
    TEST_CHECK(!bad_thr && !bad_alone && !bad_shift,
               "%s M %d K %d N %d bias %d act %d acc %d: threads differ %d, rows differing from alone %d, "
               "shifted differ %d",
               packed ? "packed" : "plain", M, K, N, bias, (int)act, acc, bad_thr, bad_alone, bad_shift);
    free(x), free(w), free(b), free(y0), free(y), free(y2), free(wp);
}

static void check_classifier(vssm_classifier *c, int H, int W, const char *what) {
    const int classes = vssm_classifier_classes(c);
    const size_t img = (size_t)H * W * 3;
    float *a = malloc(img * sizeof(float));
    float *batch = malloc(5 * img * sizeof(float));
    float *l1 = malloc((size_t)classes * sizeof(float));
    float *l5 = malloc(5 * (size_t)classes * sizeof(float));
    float *l2 = malloc(2 * (size_t)classes * sizeof(float));
    fill(a, img);
    fill(batch, 5 * img);
    memcpy(batch, a, img * sizeof(float));
    memcpy(batch + 3 * img, a, img * sizeof(float));
    vssm_err err = {0};
    TEST_REQUIRE(vssm_classifier_forward(c, a, 1, H, W, l1, &err) == VSSM_OK, "%s b1: %s", what, err.msg);
    TEST_REQUIRE(vssm_classifier_forward(c, batch, 5, H, W, l5, &err) == VSSM_OK, "%s b5: %s", what, err.msg);
    memcpy(batch + img, a, img * sizeof(float)); /* batch of 2: (other, A) */
    memcpy(batch, batch + 2 * img, img * sizeof(float));
    TEST_REQUIRE(vssm_classifier_forward(c, batch, 2, H, W, l2, &err) == VSSM_OK, "%s b2: %s", what, err.msg);
    const size_t n = (size_t)classes * sizeof(float);
    TEST_CHECK(!memcmp(l1, l5, n), "%s: A at position 0 of 5 differs from A alone", what);
    TEST_CHECK(!memcmp(l1, l5 + 3 * classes, n), "%s: A at position 3 of 5 differs from A alone", what);
    TEST_CHECK(!memcmp(l1, l2 + classes, n), "%s: A at position 1 of 2 differs from A alone", what);
    TEST_CHECK(memcmp(l5 + classes, l5, n) != 0, "%s: a different image gives different logits (sanity)", what);
    free(a), free(batch), free(l1), free(l5), free(l2);
}

int main(void) {
    vssm_ctx *c1 = make_ctx(1), *c2 = make_ctx(2);
    static const int Ms[] = {1, 2, 5, 13, 14, 15, 29, 40};
    static const int Ks[] = {0, 3, 27, 512, 700};
    static const int Ns[] = {1, 10, 45, 96};
    for (int packed = 0; packed < 2; packed++)
        for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
            for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
                for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++) {
                    const int v = (int)(mi + ki + ni) % 4; /* vary the epilogue across shapes */
                    check_product(c1, c2, Ms[mi], Ks[ki], Ns[ni], packed, v != 0,
                                  v == 2   ? VSSM_ACT_GELU
                                  : v == 3 ? VSSM_ACT_SILU
                                           : VSSM_ACT_NONE,
                                  v == 0);
                }

    /* x over 8 MB: the K-outermost order of the large products (the segmentation convs),
     * K over the K block; x over 1 MB with short rows (VMamba-T's stage 1) */
    check_product(c1, c2, 2100, 1030, 45, 1, 1, VSSM_ACT_GELU, 0);
    check_product(c1, c2, 2100, 1030, 45, 0, 0, VSSM_ACT_NONE, 1);
    check_product(c1, c2, 3000, 96, 45, 1, 1, VSSM_ACT_NONE, 1);
    /* one row block, twelve panels, split across threads by panel (VMamba-T's stage-3 fc2);
     * one panel over 1 MB of x (its stage-1 x_proj: read in place, not copied) */
    check_product(c1, c2, 196, 1536, 384, 1, 1, VSSM_ACT_NONE, 1);
    check_product(c1, c2, 3136, 96, 32, 1, 0, VSSM_ACT_NONE, 0);

    vssm_err err = {0};
    vssm_source *src = vssm_random_source_new(7);
    TEST_REQUIRE(src, "random source");
    vssm_vmamba_config vc;
    TEST_REQUIRE(vssm_vmamba_config_preset(&vc, "vmamba-tiny", &err) == VSSM_OK, "%s", err.msg);
    strcpy(vc.arch, "custom");
    vc.dims[0] = 24, vc.dims[1] = 48, vc.dims[2] = 96, vc.dims[3] = 192;
    vc.depths[0] = 1, vc.depths[1] = 1, vc.depths[2] = 2, vc.depths[3] = 1;
    vc.num_classes = 11;
    vssm_classifier *cv = NULL;
    vssm_backbone *bb = NULL;
    TEST_REQUIRE(vssm_backbone_from_vmamba_config(&bb, c2, &vc, src, "", &err) == VSSM_OK &&
                     vssm_classifier_from_backbone(&cv, bb, src, &err) == VSSM_OK,
                 "vmamba: %s", err.msg);
    check_classifier(cv, 45, 38, "vmamba");
    vssm_classifier_free(cv);

    vssm_vim_config im;
    TEST_REQUIRE(vssm_vim_config_preset(&im, "vim-tiny", &err) == VSSM_OK, "%s", err.msg);
    strcpy(im.arch, "custom");
    im.embed_dim = 48, im.d_inner = 96, im.depth = 3, im.num_classes = 7;
    vssm_classifier *ci = NULL;
    TEST_REQUIRE(vssm_backbone_from_vim_config(&bb, c2, &im, src, "", &err) == VSSM_OK &&
                     vssm_classifier_from_backbone(&ci, bb, src, &err) == VSSM_OK,
                 "vim: %s", err.msg);
    check_classifier(ci, 64, 48, "vim");
    vssm_classifier_free(ci);

    vssm_random_source_free(src);
    vssm_ctx_free(c1);
    vssm_ctx_free(c2);
    return test_finish("test_batch_invariance");
}
