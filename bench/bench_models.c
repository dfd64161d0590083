/* bench/bench_models.c - `vssm bench`'s share of the sgemm rate, on process CPU time: robust on
 * a machine other users keep busy (wall time there measures the scheduler). For each model
 * (random weights, batch 1, 224x224): the median process CPU time of `runs` forwards after
 * two warm-ups, its GFLOP/s from the model's counted multiply-adds (vssm_classifier_macs, as
 * vssm bench), and that as a share of OpenBLAS's sgemm 2048^3 in the same process and the
 * same thread count, also on CPU time (best of 3). At 1 thread CPU time is the honest figure;
 * at 2 threads it also counts time spent waiting in the thread pool.
 *
 *   ./build/bench_models [threads] [runs] [arch,arch,...]   (default 1 7 vmamba-tiny,vmamba-v0-tiny,vim-tiny)
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "vssm/backbone.h"
#include "vssm/classifier.h"
#include "vssm/vssm.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

extern void openblas_set_num_threads(int n) __attribute__((weak)); /* absent from other CBLAS libraries */

/* sgemm 2048^3 GFLOP/s on CPU time, best of 3 */
static double sgemm_rate(void) {
    const int n = 2048;
    float *m = calloc((size_t)3 * n * n, sizeof(float));
    if (!m) return 0;
    for (size_t i = 0; i < (size_t)2 * n * n; i++) m[i] = (float)(i % 11) * 0.05f;
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        const double c = cpu_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, m, n, m + (size_t)n * n, n, 0.0f,
                    m + (size_t)2 * n * n, n);
        const double d = cpu_now() - c;
        best = d < best ? d : best;
    }
    free(m);
    return 2.0 * n * n * (double)n / best / 1e9;
}

/* median CPU seconds of one forward of `arch`; *gmac: its GMAC per image */
static double time_model(vssm_ctx *ctx, const char *arch, int runs, double *gmac) {
    vssm_err err = {0};
    vssm_source *rnd = vssm_random_source_new(42);
    vssm_backbone *bb = NULL;
    vssm_classifier *clf = NULL;
    vssm_status s;
    if (!strncmp(arch, "vim-", 4)) {
        vssm_vim_config c;
        if ((s = vssm_vim_config_preset(&c, arch, &err)) == VSSM_OK)
            s = vssm_backbone_from_vim_config(&bb, ctx, &c, rnd, "", &err);
    } else {
        vssm_vmamba_config c;
        if ((s = vssm_vmamba_config_preset(&c, arch, &err)) == VSSM_OK)
            s = vssm_backbone_from_vmamba_config(&bb, ctx, &c, rnd, "", &err);
    }
    if (s == VSSM_OK) s = vssm_classifier_from_backbone(&clf, bb, rnd, &err);
    double med = -1, t[64];
    float *x = calloc((size_t)3 * 224 * 224, sizeof(float)), *logits = NULL;
    if (s == VSSM_OK && x && (logits = malloc((size_t)vssm_classifier_classes(clf) * sizeof(float)))) {
        for (size_t i = 0; i < (size_t)3 * 224 * 224; i++) x[i] = (float)(i % 2001) / 1000.0f - 1.0f;
        runs = runs < 1 ? 1 : runs > 64 ? 64 : runs;
        for (int r = -2; r < runs && s == VSSM_OK; r++) {
            const double c = cpu_now();
            s = vssm_classifier_forward(clf, x, 1, 224, 224, logits, &err);
            if (r >= 0) t[r] = cpu_now() - c;
        }
        qsort(t, (size_t)runs, sizeof *t, by_value);
        med = runs % 2 ? t[runs / 2] : 0.5 * (t[runs / 2 - 1] + t[runs / 2]);
        *gmac = vssm_classifier_macs(clf, 224, 224) / 1e9;
    }
    if (s != VSSM_OK) fprintf(stderr, "bench_models: %s: %s\n", arch, err.msg);
    free(x), free(logits);
    vssm_classifier_free(clf);
    vssm_random_source_free(rnd);
    return s == VSSM_OK ? med : -1;
}

int main(int argc, char **argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 1, runs = argc > 2 ? atoi(argv[2]) : 7;
    char archs[256];
    snprintf(archs, sizeof archs, "%s", argc > 3 ? argv[3] : "vmamba-tiny,vmamba-v0-tiny,vim-tiny");
    vssm_ctx_opts opts = vssm_ctx_default_opts();
    opts.n_threads = threads;
    vssm_ctx *ctx = NULL;
    vssm_err err = {0};
    if (vssm_ctx_new(&ctx, &opts, &err)) return fprintf(stderr, "bench_models: %s\n", err.msg), 1;
    if (openblas_set_num_threads) openblas_set_num_threads(threads); /* the library leaves BLAS alone */
    const double ref = sgemm_rate();
    printf("%s\nsgemm 2048^3: %.1f GFLOP/s of CPU time\n", vssm_ctx_describe(ctx), ref);
    int rc = 0;
    for (char *save = NULL, *a = strtok_r(archs, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
        double gmac = 0;
        const double sec = time_model(ctx, a, runs, &gmac);
        if (sec <= 0) {
            rc = 1;
            continue;
        }
        const double rate = 2 * gmac / sec;
        printf("%-16s %8.2f ms CPU/img (median of %d)  %6.1f GFLOP/s  %5.1f%% of sgemm\n", a, sec * 1e3, runs, rate,
               100 * rate / ref);
    }
    vssm_ctx_free(ctx);
    return rc;
}
