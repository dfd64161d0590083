/* tests/test_vim_cli.c - every task verb on Vision Mamba files, end to end through the built
 * `vssm` binary, with the outputs checked, not just the exit codes:
 *   vssm segment   the official seg checkpoint layout (tests/data/vim/seg_p16.pth) through the
 *                  mmseg slide pipeline: the label PNG equals our PyTorch reference's argmax
 *                  at every pixel whose top-2 logit margin exceeds 1e-4; also after
 *                  `vssm convert` to safetensors; `vssm eval seg` scores the model against
 *                  its own maps at 100;
 *   vssm reid extract  a Vim with a BNNeck: finite 16-dim embeddings, identical images
 *                  identical, one equal to the library's; `vssm eval reid` reads the file;
 *   vssm track     a random Vim follows the fixture sequence: one integer box per frame,
 *                  frame 0 the GT, every box inside the frame; `vssm eval track` reads it;
 *                  the example program does the same through the public API;
 *   errors         a Vim file without what the head needs is named, exit 2. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "testutil.h"
#include "vim_vectors.h"
#include "vssm/reid.h"
#include "vssm/seg_eval.h"
#include "vssm/track.h"

#ifndef __clang__
#pragma GCC diagnostic ignored "-Wformat-truncation" /* command strings are short */
#endif

static char tmp[64];
static char out[1 << 16], errb[1 << 16];

static int run(const char *cmd) { return test_run_cmd(cmd, out, sizeof out, errb, sizeof errb); }

static const char *SEG = "tests/data/vim/seg_p16.pth", *REID = "tests/data/vim/reid.safetensors",
                  *CLS = "tests/data/vim/sq_b2.safetensors", *IMG = "tests/data/images/dog_128x96.png";
/* the reference pipeline's settings (tests/reference/gen_vim_task_vectors.py) */
static const char *PIPE = "--scale 96,72 --crop 64 --stride 48 --mode slide";

/* the label map DIR/dog_128x96.png against the reference argmax where it is unambiguous */
static void check_labels(const char *dir, const char *what) {
    char p[256];
    snprintf(p, sizeof p, "%s/dog_128x96.png", dir);
    vssm_label_map m;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_label_map_load(&m, p, &err) == VSSM_OK, "%s: %s", what, err.msg);
    TEST_CHECK(m.w == 128 && m.h == 96, "%s: a label map at the image's size (%dx%d)", what, m.w, m.h);
    char *refp = test_data_path("vim/seg_p16_ref.safetensors");
    vssm_weights *wf = NULL;
    TEST_REQUIRE(vssm_weights_open(&wf, refp, NULL, &err) == VSSM_OK, "%s", err.msg);
    vssm_tensor lt;
    TEST_REQUIRE(vssm_weights_get(wf, "pipe_labels", &lt, &err) == VSSM_OK, "%s", err.msg);
    float *margin = vimvec_f32(wf, "pipe_margin", NULL, NULL);
    TEST_REQUIRE(margin, "pipe_margin");
    const uint8_t *ref = lt.data;
    int confident = 0, wrong = 0, differ = 0, seen[256] = {0};
    for (int i = 0; i < 128 * 96 && m.data && m.w == 128 && m.h == 96; i++) {
        seen[m.data[i]] = 1;
        differ += m.data[i] != ref[i];
        if (margin[i] > 1e-4f) confident++, wrong += m.data[i] != ref[i];
    }
    printf("  %s: %d of %d pixels differ from PyTorch (%d of %d with a top-2 margin > 1e-4)\n", what, differ, 128 * 96,
           wrong, confident);
    TEST_CHECK(wrong == 0 && confident > 128 * 90, "%s: the labels equal the reference's (%d wrong of %d)", what, wrong,
               confident);
    TEST_CHECK(seen[0] && seen[1] && !seen[3], "%s: the map holds the reference's classes 0 and 1, nothing >= 3", what);
    free(margin);
    vssm_weights_close(wf);
    free(refp);
    vssm_label_map_free(&m);
}

static void test_segment(void) {
    char cmd[2048], seg[128], conv[128], img[128];
    snprintf(seg, sizeof seg, "%s/seg", tmp);
    snprintf(cmd, sizeof cmd, "'%s' segment --weights %s %s --threads 2 --overlay --out %s %s", VSSM_BIN, SEG, PIPE,
             seg, IMG);
    int rc = run(cmd);
    TEST_CHECK(rc == 0 && strstr(out, "dog_128x96.png ->"), "segment with a Vim .pth exits 0 (got %d): %s", rc, errb);
    check_labels(seg, "vssm segment, Vim .pth");
    snprintf(cmd, sizeof cmd, "%s/dog_128x96_overlay.png", seg);
    TEST_CHECK(access(cmd, R_OK) == 0, "overlay written");

    /* converted to safetensors: the same maps */
    snprintf(conv, sizeof conv, "%s/vimseg.safetensors", tmp);
    snprintf(cmd, sizeof cmd, "'%s' convert %s %s --key state_dict", VSSM_BIN, SEG, conv);
    TEST_CHECK(run(cmd) == 0, "convert the Vim seg .pth: %s", errb);
    snprintf(seg, sizeof seg, "%s/seg2", tmp);
    snprintf(cmd, sizeof cmd, "'%s' segment --weights %s %s --threads 2 --out %s %s", VSSM_BIN, conv, PIPE, seg, IMG);
    rc = run(cmd);
    TEST_CHECK(rc == 0, "segment with the converted Vim exits 0 (got %d): %s", rc, errb);
    check_labels(seg, "vssm segment, converted");

    /* eval seg runs the model over a pairs layout and scores it against its own maps */
    snprintf(img, sizeof img, "%s/img", tmp);
    mkdir(img, 0777);
    snprintf(cmd, sizeof cmd, "cp %s %s/", IMG, img);
    TEST_REQUIRE(run(cmd) == 0, "copy the image");
    snprintf(cmd, sizeof cmd, "'%s' eval seg --weights %s %s --threads 2 --dataset pairs %s --labels-dir %s --json",
             VSSM_BIN, SEG, PIPE, img, seg);
    rc = run(cmd);
    cJSON *j = cJSON_Parse(out);
    TEST_CHECK(rc == 0 && j && cJSON_GetObjectItem(j, "aAcc") && cJSON_GetObjectItem(j, "aAcc")->valuedouble == 100.0,
               "eval seg with a Vim: aAcc 100 against its own maps (rc %d): %s %s", rc, out, errb);
    cJSON_Delete(j);

    /* a classification Vim has no decode head: named, usage exit */
    snprintf(cmd, sizeof cmd, "'%s' segment --weights %s --out %s %s", VSSM_BIN, CLS, seg, IMG);
    rc = run(cmd);
    TEST_CHECK(rc == 2 && strstr(errb, CLS) && strstr(errb, "conv_seg"),
               "segment with a classification Vim: exit 2 naming the file: %s", errb);
}

static void test_reid(void) {
    char cmd[2048], feats[128];
    snprintf(feats, sizeof feats, "%s/feats.safetensors", tmp);
    snprintf(
        cmd, sizeof cmd,
        "'%s' reid extract --weights %s --data tests/data/reid/market --format market --size 64x32 --out %s --batch 4",
        VSSM_BIN, REID, feats);
    int rc = run(cmd);
    TEST_REQUIRE(rc == 0, "reid extract with a Vim exits 0 (got %d): %s", rc, errb);
    TEST_CHECK(strstr(errb, "3 query + 6 gallery embeddings (16 dims)") != NULL, "summary: %s", errb);
    vssm_reid_features f;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_reid_features_load(&f, feats, &err) == VSSM_OK, "%s", err.msg);
    TEST_REQUIRE(f.nq == 3 && f.ng == 6 && f.dim == 16, "3 x 16 query, 6 x 16 gallery embeddings");
    int finite = 1;
    for (int i = 0; i < 3 * 16; i++) finite &= isfinite(f.query[i]);
    for (int i = 0; i < 6 * 16; i++) finite &= isfinite(f.gallery[i]);
    TEST_CHECK(finite, "every embedding value is finite");
    TEST_CHECK(!memcmp(f.query + 16, f.gallery + 3 * 16, 16 * sizeof(float)) &&
                   !memcmp(f.query, f.gallery + 16, 16 * sizeof(float)),
               "identical images give identical embeddings");
    TEST_CHECK(test_rel_err(f.query, f.query + 16, 16) > 1e-3, "different images give different embeddings");

    /* one embedding through the API: resize to 64x32 (the file's interpolation), normalise, forward */
    vssm_ctx *ctx = NULL;
    vssm_ctx_opts co = vssm_ctx_default_opts();
    vssm_reid_model *m = NULL;
    TEST_REQUIRE(vssm_ctx_new(&ctx, &co, &err) == VSSM_OK &&
                     vssm_reid_model_load(&m, ctx, VSSM_SOURCE_DIR "/tests/data/vim/reid.safetensors", NULL, &err) ==
                         VSSM_OK,
                 "%s", err.msg);
    vssm_preprocess_params pp = vssm_reid_model_preprocess(m);
    vssm_image im = {0}, rs = {0};
    float x[64 * 32 * 3], emb[16];
    TEST_REQUIRE(vssm_image_load(&im, VSSM_SOURCE_DIR "/tests/data/reid/market/query/0003_c1s1_000301_00.png", NULL,
                                 &err) == VSSM_OK &&
                     vssm_image_resize(&im, 32, 64, pp.interp, &rs, &err) == VSSM_OK &&
                     vssm_image_normalize(&rs, pp.mean, pp.std, x, &err) == VSSM_OK &&
                     vssm_reid_model_forward(m, x, 1, 64, 32, emb, &err) == VSSM_OK,
                 "%s", err.msg);
    TEST_CHECK(test_rel_err(f.query + 2 * 16, emb, 16) < 1e-5,
               "query 2 from the file equals the API's embedding (rel %.2g)", test_rel_err(f.query + 2 * 16, emb, 16));
    vssm_image_free(&im);
    vssm_image_free(&rs);
    vssm_reid_model_free(m);
    vssm_ctx_free(ctx);
    vssm_reid_features_free(&f);

    snprintf(cmd, sizeof cmd, "'%s' eval reid --features %s --json", VSSM_BIN, feats);
    rc = run(cmd);
    cJSON *j = cJSON_Parse(out), *r1 = j ? cJSON_GetObjectItem(j, "rank1") : NULL,
          *map = j ? cJSON_GetObjectItem(j, "mAP") : NULL;
    TEST_CHECK(rc == 0 && r1 && map && r1->valuedouble >= 0 && r1->valuedouble <= 100 && map->valuedouble > 0 &&
                   map->valuedouble <= 100,
               "eval reid on the Vim's features: rank1 and mAP in (0, 100] (rc %d): %s", rc, out);
    cJSON_Delete(j);

    snprintf(cmd, sizeof cmd, "'%s' reid extract --weights %s --data tests/data/reid/market --out %s --final-norm",
             VSSM_BIN, REID, feats);
    rc = run(cmd);
    TEST_CHECK(rc == 2 && strstr(errb, REID) && strstr(errb, "norm_f"),
               "--final-norm with a Vim: exit 2 naming the file: %s", errb);
}

/* text, a results file: 10 integer boxes centred in the 128 x 96 frame, the first the GT box */
static void check_boxes(const char *text, const char *what) {
    char gt0[64] = {0};
    FILE *g = fopen(VSSM_SOURCE_DIR "/tests/data/track/otb/fmnist-01/groundtruth_rect.txt", "r");
    if (g) {
        if (!fgets(gt0, sizeof gt0, g)) gt0[0] = 0;
        fclose(g);
    }
    int lines = 0, ok = 1;
    const char *p = text;
    while (*p) {
        int a, b, c, d, n = 0;
        ok &= sscanf(p, "%d,%d,%d,%d%n", &a, &b, &c, &d, &n) == 4 && c > 0 && d > 0 && a + c / 2 >= 0 &&
              a + c / 2 <= 128 && b + d / 2 >= 0 && b + d / 2 <= 96;
        if (lines == 0)
            TEST_CHECK(!strncmp(p, gt0, strlen(gt0)), "%s: frame 0 is the GT box: %.20s vs %s", what, p, gt0);
        lines++;
        p = strchr(p, '\n');
        if (!p) break;
        p++;
    }
    TEST_CHECK(lines == 10 && ok, "%s: 10 integer boxes x,y,w,h centred in the 128x96 frame (%d lines)", what, lines);
}

static void test_track(void) {
    char cmd[2048], res[128], path[256];
    snprintf(res, sizeof res, "%s/res", tmp);
    mkdir(res, 0777);
    snprintf(cmd, sizeof cmd,
             "'%s' track --weights %s --seq tests/data/track/otb/fmnist-01 --out %s/fmnist-01.txt --threads 2 "
             "--template-size 64 --search-size 128",
             VSSM_BIN, CLS, res);
    int rc = run(cmd);
    TEST_CHECK(rc == 0 && strstr(errb, "tracked 10 frames"), "track with a Vim exits 0 (got %d): %s", rc, errb);
    snprintf(path, sizeof path, "%s/fmnist-01.txt", res);
    FILE *f = fopen(path, "r");
    static char text[4096];
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = 0;
    if (f) fclose(f);
    check_boxes(text, "vssm track");

    snprintf(cmd, sizeof cmd, "'%s' eval track --results %s --gt tests/data/track/otb --format otb --json", VSSM_BIN,
             res);
    rc = run(cmd);
    cJSON *j = cJSON_Parse(out), *auc = j ? cJSON_GetObjectItem(j, "auc") : NULL;
    TEST_CHECK(rc == 0 && auc && auc->valuedouble > 0 && auc->valuedouble <= 100,
               "eval track on the Vim's results: AUC in (0, 100]: %s %s", out, errb);
    cJSON_Delete(j);

    /* the example program: the same tracker through the public API */
    snprintf(cmd, sizeof cmd, "'%s' %s tests/data/track/otb/fmnist-01 71,46,22,28 64 128", EXAMPLE_TRACK_LOOP, CLS);
    rc = run(cmd);
    TEST_CHECK(rc == 0 && !strncmp(out, "1 71.0 46.0 22.0 28.0", 21) && strstr(out, "\n10 "),
               "example_track_loop on a Vim: %s %s", out, errb);

    snprintf(cmd, sizeof cmd, "'%s' track --weights %s --seq tests/data/track/otb/fmnist-01 --out %s/x.txt --stage 2",
             VSSM_BIN, CLS, res);
    rc = run(cmd);
    TEST_CHECK(rc == 2 && strstr(errb, CLS) && strstr(errb, "stage 2"),
               "--stage 2 on a Vim: exit 2 naming the file: %s", errb);
    snprintf(cmd, sizeof cmd,
             "'%s' track --weights %s --seq tests/data/track/otb/fmnist-01 --out %s/x.txt --template-size 8 "
             "--search-size 64",
             VSSM_BIN, CLS, res);
    rc = run(cmd);
    TEST_CHECK(rc == 2 && strstr(errb, "16 px patch"), "a template smaller than a patch: exit 2, said: %s", errb);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/vssm_vim_cli_XXXXXX");
    TEST_REQUIRE(mkdtemp(tmp), "mkdtemp");
    test_segment();
    test_reid();
    test_track();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) {}
    return test_finish("test_vim_cli");
}
