/* tests/test_cli_classify.c - `vssm classify` and `vssm eval classify` end to end, as a
 * user runs them: image files -> decode -> PIL-exact resize/crop -> model -> JSON, against
 * logits from PIL + torchvision + our PyTorch reference (tests/reference/gen_cli_fixtures.py);
 * a corrupt file in the folder is named on stderr, the rest is processed, exit code 1;
 * usage errors exit 2. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "testutil.h"

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
    snprintf(cmd, sizeof cmd, "'%s' classify --weights %s --json --topk 3 --batch 4 tests/data/cli/folder", VSSM_BIN, W);
    int rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 1, "a folder with one corrupt file exits 1 (got %d)", rc);
    TEST_CHECK(strstr(err, "tests/data/cli/folder/b_dog/broken.jpg: truncated JPEG") != NULL, "the corrupt file is named: %s", err);
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
                TEST_CHECK(idx >= 0 && idx < 3 && !strcmp(lab, (const char *[]){"cat", "dog", "bird"}[idx]), "label of index %d", idx);
                maxd = fmax(maxd, fabs(lg - ref_logit[r][idx]));
                if (k == 0) /* the first entry is the argmax of the reference (no near ties in these fixtures) */
                    TEST_CHECK(ref_logit[r][idx] >= ref_logit[r][0] && ref_logit[r][idx] >= ref_logit[r][1] &&
                                   ref_logit[r][idx] >= ref_logit[r][2], "%s: top-1 %d is the reference argmax", path, idx);
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
        for (int c = 0; c < 3; c++) if (strstr(ref_path[r], cls[c])) t = c;
        for (int c = 1; c < 3; c++) if (ref_logit[r][c] > ref_logit[r][a]) a = c;
        correct += a == t;
    }
    cJSON *j = cJSON_Parse(out);
    TEST_REQUIRE(j, "eval --json prints one JSON object: %.200s", out);
    double top1 = cJSON_GetObjectItem(j, "top1")->valuedouble, top5 = cJSON_GetObjectItem(j, "top5")->valuedouble;
    TEST_CHECK(fabs(top1 - 100.0 * correct / n_ref) < 1e-9, "top1 %.4f, expected %.4f", top1, 100.0 * correct / n_ref);
    TEST_CHECK(top5 == 100.0 && cJSON_GetObjectItem(j, "top5_k")->valueint == 3, "top-5 is capped at 3 classes: 100");
    TEST_CHECK(cJSON_GetObjectItem(j, "images")->valueint == 10 && cJSON_GetObjectItem(j, "failed")->valueint == 1, "counts");
    cJSON_Delete(j);
}

static void test_usage(void) {
    static char out[1 << 14], err[1 << 14];
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' classify tests/data/cli/folder", VSSM_BIN);
    TEST_CHECK(test_run_cmd(cmd, out, sizeof out, err, sizeof err) == 2 && strstr(err, "--weights"), "no --weights: exit 2 naming it");
    snprintf(cmd, sizeof cmd, "'%s' classify --weights tests/data/cli/nope.safetensors x.jpg", VSSM_BIN);
    TEST_CHECK(test_run_cmd(cmd, out, sizeof out, err, sizeof err) == 2 && strstr(err, "nope.safetensors"), "missing weights: exit 2 naming the file: %s", err);
    snprintf(cmd, sizeof cmd, "'%s' classify --weights tests/data/images/dog_128x96.png x.jpg", VSSM_BIN);
    TEST_CHECK(test_run_cmd(cmd, out, sizeof out, err, sizeof err) == 2 && strstr(err, "dog_128x96.png"), "an image as weights: exit 2: %s", err);
    snprintf(cmd, sizeof cmd, "'%s' classify --weights %s --frobnicate x.jpg", VSSM_BIN, W);
    TEST_CHECK(test_run_cmd(cmd, out, sizeof out, err, sizeof err) == 2 && strstr(err, "--frobnicate"), "unknown option: exit 2");
    snprintf(cmd, sizeof cmd, "'%s' classify --weights %s tests/data/images/bad tests/data/cli/none.png", VSSM_BIN, W);
    int rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 1 && strstr(err, "none.png") && strstr(err, "empty.jpg") && strstr(err, "bomb_100000x100000.png"),
               "bad images and a missing path: each named, exit 1 (rc %d): %s", rc, err);
    /* a folder without images; an ImageFolder root without class folders */
    char empty[] = "/tmp/vssm_empty_XXXXXX";
    TEST_REQUIRE(mkdtemp(empty), "mkdtemp");
    snprintf(cmd, sizeof cmd, "'%s' classify --weights %s %s", VSSM_BIN, W, empty);
    rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 1 && strstr(err, "no images found"), "a folder without images: exit 1 and said (rc %d): %s", rc, err);
    snprintf(cmd, sizeof cmd, "'%s' eval classify --weights %s %s", VSSM_BIN, W, empty);
    rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 2 && strstr(err, "no class folders"), "eval on a root without class folders: exit 2 (rc %d): %s", rc, err);
    rmdir(empty);
    snprintf(cmd, sizeof cmd, "'%s' frobnicate", VSSM_BIN);
    TEST_CHECK(test_run_cmd(cmd, out, sizeof out, err, sizeof err) == 2, "unknown verb: exit 2");
}

int main(void) {
    load_refs();
    test_classify_json();
    test_eval();
    test_usage();
    return test_finish("test_cli_classify");
}
