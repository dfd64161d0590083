/* kernels/cpu/scan1d.c - the 1D selective scan of a Mamba mixer (Vim), gated by SiLU(z).
 *
 * For every (batch b, channel c) the recurrence
 *     h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t,   y_t = (C_t . h_t + D u_t) SiLU(z_t)
 * runs along t = 0..L-1, or t = L-1..0 for the backward branch (reverse), writing y at the
 * token's own position, so the backward branch never flips anything.
 *
 * Same shape as the 2D scan (scan.c), and the same recurrence (scan_simd.h's scan_chunk):
 * one task = (b, block of CB channels), the CB channels one SIMD vector, delta computed on
 * the fly from the token's dt_r. x_proj is a GEMM done by the caller (vssm_op_linear).
 * Compiled once per instruction set (scan1d_avx2.c, scan1d_avx512.c; cpu_ops.h). */
#ifdef __AVX512F__
/* one zmm per 16 floats in the omp simd loops too (GCC's default is ymm; same operations per
 * lane, so the same bits) */
#pragma GCC target("prefer-vector-width=512")
#endif
#include <assert.h>
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/scan_simd.h"

static void scan_block(const vssm_scan1d_args *a, int b, int c0, int cw) {
    const int D = a->D, R = a->R, N = a->N, C2 = R + 2 * N;
    const int64_t L = a->L;
    const float *u = a->u + (size_t)b * L * D + c0;
    const float *xd0 = a->xdbl + (size_t)b * L * C2;
    const float *z = a->z ? a->z + (size_t)b * L * a->ldz + c0 : NULL;
    float *y = a->y + (size_t)b * L * D + c0;
    scan_state s;
    scan_state_init(&s, a->A + c0, D, a->dt_w + c0, D, a->dt_b + c0, a->Ds + c0, R, N, cw);

    for (int64_t t0 = 0; t0 < L; t0 += TC) {
        const int T = L - t0 < TC ? (int)(L - t0) : TC;
        int64_t pos[TC];
        vf uu[TC], acc[TC], zz[TC];
        const float *xr[TC];
        for (int i = 0; i < T; i++) {
            const int64_t p = pos[i] = a->reverse ? L - 1 - (t0 + i) : t0 + i;
            xr[i] = xd0 + p * C2;
            uu[i] = load_v(u + p * D, cw);
            zz[i] = z ? load_v(z + p * a->ldz, cw) : (vf){0};
        }
        if (z) {
            float *zf = (float *)zz;
#pragma omp simd simdlen(32)
            for (int e = 0; e < T * CB; e++) zf[e] = vm_siluf(zf[e]);
        }
        scan_chunk(&s, xr, T, uu, acc);
        for (int i = 0; i < T; i++) {
            vf o = acc[i];
            if (z) o *= zz[i];
            float *yp = y + pos[i] * D;
            if (cw == CB) {
                vfu *yv = (vfu *)yp;
                if (a->accumulate)
                    *yv += o;
                else
                    *yv = o;
            } else {
                for (int j = 0; j < cw; j++) yp[j] = a->accumulate ? yp[j] + o[j] : o[j];
            }
        }
    }
}

void VSSM_ISA_FN(vssm_cpu_scan1d)(vssm_ctx *ctx, const vssm_scan1d_args *a) {
    assert(a->N >= 1 && a->N <= VSSM_SCAN_MAX_STATE && a->R >= 1 && a->D >= 1 && a->L >= 1 && a->B >= 1);
    const int nblk = (a->D + CB - 1) / CB;
#pragma omp parallel for collapse(2) num_threads(ctx->opts.n_threads) schedule(dynamic, 1)
    for (int b = 0; b < a->B; b++)
        for (int blk = 0; blk < nblk; blk++) {
            const int c0 = blk * CB, cw = a->D - c0 < CB ? a->D - c0 : CB;
            scan_block(a, b, c0, cw);
        }
}
