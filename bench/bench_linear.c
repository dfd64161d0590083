/* bench/bench_linear.c - our GEMM against OpenBLAS's sgemm on the shapes of the products
 * outside the VMamba blocks (heads, Vim's patch embedding, the segmentation convs), in one
 * run, alternated, best of `reps`: "plain" is vssm_op_linear (few rows: direct; else the
 * weight packed per call), "packed" vssm_op_linear_packed on a weight packed beforehand
 * (what the segmentation convs do since they pack at load). Prints ms per call, and
 * plain / BLAS and packed / BLAS time.
 *
 *   ./build/bench_linear [threads] [reps] [cpu|wall] [kc] [vmamba|v0|vim|conv] [cold]
 *
 * cpu: process CPU time instead of wall; kc > 0 overrides the K block the context took
 * from the L1d size (kernels/cpu/isa.c) to compare blockings; "vmamba": every product
 * shape of VMamba-T at 224 (stages 1-4, M = 3136..49) instead of the list below; "v0",
 * "vim": those of VMamba-v0-T's blocks and Vim-T's; "conv": VMamba-T's 3x3 stride-2 convs as
 * the products of their columns (the stem's second conv, the three downsamples).
 *
 * cold: the packed product only, its weights read from memory (each call the next of enough
 * packed copies to fill COLD_BYTES, more than a last-level cache holds) against from the
 * caches (one copy, called again and again): what a forward's products pay where its weights
 * do not stay cached between forwards (VMamba-T: 121.5 MB). Best and median of `reps` calls
 * each, and cold / warm (medians).
 *
 * VSSM_BENCH_L2=bytes: the products choose their order for an L2 of that size instead of this
 * CPU's (how they would run on, say, a 1 MB-L2 Zen 4 or Zen 5: VSSM_BENCH_L2=1048576).
 */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kernels/ctx_internal.h"
#include "vmamba_t_shapes.h"

/* process CPU time, all threads: on a shared, loaded machine this is steadier than wall
 * time (run with 1 thread to compare kernels; wall time with all threads for speed) */
static int use_cpu_time;
static double now_s(void) {
    struct timespec t;
    clock_gettime(use_cpu_time ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
    const char *what;
    int M, K, N;
} shape;

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median (returned) and best of n times, sorted in place */
static double median_best(double *t, int n, double *best) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    *best = t[0];
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

#define COLD_BYTES ((size_t)1 << 30) /* the copies rotated through: 1 GB (a VM here kept ~100 MB) */

/* the "cold" mode (above): per shape, the packed product with its weight from the caches and
 * from memory, calls alternated between the two so both see the same machine */
static void cold_products(vssm_ctx *ctx, const shape *sh, size_t nsh, int reps) {
    printf("%s\n%-26s %9s %9s %9s %9s %9s %8s\n", vssm_ctx_describe(ctx), "shape (M, K, N)", "warm ms", "(best)",
           "cold ms", "(best)", "cold/warm", "MB");
    double *tw = malloc((size_t)reps * sizeof *tw), *tc = malloc((size_t)reps * sizeof *tc);
    for (size_t s = 0; tw && tc && s < nsh; s++) {
        const int M = sh[s].M, K = sh[s].K, N = sh[s].N;
        const size_t pn = vssm_op_linear_pack_numel(ctx, N, K), bytes = (pn * sizeof(float) + 4095) & ~(size_t)4095;
        if (!pn) {
            printf("%-26s (not packed in this context)\n", sh[s].what);
            continue;
        }
        size_t nc = COLD_BYTES / bytes;
        if (nc < 2) nc = 2;
        float *x = malloc((size_t)M * K * 4), *w = malloc((size_t)N * K * 4), *y = malloc((size_t)M * N * 4);
        float **wp = calloc(nc, sizeof *wp);
        size_t have = 0;
        if (x && w && y && wp) {
            for (size_t i = 0; i < (size_t)M * K; i++) x[i] = (float)(i % 17) * 0.01f;
            for (size_t i = 0; i < (size_t)N * K; i++) w[i] = (float)(i % 13) * 0.01f;
            for (; have < nc && (wp[have] = aligned_alloc(4096, bytes)); have++)
                vssm_op_linear_pack(ctx, w, N, K, wp[have]);
        }
        if (have < 2) {
            printf("%-26s (out of memory for its copies)\n", sh[s].what);
        } else {
            vssm_op_linear_packed(ctx, x, M, K, wp[0], NULL, N, VSSM_ACT_NONE, 0, y); /* warm-up */
            size_t next = 1;
            for (int r = 0; r < reps; r++) {
                double t0 = now_s();
                vssm_op_linear_packed(ctx, x, M, K, wp[0], NULL, N, VSSM_ACT_NONE, 0, y);
                double t1 = now_s();
                vssm_op_linear_packed(ctx, x, M, K, wp[next], NULL, N, VSSM_ACT_NONE, 0, y);
                double t2 = now_s();
                next = next + 1 < have ? next + 1 : 1;
                tw[r] = t1 - t0, tc[r] = t2 - t1;
            }
            double bw, bc;
            const double mw = median_best(tw, reps, &bw), mc = median_best(tc, reps, &bc);
            printf("%-26s %9.3f %9.3f %9.3f %9.3f %9.2f %8.0f\n", sh[s].what, mw * 1e3, bw * 1e3, mc * 1e3, bc * 1e3,
                   mc / mw, (double)have * bytes / 1e6);
        }
        for (size_t i = 0; wp && i < have; i++) free(wp[i]);
        free(wp), free(x), free(w), free(y);
    }
    free(tw), free(tc);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 0;
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    use_cpu_time = argc > 3 && !strcmp(argv[3], "cpu");
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = threads;
    vssm_ctx *ctx;
    vssm_err err = {0};
    if (vssm_ctx_new(&ctx, &o, &err) != VSSM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    if (threads > 0) omp_set_num_threads(threads);
    if (argc > 4 && atoi(argv[4]) > 0) ctx->gemm_kc = atoi(argv[4]);
    const char *l2 = getenv("VSSM_BENCH_L2"); /* the L2 size the products' blocking assumes */
    if (l2 && atol(l2) > 0) ctx->cpu_l2 = atol(l2);
    static const shape vm[] = {
        /* VMamba-T 224 (ssm_ratio 1, d_state 1): in_proj, x_proj, out_proj, fc1, fc2 */
        {"s1 in_proj", 3136, 96, 96},   {"s1 x_proj", 3136, 96, 32},    {"s1 out_proj", 3136, 96, 96},
        {"s1 fc1", 3136, 96, 384},      {"s1 fc2", 3136, 384, 96},      {"s2 in_proj", 784, 192, 192},
        {"s2 x_proj", 784, 192, 56},    {"s2 out_proj", 784, 192, 192}, {"s2 fc1", 784, 192, 768},
        {"s2 fc2", 784, 768, 192},      {"s3 in_proj", 196, 384, 384},  {"s3 x_proj", 196, 384, 104},
        {"s3 out_proj", 196, 384, 384}, {"s3 fc1", 196, 384, 1536},     {"s3 fc2", 196, 1536, 384},
        {"s4 in_proj", 49, 768, 768},   {"s4 x_proj", 49, 768, 200},    {"s4 out_proj", 49, 768, 768},
        {"s4 fc1", 49, 768, 3072},      {"s4 fc2", 49, 3072, 768},
    };
    static const shape v0[] = {
        /* VMamba-v0-T 224 (d_inner 2d, d_state 16, no MLP): in_proj (x and z), x_proj, out_proj */
        {"v0 s1 in_proj", 3136, 96, 384},  {"v0 s1 x_proj", 3136, 192, 152}, {"v0 s1 out_proj", 3136, 192, 96},
        {"v0 s2 in_proj", 784, 192, 768},  {"v0 s2 x_proj", 784, 384, 176},  {"v0 s2 out_proj", 784, 384, 192},
        {"v0 s3 in_proj", 196, 384, 1536}, {"v0 s3 x_proj", 196, 768, 224},  {"v0 s3 out_proj", 196, 768, 384},
        {"v0 s4 in_proj", 49, 768, 3072},  {"v0 s4 x_proj", 49, 1536, 320},  {"v0 s4 out_proj", 49, 1536, 768},
    };
    static const shape vim[] = {
        /* Vim-T 224 (197 tokens, d 192, d_inner 384, d_state 16): in_proj, x_proj (each
         * direction), out_proj */
        {"vim in_proj", 197, 192, 768},
        {"vim x_proj", 197, 384, 44},
        {"vim out_proj", 197, 384, 192},
    };
    /* VMamba-T 224's 3x3 stride-2 convs as products of their im2col columns (vmamba_t_shapes.h) */
    enum { NCONV = sizeof vmamba_t_conv_shapes / sizeof *vmamba_t_conv_shapes };
    shape conv[NCONV];
    for (int i = 0; i < NCONV; i++)
        conv[i] = (shape){vmamba_t_conv_shapes[i].what, vmamba_t_conv_shapes[i].M, vmamba_t_conv_shapes[i].K,
                          vmamba_t_conv_shapes[i].N};
    static const shape other[] = {
        {"vmamba-t s1 fc1", 3136, 96, 384},
        {"vmamba-t s1 fc2", 3136, 384, 96},
        {"vmamba-t s2 fc2", 784, 768, 192},
        {"vmamba-t s3 fc2", 196, 1536, 384},
        {"cls head b1", 1, 768, 1000},
        {"cls head b64", 64, 768, 1000},
        {"vim patch embed", 196, 768, 192},
        {"seg 1x1 512->512 64^2", 4096, 512, 512},
        {"seg 3x3 512->512 32^2", 1024, 4608, 512},
        {"seg 3x3 2048->512 16^2", 256, 18432, 512},
        {"seg 3x3 2048->512 chunk", 1024, 18432, 512},
    };
    const char *set = argc > 5 ? argv[5] : "";
    const shape *sh = other;
    size_t nsh = sizeof other / sizeof *other;
    if (!strcmp(set, "vmamba"))
        sh = vm, nsh = sizeof vm / sizeof *vm;
    else if (!strcmp(set, "v0"))
        sh = v0, nsh = sizeof v0 / sizeof *v0;
    else if (!strcmp(set, "vim"))
        sh = vim, nsh = sizeof vim / sizeof *vim;
    else if (!strcmp(set, "conv"))
        sh = conv, nsh = sizeof conv / sizeof *conv;
    if (argc > 6 && !strcmp(argv[6], "cold")) {
        cold_products(ctx, sh, nsh, reps < 5 ? 5 : reps);
        vssm_ctx_free(ctx);
        return 0;
    }
    printf("K block %d\n", ctx->gemm_kc);
    printf("%s\n%-26s %9s %9s %9s %9s %12s %12s\n", vssm_ctx_describe(ctx), "shape (M, K, N)", "plain ms", "packed ms",
           "blas ms", "blas GF/s", "plain/blas", "packed/blas");
    for (size_t s = 0; s < nsh; s++) {
        const int M = sh[s].M, K = sh[s].K, N = sh[s].N;
        float *x = malloc((size_t)M * K * 4), *w = malloc((size_t)N * K * 4), *b = malloc((size_t)N * 4);
        float *y = malloc((size_t)M * N * 4);
        for (size_t i = 0; i < (size_t)M * K; i++) x[i] = (float)(i % 17) * 0.01f;
        for (size_t i = 0; i < (size_t)N * K; i++) w[i] = (float)(i % 13) * 0.01f;
        for (int i = 0; i < N; i++) b[i] = 0.1f;
        const size_t pn = vssm_op_linear_pack_numel(ctx, N, K);
        float *wp = malloc((pn ? pn : 1) * sizeof(float));
        if (pn) vssm_op_linear_pack(ctx, w, N, K, wp);
        double best_o = 1e30, best_p = 1e30, best_b = 1e30;
        for (int r = 0; r < reps; r++) {
            double t0 = now_s();
            vssm_op_linear(ctx, x, M, K, w, b, N, VSSM_ACT_NONE, 0, y);
            double t1 = now_s();
            vssm_op_linear_packed(ctx, x, M, K, pn ? wp : w, b, N, VSSM_ACT_NONE, 0, y);
            double t2 = now_s();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, w, K, 0.0f, y, N);
            double t3 = now_s();
            if (t1 - t0 < best_o) best_o = t1 - t0;
            if (t2 - t1 < best_p) best_p = t2 - t1;
            if (t3 - t2 < best_b) best_b = t3 - t2;
        }
        const double gf = 2.0 * M * K * N * 1e-9;
        printf("%-26s %9.3f %9.3f %9.3f %9.1f %12.2f %12.2f\n", sh[s].what, best_o * 1e3, best_p * 1e3, best_b * 1e3,
               gf / best_b, best_o / best_b, best_p / best_b);
        free(x), free(w), free(b), free(y), free(wp);
    }
    vssm_ctx_free(ctx);
    return 0;
}
