/* tests/test_locale.c - numbers in files mean the same whatever locale the host program set.
 *
 * A program embedding vssm that calls setlocale(LC_ALL, "") under a comma-decimal locale
 * (de_DE here) made strtod read the shipped model's "dims" = "32,64,128,256" as 32.64 (the
 * model refused to load), "71.5,30.25,..." ground-truth boxes as 71.5 then ".25" (refused),
 * and wrote metadata as "mean" = "0,485,0,456,0,406". The library now parses and prints its
 * numbers in the C locale (kernels/cnum.h), for the calling thread only.
 *
 * de_DE is compiled with localedef into a temp folder where the system has no such locale
 * (tools/setup.sh installs Debian's `locales`, its source), and the test runs again with
 * LOCPATH pointing there: it runs under a comma locale on every machine, never skips. */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "kernels/cnum.h"
#include "testutil.h"
#include "vssm/classifier.h"
#include "vssm/infer.h"
#include "vssm/segment.h"
#include "vssm/track_data.h"
#include "vssm/vmamba.h"

static const char *LOCALE = "de_DE.UTF-8";

/* a comma locale for this process: the system's, or one compiled for it (then re-run) */
static void comma_locale(char **argv) {
    if (setlocale(LC_ALL, LOCALE)) return;
    TEST_REQUIRE(!getenv("VSSM_TEST_LOCPATH"), "setlocale(%s) refused the locale localedef made in %s", LOCALE,
                 getenv("VSSM_TEST_LOCPATH"));
    char dir[] = "/tmp/vssm_test_locale_XXXXXX", cmd[512];
    TEST_REQUIRE(mkdtemp(dir), "mkdtemp");
    snprintf(cmd, sizeof cmd, "localedef -i de_DE -f UTF-8 %s/%s >/dev/null 2>&1", dir, LOCALE);
    const int rc = system(cmd); /* exit 1 = warnings only, the locale is written */
    snprintf(cmd, sizeof cmd, "%s/%s/LC_NUMERIC", dir, LOCALE);
    TEST_REQUIRE(access(cmd, R_OK) == 0,
                 "localedef -i de_DE could not make a de_DE locale (status %d; Debian: apt-get install locales)", rc);
    setenv("LOCPATH", dir, 1);
    setenv("VSSM_TEST_LOCPATH", dir, 1);
    execv("/proc/self/exe", argv);
    TEST_REQUIRE(0, "re-running under LOCPATH=%s failed", dir);
}

int main(int argc, char **argv) {
    (void)argc;
    comma_locale(argv);
    TEST_REQUIRE(!strcmp(localeconv()->decimal_point, ","), "%s's decimal point is '%s', not ','", LOCALE,
                 localeconv()->decimal_point);
    char *end;
    TEST_REQUIRE(strtod("0.5", &end) != 0.5, "strtod under %s reads 0.5: the locale is not in force", LOCALE);

    /* the helpers */
    double d = vssm_strtod_c("0.485,1", &end);
    TEST_CHECK(d == 0.485 && *end == ',', "vssm_strtod_c(\"0.485,1\") = %g, stops at '%c'", d, *end);
    char buf[64];
    vssm_snprintf_c(buf, sizeof buf, "%.3f|%g", 0.5, 1.25);
    TEST_CHECK(!strcmp(buf, "0.500|1.25"), "vssm_snprintf_c: '%s'", buf);
    TEST_CHECK(!strcmp(localeconv()->decimal_point, ","), "the thread's own locale is back after the helpers");

    /* the shipped models load (their metadata: "dims", "mean", "std", seg scales) */
    vssm_err err = {0};
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = 1;
    vssm_ctx *ctx;
    TEST_REQUIRE(vssm_ctx_new(&ctx, &o, &err) == VSSM_OK, "%s", err.msg);
    vssm_classifier *clf = NULL;
    vssm_status st = vssm_classifier_load(
        &clf, ctx, VSSM_SOURCE_DIR "/weights/fashion_mnist/vmamba_fashion.safetensors", NULL, &err);
    TEST_CHECK(st == VSSM_OK, "the shipped classifier loads under %s: %s", LOCALE, err.msg);
    vssm_classifier_free(clf);
    vssm_segmenter *sg = NULL;
    st = vssm_segmenter_load(&sg, ctx, VSSM_SOURCE_DIR "/weights/seg_demo/vmamba_seg_demo.safetensors", NULL, &err);
    TEST_CHECK(st == VSSM_OK, "the shipped segmenter loads under %s: %s", LOCALE, err.msg);
    vssm_segmenter_free(sg);
    vssm_ctx_free(ctx);

    /* metadata written with '.' (the same strings as in the C locale) */
    vssm_vmamba_config cfg;
    TEST_REQUIRE(vssm_vmamba_config_preset(&cfg, "vmamba-tiny", &err) == VSSM_OK, "%s", err.msg);
    vssm_preprocess_params pp = vssm_preprocess_imagenet();
    vssm_config_meta here, c;
    vssm_vmamba_config_to_meta(&cfg, &pp, &here);
    locale_t cl = newlocale(LC_ALL_MASK, "C", (locale_t)0), old = uselocale(cl);
    vssm_vmamba_config_to_meta(&cfg, &pp, &c);
    uselocale(old);
    freelocale(cl);
    int same = here.n == c.n && here.n > 0, mean_seen = 0;
    for (int i = 0; same && i < here.n; i++) {
        same = !strcmp(here.key[i], c.key[i]) && !strcmp(here.value[i], c.value[i]);
        if (!same) printf("  %s: '%s' here, '%s' in C\n", here.key[i], here.value[i], c.value[i]);
        if (!strcmp(here.key[i], "mean")) mean_seen = !strncmp(here.value[i], "0.485", 5);
    }
    TEST_CHECK(same && mean_seen, "metadata under %s equals the C locale's (mean starts '0.485': %d)", LOCALE,
               mean_seen);

    /* ground-truth boxes with decimals */
    char path[128];
    snprintf(path, sizeof path, "/tmp/vssm_test_locale_%d.txt", (int)getpid());
    FILE *f = fopen(path, "w");
    TEST_REQUIRE(f, "create %s", path);
    fputs("71.5,30.25,10.5,20\n1e1\t2.5\t3\t4\n", f);
    fclose(f);
    vssm_box *b = NULL;
    int n = 0;
    st = vssm_boxes_read(path, &b, &n, &err);
    TEST_CHECK(st == VSSM_OK && n == 2 && b[0].x == 71.5 && b[0].y == 30.25 && b[0].w == 10.5 && b[1].x == 10 &&
                   b[1].y == 2.5,
               "boxes with decimals under %s: %s (n %d)", LOCALE, st == VSSM_OK ? "read" : err.msg, n);
    free(b);
    remove(path);

    const char *made = getenv("VSSM_TEST_LOCPATH");
    if (made && !strncmp(made, "/tmp/vssm_test_locale_", 22)) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", made);
        if (system(cmd) != 0) printf("  could not remove %s\n", made);
    }
    return test_finish("test_locale");
}
