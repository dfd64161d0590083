#include "testutil.h"
#include <math.h>
#include <stdarg.h>
#include <string.h>

int test_n_pass = 0, test_n_fail = 0;

void test_record(int ok, const char *file, int line, const char *fmt, ...) {
    if (ok) { test_n_pass++; return; }
    test_n_fail++;
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

double test_rel_err(const float *a, const float *b, size_t n) {
    double maxd = 0, maxb = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > maxd) maxd = d;
        if (fabs((double)b[i]) > maxb) maxb = fabs((double)b[i]);
    }
    if (maxb == 0) return maxd == 0 ? 0 : INFINITY;
    return maxd / maxb;
}

int test_finish(const char *name) {
    printf("%s: %d passed, %d failed\n", name, test_n_pass, test_n_fail);
    return test_n_fail ? 1 : 0;
}

void test_skip(const char *why) {
    printf("skipped: %s\n", why);
    exit(77);
}

char *test_data_path(const char *rel) {
    size_t n = strlen(VSSM_TEST_DATA) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", VSSM_TEST_DATA, rel);
    return p;
}
