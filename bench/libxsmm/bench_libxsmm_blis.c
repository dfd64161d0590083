/* bench/libxsmm/bench_libxsmm_blis.c - our GEMM against libxsmm's JIT kernels and BLIS on VMamba-T's
 * products, in one process, alternated, best of `reps` (kernels/cpu/README.md has the table; the
 * oneDNN column there comes from bench/dnnl/bench_dnnl.c).
 *
 * y (M, N) = x (M, K) w (N, K)^T + b, 1 thread. Each library gets its best case we can give it:
 *  - libxsmm (1.17): w laid out once (not timed) as column-major panels of mb of its N columns
 *    (an (mb, K) column-major block each, contiguous), one JIT kernel per (panel width, row
 *    block) from libxsmm_smmdispatch (m = mb, n = nb rows of x, k = K, beta 1), called over
 *    the panels and nb-row blocks; (mb, nb) tuned per shape before timing (best of 3 each);
 *    "xsmm 32x14" is the same with our own blocking (32-column panels, 14-row blocks), not tuned;
 *  - BLIS (0.9, object-free typed API bli_sgemm with strides): w given once as (K, N) row-major
 *    or as our (N, K) (strides), whichever is faster per shape (BLIS has no persistent
 *    prepacking: it packs its panels inside every call, and that is timed).
 * Both start from y filled with the bias rows (beta 1), inside the timed region. Checked: each
 * library's y against ours (max |diff| / max |y|) and batch invariance (every row computed alone,
 * M = 1, against the same row of the M-row product, bitwise). BLIS picks its kernel per CPU
 * (printed; BLIS_ARCH_DEBUG=1 says why, BLIS_ARCH_TYPE=skx forces its AVX-512 kernel).
 * Not part of the build (neither is a dependency); with Debian's libxsmm-dev and libblis-dev:
 *
 *   cc -O2 -fopenmp -I. -Iinclude -Ibuild -isystem /usr/include/x86_64-linux-gnu/blis-openmp \
 *      bench/libxsmm/bench_libxsmm_blis.c build/libvssm.a -lopenblas /usr/lib/libxsmm.a \
 *      /usr/lib/x86_64-linux-gnu/blis-openmp/libblis.so -lpthread -ldl -lrt -lm \
 *      $(pkg-config --libs libturbojpeg libpng libcjson cairo) -o /tmp/bench_libxsmm_blis
 *   /tmp/bench_libxsmm_blis [reps] [cpu|wall]      (LIBXSMM_VERBOSE=2 lists the JIT kernels at exit)
 */
#include <blis.h>
#include <libxsmm.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kernels/ops.h"
#include "../vmamba_t_shapes.h"

static int use_cpu_time;
static double now_s(void) {
    struct timespec t;
    clock_gettime(use_cpu_time ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void fill_bias(float *y, int64_t M, int N, const float *b) {
    for (int64_t i = 0; i < M; i++) memcpy(y + i * N, b, sizeof(float) * N);
}

/* ---- libxsmm: panels of mb output columns, blocks of nb rows, one kernel per (width, rows) ---- */
typedef struct {
    int M, K, N, mb, nb;
    float *ap;                 /* panel p: (mbp, K) column-major at ap + p * mb * K */
    libxsmm_smmfunction kf[4]; /* [tail columns][tail rows] */
} xs;

static libxsmm_smmfunction xs_kernel(int m, int n, int K, int N) {
    const libxsmm_blasint lda = m, ldb = K, ldc = N;
    const float one = 1;
    const int flags = LIBXSMM_GEMM_FLAG_NONE, pf = LIBXSMM_GEMM_PREFETCH_NONE;
    libxsmm_smmfunction f = libxsmm_smmdispatch(m, n, K, &lda, &ldb, &ldc, &one, &one, &flags, &pf);
    if (!f) {
        fprintf(stderr, "libxsmm: no kernel for m %d n %d k %d\n", m, n, K);
        exit(1);
    }
    return f;
}

static void xs_make(xs *s, int M, int K, int N, int mb, int nb, const float *w) {
    s->M = M, s->K = K, s->N = N, s->mb = mb < N ? mb : N, s->nb = nb < M ? nb : M;
    s->ap = malloc(sizeof(float) * N * K);
    for (int n0 = 0; n0 < N; n0 += s->mb) {
        const int mbp = N - n0 < s->mb ? N - n0 : s->mb;
        for (int k = 0; k < K; k++)
            for (int i = 0; i < mbp; i++) s->ap[(int64_t)n0 * K + (int64_t)k * mbp + i] = w[(int64_t)(n0 + i) * K + k];
    }
    const int mt = N % s->mb ? N % s->mb : s->mb, nt = M % s->nb ? M % s->nb : s->nb;
    s->kf[0] = xs_kernel(s->mb, s->nb, K, N), s->kf[1] = xs_kernel(s->mb, nt, K, N);
    s->kf[2] = xs_kernel(mt, s->nb, K, N), s->kf[3] = xs_kernel(mt, nt, K, N);
}

static void xs_run(const xs *s, const float *x, const float *b, float *y) {
    fill_bias(y, s->M, s->N, b);
    for (int n0 = 0; n0 < s->N; n0 += s->mb) {
        const float *a = s->ap + (int64_t)n0 * s->K;
        const int tc = s->N - n0 < s->mb;
        for (int r0 = 0; r0 < s->M; r0 += s->nb)
            s->kf[2 * tc + (s->M - r0 < s->nb)](a, x + (int64_t)r0 * s->K, y + (int64_t)r0 * s->N + n0);
    }
}

/* ---- BLIS: bli_sgemm with w as (K, N) row-major (wt) or as our (N, K) (w) ---- */
static void bl_run(int M, int K, int N, const float *x, const float *w, const float *wt, int use_wt, const float *b,
                   float *y) {
    float one = 1;
    fill_bias(y, M, N, b);
    if (use_wt)
        bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, M, N, K, &one, (float *)x, K, 1, (float *)wt, N, 1, &one, y, N,
                  1);
    else
        bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, M, N, K, &one, (float *)x, K, 1, (float *)w, 1, K, &one, y, N,
                  1);
}

static double max_rel(const float *y, const float *ref, int64_t n) {
    double maxd = 0, maxy = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = y[i] > ref[i] ? y[i] - ref[i] : ref[i] - y[i], a = ref[i] < 0 ? -ref[i] : ref[i];
        if (d > maxd) maxd = d;
        if (a > maxy) maxy = a;
    }
    return maxy > 0 ? maxd / maxy : maxd;
}

int main(int argc, char **argv) {
    const int reps = argc > 1 ? atoi(argv[1]) : 7;
    use_cpu_time = !(argc > 2 && !strcmp(argv[2], "wall"));
    omp_set_num_threads(1);
    bli_thread_set_num_threads(1);
    libxsmm_init();
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = 1;
    vssm_ctx *ctx;
    vssm_err err = {0};
    if (vssm_ctx_new(&ctx, &o, &err) != VSSM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    cntx_t *bc = bli_gks_query_cntx();
    printf("%s, 1 thread, %s time, best of %d\n", vssm_ctx_describe(ctx), use_cpu_time ? "CPU" : "wall", reps);
    printf("libxsmm %s, target %s; BLIS %s, config %s: sgemm MR %d NR %d MC %d KC %d NC %d, sup below m %d n %d k "
           "%d\n",
           LIBXSMM_CONFIG_VERSION, libxsmm_get_target_arch(), bli_info_get_version_str(),
           bli_arch_string(bli_arch_query_id()), (int)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_MR, bc),
           (int)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_NR, bc),
           (int)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_MC, bc),
           (int)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_KC, bc),
           (int)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_NC, bc),
           (int)bli_cntx_get_l3_sup_thresh_dt(BLIS_FLOAT, BLIS_MT, bc),
           (int)bli_cntx_get_l3_sup_thresh_dt(BLIS_FLOAT, BLIS_NT, bc),
           (int)bli_cntx_get_l3_sup_thresh_dt(BLIS_FLOAT, BLIS_KT, bc));
    printf("%-15s %4s %4s %4s %8s %8s %8s %8s %7s %7s %7s %4s %4s %6s %4s\n", "shape", "M", "K", "N", "vssm ms",
           "xsmm ms", "blis ms", "32x14 ms", "vssm GF", "xsmm GF", "blis GF", "mb", "nb", "blis B", "sup");
    double tv = 0, tx = 0, tb = 0, tg = 0;
    for (size_t s = 0; s < sizeof vmamba_t_shapes / sizeof *vmamba_t_shapes; s++) {
        const int M = vmamba_t_shapes[s].M, K = vmamba_t_shapes[s].K, N = vmamba_t_shapes[s].N;
        float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K), *b = malloc(sizeof(float) * N);
        float *wt = malloc(sizeof(float) * N * K), *y = malloc(sizeof(float) * M * N),
              *y2 = malloc(sizeof(float) * M * N), *y3 = malloc(sizeof(float) * M * N);
        for (int64_t i = 0; i < (int64_t)M * K; i++) x[i] = (float)(i % 17) * 0.01f - 0.08f;
        for (int64_t i = 0; i < (int64_t)N * K; i++) w[i] = (float)(i % 13) * 0.01f - 0.06f;
        for (int i = 0; i < N; i++) b[i] = 0.1f;
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++) wt[(int64_t)k * N + n] = w[(int64_t)n * K + k];
        float *wp = malloc(vssm_op_linear_pack_numel(ctx, N, K) * sizeof(float));
        vssm_op_linear_pack(ctx, w, N, K, wp);

        /* tuning, not timed in the table: libxsmm's (mb, nb), BLIS's B layout */
        static const int mbs[] = {16, 32, 48, 64, 96, 128, 192, 256}, nbs[] = {4, 8, 14, 16, 24, 32, 64};
        int bmb = 0, bnb = 0, bwt = 1;
        double best = 1e30;
        for (size_t i = 0; i < sizeof mbs / sizeof *mbs; i++)
            for (size_t j = 0; j < sizeof nbs / sizeof *nbs; j++) {
                if ((mbs[i] > N && i > 0 && mbs[i - 1] >= N) || (nbs[j] > M && j > 0 && nbs[j - 1] >= M)) continue;
                xs t;
                xs_make(&t, M, K, N, mbs[i], nbs[j], w);
                for (int r = 0; r < 4; r++) {
                    double t0 = now_s();
                    xs_run(&t, x, b, y2);
                    double dt = now_s() - t0;
                    if (r > 0 && dt < best) best = dt, bmb = t.mb, bnb = t.nb;
                }
                free(t.ap);
            }
        double bt[2] = {1e30, 1e30};
        for (int r = 0; r < 4; r++)
            for (int u = 0; u < 2; u++) {
                double t0 = now_s();
                bl_run(M, K, N, x, w, wt, u, b, y3);
                double dt = now_s() - t0;
                if (r > 0 && dt < bt[u]) bt[u] = dt;
            }
        bwt = bt[1] <= bt[0];

        xs f, g;
        xs_make(&f, M, K, N, bmb, bnb, w);
        xs_make(&g, M, K, N, 32, 14, w);
        float *y4 = malloc(sizeof(float) * M * N);
        double bv = 1e30, bx = 1e30, bb = 1e30, bg = 1e30;
        for (int r = 0; r < reps + 1; r++) { /* the first round warms up */
            double t0 = now_s();
            vssm_op_linear_packed(ctx, x, M, K, wp, b, N, VSSM_ACT_NONE, 0, y);
            double t1 = now_s();
            xs_run(&f, x, b, y2);
            double t2 = now_s();
            bl_run(M, K, N, x, w, wt, bwt, b, y3);
            double t3 = now_s();
            xs_run(&g, x, b, y4);
            double t4 = now_s();
            if (r == 0) continue;
            if (t1 - t0 < bv) bv = t1 - t0;
            if (t2 - t1 < bx) bx = t2 - t1;
            if (t3 - t2 < bb) bb = t3 - t2;
            if (t4 - t3 < bg) bg = t4 - t3;
        }
        const double rx = max_rel(y2, y, (int64_t)M * N), rb = max_rel(y3, y, (int64_t)M * N);
        /* batch invariance: every row computed alone (M = 1) against the same row of the M-row product;
         * libxsmm with the same panel width (a kernel with n = 1), BLIS as it chooses */
        int dv = 0, dx = 0, db = 0, dg = 0;
        float *yo = malloc(sizeof(float) * N);
        xs one, one32;
        xs_make(&one, 1, K, N, bmb, 1, w);
        xs_make(&one32, 1, K, N, 32, 1, w);
        for (int r = 0; r < M; r++) {
            vssm_op_linear_packed(ctx, x + (int64_t)r * K, 1, K, wp, b, N, VSSM_ACT_NONE, 0, yo);
            dv += memcmp(yo, y + (int64_t)r * N, sizeof(float) * N) != 0;
            xs_run(&one, x + (int64_t)r * K, b, yo);
            dx += memcmp(yo, y2 + (int64_t)r * N, sizeof(float) * N) != 0;
            bl_run(1, K, N, x + (int64_t)r * K, w, wt, bwt, b, yo);
            db += memcmp(yo, y3 + (int64_t)r * N, sizeof(float) * N) != 0;
            xs_run(&one32, x + (int64_t)r * K, b, yo);
            dg += memcmp(yo, y4 + (int64_t)r * N, sizeof(float) * N) != 0;
        }
        free(one.ap), free(one32.ap), free(yo);
        const double gf = 2e-9 * M * K * N;
        printf("%-15s %4d %4d %4d %8.3f %8.3f %8.3f %8.3f %7.1f %7.1f %7.1f %4d %4d %6s %4s\n", vmamba_t_shapes[s].what,
               M, K, N, bv * 1e3, bx * 1e3, bb * 1e3, bg * 1e3, gf / bv, gf / bx, gf / bb, bmb, bnb,
               bwt ? "(K,N)" : "(N,K)", bli_cntx_l3_sup_thresh_is_met(BLIS_FLOAT, M, N, K, bc) ? "yes" : "no");
        printf("  max |diff| / max |y| against vssm: libxsmm %.2e, BLIS %.2e; rows alone differing in bits (of %d): "
               "vssm %d, libxsmm %d, BLIS %d, libxsmm 32x14 %d\n",
               rx, rb, M, dv, dx, db, dg);
        tv += vmamba_t_shapes[s].times * bv, tx += vmamba_t_shapes[s].times * bx, tb += vmamba_t_shapes[s].times * bb,
            tg += vmamba_t_shapes[s].times * bg;
        free(f.ap), free(g.ap), free(y4);
        free(x), free(w), free(wt), free(b), free(y), free(y2), free(y3), free(wp);
    }
    printf("VMamba-T forward's products (each shape times its count): vssm %.2f ms, libxsmm %.2f ms (vssm/libxsmm "
           "%.2fx), BLIS %.2f ms (vssm/BLIS %.2fx), libxsmm 32x14 %.2f ms (vssm/that %.2fx)\n",
           tv * 1e3, tx * 1e3, tv / tx, tb * 1e3, tv / tb, tg * 1e3, tv / tg);
    vssm_ctx_free(ctx);
    libxsmm_finalize();
    return 0;
}
