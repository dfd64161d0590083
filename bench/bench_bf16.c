/* bench/bench_bf16.c - the bf16 products (kernels/cpu/sgemm_bf16.c) against our fp32 GEMM
 * on every product shape of VMamba-T at 224 (batch 1), in one run, alternated, best of
 * `reps` per shape; bias added, no activation. The last line weights each shape by its
 * count in one forward (in_proj and out_proj share a shape: 2 per block). The bf16 kernel
 * is the one the context picks ($VSSM_CPU_BF16=avx512bf16 forces VDPBF16PS).
 *
 *   ./build/bench_bf16 [threads] [reps]      (threads 1 by default; process CPU time)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "kernels/ops.h"

static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 1, reps = argc > 2 ? atoi(argv[2]) : 7;
    /* per stage: d, tokens, blocks; the products of a block (K, N): in/out_proj (d, d; two),
     * x_proj (d, 4 (dt_rank + 2 d_state)) with dt_rank d/16 and d_state 1, fc1 (d, 4d), fc2
     * (4d, d); the stride-2 convs are left out */
    static const int stage[4][3] = {{96, 3136, 2}, {192, 784, 2}, {384, 196, 8}, {768, 49, 2}};
    static const int xproj[4] = {32, 56, 104, 200};
    vssm_ctx *ctx[2];
    const char *name[2] = {"fp32", "bf16"};
    for (int p = 0; p < 2; p++) {
        vssm_ctx_opts o = vssm_ctx_default_opts();
        o.n_threads = threads;
        o.precision = p ? VSSM_PRECISION_BF16 : VSSM_PRECISION_F32;
        vssm_err err = {0};
        if (vssm_ctx_new(&ctx[p], &o, &err) != VSSM_OK) {
            fprintf(stderr, "%s context: %s\n", name[p], err.msg);
            return 1;
        }
    }
    printf("%s\n%6s %5s %5s %10s %10s %8s\n", vssm_ctx_describe(ctx[1]), "M", "K", "N", "fp32 ms", "bf16 ms",
           "speed-up");
    double total[2] = {0, 0};
    for (int s = 0; s < 4; s++) {
        const int d = stage[s][0], M = stage[s][1], nb = stage[s][2];
        const int shapes[4][3] = {{d, d, 2}, {d, xproj[s], 1}, {d, 4 * d, 1}, {4 * d, d, 1}}; /* K, N, per block */
        for (int i = 0; i < 4; i++) {
            const int K = shapes[i][0], N = shapes[i][1];
            float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K);
            float *b = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * M * N), *wp[2];
            for (long j = 0; j < (long)M * K; j++) x[j] = (float)(j % 13) * 0.01f;
            for (long j = 0; j < (long)N * K; j++) w[j] = (float)(j % 7) * 0.01f;
            for (int j = 0; j < N; j++) b[j] = 0.1f;
            double best[2] = {1e30, 1e30};
            for (int p = 0; p < 2; p++) {
                wp[p] = malloc(sizeof(float) * vssm_op_linear_pack_numel(ctx[p], N, K));
                vssm_op_linear_pack(ctx[p], w, N, K, wp[p]);
            }
            for (int r = 0; r < reps; r++)
                for (int p = 0; p < 2; p++) {
                    const double t = cpu_s();
                    vssm_op_linear_packed(ctx[p], x, M, K, wp[p], b, N, VSSM_ACT_NONE, 0, y);
                    const double e = cpu_s() - t;
                    if (e < best[p]) best[p] = e;
                }
            for (int p = 0; p < 2; p++) total[p] += best[p] * nb * shapes[i][2];
            printf("%6d %5d %5d %10.3f %10.3f %7.2fx\n", M, K, N, best[0] * 1e3, best[1] * 1e3, best[0] / best[1]);
            free(x), free(w), free(b), free(y), free(wp[0]), free(wp[1]);
        }
    }
    printf("one forward's products: fp32 %.1f ms, bf16 %.1f ms, %.2fx\n", total[0] * 1e3, total[1] * 1e3,
           total[0] / total[1]);
    vssm_ctx_free(ctx[0]), vssm_ctx_free(ctx[1]);
    return 0;
}
