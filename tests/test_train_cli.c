/* tests/test_train_cli.c - `vssm train` end to end (issue 20, step 4), on the shipped
 * Fashion-MNIST model and its 100 sample images (32x32, batch 10: about a second a run).
 *
 *  - resume: 2 epochs straight (EMA, clipping, warm-up, a held-out split) and 1 epoch
 *    (--stop-after 1) + --resume 1 epoch give byte-identical model and checkpoint files, and
 *    a run at 1 thread the same model bytes as at 2;
 *  - the output is a model as any other: vssm_classifier_load reads its classes, folder names
 *    as labels and the file's preprocessing; `vssm eval classify` on the validation folder
 *    reports the top-1 the trainer wrote (its validation = the official eval transform);
 *    `vssm classify` prints the folder names;
 *  - linear probe (--freeze backbone) on 3 of the classes: a new 3-row head, every other
 *    tensor bit-identical to the starting file, and the head learned (val top-1 > 60%,
 *    chance 33%; the run is deterministic, measured 100%);
 *  - the augmentation: with scale 1 on a square image the crop is the whole image, mirrored
 *    or not, both seen over 64 seeds; a seed gives the same crop twice; the boxes: the
 *    fallback's centred box on a 100 x 1 strip, 2000 boxes of a 10 x 20 image inside it, of
 *    both aspects and some full-width (vssm_random_resized_crop_box); --pad-crop's
 *    vssm_pad_crop equals a window of an explicitly zero-padded copy (every one of the 5 x 5
 *    offsets x mirror seen over 400 seeds, nothing else), pad 0 without flip is the image;
 *    a --pad-crop run gives the same bytes at 2 threads with the decoded-image cache as at 1
 *    thread without it (--cache-mb 0), and other bytes than the RandomResizedCrop run;
 *  - usage errors exit 2 (both --weights and --arch, a checkpoint at another --batch).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "testutil.h"
#include "vssm/vssm.h"
#include "vssm/classifier.h"
#include "vssm/train.h"
#include "vssm/weights.h"

#define W "weights/fashion_mnist/vmamba_fashion.safetensors"
#define SAMPLE "weights/fashion_mnist/sample"

static char tmp[256];
static char out[1 << 16], err[1 << 16];

static int run(const char *fmt, const char *a1, const char *a2) {
    char cmd[2048], tail[1024];
    snprintf(tail, sizeof tail, fmt, a1, a2);
    snprintf(cmd, sizeof cmd, "timeout 120 '%s' %s", VSSM_BIN, tail);
    int rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    if (rc) fprintf(stderr, "[%s] exit %d:\n%s\n", cmd, rc, err);
    return rc;
}

static int same_file(const char *a, const char *b) {
    size_t na, nb;
    char *x = test_read_file(a, &na), *y = test_read_file(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x), free(y);
    return same;
}

static const char *FIT = "train --data " SAMPLE " --val-split 0.2 --weights " W " --epochs 2 --batch 10 "
                         "--lr 2e-4 --ema 0.9 --clip 1 --warmup-epochs 0.5 --seed 3 --threads 2 --out %s/%s";

static void test_resume(void) {
    char fmt[1024];
    TEST_REQUIRE(run(FIT, tmp, "a.safetensors") == 0, "2 epochs straight run");
    snprintf(fmt, sizeof fmt, "%s --stop-after 1", FIT);
    TEST_REQUIRE(run(fmt, tmp, "b.safetensors") == 0, "1 epoch (--stop-after 1) runs");
    char a[400], b[400], ca[512], cb[512];
    snprintf(a, sizeof a, "%s/a.safetensors", tmp), snprintf(b, sizeof b, "%s/b.safetensors", tmp);
    snprintf(ca, sizeof ca, "%s.ckpt", a), snprintf(cb, sizeof cb, "%s.ckpt", b);
    TEST_CHECK(access(b, F_OK) != 0, "no model written after 1 of 2 epochs");
    TEST_CHECK(!same_file(ca, cb), "the checkpoints after 1 and after 2 epochs differ");
    snprintf(fmt, sizeof fmt, "%s --resume %s", FIT, cb);
    TEST_REQUIRE(run(fmt, tmp, "b.safetensors") == 0, "--resume runs the second epoch");
    TEST_CHECK(same_file(a, b), "2 epochs straight == 1 epoch + --resume 1 epoch: the same model bytes");
    TEST_CHECK(same_file(ca, cb), "... and the same checkpoint bytes");
    /* the same bits at another thread count (decoding and the ops) */
    snprintf(fmt, sizeof fmt, "%s --threads 1", FIT);
    TEST_REQUIRE(run(fmt, tmp, "t1.safetensors") == 0, "a run at 1 thread");
    snprintf(b, sizeof b, "%s/t1.safetensors", tmp);
    TEST_CHECK(same_file(a, b), "1 thread == 2 threads: the same model bytes");
    /* --pad-crop: the same bits with and without the decoded-image cache, at 2 and 1 threads */
    snprintf(fmt, sizeof fmt, "%s --pad-crop 2", FIT);
    TEST_REQUIRE(run(fmt, tmp, "p2.safetensors") == 0, "a --pad-crop 2 run");
    snprintf(fmt, sizeof fmt, "%s --pad-crop 2 --threads 1 --cache-mb 0", FIT);
    TEST_REQUIRE(run(fmt, tmp, "p1.safetensors") == 0, "a --pad-crop 2 run at 1 thread without the cache");
    char p1[400], p2[400];
    snprintf(p1, sizeof p1, "%s/p1.safetensors", tmp), snprintf(p2, sizeof p2, "%s/p2.safetensors", tmp);
    TEST_CHECK(same_file(p1, p2), "--pad-crop: cached at 2 threads == decoded every epoch at 1 thread");
    TEST_CHECK(!same_file(a, p2), "--pad-crop trains on other batches than RandomResizedCrop");
    /* the checkpoint is refused by a run at another batch size */
    snprintf(fmt, sizeof fmt, "%s --resume %s --batch 5", FIT, cb);
    TEST_CHECK(run(fmt, tmp, "c.safetensors") == 2 && strstr(err, "--batch"),
               "a checkpoint at another --batch: exit 2");
}

static double json_num(const char *s, const char *key) {
    cJSON *j = cJSON_Parse(s);
    cJSON *v = j ? cJSON_GetObjectItem(j, key) : NULL;
    double x = v ? v->valuedouble : NAN;
    cJSON_Delete(j);
    return x;
}

/* the model as the other verbs see it */
static void test_output_is_a_model(void) {
    char m[512];
    snprintf(m, sizeof m, "%s/v.safetensors", tmp);
    TEST_REQUIRE(run("train --data " SAMPLE " --val " SAMPLE " --weights " W " --epochs 1 --batch 10 --lr 1e-4 "
                     "--threads 2 --out %s%s",
                     m, "") == 0,
                 "a run with --val");
    vssm_ctx *ctx = NULL;
    vssm_classifier *clf = NULL;
    vssm_err e = {0};
    TEST_REQUIRE(vssm_ctx_new(&ctx, NULL, &e) == VSSM_OK, "ctx");
    TEST_REQUIRE(vssm_classifier_load(&clf, ctx, m, NULL, &e) == VSSM_OK, "the output loads: %s", e.msg);
    TEST_CHECK(vssm_classifier_classes(clf) == 10, "10 classes");
    const char *l0 = vssm_classifier_label(clf, 0), *l9 = vssm_classifier_label(clf, 9);
    TEST_CHECK(l0 && !strcmp(l0, "0_T-shirt-top") && l9 && !strcmp(l9, "9_Ankle-boot"), "labels = folder names");
    vssm_preprocess_params pp = vssm_classifier_preprocess(clf);
    TEST_CHECK(pp.resize == 32 && pp.crop == 32 && pp.interp == VSSM_INTERP_BICUBIC &&
                   fabsf(pp.mean[0] - 0.2878f) < 1e-6f && fabsf(pp.std[2] - 0.3459f) < 1e-6f,
               "the file's preprocessing kept");
    vssm_classifier_free(clf);
    vssm_ctx_free(ctx);
    vssm_weights *w = NULL;
    TEST_REQUIRE(vssm_safetensors_open(&w, m, &e) == VSSM_OK, "open");
    const char *v = vssm_weights_meta(w, "val_top1");
    const double wrote = v ? atof(v) : NAN;
    vssm_weights_close(w);
    TEST_REQUIRE(run("eval classify --weights %s --json --threads 2 " SAMPLE "%s", m, "") == 0, "eval classify runs");
    const double top1 = json_num(out, "top1");
    TEST_CHECK(fabs(top1 - wrote) < 0.006, "eval classify's top-1 %.3f == the trainer's validation %.2f", top1, wrote);
    printf("  val top-1 after 1 epoch: trainer %.2f, vssm eval classify %.3f\n", wrote, top1);
    TEST_CHECK(run("classify --weights %s --topk 1 " SAMPLE "/8_Bag%s", m, "") == 0 && strstr(out, "8_Bag"),
               "vssm classify prints the folder names");
}

static int tensors_equal(vssm_weights *a, vssm_weights *b, const char *name) {
    vssm_tensor x, y;
    vssm_err e = {0};
    if (vssm_weights_get(a, name, &x, &e) != VSSM_OK || vssm_weights_get(b, name, &y, &e) != VSSM_OK) return 0;
    const int64_t n = vssm_tensor_numel(&x);
    return x.dtype == y.dtype && n == vssm_tensor_numel(&y) && !memcmp(x.data, y.data, (size_t)n * 4);
}

static void test_linear_probe(void) {
    char d[512], cmd[2048], m[512];
    snprintf(d, sizeof d, "%s/three", tmp);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp -r " SAMPLE "/1_Trouser " SAMPLE "/5_Sandal " SAMPLE "/8_Bag %s", d,
             d);
    TEST_REQUIRE(system(cmd) == 0, "%s", cmd);
    snprintf(m, sizeof m, "%s/p.safetensors", tmp);
    snprintf(cmd, sizeof cmd,
             "train --data %s --val %s --weights " W " --freeze backbone --epochs 2 --batch 6 --lr 1e-2 "
             "--threads 2 --out %s",
             d, d, m);
    TEST_REQUIRE(run(cmd, "", "") == 0, "a linear probe on 3 classes");
    vssm_weights *a = NULL, *b = NULL;
    vssm_err e = {0};
    TEST_REQUIRE(vssm_safetensors_open(&a, W, &e) == VSSM_OK && vssm_safetensors_open(&b, m, &e) == VSSM_OK, "open");
    TEST_CHECK(vssm_weights_count(a) == vssm_weights_count(b), "the same tensor names");
    int diff = 0, n = vssm_weights_count(b);
    for (int i = 0; i < n; i++) {
        const char *nm = vssm_weights_name(b, i);
        if (strncmp(nm, "classifier.head.", 16)) diff += !tensors_equal(a, b, nm);
    }
    TEST_CHECK(diff == 0, "frozen: every tensor but the head's bit-identical to the start (%d differ)", diff);
    vssm_tensor h;
    TEST_CHECK(vssm_weights_get(b, "classifier.head.weight", &h, &e) == VSSM_OK && h.shape[0] == 3 && h.shape[1] == 256,
               "a new 3x256 head");
    const char *v = vssm_weights_meta(b, "val_top1");
    TEST_CHECK(v && atof(v) > 60.0, "the probe learned: val top-1 %s%% > 60%% (chance 33%%)", v ? v : "?");
    printf("  linear probe, 3 classes, 2 epochs: val top-1 %s%%\n", v ? v : "?");
    vssm_weights_close(a);
    vssm_weights_close(b);
}

static void test_augment(void) {
    vssm_image im, o1 = {0}, o2 = {0};
    vssm_err e = {0};
    TEST_REQUIRE(vssm_image_alloc(&im, 9, 9, 3, &e) == VSSM_OK, "alloc");
    for (int i = 0; i < 9 * 9 * 3; i++) im.data[i] = (uint8_t)(i * 7 + 3);
    int plain = 0, mirrored = 0, other = 0;
    for (uint64_t s = 0; s < 64; s++) {
        uint64_t r = s;
        vssm_random_resized_crop(&im, 9, 1.0, 1, VSSM_INTERP_BICUBIC, &r, &o1, &e);
        int same = !memcmp(o1.data, im.data, 243), mir = 1;
        for (int y = 0; y < 9; y++)
            for (int x = 0; x < 9; x++)
                for (int c = 0; c < 3; c++) mir &= o1.data[(y * 9 + x) * 3 + c] == im.data[(y * 9 + 8 - x) * 3 + c];
        plain += same, mirrored += mir, other += !same && !mir;
        vssm_image_free(&o1);
    }
    TEST_CHECK(other == 0 && plain > 16 && mirrored > 16, "scale 1: the whole image, %d plain, %d mirrored, %d other",
               plain, mirrored, other);
    uint64_t r1 = 42, r2 = 42;
    vssm_random_resized_crop(&im, 5, 0.08, 1, VSSM_INTERP_BILINEAR, &r1, &o1, &e);
    vssm_random_resized_crop(&im, 5, 0.08, 1, VSSM_INTERP_BILINEAR, &r2, &o2, &e);
    TEST_CHECK(o1.w == 5 && o1.h == 5 && !memcmp(o1.data, o2.data, 75) && r1 == r2, "a seed gives the same crop");
    vssm_image_free(&o1), vssm_image_free(&o2), vssm_image_free(&im);

    /* the boxes (torchvision's get_params): a 100 x 1 strip fails all 10 tries (every box of
     * aspect 3/4 .. 4/3 and area 100 is ~10 rows tall), so the fallback clamps the whole image
     * to aspect 4/3 (round(1 * 4/3) = 1 column) and centres it: x = (100 - 1) / 2 */
    int box[4];
    uint64_t r = 7;
    vssm_random_resized_crop_box(100, 1, 1.0, &r, box, &e);
    TEST_CHECK(box[0] == 49 && box[1] == 0 && box[2] == 1 && box[3] == 1, "100x1 fallback box %d %d %d %d (49 0 1 1)",
               box[0], box[1], box[2], box[3]);
    /* 2000 boxes of a 10 x 20 image at scale (0.08, 1): inside it, both aspects drawn (wider and
     * taller than square), and full-width boxes other than the fallback's 10 x 13 (w <= W) */
    int inside = 1, wide = 0, tall = 0, fullw = 0;
    r = 11;
    for (int i = 0; i < 2000; i++) {
        vssm_random_resized_crop_box(10, 20, 0.08, &r, box, &e);
        inside &= box[0] >= 0 && box[1] >= 0 && box[2] >= 1 && box[3] >= 1 && box[0] + box[2] <= 10 &&
                  box[1] + box[3] <= 20;
        wide += box[2] * 10 > box[3] * 11, tall += box[2] * 11 < box[3] * 10;
        fullw += box[2] == 10 && box[3] != 13;
    }
    TEST_CHECK(inside && wide > 200 && tall > 200 && fullw > 0,
               "10x20 boxes: inside %d, wider %d, taller %d, full width %d (want 1, > 200, > 200, > 0)", inside, wide,
               tall, fullw);
    r = 5;
    TEST_CHECK(vssm_random_resized_crop_box(0, 20, 0.08, &r, box, &e) == VSSM_ERR_INVALID_ARG && r == 5 &&
                   vssm_random_resized_crop_box(10, 20, 0.0, &r, box, &e) == VSSM_ERR_INVALID_ARG &&
                   strstr(e.msg, "scale 0"),
               "an empty image or scale 0 refused, nothing drawn: %s", e.msg);
}

/* vssm_pad_crop against a window of an explicitly zero-padded copy */
static void test_pad_crop(void) {
    enum { IW = 7, IH = 5, IC = 3, PD = 2, PAD_W = IW + 2 * PD, PAD_H = IH + 2 * PD };
    vssm_image im, o = {0};
    vssm_err e = {0};
    TEST_REQUIRE(vssm_image_alloc(&im, IW, IH, IC, &e) == VSSM_OK, "alloc");
    for (int i = 0; i < IW * IH * IC; i++) im.data[i] = (uint8_t)(1 + i); /* distinct, none black */
    static uint8_t pad[PAD_H][PAD_W][IC];
    memset(pad, 0, sizeof pad);
    for (int y = 0; y < IH; y++)
        for (int x = 0; x < IW; x++)
            for (int c = 0; c < IC; c++) pad[y + PD][x + PD][c] = im.data[(y * IW + x) * IC + c];
    int seen[2 * PD + 1][2 * PD + 1][2], other = 0, n_seen = 0;
    memset(seen, 0, sizeof seen);
    for (uint64_t s = 0; s < 400; s++) {
        uint64_t r = s * 977 + 1;
        TEST_REQUIRE(vssm_pad_crop(&im, PD, 1, &r, &o, &e) == VSSM_OK && o.w == IW && o.h == IH && o.c == IC,
                     "pad crop");
        int hits = 0;
        for (int oy = 0; oy <= 2 * PD; oy++)
            for (int ox = 0; ox <= 2 * PD; ox++)
                for (int m = 0; m < 2; m++) {
                    int same = 1;
                    for (int y = 0; y < IH; y++)
                        for (int x = 0; x < IW; x++)
                            for (int c = 0; c < IC; c++)
                                same &= o.data[(y * IW + x) * IC + c] == pad[oy + y][ox + (m ? IW - 1 - x : x)][c];
                    if (same) seen[oy][ox][m]++, hits++;
                }
        other += hits != 1;
        vssm_image_free(&o);
    }
    for (int oy = 0; oy <= 2 * PD; oy++)
        for (int ox = 0; ox <= 2 * PD; ox++) n_seen += (seen[oy][ox][0] > 0) + (seen[oy][ox][1] > 0);
    TEST_CHECK(other == 0 && n_seen == 2 * (2 * PD + 1) * (2 * PD + 1),
               "pad crop = a window of the zero-padded image: %d of 50 (offset, mirror) seen, %d other", n_seen, other);
    uint64_t r = 5;
    TEST_REQUIRE(vssm_pad_crop(&im, 0, 0, &r, &o, &e) == VSSM_OK, "pad 0");
    TEST_CHECK(!memcmp(o.data, im.data, IW * IH * IC), "pad 0, no flip: the image itself");
    vssm_image_free(&o), vssm_image_free(&im);
}

static void test_usage(void) {
    TEST_CHECK(run("train --data " SAMPLE " --weights " W " --arch vmamba-tiny --out %s/x%s", tmp, "") == 2,
               "--weights and --arch together: exit 2");
    TEST_CHECK(run("train --weights " W " --out %s/x%s", tmp, "") == 2, "no --data: exit 2");
    TEST_CHECK(run("train --data %s/none --weights " W " --out x%s", tmp, "") == 2, "a missing data folder: exit 2");
}

int main(void) {
    if (chdir(VSSM_SOURCE_DIR)) return 1;
    snprintf(tmp, sizeof tmp, "/tmp/vssm_train_cli_XXXXXX");
    TEST_REQUIRE(mkdtemp(tmp), "mkdtemp");
    test_augment();
    test_pad_crop();
    test_usage();
    test_resume();
    test_output_is_a_model();
    test_linear_probe();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmp);
    return test_finish("test_train_cli");
}
