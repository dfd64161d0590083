/* tests/test_vmamba_v0.c - the first VMamba release (v0) through the paths a user takes:
 *  - a file in the first release's tensor names (v0_odd: patch_embed.proj, blocks.N.ln_1,
 *    blocks.N.self_attention, norm, head) opens as a VMamba classifier by itself (names mapped,
 *    config inferred, forward type v0, the head from the old top-level norm/head) and its logits
 *    equal the float64 reference within 1e-4 (the parity tests' end-to-end tolerance);
 *  - the presets and what the backbone says of its stages (sizes, offsets, smallest input);
 *  - errors name what is wrong: an unsupported forward type lists v0, a too-small input;
 *  - a stated v0 config on random weights (vssm bench --arch) runs at an odd size. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "vmamba_vectors.h"
#include "vssm/classifier.h"
#include "vssm/infer.h"
#include "vssm/vssm.h"

static void classify_old_names(vssm_ctx *ctx) {
    char *path = test_data_path("vmamba/v0_odd.safetensors");
    vssm_err err = {0};
    vssm_weights *wf = NULL;
    TEST_REQUIRE(vssm_safetensors_open(&wf, path, &err) == VSSM_OK, "open %s: %s", path, err.msg);
    vssm_vmamba_config cfg;
    TEST_CHECK(vssm_vmamba_config_infer(vssm_weights_source(wf), "", &cfg, &err) == VSSM_OK, "infer: %s", err.msg);
    TEST_CHECK(!strcmp(cfg.forward_type, "v0") && cfg.d_state == 16 && cfg.mlp_ratio == 0 && cfg.ssm_ratio == 2.0f &&
                   cfg.dims[3] == 48 && cfg.depths[2] == 2 && cfg.num_classes == 7 && !strcmp(cfg.arch, "custom"),
               "inferred forward %s d_state %d mlp %g ratio %g dims[3] %d classes %d arch %s", cfg.forward_type,
               cfg.d_state, (double)cfg.mlp_ratio, (double)cfg.ssm_ratio, cfg.dims[3], cfg.num_classes, cfg.arch);
    vssm_tensor t;
    TEST_CHECK(vssm_weights_get(wf, "patch_embed.proj.weight", &t, NULL) != VSSM_OK &&
                   vssm_weights_get(wf, "classifier.head.weight", &t, NULL) == VSSM_OK,
               "old names are listed under today's names");
    int B, H, W;
    int64_t sh[4];
    TEST_REQUIRE(vvec_load_cfg(wf, &cfg, &B, &H, &W), "v0_odd metadata");
    float *x = vvec_nhwc(wf, "input", sh), *logits = malloc((size_t)B * cfg.num_classes * sizeof(float));
    vssm_tensor ref;
    TEST_REQUIRE(x && vssm_weights_get(wf, "ref.logits", &ref, &err) == VSSM_OK, "v0_odd input and logits");

    vssm_classifier *clf = NULL;
    TEST_REQUIRE(vssm_classifier_load(&clf, ctx, path, NULL, &err) == VSSM_OK, "classifier from old names: %s",
                 err.msg);
    TEST_REQUIRE(vssm_classifier_forward(clf, x, B, H, W, logits, &err) == VSSM_OK, "forward: %s", err.msg);
    double e = test_rel_err(logits, ref.data, (size_t)B * cfg.num_classes);
    TEST_CHECK(e <= 1e-4, "logits through vssm_classifier_load: rel err %.3g > 1e-4", e);
    printf("  v0_odd via vssm_classifier_load (old names): logits rel err %.2e\n", e);

    const vssm_backbone *bb = vssm_classifier_backbone(clf);
    int hs, ws;
    vssm_backbone_stage_size(bb, 37, 53, 0, &hs, &ws);
    TEST_CHECK(hs == 9 && ws == 13, "stage 0 of 37x53: %dx%d, want 9x13 (floor of /4)", hs, ws);
    vssm_backbone_stage_size(bb, 37, 53, 3, &hs, &ws);
    TEST_CHECK(hs == 2 && ws == 2, "stage 3 of 37x53: %dx%d, want 2x2 (ceil of /2 per merge)", hs, ws);
    TEST_CHECK(vssm_backbone_min_side(bb) == 4, "smallest input side %d, want 4", vssm_backbone_min_side(bb));
    TEST_CHECK(vssm_backbone_stage_offset(bb, 0) == 2.0 && vssm_backbone_stage_offset(bb, 3) == 16.0,
               "cell centres %g, %g: want stride / 2", vssm_backbone_stage_offset(bb, 0),
               vssm_backbone_stage_offset(bb, 3));
    TEST_CHECK(vssm_classifier_forward(clf, x, 1, 3, 40, logits, &err) != VSSM_OK && strstr(err.msg, "4x4"),
               "a 3x40 input is refused naming the 4x4 patch embed: %s", err.msg);
    vssm_classifier_free(clf);
    free(x);
    free(logits);
    vssm_weights_close(wf);
    free(path);
}

static void presets(void) {
    const struct {
        const char *name;
        int C, d2;
        double gflops; /* the official table (assets/performance.md), fvcore + flops_selective_scan_fn */
    } want[] = {{"vmamba-v0-tiny", 96, 9, 5.6}, {"vmamba-v0-small", 96, 27, 11.2}, {"vmamba-v0-base", 128, 27, 18.0},
                {"vmamba-tiny", 96, 8, 4.9},    {"vmamba-small", 96, 20, 8.7},     {"vmamba-base", 128, 20, 15.4}};
    for (int i = 0; i < 6; i++) {
        vssm_vmamba_config c;
        vssm_err err = {0};
        TEST_REQUIRE(vssm_vmamba_config_preset(&c, want[i].name, &err) == VSSM_OK, "%s: %s", want[i].name, err.msg);
        double g = vssm_vmamba_macs(&c, 224, 224) / 1e9; /* the table rounds to 0.1 G */
        TEST_CHECK(fabs(g - want[i].gflops) <= 0.06 + 0.01 * want[i].gflops,
                   "%s: %.3f G multiply-adds at 224, the official table's %.1f G", want[i].name, g, want[i].gflops);
        if (i >= 3) continue;
        TEST_CHECK(!strcmp(c.forward_type, "v0") && c.dims[0] == want[i].C && c.dims[3] == 8 * want[i].C &&
                       c.depths[0] == 2 && c.depths[1] == 2 && c.depths[2] == want[i].d2 && c.depths[3] == 2 &&
                       c.d_state == 16 && c.ssm_ratio == 2.0f && c.mlp_ratio == 0 && c.dt_rank == 0,
                   "%s: the released config", want[i].name);
        TEST_CHECK(vssm_vmamba_config_validate(&c, &err) == VSSM_OK, "%s validates: %s", want[i].name, err.msg);
    }
    vssm_vmamba_config c;
    vssm_vmamba_config_preset(&c, "vmamba-v0-tiny", NULL);
    TEST_CHECK(vssm_vmamba_param_count(&c) == 22893448, "v0-tiny params %lld, want 22893448 (the PyTorch model's)",
               (long long)vssm_vmamba_param_count(&c));
    vssm_err err = {0};
    strcpy(c.forward_type, "v05");
    TEST_CHECK(vssm_vmamba_config_validate(&c, &err) == VSSM_ERR_UNSUPPORTED &&
                   strstr(err.msg, "v0 (the first release)"),
               "an unsupported forward type names both that run: %s", err.msg);
}

/* the bench path: a stated v0 config on random weights runs at an odd size, finite features */
static void random_weights(void) {
    vssm_vmamba_config c;
    vssm_vmamba_config_preset(&c, "vmamba-v0-tiny", NULL);
    c.depths[0] = c.depths[1] = c.depths[2] = c.depths[3] = 1;
    c.dims[0] = 8, c.dims[1] = 16, c.dims[2] = 32, c.dims[3] = 64;
    vssm_source *rnd = vssm_random_source_new(3);
    vssm_ctx_opts o = vssm_ctx_default_opts();
    vssm_ctx *ctx = NULL;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_ctx_new(&ctx, &o, &err) == VSSM_OK, "ctx");
    vssm_vmamba *m = NULL;
    vssm_vmamba_state *st = NULL;
    const int H = 17, W = 23;
    float *x = calloc((size_t)H * W * 3, sizeof(float)), f3[64];
    for (int i = 0; i < H * W * 3; i++) x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    TEST_REQUIRE(vssm_vmamba_load(&m, ctx, &c, rnd, "", &err) == VSSM_OK, "v0 from a stated config: %s", err.msg);
    TEST_REQUIRE(vssm_vmamba_state_new(&st, m, 1, H, W, &err) == VSSM_OK, "state: %s", err.msg);
    TEST_REQUIRE(vssm_vmamba_forward(m, st, x, &err) == VSSM_OK, "forward: %s", err.msg);
    vssm_tensor t = vssm_vmamba_feature(st, 3);
    /* 17x23 -> 4x5 (patch embed) -> 2x3 -> 1x2 -> 1x1 */
    TEST_CHECK(t.shape[1] == 1 && t.shape[2] == 1 && t.shape[3] == 64, "stage 3 of 17x23: %lldx%lld, want 1x1",
               (long long)t.shape[1], (long long)t.shape[2]);
    TEST_REQUIRE(vssm_tensor_to_host(ctx, &t, f3, &err) == VSSM_OK, "download: %s", err.msg);
    int finite = 1;
    for (int i = 0; i < 64; i++) finite &= isfinite(f3[i]) != 0;
    TEST_CHECK(finite, "stage 3 features are finite");
    free(x);
    vssm_vmamba_state_free(st);
    vssm_vmamba_free(m);
    vssm_ctx_free(ctx);
    vssm_random_source_free(rnd);
}

int main(void) {
    vssm_err err = {0};
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = 2;
    vssm_ctx *ctx = NULL;
    TEST_REQUIRE(vssm_ctx_new(&ctx, &o, &err) == VSSM_OK, "ctx: %s", err.msg);
    classify_old_names(ctx);
    presets();
    random_weights();
    vssm_ctx_free(ctx);
    return test_finish("test_vmamba_v0");
}
