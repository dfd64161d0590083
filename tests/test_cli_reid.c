/* tests/test_cli_reid.c - `vssm reid extract` and `vssm eval reid` end to end on a tiny
 * Market-1501 layout (tests/data/reid/market: real images renamed to Market names, one
 * pid -1 junk file, one pid 0 distractor) with the random 3-class VMamba of the CLI tests:
 * the features file holds what the readers and the API give, identical images embed
 * identically, eval's JSON equals the library's metrics, a corrupt image is named and
 * skipped with exit 1, usage errors exit 2. */
#include <math.h>
#include <stdio.h>
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

static char out[1 << 16], errb[1 << 16];

static int run(const char *cmd) { return test_run_cmd(cmd, out, sizeof out, errb, sizeof errb); }

static const char *W = "tests/data/cli/tiny_cls.safetensors";
static char feats[128], tmpdir[64];

static void test_extract_and_eval(void) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "'%s' reid extract --weights %s --data tests/data/reid/market --format market --out %s --batch 4",
             VSSM_BIN, W, feats);
    int rc = run(cmd);
    TEST_REQUIRE(rc == 0, "extract exits 0 (got %d): %s", rc, errb);
    TEST_CHECK(strstr(errb, "3 query + 6 gallery embeddings (64 dims)") && strstr(errb, "1 junk"), "summary: %s", errb);
    TEST_CHECK(!strchr(errb, '\r'), "no progress bar when stderr is not a terminal");
    vssm_reid_features f;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_reid_features_load(&f, feats, &err) == VSSM_OK, "%s", err.msg);
    const int64_t gpid[6] = {0, 1, 1, 2, 3, 4}, gcam[6] = {3, 0, 1, 0, 2, 5}, qpid[3] = {1, 2, 3}, qcam[3] = {0, 1, 0};
    TEST_CHECK(f.nq == 3 && f.ng == 6 && f.dim == 64 && !memcmp(f.g_pid, gpid, sizeof gpid) &&
                   !memcmp(f.g_camid, gcam, sizeof gcam) && !memcmp(f.q_pid, qpid, sizeof qpid) &&
                   !memcmp(f.q_camid, qcam, sizeof qcam),
               "ids in the file are the readers' (pid 0 kept, junk dropped, camid 0-based)");
    /* the same image as query 1 and gallery 3 (rocket), and as query 0 and gallery 1 (dog) */
    TEST_CHECK(!memcmp(f.query + 64, f.gallery + 3 * 64, 64 * sizeof(float)) &&
                   !memcmp(f.query, f.gallery + 64, 64 * sizeof(float)),
               "identical images give identical embeddings");
    /* the embedding of one image through the API equals the file's */
    vssm_ctx *ctx = NULL;
    vssm_ctx_opts co = vssm_ctx_default_opts();
    vssm_reid_model *m = NULL;
    TEST_REQUIRE(vssm_ctx_new(&ctx, &co, &err) == VSSM_OK &&
                     vssm_reid_model_load(&m, ctx, VSSM_SOURCE_DIR "/tests/data/cli/tiny_cls.safetensors", NULL,
                                          &err) == VSSM_OK,
                 "%s", err.msg);
    TEST_CHECK(vssm_reid_head_bnneck(vssm_reid_model_head(m)) == NULL, "no BNNeck in a classifier file");
    vssm_image im = {0};
    vssm_preprocess_params pp = vssm_reid_model_preprocess(m);
    int ow, oh;
    float emb[64];
    TEST_REQUIRE(vssm_image_load(&im, VSSM_SOURCE_DIR "/tests/data/reid/market/query/0003_c1s1_000301_00.png", NULL,
                                 &err) == VSSM_OK &&
                     vssm_preprocess_output_size(&pp, im.w, im.h, &ow, &oh, &err) == VSSM_OK,
                 "%s", err.msg);
    float *x = malloc((size_t)ow * oh * 3 * sizeof(float));
    TEST_REQUIRE(vssm_preprocess(&im, &pp, x, &err) == VSSM_OK &&
                     vssm_reid_model_forward(m, x, 1, oh, ow, emb, &err) == VSSM_OK,
                 "%s", err.msg);
    TEST_CHECK(test_rel_err(f.query + 2 * 64, emb, 64) < 1e-5,
               "query 2 from the file equals the API's embedding (rel %.2g)", test_rel_err(f.query + 2 * 64, emb, 64));
    free(x);
    vssm_image_free(&im);
    vssm_reid_model_free(m);
    vssm_ctx_free(ctx);

    for (int metric = 0; metric < 2; metric++)
        for (int rerank = 0; rerank < 2; rerank++) {
            snprintf(cmd, sizeof cmd, "'%s' eval reid --features %s --json --metric %s%s", VSSM_BIN, feats,
                     metric ? "cosine" : "euclidean", rerank ? " --rerank" : "");
            rc = run(cmd);
            TEST_CHECK(rc == 0, "eval exits 0 (got %d): %s", rc, errb);
            cJSON *j = cJSON_Parse(out);
            TEST_REQUIRE(j, "eval --json prints JSON: %.200s", out);
            vssm_reid_labels q = {f.q_pid, f.q_camid, f.nq}, g = {f.g_pid, f.g_camid, f.ng};
            vssm_reid_eval_opts o = vssm_reid_eval_default_opts();
            o.metric = (vssm_reid_metric)metric;
            o.rerank = rerank;
            vssm_reid_result r;
            TEST_REQUIRE(vssm_reid_evaluate_features(f.query, &q, f.gallery, &g, f.dim, &o, &r, &err) == VSSM_OK, "%s",
                         err.msg);
            const char *keys[5] = {"rank1", "rank5", "rank10", "mAP", "mINP"};
            double want[5] = {r.rank1, r.rank5, r.rank10, r.mAP, r.mINP};
            for (int k = 0; k < 5; k++) {
                cJSON *v = cJSON_GetObjectItem(j, keys[k]);
                TEST_CHECK(v && fabs(v->valuedouble - 100 * want[k]) < 1e-4, "%s: JSON %s %g, library %g", cmd, keys[k],
                           v ? v->valuedouble : NAN, 100 * want[k]);
            }
            TEST_CHECK(cJSON_GetObjectItem(j, "valid_queries")->valueint == 3, "3 valid queries");
            vssm_reid_result_free(&r);
            cJSON_Delete(j);
        }
    /* query 1 (rocket) finds its identical gallery twin first */
    vssm_reid_features_free(&f);
}

static void test_bad_image_and_usage(void) {
    char cmd[2048];
    snprintf(
        cmd, sizeof cmd,
        "cp -r tests/data/reid/market %s/m && printf 'not a jpeg' > %s/m/bounding_box_test/0003_c2s1_000303_00.jpg",
        tmpdir, tmpdir);
    TEST_REQUIRE(run(cmd) == 0, "make a dataset with a corrupt image");
    snprintf(cmd, sizeof cmd, "'%s' reid extract --weights %s --data %s/m --format market --out %s", VSSM_BIN, W,
             tmpdir, feats);
    int rc = run(cmd);
    TEST_CHECK(rc == 1 && strstr(errb, "bounding_box_test/0003_c2s1_000303_00.jpg") && strstr(errb, "6 gallery") &&
                   strstr(errb, "1 failed"),
               "a corrupt image: named, skipped, exit 1 (rc %d): %s", rc, errb);
    vssm_reid_features f;
    vssm_err err = {0};
    TEST_CHECK(vssm_reid_features_load(&f, feats, &err) == VSSM_OK && f.ng == 6, "the rest was written");
    vssm_reid_features_free(&f);

    /* --max-pixels reaches the image reader (it was parsed and ignored) */
    snprintf(cmd, sizeof cmd,
             "'%s' reid extract --weights %s --data tests/data/reid/market --format market --out %s --max-pixels 100",
             VSSM_BIN, W, feats);
    rc = run(cmd);
    TEST_CHECK(rc == 1 && strstr(errb, "over the limit of 100 pixels"),
               "--max-pixels 100: images refused, exit 1 (rc %d): %s", rc, errb);

    const char *usage_cmds[] = {
        "reid extract --data tests/data/reid/market --out /tmp/x.safetensors", /* no weights */
        "reid extract --weights W --data tests/data/reid/market --format cuhk --out /tmp/x.safetensors", /* format */
        "reid extract --weights W --data tests/data/reid/nope --out /tmp/x.safetensors",                 /* no data */
        /* weights */
        "reid extract --weights tests/data/images/dog_128x96.png --data tests/data/reid/market --out /tmp/x.st",
        "reid extract --weights W --data tests/data/reid/market --out /tmp/x.safetensors --size 0x5", /* size */
        "reid frobnicate", "eval reid --features tests/data/reid/none.safetensors",
        "eval reid --features FEATS --metric manhattan", "eval reid --features FEATS --max-rank 0",
        "eval reid --features tests/data/cli/tiny_cls.safetensors", /* not a features file */
    };
    const char *named[] = {"--weights",        "cuhk",      "nope",       "dog_128x96.png",   "--size", "frobnicate",
                           "none.safetensors", "manhattan", "--max-rank", "no tensor 'query'"};
    for (size_t i = 0; i < sizeof usage_cmds / sizeof usage_cmds[0]; i++) {
        char c1[1024], c2[1024];
        snprintf(c1, sizeof c1, "%s", usage_cmds[i]);
        char *w = strstr(c1, " W ");
        if (w) {
            *w = 0;
            snprintf(c2, sizeof c2, "%s %s %s", c1, W, w + 3);
            snprintf(c1, sizeof c1, "%s", c2);
        }
        char *ff = strstr(c1, "FEATS");
        if (ff) {
            *ff = 0;
            snprintf(c2, sizeof c2, "%s%s%s", c1, feats, ff + 5);
            snprintf(c1, sizeof c1, "%s", c2);
        }
        snprintf(cmd, sizeof cmd, "'%s' %s", VSSM_BIN, c1);
        rc = run(cmd);
        TEST_CHECK(rc == 2 && strstr(errb, named[i]), "`%s` exits 2 naming '%s' (rc %d): %.300s", c1, named[i], rc,
                   errb);
    }
    /* a features file where no query has a match: exit 1 with the reason */
    float q[2] = {1, 2}, g[2] = {1, 2};
    int64_t qp[1] = {1}, qc[1] = {0}, gp[1] = {1}, gc[1] = {0};
    vssm_reid_features nf = {q, g, qp, qc, gp, gc, 1, 1, 2};
    TEST_REQUIRE(vssm_reid_features_save(feats, &nf, NULL, 0, &err) == VSSM_OK, "%s", err.msg);
    snprintf(cmd, sizeof cmd, "'%s' eval reid --features %s", VSSM_BIN, feats);
    rc = run(cmd);
    TEST_CHECK(rc == 1 && strstr(errb, "no query has a match"), "nothing valid: exit 1 (rc %d): %s", rc, errb);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vssm_cli_reid_XXXXXX");
    TEST_REQUIRE(mkdtemp(tmpdir), "mkdtemp");
    snprintf(feats, sizeof feats, "%s/feats.safetensors", tmpdir);
    test_extract_and_eval();
    test_bad_image_and_usage();
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_finish("test_cli_reid");
}
