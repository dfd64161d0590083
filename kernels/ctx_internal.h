/* kernels/ctx_internal.h - what a vssm_ctx holds (library-internal). */
#ifndef VSSM_CTX_INTERNAL_H
#define VSSM_CTX_INTERNAL_H

#include <stdio.h>
#include "kernels/ops.h"

struct vssm_ctx {
    vssm_ctx_opts opts;
    const vssm_ops *ops;
    void *impl;                         /* backend state (CUDA: stream, handles) */
    float *gemm_scratch;                /* CPU GEMM: per-thread copies of x blocks, made at the
                                           first large product and kept (sgemm.c) */
    struct vssm_cpu_range *cpu_ranges;  /* CPU: a range counter per thread (cpu/rows_chunk.h) */
    const struct vssm_cpu_isa *cpu_isa; /* CPU: the kernels' ISA variant chosen at creation and
                                           the GEMM's K block from the L1d size (cpu/isa.c) */
    int gemm_kc;
    long cpu_l2;        /* CPU: L2 bytes a core (cpu/isa.c; 1 MB where the OS does not say) */
    int threads_last;   /* the count of the last pass a tuner timed (vssm_ctx_last_threads) */
    int threads_now;    /* CPU: the threads the ops use now: opts.n_threads, or fewer during a pass
                        whose count a vssm_thread_tuner chose (ops.h) */
    int cpu_bf16;       /* CPU, precision bf16: the products' kernel (cpu_ops.h VSSM_CPU_BF16_*) */
    void *bf16_scratch; /* CPU bf16 products: x rounded to bf16 (sgemm_bf16.c), grown on demand */
    size_t bf16_scratch_bytes;
    int profile;
    char op_error[320]; /* the first op precondition that failed, until reported
                                           (vssm_op_status); "" when none */
    double prof_secs[VSSM_OP_KIND_COUNT];
    vssm_op_record *prof_log; /* vssm_ctx_profile_log: the caller's buffer, or NULL */
    size_t prof_cap, prof_n;
    char desc[200];
};

/* A kernel's own precondition (the dispatcher, kernels/ctx.c, checks it first): where it is
 * broken the first such is kept as the op error (vssm_op_status reports it) and the kernel
 * returns without touching memory; never an abort (the library does not exit). */
#define VSSM_KERNEL_REQUIRE(ctx, cond)                                                                           \
    do {                                                                                                         \
        if (!(cond)) {                                                                                           \
            if (!(ctx)->op_error[0])                                                                             \
                snprintf((ctx)->op_error, sizeof(ctx)->op_error, "%s: precondition %s broken", __func__, #cond); \
            return;                                                                                              \
        }                                                                                                        \
    } while (0)

/* Backend constructors: fill ctx->ops/impl/desc or return an error. */
vssm_status vssm_cpu_backend_init(vssm_ctx *ctx, vssm_err *err);
vssm_status vssm_cuda_backend_init(vssm_ctx *ctx, vssm_err *err); /* kernels/cuda */
void vssm_cuda_backend_free(vssm_ctx *ctx);

double vssm_now_seconds(void); /* monotonic clock */

/* stem_v2 as the four ops through ctx->ops (conv3x3s2, layernorm, conv3x3s2, layernorm): what
 * vssm_op_stem_v2 runs for a backend without the entry, and the CPU's where it does not fuse */
void vssm_stem_v2_by_ops(vssm_ctx *ctx, const vssm_stem_args *a);

#endif
