/* tests/test_video_track.c - `vssm track --video` end to end. Frame-exact: the tracking
 * fixture's frames encoded losslessly (FFV1) give the same boxes and scores through --video as
 * the frame folder through --seq, and so do the first frames of opencv-doc's vtest.avi (a real
 * pedestrian video, MS-MPEG-4) against the same frames written to PNG (skipped without
 * opencv-doc; where the ffmpeg command exists, our frames are also checked equal to its PNGs).
 * Also: --json lines (frame, time), --out-video (frame count, --show-every), a truncated clip
 * (the frames before the cut are kept, exit 1, the file named). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "vssm/video.h"

static const char *W = "tests/data/cli/tiny_cls.safetensors";
static const char *SEQ = "tests/data/track/otb/fmnist-01";
static const char *VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
static const char *FAST = "--threads 2 --template-size 64 --search-size 128 --quiet";
static char tmp[64];
static char out[1 << 17], err[1 << 14];

static int run(const char *fmt, const char *a, const char *b, const char *c) {
    char cmd[4096];
    char args[3000];
    snprintf(args, sizeof args, fmt, a, b, c);
    snprintf(cmd, sizeof cmd, "'%s' track --weights %s %s %s", VSSM_BIN, W, FAST, args);
    return test_run_cmd(cmd, out, sizeof out, err, sizeof err);
}

static char *slurp(const char *path) {
    size_t n;
    char *s = test_read_file(path, &n);
    return s ? s : calloc(1, 1);
}

/* the "box" and "score" of each JSON line, in order (what must agree between --seq and --video) */
static void boxes_of(const char *json, char *dst, size_t cap) {
    size_t used = 0;
    dst[0] = 0;
    for (const char *p = strstr(json, "\"box\""); p && used + 1 < cap; p = strstr(p + 1, "\"box\"")) {
        const char *e = strchr(p, '}');
        if (!e) break;
        int n = snprintf(dst + used, cap - used, "%.*s\n", (int)(e - p), p);
        if (n < 0) break;
        used += (size_t)n;
    }
}

/* tracks DIR (--seq) and CLIP (--video, first n frames) from INIT; both outputs must agree exactly */
static void same_boxes(const char *dir, const char *clip, const char *init, int n, const char *what) {
    static char js[1 << 17], jv[1 << 17];
    char a[256], b[256], frames[32];
    snprintf(a, sizeof a, "%s/seq.txt", tmp);
    snprintf(b, sizeof b, "%s/vid.txt", tmp);
    snprintf(frames, sizeof frames, "--frames %d", n);
    char opt[512];
    snprintf(opt, sizeof opt, "--init %s %s --json --out %s", init, frames, a);
    int rc = run("--seq %s %s%s", dir, opt, "");
    TEST_CHECK(rc == 0, "%s: track --seq exits 0 (got %d): %s", what, rc, err);
    boxes_of(out, js, sizeof js);
    snprintf(opt, sizeof opt, "--init %s %s --json --out %s", init, frames, b);
    rc = run("--video %s %s%s", clip, opt, "");
    TEST_CHECK(rc == 0, "%s: track --video exits 0 (got %d): %s", what, rc, err);
    boxes_of(out, jv, sizeof jv);
    char *ta = slurp(a), *tb = slurp(b);
    int lines = 0;
    for (const char *p = tb; *p; p++) lines += *p == '\n';
    TEST_CHECK(lines == n, "%s: %d result lines (want %d)", what, lines, n);
    TEST_CHECK(*ta && !strcmp(ta, tb), "%s: --video and --seq give the same results file", what);
    TEST_CHECK(*js && !strcmp(js, jv),
               "%s: and the same boxes and scores to 3 / 4 decimals in --json:\n%.300s\nvs\n%.300s", what, js, jv);
    free(ta);
    free(tb);
}

/* the first n frames of path as DIR/img/0001.png ...; returns the count written */
static int to_png(const char *path, const char *dir, int n) {
    vssm_err e = {0};
    vssm_video_reader *r;
    char p[256];
    snprintf(p, sizeof p, "%s/img", dir);
    mkdir(dir, 0777);
    mkdir(p, 0777);
    if (vssm_video_open(&r, path, NULL, &e) != VSSM_OK) return 0;
    vssm_video_frame f = {0};
    int got, k = 0;
    while (k < n && vssm_video_read(r, &f, &got, &e) == VSSM_OK && got) {
        snprintf(p, sizeof p, "%s/img/%04d.png", dir, ++k);
        if (vssm_image_write_png(p, &f.image, &e) != VSSM_OK) break;
    }
    vssm_image_free(&f.image);
    vssm_video_close(r);
    return k;
}

static void fixture(void) {
    char clip[128], dir[128], init[64] = "";
    FILE *g = fopen(VSSM_SOURCE_DIR "/tests/data/track/otb/fmnist-01/groundtruth_rect.txt", "r");
    TEST_REQUIRE(g && fgets(init, sizeof init, g), "fixture ground truth");
    fclose(g);
    init[strcspn(init, "\r\n")] = 0;
    vssm_err e = {0};
    vssm_video_writer *w;
    snprintf(clip, sizeof clip, "%s/fixture.mkv", tmp);
    vssm_video_writer_opts o = {10, 1, "ffv1", 0};
    vssm_image im = {0};
    for (int i = 0; i < 10; i++) {
        char p[256];
        snprintf(p, sizeof p, VSSM_SOURCE_DIR "/%s/img/%04d.jpg", SEQ, i + 1);
        TEST_REQUIRE(vssm_image_load(&im, p, NULL, &e) == VSSM_OK, "%s", e.msg);
        if (i == 0) TEST_REQUIRE(vssm_video_writer_open(&w, clip, im.w, im.h, &o, &e) == VSSM_OK, "%s", e.msg);
        TEST_REQUIRE(vssm_video_write(w, &im, &e) == VSSM_OK, "%s", e.msg);
        vssm_image_free(&im);
    }
    TEST_REQUIRE(vssm_video_writer_close(w, &e) == VSSM_OK, "%s", e.msg);
    same_boxes(SEQ, clip, init, 10, "fixture (FFV1)");

    /* --json: frame k at k/10 s; --out-video with --show-every 3: frames 0, 3, 6, 9 */
    snprintf(dir, sizeof dir, "%s/boxes.mp4", tmp);
    int rc = run("--video %s --init %s --json --out-video %s --show-every 3", clip, init, dir);
    TEST_CHECK(rc == 0 && strstr(err, "wrote"), "--out-video exits 0 (got %d): %s", rc, err);
    TEST_CHECK(strstr(out, "\"frame\": 9, \"time\": 0.900000") && strstr(out, "\"frame\": 0, \"time\": 0.000000"),
               "--json lines carry the frame index and time: %.200s", out);
    char *lines = out;
    int n = 0;
    while ((lines = strchr(lines, '\n'))) n++, lines++;
    TEST_CHECK(n == 10, "10 JSON lines (%d)", n);
    char shown[128];
    snprintf(shown, sizeof shown, "%s/shown", tmp);
    TEST_CHECK(to_png(dir, shown, 100) == 4, "--show-every 3 of 10 frames writes 4");
}

static void truncated(void) {
    char clip[128], cut[128], res[128];
    snprintf(clip, sizeof clip, "%s/fixture.mkv", tmp); /* made by fixture(): re-encode as AVI (a frame count) */
    snprintf(cut, sizeof cut, "%s/cut.avi", tmp);
    snprintf(res, sizeof res, "%s/cut.txt", tmp);
    vssm_err e = {0};
    vssm_video_reader *r;
    vssm_video_writer *w = NULL;
    vssm_video_writer_opts o = {10, 1, "ffv1", 0};
    TEST_REQUIRE(vssm_video_open(&r, clip, NULL, &e) == VSSM_OK, "%s", e.msg);
    vssm_video_frame f = {0};
    int got;
    while (vssm_video_read(r, &f, &got, &e) == VSSM_OK && got) {
        if (!w) TEST_REQUIRE(vssm_video_writer_open(&w, cut, f.image.w, f.image.h, &o, &e) == VSSM_OK, "%s", e.msg);
        TEST_REQUIRE(vssm_video_write(w, &f.image, &e) == VSSM_OK, "%s", e.msg);
    }
    vssm_image_free(&f.image);
    vssm_video_close(r);
    TEST_REQUIRE(vssm_video_writer_close(w, &e) == VSSM_OK, "%s", e.msg);
    size_t n;
    char *b = test_read_file(cut, &n);
    TEST_REQUIRE(b, "read %s", cut);
    FILE *fo = fopen(cut, "wb");
    TEST_REQUIRE(fo && fwrite(b, 1, n * 6 / 10, fo) == n * 6 / 10 && fclose(fo) == 0, "cut %s", cut);
    free(b);
    int rc = run("--video %s --init 70,45,22,28 --out %s%s", cut, res, "");
    char *t = slurp(res);
    int lines = 0;
    for (const char *p = t; *p; p++) lines += *p == '\n';
    TEST_CHECK(rc == 1 && strstr(err, cut) && strstr(err, "truncated"), "a cut clip: exit 1 naming it (%d): %s", rc,
               err);
    TEST_CHECK(lines > 0 && lines < 10, "the frames before the cut are kept (%d lines)", lines);
    free(t);
}

/* our frames of vtest.avi against the ffmpeg command's, where it is installed */
static void vs_ffmpeg(const char *dir) {
    char cmd[512], p[256], q[256];
    if (system("command -v ffmpeg >/dev/null 2>&1") != 0) {
        printf("  (no ffmpeg command: frames not compared with it)\n");
        return;
    }
    snprintf(p, sizeof p, "%s/ff", tmp);
    mkdir(p, 0777);
    snprintf(cmd, sizeof cmd, "ffmpeg -v error -i %s -frames:v 12 %s/%%04d.png", VTEST, p);
    TEST_REQUIRE(system(cmd) == 0, "%s", cmd);
    int same = 1;
    for (int k = 1; k <= 12; k++) {
        vssm_image a = {0}, b = {0};
        vssm_err e = {0};
        snprintf(p, sizeof p, "%s/ff/%04d.png", tmp, k);
        snprintf(q, sizeof q, "%s/img/%04d.png", dir, k);
        same &= vssm_image_load(&a, p, NULL, &e) == VSSM_OK && vssm_image_load(&b, q, NULL, &e) == VSSM_OK &&
                a.w == b.w && a.h == b.h && !memcmp(a.data, b.data, (size_t)a.w * a.h * 3);
        vssm_image_free(&a);
        vssm_image_free(&b);
    }
    TEST_CHECK(same, "vtest.avi: our 12 frames equal 'ffmpeg -i vtest.avi %%04d.png' byte for byte");
}

int main(void) {
    if (!vssm_video_available()) {
        int rc = run("--video x.mp4 --init 1,1,5,5 --json%s%s%s", "", "", "");
        TEST_CHECK(rc != 0 && strstr(err, "without video support"), "a build without video says so: %s", err);
        test_finish("test_video_track");
        test_skip("built without video support");
    }
    snprintf(tmp, sizeof tmp, "/tmp/vssm_vtrack_XXXXXX");
    TEST_REQUIRE(mkdtemp(tmp), "mkdtemp");
    fixture();
    truncated();
    if (access(VTEST, R_OK) == 0) {
        char dir[128];
        snprintf(dir, sizeof dir, "%s/vtest", tmp);
        TEST_REQUIRE(to_png(VTEST, dir, 12) == 12, "12 frames of vtest.avi to PNG");
        same_boxes(dir, VTEST, "640,240,46,82", 12, "vtest.avi (MS-MPEG-4)");
        vs_ffmpeg(dir);
    } else {
        printf("  (no %s: apt-get install opencv-doc; the real-video check skipped)\n", VTEST);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) printf("  could not remove %s\n", tmp);
    return test_finish("test_video_track");
}
