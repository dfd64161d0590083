/* kernels/cpu/backend.c - the CPU op table: memory is host memory (64-byte aligned), every
 * product runs on our own GEMM (sgemm.c), everything else is OpenMP + vectorised C. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/rows_chunk.h"
#include "kernels/cpu/cpu_bwd.h"

static void *cpu_alloc(vssm_ctx *ctx, size_t bytes) {
    void *p = NULL;
    size_t n = (bytes + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, n ? n : 64) != 0) return NULL;
    return p;
}
static void cpu_free(vssm_ctx *ctx, void *p) { free(p); }
static int cpu_copy(vssm_ctx *ctx, void *dst, const void *src, size_t bytes) {
    memcpy(dst, src, bytes);
    return 0;
}
static int cpu_sync(vssm_ctx *ctx) { return 0; }

static const vssm_ops cpu_ops = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .copy = cpu_copy,
    .sync = cpu_sync,
    VSSM_CPU_BWD_ENTRIES /* the backward ops (cpu_bwd.h) */
        .linear = vssm_cpu_linear,
    .linear_pack_numel = vssm_cpu_linear_pack_numel,
    .linear_pack = vssm_cpu_linear_pack,
    .linear_packed = vssm_cpu_linear_packed,
    .dt_pack_numel = vssm_cpu_dt_pack_numel,
    .dt_pack = vssm_cpu_dt_pack,
    .conv3x3s2_workspace = vssm_cpu_conv3x3s2_workspace,
    .conv3x3s2 = vssm_cpu_conv3x3s2,
    .dwconv3x3 = vssm_cpu_dwconv3x3,
    .layernorm = vssm_cpu_layernorm,
    .layernorm_gate = vssm_cpu_layernorm_gate,
    .scan_workspace = vssm_cpu_scan_workspace,
    .ss2d_scan = vssm_cpu_ss2d_scan,
    .avgpool = vssm_cpu_avgpool,
    .rmsnorm = vssm_cpu_rmsnorm,
    .conv1d = vssm_cpu_conv1d,
    .norm_proj = vssm_cpu_norm_proj,
    .mlp = vssm_cpu_mlp,
    .stem_v2 = vssm_cpu_stem_v2,
    .scan1d = vssm_cpu_scan1d,
    .patchify = vssm_cpu_patchify,
    .rows_add = vssm_cpu_rows_add,
    .dwconv3x3_bias = vssm_cpu_dwconv3x3_bias,
    .mul_silu = vssm_cpu_mul_silu,
    .patch_merge = vssm_cpu_patch_merge,
};

vssm_status vssm_cpu_backend_init(vssm_ctx *ctx, vssm_err *err) {
    if (ctx->opts.n_threads <= 0) ctx->opts.n_threads = omp_get_num_procs();
    if (ctx->opts.n_threads > 1024)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "thread count %d is too large", ctx->opts.n_threads);
    /* No openblas_set_num_threads here: OpenBLAS keeps it process-wide, so a context changed
     * the host program's BLAS (and another context's); the kernels do not call BLAS. */
    ctx->threads_now = ctx->opts.n_threads;
    ctx->cpu_ranges = aligned_alloc(64, (size_t)ctx->opts.n_threads * sizeof(vssm_cpu_range));
    if (!ctx->cpu_ranges) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory for %d threads", ctx->opts.n_threads);
    ctx->ops = &cpu_ops;
    return vssm_cpu_isa_init(ctx, err); /* the kernels' instruction set, the cache sizes, desc */
}
