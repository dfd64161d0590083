/* tests/test_cuda_model.c - the whole VMamba + classifier on CUDA equals the CPU run.
 *
 * For each vector file in tests/data/vmamba (random weights under official names, an
 * input, reference activations from tests/reference/vmamba_ref.py): load the model on a
 * CPU and on a CUDA context, run both, compare every stage feature (<= 1e-5 relative,
 * max|a-b| / max|b|, as the per-layer parity bound) and the logits (<= 1e-4) with the CPU
 * run and with the stored reference; run CUDA twice and require bit-identical logits.
 * Exits 77 (skipped) when no CUDA context can be made (no GPU, no driver, no CUDA build). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "vmamba_vectors.h"
#include "vssm/vssm.h"

#define TOL_LAYER 1e-5
#define TOL_LOGITS 1e-4

static const char *files[] = {"small_sq", "odd_rect", "dstate4", "tiny_layout"};

typedef struct {
    float *feat[4];
    size_t nfeat[4];
    float *logits;
} outputs;

static int run(vssm_ctx *ctx, vssm_weights *wf, const vssm_vmamba_config *cfg, const float *x, int B, int H, int W,
               outputs *o) {
    vssm_err err = {0};
    vssm_vmamba *m = NULL;
    vssm_cls_head *head = NULL;
    vssm_vmamba_state *st = NULL;
    int ok = vssm_vmamba_load(&m, ctx, cfg, vssm_weights_source(wf), "", &err) == VSSM_OK &&
             vssm_cls_head_load(&head, ctx, VSSM_CLS_POOLED, cfg->dims[3], cfg->num_classes, vssm_weights_source(wf),
                                "", &err) == VSSM_OK &&
             vssm_vmamba_state_new(&st, m, B, H, W, &err) == VSSM_OK && vssm_vmamba_forward(m, st, x, &err) == VSSM_OK;
    if (ok) {
        vssm_tensor f[4];
        for (int s = 0; s < 4 && ok; s++) {
            f[s] = vssm_vmamba_feature(st, s);
            o->nfeat[s] = (size_t)vssm_tensor_numel(&f[s]);
            o->feat[s] = malloc(o->nfeat[s] * 4);
            ok = vssm_tensor_to_host(ctx, &f[s], o->feat[s], &err) == VSSM_OK;
        }
        o->logits = malloc((size_t)B * cfg->num_classes * 4);
        ok = ok && vssm_cls_head_forward(head, f, 4, o->logits, &err) == VSSM_OK;
    }
    if (!ok) fprintf(stderr, "run on %s failed: %s\n", vssm_ctx_describe(ctx), err.msg);
    vssm_vmamba_state_free(st);
    vssm_cls_head_free(head);
    vssm_vmamba_free(m);
    return ok;
}

static void free_outputs(outputs *o) {
    for (int s = 0; s < 4; s++) free(o->feat[s]);
    free(o->logits);
}

static void check_file(vssm_ctx *cpu, vssm_ctx *gpu, const char *name) {
    char rel[512];
    snprintf(rel, sizeof rel, "vmamba/%s.safetensors", name);
    char *path = test_data_path(rel);
    vssm_err err = {0};
    vssm_weights *wf = NULL;
    TEST_REQUIRE(vssm_safetensors_open(&wf, path, &err) == VSSM_OK, "open %s: %s", path, err.msg);
    vssm_vmamba_config cfg;
    int B, H, W;
    TEST_REQUIRE(vvec_load_cfg(wf, &cfg, &B, &H, &W), "%s: metadata incomplete", name);
    int64_t xs[4];
    float *x = vvec_nhwc(wf, "input", xs);
    if (x && (xs[0] != B || xs[2] != H || xs[3] != W)) {
        free(x);
        x = NULL;
    }
    TEST_REQUIRE(x, "%s: input tensor", name);

    outputs oc = {0}, og = {0}, og2 = {0};
    TEST_REQUIRE(run(cpu, wf, &cfg, x, B, H, W, &oc), "%s: CPU forward", name);
    TEST_CHECK(run(gpu, wf, &cfg, x, B, H, W, &og), "%s: CUDA forward", name);
    TEST_CHECK(run(gpu, wf, &cfg, x, B, H, W, &og2), "%s: second CUDA forward", name);
    const size_t nl = (size_t)B * cfg.num_classes;
    if (og.logits && og2.logits) {
        for (int s = 0; s < 4; s++) {
            double e = test_rel_err(og.feat[s], oc.feat[s], oc.nfeat[s]);
            TEST_CHECK(e <= TOL_LAYER, "%s stage %d: cuda vs cpu rel err %.3g > %.0e", name, s, e, TOL_LAYER);
            printf("  %-12s stage%d  cuda vs cpu rel err %.2e\n", name, s, e);
        }
        double e = test_rel_err(og.logits, oc.logits, nl);
        TEST_CHECK(e <= TOL_LOGITS, "%s logits: cuda vs cpu rel err %.3g > %.0e", name, e, TOL_LOGITS);
        printf("  %-12s logits  cuda vs cpu rel err %.2e\n", name, e);
        vssm_tensor tl;
        if (vssm_weights_get(wf, "ref.logits", &tl, &err) == VSSM_OK && tl.dtype == VSSM_DTYPE_F32) {
            double er = test_rel_err(og.logits, tl.data, nl);
            TEST_CHECK(er <= TOL_LOGITS, "%s logits: cuda vs reference rel err %.3g > %.0e", name, er, TOL_LOGITS);
        }
        TEST_CHECK(!memcmp(og.logits, og2.logits, nl * sizeof(float)), "%s: two CUDA runs give different logits", name);
    }
    free_outputs(&oc);
    free_outputs(&og);
    free_outputs(&og2);
    free(x);
    vssm_weights_close(wf);
    free(path);
}

/* the vector files named as arguments (test_cuda_model_v0: the first release's), else files[] */
int main(int argc, char **argv) {
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.device = VSSM_DEVICE_CUDA;
    vssm_ctx *gpu = NULL, *cpu = NULL;
    vssm_err err = {0};
    if (vssm_ctx_new(&gpu, &o, &err) != VSSM_OK) test_skip(err.msg);
    printf("  %s\n", vssm_ctx_describe(gpu));
    o = vssm_ctx_default_opts();
    o.n_threads = 2;
    TEST_REQUIRE(vssm_ctx_new(&cpu, &o, &err) == VSSM_OK, "cpu ctx: %s", err.msg);
    if (argc > 1)
        for (int i = 1; i < argc; i++) check_file(cpu, gpu, argv[i]);
    else
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) check_file(cpu, gpu, files[i]);
    vssm_ctx_free(cpu);
    vssm_ctx_free(gpu);
    return test_finish("test_cuda_model");
}
