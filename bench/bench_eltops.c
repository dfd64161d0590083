/* bench/bench_eltops.c - the depthwise 3x3 convs alone (CPU), at the shapes of a 224x224
 * forward: VMamba-v0-T's (dwconv3x3_bias: the x half of in_proj's output, ldx = 2 d_inner,
 * a bias, SiLU) and VMamba-T's (dwconv3x3: ldx = C, no bias, SiLU). Best of `rounds` per
 * stage (each round >= ~0.1 s of calls), process CPU time; the model's figure is the sum
 * over stages weighted by its depths. Then Vim-T's token conv1d (197 tokens, d_inner 384,
 * K = 4, reading the x half of in_proj's output; 2 directions x 24 layers a forward). "none"
 * drops the SiLU to time the convs alone.
 *
 *   ./build/bench_eltops [threads] [rounds] [silu|none]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kernels/ops.h"

static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
    const char *name;
    int dims[4], depths[4], v0; /* per stage channels of the conv, blocks */
} model;

int main(int argc, char **argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 1, rounds = argc > 2 ? atoi(argv[2]) : 5;
    const vssm_act act = argc > 3 && !strcmp(argv[3], "none") ? VSSM_ACT_NONE : VSSM_ACT_SILU;
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = threads;
    vssm_ctx *ctx;
    vssm_err err = {0};
    if (vssm_ctx_new(&ctx, &o, &err) != VSSM_OK) {
        fprintf(stderr, "bench_eltops: %s\n", err.msg);
        return 1;
    }
    printf("%s, %s\n", vssm_ctx_describe(ctx), act == VSSM_ACT_SILU ? "SiLU" : "no activation");
    static const model models[] = {
        {"vmamba-v0-tiny (dwconv3x3_bias, ldx 2C)", {192, 384, 768, 1536}, {2, 2, 9, 2}, 1},
        {"vmamba-tiny (dwconv3x3)", {96, 192, 384, 768}, {2, 2, 5, 2}, 0},
    };
    static const int sizes[4] = {56, 28, 14, 7};
    for (size_t mi = 0; mi < sizeof models / sizeof models[0]; mi++) {
        const model *m = &models[mi];
        double total = 0;
        printf("%s\n", m->name);
        for (int s = 0; s < 4; s++) {
            const int H = sizes[s], W = sizes[s], C = m->dims[s];
            const int64_t ldx = m->v0 ? 2 * C : C;
            const size_t nx = (size_t)H * W * ldx, ny = (size_t)H * W * C;
            float *x = aligned_alloc(64, nx * 4), *y = aligned_alloc(64, ny * 4);
            float *w = aligned_alloc(64, (size_t)9 * C * 4), *b = aligned_alloc(64, (size_t)C * 4 + 60);
            if (!x || !y || !w || !b) return 1;
            for (size_t i = 0; i < nx; i++) x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
            for (int i = 0; i < 9 * C; i++) w[i] = 0.1f * (float)(i % 7 - 3);
            for (int i = 0; i < C; i++) b[i] = 0.01f * (float)(i % 13);
            const int reps = (int)(4000000 / ny) + 1;
            double best = 1e30;
            for (int r = 0; r < rounds; r++) {
                double t = cpu_s();
                for (int q = 0; q < reps; q++) {
                    if (m->v0)
                        vssm_op_dwconv3x3_bias(ctx, x, ldx, 1, H, W, C, w, b, act, y);
                    else
                        vssm_op_dwconv3x3(ctx, x, 1, H, W, C, w, act, y);
                }
                t = (cpu_s() - t) / reps;
                best = t < best ? t : best;
            }
            printf("  %2dx%-2d C %4d: %.4f ms/call (cpu), %.2f ns per 16 outputs\n", H, W, C, best * 1e3,
                   best * 1e9 / ((double)ny / 16));
            total += best * m->depths[s];
            free(x), free(y), free(w), free(b);
        }
        printf("  per forward: %.3f ms (cpu)\n", total * 1e3);
    }
    {
        const int L = 197, C = 384, K = 4;
        float *x = aligned_alloc(64, (size_t)L * 2 * C * 4), *y = aligned_alloc(64, (size_t)L * C * 4);
        float *w = aligned_alloc(64, (size_t)K * C * 4), *b = aligned_alloc(64, (size_t)C * 4);
        if (!x || !y || !w || !b) return 1;
        for (size_t i = 0; i < (size_t)L * 2 * C; i++) x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
        for (int i = 0; i < K * C; i++) w[i] = 0.1f * (float)(i % 7 - 3);
        for (int i = 0; i < C; i++) b[i] = 0.01f * (float)(i % 13);
        const int reps = 4000000 / (L * C) + 1;
        double best = 1e30;
        for (int r = 0; r < rounds; r++) {
            double t = cpu_s();
            for (int q = 0; q < reps; q++) vssm_op_conv1d(ctx, x, 2 * C, 1, L, C, w, b, K, q & 1, act, y);
            t = (cpu_s() - t) / reps;
            best = t < best ? t : best;
        }
        printf("vim-tiny (conv1d)\n  %d tokens C %d K %d: %.4f ms/call (cpu), %.2f ns per 16 outputs\n"
               "  per forward: %.3f ms (cpu)\n",
               L, C, K, best * 1e3, best * 1e9 / ((double)L * C / 16), best * 48 * 1e3);
        free(x), free(y), free(w), free(b);
    }
    vssm_ctx_free(ctx);
    return 0;
}
