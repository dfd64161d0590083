/* tests/test_seg_guard.c - `vssm segment` and `vssm eval seg` keep to the CLI contract
 * (the user-test defects of the segmentation verbs):
 *  1. outputs never over inputs: --out equal to an input folder or file is exit 2 and
 *     nothing is touched; --out inside the input folder is skipped on a second run (no
 *     masks/masks/); an output that would be an input file is refused (exit 1); --save-pred
 *     equal to / inside the labels or images folder is exit 2.
 *  2. no labelled pixel (gt all ignore): said on stderr, JSON nulls, exit 1.
 *  3. SIGINT during --overlay writes leaves no PATH.XXXXXX temp file.
 *  4. bad option values (--crop -5, --stride -1, --scale 64,48abc, --threads -1, ...) and a
 *     slide stride over the crop are exit 2, named.
 *  5. a missing item (voc split id without image, pairs label missing) is named, the rest
 *     scored, exit 1; no speed line when nothing ran; a bad predicted class names the
 *     prediction file; the pixel-limit message names --max-pixels. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "testutil.h"
#include "vssm/seg_eval.h"

static char tmp[256];
static char out[1 << 16], errb[1 << 14];
static const char *W = VSSM_SOURCE_DIR "/tests/data/seg/tiny_upernet.pth";

static int run(const char *cmd) { return test_run_cmd(cmd, out, sizeof out, errb, sizeof errb); }

/* a w x h label map of value v (or pattern from v0 when v < 0) */
static void put_map(const char *path, int w, int h, int v) {
    uint8_t pal[768], *lab = malloc((size_t)w * h);
    TEST_REQUIRE(lab != NULL, "malloc");
    vssm_seg_palette_voc(pal);
    for (int i = 0; i < w * h; i++) lab[i] = (uint8_t)(v >= 0 ? v : i % 3);
    vssm_err err = {0};
    TEST_REQUIRE(vssm_label_png_write(path, lab, w, h, pal, &err) == VSSM_OK, "%s", err.msg);
    free(lab);
}

static int same_bytes(const char *a, const char *b) {
    size_t na, nb;
    char *x = test_read_file(a, &na), *y = test_read_file(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

/* the number of names in dir containing needle */
static int count_names(const char *dir, const char *needle) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, needle) != NULL;
    if (d) closedir(d);
    return n;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_outputs_over_inputs(void) {
    char cmd[4096], img[300], bak[300], p[512], q[512];
    snprintf(img, sizeof img, "%s/img", tmp);
    snprintf(bak, sizeof bak, "%s/bak", tmp);
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s %s && cp tests/data/images/dog_128x96.png tests/data/images/camera_160x120_gray.png %s/ && "
             "cp %s/* %s/",
             img, bak, img, img, bak);
    TEST_REQUIRE(run(cmd) == 0, "copy images: %s", errb);

    /* --out is the input folder: the images were replaced by label maps, exit 0 */
    snprintf(cmd, sizeof cmd, "'%s' segment --weights %s --scale 0,0 --threads 2 --out %s %s", VSSM_BIN, W, img, img);
    int rc = run(cmd);
    snprintf(p, sizeof p, "%s/dog_128x96.png", img), snprintf(q, sizeof q, "%s/dog_128x96.png", bak);
    TEST_CHECK(rc == 2 && strstr(errb, "is the input") && same_bytes(p, q),
               "--out DIR DIR: refused (exit 2), the input untouched (rc %d): %s", rc, errb);
    /* --out is an input file */
    snprintf(cmd, sizeof cmd, "'%s' segment --weights %s --out %s %s", VSSM_BIN, W, p, p);
    rc = run(cmd);
    TEST_CHECK(rc == 2 && strstr(errb, "is the input") && same_bytes(p, q), "--out FILE FILE: exit 2 (rc %d): %s", rc,
               errb);
    /* an output that is an input file (--out . x.png): refused and named, the image untouched */
    snprintf(cmd, sizeof cmd, "cd %s && '%s' segment --weights %s --scale 0,0 --threads 2 --out . dog_128x96.png", img,
             VSSM_BIN, W);
    rc = run(cmd);
    TEST_CHECK(rc == 1 && strstr(errb, "is an input of this run") && same_bytes(p, q),
               "--out . x.png: the image is not written over (rc %d): %s", rc, errb);

    /* --out inside the input folder, run twice: the second run does not segment the first's masks */
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, "'%s' segment --weights %s --scale 0,0 --threads 2 --out %s/masks %s", VSSM_BIN, W,
                 img, img);
        rc = run(cmd);
    }
    snprintf(p, sizeof p, "%s/masks/masks", img);
    int lines = 0;
    for (const char *s = out; (s = strstr(s, " -> ")); s++) lines++;
    TEST_CHECK(rc == 0 && lines == 2 && access(p, F_OK) != 0 && strstr(errb, "skipped") &&
                   strstr(errb, "segmented 2 images, 0 failed"),
               "second run over its own --out: 2 images, masks/masks absent, a note (rc %d, %d lines): %s", rc, lines,
               errb);

    /* eval seg --save-pred into the labels folder, or inside the images folder: exit 2, gt untouched */
    char lab[320];
    snprintf(lab, sizeof lab, "%s/masks", img);
    snprintf(p, sizeof p, "%s/dog_128x96.png", lab), snprintf(q, sizeof q, "%s/gt_copy.png", tmp);
    snprintf(cmd, sizeof cmd, "cp %s %s", p, q);
    TEST_REQUIRE(run(cmd) == 0, "copy gt");
    const char *want[3] = {"is the dataset's label maps folder", "is inside the dataset's label maps folder",
                           "is inside the dataset's images folder"};
    for (int k = 0; k < 3; k++) {
        char dst[512];
        if (k == 0) snprintf(dst, sizeof dst, "%s", lab);
        if (k == 1) snprintf(dst, sizeof dst, "%s/sub", lab);
        if (k == 2) snprintf(dst, sizeof dst, "%s/../img/preds", img); /* the images read from img itself */
        snprintf(cmd, sizeof cmd,
                 "'%s' eval seg --weights %s --scale 0,0 --threads 2 --dataset pairs %s --labels-dir %s --save-pred %s",
                 VSSM_BIN, W, k == 2 ? img : bak, lab, dst);
        rc = run(cmd);
        TEST_CHECK(rc == 2 && strstr(errb, want[k]) && same_bytes(p, q),
                   "--save-pred %s: exit 2 '%s', the ground truth untouched (rc %d): %s", dst, want[k], rc, errb);
    }
}

static void test_nothing_labelled(void) {
    char cmd[4096], g[300], pr[300], p[400];
    snprintf(g, sizeof g, "%s/g_ign", tmp), snprintf(pr, sizeof pr, "%s/p_ign", tmp);
    mkdir(g, 0777), mkdir(pr, 0777);
    snprintf(p, sizeof p, "%s/a.png", g), put_map(p, 4, 3, 255);
    snprintf(p, sizeof p, "%s/a.png", pr), put_map(p, 4, 3, 0);
    snprintf(cmd, sizeof cmd, "'%s' eval seg --pred %s --gt %s --classes 11 --json", VSSM_BIN, pr, g);
    int rc = run(cmd);
    cJSON *j = cJSON_Parse(out);
    TEST_CHECK(rc == 1 && strstr(errb, "no pixel") && strstr(errb, "undefined") && j &&
                   cJSON_IsNull(cJSON_GetObjectItem(j, "mIoU")) && cJSON_IsNull(cJSON_GetObjectItem(j, "aAcc")),
               "gt all ignore, --pred/--gt: said on stderr, nulls, exit 1 (rc %d): %s / %s", rc, errb, out);
    cJSON_Delete(j);
    /* --dataset pairs with label maps all 255 */
    snprintf(g, sizeof g, "%s/lab_ign", tmp);
    mkdir(g, 0777);
    snprintf(p, sizeof p, "%s/dog_128x96.png", g), put_map(p, 128, 96, 255);
    snprintf(p, sizeof p, "%s/camera_160x120_gray.png", g), put_map(p, 160, 120, 255);
    snprintf(cmd, sizeof cmd,
             "'%s' eval seg --weights %s --scale 0,0 --threads 2 --dataset pairs %s/bak --labels-dir %s", VSSM_BIN, W,
             tmp, g);
    rc = run(cmd);
    TEST_CHECK(rc == 1 && strstr(errb, "no pixel of the 2 scored images is labelled"),
               "gt all ignore, --dataset pairs: said, exit 1 (rc %d): %s", rc, errb);
}

/* Ctrl-C while segment --overlay writes: SIGINT at several moments after the first output
 * appears; no PATH.XXXXXX may remain. (Without the held-signal writes most runs left one.) */
static void test_sigint(void) {
    char many[300], ov[300], cmd[4096];
    snprintf(many, sizeof many, "%s/many", tmp);
    snprintf(
        cmd, sizeof cmd,
        "mkdir -p %s && for i in 1 2 3 4 5 6 7 8 9 10; do cp tests/data/images/dog_400x300_420.jpg %s/im$i.jpg; done",
        many, many);
    TEST_REQUIRE(run(cmd) == 0, "copy images");
    int kills = 0, temps = 0;
    for (int k = 0; k < 5; k++) {
        snprintf(ov, sizeof ov, "%s/ov%d", tmp, k);
        pid_t pid = fork();
        TEST_REQUIRE(pid >= 0, "fork");
        if (pid == 0) {
            signal(SIGINT, SIG_DFL); /* a shell may have left it ignored, which the verb keeps */
            if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(127);
            execl(VSSM_BIN, VSSM_BIN, "segment", "--weights",
                  VSSM_SOURCE_DIR "/weights/seg_demo/vmamba_seg_demo.safetensors", "--threads", "1", "--overlay",
                  "--out", ov, many, (char *)NULL);
            _exit(127);
        }
        /* wait for the first label map, then a little more each round */
        for (int t = 0; t < 3000 && count_names(ov, ".png") == 0; t++) sleep_ms(2);
        sleep_ms(7 + 23 * k);
        kill(pid, SIGINT);
        int st = 0;
        waitpid(pid, &st, 0);
        kills += WIFSIGNALED(st) && WTERMSIG(st) == SIGINT;
        temps += count_names(ov, ".png.");
    }
    TEST_CHECK(temps == 0, "SIGINT during --overlay writes: %d PATH.XXXXXX temp files left (of %d interrupted runs)",
               temps, kills);
    TEST_CHECK(kills > 0, "at least one run was interrupted (%d)", kills);
}

static void test_option_values(void) {
    const char *bad[][2] = {
        {"--mode slide --crop -5", "--crop"},
        {"--mode slide --stride -1", "--stride"},
        {"--crop 0", "--crop"},
        {"--scale 64,48,3", "--scale"},
        {"--scale 64,48abc", "--scale"},
        {"--scale 64", "--scale"},
        {"--threads -1", "--threads"},
        {"--threads=-2", "--threads"},
        {"--max-pixels -3", "--max-pixels"},
        {"--mode slide --crop 32 --stride 64", "larger than its crop"},
    };
    char cmd[4096];
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        snprintf(cmd, sizeof cmd, "'%s' segment --weights %s %s --out %s/o_opt %s/bak", VSSM_BIN, W, bad[k][0], tmp,
                 tmp);
        int rc = run(cmd);
        TEST_CHECK(rc == 2 && strstr(errb, bad[k][1]), "segment %s: exit 2 naming %s (rc %d): %s", bad[k][0], bad[k][1],
                   rc, errb);
        snprintf(cmd, sizeof cmd, "'%s' eval seg --weights %s %s --dataset pairs %s/bak --labels-dir %s/img/masks",
                 VSSM_BIN, W, bad[k][0], tmp, tmp);
        rc = run(cmd);
        TEST_CHECK(rc == 2 && strstr(errb, bad[k][1]), "eval seg %s: exit 2 naming %s (rc %d): %s", bad[k][0],
                   bad[k][1], rc, errb);
    }
    snprintf(cmd, sizeof cmd, "'%s' eval seg --pred %s/p_ign --gt %s/g_ign --classes 11 --ignore-index -1", VSSM_BIN,
             tmp, tmp);
    TEST_CHECK(run(cmd) == 2 && strstr(errb, "--ignore-index"), "--ignore-index -1: exit 2: %s", errb);
}

static void test_exit_codes(void) {
    char cmd[4096], p[400];
    /* voc: one split id has no image -> named, the other scored, exit 1 */
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/voc/JPEGImages %s/voc/SegmentationClass %s/voc/ImageSets/Segmentation && "
             "cp tests/data/images/dog_400x300_420.jpg %s/voc/JPEGImages/a.jpg && "
             "printf 'a\\nb\\n' > %s/voc/ImageSets/Segmentation/val.txt && "
             "printf 'b\\n' > %s/voc/ImageSets/Segmentation/none.txt",
             tmp, tmp, tmp, tmp, tmp, tmp);
    TEST_REQUIRE(run(cmd) == 0, "voc tree: %s", errb);
    snprintf(p, sizeof p, "%s/voc/SegmentationClass/a.png", tmp), put_map(p, 400, 300, -1);
    snprintf(cmd, sizeof cmd, "'%s' eval seg --weights %s --scale 0,0 --threads 2 --dataset voc %s/voc --json",
             VSSM_BIN, W, tmp);
    int rc = run(cmd);
    cJSON *j = cJSON_Parse(out);
    TEST_CHECK(rc == 1 && strstr(errb, "JPEGImages/b.jpg") && j && cJSON_GetObjectItem(j, "images")->valueint == 1,
               "voc with a missing image: named, the rest scored, exit 1 (rc %d): %s", rc, errb);
    cJSON_Delete(j);
    snprintf(cmd, sizeof cmd, "'%s' eval seg --weights %s --dataset voc %s/voc --split none", VSSM_BIN, W, tmp);
    rc = run(cmd);
    TEST_CHECK(rc == 2 && strstr(errb, "b.jpg"), "voc with no complete item: exit 2, named (rc %d): %s", rc, errb);
    /* pairs: one label map missing */
    snprintf(cmd, sizeof cmd, "mkdir -p %s/lab1 && cp %s/img/masks/dog_128x96.png %s/lab1/", tmp, tmp, tmp);
    TEST_REQUIRE(run(cmd) == 0, "lab1");
    snprintf(cmd, sizeof cmd,
             "'%s' eval seg --weights %s --scale 0,0 --threads 2 --dataset pairs %s/bak --labels-dir %s/lab1 --json",
             VSSM_BIN, W, tmp, tmp);
    rc = run(cmd);
    j = cJSON_Parse(out);
    TEST_CHECK(rc == 1 && strstr(errb, "lab1/camera_160x120_gray.png: label map missing") && j &&
                   cJSON_GetObjectItem(j, "images")->valueint == 1 &&
                   cJSON_GetObjectItem(j, "aAcc")->valuedouble == 100.0,
               "pairs with a missing label map: named, the rest scored, exit 1 (rc %d): %s", rc, errb);
    cJSON_Delete(j);

    /* nothing processed: no speed line */
    snprintf(cmd, sizeof cmd, "mkdir -p %s/junk %s/junklab && echo junk > %s/junk/x.png", tmp, tmp, tmp);
    TEST_REQUIRE(run(cmd) == 0, "junk");
    snprintf(p, sizeof p, "%s/junklab/x.png", tmp), put_map(p, 3, 3, 1);
    snprintf(cmd, sizeof cmd, "'%s' segment --weights %s --out %s/o_junk %s/junk", VSSM_BIN, W, tmp, tmp);
    rc = run(cmd);
    TEST_CHECK(rc == 1 && strstr(errb, "segmented 0 images, 1 failed") && !strstr(errb, "speed"),
               "segment with 0 segmented: no speed line (rc %d): %s", rc, errb);
    snprintf(cmd, sizeof cmd, "'%s' eval seg --weights %s --dataset pairs %s/junk --labels-dir %s/junklab", VSSM_BIN, W,
             tmp, tmp);
    rc = run(cmd);
    TEST_CHECK(rc == 1 && !strstr(out, "speed") && strstr(errb, "none could be scored"),
               "eval seg with 0 scored: no speed line (rc %d): %s", rc, out);

    /* a bad predicted class names the prediction file, not the ground truth */
    char g[300], pr[300];
    snprintf(g, sizeof g, "%s/g_bad", tmp), snprintf(pr, sizeof pr, "%s/p_bad", tmp);
    mkdir(g, 0777), mkdir(pr, 0777);
    snprintf(p, sizeof p, "%s/a.png", g), put_map(p, 4, 3, 1);
    snprintf(p, sizeof p, "%s/a.png", pr), put_map(p, 4, 3, 40);
    snprintf(cmd, sizeof cmd, "'%s' eval seg --pred %s --gt %s --classes 11", VSSM_BIN, pr, g);
    rc = run(cmd);
    TEST_CHECK(rc == 1 && strstr(errb, "p_bad/a.png: predicted class 40") && !strstr(errb, "g_bad/a.png"),
               "a bad predicted class names the prediction (rc %d): %s", rc, errb);

    /* the pixel-limit message names the CLI option */
    snprintf(cmd, sizeof cmd, "'%s' segment --weights %s --max-pixels 1000 --out %s/o_lim %s/bak/dog_128x96.png",
             VSSM_BIN, W, tmp, tmp);
    rc = run(cmd);
    TEST_CHECK(rc == 1 && strstr(errb, "--max-pixels") && !strstr(errb, "vssm_image_limits"),
               "pixel limit: names --max-pixels (rc %d): %s", rc, errb);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/vssm_seg_guard_%d", (int)getpid());
    mkdir(tmp, 0777);
    test_outputs_over_inputs();
    test_nothing_labelled();
    test_option_values();
    test_exit_codes();
    test_sigint();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) {}
    return test_finish("test_seg_guard");
}
