/* tests/test_eval_track_inputs.c - `vssm eval track` on results and ground truth that do
 * not fit (issue 16), with the reproducers in tests/data/track/bad (README.txt there):
 *   - a 1-frame GOT-10k sequence scores nothing (no NaN AO, no memcpy to NULL: run it
 *     under UBSan), and a dataset of only such sequences is exit 1, not AO nan / exit 0;
 *   - NaN in GOT-10k and OTB results, a negative size and -inf + inf in OTB results fail
 *     their sequence naming FILE:LINE (the line, not the box index), exit 1, the other
 *     sequences still scored, no plot written;
 *   - infinite / negative GOT-10k values are clipped as the got10k toolkit clips them (IoU 0
 *     without a resolution), infinite OTB values score IoU 0 as in pytracking;
 *   - short / long results: padded / truncated with a note (OTB), refused (short LaSOT,
 *     any GOT-10k mismatch);
 *   - a non-finite ground-truth box fails its sequence naming the GT file and line.
 * Nothing ever prints null (NaN) in the JSON. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "testutil.h"

#define BAD "tests/data/track/bad"

static char out[1 << 16], err[1 << 14];
static char tmp[64];

static int exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* runs eval track with --json and a plot path; returns the exit code, *j the parsed JSON */
static int run(const char *results, const char *gt, const char *fmt, const char *plot, cJSON **j) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "'%s' eval track --results " BAD "/%s --gt " BAD "/%s --format %s --json --plot %s/%s.svg", VSSM_BIN,
             results, gt, fmt, tmp, plot);
    int rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    *j = cJSON_Parse(out);
    TEST_CHECK(*j != NULL, "%s: JSON on stdout: %.200s", results, out);
    TEST_CHECK(!strstr(out, "null"), "%s: no NaN (null) in the JSON: %.400s", results, out);
    return rc;
}

static int plot_written(const char *plot) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s.svg", tmp, plot);
    return exists(p);
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const cJSON *seq(const cJSON *j, const char *name) {
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(j, "per_sequence")) {
        const cJSON *n = cJSON_GetObjectItem(r, "name");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name)) return r;
    }
    return NULL;
}

static void test_got10k(void) {
    cJSON *j;
    /* clean results with a 1-frame sequence among them: it adds no frame, said so */
    int rc = run("got10k_res_ok", "got10k", "got10k", "g_ok", &j);
    TEST_CHECK(rc == 0, "got10k ok: exit 0 (%d): %s", rc, err);
    TEST_CHECK(strstr(err, "GOT-1f: 1 frame, none scored") != NULL, "the 1-frame sequence is noted: %s", err);
    const cJSON *s1 = seq(j, "GOT-1f");
    TEST_CHECK(s1 && num(s1, "scored_frames") == 0 && !cJSON_GetObjectItem(s1, "ao"),
               "GOT-1f: scored_frames 0, no AO key");
    /* AO pooled over GOT-a (1, 1, 5/8... see the data) and GOT-b: 6 frames */
    TEST_CHECK(num(j, "frames") == 6 && fabs(num(j, "ao") - 0.710970464135021) < 1e-12, "AO over 6 frames (%g, %g)",
               num(j, "frames"), num(j, "ao"));
    TEST_CHECK(plot_written("g_ok"), "plot written for complete results");
    cJSON_Delete(j);

    /* only 1-frame sequences: nothing to score is exit 1, not AO nan / exit 0 */
    rc = run("got10k_res_ok", "got10k_1f", "got10k", "g_1f", &j);
    TEST_CHECK(rc == 1 && strstr(err, "no frame could be scored"), "1-frame only: exit 1 (%d): %s", rc, err);
    TEST_CHECK(j && !cJSON_GetObjectItem(j, "ao") && !plot_written("g_1f"), "no AO key, no plot");
    cJSON_Delete(j);

    /* NaN: the sequence fails naming file:line; the others are scored; no plot */
    rc = run("got10k_res_nan", "got10k", "got10k", "g_nan", &j);
    TEST_CHECK(rc == 1, "got10k NaN: exit 1 (%d)", rc);
    TEST_CHECK(strstr(err, "got10k_res_nan/GOT-a.txt:3:") && strstr(err, "NaN"), "NaN named by file and line: %s", err);
    TEST_CHECK(!seq(j, "GOT-a") && seq(j, "GOT-b") && num(j, "frames") == 3 && fabs(num(j, "ao") - 2.0 / 3) < 1e-12,
               "GOT-b still scored (AO %g)", num(j, "ao"));
    TEST_CHECK(!plot_written("g_nan") && strstr(err, "not written"), "no plot from part of the data: %s", err);
    cJSON_Delete(j);

    /* inf: clipped to the resolution (GOT-a) or IoU 0 without one (GOT-b) */
    rc = run("got10k_res_inf", "got10k", "got10k", "g_inf", &j);
    double ao = (400.0 / 1040 + 72.0 / 728 + 1 + 0 + 1 + 0) / 6;
    TEST_CHECK(rc == 0 && fabs(num(j, "ao") - ao) < 1e-9, "got10k inf: exit 0 (%d), AO %.6f (want %.6f)", rc,
               num(j, "ao"), ao);
    cJSON_Delete(j);
    /* negative sizes: clipped to 0 (GOT-a), IoU 0 without a resolution (GOT-b) */
    rc = run("got10k_res_neg", "got10k", "got10k", "g_neg", &j);
    ao = (0 + 168.0 / 632 + 1 + 0 + 1 + 0) / 6;
    TEST_CHECK(rc == 0 && fabs(num(j, "ao") - ao) < 1e-9, "got10k negative: exit 0 (%d), AO %.6f (want %.6f)", rc,
               num(j, "ao"), ao);
    cJSON_Delete(j);

    /* lengths: the toolkit asserts equal lengths */
    rc = run("got10k_res_short", "got10k", "got10k", "g_short", &j);
    TEST_CHECK(rc == 1 && strstr(err, "GOT-a.txt: 3 boxes for 4 ground-truth frames"), "short: exit 1 (%d): %s", rc,
               err);
    cJSON_Delete(j);
    rc = run("got10k_res_long", "got10k", "got10k", "g_long", &j);
    TEST_CHECK(rc == 1 && strstr(err, "GOT-a.txt: 5 boxes for 4 ground-truth frames"), "long: exit 1 (%d): %s", rc,
               err);
    cJSON_Delete(j);
}

static void test_otb(void) {
    cJSON *j;
    int rc = run("otb_res_ok", "otb", "otb", "o_ok", &j);
    TEST_CHECK(rc == 0 && fabs(num(seq(j, "SeqA"), "auc") - 100.0 * 10.75 / 21) < 1e-9,
               "otb ok: METRICS.md's worked example");
    TEST_CHECK(plot_written("o_ok"), "plot written");
    cJSON_Delete(j);

    /* NaN on line 4 (box 3: the file has a blank line): named by its line */
    rc = run("otb_res_nan", "otb", "otb", "o_nan", &j);
    TEST_CHECK(rc == 1 && strstr(err, "otb_res_nan/SeqA.txt:4:") && strstr(err, "Invalid results"),
               "otb NaN: exit 1 (%d): %s", rc, err);
    TEST_CHECK(!seq(j, "SeqA") && seq(j, "SeqB") && num(j, "sequences") == 1, "SeqB still scored");
    TEST_CHECK(!plot_written("o_nan"), "no plot from part of the data");
    cJSON_Delete(j);

    rc = run("otb_res_neg", "otb", "otb", "o_neg", &j);
    TEST_CHECK(rc == 1 && strstr(err, "otb_res_neg/SeqA.txt:2:"), "otb negative h: exit 1 (%d): %s", rc, err);
    cJSON_Delete(j);

    /* -inf + inf: pytracking's overlap is NaN ('Nans in calculated overlap') */
    rc = run("otb_res_infnan", "otb", "otb", "o_infnan", &j);
    TEST_CHECK(rc == 1 && strstr(err, "otb_res_infnan/SeqA.txt:3:") && strstr(err, "NaN"),
               "otb -inf+inf: exit 1 (%d): %s", rc, err);
    cJSON_Delete(j);

    /* other infinities: IoU 0, centre error inf (frame 0 is the GT: 1 of 4 frames hits) */
    rc = run("otb_res_inf", "otb", "otb", "o_inf", &j);
    const cJSON *a = seq(j, "SeqA");
    TEST_CHECK(rc == 0 && a && fabs(num(a, "auc") - 100.0 * 5 / 21) < 1e-9 && num(a, "avg_overlap") == 0.25 &&
                   num(a, "precision") == 25,
               "otb inf: exit 0 (%d), AUC %g, AO %g", rc, num(a, "auc"), num(a, "avg_overlap"));
    cJSON_Delete(j);

    /* short: padded with zero boxes, long: truncated; each said on stderr */
    rc = run("otb_res_short", "otb", "otb", "o_short", &j);
    TEST_CHECK(rc == 0 && strstr(err, "SeqA.txt: 2 boxes for 4 ground-truth frames: padded with 2 zero boxes"),
               "otb short: %d %s", rc, err);
    TEST_CHECK(fabs(num(seq(j, "SeqA"), "auc") - 100.0 * 8.75 / 21) < 1e-9, "padded frames score 0 (AUC %g)",
               num(seq(j, "SeqA"), "auc"));
    cJSON_Delete(j);
    rc = run("otb_res_long", "otb", "otb", "o_long", &j);
    TEST_CHECK(rc == 0 && strstr(err, "SeqA.txt: 6 boxes for 4 ground-truth frames: the last 2 ignored"),
               "otb long: %d %s", rc, err);
    TEST_CHECK(fabs(num(seq(j, "SeqA"), "auc") - 100.0 * 10.75 / 21) < 1e-9, "truncated (AUC %g)",
               num(seq(j, "SeqA"), "auc"));
    cJSON_Delete(j);

    /* LaSOT: a short result fails (pytracking raises), a long one is truncated */
    rc = run("lasot_res_short", "lasot", "lasot", "l_short", &j);
    TEST_CHECK(rc == 1 && strstr(err, "cat-1.txt: 2 boxes for 4 ground-truth frames") &&
                   strstr(err, "no sequence could be evaluated"),
               "lasot short: exit 1 (%d): %s", rc, err);
    TEST_CHECK(j && !cJSON_GetObjectItem(j, "auc"), "no summary of no sequence");
    cJSON_Delete(j);
    rc = run("lasot_res_long", "lasot", "lasot", "l_long", &j);
    TEST_CHECK(rc == 0 && strstr(err, "cat-1.txt: 5 boxes for 4 ground-truth frames: the last 1 ignored"),
               "lasot long: %d %s", rc, err);
    cJSON_Delete(j);

    /* a non-finite ground-truth box: named by the GT file and line */
    rc = run("otb_res_gtinf", "otb_gtinf", "otb", "o_gtinf", &j);
    TEST_CHECK(rc == 1 && strstr(err, "otb_gtinf/SeqC/groundtruth_rect.txt:2:") && strstr(err, "not finite"),
               "GT inf: exit 1 (%d): %s", rc, err);
    cJSON_Delete(j);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/vssm_eval_track_XXXXXX");
    TEST_REQUIRE(mkdtemp(tmp), "mkdtemp");
    test_got10k();
    test_otb();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return test_finish("test_eval_track_inputs");
}
