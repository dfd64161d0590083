/* tests/test_vmamba_errors.c - bad configs, mismatched tensors and bad sizes give a
 * status and a message that names what and why; nothing aborts. Also: the smallest
 * legal input (1x1) runs. */
#include <string.h>
#include "testutil.h"
#include "vssm/classifier.h"
#include "vssm/vssm.h"

static vssm_vmamba_config small_cfg(void) {
    vssm_vmamba_config c;
    memset(&c, 0, sizeof c);
    strcpy(c.arch, "custom");
    strcpy(c.forward_type, "v05_noz");
    c.in_chans = 3;
    int dims[4] = {8, 16, 32, 64}, depths[4] = {1, 1, 1, 1};
    memcpy(c.dims, dims, sizeof dims);
    memcpy(c.depths, depths, sizeof depths);
    c.ssm_ratio = 1.0f;
    c.d_state = 1;
    c.mlp_ratio = 4.0f;
    c.num_classes = 5;
    return c;
}

static void expect_msg(vssm_status got, vssm_status want, const vssm_err *err, const char *needle, const char *what) {
    TEST_CHECK(got == want, "%s: status %d, expected %d (%s)", what, got, want, err->msg);
    TEST_CHECK(strstr(err->msg, needle) != NULL, "%s: message '%s' should mention '%s'", what, err->msg, needle);
}

int main(void) {
    vssm_err err = {0};
    vssm_ctx *ctx;
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = 2;
    TEST_REQUIRE(vssm_ctx_new(&ctx, &o, &err) == VSSM_OK, "ctx");
    vssm_source *rnd = vssm_random_source_new(7);
    vssm_vmamba *m = NULL;

    vssm_vmamba_config c = small_cfg();
    strcpy(c.forward_type, "v2");
    expect_msg(vssm_vmamba_load(&m, ctx, &c, rnd, "", &err), VSSM_ERR_UNSUPPORTED, &err, "v2",
               "unsupported forward type");
    TEST_CHECK(m == NULL, "no model on failure");
    c = small_cfg();
    c.d_state = 0;
    expect_msg(vssm_vmamba_load(&m, ctx, &c, rnd, "", &err), VSSM_ERR_INVALID_ARG, &err, "d_state", "d_state 0");
    c = small_cfg();
    c.dims[2] = -4;
    expect_msg(vssm_vmamba_load(&m, ctx, &c, rnd, "", &err), VSSM_ERR_INVALID_ARG, &err, "dims[2]", "negative dim");
    c = small_cfg();
    c.depths[1] = -1;
    expect_msg(vssm_vmamba_load(&m, ctx, &c, rnd, "", &err), VSSM_ERR_INVALID_ARG, &err, "depths[1]", "negative depth");
    c = small_cfg();
    c.ssm_ratio = 0;
    expect_msg(vssm_vmamba_load(&m, ctx, &c, rnd, "", &err), VSSM_ERR_INVALID_ARG, &err, "ssm_ratio", "ssm_ratio 0");
    vssm_vmamba_config p;
    expect_msg(vssm_vmamba_config_preset(&p, "vmamba-huge", &err), VSSM_ERR_INVALID_ARG, &err, "vmamba-huge",
               "unknown preset");

    /* a real file whose tensors do not match the stated config */
    char *path = test_data_path("vmamba/small_sq.safetensors");
    vssm_weights *w = NULL;
    TEST_REQUIRE(vssm_safetensors_open(&w, path, &err) == VSSM_OK, "open: %s", err.msg);
    c = small_cfg();
    int dims[4] = {6, 12, 24, 48}, depths[4] = {1, 1, 2, 1};
    memcpy(c.dims, dims, sizeof dims);
    memcpy(c.depths, depths, sizeof depths);
    c.ssm_ratio = 1.0f; /* the file has 2.0 */
    expect_msg(vssm_vmamba_load(&m, ctx, &c, vssm_weights_source(w), "", &err), VSSM_ERR_SHAPE, &err,
               "layers.0.blocks.0.op.in_proj.weight' has shape (12, 6) but the config needs (6, 6)", "shape mismatch");
    c.ssm_ratio = 2.0f;
    c.depths[2] = 3; /* one block more than the file has */
    expect_msg(vssm_vmamba_load(&m, ctx, &c, vssm_weights_source(w), "", &err), VSSM_ERR_FORMAT, &err,
               "layers.2.blocks.2.norm.weight' is missing", "missing tensor");
    c.depths[2] = 2;
    expect_msg(vssm_vmamba_load(&m, ctx, &c, vssm_weights_source(w), "backbone.", &err), VSSM_ERR_FORMAT, &err,
               "backbone.patch_embed.0.weight", "wrong prefix");
    vssm_cls_head *h = NULL;
    expect_msg(vssm_cls_head_load(&h, ctx, VSSM_CLS_POOLED, 48, 11, vssm_weights_source(w), "", &err), VSSM_ERR_SHAPE,
               &err, "classifier.head.weight", "head with the wrong class count");

    /* sizes */
    TEST_REQUIRE(vssm_vmamba_load(&m, ctx, &c, vssm_weights_source(w), "", &err) == VSSM_OK, "load: %s", err.msg);
    vssm_vmamba_state *st = NULL;
    expect_msg(vssm_vmamba_state_new(&st, m, 0, 32, 32, &err), VSSM_ERR_INVALID_ARG, &err, "batch size 0", "batch 0");
    expect_msg(vssm_vmamba_state_new(&st, m, 1, 0, 32, &err), VSSM_ERR_INVALID_ARG, &err, "0x32", "height 0");
    expect_msg(vssm_vmamba_state_new(&st, m, 1, 32, -5, &err), VSSM_ERR_INVALID_ARG, &err, "32x-5", "negative width");
    TEST_CHECK(st == NULL, "no state on failure");
    /* the smallest legal input: 1x1 (every stride-2 conv maps 1 to 1) */
    TEST_REQUIRE(vssm_vmamba_state_new(&st, m, 2, 1, 1, &err) == VSSM_OK, "1x1 state: %s", err.msg);
    float x[6] = {0.1f, -0.2f, 0.3f, 0.5f, 0.0f, -1.0f};
    TEST_CHECK(vssm_vmamba_forward(m, st, x, &err) == VSSM_OK, "1x1 forward: %s", err.msg);
    vssm_tensor f3 = vssm_vmamba_feature(st, 3);
    TEST_CHECK(f3.shape[0] == 2 && f3.shape[1] == 1 && f3.shape[2] == 1 && f3.shape[3] == 48,
               "1x1 gives a 1x1 stage-3 map");
    expect_msg(vssm_vmamba_forward(m, st, NULL, &err), VSSM_ERR_INVALID_ARG, &err, "NULL", "NULL input");
    TEST_CHECK(vssm_vmamba_feature(st, 4).data == NULL, "stage 4 does not exist");
    /* the head refuses features of the wrong width */
    TEST_REQUIRE(vssm_cls_head_load(&h, ctx, VSSM_CLS_POOLED, 48, 10, vssm_weights_source(w), "", &err) == VSSM_OK,
                 "head: %s", err.msg);
    vssm_tensor bad = vssm_vmamba_feature(st, 2);
    float logits[20];
    expect_msg(vssm_cls_head_forward(h, &bad, 1, logits, &err), VSSM_ERR_SHAPE, &err, "48", "head on stage-2 features");
    vssm_cls_head_free(h);
    vssm_vmamba_state_free(st);
    vssm_vmamba_free(m);

    /* classifier: a file that is not weights */
    vssm_classifier *clf = NULL;
    char *img = test_data_path("images/bad/random.bin");
    vssm_status s = vssm_classifier_load(&clf, ctx, img, NULL, &err);
    TEST_CHECK(s != VSSM_OK && strstr(err.msg, "random.bin"), "non-weights file refused naming it: %s", err.msg);
    s = vssm_classifier_load(&clf, ctx, "/nonexistent/w.safetensors", NULL, &err);
    TEST_CHECK(s == VSSM_ERR_IO && strstr(err.msg, "/nonexistent/w.safetensors"), "missing file: %s", err.msg);
    free(img);

    vssm_weights_close(w);
    free(path);
    vssm_random_source_free(rnd);
    vssm_ctx_free(ctx);
    return test_finish("test_vmamba_errors");
}
