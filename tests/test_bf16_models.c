/* test_bf16_models: whole models at --precision bf16 (the kernels' own checks are in
 * test_bf16.c), with the kernel this CPU picks ($VSSM_CPU_BF16 names another); skipped
 * without avx512_bf16.
 *
 *   parity    the official-layout vector files of tests/data/vmamba and tests/data/vim
 *             (random weights under the official names, float64 reference logits from
 *             vmamba_ref.py / vim_ref.py): every batch item's top-1 class equals the
 *             reference's, logits within 5% of the largest (max |a - b| / max |b|; fp32
 *             is within 1e-4: test_vmamba_parity, test_vim_parity)
 *   tiny      VMamba-T itself (random weights, seed 42 as vssm bench) on two 224 x 224
 *             images: bf16 logits within 5% of the fp32 ones, the same top-1
 * Measured figures are printed (kernels/cpu/README.md quotes them). */
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "vim_vectors.h"
#include "vmamba_vectors.h"
#include "vssm/heads.h"
#include "vssm/vim.h"
#include "vssm/backbone.h"
#include "vssm/classifier.h"
#include "vssm/vssm.h"

#define TOL 0.05

static vssm_ctx *ctx_of(vssm_precision p) {
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = 2;
    o.precision = p;
    vssm_ctx *ctx = NULL;
    vssm_err err = {0};
    if (vssm_ctx_new(&ctx, &o, &err) != VSSM_OK) {
        if (p == VSSM_PRECISION_BF16 && !test_cpu_runs_bf16()) test_skip(err.msg);
        TEST_REQUIRE(0, "%s context: %s", p == VSSM_PRECISION_BF16 ? "bf16" : "fp32", err.msg);
    }
    return ctx;
}

static int argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

/* items whose top-1 differs between a and b (B rows of n) */
static int top1_differ(const float *a, const float *b, int B, int n) {
    int d = 0;
    for (int i = 0; i < B; i++) d += argmax(a + (size_t)i * n, n) != argmax(b + (size_t)i * n, n);
    return d;
}

/* bf16 logits (B, n) against the file's float64 reference: the same top-1, within TOL */
static void report(const char *name, const float *logits, const float *ref, int B, int n) {
    const double e = test_rel_err(logits, ref, (size_t)B * n);
    const int d = top1_differ(logits, ref, B, n);
    printf("  %-14s %d items, %d classes: bf16 logits rel err %.3g, top-1 differing %d\n", name, B, n, e, d);
    TEST_CHECK(e < TOL && e > 0 && d == 0, "%s: bf16 logits rel err %.3g (want < %.2f, not 0), %d of %d top-1 differ",
               name, e, TOL, d, B);
}

static void check_parity_file(vssm_ctx *ctx, const char *name) {
    char rel[128];
    vssm_err err = {0};
    vssm_weights *wf = NULL;
    vssm_vmamba_config cfg;
    int B, H, W;
    int64_t sh[4];
    snprintf(rel, sizeof rel, "vmamba/%s.safetensors", name);
    char *path = test_data_path(rel);
    const int opened = vssm_safetensors_open(&wf, path, &err) == VSSM_OK;
    TEST_REQUIRE(opened && vvec_load_cfg(wf, &cfg, &B, &H, &W), "%s: %s", path, opened ? "metadata" : err.msg);
    float *x = vvec_nhwc(wf, "input", sh);
    vssm_vmamba *m = NULL;
    vssm_cls_head *head = NULL;
    vssm_vmamba_state *st = NULL;
    vssm_tensor ref;
    TEST_REQUIRE(x && vssm_vmamba_load(&m, ctx, &cfg, vssm_weights_source(wf), "", &err) == VSSM_OK &&
                     vssm_cls_head_load(&head, ctx, VSSM_CLS_POOLED, cfg.dims[3], cfg.num_classes,
                                        vssm_weights_source(wf), "", &err) == VSSM_OK &&
                     vssm_vmamba_state_new(&st, m, B, H, W, &err) == VSSM_OK &&
                     vssm_vmamba_forward(m, st, x, &err) == VSSM_OK &&
                     vssm_weights_get(wf, "ref.logits", &ref, &err) == VSSM_OK,
                 "%s: %s", name, err.msg);
    vssm_tensor f[4];
    for (int s = 0; s < 4; s++) f[s] = vssm_vmamba_feature(st, s);
    float *logits = malloc((size_t)B * cfg.num_classes * sizeof(float));
    TEST_REQUIRE(vssm_cls_head_forward(head, f, 4, logits, &err) == VSSM_OK, "%s head: %s", name, err.msg);
    report(name, logits, ref.data, B, cfg.num_classes);
    free(logits), free(x);
    vssm_vmamba_state_free(st), vssm_cls_head_free(head), vssm_vmamba_free(m);
    vssm_weights_close(wf);
    free(path);
}

/* a Vim vector file (tests/data/vim): the class token's logits against ref.logits */
static void check_vim_file(vssm_ctx *ctx, const char *name) {
    char rel[128];
    vssm_err err = {0};
    vssm_weights *wf = NULL;
    vssm_vim_config cfg;
    vssm_vim *m = NULL;
    vssm_vim_state *st = NULL;
    vssm_cls_head *head = NULL;
    int B = 0, H = 0, W = 0;
    snprintf(rel, sizeof rel, "vim/%s.safetensors", name);
    char *path = test_data_path(rel);
    TEST_REQUIRE(vssm_weights_open(&wf, path, NULL, &err) == VSSM_OK, "%s: %s", path, err.msg);
    const vssm_source *src = vssm_weights_source(wf);
    float *x = vimvec_nhwc(wf, "input", &B, &H, &W), *ref = vimvec_f32(wf, "ref.logits", NULL, NULL);
    TEST_REQUIRE(
        x && ref && vssm_vim_config_infer(src, "", &cfg, &err) == VSSM_OK &&
            vssm_vim_load(&m, ctx, &cfg, src, "", &err) == VSSM_OK &&
            vssm_cls_head_load(&head, ctx, VSSM_CLS_TOKEN, cfg.embed_dim, cfg.num_classes, src, "", &err) == VSSM_OK &&
            vssm_vim_state_new(&st, m, B, H, W, &err) == VSSM_OK && vssm_vim_forward(m, st, x, &err) == VSSM_OK,
        "%s: %s", name, err.msg);
    vssm_tensor t = vssm_vim_cls(st);
    float *logits = malloc((size_t)B * cfg.num_classes * sizeof(float));
    TEST_REQUIRE(vssm_cls_head_forward(head, &t, 1, logits, &err) == VSSM_OK, "%s head: %s", name, err.msg);
    report(name, logits, ref, B, cfg.num_classes);
    free(logits), free(x), free(ref);
    vssm_vim_state_free(st), vssm_cls_head_free(head), vssm_vim_free(m);
    vssm_weights_close(wf);
    free(path);
}

static float *tiny_logits(vssm_ctx *ctx, const float *x, int B) {
    vssm_err err = {0};
    vssm_vmamba_config c;
    vssm_source *rnd = vssm_random_source_new(42);
    vssm_backbone *bb = NULL;
    vssm_classifier *clf = NULL;
    TEST_REQUIRE(vssm_vmamba_config_preset(&c, "vmamba-tiny", &err) == VSSM_OK &&
                     vssm_backbone_from_vmamba_config(&bb, ctx, &c, rnd, "", &err) == VSSM_OK &&
                     vssm_classifier_from_backbone(&clf, bb, rnd, &err) == VSSM_OK,
                 "vmamba-tiny: %s", err.msg);
    float *l = malloc((size_t)B * c.num_classes * sizeof(float));
    TEST_REQUIRE(vssm_classifier_forward(clf, x, B, 224, 224, l, &err) == VSSM_OK, "forward: %s", err.msg);
    vssm_classifier_free(clf);
    vssm_random_source_free(rnd);
    return l;
}

int main(void) {
    vssm_ctx *bf = ctx_of(VSSM_PRECISION_BF16), *f32 = ctx_of(VSSM_PRECISION_F32);
    printf("%s\n", vssm_ctx_describe(bf));
    static const char *files[] = {"small_sq", "odd_rect", "dstate4", "tiny_layout"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) check_parity_file(bf, files[i]);
    static const char *vim_files[] = {"sq_b2", "rect_resample", "stride8_ds8", "nodiv_d20"};
    for (size_t i = 0; i < sizeof vim_files / sizeof *vim_files; i++) check_vim_file(bf, vim_files[i]);

    enum { B = 2, NCLS = 1000 };
    const size_t n = (size_t)B * 224 * 224 * 3;
    float *x = malloc(n * sizeof(float));
    uint64_t s = 7;
    for (size_t i = 0; i < n; i++)
        s = s * 6364136223846793005ull + 1442695040888963407ull, x[i] = (s >> 40) / 8388608.0f - 1;
    float *lf = tiny_logits(f32, x, B), *lb = tiny_logits(bf, x, B);
    const double e = test_rel_err(lb, lf, (size_t)B * NCLS);
    const int d = top1_differ(lb, lf, B, NCLS);
    printf("  vmamba-tiny  %d images 224x224: bf16 vs fp32 logits rel err %.3g, top-1 differing %d\n", B, e, d);
    TEST_CHECK(e < TOL && e > 0 && d == 0, "vmamba-tiny: bf16 logits rel err %.3g (want < %.2f), %d top-1 differ", e,
               TOL, d);
    free(x), free(lf), free(lb);
    vssm_ctx_free(bf), vssm_ctx_free(f32);
    return test_finish("test_bf16_models");
}
