/* bench/dnnl/bench_dnnl.c - our GEMM against oneDNN's matmul on VMamba-T's products, in one
 * process, alternated, best of `reps` (kernels/cpu/README.md has the table).
 *
 * oneDNN gets its best case: weights reordered once into the layout its primitive asks for
 * (format_tag any: prepacked), bias fused, the primitive created once per shape. "bf16" is
 * oneDNN's matmul with bf16 source and weights (source converted beforehand, not timed),
 * f32 bias and output: the ceiling of a bf16 mode on this CPU (AMX where it has it).
 * Not part of the build (oneDNN is not a dependency); with Debian's libdnnl-dev:
 *
 *   cc -O2 -fopenmp -I. -Iinclude -Ibuild bench/dnnl/bench_dnnl.c build/libvssm.a -ldnnl -lopenblas -lm \
 *      $(pkg-config --libs libturbojpeg libpng libcjson cairo) -o /tmp/bench_dnnl
 *   /tmp/bench_dnnl [threads] [reps] [cpu|wall] [conv]
 *
 * (A build with the CUDA backend also needs its libraries: g++ -x c ... -x none, then
 * -lcudart -lcublas -lcublasLt -lcudnn from /usr/local/cuda/lib and libav*'s pkg-config.)
 *
 * conv: VMamba-T's 3x3 stride-2 convs as products (vmamba_t_conv_shapes) instead of the blocks'.
 */
#include <dnnl.h>
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

#define CK(x)                                                                            \
    do {                                                                                 \
        dnnl_status_t s_ = (x);                                                          \
        if (s_ != dnnl_success) {                                                        \
            fprintf(stderr, "%s:%d: %s failed (%d)\n", __FILE__, __LINE__, #x, (int)s_); \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

typedef struct {
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, bia, dst;
} mm;

static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

/* y (M, N) = x (M, K) w (N, K)^T + b through a oneDNN matmul in data type dt (f32 or bf16 inputs) */
static void mm_make(mm *m, dnnl_engine_t eng, dnnl_stream_t st, int M, int K, int N, const float *x, const float *w,
                    const float *b, float *y, dnnl_data_type_t dt) {
    dnnl_memory_desc_t src_md, wei_md, bia_md, dst_md, wu_md;
    dnnl_dims_t sd = {M, K}, wd = {K, N}, bd = {1, N}, dd = {M, N};
    CK(dnnl_memory_desc_init_by_tag(&src_md, 2, sd, dt, dnnl_ab));
    CK(dnnl_memory_desc_init_by_tag(&wei_md, 2, wd, dt, dnnl_format_tag_any));
    CK(dnnl_memory_desc_init_by_tag(&bia_md, 2, bd, dnnl_f32, dnnl_ab));
    CK(dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, dnnl_f32, dnnl_ab));
    CK(dnnl_memory_desc_init_by_tag(&wu_md, 2, wd, dnnl_f32, dnnl_ba)); /* our (N, K) rows */
    dnnl_matmul_desc_t md;
    CK(dnnl_matmul_desc_init(&md, &src_md, &wei_md, &bia_md, &dst_md));
    dnnl_primitive_desc_t pd;
    CK(dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL));
    const dnnl_memory_desc_t *wq = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_t wu;
    CK(dnnl_memory_create(&wu, &wu_md, eng, (void *)w));
    CK(dnnl_memory_create(&m->wei, wq, eng, DNNL_MEMORY_ALLOCATE));
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t r;
    CK(dnnl_reorder_primitive_desc_create(&rpd, &wu_md, eng, wq, eng, NULL));
    CK(dnnl_primitive_create(&r, rpd));
    dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, wu}, {DNNL_ARG_TO, m->wei}};
    CK(dnnl_primitive_execute(r, st, 2, ra));
    CK(dnnl_stream_wait(st));
    dnnl_primitive_destroy(r), dnnl_primitive_desc_destroy(rpd), dnnl_memory_destroy(wu);
    if (dt == dnnl_bf16) {
        CK(dnnl_memory_create(&m->src, &src_md, eng, DNNL_MEMORY_ALLOCATE));
        void *h;
        CK(dnnl_memory_get_data_handle(m->src, &h));
        for (int64_t i = 0; i < (int64_t)M * K; i++) ((uint16_t *)h)[i] = to_bf16(x[i]);
    } else {
        CK(dnnl_memory_create(&m->src, &src_md, eng, (void *)x));
    }
    CK(dnnl_memory_create(&m->bia, &bia_md, eng, (void *)b));
    CK(dnnl_memory_create(&m->dst, &dst_md, eng, y));
    CK(dnnl_primitive_create(&m->prim, pd));
    dnnl_primitive_desc_destroy(pd);
}

static void mm_run(mm *m, dnnl_stream_t st) {
    dnnl_exec_arg_t a[4] = {
        {DNNL_ARG_SRC, m->src}, {DNNL_ARG_WEIGHTS, m->wei}, {DNNL_ARG_BIAS, m->bia}, {DNNL_ARG_DST, m->dst}};
    CK(dnnl_primitive_execute(m->prim, st, 4, a));
    CK(dnnl_stream_wait(st));
}

static void mm_free(mm *m) {
    dnnl_primitive_destroy(m->prim);
    dnnl_memory_destroy(m->src), dnnl_memory_destroy(m->wei), dnnl_memory_destroy(m->bia);
    dnnl_memory_destroy(m->dst);
}

int main(int argc, char **argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 1, reps = argc > 2 ? atoi(argv[2]) : 7;
    use_cpu_time = argc > 3 && !strcmp(argv[3], "cpu");
    omp_set_num_threads(threads);
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = threads;
    vssm_ctx *ctx;
    vssm_err err = {0};
    if (vssm_ctx_new(&ctx, &o, &err) != VSSM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    dnnl_engine_t eng;
    dnnl_stream_t st;
    CK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CK(dnnl_stream_create(&st, eng, dnnl_stream_default_flags));
    printf("%s, %d thread(s), %s time, best of %d\n", vssm_ctx_describe(ctx), threads, use_cpu_time ? "CPU" : "wall",
           reps);
    printf("%-16s %5s %5s %5s %9s %9s %9s %8s %8s\n", "shape", "M", "K", "N", "vssm ms", "dnnl ms", "bf16 ms",
           "vssm GF", "dnnl GF");
    double tv = 0, td = 0, tb = 0;
    const int convs = argc > 4 && !strcmp(argv[4], "conv");
    const vmamba_t_shape *shapes = convs ? vmamba_t_conv_shapes : vmamba_t_shapes;
    const size_t nshapes = convs ? sizeof vmamba_t_conv_shapes / sizeof *vmamba_t_conv_shapes
                                 : sizeof vmamba_t_shapes / sizeof *vmamba_t_shapes;
    for (size_t s = 0; s < nshapes; s++) {
        const int M = shapes[s].M, K = shapes[s].K, N = shapes[s].N;
        float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K), *b = malloc(sizeof(float) * N);
        float *y = malloc(sizeof(float) * M * N), *y2 = malloc(sizeof(float) * M * N),
              *y3 = malloc(sizeof(float) * M * N);
        for (int64_t i = 0; i < (int64_t)M * K; i++) x[i] = (float)(i % 17) * 0.01f - 0.08f;
        for (int64_t i = 0; i < (int64_t)N * K; i++) w[i] = (float)(i % 13) * 0.01f - 0.06f;
        for (int i = 0; i < N; i++) b[i] = 0.1f;
        float *wp = malloc(vssm_op_linear_pack_numel(ctx, N, K) * sizeof(float));
        vssm_op_linear_pack(ctx, w, N, K, wp);
        mm f, h;
        mm_make(&f, eng, st, M, K, N, x, w, b, y2, dnnl_f32);
        mm_make(&h, eng, st, M, K, N, x, w, b, y3, dnnl_bf16);
        double bv = 1e30, bd = 1e30, bb = 1e30;
        for (int r = 0; r < reps + 1; r++) { /* the first round warms up */
            double t0 = now_s();
            vssm_op_linear_packed(ctx, x, M, K, wp, b, N, VSSM_ACT_NONE, 0, y);
            double t1 = now_s();
            mm_run(&f, st);
            double t2 = now_s();
            mm_run(&h, st);
            double t3 = now_s();
            if (r == 0) continue;
            if (t1 - t0 < bv) bv = t1 - t0;
            if (t2 - t1 < bd) bd = t2 - t1;
            if (t3 - t2 < bb) bb = t3 - t2;
        }
        double maxd = 0, maxy = 0;
        for (int64_t i = 0; i < (int64_t)M * N; i++) {
            const double d = y[i] - y2[i];
            if ((d < 0 ? -d : d) > maxd) maxd = d < 0 ? -d : d;
            if ((y[i] < 0 ? -y[i] : y[i]) > maxy) maxy = y[i] < 0 ? -y[i] : y[i];
        }
        if (maxd > 1e-4 * maxy) fprintf(stderr, "%s: vssm and oneDNN differ by %.3g\n", shapes[s].what, maxd);
        /* batch invariance: rows 0 and M/2 computed alone (M = 1) against the same rows of the M-row product */
        int diff_rows = 0;
        for (int r = 0; r<M; r += M / 2> 0 ? M / 2 : 1) {
            mm one;
            float yo[N];
            mm_make(&one, eng, st, 1, K, N, x + (int64_t)r * K, w, b, yo, dnnl_f32);
            mm_run(&one, st);
            diff_rows += memcmp(yo, y2 + (int64_t)r * N, sizeof yo) != 0;
            mm_free(&one);
        }
        if (diff_rows)
            printf("  (oneDNN f32: %d of 2 rows computed alone differ in bits from the %d-row product)\n", diff_rows,
                   M);
        const double gf = 2e-9 * M * K * N;
        printf("%-16s %5d %5d %5d %9.3f %9.3f %9.3f %8.1f %8.1f\n", shapes[s].what, M, K, N, bv * 1e3, bd * 1e3,
               bb * 1e3, gf / bv, gf / bd);
        tv += shapes[s].times * bv, td += shapes[s].times * bd, tb += shapes[s].times * bb;
        mm_free(&f), mm_free(&h);
        free(x), free(w), free(b), free(y), free(y2), free(y3), free(wp);
    }
    printf("VMamba-T forward's %s (each shape times its count): vssm %.2f ms, oneDNN f32 %.2f ms (%.2fx), "
           "oneDNN bf16 %.2f ms (%.2fx)\n",
           convs ? "convs' products" : "products", tv * 1e3, td * 1e3, tv / td, tb * 1e3, tv / tb);
    dnnl_stream_destroy(st), dnnl_engine_destroy(eng);
    vssm_ctx_free(ctx);
    return 0;
}
