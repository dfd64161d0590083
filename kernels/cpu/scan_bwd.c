/* kernels/cpu/scan_bwd.c - backward of the selective scans: the fused 2D cross-scan
 * (ss2d_scan) and the gated 1D scan of Vim (scan1d).
 *
 * Both are walks of the same per-channel recurrence (scan.c, scan1d.c):
 *     delta_t = softplus(dt_b + dt_w . xd_t[0..R)),  a_tn = exp(delta_t A_n)
 *     h_tn = a_tn h_(t-1)n + delta_t B_tn u_t,  y_t = C_t . h_t + D u_t  (1D: times SiLU(z_t))
 * walked in reverse with dh_(t-1) = a_t dh_t. The states are not stored: a forward pass keeps
 * the state at every SB_CH-th step (checkpoints), and each chunk's states are recomputed
 * before its reverse pass. Memory per task: (L / SB_CH + 1) N checkpoint floats and
 * (SB_CH + 1) N chunk states (VMamba-T's 56 x 56 stage, N = 1: 50 + 65 floats), instead of
 * L N per channel for stored states.
 *
 * Work split: the batch images one after another; inside one, a task per block of SB_CB
 * channels. Per-token gradients that sum over channels (dB, dC, d dt_r: the x_proj
 * outputs) go to the task's own partial (L, K(R+2N)) and the partials are added in block
 * order; parameter gradients are per channel (no sharing) and summed over images in order:
 * the same bits at any thread count. The 2D scan's x_proj and its gradients (dx_proj, the
 * du through x_proj) are products on the GEMM (linear_bwd.c).
 * Scalar code: correct first; the SIMD form of scan.c is the next step. */
#include <stdlib.h>
#include <string.h>
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_bwd.h"

#define SB_CH 64 /* steps between checkpoints */
#define SB_CB 16 /* channels per task */

typedef struct {
    int64_t L;
    int D, R, N, K; /* K walks, the token order of walk k at order[k*L ..] */
    const int64_t *order;
    const float *u, *xd, *z, *dy; /* one image: u, dy (L, D); xd (L, ldx), walk k's at column k(R+2N); */
                                  /* z (L, ldz) */
    int64_t ldx, ldz;
    const float *dtw, *dtb, *A, *Ds; /* walk k's at + k R D, k D, k N D, k D */
    float *du, *dz;                  /* one image, accumulated; dz may be NULL */
} sb_args;

static inline float softplus_grad(float x) { return x > 20.0f ? 1.0f : 1.0f / (1.0f + vm_expf(-x)); }

/* dt at step t of walk k, channel c */
static inline float sb_dt(const sb_args *s, int k, int c, const float *x) {
    const float *w = s->dtw + (size_t)k * s->R * s->D + c;
    float v = s->dtb[(size_t)k * s->D + c];
    for (int r = 0; r < s->R; r++) v += w[(size_t)r * s->D] * x[r];
    return v;
}

/* one (walk k, channel c): dxd (L, ldx) partial, pacc (K, R+N+2, D) parameter sums */
static void sb_channel(const sb_args *s, int k, int c, float *ckpt, float *hs, float *dxd, float *pacc) {
    const int R = s->R, N = s->N, D = s->D, C2 = R + 2 * N;
    const int64_t L = s->L, *ord = s->order + (size_t)k * L;
    const float *A = s->A + (size_t)k * N * D + c, *dtw = s->dtw + (size_t)k * R * D + c;
    const float Dk = s->Ds[(size_t)k * D + c];
    float *pw = pacc + (size_t)k * (R + N + 2) * D + c; /* rows: ddt_w (R), dA (N), ddt_b, dDs */
    float h[VSSM_SCAN_MAX_STATE], dh[VSSM_SCAN_MAX_STATE], dl[SB_CH], dtv[SB_CH];
    for (int n = 0; n < N; n++) h[n] = 0, dh[n] = 0;
    for (int64_t t = 0; t < L; t++) { /* forward: checkpoints */
        if (t % SB_CH == 0) memcpy(ckpt + (t / SB_CH) * N, h, (size_t)N * sizeof(float));
        const int64_t p = ord[t];
        const float *x = s->xd + p * s->ldx + (size_t)k * C2;
        const float d = vm_softplusf(sb_dt(s, k, c, x)), du = d * s->u[p * D + c];
        for (int n = 0; n < N; n++) h[n] = vm_expf_neg(d * A[(size_t)n * D]) * h[n] + du * x[R + n];
    }
    for (int64_t t0 = (L - 1) / SB_CH * SB_CH; t0 >= 0; t0 -= SB_CH) {
        const int T = L - t0 < SB_CH ? (int)(L - t0) : SB_CH;
        memcpy(hs, ckpt + (t0 / SB_CH) * N, (size_t)N * sizeof(float));
        for (int i = 0; i < T; i++) { /* the chunk's states hs[i + 1] = h_(t0 + i) */
            const int64_t p = ord[t0 + i];
            const float *x = s->xd + p * s->ldx + (size_t)k * C2;
            dtv[i] = sb_dt(s, k, c, x);
            dl[i] = vm_softplusf(dtv[i]);
            const float du = dl[i] * s->u[p * D + c];
            for (int n = 0; n < N; n++)
                hs[(i + 1) * N + n] = vm_expf_neg(dl[i] * A[(size_t)n * D]) * hs[i * N + n] + du * x[R + n];
        }
        for (int i = T - 1; i >= 0; i--) {
            const int64_t p = ord[t0 + i];
            const float *x = s->xd + p * s->ldx + (size_t)k * C2;
            float *dx = dxd + p * s->ldx + (size_t)k * C2;
            const float uu = s->u[p * D + c], d = dl[i], *hp = hs + i * N, *hc = hs + (i + 1) * N;
            float g = s->dy[p * D + c];
            if (s->z) { /* out = y SiLU(z): dz = dy y SiLU'(z), dy_y = dy SiLU(z) */
                const float zz = s->z[p * s->ldz + c], sg = 1.0f / (1.0f + vm_expf(-zz));
                float y = Dk * uu;
                for (int n = 0; n < N; n++) y += x[R + N + n] * hc[n];
                if (s->dz) s->dz[p * s->ldz + c] += g * y * sg * (1.0f + zz * (1.0f - sg));
                g *= zz * sg;
            }
            float ddl = 0, duu = g * Dk;
            pw[(size_t)(R + N + 1) * D] += g * uu; /* dDs */
            for (int n = 0; n < N; n++) {
                const float An = A[(size_t)n * D], a = vm_expf_neg(d * An);
                const float dhn = dh[n] + g * x[R + N + n]; /* dh_t: carried + from y_t */
                dx[R + N + n] += g * hc[n];                 /* dC */
                dx[R + n] += dhn * d * uu;                  /* dB */
                ddl += dhn * (a * An * hp[n] + x[R + n] * uu);
                pw[(size_t)(R + n) * D] += dhn * a * d * hp[n] * An; /* dA_logs = dA * A */
                duu += dhn * d * x[R + n];
                dh[n] = dhn * a;
            }
            s->du[p * D + c] += duu;
            const float ddt = ddl * softplus_grad(dtv[i]);
            pw[(size_t)(R + N) * D] += ddt; /* ddt_b */
            for (int r = 0; r < R; r++) {
                pw[(size_t)r * D] += ddt * x[r];   /* ddt_w */
                dx[r] += ddt * dtw[(size_t)r * D]; /* d dt_r */
            }
        }
    }
}

/* all walks, all channels of one image: dxd (L, ldx) += the x_proj-output gradients; pacc
 * (K, R+N+2, D) += the parameter gradients */
static void sb_image(vssm_ctx *ctx, const sb_args *s, float *part, float *dxd, float *pacc) {
    const int nblk = (s->D + SB_CB - 1) / SB_CB;
    const size_t np = (size_t)s->L * s->ldx;
    const int64_t nck = (s->L + SB_CH - 1) / SB_CH;
#pragma omp parallel for num_threads(ctx->opts.n_threads) schedule(dynamic, 1)
    for (int blk = 0; blk < nblk; blk++) {
        float *pd = part + (size_t)blk * np;
        float *ckpt = malloc((size_t)(nck * s->N + (SB_CH + 1) * s->N) * sizeof(float));
        memset(pd, 0, np * sizeof(float));
        if (ckpt) {
            const int c1 = s->D - blk * SB_CB < SB_CB ? s->D : (blk + 1) * SB_CB;
            for (int k = 0; k < s->K; k++)
                for (int c = blk * SB_CB; c < c1; c++) sb_channel(s, k, c, ckpt, ckpt + nck * s->N, pd, pacc);
        } else {
            vssm_cpu_bwd_fail(ctx, "op scan backward: out of memory");
        }
        free(ckpt);
    }
    vssm_cpu_bwd_reduce(ctx, part, nblk, (int64_t)np, dxd);
}

/* the parameter sums (K, R+N+2, D) into the op's gradients */
static void sb_params(const float *pacc, int K, int R, int N, int D, float *ddtw, float *dAl, float *ddtb, float *dDs) {
    for (int k = 0; k < K; k++) {
        const float *q = pacc + (size_t)k * (R + N + 2) * D;
        for (int c = 0; c < D; c++) {
            for (int r = 0; r < R; r++)
                if (ddtw) ddtw[((size_t)k * R + r) * D + c] += q[(size_t)r * D + c];
            for (int n = 0; n < N; n++)
                if (dAl) dAl[((size_t)k * N + n) * D + c] += q[(size_t)(R + n) * D + c];
            if (ddtb) ddtb[(size_t)k * D + c] += q[(size_t)(R + N) * D + c];
            if (dDs) dDs[(size_t)k * D + c] += q[(size_t)(R + N + 1) * D + c];
        }
    }
}

void vssm_cpu_scan1d_bwd(vssm_ctx *ctx, const vssm_scan1d_args *a, const float *dy, const vssm_scan1d_grads *g) {
    const int D = a->D, R = a->R, N = a->N, C2 = R + 2 * N, nblk = (D + SB_CB - 1) / SB_CB;
    const int64_t L = a->L;
    int64_t *order = malloc((size_t)L * sizeof(int64_t));
    const size_t nspare = (g->dxdbl ? 0 : (size_t)L * C2) + (g->du ? 0 : (size_t)L * D);
    float *part = vssm_cpu_bwd_alloc(ctx, "scan1d_bwd", (size_t)nblk * L * C2 + (size_t)(R + N + 2) * D + nspare);
    if (!order || !part) {
        free(order);
        free(part);
        return;
    }
    float *pacc = part + (size_t)nblk * L * C2, *spare = pacc + (size_t)(R + N + 2) * D;
    memset(pacc, 0, (size_t)(R + N + 2) * D * sizeof(float));
    for (int64_t t = 0; t < L; t++) order[t] = a->reverse ? L - 1 - t : t;
    for (int b = 0; b < a->B; b++) {
        float *du = g->du ? g->du + (size_t)b * L * D : spare + (g->dxdbl ? 0 : (size_t)L * C2);
        sb_args s = {L,
                     D,
                     R,
                     N,
                     1,
                     order,
                     a->u + (size_t)b * L * D,
                     a->xdbl + (size_t)b * L * C2,
                     a->z ? a->z + (size_t)b * L * a->ldz : NULL,
                     dy + (size_t)b * L * D,
                     C2,
                     a->ldz,
                     a->dt_w,
                     a->dt_b,
                     a->A,
                     a->Ds,
                     du,
                     a->z && g->dz ? g->dz + (size_t)b * L * a->ldz : NULL};
        sb_image(ctx, &s, part, g->dxdbl ? g->dxdbl + (size_t)b * L * C2 : spare, pacc);
    }
    sb_params(pacc, 1, R, N, D, g->ddt_w, g->dA_logs, g->ddt_b, g->dDs);
    free(part);
    free(order);
}

void vssm_cpu_ss2d_scan_bwd(vssm_ctx *ctx, const vssm_scan_args *a, const float *dy, const vssm_scan_grads *g) {
    const int B = a->B, H = a->H, W = a->W, D = a->D, R = a->R, N = a->N, K = VSSM_SCAN_K;
    const int KC2 = K * (R + 2 * N), nblk = (D + SB_CB - 1) / SB_CB;
    const int64_t L = (int64_t)H * W, BL = B * L;
    const size_t nx = (size_t)BL * KC2, npart = (size_t)nblk * L * KC2, npacc = (size_t)K * (R + N + 2) * D;
    int64_t *order = malloc((size_t)K * L * sizeof(int64_t));
    float *xdbl = vssm_cpu_bwd_alloc(ctx, "ss2d_scan_bwd", 2 * nx + npart + npacc + (g->du ? 0 : (size_t)L * D));
    if (!order || !xdbl) {
        free(order);
        free(xdbl);
        return;
    }
    float *dxdbl = xdbl + nx, *part = dxdbl + nx, *pacc = part + npart, *spare = pacc + npacc;
    memset(dxdbl, 0, nx * sizeof(float));
    memset(pacc, 0, npacc * sizeof(float));
    for (int k = 0; k < K; k++) /* k0 row-major, k1 column-major, k2, k3 their reverses (scan.c) */
        for (int64_t t = 0; t < L; t++) {
            const int64_t q = k >= 2 ? L - 1 - t : t;
            order[(size_t)k * L + t] = k & 1 ? (q % H) * W + q / H : q;
        }
    vssm_cpu_linear(ctx, a->u, BL, D, a->x_proj, NULL, KC2, VSSM_ACT_NONE, 0, xdbl); /* the forward's x_proj */
    for (int b = 0; b < B; b++) {
        sb_args s = {L,
                     D,
                     R,
                     N,
                     K,
                     order,
                     a->u + (size_t)b * L * D,
                     xdbl + (size_t)b * L * KC2,
                     NULL,
                     dy + (size_t)b * L * D,
                     KC2,
                     0,
                     a->dt_w,
                     a->dt_b,
                     a->A,
                     a->Ds,
                     g->du ? g->du + (size_t)b * L * D : spare,
                     NULL};
        sb_image(ctx, &s, part, dxdbl + (size_t)b * L * KC2, pacc);
    }
    sb_params(pacc, K, R, N, D, g->ddt_w, g->dA_logs, g->ddt_b, g->dDs);
    /* through x_proj: du += dxdbl . x_proj, dx_proj += dxdbl^T . u */
    vssm_cpu_bwd_products(ctx, a->u, BL, D, a->x_proj, KC2, dxdbl, g->du, g->dx_proj);
    free(xdbl);
    free(order);
}
