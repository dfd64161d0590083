/* tests/test_vmamba_parity.c - the C VMamba equals our PyTorch reference.
 *
 * For each vector file in tests/data/vmamba (random weights under official names, an
 * input, reference activations computed in float64 by tests/reference/vmamba_ref.py):
 * load, run, compare max|a-b|/max|b|: patch embed, block 0 and every stage <= 1e-5,
 * logits <= 1e-4. Also: one thread vs two give the same answer, and each batch item run
 * alone equals its slice of the batched run (no mixing across the batch). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "vmamba_vectors.h"
#include "vssm/vssm.h"

#define TOL_LAYER 1e-5
#define TOL_LOGITS 1e-4

static const char *files[] = {"small_sq", "odd_rect", "dstate4", "tiny_layout"};

/* Runs the model + head on input (B, H, W, 3) NHWC; returns features/logits in host copies. */
typedef struct {
    float *feat[4], *pe, *b0, *logits;
} outputs;

static int run(vssm_ctx *ctx, vssm_weights *wf, const vssm_vmamba_config *cfg, const float *x, int B, int H, int W,
               outputs *o, int64_t micro) {
    vssm_err err = {0};
    vssm_vmamba *m = NULL;
    vssm_cls_head *head = NULL;
    vssm_vmamba_state *st = NULL;
    int ok = vssm_vmamba_load(&m, ctx, cfg, vssm_weights_source(wf), "", &err) == VSSM_OK &&
             vssm_cls_head_load(&head, ctx, VSSM_CLS_POOLED, cfg->dims[3], cfg->num_classes, vssm_weights_source(wf),
                                "", &err) == VSSM_OK &&
             vssm_vmamba_state_new(&st, m, B, H, W, &err) == VSSM_OK;
    if (ok) vssm_vmamba_state_set_micro_tokens(st, micro);
    if (ok && vssm_vmamba_tap(st, "block0").data) ok = 0, snprintf(err.msg, sizeof err.msg, "taps kept unasked");
    ok = ok && vssm_vmamba_state_keep_taps(st, &err) == VSSM_OK;
    ok = ok && vssm_vmamba_forward(m, st, x, &err) == VSSM_OK;
    if (ok) {
        vssm_tensor f[4];
        for (int s = 0; s < 4; s++) {
            f[s] = vssm_vmamba_feature(st, s);
            o->feat[s] = malloc((size_t)vssm_tensor_numel(&f[s]) * 4);
            vssm_tensor_to_host(ctx, &f[s], o->feat[s], &err);
        }
        vssm_tensor tp = vssm_vmamba_tap(st, "patch_embed"), tb = vssm_vmamba_tap(st, "block0");
        o->pe = malloc((size_t)vssm_tensor_numel(&tp) * 4);
        o->b0 = malloc((size_t)vssm_tensor_numel(&tb) * 4);
        vssm_tensor_to_host(ctx, &tp, o->pe, &err);
        vssm_tensor_to_host(ctx, &tb, o->b0, &err);
        o->logits = malloc((size_t)B * cfg->num_classes * 4);
        ok = vssm_cls_head_forward(head, f, 4, o->logits, &err) == VSSM_OK;
    }
    if (!ok) fprintf(stderr, "run failed: %s\n", err.msg);
    vssm_vmamba_state_free(st);
    vssm_cls_head_free(head);
    vssm_vmamba_free(m);
    return ok;
}

static void free_outputs(outputs *o) {
    for (int s = 0; s < 4; s++) free(o->feat[s]);
    free(o->pe);
    free(o->b0);
    free(o->logits);
}

static void check_file(const char *name) {
    char rel[512];
    snprintf(rel, sizeof rel, "vmamba/%s.safetensors", name);
    char *path = name[0] == '/' ? strdup(name) : test_data_path(rel);
    vssm_err err = {0};
    vssm_weights *wf = NULL;
    TEST_REQUIRE(vssm_safetensors_open(&wf, path, &err) == VSSM_OK, "open %s: %s", path, err.msg);
    vssm_vmamba_config cfg;
    int B, H, W;
    TEST_REQUIRE(vvec_load_cfg(wf, &cfg, &B, &H, &W), "%s: metadata incomplete", name);

    int64_t sh[4];
    float *x = vvec_nhwc(wf, "input", sh);
    TEST_REQUIRE(x && sh[0] == B && sh[2] == H && sh[3] == W, "%s: input tensor", name);

    for (int threads = 1; threads <= 2; threads++) {
        vssm_ctx_opts co = vssm_ctx_default_opts();
        co.n_threads = threads;
        vssm_ctx *ctx = NULL;
        TEST_REQUIRE(vssm_ctx_new(&ctx, &co, &err) == VSSM_OK, "ctx: %s", err.msg);
        outputs o = {0};
        /* threads 2: every stage image by image (micro-batches of 1), as large inputs run */
        TEST_REQUIRE(run(ctx, wf, &cfg, x, B, H, W, &o, threads == 2 ? 1 : 0), "%s: forward failed", name);

        const char *refs[] = {"ref.patch_embed", "ref.block0", "ref.stage0", "ref.stage1", "ref.stage2", "ref.stage3"};
        float *mine[] = {o.pe, o.b0, o.feat[0], o.feat[1], o.feat[2], o.feat[3]};
        for (int i = 0; i < 6; i++) {
            float *r = vvec_nhwc(wf, refs[i], sh);
            TEST_REQUIRE(r, "%s: missing %s", name, refs[i]);
            double e = test_rel_err(mine[i], r, (size_t)(sh[0] * sh[1] * sh[2] * sh[3]));
            TEST_CHECK(e <= TOL_LAYER, "%s %s (%d threads): rel err %.3g > %.0e", name, refs[i], threads, e, TOL_LAYER);
            if (threads == 1) printf("  %-12s %-16s rel err %.2e\n", name, refs[i], e);
            free(r);
        }
        vssm_tensor tl;
        TEST_REQUIRE(vssm_weights_get(wf, "ref.logits", &tl, &err) == VSSM_OK, "ref.logits");
        double e = test_rel_err(o.logits, tl.data, (size_t)B * cfg.num_classes);
        TEST_CHECK(e <= TOL_LOGITS, "%s logits (%d threads): rel err %.3g > %.0e", name, threads, e, TOL_LOGITS);
        if (threads == 1) printf("  %-12s %-16s rel err %.2e\n", name, "ref.logits", e);

        /* each batch item alone equals its slice of the batch */
        if (threads == 2 && B > 1) {
            size_t per = (size_t)H * W * 3;
            outputs o1 = {0};
            TEST_REQUIRE(run(ctx, wf, &cfg, x + per * (B - 1), 1, H, W, &o1, 0), "single-item run");
            double eb = test_rel_err(o1.logits, o.logits + (size_t)(B - 1) * cfg.num_classes, cfg.num_classes);
            TEST_CHECK(eb <= TOL_LAYER, "%s: batch item %d alone differs from the batched run by %.3g", name, B - 1,
                       eb);
            free_outputs(&o1);
        }
        free_outputs(&o);
        vssm_ctx_free(ctx);
    }
    free(x);
    vssm_weights_close(wf);
    free(path);
}

/* the vector files named as arguments (test_vmamba_v0_parity: the first release's), else files[] */
int main(int argc, char **argv) {
    if (argc > 1)
        for (int i = 1; i < argc; i++) check_file(argv[i]);
    else
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) check_file(files[i]);
    /* a full-size file (gen_vmamba_vectors.py --full vmamba-tiny OUT) when one is given */
    const char *full = getenv("VSSM_FULL_VECTORS");
    if (full && *full) check_file(full);
    return test_finish("test_vmamba_parity");
}
