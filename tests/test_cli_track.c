/* tests/test_cli_track.c - `vssm track` and `vssm eval track` end to end: track the tiny
 * fixture sequence (tests/data/track/otb, made by datasets/make_track_demo.py) with the
 * random tiny backbone, check the results file (one integer box per frame, frame 0 = GT),
 * evaluate it (JSON keys, plots), and the exit codes for bad input and usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "testutil.h"

static char tmp[64];

static int exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && sb.st_size > 0;
}

static const char *W = "tests/data/cli/tiny_cls.safetensors";
static const char *SEQ = "tests/data/track/otb/fmnist-01";

int main(void) {
    static char out[1 << 16], err[1 << 14];
    char cmd[2048], p[256];
    snprintf(tmp, sizeof tmp, "/tmp/vssm_cli_track_XXXXXX");
    TEST_REQUIRE(mkdtemp(tmp), "mkdtemp");
    char res[128], vid[128];
    snprintf(res, sizeof res, "%s/res", tmp);
    snprintf(vid, sizeof vid, "%s/vid", tmp);
    mkdir(res, 0777);

    /* track: results file with 10 integer boxes, the first the GT's */
    snprintf(cmd, sizeof cmd,
             "'%s' track --weights %s --seq %s --out %s/fmnist-01.txt --video-out %s --threads 2 --template-size 64 "
             "--search-size 128",
             VSSM_BIN, W, SEQ, res, vid);
    int rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 0, "track exits 0 (got %d): %s", rc, err);
    TEST_CHECK(strstr(err, "tracked 10 frames") != NULL, "summary line on stderr: %s", err);
    snprintf(p, sizeof p, "%s/fmnist-01.txt", res);
    FILE *f = fopen(p, "r");
    TEST_REQUIRE(f, "results file %s", p);
    char gt0[64] = {0};
    FILE *g = fopen(VSSM_SOURCE_DIR "/tests/data/track/otb/fmnist-01/groundtruth_rect.txt", "r");
    if (g) {
        if (!fgets(gt0, sizeof gt0, g)) gt0[0] = 0;
        fclose(g);
    }
    char line[128];
    int lines = 0, ints = 1;
    while (fgets(line, sizeof line, f)) {
        int a, b, c, d;
        char tail[8];
        ints &= sscanf(line, "%d,%d,%d,%d%1s", &a, &b, &c, &d, tail) == 4 && c > 0 && d > 0;
        if (lines == 0) TEST_CHECK(!strcmp(line, gt0), "frame 0 is the GT box: %s vs %s", line, gt0);
        lines++;
    }
    fclose(f);
    TEST_CHECK(lines == 10 && ints, "10 lines of integer x,y,w,h (%d)", lines);
    snprintf(p, sizeof p, "%s/00000010.png", vid);
    TEST_CHECK(exists(p), "--video-out wrote %s", p);

    /* eval: JSON with the pytracking keys, plots */
    snprintf(cmd, sizeof cmd,
             "'%s' eval track --results %s --gt tests/data/track/otb --format otb --json --plot %s/plot.svg", VSSM_BIN,
             res, tmp);
    rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 0, "eval track exits 0 (got %d): %s", rc, err);
    cJSON *j = cJSON_Parse(out);
    TEST_REQUIRE(j, "eval --json prints JSON: %.300s", out);
    const char *keys[] = {"auc", "precision", "norm_precision", "op50", "op75"};
    for (int k = 0; k < 5; k++) {
        cJSON *v = cJSON_GetObjectItem(j, keys[k]);
        TEST_CHECK(cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 100, "key %s in 0..100", keys[k]);
    }
    cJSON *ps = cJSON_GetObjectItem(j, "per_sequence");
    TEST_CHECK(cJSON_GetArraySize(ps) == 1 &&
                   !strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(ps, 0), "name")->valuestring, "fmnist-01"),
               "per_sequence lists fmnist-01");
    printf("  tiny fixture: AUC %.2f precision %.2f (random backbone)\n", cJSON_GetObjectItem(j, "auc")->valuedouble,
           cJSON_GetObjectItem(j, "precision")->valuedouble);
    cJSON_Delete(j);
    snprintf(p, sizeof p, "%s/plot.svg", tmp);
    TEST_CHECK(exists(p), "SVG plot written");
    snprintf(p, sizeof p, "%s/plot.png", tmp);
    TEST_CHECK(!exists(p), "only the file asked for: no PNG beside the SVG");

    /* the text table */
    snprintf(cmd, sizeof cmd, "'%s' eval track --results %s --gt tests/data/track/otb --format otb", VSSM_BIN, res);
    rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 0 && strstr(out, "fmnist-01") && strstr(out, "AUC"), "table: %s", out);

    /* missing results for a sequence: named, exit 1 */
    snprintf(cmd, sizeof cmd, "'%s' eval track --results %s --gt tests/data/track/readers/otb --format otb", VSSM_BIN,
             res);
    rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 1 && strstr(err, "Comma.txt: result not found"), "missing results -> 1 (%d): %s", rc, err);

    /* usage and unusable weights: exit 2 */
    struct {
        const char *args;
        int code;
        const char *msg;
    } bad[] = {
        {"track --seq tests/data/track/otb/fmnist-01 --out /dev/null", 2, "--weights"},
        {"track --weights tests/data/track/otb/README.txt --seq tests/data/track/otb/fmnist-01 --out /dev/null", 2,
         "README.txt"},
        {"track --weights tests/data/cli/tiny_cls.safetensors --seq tests/data/track/otb/fmnist-01 --out /dev/null "
         "--init 5,5,0,10",
         2, "zero or negative size"},
        {"track --weights tests/data/cli/tiny_cls.safetensors --seq tests/data/track/otb/fmnist-01 --out /dev/null "
         "--init 5,5,10",
         2, "x,y,w,h"},
        {"track --weights tests/data/cli/tiny_cls.safetensors --seq tests/data/track/readers/bad/Short --out /dev/null",
         1, "Short"},
        {"track --weights tests/data/cli/tiny_cls.safetensors --seq tests/data/track/readers/otb/Comma --out /dev/null",
         1, "no frames"},
        /* a first GT box no tracker can start from: the GT file's line is named, not the frame */
        {"track --weights tests/data/cli/tiny_cls.safetensors --seq tests/data/track/bad/NanInit --out /dev/null", 1,
         "NanInit/groundtruth_rect.txt:2: the first box"},
        /* the hybrid decoding's options: a head is needed; its settings are checked */
        {"track --weights tests/data/cli/tiny_cls.safetensors --seq tests/data/track/otb/fmnist-01 --out /dev/null "
         "--hybrid 1",
         2, "--hybrid options need a file with a trained tracker head"},
        {"track --weights weights/track_demo/vmamba_track_demo.safetensors --seq tests/data/track/otb/fmnist-01 "
         "--out /dev/null --hybrid-scales 4",
         2, "--hybrid: scale search: need"},
        {"eval track --results /tmp --gt tests/data/track/otb --format vot", 2, "otb, lasot or got10k"},
        {"eval track --results /nonexistent --gt tests/data/track/otb --format otb", 2, "/nonexistent"},
        {"eval track --gt tests/data/track/otb --format otb", 2, "required"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        snprintf(cmd, sizeof cmd, "'%s' %s", VSSM_BIN, bad[k].args);
        rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
        TEST_CHECK(rc == bad[k].code && strstr(err, bad[k].msg), "`vssm %s` exits %d (got %d) naming '%s': %s",
                   bad[k].args, bad[k].code, rc, bad[k].msg, err);
    }
    /* --results DIR whose DIR/<seq>.txt would pass 4095 bytes: an error, not a file written
     * under the truncated name (DIR/fmnist) */
    {
        static char longdir[4200], c2[4400];
        int L = snprintf(longdir, sizeof longdir, "%s", tmp);
        while (L < 4090 - 255) L += snprintf(longdir + L, sizeof longdir - L, "/%0254d", 0);
        L += snprintf(longdir + L, sizeof longdir - L, "/%0*d", 4090 - L - 1, 0);
        snprintf(c2, sizeof c2, "mkdir -p '%s'", longdir);
        TEST_REQUIRE(strlen(longdir) == 4090 && system(c2) == 0, "make a 4090-byte folder");
        snprintf(c2, sizeof c2,
                 "'%s' track --weights %s --dataset tests/data/track/otb --format otb --results '%s' --template-size "
                 "64 --search-size 128",
                 VSSM_BIN, W, longdir);
        rc = test_run_cmd(c2, out, sizeof out, err, sizeof err);
        TEST_CHECK(rc == 1 && strstr(err, "output path for sequence fmnist-01 is too long"),
                   "too-long results path: exit 1 (%d): %.200s", rc, err + (strlen(err) > 200 ? strlen(err) - 200 : 0));
        snprintf(c2, sizeof c2, "test -z \"$(ls -A '%s')\"", longdir);
        TEST_CHECK(system(c2) == 0, "nothing written under a truncated name");
    }
    /* --max-pixels reaches the frame reader (it was parsed and ignored): every frame refused,
     * named, exit 1; the summary says nothing was tracked (not "tracked 0 frames, 0.0 frames/s") */
    snprintf(cmd, sizeof cmd, "'%s' track --weights %s --seq %s --out %s/mp.txt --max-pixels 100", VSSM_BIN, W, SEQ,
             tmp);
    rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 1 && strstr(err, "0001.jpg") && strstr(err, "over the limit of 100 pixels"),
               "--max-pixels 100: the first frame refused by name, exit 1 (rc %d): %s", rc, err);
    TEST_CHECK(strstr(err, "nothing tracked") && !strstr(err, "frames/s"), "no frame tracked: said so, no rate: %s",
               err);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return test_finish("test_cli_track");
}
