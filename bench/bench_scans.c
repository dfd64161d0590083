/* bench/bench_scans.c - the selective scans alone, per model (CPU): ns per token-channel-
 * direction of a whole 224x224 forward's scans, at VMamba-T's shapes (v05_noz, d_state 1),
 * VMamba-v0-T's (d_state 16) and Vim-T's (1D, d_state 16, both directions).
 *
 * Each stage's op is called `reps` times (filling >= 0.2 s), best of `rounds`; the figure is
 * the sum over stages weighted by the model's depths, divided by its token-channel-direction
 * count. Time is process CPU time (threads summed; the honest figure on a shared machine at
 * 1 thread) and wall time. The 2D op includes its x_proj GEMM; `xproj` is that GEMM alone,
 * timed the same way, so scan - xproj is the recurrence.
 *
 * With `bf16` last: a --precision bf16 context (x_proj in bf16; the 2D scan's dt projection
 * from bf16 pairs, as a loaded model's, vssm_op_dt_pack).
 *
 *   ./build/bench_scans [threads] [rounds] [model: all | t | v0 | vim] [f32 | bf16]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kernels/ops.h"

/* both clocks at once: [0] process CPU time, [1] wall time, in seconds */
static void clocks(double t[2]) {
    const clockid_t ids[2] = {CLOCK_PROCESS_CPUTIME_ID, CLOCK_MONOTONIC};
    for (int k = 0; k < 2; k++) {
        struct timespec ts;
        clock_gettime(ids[k], &ts);
        t[k] = ts.tv_sec + 1e-9 * ts.tv_nsec;
    }
}

/* uniform floats in [lo, hi) from a xorshift generator */
static float *randu(size_t n, float lo, float hi, uint64_t *s) {
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) & ~(size_t)63); /* as the model's arena */
    for (size_t i = 0; p && i < n; i++) {
        *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
        p[i] = lo + (hi - lo) * (float)((*s >> 40) & 0xffffff) * (1.0f / 16777216.0f);
    }
    return p;
}

typedef struct {
    double cpu, wall; /* seconds per call, best of rounds */
} timing;

enum { OP_SCAN2D, OP_XPROJ, OP_SCAN1D };

typedef struct {
    int H, W, D, R, N;
    vssm_scan_args a2;
    vssm_scan1d_args a1;
    void *ws;
    const float *u, *xpp;
    float *y;
} shape_ctx;

static void call(vssm_ctx *ctx, shape_ctx *s, int op) {
    if (op == OP_SCAN2D)
        vssm_op_ss2d_scan(ctx, &s->a2, s->ws);
    else if (op == OP_XPROJ)
        vssm_op_linear_packed(ctx, s->u, (int64_t)s->H * s->W, s->D, s->xpp, NULL, 4 * (s->R + 2 * s->N), VSSM_ACT_NONE,
                              0, s->ws);
    else { /* both directions in one call, as the Vim forward makes it */
        vssm_scan1d_args back = s->a1;
        back.reverse = 1;
        s->a1.reverse = 0;
        s->a1.next = &back;
        vssm_op_scan1d(ctx, &s->a1);
        s->a1.next = NULL;
    }
}

static timing time_op(vssm_ctx *ctx, shape_ctx *s, int op, int rounds) {
    call(ctx, s, op);
    timing best = {1e30, 1e30};
    for (int r = 0; r < rounds; r++) {
        int reps = 0;
        double t0[2], t1[2];
        clocks(t0);
        do {
            call(ctx, s, op);
            reps++;
            clocks(t1);
        } while (t1[1] - t0[1] < 0.2);
        best.cpu = fmin(best.cpu, (t1[0] - t0[0]) / reps);
        best.wall = fmin(best.wall, (t1[1] - t0[1]) / reps);
    }
    return best;
}

/* one model: stages (H, W, D, R, N, depth); 1D when H == 0 (W is then L, 2 directions) */
typedef struct {
    const char *name;
    int n;
    int st[4][6];
} model;

static const model models[] = {
    {"vmamba-tiny (v05_noz, d_state 1)",
     4,
     {{56, 56, 96, 6, 1, 2}, {28, 28, 192, 12, 1, 2}, {14, 14, 384, 24, 1, 8}, {7, 7, 768, 48, 1, 2}}},
    {"vmamba-v0-tiny (d_state 16)",
     4,
     {{56, 56, 192, 6, 16, 2}, {28, 28, 384, 12, 16, 2}, {14, 14, 768, 24, 16, 9}, {7, 7, 1536, 48, 16, 2}}},
    {"vim-tiny (1D, d_state 16, 2 directions)", 1, {{0, 197, 384, 12, 16, 24}}},
};

int main(int argc, char **argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 1, rounds = argc > 2 ? atoi(argv[2]) : 3;
    const char *which = argc > 3 ? argv[3] : "all";
    vssm_ctx_opts opts = vssm_ctx_default_opts();
    opts.n_threads = threads;
    opts.precision = argc > 4 && !strcmp(argv[4], "bf16") ? VSSM_PRECISION_BF16 : VSSM_PRECISION_F32;
    vssm_ctx *ctx = NULL;
    vssm_err err = {0};
    if (vssm_ctx_new(&ctx, &opts, &err)) return fprintf(stderr, "bench_scans: %s\n", err.msg), 1;
    printf("%s\n", vssm_ctx_describe(ctx));
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (int m = 0; m < 3; m++) {
        static const char *const keys[] = {"t", "v0", "vim"};
        if (strcmp(which, "all") && strcmp(which, keys[m])) continue;
        double cpu = 0, wall = 0, xcpu = 0, elems = 0;
        for (int si = 0; si < models[m].n; si++) {
            const int *st = models[m].st[si];
            const int oned = st[0] == 0, H = oned ? 1 : st[0], W = st[1], D = st[2], R = st[3], N = st[4], K = 4;
            const size_t L = (size_t)H * W, C2 = R + 2 * N;
            shape_ctx s = {.H = H, .W = W, .D = D, .R = R, .N = N};
            float *u = randu(L * D, -1, 1, &seed), *y = randu(L * D, 0, 1, &seed);
            float *xp = randu(K * C2 * D, -0.1f, 0.1f, &seed), *dw = randu((size_t)K * R * D, -0.4f, 0.4f, &seed);
            float *db = randu((size_t)K * D, -6, -2, &seed), *A = randu((size_t)K * N * D, -16.0f, -0.5f, &seed);
            float *Ds = randu((size_t)K * D, 0.9f, 1.1f, &seed), *xd = randu(L * C2, -1, 1, &seed);
            float *z = randu(L * D, -2, 2, &seed);
            s.ws = aligned_alloc(64, (vssm_op_scan_workspace(ctx, 1, H, W, D, R, N) + 63) & ~(size_t)63);
            float *xpp = aligned_alloc(64, (vssm_op_linear_pack_numel(ctx, K * C2, D) * 4 + 63) &
                                               ~(size_t)63); /* the op's layout */
            vssm_op_linear_pack(ctx, xp, K * C2, D, xpp);
            s.u = u, s.xpp = xpp, s.y = y;
            const size_t n2 = vssm_op_dt_pack_numel(ctx, K, R, D); /* bf16: the dt pairs */
            float *dw2 = n2 ? aligned_alloc(64, (n2 * sizeof(float) + 63) & ~(size_t)63) : NULL;
            if (dw2) vssm_op_dt_pack(ctx, dw, K, R, D, dw2);
            s.a2 = (vssm_scan_args){1, H, W, D, R, N, u, xpp, dw, db, A, Ds, y, dw2};
            s.a1 = (vssm_scan1d_args){1, D, R, N, (int64_t)L, 0, 1, u, xd, z, D, dw, db, A, Ds, y, NULL, NULL};
            const double depth = st[5], el = (double)L * D * (oned ? 2 : K);
            timing t = time_op(ctx, &s, oned ? OP_SCAN1D : OP_SCAN2D, rounds);
            double xc = 0;
            if (!oned) xc = time_op(ctx, &s, OP_XPROJ, rounds).cpu;
            printf("  %-4s %3dx%-3d D %4d R %2d N %2d: %8.3f ms/call (cpu), %6.3f ns/elem cpu, %6.3f wall; "
                   "x_proj %6.3f ns/elem cpu\n",
                   oned ? "1D" : "2D", H, W, D, R, N, t.cpu * 1e3, t.cpu * 1e9 / el, t.wall * 1e9 / el, xc * 1e9 / el);
            cpu += depth * t.cpu, wall += depth * t.wall, xcpu += depth * xc, elems += depth * el;
            free(u), free(y), free(xp), free(xpp), free(dw), free(dw2), free(db), free(A), free(Ds), free(xd), free(z);
            free(s.ws);
        }
        printf("%s: %.2f ms cpu (%.2f wall) per forward, %.3f ns/elem cpu (%.3f wall), without x_proj %.3f ns/elem "
               "cpu\n",
               models[m].name, cpu * 1e3, wall * 1e3, cpu * 1e9 / elems, wall * 1e9 / elems,
               (cpu - xcpu) * 1e9 / elems);
    }
    vssm_ctx_free(ctx);
    return 0;
}
