/* tests/test_eval_attributes.c - `vssm eval attributes` on the CSVs in tests/data/attributes
 * (README.txt there): METRICS.md's worked example; a blank line before the header and an
 * attribute name that needs JSON escaping; every CSV read error is exit 2 naming FILE:LINE
 * and the value (run it in the sanitizer build: the error paths leaked the rows read so
 * far, the row being read and the other file's table, and LeakSanitizer's exit code then
 * fails the exit-code checks); a missing prediction row is named and the other rows are
 * still scored (exit 1). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "testutil.h"

#define D "tests/data/attributes/"

static char out[1 << 14], err[1 << 14];

static int run(const char *gt, const char *pred) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' eval attributes --gt " D "%s --pred " D "%s --json", VSSM_BIN, gt, pred);
    return test_run_cmd(cmd, out, sizeof out, err, sizeof err);
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

int main(void) {
    int rc = run("gt.csv", "pred.csv");
    cJSON *j = cJSON_Parse(out);
    TEST_CHECK(rc == 0 && j, "worked example: exit 0 (%d), JSON: %s %s", rc, out, err);
    TEST_CHECK(fabs(num(j, "mA") - 0.6667) < 1e-4 && fabs(num(j, "acc") - 0.375) < 1e-6 && fabs(num(j, "prec") - 0.625) < 1e-6 &&
                   fabs(num(j, "rec") - 0.5) < 1e-6 && fabs(num(j, "f1") - 0.5556) < 1e-4,
               "METRICS.md figures (mA %g acc %g prec %g rec %g F1 %g)", num(j, "mA"), num(j, "acc"), num(j, "prec"), num(j, "rec"),
               num(j, "f1"));
    cJSON_Delete(j);

    rc = run("gt_blank_first.csv", "pred.csv");
    j = cJSON_Parse(out);
    TEST_CHECK(rc == 0 && j, "blank line before the header: exit 0 (%d), valid JSON: %s %s", rc, out, err);
    const cJSON *lab = j ? cJSON_GetObjectItem(j, "label_mA") : NULL;
    TEST_CHECK(lab && cJSON_GetObjectItem(lab, "\"a3\\x\""), "attribute name with a quote and a backslash escaped: %s", out);
    TEST_CHECK(fabs(num(j, "mA") - 0.6667) < 1e-4, "same figures (mA %g)", num(j, "mA"));
    cJSON_Delete(j);

    struct { const char *gt, *pred, *msg; } bad[] = {
        {"gt.csv", "pred_badval.csv", "pred_badval.csv:3: value 2 ('abc')"},
        {"gt.csv", "pred_cols.csv", "pred_cols.csv:3: 2 values, the header has 3"},
        {"gt.csv", "pred_trailing.csv", "pred_trailing.csv:3: value 3 ('.7x')"},
        {"gt.csv", "pred_empty.csv", "pred_empty.csv:3: value 1 ('')"},
        {"gt.csv", "pred_noattr.csv", "pred_noattr.csv:1: the header names 0 attributes"},
        {"gt_nan.csv", "pred.csv", "gt_nan.csv:3: value 2 ('nan')"},
        {"gt.csv", "nonexistent.csv", "nonexistent.csv: cannot open"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        rc = run(bad[k].gt, bad[k].pred);
        TEST_CHECK(rc == 2 && strstr(err, bad[k].msg), "%s vs %s: exit 2 (%d) naming '%s': %s", bad[k].gt, bad[k].pred, rc, bad[k].msg,
                   err);
    }

    rc = run("gt.csv", "pred_missing.csv");
    j = cJSON_Parse(out);
    TEST_CHECK(rc == 1 && strstr(err, "no prediction for 'img1'"), "missing row named, exit 1 (%d): %s", rc, err);
    TEST_CHECK(j && num(j, "samples") == 3, "the other 3 rows still scored (%g)", j ? num(j, "samples") : -1.0);
    cJSON_Delete(j);
    return test_finish("test_eval_attributes");
}
