/* tests/test_eval_attributes.c - `vssm eval attributes` on the CSVs in tests/data/attributes
 * (README.txt there): METRICS.md's worked example; a blank line before the header and an
 * attribute name that needs JSON escaping; every CSV read error is exit 2 naming FILE:LINE
 * and the value (run it in the sanitizer build: the error paths leaked the rows read so
 * far, the row being read and the other file's table, and LeakSanitizer's exit code then
 * fails the exit-code checks); a missing prediction row is named and the other rows are
 * still scored (exit 1); 300,000 rows in shuffled order are matched in seconds (each label
 * row scanned every prediction row: 4.5e10 string compares, minutes). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
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
    TEST_CHECK(fabs(num(j, "mA") - 0.6667) < 1e-4 && fabs(num(j, "acc") - 0.375) < 1e-6 &&
                   fabs(num(j, "prec") - 0.625) < 1e-6 && fabs(num(j, "rec") - 0.5) < 1e-6 &&
                   fabs(num(j, "f1") - 0.5556) < 1e-4,
               "METRICS.md figures (mA %g acc %g prec %g rec %g F1 %g)", num(j, "mA"), num(j, "acc"), num(j, "prec"),
               num(j, "rec"), num(j, "f1"));
    cJSON_Delete(j);

    rc = run("gt_blank_first.csv", "pred_blank_first.csv"); /* columns match by name */
    j = cJSON_Parse(out);
    TEST_CHECK(rc == 0 && j, "blank line before the header: exit 0 (%d), valid JSON: %s %s", rc, out, err);
    const cJSON *lab = j ? cJSON_GetObjectItem(j, "label_mA") : NULL;
    TEST_CHECK(lab && cJSON_GetObjectItem(lab, "\"a3\\x\""), "attribute name with a quote and a backslash escaped: %s",
               out);
    TEST_CHECK(fabs(num(j, "mA") - 0.6667) < 1e-4, "same figures (mA %g)", num(j, "mA"));
    cJSON_Delete(j);

    struct {
        const char *gt, *pred, *msg;
    } bad[] = {
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
        TEST_CHECK(rc == 2 && strstr(err, bad[k].msg), "%s vs %s: exit 2 (%d) naming '%s': %s", bad[k].gt, bad[k].pred,
                   rc, bad[k].msg, err);
    }

    rc = run("gt.csv", "pred_missing.csv");
    j = cJSON_Parse(out);
    TEST_CHECK(rc == 1 && strstr(err, "no prediction for 'img1'"), "missing row named, exit 1 (%d): %s", rc, err);
    TEST_CHECK(j && num(j, "samples") == 3, "the other 3 rows still scored (%g)", j ? num(j, "samples") : -1.0);
    cJSON_Delete(j);
    /* a large CSV pair, predictions in another order: matched by sorted lookup */
    {
        enum { N = 300000 };
        char gp[64], pp[64], cmd[256];
        snprintf(gp, sizeof gp, "/tmp/vssm_attr_gt_%d.csv", (int)getpid());
        snprintf(pp, sizeof pp, "/tmp/vssm_attr_pred_%d.csv", (int)getpid());
        FILE *g = fopen(gp, "w"), *p = fopen(pp, "w");
        TEST_REQUIRE(g && p, "create the large CSVs");
        fputs("name,a,b\n", g);
        fputs("name,a,b\n", p);
        for (int i = 0; i < N; i++) fprintf(g, "img%07d,%d,%d\n", i, i & 1, (i >> 1) & 1);
        for (int i = 0; i < N; i++) {
            int r = (int)(((long long)i * 7919) % N); /* a permutation (7919 is prime, N is not a multiple) */
            fprintf(p, "img%07d,%.1f,%.1f\n", r, (r & 1) ? 0.9 : 0.1, ((r >> 1) & 1) ? 0.9 : 0.1);
        }
        fclose(g);
        fclose(p);
        snprintf(cmd, sizeof cmd, "'%s' eval attributes --gt %s --pred %s --json", VSSM_BIN, gp, pp);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        j = cJSON_Parse(out);
        TEST_CHECK(rc == 0 && j && num(j, "samples") == N && num(j, "mA") == 1.0,
                   "300,000 rows matched, all right (rc %d): %.200s %s", rc, out, err);
        TEST_CHECK(secs < 20, "in %.2f s (< 20 s)", secs);
        printf("  300,000-row CSVs: %.2f s\n", secs);
        cJSON_Delete(j);
        remove(gp);
        remove(pp);
    }
    return test_finish("test_eval_attributes");
}
