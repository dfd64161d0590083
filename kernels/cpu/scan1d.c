/* kernels/cpu/scan1d.c - the 1D selective scan of a Mamba mixer (Vim), gated by SiLU(z).
 *
 * For every (batch b, channel c) the recurrence
 *     h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t,   y_t = (C_t . h_t + D u_t) SiLU(z_t)
 * runs along t = 0..L-1, or t = L-1..0 for the backward branch (reverse), writing y at the
 * token's own position, so the backward branch never flips anything.
 *
 * Same shape as the 2D scan (scan.c), and the same recurrence (scan_simd.h's scan_chunk):
 * one task = (b, 1-4 blocks of CB channels), the CB channels one SIMD vector, delta computed on
 * the fly from the token's dt_r. x_proj is a GEMM done by the caller (vssm_op_linear). A
 * call with a->next (Vim's other direction) runs both scans of a channel group in one task:
 * one parallel region for both directions (Vim-T: 24 regions fewer a forward).
 * Compiled once per instruction set (scan1d_avx2.c, scan1d_avx512.c; cpu_ops.h). */
#if defined(__AVX512F__) && !defined(__clang__) /* clang: -mprefer-vector-width=512 (CMakeLists.txt) */
/* one zmm per 16 floats in the omp simd loops too (GCC's default is ymm; same operations per
 * lane, so the same bits) */
#pragma GCC target("prefer-vector-width=512")
#endif
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/rows_chunk.h"
#include "kernels/cpu/scan_simd.h"

/* nb (<= SCAN_GROUP_MAX) consecutive channel blocks from c0, the last of width cw <= CB, the
 * others CB, chunk by chunk in lockstep (scan_simd.h's scan_group_chunk). The gate is read
 * from zin (a->z, or the first scan's zs: already SiLU(z) where zdone), SiLU(z) kept in zout
 * (the first scan's zs) where not NULL. */
static void scan_blocks(const vssm_scan1d_args *a, int b, int c0, int nb, int cw, const float *zin, float *zout,
                        int zdone) {
    const int D = a->D, R = a->R, N = a->N, C2 = R + 2 * N;
    const int64_t L = a->L;
    const float *xd0 = a->xdbl + (size_t)b * L * C2;
    const size_t off = (size_t)b * L * D + c0;
    scan_state s[SCAN_GROUP_MAX];
    if (nb < 1 || nb > SCAN_GROUP_MAX) return; /* the caller splits the channels so: never */
    for (int g = 0; g < nb; g++) {
        const int cg = c0 + g * CB;
        scan_state_init(&s[g], a->A + cg, D, a->dt_w + cg, D, a->dt_b + cg, a->Ds + cg, R, N, g == nb - 1 ? cw : CB);
    }
    for (int64_t t0 = 0; t0 < L; t0 += TC) {
        const int T = L - t0 < TC ? (int)(L - t0) : TC;
        int64_t pos[TC], zpos[TC];
        const float *xr[TC];
        for (int i = 0; i < T; i++) {
            const int64_t p = a->reverse ? L - 1 - (t0 + i) : t0 + i;
            pos[i] = p * D, zpos[i] = p * a->ldz;
            xr[i] = xd0 + p * C2;
        }
        const size_t zoff = (size_t)b * L * a->ldz + c0;
        scan_group_chunk(s, nb, xr, T, pos, a->u + off, zpos, zin ? zin + zoff : NULL, zout ? zout + zoff : NULL, zdone,
                         a->y + off, pos, a->accumulate);
    }
}

void VSSM_ISA_FN(vssm_cpu_scan1d)(vssm_ctx *ctx, const vssm_scan1d_args *a) {
    VSSM_KERNEL_REQUIRE(ctx,
                        a->N >= 1 && a->N <= VSSM_SCAN_MAX_STATE && a->R >= 1 && a->D >= 1 && a->L >= 1 && a->B >= 1);
    const int grp_n = scan_group_size(a->B, a->D, ctx->threads_now), gc = grp_n * CB;
    const int ngrp = (a->D + gc - 1) / gc, nt = ctx->threads_now > 1 ? ctx->threads_now : 1;
    /* tasks (b, grp) in that order, a range per thread with stealing (rows_chunk.h): on a quiet
     * machine thread t scans the images whose rows it wrote in the ops before (conv1d, x_proj,
     * in_proj split rows the same way) */
    vssm_cpu_range *rg = ctx->cpu_ranges;
    vssm_cpu_ranges_init(rg, nt, (int64_t)a->B * ngrp);
#pragma omp parallel num_threads(nt)
    {
        int v = 0;
        int64_t t0 = 0, t1 = 0;
        while (vssm_cpu_ranges_next(rg, nt, 1, &v, &t0, &t1))
            for (int64_t t = t0; t < t1; t++) {
                const scan_task tk = scan_task_at(t, ngrp, gc, a->D);
                scan_blocks(a, tk.b, tk.c0, tk.nb, tk.cw, a->z, a->zs, 0);
                if (a->next) /* reads the first scan's SiLU(z) where it kept it (zs) */
                    scan_blocks(a->next, tk.b, tk.c0, tk.nb, tk.cw, a->zs ? a->zs : a->next->z, NULL, a->zs != NULL);
            }
    }
}
