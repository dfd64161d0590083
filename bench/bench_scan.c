/* bench/bench_scan.c - time the fused SS2D scan op alone (CPU), at VMamba-T's stage
 * shapes (224x224 input), one and all threads. Prints ms per call and ns per
 * (token, channel, direction) element.
 *
 *   ./build/bench_scan [threads]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "kernels/ops.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void fill(float *p, size_t n, float lo, float hi, unsigned *s) {
    for (size_t i = 0; i < n; i++) {
        *s = *s * 1664525u + 1013904223u;
        p[i] = lo + (hi - lo) * (float)(*s >> 8) / 16777216.0f;
    }
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 0;
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = threads;
    vssm_ctx *ctx;
    vssm_err err = {0};
    if (vssm_ctx_new(&ctx, &o, &err) != VSSM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const struct { int H, W, D, R; } st[] = {{56, 56, 96, 6}, {28, 28, 192, 12}, {14, 14, 384, 24}, {7, 7, 768, 48}};
    printf("%s\n%-14s %10s %14s\n", vssm_ctx_describe(ctx), "stage (HxW, D)", "ms/call", "ns/element");
    unsigned seed = 1;
    for (int s = 0; s < 4; s++) {
        const int H = st[s].H, W = st[s].W, D = st[s].D, R = st[s].R, N = 1, K = 4;
        const size_t L = (size_t)H * W;
        float *u = malloc(L * D * 4), *y = malloc(L * D * 4), *xp = malloc((size_t)K * (R + 2 * N) * D * 4);
        float *dw = malloc((size_t)K * R * D * 4), *db = malloc((size_t)K * D * 4), *A = malloc((size_t)K * N * D * 4);
        float *Ds = malloc((size_t)K * D * 4);
        fill(u, L * D, -1, 1, &seed);
        fill(xp, (size_t)K * (R + 2 * N) * D, -0.1f, 0.1f, &seed);
        fill(dw, (size_t)K * R * D, -0.4f, 0.4f, &seed);
        fill(db, (size_t)K * D, -6, -2, &seed);
        fill(A, (size_t)K * N * D, -1.5f, -0.5f, &seed);
        fill(Ds, (size_t)K * D, 0.9f, 1.1f, &seed);
        void *ws = malloc(vssm_op_scan_workspace(ctx, 1, H, W, D, R, N));
        float *xpp = malloc(vssm_op_linear_pack_numel(ctx, K * (R + 2 * N), D) * 4); /* the op's layout */
        vssm_op_linear_pack(ctx, xp, K * (R + 2 * N), D, xpp);
        vssm_scan_args a = {1, H, W, D, R, N, u, xpp, dw, db, A, Ds, y, NULL};
        vssm_op_ss2d_scan(ctx, &a, ws);
        int reps = 0;
        double t0 = now_s(), t;
        do {
            vssm_op_ss2d_scan(ctx, &a, ws);
            reps++;
        } while ((t = now_s() - t0) < 0.5);
        t /= reps;
        char name[32];
        snprintf(name, sizeof name, "%dx%d, %d", H, W, D);
        printf("%-14s %10.3f %14.3f\n", name, t * 1e3, t * 1e9 / ((double)L * D * K));
        free(u);
        free(y);
        free(xp);
        free(xpp);
        free(dw);
        free(db);
        free(A);
        free(Ds);
        free(ws);
    }
    vssm_ctx_free(ctx);
    return 0;
}
