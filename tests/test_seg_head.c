/* tests/test_seg_head.c - UPerHead and FPNHead in C against the PyTorch reference written
 * from mmseg's definitions (tests/reference/uperhead_ref.py): random weights with BN
 * running statistics (folded into the convs at load), odd feature sizes, batch 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "vssm/segment.h"
#include "vssm/weights.h"

static void check_head(const char *file, vssm_seg_head_kind kind) {
    vssm_err err = {0};
    char *p = test_data_path(file);
    vssm_weights *w;
    TEST_REQUIRE(vssm_weights_open(&w, p, NULL, &err) == VSSM_OK, "open %s: %s", p, err.msg);
    const vssm_source *src = vssm_weights_source(w);
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = 2;
    vssm_ctx *ctx;
    TEST_REQUIRE(vssm_ctx_new(&ctx, &o, &err) == VSSM_OK, "ctx: %s", err.msg);
    vssm_seg_head_config cfg;
    memset(&cfg, 0, sizeof cfg);
    TEST_REQUIRE(vssm_seg_head_config_infer(src, "decode_head.", &cfg, &err) == VSSM_OK, "infer: %s", err.msg);
    TEST_CHECK(cfg.kind == kind && cfg.channels == 8 && cfg.num_classes == 5, "%s: kind %d channels %d classes %d",
               file, cfg.kind, cfg.channels, cfg.num_classes);
    if (kind == VSSM_SEG_HEAD_UPER)
        TEST_CHECK(cfg.n_pool == 4 && cfg.pool_scales[3] == 6, "pool scales 1,2,3,6 (n %d)", cfg.n_pool);
    vssm_tensor f[4], ref;
    for (int i = 0; i < 4; i++) {
        char nm[8];
        snprintf(nm, sizeof nm, "f%d", i);
        TEST_REQUIRE(vssm_weights_get(w, nm, &f[i], &err) == VSSM_OK, "%s", err.msg);
        cfg.in_channels[i] = (int)f[i].shape[3];
    }
    TEST_REQUIRE(vssm_weights_get(w, "logits", &ref, &err) == VSSM_OK, "%s", err.msg);
    vssm_seg_head *h;
    TEST_REQUIRE(vssm_seg_head_load(&h, ctx, &cfg, src, "decode_head.", &err) == VSSM_OK, "load: %s", err.msg);
    size_t n = (size_t)vssm_tensor_numel(&ref);
    float *out = malloc(n * sizeof(float));
    for (int rep = 0; rep < 2; rep++) { /* the second call reuses the planned buffers */
        TEST_REQUIRE(vssm_seg_head_forward(h, f, 4, out, &err) == VSSM_OK, "forward: %s", err.msg);
        double e = test_rel_err(out, (const float *)ref.data, n);
        TEST_CHECK(e <= 1e-5, "%s logits vs PyTorch (call %d): rel err %.3g (<= 1e-5)", file, rep + 1, e);
    }
    /* a missing BN statistic is named */
    vssm_seg_head_free(h);
    vssm_seg_head_config bad = cfg;
    bad.in_channels[0] += 1;
    TEST_CHECK(vssm_seg_head_load(&h, ctx, &bad, src, "decode_head.", &err) == VSSM_ERR_SHAPE &&
                   strstr(err.msg, "decode_head."),
               "a shape mismatch names the tensor: %s", err.msg);
    free(out);
    vssm_ctx_free(ctx);
    vssm_weights_close(w);
    free(p);
}

int main(void) {
    check_head("seg/head_uper.safetensors", VSSM_SEG_HEAD_UPER);
    check_head("seg/head_fpn.safetensors", VSSM_SEG_HEAD_FPN);
    return test_finish("test_seg_head");
}
