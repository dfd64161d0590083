/* tests/test_reid_guards.c - `vssm reid extract` and `vssm eval reid` against user mistakes
 * (a copy of tests/data/reid/market in a temp folder, the random 3-class VMamba of the CLI tests):
 *   - an --out that is the weights file, a dataset image, or lies inside the dataset folder is
 *     refused (exit 2) and the input is left as it was; an --out whose folder does not exist is
 *     refused before any work (exit 2, no summary line);
 *   - --labels (any), --threads -1 / 1x / 99999, --batch 0, --key on a safetensors file: exit 2;
 *   - a stray file (query/hello.jpg, not a Market-1501 name) is named and skipped, the rest
 *     extracted (exit 1, the file written with the other rows); when that leaves no query image,
 *     nothing is written (exit 2); when every query image fails to decode, nothing is written
 *     (exit 1, the image named);
 *   - eval reid: --k1 0, --k2 -1, --k1 1x, --lambda nan, --max-rank 0, --k1 without --rerank: exit 2;
 *   - SIGINT at many delays during extraction never leaves a FEATS.safetensors.XXXXXX temp
 *     file, and an --out that exists afterwards is a complete features file. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "testutil.h"
#include "vssm/reid.h"

#ifndef __clang__
#pragma GCC diagnostic ignored "-Wformat-truncation" /* command strings are short */
#endif

static char out[1 << 16], errb[1 << 16], tmp[64];

static int run(const char *cmd) { return test_run_cmd(cmd, out, sizeof out, errb, sizeof errb); }

static char *file_bytes(const char *path, size_t *n) { return test_read_file(path, n); }

static int same_bytes(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = file_bytes(a, &na), *y = file_bytes(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

/* the number of NAME.XXXXXX temp files in dir */
static int temp_files(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        const char *dot = strrchr(e->d_name, '.');
        if (dot && strlen(dot) == 7 && strstr(e->d_name, ".safetensors.")) n++;
    }
    if (d) closedir(d);
    return n;
}

static void extract(const char *args) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' reid extract --weights %s/w.safetensors --data %s/data %s", VSSM_BIN, tmp, tmp,
             args);
    run(cmd);
}

static void test_outputs_over_inputs(void) {
    char cmd[2048], args[512], ref[256], img[256];
    snprintf(ref, sizeof ref, "%s/ref.safetensors", tmp);
    snprintf(cmd, sizeof cmd, "cp %s/w.safetensors %s", tmp, ref);
    TEST_REQUIRE(system(cmd) == 0, "copy the weights");
    snprintf(args, sizeof args, "--out %s/w.safetensors", tmp);
    extract(args);
    snprintf(cmd, sizeof cmd, "%s/w.safetensors", tmp);
    TEST_CHECK(strstr(errb, "is the weights file") && same_bytes(cmd, ref), "--out = --weights: refused, kept: %s",
               errb);
    snprintf(args, sizeof args, "--out %s/./data/../w.safetensors", tmp); /* another spelling */
    extract(args);
    TEST_CHECK(strstr(errb, "is the weights file") && same_bytes(cmd, ref), "another spelling of it: refused: %s",
               errb);

    snprintf(img, sizeof img, "%s/data/query/0001_c1s1_000101_00.jpg", tmp);
    snprintf(cmd, sizeof cmd, "cp %s %s/img.ref", img, tmp);
    TEST_REQUIRE(system(cmd) == 0, "copy an image");
    snprintf(args, sizeof args, "--out %s", img);
    extract(args);
    snprintf(cmd, sizeof cmd, "%s/img.ref", tmp);
    TEST_CHECK(strstr(errb, "inside the dataset folder") && same_bytes(img, cmd),
               "--out = a dataset image: refused: %s", errb);
    snprintf(args, sizeof args, "--out %s/data/query/new.safetensors", tmp);
    extract(args);
    snprintf(cmd, sizeof cmd, "%s/data/query/new.safetensors", tmp);
    TEST_CHECK(strstr(errb, "inside the dataset folder") && access(cmd, F_OK) != 0,
               "--out inside the dataset folder: refused, nothing written: %s", errb);
    /* a dataset image that is a link to a file outside the folder: --out naming that file */
    snprintf(cmd, sizeof cmd, "cp %s %s/outside.jpg && ln -s %s/outside.jpg %s/data/query/0009_c2s1_000901_00.jpg", img,
             tmp, tmp, tmp);
    TEST_REQUIRE(system(cmd) == 0, "link");
    snprintf(args, sizeof args, "--out %s/outside.jpg", tmp);
    extract(args);
    snprintf(cmd, sizeof cmd, "%s/outside.jpg", tmp);
    TEST_CHECK(strstr(errb, "is the dataset image") && same_bytes(img, cmd), "--out = a linked dataset image: %s",
               errb);
    snprintf(cmd, sizeof cmd, "%s/data/query/0009_c2s1_000901_00.jpg", tmp);
    unlink(cmd);
    snprintf(cmd, sizeof cmd, "cp %s %s/w.safetensors", ref, tmp); /* the next checks on sound weights, fix or not */
    TEST_REQUIRE(system(cmd) == 0, "restore the weights");
    snprintf(args, sizeof args, "--out %s/nodir/f.safetensors", tmp);
    extract(args);
    TEST_CHECK(strstr(errb, "does not exist") && !strstr(errb, "embeddings"),
               "--out in a missing folder: refused before the work: %s", errb);
}

static void test_bad_options(void) {
    static const char *const bad[][2] = {
        {"--labels /nonexist", "--labels does not apply"},
        {"--labels tests/data/cli/ref_logits.txt", "--labels does not apply"},
        {"--threads -1", "--threads takes"},
        {"--threads 99999", "--threads takes"},
        {"--threads 1x", "--threads needs an integer"},
        {"--batch 0", "--batch takes"},
        {"--batch 2.5", "--batch needs an integer"},
        {"--size 0x10", "--size takes"},
        {"--size 16x16junk", "--size takes"},
        {"--key model_ema", "--key applies to .pth"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char args[512], cmd[2048];
        snprintf(args, sizeof args, "--out %s/o.safetensors %s", tmp, bad[k][0]);
        snprintf(cmd, sizeof cmd, "'%s' reid extract --weights %s/w.safetensors --data %s/data %s", VSSM_BIN, tmp, tmp,
                 args);
        int rc = run(cmd);
        TEST_CHECK(rc == 2 && strstr(errb, bad[k][1]), "reid extract %s: exit 2 (%d) saying '%s': %s", bad[k][0], rc,
                   bad[k][1], errb);
    }
}

static void test_stray_file(void) {
    char cmd[2048], args[512], feats[256];
    snprintf(cmd, sizeof cmd, "cp %s/data/query/0002_c2s1_000201_00.jpg %s/data/query/hello.jpg", tmp, tmp);
    TEST_REQUIRE(system(cmd) == 0, "add a stray file");
    snprintf(feats, sizeof feats, "%s/stray.safetensors", tmp);
    snprintf(args, sizeof args, "--out %s", feats);
    snprintf(cmd, sizeof cmd, "'%s' reid extract --weights %s/w.safetensors --data %s/data %s", VSSM_BIN, tmp, tmp,
             args);
    int rc = run(cmd);
    TEST_CHECK(rc == 1 && strstr(errb, "hello.jpg: not a Market-1501 name") && strstr(errb, "skipped"),
               "stray file named and skipped, exit 1 (%d): %s", rc, errb);
    vssm_reid_features f;
    vssm_err err = {0};
    TEST_CHECK(vssm_reid_features_load(&f, feats, &err) == VSSM_OK && f.nq == 3 && f.ng == 6,
               "the other images extracted (%s)", err.msg);
    vssm_reid_features_free(&f);
    snprintf(cmd, sizeof cmd, "rm %s/data/query/hello.jpg", tmp);
    TEST_CHECK(system(cmd) == 0, "remove it");

    /* every query file stray: nothing can be extracted, nothing written */
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/stray/query %s/stray/bounding_box_test && cp %s/data/bounding_box_test/* "
             "%s/stray/bounding_box_test/ && cp %s/data/query/0001_c1s1_000101_00.jpg %s/stray/query/hello.jpg",
             tmp, tmp, tmp, tmp, tmp, tmp);
    TEST_REQUIRE(system(cmd) == 0, "a dataset whose one query file is stray");
    snprintf(feats, sizeof feats, "%s/none.safetensors", tmp);
    snprintf(cmd, sizeof cmd, "'%s' reid extract --weights %s/w.safetensors --data %s/stray --out %s", VSSM_BIN, tmp,
             tmp, feats);
    rc = run(cmd);
    TEST_CHECK(rc == 2 && strstr(errb, "hello.jpg: not a Market-1501 name") &&
                   strstr(errb, "the query split has no images") && access(feats, F_OK) != 0,
               "no query image left: exit 2 (%d), nothing written: %s", rc, errb);

    /* the one query file well named but not an image: it fails to decode, nothing is written */
    snprintf(cmd, sizeof cmd,
             "rm %s/stray/query/hello.jpg && printf 'not a jpeg' > %s/stray/query/0001_c1s1_000101_00.jpg", tmp, tmp);
    TEST_REQUIRE(system(cmd) == 0, "a dataset whose one query image is damaged");
    snprintf(cmd, sizeof cmd, "'%s' reid extract --weights %s/w.safetensors --data %s/stray --out %s", VSSM_BIN, tmp,
             tmp, feats);
    rc = run(cmd);
    TEST_CHECK(rc == 1 && strstr(errb, "0001_c1s1_000101_00.jpg") && strstr(errb, "no query image could be embedded") &&
                   access(feats, F_OK) != 0,
               "every query image damaged: exit 1 (%d), the image named, nothing written: %s", rc, errb);
}

static void test_eval_options(void) {
    char feats[256], cmd[2048];
    snprintf(feats, sizeof feats, "%s/ok.safetensors", tmp);
    snprintf(cmd, sizeof cmd, "'%s' reid extract --weights tests/data/cli/tiny_cls.safetensors --data %s/data --out %s",
             VSSM_BIN, tmp, feats);
    TEST_REQUIRE(run(cmd) == 0, "a features file to evaluate: %s", errb);
    static const char *const bad[][2] = {
        {"--rerank --k1 0", "--k1 and --k2 take"},      {"--rerank --k2 -1", "--k1 and --k2 take"},
        {"--rerank --k1 200000", "--k1 and --k2 take"}, {"--rerank --k1 1x", "--k1 needs an integer"},
        {"--rerank --lambda nan", "--lambda takes"},    {"--rerank --lambda 0.5x", "--lambda takes"},
        {"--max-rank 0", "--max-rank must be"},         {"--k1 3", "only applies with --rerank"},
        {"--lambda 0.2", "only applies with --rerank"}, {"--metric l1", "--metric takes"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        snprintf(cmd, sizeof cmd, "'%s' eval reid --features %s %s", VSSM_BIN, feats, bad[k][0]);
        int rc = run(cmd);
        TEST_CHECK(rc == 2 && strstr(errb, bad[k][1]), "eval reid %s: exit 2 (%d) saying '%s': %s", bad[k][0], rc,
                   bad[k][1], errb);
    }
    snprintf(cmd, sizeof cmd, "'%s' eval reid --features %s --rerank --k1 3 --k2 2 --lambda 0.5 --json", VSSM_BIN,
             feats);
    int rc = run(cmd);
    TEST_CHECK(rc == 0 && strstr(out, "\"mAP\""), "valid re-ranking options: exit 0 (%d): %s", rc, errb);
}

/* SIGINT at delays over the whole run: never a temp file beside --out */
static void test_sigint(void) {
    char feats[256], w[256], data[256], odir[128];
    snprintf(odir, sizeof odir, "%s/sig", tmp);
    mkdir(odir, 0755);
    snprintf(feats, sizeof feats, "%s/f.safetensors", odir);
    snprintf(w, sizeof w, "%s/w.safetensors", tmp);
    snprintf(data, sizeof data, "%s/data", tmp);
    char *argv[] = {(char *)VSSM_BIN, "reid", "extract",   "--weights", w,   "--data", data,
                    "--out",          feats,  "--threads", "1",         NULL};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t p = fork();
    if (p == 0) {
        freopen("/dev/null", "w", stderr);
        execv(VSSM_BIN, argv);
        _exit(127);
    }
    int st;
    waitpid(p, &st, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double total = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    TEST_REQUIRE(WIFEXITED(st) && WEXITSTATUS(st) == 0, "an uninterrupted run exits 0");
    int runs = 0, left = 0, broken = 0, killed = 0;
    for (int k = 0; k < 40; k++) {
        unlink(feats);
        double d = total * (0.3 + 0.9 * k / 40.0); /* the last part of the run, where the write is */
        p = fork();
        if (p == 0) {
            freopen("/dev/null", "w", stderr);
            execv(VSSM_BIN, argv);
            _exit(127);
        }
        struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
        nanosleep(&ts, NULL);
        kill(p, SIGINT);
        waitpid(p, &st, 0);
        runs++;
        killed += WIFSIGNALED(st);
        left += temp_files(odir);
        vssm_reid_features f;
        vssm_err err = {0};
        if (access(feats, F_OK) == 0) {
            if (vssm_reid_features_load(&f, feats, &err) != VSSM_OK || f.nq != 3 || f.ng != 6) broken++;
            vssm_reid_features_free(&f);
        }
        if (left) break;
    }
    TEST_CHECK(left == 0 && broken == 0, "SIGINT at %d delays (%d killed): %d temp files left, %d incomplete outputs",
               runs, killed, left, broken);
    printf("  SIGINT: %d runs over %.3f s, %d killed by it\n", runs, total, killed);
}

int main(void) {
    TEST_REQUIRE(chdir(VSSM_SOURCE_DIR) == 0, "cd %s", VSSM_SOURCE_DIR);
    snprintf(tmp, sizeof tmp, "/tmp/vssm_reid_guards_%d", (int)getpid());
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s && cp -r tests/data/reid/market %s/data && cp tests/data/cli/tiny_cls.safetensors "
             "%s/w.safetensors",
             tmp, tmp, tmp);
    TEST_REQUIRE(system(cmd) == 0, "set up %s", tmp);
    test_outputs_over_inputs();
    test_bad_options();
    test_stray_file();
    test_eval_options();
    test_sigint();
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return test_finish("test_reid_guards");
}
