/* tests/test_track_inputs.c - `vssm track` / `eval track` on what a user's test broke:
 *   1 an output over an input (the GT, a frame, the --video file, DIR/img) is refused with
 *     exit 2 and the input unchanged; results beside them in the sequence folder are fine;
 *   2 an invalid GT frame (10,10,-5,-5) with good results: pytracking's figures (its
 *     normalised precision 111.11: the frame a hit over 9 valid ones, kept for parity),
 *     and a note on stderr saying why it reads over 100;
 *   3 frames named 1.jpg .. 10.jpg (0.jpg .. 10.jpg, TrackingNet's) are taken in number
 *     order, the same boxes as 0001.jpg ..; a frame number twice is named;
 *   4 a video with a damaged frame: named by index, exit 1, every frame still written;
 *   5 SIGINT / SIGTERM during --out-video: the partial temp file is removed, no --out, the
 *     process ends by the signal;
 *   6 --threads -1, --out-video x.xyz or in a missing folder, --out in a missing folder:
 *     exit 2 before any work;
 *   7 GOT-10k cover.label -1 / 99, absence.label 2, an unparsable meta_info.ini resolution:
 *     refused naming the file. */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "vssm/track.h"
#include "vssm/video.h"

static const char *W = VSSM_SOURCE_DIR "/tests/data/cli/tiny_cls.safetensors";
static const char *SEQ = VSSM_SOURCE_DIR "/tests/data/track/otb/fmnist-01";
static const char *FAST = "--threads 2 --template-size 64 --search-size 128 --quiet";
static char tmp[64];
static char out[1 << 16], err[1 << 14];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* `vssm ARGS` with the tiny model; the exit code, stdout/stderr in out/err */
static int track(const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s", VSSM_BIN, args);
    return test_run_cmd(cmd, out, sizeof out, err, sizeof err);
}

static char *slurp(const char *p) {
    size_t n;
    char *b = test_read_file(p, &n);
    return b ? b : calloc(1, 1);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    TEST_REQUIRE(f && fputs(text, f) >= 0 && fclose(f) == 0, "write %s", path);
}

/* ---- 1: outputs over inputs */
static void outputs_over_inputs(const char *clip) {
    char a[2048], S[128], *before, *after;
    snprintf(S, sizeof S, "%s/S", tmp);
    TEST_REQUIRE(sh("cp -r '%s' '%s'", SEQ, S) == 0, "copy the fixture");
    before = slurp(VSSM_SOURCE_DIR "/tests/data/track/otb/fmnist-01/groundtruth_rect.txt");
    snprintf(a, sizeof a, "track --weights %s --seq %s --out %s/groundtruth_rect.txt %s", W, S, S, FAST);
    int rc = track(a);
    char p[256];
    snprintf(p, sizeof p, "%s/groundtruth_rect.txt", S);
    after = slurp(p);
    TEST_CHECK(rc == 2 && strstr(err, "refusing") && !strcmp(before, after),
               "--out onto the GT: exit 2, GT unchanged (%d): %s", rc, err);
    free(before);
    free(after);
    snprintf(p, sizeof p, "%s/img/0001.jpg", S);
    size_t n0, n1;
    free(test_read_file(p, &n0));
    snprintf(a, sizeof a, "track --weights %s --seq %s --out %s %s", W, S, p, FAST);
    rc = track(a);
    free(test_read_file(p, &n1));
    TEST_CHECK(rc == 2 && strstr(err, "/img") && n0 == n1, "--out onto a frame: exit 2, frame unchanged (%d): %s", rc,
               err);
    snprintf(a, sizeof a, "track --weights %s --seq %s --out %s/img/res.txt %s", W, S, S, FAST);
    TEST_CHECK(track(a) == 2, "--out into DIR/img: exit 2: %s", err);
    snprintf(a, sizeof a, "track --weights %s --seq %s --out %s/res.txt --out-frames %s/img %s", W, S, S, S, FAST);
    TEST_CHECK(track(a) == 2 && strstr(err, "--out-frames"), "--out-frames DIR/img: exit 2: %s", err);
    snprintf(a, sizeof a, "track --weights %s --seq %s --out %s/result.txt %s", W, S, S, FAST);
    TEST_CHECK(track(a) == 0, "--out beside the GT in the sequence folder is fine: %s", err);
    if (clip) {
        free(test_read_file(clip, &n0));
        snprintf(a, sizeof a, "track --weights %s --video %s --init 70,45,22,28 --out-video %s %s", W, clip, clip,
                 FAST);
        rc = track(a);
        free(test_read_file(clip, &n1));
        TEST_CHECK(rc == 2 && strstr(err, "--video input") && n0 == n1,
                   "--out-video onto the --video input: exit 2, unchanged (%d): %s", rc, err);
    }
}

/* ---- 2: eval track with an invalid GT frame */
static double json_num(const char *json, const char *key) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(json, k);
    return p ? strtod(p + strlen(k), NULL) : -1;
}

static void invalid_gt_eval(void) {
    char a[1024];
    TEST_REQUIRE(sh("mkdir -p %s/gt/s %s/res && cp %s/groundtruth_rect.txt %s/res/s.txt && "
                    "sed '3s/.*/10,10,-5,-5/' %s/groundtruth_rect.txt > %s/gt/s/groundtruth_rect.txt",
                    tmp, tmp, SEQ, tmp, SEQ, tmp) == 0,
                 "make the GT with an invalid line 3");
    snprintf(a, sizeof a, "eval track --results %s/res --gt %s/gt --format otb --json", tmp, tmp);
    int rc = track(a);
    double auc = json_num(out, "auc"), pr = json_num(out, "precision"), np = json_num(out, "norm_precision");
    /* 9 valid frames, each IoU 1 and error 0: AUC 20/21, precision 100; the invalid frame's
     * normalised error is pytracking's -1, a hit: 10/9 (METRICS.md, vssm/track.h) */
    TEST_CHECK(rc == 0 && fabs(auc - 100.0 * 20 / 21) < 0.01 && fabs(pr - 100) < 1e-6 && fabs(np - 1000.0 / 9) < 1e-3 &&
                   strstr(err, "Norm Precision can read over 100"),
               "AUC %.4f (95.24), precision %.4f (100), normalised precision %.4f (111.11, pytracking's) and "
               "the note; rc %d: %s",
               auc, pr, np, rc, err);
}

/* ---- 3: unpadded frame names */
static void unpadded(void) {
    char a[2048], d[128], ref[128], res[128];
    snprintf(ref, sizeof ref, "%s/ref.txt", tmp);
    snprintf(a, sizeof a, "track --weights %s --seq %s --out %s %s", W, SEQ, ref, FAST);
    TEST_REQUIRE(track(a) == 0, "track the fixture: %s", err);
    char *want = slurp(ref);
    for (int zero = 0; zero < 2; zero++) { /* 1..10; 0..10 (0.jpg the first frame again) */
        snprintf(d, sizeof d, "%s/u%d", tmp, zero);
        TEST_REQUIRE(sh("mkdir -p %s/img && cp %s/groundtruth_rect.txt %s/", d, SEQ, d) == 0, "make %s", d);
        for (int i = 1; i <= 10; i++) TEST_REQUIRE(sh("cp %s/img/%04d.jpg %s/img/%d.jpg", SEQ, i, d, i) == 0, "copy");
        if (zero) TEST_REQUIRE(sh("cp %s/img/0001.jpg %s/img/0.jpg", SEQ, d) == 0, "copy 0.jpg");
        snprintf(res, sizeof res, "%s/u%d.txt", tmp, zero);
        snprintf(a, sizeof a, "track --weights %s --seq %s --out %s %s", W, d, res, FAST);
        int rc = track(a);
        char *got = slurp(res);
        int lines = 0;
        for (const char *p = got; *p; p++) lines += *p == '\n';
        TEST_CHECK(rc == 0 && lines == 10 + zero, "%s: exit 0, %d boxes (%d lines, rc %d): %s", d, 10 + zero, lines, rc,
                   err);
        if (!zero) TEST_CHECK(!strcmp(got, want), "1.jpg .. 10.jpg: the boxes of 0001.jpg .. 0010.jpg");
        free(got);
    }
    free(want);
    vssm_err e = {0};
    char **fr = NULL;
    int nf = 0;
    snprintf(d, sizeof d, "%s/u1", tmp);
    TEST_REQUIRE(vssm_seq_frames(d, &fr, &nf, &e) == VSSM_OK, "%s", e.msg);
    int order = nf == 11;
    for (int i = 0; order && i < nf; i++) {
        char tail[16];
        snprintf(tail, sizeof tail, "/%d.jpg", i);
        order = strlen(fr[i]) > strlen(tail) && !strcmp(fr[i] + strlen(fr[i]) - strlen(tail), tail);
    }
    TEST_CHECK(order, "0.jpg .. 10.jpg listed in number order (%d frames)", nf);
    vssm_seq_list_free(fr, nf);
    TEST_REQUIRE(sh("cp %s/img/0001.jpg %s/img/01.jpg", SEQ, d) == 0, "copy 01.jpg");
    TEST_CHECK(vssm_seq_frames(d, &fr, &nf, &e) == VSSM_ERR_FORMAT && strstr(e.msg, "frame 1 is there twice"),
               "1.jpg and 01.jpg: named: %s", e.msg);
}

/* ---- 4, 5: video. A clip of n frames (the fixture's, cycled) in MPEG-4 part 2 in AVI */
static int make_clip(const char *path, int n) {
    vssm_err e = {0};
    vssm_video_writer *w = NULL;
    vssm_video_writer_opts o = {10, 1, "mpeg4", 0};
    vssm_image im[10] = {{0}};
    for (int i = 0; i < 10; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/img/%04d.jpg", SEQ, i + 1);
        if (vssm_image_load(&im[i], p, NULL, &e) != VSSM_OK) return -1;
    }
    int ok = vssm_video_writer_open(&w, path, im[0].w, im[0].h, &o, &e) == VSSM_OK;
    for (int i = 0; ok && i < n; i++) ok = vssm_video_write(w, &im[i % 10], &e) == VSSM_OK;
    ok = ok && vssm_video_writer_close(w, &e) == VSSM_OK;
    if (!ok) printf("  %s: %s\n", path, e.msg);
    for (int i = 0; i < 10; i++) vssm_image_free(&im[i]);
    return ok ? 0 : -1;
}

/* garbage over the middle of the payload of the k-th video chunk ("00dc") of an AVI */
static int damage_chunk(const char *path, int k) {
    size_t n;
    char *b = test_read_file(path, &n);
    if (!b) return -1;
    int seen = 0, done = 0;
    for (size_t i = 0; i + 8 < n && !done; i++)
        if (!memcmp(b + i, "00dc", 4) && seen++ == k) {
            unsigned sz = (unsigned char)b[i + 4] | (unsigned char)b[i + 5] << 8 | (unsigned char)b[i + 6] << 16;
            unsigned s = 12345;
            for (size_t j = i + 8 + sz / 4; j < i + 8 + sz && j < n; j++)
                b[j] = (char)((s = s * 1103515245u + 12345u) >> 16);
            done = 1;
        }
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(b, 1, n, f) == n;
    if (f) ok &= fclose(f) == 0;
    free(b);
    return done && ok ? 0 : -1;
}

static void damaged_video(void) {
    char clip[128], res[128], a[1024];
    snprintf(clip, sizeof clip, "%s/damaged.avi", tmp);
    snprintf(res, sizeof res, "%s/damaged.txt", tmp);
    TEST_REQUIRE(make_clip(clip, 10) == 0 && damage_chunk(clip, 4) == 0, "make a clip with frame 4 damaged");
    snprintf(a, sizeof a, "track --weights %s --video %s --init 70,45,22,28 --out %s %s", W, clip, res, FAST);
    int rc = track(a);
    char *got = slurp(res);
    int lines = 0;
    for (const char *p = got; *p; p++) lines += *p == '\n';
    free(got);
    TEST_CHECK(rc == 1 && strstr(err, "frame 4 is damaged") && lines == 10,
               "a damaged frame: named by index, exit 1, all 10 boxes written (rc %d, %d lines): %s", rc, lines, err);
}

/* entries of dir whose name starts with prefix */
static int count_prefix(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) n++;
    if (d) closedir(d);
    return n;
}

static void signal_during_video(const char *clip) {
    static const int sigs[2] = {SIGINT, SIGTERM};
    for (int k = 0; k < 2; k++) {
        char o[128], r[128];
        snprintf(o, sizeof o, "%s/w%d.mp4", tmp, k);
        snprintf(r, sizeof r, "%s/w%d.txt", tmp, k);
        pid_t pid = fork();
        TEST_REQUIRE(pid >= 0, "fork");
        if (pid == 0) {
            signal(SIGINT, SIG_DFL);
            signal(SIGTERM, SIG_DFL);
            int fd = open("/dev/null", O_WRONLY);
            dup2(fd, 1);
            dup2(fd, 2);
            execl(VSSM_BIN, VSSM_BIN, "track", "--weights", W, "--video", clip, "--init", "70,45,22,28", "--out-video",
                  o, "--out", r, "--threads", "1", "--template-size", "64", "--search-size", "128", (char *)NULL);
            _exit(127);
        }
        char prefix[16];
        snprintf(prefix, sizeof prefix, "w%d.mp4.", k);
        int seen = 0;
        for (int t = 0; t < 4000 && !seen; t++) { /* the temp file exists from the first frame */
            seen = count_prefix(tmp, prefix) > 0;
            if (!seen) usleep(2000);
        }
        kill(pid, sigs[k]);
        int st = 0;
        waitpid(pid, &st, 0);
        snprintf(prefix, sizeof prefix, "w%d.", k);
        TEST_CHECK(seen && WIFSIGNALED(st) && WTERMSIG(st) == sigs[k] && count_prefix(tmp, prefix) == 0,
                   "%s during --out-video: ends by the signal (status %#x), no temp file, no output (%d left)",
                   k ? "SIGTERM" : "SIGINT", st, count_prefix(tmp, prefix));
    }
}

/* ---- 6: options and outputs refused before any work */
static void bad_options(void) {
    char a[1024];
    const char *cases[][2] = {
        {"--out %s/o.txt --threads -1", "--threads must be >= 0"},
        {"--out %s/o.txt --threads -4", "--threads must be >= 0"},
        {"--out %s/nodir/x.txt", "does not exist"},
        {"--out %s/o.txt --out-video %s/x.xyz", "cannot tell the container"},
        {"--out %s/o.txt --out-video %s/nodir/x.mp4", "does not exist"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char opt[512];
        snprintf(opt, sizeof opt, cases[k][0], tmp, tmp);
        snprintf(a, sizeof a, "track --weights %s --seq %s %s %s", W, SEQ, FAST, opt); /* opt's --threads last */
        int rc = track(a);
        TEST_CHECK(rc == 2 && strstr(err, cases[k][1]) && !strstr(err, "tracked"),
                   "`%s`: exit 2 before any work, '%s' (rc %d): %s", opt, cases[k][1], rc, err);
    }
}

/* ---- 7: GOT-10k labels and meta_info.ini */
static void got10k_labels(void) {
    const char *cases[][3] = {
        {"cover.label", "8\n-1\n5\n", "is -1"},
        {"cover.label", "8\n99\n5\n", "is 99"},
        {"absence.label", "0\n2\n0\n", "is 2"},
        {"meta_info.ini", "[METADATA]\nresolution: (abc, 360)\n", "meta_info.ini"},
        {"meta_info.ini", "[METADATA]\nresolution: (640 360 x)\n", "meta_info.ini"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char d[128], p[256];
        snprintf(d, sizeof d, "%s/got%zu", tmp, k);
        mkdir(d, 0777);
        snprintf(p, sizeof p, "%s/groundtruth.txt", d);
        write_text(p, "1,1,5,5\n2,2,5,5\n3,3,5,5\n");
        snprintf(p, sizeof p, "%s/%s", d, cases[k][0]);
        write_text(p, cases[k][1]);
        vssm_seq s;
        vssm_err e = {0};
        vssm_status st = vssm_seq_load(&s, d, VSSM_SEQ_FORMAT_GOT10K, &e);
        TEST_CHECK(st == VSSM_ERR_FORMAT && strstr(e.msg, cases[k][0]) && strstr(e.msg, cases[k][2]),
                   "GOT-10k %s '%s': refused naming it (%s)", cases[k][0], cases[k][2], e.msg);
        if (st == VSSM_OK) vssm_seq_free(&s);
        if (k == 4) { /* the good form still reads */
            write_text(p, "[METADATA]\nresolution: (640, 360)\r\n");
            TEST_CHECK(vssm_seq_load(&s, d, VSSM_SEQ_FORMAT_GOT10K, &e) == VSSM_OK && s.res_w == 640 && s.res_h == 360,
                       "resolution: (640, 360) reads: %s", e.msg);
            vssm_seq_free(&s);
        }
    }
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/vssm_track_inputs_XXXXXX");
    TEST_REQUIRE(mkdtemp(tmp), "mkdtemp");
    char clip[128], longclip[128];
    snprintf(clip, sizeof clip, "%s/clip.avi", tmp);
    snprintf(longclip, sizeof longclip, "%s/long.avi", tmp);
    const int video = vssm_video_available() && make_clip(clip, 10) == 0;
    outputs_over_inputs(video ? clip : NULL);
    invalid_gt_eval();
    unpadded();
    bad_options();
    got10k_labels();
    if (video) {
        damaged_video();
        TEST_REQUIRE(make_clip(longclip, 400) == 0, "a 400-frame clip");
        signal_during_video(longclip);
    } else {
        printf("  no video support: the video checks skipped\n");
    }
    if (sh("rm -rf '%s'", tmp) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return test_finish("test_track_inputs");
}
