/* vssm/ctx.h - the execution context: which device runs the ops, how many threads.
 *
 * A context carries everything that would otherwise be global: the op backend, its
 * handles (cuBLAS/cuDNN on CUDA), the thread count, profiling counters and the CPU GEMM's
 * scratch. Models and states are created against one context and must be freed before it;
 * a context (and what runs on it) is used by one thread at a time.
 *
 *     vssm_ctx_opts o = vssm_ctx_default_opts();   // CPU, all cores
 *     o.n_threads = 2;
 *     vssm_ctx *ctx = NULL;
 *     if (vssm_ctx_new(&ctx, &o, &err) != VSSM_OK) ...
 *     ...
 *     vssm_ctx_free(ctx);
 */
#ifndef VSSM_CTX_H
#define VSSM_CTX_H

#include "vssm/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vssm_ctx vssm_ctx;

/* the number format of the products (VSSM_PRECISION_BF16: CPU only) */
typedef enum vssm_precision {
    VSSM_PRECISION_F32 = 0, /* everything in fp32 (default) */
    VSSM_PRECISION_BF16,    /* weights stored bf16 (rounded at load), activations rounded to bf16 at each product,
                               products summed in fp32; everything else (scan, norms, sums) fp32 */
} vssm_precision;

typedef struct vssm_ctx_opts {
    vssm_device device; /* VSSM_DEVICE_CPU (default) or VSSM_DEVICE_CUDA */
    int device_index;   /* GPU ordinal for CUDA */
    int n_threads;      /* CPU threads for ops and BLAS; <= 0: number of cores */
    int allow_tf32;     /* CUDA: let cuBLAS use TF32 (off by default: exact fp32) */
    /* CPU: the kernels' instruction set, "avx512", "avx2" or "base" (the build's baseline);
     * NULL or "": $VSSM_CPU_ISA if set, else the best this CPU runs. One instruction set
     * gives the same bits at any batch and thread count; a set the CPU lacks is refused. */
    const char *cpu_isa;
    /* VSSM_PRECISION_BF16 needs a CPU with avx512_bf16 (AMX tiles used where present) and
     * the avx512 instruction set; refused with a message elsewhere and on CUDA. Products
     * from plain weights (the classifier head) stay fp32. */
    vssm_precision precision;
    /* CPU: choose each forward pass's thread count by measurement, between 1 and n_threads
     * (0, the default: always n_threads). Each planned state (model, input size, batch)
     * times its passes and keeps the count that runs fastest, trying a neighbouring count
     * now and then (at pass 3, then after 8 .. 64 passes while the choice holds; at once when a pass
     * runs 25% over its count's average). On a machine where another process keeps a core
     * busy, a thread sharing that core makes every op wait for it: 2 threads ran Vim-T 1.27x
     * slower than 1 (kernels/cpu/README.md). The results do not depend on it: every CPU op
     * gives the same bits at any thread count. The `vssm` tool turns it on unless
     * --fixed-threads is given. */
    int adapt_threads;
} vssm_ctx_opts;

VSSM_API vssm_ctx_opts vssm_ctx_default_opts(void);
/* opts NULL: vssm_ctx_default_opts(). *out is NULL on failure. Fails with VSSM_ERR_DEVICE
 * (and a message saying why) when the device is absent or this build lacks its backend.
 * The CPU backend reads three environment variables, for tests and what-ifs:
 * VSSM_CPU_ISA (opts.cpu_isa's default: base, avx2, avx512), VSSM_CPU_BF16 (the bf16
 * products' kernel: amx or avx512bf16) and VSSM_CPU_L2 (the L2 size the blocking follows,
 * e.g. 1M; the results' bits do not depend on it). A bad value is refused by name. */
VSSM_API vssm_status vssm_ctx_new(vssm_ctx **out, const vssm_ctx_opts *opts, vssm_err *err);
VSSM_API void vssm_ctx_free(vssm_ctx *ctx);
VSSM_API vssm_device vssm_ctx_device(const vssm_ctx *ctx);
VSSM_API int vssm_ctx_threads(const vssm_ctx *ctx);
/* The threads the last forward pass ran at (opts.adapt_threads; otherwise n_threads). */
VSSM_API int vssm_ctx_last_threads(const vssm_ctx *ctx);
/* Short description, e.g. "cpu (2 threads, AVX-512)" or "cuda:0 NVIDIA H100"; owned by
 * the context, valid until vssm_ctx_free. */
VSSM_API const char *vssm_ctx_describe(const vssm_ctx *ctx);

/* Copies an f32 tensor of the ctx's device (a feature map, logits) to host memory; dst
 * holds numel floats. */
VSSM_API vssm_status vssm_tensor_to_host(vssm_ctx *ctx, const vssm_tensor *t, float *dst, vssm_err *err);
/* Measures the device's copy bandwidth: GB/s (bytes read + written) of a device-to-device
 * copy of `bytes`, best of 5 after a warm-up. The memory ceiling for bandwidth-bound ops. */
VSSM_API vssm_status vssm_ctx_copy_bandwidth(vssm_ctx *ctx, size_t bytes, double *gbps, vssm_err *err);
/* Measures how long a cache line takes to go from one of the CPU context's threads to another
 * and back (ns; the median of 9 batches of 64 ping-pongs between two of its OpenMP threads, the
 * pool its ops use). Two cores of one core complex answer in ~50-100 ns; on a VM whose vCPUs
 * sit on different chiplets (or sockets) ~300-400 ns, and every op that reads what the other
 * thread wrote pays for it: `vssm bench` reports it next to the 2-thread figures. Bounded: it
 * waits up to 20 ms for the second thread to run, then times batches for 5 ms (a descheduled
 * thread) and keeps those it completed. *ns = 0 for a CUDA context, one thread, an OpenMP
 * runtime that gave it fewer than two, or no batch completed (a loaded machine). */
VSSM_API vssm_status vssm_ctx_core_round_trip(vssm_ctx *ctx, double *ns, vssm_err *err);

/* Per-op-kind timing (for `vssm bench`): when enabled, each op adds its elapsed time
 * (device-synchronised) to a counter of its kind. Off by default: costs a sync per op. */
typedef enum vssm_op_kind {
    VSSM_OP_GEMM = 0,
    VSSM_OP_CONV,    /* stride-2 3x3 convolutions (patch embed, downsample) */
    VSSM_OP_DWCONV,  /* depthwise 3x3 + SiLU */
    VSSM_OP_SCAN,    /* fused cross-scan selective scan (x_proj, dt_proj, scan, merge) */
    VSSM_OP_NORM,    /* LayerNorm over channels (with fused activation) */
    VSSM_OP_ELTWISE, /* add, activations, pooling, copies */
    VSSM_OP_KIND_COUNT
} vssm_op_kind;
VSSM_API const char *vssm_op_kind_name(vssm_op_kind k);
VSSM_API void vssm_ctx_profile(vssm_ctx *ctx, int enable);
/* Copies accumulated seconds per op kind into secs[VSSM_OP_KIND_COUNT] and resets them. */
VSSM_API void vssm_ctx_profile_take(vssm_ctx *ctx, double *secs);
/* One profiled op: its kind and elapsed seconds, in call order. */
typedef struct vssm_op_record {
    vssm_op_kind kind;
    double secs;
} vssm_op_record;
/* While profiling, also writes a record per op into buf (the caller's, cap records; the
 * context only keeps the pointer) from index 0; NULL or cap 0 stops it. */
VSSM_API void vssm_ctx_profile_log(vssm_ctx *ctx, vssm_op_record *buf, size_t cap);
/* The ops profiled since vssm_ctx_profile_log: may exceed its cap (those were not kept). */
VSSM_API size_t vssm_ctx_profile_logged(const vssm_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
