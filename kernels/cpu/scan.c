/* kernels/cpu/scan.c - the fused 2D cross-scan selective scan (SS2D core, v05_noz).
 *
 * For every (batch b, direction k, channel c) the recurrence
 *     h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t,   y_t = C_t . h_t + D u_t
 * runs along direction k's walk over the token grid, and y_t is added straight into the
 * merged output at the token's grid position. Nothing is reordered or copied:
 *   k0 row-major, k1 column-major, k2 = k0 reversed, k3 = k1 reversed.
 *
 * Work split: one task = (b, block of CB channels); a task runs the four directions one
 * after another, so it alone writes its slice of y (no atomics, deterministic sums).
 * Inside a task the CB channels are one SIMD vector (omp simd); delta is computed on
 * the fly from the per-token dt_r (R values) instead of being stored.
 *
 * x_proj (dt_r, B, C for all four directions) is one GEMM over the token grid before
 * the scans: it is per token, so the order does not matter. */
#include <assert.h>
#include <string.h>
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/vmath.h"

#define CB 16          /* channels per task: one AVX-512 vector of floats */
#define NMAX VSSM_SCAN_MAX_STATE

size_t vssm_cpu_scan_workspace(int B, int H, int W, int D, int R, int N) {
    return (size_t)B * H * W * VSSM_SCAN_K * (R + 2 * N) * sizeof(float);
}

/* position (row-major index) of step t of direction k */
static inline int64_t scan_pos(int k, int64_t t, int H, int W, int64_t L) {
    if (k >= 2) t = L - 1 - t;
    if (k & 1) {                       /* column-major: t = w*H + h */
        int64_t w = t / H, h = t - w * H;
        return h * W + w;
    }
    return t;
}

/* One direction over one channel block of width cw (<= CB). first: write y, else add. */
static inline void scan_block(const vssm_scan_args *a, const float *xdbl, int b, int k, int c0, int cw,
                              int first) {
    const int H = a->H, W = a->W, D = a->D, R = a->R, N = a->N;
    const int64_t L = (int64_t)H * W;
    const int C2 = R + 2 * N, KC2 = VSSM_SCAN_K * C2;
    const float *dtw = a->dt_w + (size_t)k * R * D + c0;    /* (R, D) */
    const float *dtb = a->dt_b + (size_t)k * D + c0;
    const float *Ak = a->A + (size_t)k * N * D + c0;          /* (N, D) */
    const float *Dk = a->Ds + (size_t)k * D + c0;
    const float *u = a->u + (size_t)b * L * D + c0;
    float *y = a->y + (size_t)b * L * D + c0;
    const float *xd0 = xdbl + (size_t)b * L * KC2 + (size_t)k * C2;

    float h[NMAX][CB];
    float A[NMAX][CB], bias[CB], dsk[CB];
    for (int n = 0; n < N; n++)
        for (int j = 0; j < CB; j++) { h[n][j] = 0; A[n][j] = j < cw ? Ak[(size_t)n * D + j] : 0; }
    for (int j = 0; j < CB; j++) { bias[j] = j < cw ? dtb[j] : 0; dsk[j] = j < cw ? Dk[j] : 0; }

    for (int64_t t = 0; t < L; t++) {
        const int64_t p = scan_pos(k, t, H, W, L);
        const float *xd = xd0 + p * KC2;      /* dt_r (R), B (N), C (N) of token p */
        const float *up = u + p * D;
        float *yp = y + p * D;
        float dt[CB], uu[CB], acc[CB];
#pragma omp simd
        for (int j = 0; j < CB; j++) dt[j] = bias[j];
        for (int r = 0; r < R; r++) {
            const float xr = xd[r];
            const float *wr = dtw + (size_t)r * D;
            if (cw == CB) {
#pragma omp simd
                for (int j = 0; j < CB; j++) dt[j] += xr * wr[j];
            } else {
                for (int j = 0; j < cw; j++) dt[j] += xr * wr[j];
            }
        }
        if (cw == CB) {
#pragma omp simd
            for (int j = 0; j < CB; j++) uu[j] = up[j];
        } else {
            for (int j = 0; j < CB; j++) uu[j] = j < cw ? up[j] : 0;
        }
#pragma omp simd
        for (int j = 0; j < CB; j++) {
            dt[j] = vm_softplusf(dt[j]);
            acc[j] = dsk[j] * uu[j];
        }
        for (int n = 0; n < N; n++) {
            const float Bn = xd[R + n], Cn = xd[R + N + n];
#pragma omp simd
            for (int j = 0; j < CB; j++) {
                float hn = vm_expf(dt[j] * A[n][j]) * h[n][j] + dt[j] * Bn * uu[j];
                h[n][j] = hn;
                acc[j] += Cn * hn;
            }
        }
        if (cw == CB) {
            if (first) {
#pragma omp simd
                for (int j = 0; j < CB; j++) yp[j] = acc[j];
            } else {
#pragma omp simd
                for (int j = 0; j < CB; j++) yp[j] += acc[j];
            }
        } else {
            for (int j = 0; j < cw; j++) yp[j] = first ? acc[j] : yp[j] + acc[j];
        }
    }
}

void vssm_cpu_ss2d_scan(vssm_ctx *ctx, const vssm_scan_args *a, void *ws) {
    const int B = a->B, D = a->D;
    const int64_t L = (int64_t)a->H * a->W;
    const int KC2 = VSSM_SCAN_K * (a->R + 2 * a->N);
    assert(a->N >= 1 && a->N <= NMAX && a->R >= 1 && D >= 1 && a->H >= 1 && a->W >= 1);
    float *xdbl = ws; /* (B*L, K*(R+2N)) */
    vssm_cpu_linear(ctx, a->u, (int64_t)B * L, D, a->x_proj, NULL, KC2, VSSM_ACT_NONE, 0, xdbl);

    const int nblk = (D + CB - 1) / CB;
#pragma omp parallel for collapse(2) num_threads(ctx->opts.n_threads) schedule(dynamic, 1)
    for (int b = 0; b < B; b++)
        for (int blk = 0; blk < nblk; blk++) {
            const int c0 = blk * CB, cw = D - c0 < CB ? D - c0 : CB;
            for (int k = 0; k < VSSM_SCAN_K; k++) scan_block(a, xdbl, b, k, c0, cw, k == 0);
        }
}
