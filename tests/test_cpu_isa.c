/* test_cpu_isa: the CPU kernels' instruction set is chosen at run time, per context
 * (kernels/cpu/isa.c), and every variant this CPU runs computes the same model.
 *
 *   choice    vssm_ctx_opts.cpu_isa runs the named variant (the context says which: AVX-512,
 *             AVX2, the baseline), an unknown name is refused by name, and a variant the
 *             CPU lacks is refused as unsupported (never run: it would die on SIGILL)
 *   same      AVX-512 and AVX2 both sum every product as one FMA chain in k order, so their
 *             products and a random VMamba's and Vim's logits agree bit for bit; the
 *             baseline (no FMA in a build without -march=native) agrees to 1e-5 relative
 *
 * The reference checks and batch invariance of each variant: test_ops and
 * test_batch_invariance run once per variant (tests/cpu_isa.cmake, VSSM_CPU_ISA). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/ops.h"
#include "testutil.h"
#include "vssm/classifier.h"
#include "vssm/vssm.h"

static const char *const isas[] = {"avx512", "avx2", "base"};
static const char *const marks[] = {"AVX-512", "AVX2", "baseline"};
#define N_ISA 3

static uint64_t rng = 0x2545f4914f6cdd1dull;
static float frand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

/* a context on `isa` (NULL when this CPU lacks it) */
static vssm_ctx *isa_ctx(const char *isa, int threads) {
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = threads;
    o.cpu_isa = isa;
    vssm_ctx *ctx = NULL;
    vssm_err err = {0};
    vssm_status s = vssm_ctx_new(&ctx, &o, &err);
    if (s == VSSM_ERR_UNSUPPORTED) {
        TEST_CHECK(strstr(err.msg, isa) != NULL, "the refusal names the instruction set: '%s'", err.msg);
        printf("  %s: not on this CPU (%s)\n", isa, err.msg);
        return NULL;
    }
    TEST_REQUIRE(s == VSSM_OK, "ctx on %s: %s", isa, err.msg);
    return ctx;
}

static double rel_err(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num = fmax(num, fabs((double)a[i] - b[i]));
        den = fmax(den, fabs((double)b[i]));
    }
    return den > 0 ? num / den : num;
}

/* y = gelu(x w^T + b) for a packed and a plain weight, shapes that cross the K block, the
 * AVX2 half panels and the row blocks of every variant */
static void products(vssm_ctx *ctx, float *out, size_t *n_out) {
    static const int shapes[][3] = {{1, 7, 5}, {5, 300, 17}, {15, 177, 33}, {29, 700, 96}, {100, 96, 45}};
    size_t at = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K), *b = malloc(sizeof(float) * N);
        rng = 0x2545f4914f6cdd1dull + s;
        for (int i = 0; i < M * K; i++) x[i] = frand();
        for (int i = 0; i < N * K; i++) w[i] = frand();
        for (int i = 0; i < N; i++) b[i] = frand();
        const size_t pn = vssm_op_linear_pack_numel(ctx, N, K);
        float *wp = malloc(pn * sizeof(float));
        vssm_op_linear_pack(ctx, w, N, K, wp);
        vssm_op_linear_packed(ctx, x, M, K, wp, b, N, VSSM_ACT_GELU, 0, out + at);
        at += (size_t)M * N;
        vssm_op_linear(ctx, x, M, K, w, NULL, N, VSSM_ACT_NONE, 0, out + at);
        at += (size_t)M * N;
        free(x), free(w), free(b), free(wp);
    }
    *n_out = at;
}

/* logits of a small random VMamba (scan.c) or Vim (scan1d.c) for one fixed image */
static void logits(vssm_ctx *ctx, int vim, float *out, int *classes) {
    vssm_err err = {0};
    vssm_source *src = vssm_random_source_new(11);
    TEST_REQUIRE(src, "random source");
    vssm_classifier *c = NULL;
    if (vim) {
        vssm_vim_config im;
        TEST_REQUIRE(vssm_vim_config_preset(&im, "vim-tiny", &err) == VSSM_OK, "%s", err.msg);
        strcpy(im.arch, "custom");
        im.embed_dim = 48, im.d_inner = 96, im.depth = 3, im.num_classes = 7;
        vssm_backbone *bb = NULL;
        TEST_REQUIRE(vssm_backbone_from_vim_config(&bb, ctx, &im, src, "", &err) == VSSM_OK &&
                         vssm_classifier_from_backbone(&c, bb, src, &err) == VSSM_OK,
                     "vim: %s", err.msg);
    } else {
        vssm_vmamba_config vc;
        TEST_REQUIRE(vssm_vmamba_config_preset(&vc, "vmamba-tiny", &err) == VSSM_OK, "%s", err.msg);
        static const int dims[4] = {16, 32, 64, 128}, depths[4] = {1, 2, 1, 1}; /* VMamba-T, smaller */
        memcpy(vc.dims, dims, sizeof dims), memcpy(vc.depths, depths, sizeof depths);
        strcpy(vc.arch, "custom"), vc.num_classes = 9;
        vssm_backbone *bb = NULL;
        TEST_REQUIRE(vssm_backbone_from_vmamba_config(&bb, ctx, &vc, src, "", &err) == VSSM_OK &&
                         vssm_classifier_from_backbone(&c, bb, src, &err) == VSSM_OK,
                     "vmamba: %s", err.msg);
    }
    const int H = 64, W = 48;
    float *img = malloc(sizeof(float) * H * W * 3);
    rng = 99;
    for (int i = 0; i < H * W * 3; i++) img[i] = frand();
    *classes = vssm_classifier_classes(c);
    TEST_REQUIRE(vssm_classifier_forward(c, img, 1, H, W, out, &err) == VSSM_OK, "forward: %s", err.msg);
    free(img);
    vssm_classifier_free(c);
    vssm_random_source_free(src);
}

int main(void) {
    /* an unknown name is refused, naming it */
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.cpu_isa = "avx1024";
    vssm_ctx *bad = NULL;
    vssm_err err = {0};
    TEST_CHECK(vssm_ctx_new(&bad, &o, &err) == VSSM_ERR_INVALID_ARG && strstr(err.msg, "avx1024"),
               "an unknown instruction set is refused by name: '%s'", err.msg);

    const size_t cap = 1 << 20;
    float *prod[N_ISA] = {0}, *lv[N_ISA] = {0}, *lm[N_ISA] = {0};
    size_t n_prod = 0;
    int ran = 0, nv = 0, nm = 0;
    for (int i = 0; i < N_ISA; i++) {
        vssm_ctx *ctx = isa_ctx(isas[i], 2);
        if (!ctx) continue;
        ran++;
        const char *d = vssm_ctx_describe(ctx);
        printf("  %s: %s\n", isas[i], d);
        TEST_CHECK(strstr(d, marks[i]) && (i == 2) == !!strstr(d, "baseline"), "cpu_isa %s runs the %s kernels: '%s'",
                   isas[i], marks[i], d);
        prod[i] = malloc(cap * sizeof(float));
        lv[i] = malloc(1000 * sizeof(float));
        lm[i] = malloc(1000 * sizeof(float));
        products(ctx, prod[i], &n_prod);
        logits(ctx, 1, lv[i], &nv);
        logits(ctx, 0, lm[i], &nm);
        vssm_ctx_free(ctx);
    }
    TEST_CHECK(ran >= 1, "the baseline always runs");
    if (prod[0] && prod[1]) {
        TEST_CHECK(!memcmp(prod[0], prod[1], n_prod * sizeof(float)), "AVX-512 and AVX2 products differ: rel %.3g",
                   rel_err(prod[1], prod[0], n_prod));
        TEST_CHECK(!memcmp(lm[0], lm[1], nm * sizeof(float)), "AVX-512 and AVX2 VMamba logits differ: rel %.3g",
                   rel_err(lm[1], lm[0], nm));
        TEST_CHECK(!memcmp(lv[0], lv[1], nv * sizeof(float)), "AVX-512 and AVX2 Vim logits differ: rel %.3g",
                   rel_err(lv[1], lv[0], nv));
    }
    for (int i = 0; i < 2; i++)
        if (prod[i] && prod[2]) {
            const double ep = rel_err(prod[2], prod[i], n_prod), em = rel_err(lm[2], lm[i], nm);
            const double ev = rel_err(lv[2], lv[i], nv);
            printf("  base vs %s: products %.3g, VMamba logits %.3g, Vim logits %.3g\n", isas[i], ep, em, ev);
            TEST_CHECK(ep <= 1e-5 && em <= 1e-5 && ev <= 1e-5, "base vs %s: rel %.3g %.3g %.3g > 1e-5", isas[i], ep, em,
                       ev);
        }
    for (int i = 0; i < N_ISA; i++) free(prod[i]), free(lv[i]), free(lm[i]);
    return test_finish("test_cpu_isa");
}
