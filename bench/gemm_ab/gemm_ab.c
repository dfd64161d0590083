/* bench/gemm_ab/gemm_ab.c - two versions of kernels/cpu/sgemm.c in one process, called alternately on
 * VMamba-T's 20 products (1 thread, process CPU time, median of `reps` per shape), and whether
 * they give the same bits. The steadiest way found to compare a kernel change on a shared
 * machine: the two builds see the same load at the same moment (kernels/cpu/README.md, "Where
 * our kernel lost time"). Not part of the build. This file is compiled three times: as each
 * version (SGEMM_FILE: the sgemm.c to include, SGEMM_SFX: its suffix) with the AVX-512 flags,
 * and as the driver:
 *
 *   git worktree add /tmp/gemm-old <commit>
 *   F="-O3 -std=c11 -fopenmp -march=native -fno-math-errno -fno-trapping-math -ffp-contract=fast \
 *      -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -I. -Iinclude -Ibuild-xxx/generated/include \
 *      -mavx2 -mfma -mavx512f -mavx512bw -mavx512dq -mavx512vl"
 *   cc $F -DSGEMM_SFX=old -DSGEMM_FILE='"/tmp/gemm-old/kernels/cpu/sgemm.c"' -c bench/gemm_ab/gemm_ab.c -o /tmp/a.o
 *   cc $F -DSGEMM_SFX=new -DSGEMM_FILE='"kernels/cpu/sgemm.c"' -c bench/gemm_ab/gemm_ab.c -o /tmp/b.o
 *   cc $F -c bench/gemm_ab/gemm_ab.c -o /tmp/m.o
 *   cc -fopenmp /tmp/m.o /tmp/a.o /tmp/b.o build-xxx/libvssm.a -lopenblas -lm \
 *      $(pkg-config --libs libturbojpeg libpng libcjson cairo) -o /tmp/gemm_ab
 *   /tmp/gemm_ab [reps 15] [weight offset in floats from 64 B, 0] [act 0/1/2] [MB flushed before each call, 0] [shape]
 *
 * The flush (a memset of that many MB before each call) gives cold caches; "new/old" of the
 * weighted forward (each shape times its count: depths 2, 2, 8, 2) is the figure to compare.
 * Build "new" from the same file as "old" to see the noise (a control: 0.99-1.01). */
#ifdef SGEMM_SFX
#define VSSM_ISA_SFX SGEMM_SFX
#include SGEMM_FILE
#else
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>
#include "kernels/ctx_internal.h"
#include "kernels/cpu/cpu_ops.h"
void vssm_cpu_linear_packed_old(vssm_ctx *, const float *, int64_t, int, const float *, const float *, int, vssm_act,
                                int, float *);
void vssm_cpu_linear_packed_new(vssm_ctx *, const float *, int64_t, int, const float *, const float *, int, vssm_act,
                                int, float *);
static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
static int cmpd(const void *a, const void *b) {
    double x = *(double *)a, y = *(double *)b;
    return x < y ? -1 : x > y;
}
int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 15;
    int mis = argc > 2 ? atoi(argv[2]) : 0; /* float offset of the packed weight from 64 B */
    int act = argc > 3 ? atoi(argv[3]) : 0;
    size_t flush = argc > 4 ? (size_t)atoi(argv[4]) << 20 : 0;
    const char *only = argc > 5 ? argv[5] : NULL;
    char *fb = flush ? malloc(flush) : NULL;
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = 1;
    vssm_ctx *ctx;
    vssm_err err = {0};
    if (vssm_ctx_new(&ctx, &o, &err) != VSSM_OK) return 1;
    struct {
        const char *s;
        int M, K, N, d;
    } sh[] = {{"s1 in_proj", 3136, 96, 96, 2},   {"s1 x_proj", 3136, 96, 32, 2},    {"s1 out_proj", 3136, 96, 96, 2},
              {"s1 fc1", 3136, 96, 384, 2},      {"s1 fc2", 3136, 384, 96, 2},      {"s2 in_proj", 784, 192, 192, 2},
              {"s2 x_proj", 784, 192, 56, 2},    {"s2 out_proj", 784, 192, 192, 2}, {"s2 fc1", 784, 192, 768, 2},
              {"s2 fc2", 784, 768, 192, 2},      {"s3 in_proj", 196, 384, 384, 8},  {"s3 x_proj", 196, 384, 104, 8},
              {"s3 out_proj", 196, 384, 384, 8}, {"s3 fc1", 196, 384, 1536, 8},     {"s3 fc2", 196, 1536, 384, 8},
              {"s4 in_proj", 49, 768, 768, 2},   {"s4 x_proj", 49, 768, 200, 2},    {"s4 out_proj", 49, 768, 768, 2},
              {"s4 fc1", 49, 768, 3072, 2},      {"s4 fc2", 49, 3072, 768, 2}};
    double to = 0, tn = 0;
    int ndiff = 0;
    printf("kc %d reps %d mis %d act %d\n%-12s %8s %8s %7s\n", ctx->gemm_kc, reps, mis, act, "shape", "old ms",
           "new ms", "new/old");
    for (size_t s = 0; s < sizeof sh / sizeof *sh; s++) {
        const int M = sh[s].M, K = sh[s].K, N = sh[s].N;
        if (only && !strstr(sh[s].s, only)) continue;
        float *x = aligned_alloc(64, (size_t)M * K * 4 + 64), *w = malloc((size_t)N * K * 4), *b = malloc(N * 4);
        float *y0 = aligned_alloc(64, (size_t)M * N * 4 + 64), *y1 = aligned_alloc(64, (size_t)M * N * 4 + 64);
        srand(s + 1);
        for (size_t i = 0; i < (size_t)M * K; i++) x[i] = rand() / (float)RAND_MAX - 0.5f;
        for (size_t i = 0; i < (size_t)N * K; i++) w[i] = rand() / (float)RAND_MAX - 0.5f;
        for (int i = 0; i < N; i++) b[i] = rand() / (float)RAND_MAX - 0.5f;
        size_t pn = vssm_cpu_f32_pack_numel(N, K);
        float *wb = aligned_alloc(64, (pn + 16) * 4 + 64), *wp = wb + mis;
        vssm_cpu_f32_pack(w, N, K, wp);
        double *a = malloc(reps * sizeof(double)), *c = malloc(reps * sizeof(double));
        for (int r = 0; r < reps; r++) {
            if (fb) memset(fb, r, flush);
            double t0 = now_s();
            vssm_cpu_linear_packed_old(ctx, x, M, K, wp, b, N, (vssm_act)act, 0, y0);
            double t1 = now_s();
            a[r] = t1 - t0;
            if (fb) memset(fb, r + 1, flush);
            t1 = now_s();
            vssm_cpu_linear_packed_new(ctx, x, M, K, wp, b, N, (vssm_act)act, 0, y1);
            double t2 = now_s();
            c[r] = t2 - t1;
        }
        qsort(a, reps, sizeof(double), cmpd), qsort(c, reps, sizeof(double), cmpd);
        double mo = a[reps / 2], mn = c[reps / 2];
        int dif = memcmp(y0, y1, (size_t)M * N * 4) != 0;
        double md = 0;
        for (size_t i = 0; i < (size_t)M * N; i++) md = fmax(md, fabs(y0[i] - y1[i]));
        ndiff += dif;
        printf("%-12s %8.3f %8.3f %7.3f%s\n", sh[s].s, mo * 1e3, mn * 1e3, mn / mo, dif ? " BITS DIFFER" : "");
        if (dif) printf("   max|diff| %g\n", md);
        to += sh[s].d * mo, tn += sh[s].d * mn;
        free(x), free(w), free(b), free(y0), free(y1), free(wb), free(a), free(c);
    }
    printf("weighted forward: old %.2f ms new %.2f ms new/old %.3f; shapes with other bits: %d\n", to * 1e3, tn * 1e3,
           tn / to, ndiff);
    vssm_ctx_free(ctx);
    return 0;
}
#endif
