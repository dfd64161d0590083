/* tests/test_cli_classify.c - `vssm classify` and `vssm eval classify` end to end, as a
 * user runs them: image files -> decode -> PIL-exact resize/crop -> model -> JSON, against
 * logits from PIL + torchvision + our PyTorch reference (tests/reference/gen_cli_fixtures.py);
 * a corrupt file in the folder is named on stderr, the rest is processed, exit code 1;
 * usage errors exit 2. Issue 16: link cycles walked once, unreadable class folders counted
 * as failures, outputs through unique temp files. Names: exact in JSON, one line each in text
 * (control bytes escaped); hidden entries of a folder skipped with one note. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "testutil.h"
#include "vssm/eval.h"
#include "vssm/image.h"
#include "vssm/plot.h"
#include "vssm/weights.h"

#define MAXIMG 32
static char ref_path[MAXIMG][512];
static double ref_logit[MAXIMG][3];
static int n_ref;

static void load_refs(void) {
    char *p = test_data_path("cli/ref_logits.txt");
    FILE *f = fopen(p, "r");
    TEST_REQUIRE(f, "open %s", p);
    while (n_ref < MAXIMG && fscanf(f, "%511s %lf %lf %lf", ref_path[n_ref], &ref_logit[n_ref][0], &ref_logit[n_ref][1],
                                    &ref_logit[n_ref][2]) == 4)
        n_ref++;
    fclose(f);
    free(p);
    TEST_REQUIRE(n_ref == 10, "10 reference images (got %d)", n_ref);
}

static const char *W = "tests/data/cli/tiny_cls.safetensors";

static void test_classify_json(void) {
    static char out[1 << 16], err[1 << 14];
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' classify --weights %s --json --topk 3 --batch 4 tests/data/cli/folder", VSSM_BIN,
             W);
    int rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 1, "a folder with one corrupt file exits 1 (got %d)", rc);
    TEST_CHECK(strstr(err, "tests/data/cli/folder/b_dog/broken.jpg: truncated JPEG") != NULL,
               "the corrupt file is named: %s", err);
    TEST_CHECK(strstr(err, "classified 10 images, 1 failed") != NULL, "summary line: %s", err);
    int lines = 0, matched = 0;
    double worst = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        lines++;
        cJSON *j = cJSON_Parse(line);
        TEST_CHECK(j != NULL, "stdout line %d is JSON: %.80s", lines, line);
        if (!j) continue;
        const char *path = cJSON_GetObjectItem(j, "path")->valuestring;
        cJSON *topk = cJSON_GetObjectItem(j, "topk");
        TEST_CHECK(cJSON_GetArraySize(topk) == 3, "3 entries in topk");
        for (int r = 0; r < n_ref; r++) {
            if (strcmp(ref_path[r], path)) continue;
            matched++;
            double maxb = 0, maxd = 0;
            for (int c = 0; c < 3; c++) maxb = fmax(maxb, fabs(ref_logit[r][c]));
            for (int k = 0; k < cJSON_GetArraySize(topk); k++) {
                cJSON *e = cJSON_GetArrayItem(topk, k);
                int idx = cJSON_GetObjectItem(e, "index")->valueint;
                double lg = cJSON_GetObjectItem(e, "logit")->valuedouble;
                const char *lab = cJSON_GetObjectItem(e, "label")->valuestring;
                TEST_CHECK(idx >= 0 && idx < 3 && !strcmp(lab, (const char *[]){"cat", "dog", "bird"}[idx]),
                           "label of index %d", idx);
                maxd = fmax(maxd, fabs(lg - ref_logit[r][idx]));
                if (k == 0) /* the first entry is the argmax of the reference (no near ties in these fixtures) */
                    TEST_CHECK(ref_logit[r][idx] >= ref_logit[r][0] && ref_logit[r][idx] >= ref_logit[r][1] &&
                                   ref_logit[r][idx] >= ref_logit[r][2],
                               "%s: top-1 %d is the reference argmax", path, idx);
            }
            double e = maxd / maxb;
            worst = fmax(worst, e);
            TEST_CHECK(e <= 1e-4, "%s: logits differ from PIL+torchvision+PyTorch by %.3g relative", path, e);
        }
        cJSON_Delete(j);
    }
    TEST_CHECK(lines == 10 && matched == 10, "10 JSON lines, all matched to references (got %d, %d)", lines, matched);
    printf("  classify --json: 10 images, worst logit rel err %.2e vs the PyTorch pipeline\n", worst);
}

static void test_eval(void) {
    static char out[1 << 16], err[1 << 14];
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' eval classify --weights %s --json tests/data/cli/folder", VSSM_BIN, W);
    int rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 1, "eval with a corrupt file exits 1 (got %d)", rc);
    /* expected top-1 from the reference logits: class = sorted folder index */
    const char *cls[3] = {"a_cat", "b_dog", "c_bird"};
    int correct = 0;
    for (int r = 0; r < n_ref; r++) {
        int t = -1, a = 0;
        for (int c = 0; c < 3; c++)
            if (strstr(ref_path[r], cls[c])) t = c;
        for (int c = 1; c < 3; c++)
            if (ref_logit[r][c] > ref_logit[r][a]) a = c;
        correct += a == t;
    }
    cJSON *j = cJSON_Parse(out);
    TEST_REQUIRE(j, "eval --json prints one JSON object: %.200s", out);
    double top1 = cJSON_GetObjectItem(j, "top1")->valuedouble, top5 = cJSON_GetObjectItem(j, "top5")->valuedouble;
    TEST_CHECK(fabs(top1 - 100.0 * correct / n_ref) < 1e-9, "top1 %.4f, expected %.4f", top1, 100.0 * correct / n_ref);
    TEST_CHECK(top5 == 100.0 && cJSON_GetObjectItem(j, "top5_k")->valueint == 3, "top-5 is capped at 3 classes: 100");
    TEST_CHECK(cJSON_GetObjectItem(j, "images")->valueint == 10 && cJSON_GetObjectItem(j, "failed")->valueint == 1,
               "counts");
    cJSON_Delete(j);
}

static void test_usage(void) {
    static char out[1 << 14], err[1 << 14];
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' classify tests/data/cli/folder", VSSM_BIN);
    TEST_CHECK(test_run_cmd(cmd, out, sizeof out, err, sizeof err) == 2 && strstr(err, "--weights"),
               "no --weights: exit 2 naming it");
    snprintf(cmd, sizeof cmd, "'%s' classify --weights tests/data/cli/nope.safetensors x.jpg", VSSM_BIN);
    TEST_CHECK(test_run_cmd(cmd, out, sizeof out, err, sizeof err) == 2 && strstr(err, "nope.safetensors"),
               "missing weights: exit 2 naming the file: %s", err);
    snprintf(cmd, sizeof cmd, "'%s' classify --weights tests/data/images/dog_128x96.png x.jpg", VSSM_BIN);
    TEST_CHECK(test_run_cmd(cmd, out, sizeof out, err, sizeof err) == 2 && strstr(err, "dog_128x96.png"),
               "an image as weights: exit 2: %s", err);
    snprintf(cmd, sizeof cmd, "'%s' classify --weights %s --frobnicate x.jpg", VSSM_BIN, W);
    TEST_CHECK(test_run_cmd(cmd, out, sizeof out, err, sizeof err) == 2 && strstr(err, "--frobnicate"),
               "unknown option: exit 2");
    snprintf(cmd, sizeof cmd, "'%s' classify --weights %s tests/data/images/bad tests/data/cli/none.png", VSSM_BIN, W);
    int rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 1 && strstr(err, "none.png") && strstr(err, "empty.jpg") && strstr(err, "bomb_100000x100000.png"),
               "bad images and a missing path: each named, exit 1 (rc %d): %s", rc, err);
    /* a folder without images; an ImageFolder root without class folders */
    char empty[] = "/tmp/vssm_empty_XXXXXX";
    TEST_REQUIRE(mkdtemp(empty), "mkdtemp");
    snprintf(cmd, sizeof cmd, "'%s' classify --weights %s %s", VSSM_BIN, W, empty);
    rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 1 && strstr(err, "no images found"), "a folder without images: exit 1 and said (rc %d): %s", rc,
               err);
    snprintf(cmd, sizeof cmd, "'%s' eval classify --weights %s %s", VSSM_BIN, W, empty);
    rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 2 && strstr(err, "no class folders"), "eval on a root without class folders: exit 2 (rc %d): %s",
               rc, err);
    rmdir(empty);
    /* --max-pixels: images over the limit are refused before decoding, each named, exit 1 */
    snprintf(cmd, sizeof cmd, "'%s' classify --weights %s --max-pixels 1000 tests/data/cli/folder/a_cat", VSSM_BIN, W);
    rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 1 && strstr(err, "chelsea_120x81.bmp") && strstr(err, "limit of 1000 pixels"),
               "--max-pixels 1000 (rc %d): %s", rc, err);
    snprintf(cmd, sizeof cmd, "'%s' classify --weights %s --max-pixels -5 x.jpg", VSSM_BIN, W);
    TEST_CHECK(test_run_cmd(cmd, out, sizeof out, err, sizeof err) == 2 && strstr(err, "--max-pixels"),
               "--max-pixels -5: usage, exit 2");
    snprintf(cmd, sizeof cmd, "'%s' classify --weights %s --threads -5 x.jpg", VSSM_BIN, W);
    TEST_CHECK(test_run_cmd(cmd, out, sizeof out, err, sizeof err) == 2 && strstr(err, "--threads takes"),
               "--threads -5: usage, exit 2 (it meant all cores, silently): %s", err);
    /* "--": what follows is a path, even a name that starts with '-' */
    char dash[] = "/tmp/vssm_dash_XXXXXX";
    TEST_REQUIRE(mkdtemp(dash), "mkdtemp");
    snprintf(cmd, sizeof cmd,
             "cp tests/data/images/dog_1x1.jpg %s/-x.jpg && cd %s && '%s' classify --weights %s/%s -- -x.jpg", dash,
             dash, VSSM_BIN, VSSM_SOURCE_DIR, W);
    rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 0 && strstr(out, "-x.jpg:"), "classify -- -x.jpg: the file classified (rc %d): %s %s", rc, out,
               err);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dash);
    TEST_CHECK(system(cmd) == 0, "clean up");
    snprintf(cmd, sizeof cmd, "'%s' eval classify --help", VSSM_BIN);
    TEST_CHECK(test_run_cmd(cmd, out, sizeof out, err, sizeof err) == 0 && strstr(out, "--max-pixels N") &&
                   strstr(out, "178956970"),
               "--help documents --max-pixels and its default");
    snprintf(cmd, sizeof cmd, "'%s' frobnicate", VSSM_BIN);
    TEST_CHECK(test_run_cmd(cmd, out, sizeof out, err, sizeof err) == 2, "unknown verb: exit 2");
}


static void sh(const char *fmt, const char *a, const char *b) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    static char o[4096], e[4096];
    TEST_REQUIRE(test_run_cmd(cmd, o, sizeof o, e, sizeof e) == 0, "%s: %s", cmd, e);
}

/* Issue 16: an image folder with link cycles. A self-link made classify see one image 41
 * times (until ELOOP); two links into each other never ended (killed at 120 s, 511 MB).
 * Each real folder is walked once and the skipped links are named. */
static void test_link_cycles(void) {
    static char out[1 << 16], err[1 << 14];
    char t[] = "/tmp/vssm_cycles_XXXXXX", cmd[2048];
    TEST_REQUIRE(mkdtemp(t), "mkdtemp");
    sh("mkdir -p %s/c/sub %s/x", t, t);
    sh("mkdir -p %s/y && cp tests/data/images/dog_37x29_tiny.jpg %s/c/a.jpg", t, t);
    sh("cp tests/data/images/chelsea_1x1.png %s/c/sub/b.png && cp tests/data/images/dog_1x1.jpg %s/x/cx.jpg", t, t);
    sh("ln -s . %s/c/self && ln -s ../.. %s/c/sub/up", t, t); /* self-link; link to the grandparent */
    sh("ln -s ../y %s/x/l1 && ln -s ../x %s/y/l2", t, t);     /* a 2-link cycle */
    snprintf(cmd, sizeof cmd, "timeout 30 '%s' classify --weights %s --json --threads 2 %s/c %s/x", VSSM_BIN, W, t, t);
    int rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 0, "link cycles: exit 0 within 30 s (got %d): %.300s", rc, err);
    int lines = 0, na = 0, nb = 0, nx = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        lines++;
        na += strstr(line, "/a.jpg\"") != NULL;
        nb += strstr(line, "/b.png\"") != NULL;
        nx += strstr(line, "/cx.jpg\"") != NULL;
    }
    TEST_CHECK(lines == 3 && na == 1 && nb == 1 && nx == 1, "each image classified once (lines %d: a %d, b %d, cx %d)",
               lines, na, nb, nx);
    TEST_CHECK(strstr(err, "/c/self: skipped") && strstr(err, "/l2: skipped"), "the skipped links are named: %.600s",
               err);
    printf("  link cycles: 3 images once each; stderr: %.200s\n", err);
    /* a named pipe with an image name in a folder blocked the run forever in fopen */
    sh("mkfifo %s/c/pipe.jpg%s", t, "");
    snprintf(cmd, sizeof cmd, "timeout 30 '%s' classify --weights %s --threads 2 %s/c", VSSM_BIN, W, t);
    rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 1 && strstr(err, "/pipe.jpg: not a regular file") && strstr(err, "classified 3 images, 1 failed"),
               "a FIFO in the folder: named, not opened, exit 1 (rc %d): %.400s", rc, err);
    sh("rm -rf %s%s", t, "");
}

/* Issue 16: `eval classify` with a class folder it cannot read said so but reported 0
 * failed and exited 0 (and a broken class entry was skipped silently, shifting the class
 * indices after it). Each is a failed input: counted, named, exit 1. chmod 000 does not
 * stop root, so as root only the broken-link case runs. */
static void test_unreadable_class(void) {
    static char out[1 << 16], err[1 << 14];
    char t[] = "/tmp/vssm_unread_XXXXXX", cmd[2048];
    TEST_REQUIRE(mkdtemp(t), "mkdtemp");
    sh("mkdir -p %s/a_cat %s/c_bird", t, t);
    sh("cp tests/data/images/dog_37x29_tiny.jpg %s/a_cat/x.jpg && cp tests/data/images/dog_1x1.jpg %s/c_bird/z.jpg", t,
       t);
    sh("ln -s /nonexistent/vssm_class %s/b_dog%s", t, ""); /* a class entry that cannot be read */
    snprintf(cmd, sizeof cmd, "'%s' eval classify --weights %s --json --threads 2 %s", VSSM_BIN, W, t);
    int rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    cJSON *j = cJSON_Parse(out);
    TEST_CHECK(rc == 1 && j && cJSON_GetObjectItem(j, "failed")->valueint == 1 && strstr(err, "/b_dog: cannot read"),
               "a broken class entry: failed 1, named, exit 1 (rc %d): %.200s | %.300s", rc, out, err);
    cJSON_Delete(j);
    sh("rm %s/b_dog && mkdir %s/b_dog", t, t);
    sh("cp tests/data/images/chelsea_1x1.png %s/b_dog/y.png && chmod 000 %s/b_dog", t, t);
    sh("chmod 755 %s && chmod -R a+rX %s/a_cat", t, t);
    sh("chmod -R a+rX %s/c_bird%s", t, "");
    /* chmod 000 does not stop root: as root, run vssm as nobody (setpriv) when possible */
    const char *as = "";
    if (geteuid() == 0)
        as = system("command -v setpriv >/dev/null 2>&1") == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups "
                                                               : NULL;
    snprintf(cmd, sizeof cmd, "%s'%s' eval classify --weights %s --json --threads 2 %s", as ? as : "", VSSM_BIN, W, t);
    rc = as ? test_run_cmd(cmd, out, sizeof out, err, sizeof err) : -1;
    if (!as || (rc == 2 && *as)) {
        printf("  (root without a way to drop privileges, or nobody cannot run vssm here: the chmod 000 case is "
               "skipped)\n");
    } else {
        j = cJSON_Parse(out);
        TEST_CHECK(rc == 1 && j && cJSON_GetObjectItem(j, "failed")->valueint == 1 &&
                       cJSON_GetObjectItem(j, "images")->valueint == 2 && strstr(err, "/b_dog: cannot read the folder"),
                   "an unreadable class folder: failed 1, named, exit 1 (rc %d): %.200s | %.300s", rc, out, err);
        cJSON_Delete(j);
        printf("  unreadable class folder%s: %.120s", *as ? " (as nobody)" : "", err);
        snprintf(cmd, sizeof cmd, "%s'%s' classify --weights %s --threads 2 %s", as, VSSM_BIN, W, t);
        rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
        TEST_CHECK(rc == 1 && strstr(err, "2 images, 1 failed"), "classify on it: exit 1, counted (rc %d): %.300s", rc,
                   err);
    }
    sh("chmod 755 %s/b_dog && rm -rf %s", t, t);
    /* nothing scored at all: top-1 is undefined (null), not 0 */
    char u[] = "/tmp/vssm_none_XXXXXX";
    TEST_REQUIRE(mkdtemp(u), "mkdtemp");
    sh("mkdir %s/a && cp tests/data/images/bad/truncated_half.jpg %s/a/x.jpg", u, u);
    snprintf(cmd, sizeof cmd, "'%s' eval classify --weights %s --json %s", VSSM_BIN, W, u);
    rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    j = cJSON_Parse(out);
    TEST_CHECK(rc == 1 && j && cJSON_IsNull(cJSON_GetObjectItem(j, "top1")) &&
                   cJSON_IsNull(cJSON_GetObjectItem(j, "top5")) && cJSON_GetObjectItem(j, "failed")->valueint == 1,
               "nothing scored: top1/top5 null, failed 1, exit 1 (rc %d): %.300s", rc, out);
    cJSON_Delete(j);
    sh("rm -rf %s%s", u, "");
}

/* Issue 16: --confusion and --plot were written to a fixed PATH.tmp, so two writers of one
 * output (or a leftover PATH.tmp) collided. A directory squatting on PATH.tmp stands in for
 * the other writer's temp file; then two runs write the same outputs at once. Each output
 * is complete and no temp file is left behind. */
static void test_outputs_unique_temp(void) {
    static char out[1 << 16], err[1 << 14];
    char t[] = "/tmp/vssm_outs_XXXXXX", cmd[3000];
    TEST_REQUIRE(mkdtemp(t), "mkdtemp");
    sh("mkdir %s/conf.csv.tmp %s/plot.png.tmp", t, t);
    snprintf(
        cmd, sizeof cmd,
        "'%s' eval classify --weights %s --threads 1 --confusion %s/conf.csv --plot %s/plot.png tests/data/cli/folder",
        VSSM_BIN, W, t, t);
    int rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 1 && !strstr(err, "conf.csv") && !strstr(err, "plot.png"),
               "a squatted PATH.tmp does not stop the outputs (rc %d, only the broken image fails): %.300s", rc, err);
    char two[8192];
    /* braced: test_run_cmd prefixes "cd SOURCE_DIR &&", which must hold for both writers */
    snprintf(two, sizeof two,
             "{ (%s >/dev/null 2>%s/err1; echo $? > %s/rc1) & (%s >/dev/null 2>%s/err2; echo $? > %s/rc2) & wait; }",
             cmd, t, t, cmd, t, t);
    rc = test_run_cmd(two, out, sizeof out, err, sizeof err);
    char p[600];
    FILE *f;
    for (int k = 1; k <= 2; k++) {
        snprintf(p, sizeof p, "%s/rc%d", t, k);
        f = fopen(p, "r");
        int r = -1;
        if (f) {
            if (fscanf(f, "%d", &r) != 1) r = -1;
            fclose(f);
        }
        remove(p);
        snprintf(p, sizeof p, "%s/err%d", t, k);
        char e[2048] = "";
        f = fopen(p, "r");
        if (f) {
            e[fread(e, 1, sizeof e - 1, f)] = 0;
            fclose(f);
        }
        remove(p);
        TEST_CHECK(r == 1, "concurrent writer %d: exit 1 (the broken image only), got %d: %s", k, r, e);
    }
    snprintf(p, sizeof p, "%s/conf.csv", t);
    f = fopen(p, "r");
    int lines = 0;
    char line[512];
    while (f && fgets(line, sizeof line, f)) lines++;
    if (f) fclose(f);
    TEST_CHECK(lines == 4, "the confusion CSV is whole: header + 3 rows (got %d lines)", lines);
    vssm_image im = {0};
    vssm_err e = {0};
    snprintf(p, sizeof p, "%s/plot.png", t);
    TEST_CHECK(vssm_image_load(&im, p, NULL, &e) == VSSM_OK && im.w >= 200 && im.h >= 200,
               "the plot PNG is whole: %s (%dx%d)", e.msg, im.w, im.h);
    vssm_image_free(&im);
    DIR *d = opendir(t);
    int others = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, "conf.csv") || !strcmp(n, "plot.png") ||
            !strcmp(n, "conf.csv.tmp") || !strcmp(n, "plot.png.tmp"))
            continue;
        others++;
        printf("  left behind: %s\n", n);
    }
    if (d) closedir(d);
    TEST_CHECK(others == 0, "no temp file left behind (%d)", others);
    sh("rm -rf %s%s", t, "");
}

/* File names are arbitrary bytes: --json escaped quotes and control bytes but copied
 * invalid UTF-8 through, which JSON parsers that check encoding (Python's) refuse. */
static void test_json_names(void) {
    static char out[1 << 14], err[1 << 14];
    char t[] = "/tmp/vssm_names_XXXXXX", cmd[2048];
    TEST_REQUIRE(mkdtemp(t), "mkdtemp");
    sh("cp tests/data/images/dog_1x1.jpg \"%s/caf$(printf '\\351')\".jpg && cp tests/data/images/dog_1x1.jpg "
       "\"%s/\\\"q$(printf '\\t')\".jpg",
       t, t);
    snprintf(cmd, sizeof cmd, "'%s' classify --weights %s --json --topk 1 %s", VSSM_BIN, W, t);
    int rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 0, "classify odd names: exit 0 (rc %d): %s", rc, err);
    TEST_CHECK(strstr(out, "/caf\\ufffd.jpg\"") != NULL, "a latin-1 byte becomes \\ufffd: %s", out);
    TEST_CHECK(strstr(out, "/\\\"q\\u0009.jpg\"") != NULL, "quote and tab escaped: %s", out);
    int valid = 1;
    for (const unsigned char *p = (const unsigned char *)out; *p; p++) valid &= *p < 0x80;
    TEST_CHECK(valid, "the JSON is plain ASCII here (the names' bytes were escaped)");
    /* text mode: a newline in a name once split one result over two lines */
    sh("rm -f %s/* && cp tests/data/images/dog_1x1.jpg \"%s/a$(printf '\\nb').jpg\"", t, t);
    snprintf(cmd, sizeof cmd, "'%s' classify --weights %s --topk 1 %s", VSSM_BIN, W, t);
    rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    int nl = 0;
    for (const char *p = out; *p; p++) nl += *p == '\n';
    TEST_CHECK(rc == 0 && nl == 1 && strstr(out, "/a\\nb.jpg:"), "a newline in a name: one line, escaped (rc %d): %s",
               rc, out);
    /* on stderr too: an ESC sequence in a broken file's name is escaped, not sent to the terminal */
    sh("printf 'x' > \"%s/e$(printf '\\033')[31m.jpg\"%s", t, "");
    snprintf(cmd, sizeof cmd, "'%s' classify --weights %s --topk 1 %s", VSSM_BIN, W, t);
    rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 1 && strstr(err, "/e\\x1b[31m.jpg: not an image") && !strchr(err, 0x1b),
               "an ESC in a name on stderr: escaped (rc %d): %s", rc, err);
    sh("rm -f \"%s/e$(printf '\\033')[31m.jpg\"%s", t, "");
    /* hidden entries inside a folder: .ipynb_checkpoints holds copies, ._x.jpg is macOS metadata */
    sh("mkdir -p %s/.ipynb_checkpoints && cp tests/data/images/dog_1x1.jpg %s/.ipynb_checkpoints/c.jpg", t, t);
    sh("printf 'Mac OS X        ' > %s/._a.jpg%s", t, "");
    snprintf(cmd, sizeof cmd, "'%s' classify --weights %s --topk 1 %s", VSSM_BIN, W, t);
    rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    nl = 0;
    for (const char *p = out; *p; p++) nl += *p == '\n';
    TEST_CHECK(rc == 0 && nl == 1 && strstr(err, "skipped 2 hidden entries") && strstr(err, "classified 1 image,"),
               "hidden entries skipped with one note, exit 0 (rc %d): %s / %s", rc, out, err);
    snprintf(cmd, sizeof cmd, "'%s' classify --weights %s --topk 1 %s/._a.jpg", VSSM_BIN, W, t);
    rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 1 && strstr(err, "._a.jpg"), "a hidden file given by its path is read (and fails here): %s", err);
    sh("rm -rf %s%s", t, "");
}

/* A class count from a weights file (up to 100000) once asked the heat map for 30 GB. Past
 * VSSM_PLOT_MAX_CLASSES the plot is refused, before reading the matrix. */
static void test_plot_bound(void) {
    int64_t cm[1] = {0};
    vssm_err e = {0};
    vssm_status st = vssm_plot_confusion("/tmp/vssm_never_written.png", cm, 100000, NULL, &e);
    TEST_CHECK(st == VSSM_ERR_INVALID_ARG && strstr(e.msg, "too many for a confusion plot") &&
                   access("/tmp/vssm_never_written.png", F_OK) != 0,
               "a 100000-class heat map is refused before anything is allocated or written: %s", e.msg);
}

/* Outputs never over inputs (a user test: --plot onto a dataset image, --confusion onto the
 * weights, bench --op-times onto the weights all exited 0 and destroyed the input), each
 * refused before the run with the input unchanged; a missing output folder refused up front;
 * images beyond the model's classes counted in "failed". */
static void test_outputs_not_inputs(void) {
    static char out[1 << 16], err[1 << 14];
    char t[64], cmd[2048];
    snprintf(t, sizeof t, "/tmp/vssm_cls_out_XXXXXX");
    TEST_REQUIRE(mkdtemp(t), "mkdtemp");
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/ds && for c in a b c d; do cp -r tests/data/cli/folder/a_cat %s/ds/$c; done && "
             "rm %s/ds/b/*.bmp && cp %s %s/w.safetensors",
             t, t, t, W, t);
    TEST_REQUIRE(test_run_cmd(cmd, out, sizeof out, err, sizeof err) == 0, "make the dataset: %s", err);
    size_t n0 = 0, n1 = 0;
    char img[256], wc[256];
    snprintf(wc, sizeof wc, "%s/w.safetensors", t);
    snprintf(cmd, sizeof cmd, "ls %s/ds/a/*.png | head -1 | tr -d '\n'", t);
    test_run_cmd(cmd, img, sizeof img, err, sizeof err);
    free(test_read_file(img, &n0));
    const char *cases[][2] = {
        {"eval classify --weights @W --plot @I @/ds", "inside the input folder"}, /* onto a dataset image */
        {"eval classify --weights @W --confusion @W @/ds", "is the input"},       /* onto the weights */
        {"eval classify --weights @W --confusion @/ds/a/new.csv @/ds", "inside the input folder"},
        {"eval classify --weights @W --plot @/p.png --confusion @/p.png @/ds", "the same file"},
        {"eval classify --weights @W --plot @/nodir/p.png @/ds", "does not exist"},
        {"bench --weights @W --size 32 --runs 1 --warmup 0 --no-gemm-ref --op-times @W", "is the input"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char a[1024] = "", *o = a;
        for (const char *p = cases[i][0]; *p && o < a + sizeof a - 300; p++) {
            if (p[0] == '@' && (p[1] == 'W' || p[1] == 'I' || p[1] == '/')) {
                o += sprintf(o, "%s", p[1] == 'W' ? wc : p[1] == 'I' ? img : t);
                if (p[1] != '/') p++;
            } else
                *o++ = *p;
        }
        *o = 0;
        snprintf(cmd, sizeof cmd, "'%s' %s --threads 1", VSSM_BIN, a);
        int rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
        free(test_read_file(img, &n1));
        vssm_weights *w = NULL;
        vssm_err e = {0};
        const int wok = vssm_weights_open(&w, wc, NULL, &e) == VSSM_OK;
        vssm_weights_close(w);
        TEST_CHECK(rc == 2 && strstr(err, cases[i][1]) && n1 == n0 && wok,
                   "%s: exit 2 naming '%s', the inputs intact (rc %d, image %zu -> %zu bytes, weights load %d): %.300s",
                   cases[i][0], cases[i][1], rc, n0, n1, wok, err);
    }
    /* 4 class folders for the 3-class model: the fourth's images are not scored, so failed */
    snprintf(cmd, sizeof cmd, "'%s' eval classify --weights %s --json --threads 1 %s/ds", VSSM_BIN, wc, t);
    int rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    cJSON *j = cJSON_Parse(out);
    const cJSON *f = j ? cJSON_GetObjectItem(j, "failed") : NULL, *n = j ? cJSON_GetObjectItem(j, "images") : NULL;
    snprintf(cmd, sizeof cmd, "ls %s/ds/d | wc -l", t);
    char cnt[32];
    test_run_cmd(cmd, cnt, sizeof cnt, err, sizeof err);
    TEST_CHECK(rc == 1 && f && n && (int)f->valuedouble == atoi(cnt) && (int)n->valuedouble > 0,
               "images of a class beyond the model's counted in failed (%d, want %d; rc %d): %.200s",
               f ? (int)f->valuedouble : -1, atoi(cnt), rc, out);
    cJSON_Delete(j);
    snprintf(cmd, sizeof cmd, "rm -rf %s", t);
    test_run_cmd(cmd, out, sizeof out, err, sizeof err);
}

int main(void) {
    load_refs();
    test_classify_json();
    test_eval();
    test_usage();
    test_link_cycles();
    test_unreadable_class();
    test_outputs_unique_temp();
    test_json_names();
    test_plot_bound();
    test_outputs_not_inputs();
    return test_finish("test_cli_classify");
}
