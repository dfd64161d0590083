/* kernels/cpu/cpu_bwd.h - the CPU backward ops (kernels/ops.h: VSSM_BACKWARD_OPS; design in
 * kernels/BACKWARD.md) and the pieces their files share. backend.c registers them all with
 * VSSM_CPU_BWD_ENTRIES, so a new backward op touches only this header and its own file. */
#ifndef VSSM_CPU_BWD_H
#define VSSM_CPU_BWD_H

#include <math.h>
#include "kernels/ctx_internal.h"
#include "kernels/cpu/vmath.h"

#define VSSM_CPU_BWD_DECLARE_(name, kind, params, args, check) void vssm_cpu_##name params;
VSSM_BACKWARD_OPS(VSSM_CPU_BWD_DECLARE_)
#undef VSSM_CPU_BWD_DECLARE_

/* designated initialisers of the CPU table (backend.c) */
#define VSSM_CPU_BWD_ENTRY_(name, kind, params, args, check) .name = vssm_cpu_##name,
#define VSSM_CPU_BWD_ENTRIES VSSM_BACKWARD_OPS(VSSM_CPU_BWD_ENTRY_)

/* Rows per block of the fixed-block reductions: a parameter gradient is summed per block of
 * rows (sequentially inside), then the blocks in order; the blocks do not depend on the
 * thread count, so neither do the bits. */
#define BWD_RB 64

/* d act(t) / dt at t (the pre-activation); NONE: 1 */
static inline float bwd_act_grad(float t, vssm_act act) {
    if (act == VSSM_ACT_GELU) { /* Phi(t) + t phi(t) */
        const float cdf = 0.5f * (1.0f + vm_erff(t * 0.70710678118654752f));
        return cdf + t * 0.39894228040143268f * vm_expf(-0.5f * t * t);
    }
    if (act == VSSM_ACT_SILU) { /* s (1 + t (1 - s)) */
        const float s = 1.0f / (1.0f + vm_expf(-t));
        return s * (1.0f + t * (1.0f - s));
    }
    return 1.0f;
}

/* linear_bwd.c: shared by the backward ops */
/* z[i] = dy[i] act'(z[i]) for i < n, z holding the pre-activations (in place); compiled per
 * instruction set (the context's: isa.c) */
void vssm_cpu_bwd_act_mul(vssm_ctx *ctx, const float *dy, int64_t n, vssm_act act, float *z);
/* scratch of a backward op: NULL (and the failure recorded in ctx, reported by the next
 * vssm_op_status) when out of memory */
float *vssm_cpu_bwd_alloc(vssm_ctx *ctx, const char *op, size_t floats);
/* records the op's first failure in ctx (printf format), for the next vssm_op_status */
void vssm_cpu_bwd_fail(vssm_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* out[i] += sum over b = 0..nblk-1 of part[b*n + i], in that order (parallel over i) */
void vssm_cpu_bwd_reduce(vssm_ctx *ctx, const float *part, int64_t nblk, int64_t n, float *out);
/* out[c] += sum over rows r of a[r*lda + c] (blocks of BWD_RB rows, in order) */
void vssm_cpu_bwd_colsum(vssm_ctx *ctx, const float *a, int64_t rows, int C, int64_t lda, float *out);
/* dx (M, K) += dz (M, N) . w (N, K) and dw (N, K) += dz^T . x (M, K) on the GEMM (sgemm.c);
 * either output may be NULL */
void vssm_cpu_bwd_products(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *w, int N, const float *dz,
                           float *dx, float *dw);

#endif
