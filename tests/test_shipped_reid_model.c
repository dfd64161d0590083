/* tests/test_shipped_reid_model.c - the re-ID demo model shipped in weights/reid_demo
 * (weights/train_reid_demo.py) loads as a re-ID model with its BNNeck, L2 normalisation and
 * preprocessing from the file's metadata, and its embeddings of the shipped demo images
 * (weights/reid_demo/sample, JPEG) equal the PyTorch reference (float64, ref.safetensors)
 * from the files through our own decoder and preprocessing: the decoded pixels byte for
 * byte, the normalised input to 1e-6, the embeddings (with and without L2) to 1e-4. Then
 * `vssm reid extract` + `vssm eval reid` on the sample tree write the same embeddings. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "testutil.h"
#include "vssm/reid.h"
#include "vssm/vssm.h"

#ifndef __clang__
#pragma GCC diagnostic ignored "-Wformat-truncation" /* command strings are short */
#endif

static const char *MODEL = VSSM_SOURCE_DIR "/weights/reid_demo/vmamba_reid_demo.safetensors";
static const char *REF = VSSM_SOURCE_DIR "/weights/reid_demo/ref.safetensors";

static float *tensor_f32(vssm_weights *w, const char *name, int64_t n0, int64_t n1) {
    vssm_tensor t;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_weights_get(w, name, &t, &err) == VSSM_OK, "ref tensor %s: %s", name, err.msg);
    TEST_REQUIRE(t.ndim == 2 && t.shape[0] == n0 && t.shape[1] == n1, "ref tensor %s is (%lld, %lld)", name,
                 (long long)n0, (long long)n1);
    float *p = malloc((size_t)(n0 * n1) * sizeof(float));
    TEST_REQUIRE(p && vssm_tensor_to_f32(&t, p, &err) == VSSM_OK, "%s: %s", name, err.msg);
    return p;
}

int main(void) {
    vssm_err err = {0};
    vssm_weights *w = NULL;
    TEST_REQUIRE(vssm_weights_open(&w, MODEL, NULL, &err) == VSSM_OK, "open: %s", err.msg);
    const char *keys[] = {"arch",          "forward_type", "dims",        "depths",   "ssm_ratio",   "d_state",
                          "dt_rank",       "mlp_ratio",    "num_classes", "in_chans", "resize",      "crop",
                          "interpolation", "mean",         "std",         "task",     "reid_l2norm", "train_command"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        TEST_CHECK(vssm_weights_meta(w, keys[i]) != NULL, "metadata key '%s' present", keys[i]);
    vssm_weights_close(w);

    vssm_ctx *ctx;
    TEST_REQUIRE(vssm_ctx_new(&ctx, NULL, &err) == VSSM_OK, "ctx");
    vssm_reid_model *m, *m_raw;
    vssm_reid_model_opts o = vssm_reid_model_default_opts();
    TEST_REQUIRE(vssm_reid_model_load(&m, ctx, MODEL, &o, &err) == VSSM_OK, "load: %s", err.msg);
    o.head.l2norm = 0;
    TEST_REQUIRE(vssm_reid_model_load(&m_raw, ctx, MODEL, &o, &err) == VSSM_OK, "load (no L2): %s", err.msg);
    const int D = vssm_reid_model_dim(m);
    const vssm_reid_head *h = vssm_reid_model_head(m);
    TEST_CHECK(vssm_backbone_get_kind(vssm_reid_model_backbone(m)) == VSSM_BACKBONE_VMAMBA, "a VMamba");
    TEST_CHECK(vssm_reid_head_bnneck(h) && !strcmp(vssm_reid_head_bnneck(h), "bnneck."), "BNNeck found under bnneck.");
    TEST_CHECK(vssm_reid_head_l2norm(h) == 1, "L2 on by default (metadata reid_l2norm)");
    TEST_CHECK(vssm_reid_head_l2norm(vssm_reid_model_head(m_raw)) == 0, "L2 off when asked");
    vssm_preprocess_params pp = vssm_reid_model_preprocess(m);
    TEST_CHECK(pp.resize == 64 && pp.crop == 64 && pp.interp == VSSM_INTERP_BILINEAR, "preprocessing from metadata");

    vssm_weights *ref = NULL;
    TEST_REQUIRE(vssm_safetensors_open(&ref, REF, &err) == VSSM_OK, "open ref: %s", err.msg);
    cJSON *files = cJSON_Parse(vssm_weights_meta(ref, "files"));
    TEST_REQUIRE(cJSON_IsArray(files) && cJSON_GetArraySize(files) > 0, "ref metadata 'files'");
    const int B = cJSON_GetArraySize(files), S = 64;
    vssm_tensor px;
    TEST_REQUIRE(vssm_weights_get(ref, "pixels", &px, &err) == VSSM_OK && px.dtype == VSSM_DTYPE_U8 && px.ndim == 4 &&
                     px.shape[0] == B && px.shape[1] == S && px.shape[2] == S && px.shape[3] == 3,
                 "ref pixels (B, 64, 64, 3) u8");
    float *e_ref = tensor_f32(ref, "embedding", B, D), *e_ref_l2 = tensor_f32(ref, "embedding_l2", B, D);
    const size_t per = (size_t)S * S * 3;
    float *x = malloc((size_t)B * per * sizeof(float)), *want = malloc((size_t)B * per * sizeof(float));
    float *emb = malloc((size_t)B * D * sizeof(float));
    int same_px = 1;
    for (int b = 0; b < B; b++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/weights/reid_demo/sample/%s", VSSM_SOURCE_DIR,
                 cJSON_GetArrayItem(files, b)->valuestring);
        vssm_image im = {0};
        int ow, oh;
        TEST_REQUIRE(vssm_image_load(&im, path, NULL, &err) == VSSM_OK &&
                         vssm_preprocess_output_size(&pp, im.w, im.h, &ow, &oh, &err) == VSSM_OK && ow == S &&
                         oh == S && vssm_preprocess(&im, &pp, x + b * per, &err) == VSSM_OK,
                     "%s: %s", path, err.msg);
        const uint8_t *rp = (const uint8_t *)px.data + b * per;
        same_px &= im.w == S && im.h == S && im.c == 3 && !memcmp(im.data, rp, per);
        for (size_t i = 0; i < per; i++) /* ToTensor + Normalize of PIL's pixels, in float32 */
            want[b * per + i] = ((float)rp[i] / 255.f - pp.mean[i % 3]) / pp.std[i % 3];
        vssm_image_free(&im);
    }
    TEST_CHECK(same_px, "our JPEG decoding equals PIL's, byte for byte");
    double ex = test_rel_err(x, want, (size_t)B * per);
    TEST_CHECK(ex <= 1e-6, "preprocessing equals ToTensor + Normalize: rel err %.3g", ex);
    TEST_REQUIRE(vssm_reid_model_forward(m, x, B, S, S, emb, &err) == VSSM_OK, "forward: %s", err.msg);
    double e1 = test_rel_err(emb, e_ref_l2, (size_t)B * D);
    TEST_CHECK(e1 <= 1e-4, "L2-normalised embeddings from the JPEG files: rel err %.3g", e1);
    TEST_REQUIRE(vssm_reid_model_forward(m_raw, x, B, S, S, emb, &err) == VSSM_OK, "forward: %s", err.msg);
    double e2 = test_rel_err(emb, e_ref, (size_t)B * D);
    TEST_CHECK(e2 <= 1e-4, "BNNeck embeddings (no L2) from the JPEG files: rel err %.3g", e2);
    printf("  shipped re-ID model, %d JPEGs: preprocessing rel err %.2e, embeddings rel err %.2e (L2) %.2e (BNNeck)\n",
           B, ex, e1, e2);

    /* the command line on the sample tree (query/, bounding_box_test/): rows are sorted by
     * path within each split, so the features file's rows are ref rows in that order */
    char cmd[2048], out[8192], errb[8192], dir[] = "/tmp/vssm_reid_demo_XXXXXX", fp[128];
    TEST_REQUIRE(mkdtemp(dir), "mkdtemp");
    snprintf(fp, sizeof fp, "%s/feats.safetensors", dir);
    snprintf(cmd, sizeof cmd,
             "'%s' reid extract --weights weights/reid_demo/vmamba_reid_demo.safetensors --data "
             "weights/reid_demo/sample --out '%s'",
             VSSM_BIN, fp);
    int rc = test_run_cmd(cmd, out, sizeof out, errb, sizeof errb);
    TEST_REQUIRE(rc == 0, "reid extract exits 0 (got %d): %s", rc, errb);
    vssm_reid_features f;
    TEST_REQUIRE(vssm_reid_features_load(&f, fp, &err) == VSSM_OK, "%s", err.msg);
    TEST_REQUIRE(f.dim == D && f.nq + f.ng == B, "features: %lld + %lld rows of %lld", (long long)f.nq, (long long)f.ng,
                 (long long)f.dim);
    int rows_ok = 1;
    double ecli = 0;
    for (int b = 0; b < B; b++) { /* row k of its split: k = files of the split that sort before it */
        const char *name = cJSON_GetArrayItem(files, b)->valuestring;
        int q = !strncmp(name, "query/", 6), k = 0;
        for (int j = 0; j < B; j++) {
            const char *o = cJSON_GetArrayItem(files, j)->valuestring;
            const int oq = strncmp(o, "query/", 6) == 0;
            k += oq == q && strcmp(o, name) < 0;
        }
        if ((q && k >= f.nq) || (!q && k >= f.ng)) {
            rows_ok = 0;
            break;
        }
        double e = test_rel_err((q ? f.query : f.gallery) + (size_t)k * D, e_ref_l2 + (size_t)b * D, (size_t)D);
        if (e > ecli) ecli = e;
    }
    TEST_CHECK(rows_ok && ecli <= 1e-4, "reid extract writes the reference's L2 embeddings: rel err %.3g", ecli);
    vssm_reid_features_free(&f);
    snprintf(cmd, sizeof cmd, "'%s' eval reid --features '%s' --json", VSSM_BIN, fp);
    rc = test_run_cmd(cmd, out, sizeof out, errb, sizeof errb);
    cJSON *j = rc == 0 ? cJSON_Parse(out) : NULL;
    TEST_CHECK(j && cJSON_GetObjectItem(j, "mAP") && cJSON_GetObjectItem(j, "valid_queries"), "eval reid --json: %s %s",
               out, errb);
    cJSON_Delete(j);
    remove(fp);
    rmdir(dir);

    cJSON_Delete(files);
    free(x);
    free(want);
    free(emb);
    free(e_ref);
    free(e_ref_l2);
    vssm_weights_close(ref);
    vssm_reid_model_free(m);
    vssm_reid_model_free(m_raw);
    vssm_ctx_free(ctx);
    return test_finish("test_shipped_reid_model");
}
