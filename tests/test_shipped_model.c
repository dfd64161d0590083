/* tests/test_shipped_model.c - the model shipped in weights/fashion_mnist loads, its
 * metadata is complete, and its logits equal the PyTorch reference (float64) on shipped
 * real test images: from the reference's preprocessed tensors AND from the PNG files
 * through our own decoding and preprocessing (max|a-b|/max|b| <= 1e-4). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "testutil.h"
#include "vssm/classifier.h"
#include "vssm/vssm.h"

static const char *MODEL = VSSM_SOURCE_DIR "/weights/fashion_mnist/vmamba_fashion.safetensors";

int main(void) {
    vssm_err err = {0};
    vssm_weights *w = NULL;
    TEST_REQUIRE(vssm_weights_open(&w, MODEL, NULL, &err) == VSSM_OK, "open: %s", err.msg);
    const char *keys[] = {"arch",    "forward_type",  "dims",        "depths",   "ssm_ratio", "d_state",
                          "dt_rank", "mlp_ratio",     "num_classes", "in_chans", "labels",    "resize",
                          "crop",    "interpolation", "mean",        "std"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        TEST_CHECK(vssm_weights_meta(w, keys[i]) != NULL, "metadata key '%s' present", keys[i]);
    vssm_weights_close(w);

    vssm_ctx *ctx;
    TEST_REQUIRE(vssm_ctx_new(&ctx, NULL, &err) == VSSM_OK, "ctx");
    vssm_classifier *clf;
    TEST_REQUIRE(vssm_classifier_load(&clf, ctx, MODEL, NULL, &err) == VSSM_OK, "load: %s", err.msg);
    TEST_CHECK(vssm_classifier_classes(clf) == 10, "10 classes");
    TEST_CHECK(vssm_classifier_label(clf, 9) && !strcmp(vssm_classifier_label(clf, 9), "Ankle boot"),
               "labels from metadata");

    char *rp = test_data_path("fashion/ref.safetensors");
    vssm_weights *ref = NULL;
    TEST_REQUIRE(vssm_safetensors_open(&ref, rp, &err) == VSSM_OK, "open ref: %s", err.msg);
    vssm_tensor x, lg;
    TEST_REQUIRE(vssm_weights_get(ref, "input", &x, &err) == VSSM_OK &&
                     vssm_weights_get(ref, "logits", &lg, &err) == VSSM_OK,
                 "ref tensors");
    const int B = (int)x.shape[0], C = (int)x.shape[1], H = (int)x.shape[2], W = (int)x.shape[3];
    TEST_REQUIRE(C == 3 && lg.shape[0] == B && lg.shape[1] == 10, "ref shapes");
    float *xs = malloc((size_t)B * C * H * W * 4), *nhwc = malloc((size_t)B * C * H * W * 4),
          *ref_l = malloc((size_t)B * 10 * 4);
    float *logits = malloc((size_t)B * 10 * 4);
    vssm_tensor_to_f32(&x, xs, &err);
    vssm_tensor_to_f32(&lg, ref_l, &err);
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H * W; i++) nhwc[((size_t)b * H * W + i) * C + c] = xs[((size_t)b * C + c) * H * W + i];

    /* 1: the reference's own preprocessed tensors */
    TEST_REQUIRE(vssm_classifier_forward(clf, nhwc, B, H, W, logits, &err) == VSSM_OK, "forward: %s", err.msg);
    double e = test_rel_err(logits, ref_l, (size_t)B * 10);
    TEST_CHECK(e <= 1e-4, "logits from reference tensors: rel err %.3g", e);
    printf("  shipped model, reference tensors: rel err %.2e\n", e);

    /* 2: from the PNG files, through our decoder and preprocessing */
    cJSON *files = cJSON_Parse(vssm_weights_meta(ref, "files"));
    TEST_REQUIRE(cJSON_IsArray(files) && cJSON_GetArraySize(files) == B, "ref metadata 'files'");
    vssm_preprocess_params pp = vssm_classifier_preprocess(clf);
    float *mine = malloc((size_t)B * H * W * 3 * 4);
    int ok = 1;
    for (int b = 0; b < B && ok; b++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", VSSM_SOURCE_DIR, cJSON_GetArrayItem(files, b)->valuestring);
        vssm_image im = {0};
        int ow, oh;
        ok = vssm_image_load(&im, path, NULL, &err) == VSSM_OK &&
             vssm_preprocess_output_size(&pp, im.w, im.h, &ow, &oh, &err) == VSSM_OK && ow == W && oh == H &&
             vssm_preprocess(&im, &pp, mine + (size_t)b * H * W * 3, &err) == VSSM_OK;
        TEST_CHECK(ok, "%s: %s", path, err.msg);
        vssm_image_free(&im);
    }
    if (ok) {
        double ex = test_rel_err(mine, nhwc, (size_t)B * H * W * 3);
        TEST_CHECK(ex <= 1e-6, "our preprocessing equals torchvision's: rel err %.3g", ex);
        TEST_REQUIRE(vssm_classifier_forward(clf, mine, B, H, W, logits, &err) == VSSM_OK, "forward: %s", err.msg);
        e = test_rel_err(logits, ref_l, (size_t)B * 10);
        TEST_CHECK(e <= 1e-4, "logits from the PNG files: rel err %.3g", e);
        printf("  shipped model, from PNG files: preprocessing rel err %.2e, logits rel err %.2e\n", ex, e);
    }
    cJSON_Delete(files);
    free(xs);
    free(nhwc);
    free(ref_l);
    free(logits);
    free(mine);
    free(rp);
    vssm_weights_close(ref);
    vssm_classifier_free(clf);
    vssm_ctx_free(ctx);
    return test_finish("test_shipped_model");
}
