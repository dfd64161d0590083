/* tests/test_seg_cli.c - `vssm eval seg` and `vssm segment` end to end: the METRICS.md
 * worked example scored from PNG folders (text and JSON), named errors for size mismatch,
 * out-of-range labels and missing files (exit 1), usage errors (exit 2); `vssm segment`
 * writes palette label maps + overlays, and scoring them with the pairs layout gives 100.
 * Issue 16: valid JSON (null) when nothing is scored, outputs through unique temp files,
 * link cycles in the input folder walked once, --max-pixels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "testutil.h"
#include "vssm/seg_eval.h"

static char tmp[256];
static char out[1 << 16], errb[1 << 14];

static int run(const char *cmd) { return test_run_cmd(cmd, out, sizeof out, errb, sizeof errb); }

static void put(const char *dir, const char *name, const int *v, int w, int h) {
    uint8_t pal[768], lab[64];
    vssm_seg_palette_voc(pal);
    for (int i = 0; i < w * h; i++) lab[i] = (uint8_t)v[i];
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    vssm_err err = {0};
    TEST_REQUIRE(vssm_label_png_write(p, lab, w, h, pal, &err) == VSSM_OK, "%s", err.msg);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/vssm_seg_cli_%d", (int)getpid());
    char gt[300], pr[300], cmd[2048];
    snprintf(gt, sizeof gt, "%s/gt", tmp);
    snprintf(pr, sizeof pr, "%s/pred", tmp);
    mkdir(tmp, 0777), mkdir(gt, 0777), mkdir(pr, 0777);
    const int ga[] = {0, 0, 1, 1, 2, 255}, pa[] = {0, 1, 1, 1, 1, 0}, gb[] = {0, 0, 0, 255}, pb[] = {0, 0, 2, 2};
    put(gt, "a.png", ga, 3, 2), put(pr, "a.png", pa, 3, 2);
    put(gt, "b.png", gb, 2, 2), put(pr, "b.png", pb, 2, 2);

    snprintf(cmd, sizeof cmd, "'%s' eval seg --pred %s --gt %s --classes 3 --json", VSSM_BIN, pr, gt);
    int rc = run(cmd);
    TEST_CHECK(rc == 0, "scoring exits 0 (got %d): %s", rc, errb);
    cJSON *j = cJSON_Parse(out);
    TEST_REQUIRE(j != NULL, "JSON output: %s", out);
    double aacc = cJSON_GetObjectItem(j, "aAcc")->valuedouble, miou = cJSON_GetObjectItem(j, "mIoU")->valuedouble;
    double macc = cJSON_GetObjectItem(j, "mAcc")->valuedouble;
    TEST_CHECK(aacc == 62.5 && miou > 36.66 && miou < 36.67 && macc > 53.33 && macc < 53.34,
               "worked example aAcc 62.5 mIoU 36.67 mAcc 53.33: %.4f %.4f %.4f", aacc, miou, macc);
    cJSON *pc = cJSON_GetObjectItem(j, "per_class");
    TEST_CHECK(cJSON_GetArraySize(pc) == 3 &&
                   !strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(pc, 1), "name")->valuestring, "class1"),
               "per_class list of {name, iou, acc}");
    cJSON_Delete(j);

    snprintf(cmd, sizeof cmd, "'%s' eval seg --pred %s --gt %s --classes 4", VSSM_BIN, pr, gt);
    rc = run(cmd);
    TEST_CHECK(rc == 0 && strstr(out, "nan") && strstr(out, "mIoU 36.67"),
               "text table: class 3 is nan and left out of the means: %s", out);

    /* errors */
    const int big[] = {0, 0, 1, 1, 2, 2, 0, 0};
    put(pr, "c.png", big, 4, 2), put(gt, "c.png", big, 2, 4);
    const int oob[] = {0, 7, 1, 1};
    put(gt, "d.png", oob, 2, 2), put(pr, "d.png", oob, 2, 2);
    put(gt, "e.png", oob, 2, 2); /* no prediction */
    snprintf(cmd, sizeof cmd, "'%s' eval seg --pred %s --gt %s --classes 3", VSSM_BIN, pr, gt);
    rc = run(cmd);
    TEST_CHECK(rc == 1, "bad inputs exit 1 (got %d)", rc);
    TEST_CHECK(strstr(errb, "pred/c.png: prediction is 4x2 but the ground truth") != NULL, "size mismatch named: %s",
               errb);
    TEST_CHECK(strstr(errb, "gt/d.png: label 7 at (x 1, y 0)") != NULL, "label >= classes named: %s", errb);
    TEST_CHECK(strstr(errb, "pred/e.png: cannot open") != NULL, "missing prediction named: %s", errb);
    TEST_CHECK(strstr(out, "mIoU 36.67") != NULL, "the good images are still scored: %s", out);
    snprintf(cmd, sizeof cmd, "'%s' eval seg --pred %s --gt %s", VSSM_BIN, pr, gt);
    TEST_CHECK(run(cmd) == 2, "missing --classes is a usage error");

    /* vssm segment + eval over the pairs layout */
    char img[300], seg[300];
    snprintf(img, sizeof img, "%s/img", tmp);
    snprintf(seg, sizeof seg, "%s/seg", tmp);
    mkdir(img, 0777);
    snprintf(cmd, sizeof cmd, "cp tests/data/images/dog_128x96.png tests/data/images/camera_160x120_gray.png %s/", img);
    TEST_REQUIRE(run(cmd) == 0, "copy images");
    snprintf(cmd, sizeof cmd,
             "'%s' segment --weights tests/data/seg/tiny_upernet.pth --scale 0,0 --threads 2 --overlay --out %s %s",
             VSSM_BIN, seg, img);
    rc = run(cmd);
    TEST_CHECK(rc == 0, "segment exits 0 (got %d): %s", rc, errb);
    char p[512];
    snprintf(p, sizeof p, "%s/dog_128x96.png", seg);
    vssm_label_map m;
    vssm_err err = {0};
    TEST_CHECK(vssm_label_map_load(&m, p, &err) == VSSM_OK && m.w == 128 && m.h == 96, "palette label map 128x96: %s",
               err.msg);
    int okv = 1;
    for (int i = 0; m.data && i < m.w * m.h; i++) okv &= m.data[i] < 5;
    TEST_CHECK(okv, "labels are classes 0..4");
    vssm_label_map_free(&m);
    snprintf(p, sizeof p, "%s/camera_160x120_gray_overlay.png", seg);
    TEST_CHECK(access(p, R_OK) == 0, "overlay written: %s", p);
    snprintf(p, sizeof p, "%s/camera_160x120_gray_overlay.png", seg);
    remove(p);
    snprintf(p, sizeof p, "%s/dog_128x96_overlay.png", seg);
    remove(p);
    snprintf(cmd, sizeof cmd,
             "'%s' eval seg --weights tests/data/seg/tiny_upernet.pth --scale 0,0 --threads 2 --dataset pairs %s "
             "--labels-dir %s --json",
             VSSM_BIN, img, seg);
    rc = run(cmd);
    j = cJSON_Parse(out);
    TEST_CHECK(rc == 0 && j && cJSON_GetObjectItem(j, "aAcc")->valuedouble == 100.0,
               "the model scored against its own label maps: aAcc 100 (rc %d): %s %s", rc, out, errb);
    cJSON_Delete(j);
    /* --save-pred DIR is created when missing (every write failed, exit 1) */
    snprintf(cmd, sizeof cmd,
             "'%s' eval seg --weights tests/data/seg/tiny_upernet.pth --scale 0,0 --threads 2 --dataset pairs %s "
             "--labels-dir %s --save-pred %s/saved",
             VSSM_BIN, img, seg, tmp);
    rc = run(cmd);
    snprintf(p, sizeof p, "%s/saved/dog_128x96.png", tmp);
    TEST_CHECK(rc == 0 && access(p, R_OK) == 0, "--save-pred into a new folder (rc %d): %s", rc, errb);
    snprintf(cmd, sizeof cmd, "'%s' segment --weights tests/data/seg/tiny_upernet.pth --out %s /nonexistent.png",
             VSSM_BIN, seg);
    TEST_CHECK(run(cmd) == 1 && strstr(errb, "/nonexistent.png"), "a missing image is named, exit 1: %s", errb);
    snprintf(cmd, sizeof cmd, "'%s' segment --weights tests/data/cli/tiny_cls.safetensors --out %s %s", VSSM_BIN, seg,
             img);
    TEST_CHECK(run(cmd) == 2 && strstr(errb, "conv_seg"),
               "classification weights: usage exit 2 naming the missing head: %s", errb);

    /* Issue 16: nothing scored. The JSON said "mIoU": nan (not JSON) and exited 0 or 1 by
     * accident: now undefined metrics are null, exit 1 (inputs failed, named); no label
     * maps at all is exit 2. */
    char gt2[300], pr2[300], empty[300];
    snprintf(gt2, sizeof gt2, "%s/gt2", tmp);
    snprintf(pr2, sizeof pr2, "%s/pred2", tmp);
    snprintf(empty, sizeof empty, "%s/empty", tmp);
    mkdir(gt2, 0777), mkdir(pr2, 0777), mkdir(empty, 0777);
    put(gt2, "z.png", ga, 3, 2); /* its prediction is missing */
    snprintf(cmd, sizeof cmd, "'%s' eval seg --pred %s --gt %s --classes 3 --json", VSSM_BIN, pr2, gt2);
    rc = run(cmd);
    j = cJSON_Parse(out);
    TEST_CHECK(j != NULL, "nothing scored: stdout is still valid JSON: %s", out);
    TEST_CHECK(rc == 1 && strstr(errb, "pred2/z.png") && strstr(errb, "none could be scored"),
               "nothing scored: exit 1, the failure named (rc %d): %s", rc, errb);
    if (j) {
        TEST_CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "mIoU")) && cJSON_IsNull(cJSON_GetObjectItem(j, "aAcc")) &&
                       cJSON_IsNull(cJSON_GetObjectItem(j, "mAcc")) && cJSON_IsNull(cJSON_GetObjectItem(j, "mDice")) &&
                       cJSON_GetObjectItem(j, "images")->valueint == 0,
                   "undefined metrics are null, images 0: %s", out);
        cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "per_class"), 0);
        TEST_CHECK(c0 && cJSON_IsNull(cJSON_GetObjectItem(c0, "iou")), "per-class null too");
    }
    cJSON_Delete(j);
    /* a named pipe where a prediction should be blocked the run forever in fopen */
    snprintf(cmd, sizeof cmd, "mkfifo %s/z.png && timeout 30 '%s' eval seg --pred %s --gt %s --classes 3", pr2,
             VSSM_BIN, pr2, gt2);
    rc = run(cmd);
    TEST_CHECK(rc == 1 && strstr(errb, "pred2/z.png: the label map is not a regular file"),
               "a FIFO as prediction: named, exit 1 (rc %d): %s", rc, errb);
    snprintf(cmd, sizeof cmd, "'%s' eval seg --pred %s --gt %s --classes 3 --json", VSSM_BIN, pr2, empty);
    rc = run(cmd);
    TEST_CHECK(rc == 2 && strstr(errb, "no .png label maps"), "no label maps at all: exit 2 (rc %d): %s", rc, errb);
    snprintf(cmd, sizeof cmd, "'%s' eval seg --help", VSSM_BIN);
    TEST_CHECK(run(cmd) == 0 && strstr(out, "Exit status") && strstr(out, "null"),
               "--help says the exit codes and null: %s", out);

    /* Issue 16: masks and overlays went through a fixed PATH.tmp: a leftover (or another
     * writer's) PATH.tmp made the output fail. A directory squats on those names here; and
     * a self-link in the input folder must not segment the images twice. */
    char seg2[300];
    snprintf(seg2, sizeof seg2, "%s/seg2", tmp);
    mkdir(seg2, 0777);
    snprintf(cmd, sizeof cmd, "mkdir %s/dog_128x96.png.tmp %s/dog_128x96_overlay.png.tmp && ln -s . %s/self", seg2,
             seg2, img);
    TEST_REQUIRE(run(cmd) == 0, "set up squatters and a self-link: %s", errb);
    snprintf(cmd, sizeof cmd,
             "'%s' segment --weights tests/data/seg/tiny_upernet.pth --scale 0,0 --threads 2 --overlay --out %s %s",
             VSSM_BIN, seg2, img);
    rc = run(cmd);
    TEST_CHECK(rc == 0 && strstr(errb, "segmented 2 images, 0 failed") && strstr(errb, "/self: skipped"),
               "segment with squatted PATH.tmp and a self-link: exit 0, 2 images once (rc %d): %s", rc, errb);
    int outputs = 0, lines = 0;
    for (const char *q = out; (q = strstr(q, " -> ")); q++) lines++;
    snprintf(p, sizeof p, "%s/dog_128x96.png", seg2);
    outputs += vssm_label_map_load(&m, p, &err) == VSSM_OK && m.w == 128 && m.h == 96;
    vssm_label_map_free(&m);
    snprintf(p, sizeof p, "%s/dog_128x96_overlay.png", seg2);
    outputs += access(p, R_OK) == 0;
    TEST_CHECK(outputs == 2 && lines == 2, "mask and overlay written, 2 images listed once each (%d, %d)", outputs,
               lines);
    snprintf(cmd, sizeof cmd,
             "ls -A %s | grep -v -x -e dog_128x96.png -e dog_128x96_overlay.png -e camera_160x120_gray.png "
             "-e camera_160x120_gray_overlay.png -e dog_128x96.png.tmp -e dog_128x96_overlay.png.tmp",
             seg2);
    run(cmd);
    TEST_CHECK(out[0] == 0, "no temp file left behind: %s", out);

    /* Issue 18: outputs mirror the inputs' tree below the folder the PATHs share, so one
     * stem in two folders gives two label maps (it was one, the second refused or, before
     * that, written over the first); one stem twice in one folder (x.png, x.bmp) refuses the
     * second, naming both, and the summary counts each image once. */
    char img2[300], seg3[300];
    snprintf(img2, sizeof img2, "%s/img2", tmp);
    snprintf(seg3, sizeof seg3, "%s/seg3", tmp);
    mkdir(img2, 0777);
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/sub && cp tests/data/images/camera_160x120_gray.png %s/dog_128x96.png && "
             "cp tests/data/images/camera_160x120_gray.png %s/sub/x.png && "
             "cp tests/data/images/dog_128x96.png %s/sub/x.bmp",
             img2, img2, img2, img2);
    TEST_REQUIRE(run(cmd) == 0, "copy");
    snprintf(cmd, sizeof cmd,
             "'%s' segment --weights tests/data/seg/tiny_upernet.pth --scale 0,0 --threads 2 --out %s "
             "%s/dog_128x96.png %s",
             VSSM_BIN, seg3, img, img2);
    rc = run(cmd);
    TEST_CHECK(rc == 1 && strstr(errb, "img2/sub/x.png: not segmented") && strstr(errb, "img2/sub/x.bmp's") &&
                   strstr(errb, "segmented 3 images, 1 failed"),
               "one stem twice in a folder: the second refused naming the first, 3 of 4 done, exit 1 (rc %d): %s", rc,
               errb);
    const char *want[][3] = {
        {"img/dog_128x96.png", "128", "96"}, {"img2/dog_128x96.png", "160", "120"}, {"img2/sub/x.png", "128", "96"}};
    for (int k = 0; k < 3; k++) {
        snprintf(p, sizeof p, "%s/%s", seg3, want[k][0]);
        TEST_CHECK(vssm_label_map_load(&m, p, &err) == VSSM_OK && m.w == atoi(want[k][1]) && m.h == atoi(want[k][2]),
                   "mirrored output %s is the right image's (%dx%d): %s", want[k][0], m.w, m.h, err.msg);
        vssm_label_map_free(&m);
    }

    /* --max-pixels: a limit below the images' size refuses them, each named, exit 1 */
    snprintf(cmd, sizeof cmd,
             "'%s' segment --weights tests/data/seg/tiny_upernet.pth --max-pixels 1000 --out %s %s/dog_128x96.png",
             VSSM_BIN, seg2, img);
    rc = run(cmd);
    TEST_CHECK(rc == 1 && strstr(errb, "dog_128x96.png") && strstr(errb, "limit of 1000 pixels"),
               "--max-pixels 1000 (rc %d): %s", rc, errb);

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) {}
    return test_finish("test_seg_cli");
}
