/* tests/test_video.c - the video reader and writer (datasets/video.c, video_write.c):
 * lossless round trips give the frames back byte for byte with their index and time, the
 * default codecs give them back close (PSNR), odd sizes are padded, the output is written
 * through a temp name, and bad input (missing, not a video, truncated at many lengths,
 * garbage, an absent camera, over the pixel limit) is an error naming the file, never a
 * crash. A build without FFmpeg checks the refusal and skips the rest. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "vssm/video.h"

#define NF 10
static vssm_image frames[NF];
static char tmp[64];

static void load_fixture(void) {
    for (int i = 0; i < NF; i++) {
        char p[256];
        vssm_err err = {0};
        snprintf(p, sizeof p, "%s/track/otb/fmnist-01/img/%04d.jpg", VSSM_TEST_DATA, i + 1);
        TEST_REQUIRE(vssm_image_load(&frames[i], p, NULL, &err) == VSSM_OK, "fixture %s: %s", p, err.msg);
    }
}

static vssm_status write_clip(const char *path, const char *codec, int fps, const vssm_image *fr, int n, char *used) {
    vssm_err err = {0};
    vssm_video_writer_opts o = {fps, 1, codec, 0};
    vssm_video_writer *w;
    vssm_status st = vssm_video_writer_open(&w, path, fr[0].w, fr[0].h, &o, &err);
    if (st != VSSM_OK) {
        printf("  open %s: %s\n", path, err.msg);
        return st;
    }
    if (used) snprintf(used, 32, "%s", vssm_video_writer_codec(w));
    for (int i = 0; i < n && st == VSSM_OK; i++) st = vssm_video_write(w, &fr[i], &err);
    if (st != VSSM_OK) {
        vssm_video_writer_abort(w);
        printf("  write %s: %s\n", path, err.msg);
        return st;
    }
    st = vssm_video_writer_close(w, &err);
    if (st != VSSM_OK) printf("  close %s: %s\n", path, err.msg);
    return st;
}

static double psnr(const vssm_image *a, const vssm_image *b) { /* over a's size, b may be larger */
    double se = 0;
    for (int y = 0; y < a->h; y++)
        for (int x = 0; x < a->w * 3; x++) {
            double d = (double)a->data[(size_t)y * a->w * 3 + x] - b->data[(size_t)y * b->w * 3 + x];
            se += d * d;
        }
    se /= (double)a->w * a->h * 3;
    return se > 0 ? 10 * log10(255.0 * 255.0 / se) : 99;
}

/* the mean |error| of a's last column is within 3x the whole image's + 10 levels (swscale's
 * SIMD garbled the last 2 columns of unaligned rows: ~155 there, ~10 elsewhere) */
static int last_column_ok(const vssm_image *a, const vssm_image *b) {
    double all = 0, last = 0;
    for (int y = 0; y < a->h; y++)
        for (int x = 0; x < a->w * 3; x++) {
            double d = fabs((double)a->data[(size_t)y * a->w * 3 + x] - b->data[(size_t)y * b->w * 3 + x]);
            all += d;
            if (x >= (a->w - 1) * 3) last += d;
        }
    all /= (double)a->w * a->h * 3;
    last /= (double)a->h * 3;
    return last <= 3 * all + 10;
}

/* reads path to the end: frames compared to fr (exact when min_psnr < 0), index and time checked */
static void check_read(const char *path, const vssm_image *fr, int n, int fps, double min_psnr) {
    vssm_err err = {0};
    vssm_video_reader *r;
    TEST_REQUIRE(vssm_video_open(&r, path, NULL, &err) == VSSM_OK, "open %s: %s", path, err.msg);
    const vssm_video_info *in = vssm_video_get_info(r);
    TEST_CHECK(in->fps_num == fps && in->fps_den == 1, "%s: %d/%d fps (want %d)", path, in->fps_num, in->fps_den, fps);
    vssm_video_frame f = {0};
    int got, k = 0, exact = 1, times = 1, edges = 1;
    double worst = 99;
    while (vssm_video_read(r, &f, &got, &err) == VSSM_OK && got) {
        if (k < n) {
            if (min_psnr < 0)
                exact &= f.image.w == fr[k].w && f.image.h == fr[k].h &&
                         !memcmp(f.image.data, fr[k].data, (size_t)fr[k].w * fr[k].h * 3);
            else if (f.image.w >= fr[k].w && f.image.h >= fr[k].h) {
                worst = fmin(worst, psnr(&fr[k], &f.image));
                edges &= last_column_ok(&fr[k], &f.image);
            } else
                worst = 0;
        }
        times &= f.index == k && fabs(f.time_s - (double)k / fps) < 1e-9;
        k++;
    }
    TEST_CHECK(err.status == VSSM_OK, "%s read to the end: %s", path, err.msg);
    TEST_CHECK(k == n, "%s: %d frames back (wrote %d)", path, k, n);
    TEST_CHECK(times, "%s: index k at time k/%d s for every frame", path, fps);
    if (min_psnr < 0)
        TEST_CHECK(exact, "%s (%s): every frame back byte for byte", path, in->codec);
    else {
        TEST_CHECK(worst >= min_psnr, "%s (%s): worst frame PSNR %.1f dB >= %.0f", path, in->codec, worst, min_psnr);
        TEST_CHECK(edges, "%s: the last column as close as the rest (no garbled edge)", path);
    }
    vssm_image_free(&f.image);
    vssm_video_close(r);
}

static int temp_files_left(void) { /* outfile's PATH.XXXXXX names */
    DIR *d = opendir(tmp);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".mkv.") || strstr(e->d_name, ".mp4.") || strstr(e->d_name, ".avi.");
    if (d) closedir(d);
    return n;
}

/* open + read to the end; returns the status; the message must name path */
static vssm_status read_all(const char *path, const vssm_video_opts *o, int *n, char *msg) {
    vssm_err err = {0};
    vssm_video_reader *r;
    *n = 0;
    vssm_status st = vssm_video_open(&r, path, o, &err);
    if (st == VSSM_OK) {
        vssm_video_frame f = {0};
        int got;
        while ((st = vssm_video_read(r, &f, &got, &err)) == VSSM_OK && got) (*n)++;
        vssm_image_free(&f.image);
        vssm_video_close(r);
    }
    snprintf(msg, VSSM_ERR_MSG_MAX, "%s", err.msg);
    if (st != VSSM_OK) TEST_CHECK(strstr(err.msg, path) == err.msg, "the error names %s: %s", path, err.msg);
    return st;
}

static void write_bytes(const char *path, const char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    TEST_REQUIRE(f && fwrite(b, 1, n, f) == n && fclose(f) == 0, "write %s", path);
}

/* the fuzz-style regression: an AVI (its header promises the frame count) cut at many
 * lengths, and bytes overwritten with garbage: each is an error or fewer frames, never a crash */
static void bad_inputs(const char *clip) {
    size_t n;
    char *b = test_read_file(clip, &n), p[128], msg[VSSM_ERR_MSG_MAX];
    TEST_REQUIRE(b && n > 1000, "read %s", clip);
    snprintf(p, sizeof p, "%s/cut.avi", tmp);
    size_t cuts[] = {0, 1, 12, 100, 1000, n / 4, n / 2, 3 * n / 4, n - 100, n - 1};
    int all_told = 1, named = 1;
    for (int k = 0; k < (int)(sizeof cuts / sizeof *cuts); k++) {
        int nf;
        write_bytes(p, b, cuts[k]);
        vssm_status st = read_all(p, NULL, &nf, msg);
        printf("  cut at %zu of %zu bytes: %d frames, %s\n", cuts[k], n, nf, st == VSSM_OK ? "ok" : msg);
        all_told &= st != VSSM_OK || nf == NF; /* a cut in the trailing index loses no frame */
        named &= st == VSSM_OK || strstr(msg, p) == msg;
    }
    TEST_CHECK(all_told, "every cut AVI is an error or gives all %d frames its header promises", NF);
    TEST_CHECK(named, "every error names the file");
    int nf;
    write_bytes(p, b, n / 2);
    vssm_status st = read_all(p, NULL, &nf, msg);
    TEST_CHECK(st == VSSM_ERR_FORMAT && strstr(msg, "truncated") && nf > 0 && nf < NF,
               "half the file: its frames, then 'truncated' (%d frames): %s", nf, msg);
    unsigned s = 12345;
    for (int k = 0; k < 8; k++) { /* garbage over an eighth of the file, the header's last */
        char *g = malloc(n);
        memcpy(g, b, n);
        size_t from = k < 7 ? n / 8 * (size_t)(k + 1) : 0;
        for (size_t i = from; i < n && i < from + n / 8; i++) g[i] = (char)((s = s * 1103515245u + 12345u) >> 16);
        write_bytes(p, g, n);
        free(g);
        st = read_all(p, NULL, &nf, msg);
        printf("  garbage at %zu: %d frames, %s\n", from, nf, st == VSSM_OK ? "ok" : msg);
    }
    TEST_CHECK(1, "garbage-filled files read without a crash");
    free(b);
}

/* Matroska has no frame count: a file cut short is told by the duration its header keeps;
 * one cut only in its trailing index (cues) still gives every frame */
static void cut_matroska(const char *clip) {
    size_t n;
    char *b = test_read_file(clip, &n), p[128], msg[VSSM_ERR_MSG_MAX];
    TEST_REQUIRE(b && n > 1000, "read %s", clip);
    snprintf(p, sizeof p, "%s/cut.mkv", tmp);
    int nf;
    write_bytes(p, b, n / 2);
    vssm_status st = read_all(p, NULL, &nf, msg);
    TEST_CHECK(st == VSSM_ERR_FORMAT && strstr(msg, "truncated") && nf > 0 && nf < NF,
               "half a Matroska file: its frames, then 'truncated' (%d frames): %s", nf, msg);
    write_bytes(p, b, n - 8);
    st = read_all(p, NULL, &nf, msg);
    TEST_CHECK(st == VSSM_OK ? nf == NF : strstr(msg, "truncated") != NULL,
               "a Matroska file 8 bytes short: all %d frames or 'truncated' (%d frames): %s", NF, nf,
               st == VSSM_OK ? "ok" : msg);
    free(b);
}

static void refusals(void) {
    char p[128], msg[VSSM_ERR_MSG_MAX];
    int nf;
    snprintf(p, sizeof p, "%s/missing.mp4", tmp);
    TEST_CHECK(read_all(p, NULL, &nf, msg) == VSSM_ERR_IO, "a missing file is VSSM_ERR_IO: %s", msg);
    snprintf(p, sizeof p, "%s/text.mp4", tmp);
    write_bytes(p, "hello, not a video\n", 19);
    TEST_CHECK(read_all(p, NULL, &nf, msg) == VSSM_ERR_FORMAT, "a text file is VSSM_ERR_FORMAT: %s", msg);
    struct stat sb;
    if (stat("/dev/video9", &sb) != 0)
        TEST_CHECK(read_all("/dev/video9", NULL, &nf, msg) != VSSM_OK && strstr(msg, "device"),
                   "an absent camera is refused naming the device: %s", msg);
    snprintf(p, sizeof p, "%s/clip.mkv", tmp);
    vssm_video_opts o = {{100}, 0, NULL};
    TEST_CHECK(read_all(p, &o, &nf, msg) == VSSM_ERR_FORMAT && strstr(msg, "pixel limit"),
               "frames over max_pixels are refused: %s", msg);
    vssm_err err = {0};
    vssm_video_writer *w;
    snprintf(p, sizeof p, "%s/out.unknownext", tmp);
    TEST_CHECK(vssm_video_writer_open(&w, p, 64, 48, NULL, &err) == VSSM_ERR_INVALID_ARG && strstr(err.msg, p),
               "an unknown container is refused naming the file: %s", err.msg);
    TEST_CHECK(access(p, F_OK) != 0, "and nothing is left at %s", p);
}

static void draw_text(void) {
    vssm_image im = {0};
    vssm_err err = {0};
    TEST_REQUIRE(vssm_image_alloc(&im, 80, 30, 3, &err) == VSSM_OK, "alloc");
    memset(im.data, 200, (size_t)80 * 30 * 3);
    const uint8_t red[3] = {255, 0, 0};
    vssm_image_draw_text(&im, 2, 2, "0.87", red, 1);
    int on = 0, dark = 0;
    for (int i = 0; i < 80 * 30; i++) {
        on += im.data[i * 3] == 255 && im.data[i * 3 + 1] == 0;
        dark += im.data[i * 3] == 60;
    }
    TEST_CHECK(on > 20 && dark > 50, "text pixels (%d) on a dark box (%d)", on, dark);
    TEST_CHECK(im.data[(29 * 80 + 79) * 3] == 200, "outside the box untouched");
    vssm_image_draw_text(&im, -20, 25, "clipped \x01 text", red, 3); /* must not write outside */
    vssm_image_free(&im);
}

int main(void) {
    vssm_err err = {0};
    vssm_video_reader *r;
    if (!vssm_video_available()) {
        TEST_CHECK(vssm_video_open(&r, "x.mp4", NULL, &err) == VSSM_ERR_UNSUPPORTED &&
                       strstr(err.msg, "without video support"),
                   "a build without video says so: %s", err.msg);
        draw_text();
        test_finish("test_video");
        test_skip("built without video support");
    }
    snprintf(tmp, sizeof tmp, "/tmp/vssm_video_XXXXXX");
    TEST_REQUIRE(mkdtemp(tmp), "mkdtemp");
    load_fixture();
    char p[128], used[32] = "";
    snprintf(p, sizeof p, "%s/clip.mkv", tmp); /* lossless: FFV1 in Matroska, PNG in AVI */
    TEST_REQUIRE(write_clip(p, "ffv1", 10, frames, NF, NULL) == VSSM_OK, "write %s", p);
    check_read(p, frames, NF, 10, -1);
    snprintf(p, sizeof p, "%s/clip_png.avi", tmp);
    TEST_CHECK(write_clip(p, "png", 5, frames, NF, NULL) == VSSM_OK, "write %s", p);
    check_read(p, frames, NF, 5, -1);
    snprintf(p, sizeof p, "%s/clip.mp4", tmp); /* the default codec: H.264 where present */
    TEST_CHECK(write_clip(p, NULL, 10, frames, NF, used) == VSSM_OK, "write %s", p);
    printf("  default encoder for .mp4: %s\n", used);
    check_read(p, frames, NF, 10, 30);
    snprintf(p, sizeof p, "%s/clip.avi", tmp); /* MPEG-4 part 2 */
    TEST_CHECK(write_clip(p, "mpeg4", 10, frames, NF, NULL) == VSSM_OK, "write %s", p);
    check_read(p, frames, NF, 10, 28);
    vssm_image odd[NF]; /* 33x21: padded to 34x22 for 4:2:0; a stride that is not a multiple of 16 */
    for (int i = 0; i < NF; i++) {
        TEST_REQUIRE(vssm_image_alloc(&odd[i], 33, 21, 3, &err) == VSSM_OK, "alloc");
        for (int y = 0; y < 21; y++)
            memcpy(odd[i].data + y * 33 * 3, frames[i].data + ((size_t)(y + 30) * frames[i].w + 40) * 3, 99);
    }
    snprintf(p, sizeof p, "%s/odd.avi", tmp); /* MJPEG (4:2:0 blurs the tiny object's colour edges: 15 dB) */
    TEST_CHECK(write_clip(p, "mjpeg", 10, odd, NF, NULL) == VSSM_OK, "write %s (33x21)", p);
    check_read(p, odd, NF, 10, 15);
    TEST_CHECK(temp_files_left() == 0, "no temp file left beside the outputs");
    snprintf(p, sizeof p, "%s/clip.avi", tmp);
    bad_inputs(p);
    snprintf(p, sizeof p, "%s/clip.mkv", tmp);
    cut_matroska(p);
    refusals();
    draw_text();
    for (int i = 0; i < NF; i++) {
        vssm_image_free(&frames[i]);
        vssm_image_free(&odd[i]);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) printf("  could not remove %s\n", tmp);
    return test_finish("test_video");
}
