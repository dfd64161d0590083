/* tests/test_attr_columns.c - `vssm eval attributes` matches prediction columns to the labels by
 * header name, not position: METRICS.md's worked example (tests/data/attributes/gt.csv) against
 * its predictions with the columns in another order gives the same figures (mA 0.6667; by
 * position it was 0.5000); a prediction header naming other attributes, or missing one, or a
 * header naming one twice is refused (exit 2, each name said); a row name twice in the labels
 * (it was counted twice) and a label that is not 0 or 1 (0.5 was taken as 0) are refused
 * naming FILE:LINE (and the attribute). The CSVs are written to a temp folder. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "testutil.h"
#include "vssm/eval.h"

#ifndef __clang__
#pragma GCC diagnostic ignored "-Wformat-truncation" /* paths are short */
#endif

static char out[1 << 14], err[1 << 14], dir[64];

static const char *GT = "name,a1,a2,a3\nimg0,1,0,1\nimg1,0,0,1\nimg2,1,1,0\nimg3,0,0,0\n";

static void put(const char *name, const char *text) {
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    TEST_REQUIRE(f && fputs(text, f) >= 0 && fclose(f) == 0, "write %s", p);
}

static int run(const char *gt, const char *pred) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' eval attributes --gt %s/%s --pred %s/%s --json", VSSM_BIN, dir, gt, dir, pred);
    return test_run_cmd(cmd, out, sizeof out, err, sizeof err);
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = o ? cJSON_GetObjectItem(o, k) : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/vssm_attr_columns_%d", (int)getpid());
    char cmd[256];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    TEST_REQUIRE(system(cmd) == 0, "mkdir %s", dir);
    put("gt.csv", GT);
    /* the worked example's probabilities, columns a3, a1, a2 (and spaces after the commas) */
    put("pred_perm.csv", "name, a3, a1, a2\nimg0,.4,.9,.2\nimg1,.7,.6,.1\nimg2,.1,.8,.5\nimg3,.2,.3,.4\n");
    int rc = run("gt.csv", "pred_perm.csv");
    cJSON *j = cJSON_Parse(out);
    TEST_CHECK(rc == 0 && fabs(num(j, "mA") - 0.6667) < 1e-4 && fabs(num(j, "acc") - 0.375) < 1e-6 &&
                   fabs(num(j, "f1") - 0.5556) < 1e-4,
               "columns matched by name: mA %g acc %g F1 %g (0.6667 0.375 0.5556), rc %d: %s", num(j, "mA"),
               num(j, "acc"), num(j, "f1"), rc, err);
    const cJSON *lab = j ? cJSON_GetObjectItem(j, "label_mA") : NULL;
    TEST_CHECK(lab && fabs(num(lab, "a1") - 0.75) < 1e-6 && fabs(num(lab, "a2") - 0.5) < 1e-6 &&
                   fabs(num(lab, "a3") - 0.75) < 1e-6,
               "label_mA per attribute by name (a1 %g a2 %g a3 %g)", num(lab, "a1"), num(lab, "a2"), num(lab, "a3"));
    cJSON_Delete(j);

    struct {
        const char *name, *text, *gt, *msg;
    } bad[] = {
        {"pred_xyz.csv", "name,x,y,z\nimg0,.9,.2,.4\n", "gt.csv", "no column 'a1'"},
        {"pred_xyz.csv", "name,x,y,z\nimg0,.9,.2,.4\n", "gt.csv", "column 'z' is not an attribute"},
        {"pred_less.csv", "name,a1,a3\nimg0,.9,.4\n", "gt.csv", "no column 'a2'"},
        {"pred_more.csv", "name,a1,a2,a3,a4\nimg0,.9,.2,.4,.5\n", "gt.csv", "column 'a4' is not an attribute"},
        {"pred_twice.csv", "name,a1,a2,a1\nimg0,.9,.2,.4\n", "gt.csv",
         "pred_twice.csv:1: the header names attribute 'a1' twice"},
        {"pred_duprow.csv", "name,a1,a2,a3\nimg0,.9,.2,.4\nimg1,.6,.1,.7\nimg0,.1,.1,.1\n", "gt.csv",
         "pred_duprow.csv:4: row 'img0' again (first on line 2)"},
        {"pred.csv", "name,a1,a2,a3\nimg0,.9,.2,.4\nimg1,.6,.1,.7\nimg2,.8,.5,.1\nimg3,.3,.4,.2\n", "gt_dup.csv",
         "gt_dup.csv:6: row 'img1' again (first on line 3)"},
        {"pred.csv", "name,a1,a2,a3\nimg0,.9,.2,.4\nimg1,.6,.1,.7\nimg2,.8,.5,.1\nimg3,.3,.4,.2\n", "gt_half.csv",
         "gt_half.csv:3: value 2 ('0.5', attribute 'a2') is not a label"},
    };
    put("gt_dup.csv", "name,a1,a2,a3\nimg0,1,0,1\nimg1,0,0,1\nimg2,1,1,0\nimg3,0,0,0\nimg1,1,1,1\n");
    put("gt_half.csv", "name,a1,a2,a3\nimg0,1,0,1\nimg1,0,0.5,1\nimg2,1,1,0\nimg3,0,0,0\n");
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        put(bad[k].name, bad[k].text);
        rc = run(bad[k].gt, bad[k].name);
        TEST_CHECK(rc == 2 && strstr(err, bad[k].msg) && !out[0],
                   "%s vs %s: exit 2 (%d), nothing on stdout, saying '%s': %s", bad[k].gt, bad[k].name, rc, bad[k].msg,
                   err);
    }
    /* no label row has a prediction: nothing scored, nothing done */
    put("pred_other.csv", "name,a1,a2,a3\nzz0,.9,.2,.4\n");
    rc = run("gt.csv", "pred_other.csv");
    TEST_CHECK(rc == 2 && strstr(err, "no prediction for 'img3'") && strstr(err, "no sample could be scored"),
               "no row scored: exit 2 (%d): %s", rc, err);

    /* the library refuses a label other than 0/1 and a NaN probability (it scored 2 as 1) */
    const float probs[4] = {0.9f, 0.1f, NAN, 0.2f};
    const uint8_t gt_ok[4] = {1, 0, 0, 1}, gt_two[4] = {1, 0, 2, 1};
    vssm_attr_metrics m;
    vssm_err e = {0};
    TEST_CHECK(vssm_attr_metrics_compute(probs, gt_two, 2, 2, &m, NULL, &e) == VSSM_ERR_INVALID_ARG &&
                   strstr(e.msg, "sample 1, attribute 0: label 2"),
               "label 2 refused: %s", e.msg);
    TEST_CHECK(vssm_attr_metrics_compute(probs, gt_ok, 2, 2, &m, NULL, &e) == VSSM_ERR_INVALID_ARG &&
                   strstr(e.msg, "sample 1, attribute 0"),
               "NaN probability refused: %s", e.msg);

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_finish("test_attr_columns");
}
