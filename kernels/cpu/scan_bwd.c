/* kernels/cpu/scan_bwd.c - backward of the selective scans: the fused 2D cross-scan
 * (ss2d_scan) and the gated 1D scan of Vim (scan1d).
 *
 * Both are walks of the same per-channel recurrence (scan.c, scan1d.c):
 *     delta_t = softplus(dt_b + dt_w . xd_t[0..R)),  a_tn = exp(delta_t A_n)
 *     h_tn = a_tn h_(t-1)n + delta_t B_tn u_t,  y_t = C_t . h_t + D u_t  (1D: times SiLU(z_t))
 * walked in reverse with dh_(t-1) = a_t dh_t. The states are not stored: a forward pass keeps
 * the state at every SB_CH-th step (checkpoints), and each chunk's states are recomputed
 * before its reverse pass. Memory per task: (L / SB_CH + 1) N checkpoint vectors and
 * (SB_CH + 1) N chunk states plus SB_CH N decays (VMamba-T's 56 x 56 stage, N = 1: about
 * 50 + 130 vectors of CB floats), instead of L N per channel for stored states.
 *
 * SIMD: a task walks CB channels at once as one vector (scan_simd.h's vf, as the forward
 * does); the transcendental work of a chunk (softplus, the decays, the sigmoids) runs over
 * the whole chunk in omp simd loops, only the FMA recurrences are serial. The task's code is
 * compiled once per instruction set (this file, and scan_bwd_avx2.c / scan_bwd_avx512.c: it
 * again with those flags, as scan.c is) and the context's ISA choice (isa.c) picks one. (It
 * was target attributes on three copies of the task in this file: under gcc's AddressSanitizer
 * in a portable build those functions' realigned stack frames gave wrong addresses.)
 *
 * Work split: a task per (SB_IMGS images, block of CB channels), images taken in groups whose
 * partials fit SB_BUDGET floats. Per-token gradients that sum over channels (dB, dC, d dt_r:
 * the x_proj outputs) are summed across the block's lanes (a fixed tree) into the task's own
 * partial (L, ldx); the partials are added in block order. Parameter gradients are per
 * channel, summed over the walk in a task's registers, over its images in order, then over
 * the tasks in order: the same bits at any thread count. The 2D scan's x_proj and its gradients
 * (dx_proj, the du through x_proj) are products on the GEMM (linear_bwd.c). */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_bwd.h"
#include "kernels/cpu/scan_simd.h"

#define SB_CH 64             /* steps between checkpoints */
#define SB_BUDGET (4u << 20) /* floats of per-task partials a group of images may hold */
#define SB_IMGS 8            /* images per task (their parameter sums are added in the task) */
#define SB_ALWAYS inline __attribute__((always_inline))

typedef struct {
    int64_t L;
    int D, R, N, K; /* K walks, the token order of walk k at order[k*L ..] */
    const int64_t *order;
    const float *u, *xd, *z, *dy; /* image 0's: u, dy (L, D); xd (L, ldx), walk k's at column k(R+2N); z (L, ldz) */
    int64_t ldx, ldz;
    const float *dtw, *dtb, *A, *Ds; /* walk k's at + k R D, k D, k N D, k D */
    float *du, *dz;                  /* image 0's, accumulated; either may be NULL */
} sb_args;

/* a task's scratch (vectors): checkpoints, chunk states, decays, per-step values, sums */
typedef struct {
    vf *ck, *hs, *ea, *dl, *sg, *uu, *du, *h, *dh, *A, *W, *pw;
    const float *xr[SB_CH];
} sb_ws;

static inline size_t sb_ws_vecs(int64_t L, int R, int N) {
    const int64_t nck = (L + SB_CH - 1) / SB_CH;
    return (size_t)(nck * N + (SB_CH + 1) * N + (size_t)SB_CH * N + 4 * SB_CH + 3 * N + R + (R + N + 2));
}

static void sb_ws_place(sb_ws *w, vf *p, int64_t L, int R, int N) {
    const int64_t nck = (L + SB_CH - 1) / SB_CH;
    w->ck = p, p += nck * N;
    w->hs = p, p += (SB_CH + 1) * N;
    w->ea = p, p += SB_CH * N;
    w->dl = p, p += SB_CH;
    w->sg = p, p += SB_CH;
    w->uu = p, p += SB_CH;
    w->du = p, p += SB_CH;
    w->h = p, p += N;
    w->dh = p, p += N;
    w->A = p, p += N;
    w->W = p, p += R;
    w->pw = p; /* rows: ddt_w (R), dA_logs (N), ddt_b, dDs */
}

/* the lanes' sum in a fixed tree */
static SB_ALWAYS float sb_hsum(vf v) {
    float t[CB];
    memcpy(t, &v, sizeof t);
    for (int j = 0; j < CB / 2; j++) t[j] += t[j + CB / 2];
    for (int j = 0; j < CB / 4; j++) t[j] += t[j + CB / 4];
    for (int j = 0; j < CB / 8; j++) t[j] += t[j + CB / 8];
    return t[0] + t[1];
}

static SB_ALWAYS void sb_store(float *p, vf v, int cw, int add) {
    if (cw == CB && add)
        *(vfu *)p += v;
    else if (cw == CB)
        *(vfu *)p = v;
    else
        for (int j = 0; j < cw; j++) p[j] = add ? p[j] + v[j] : v[j];
}

/* the chunk of steps t0 .. t0+T of walk k: rows, delta (dl), u, delta u (du), the decays
 * ea[i N + n] = exp(delta A_n); with sg, also sigmoid(dt) (softplus' derivative) */
static SB_ALWAYS void sb_chunk(const sb_args *s, int k, int c0, int cw, int64_t t0, int T, sb_ws *w, int sg) {
    const int R = s->R, N = s->N, D = s->D, C2 = R + 2 * N;
    const int64_t *ord = s->order + (size_t)k * s->L;
    for (int i = 0; i < T; i++) {
        const int64_t p = ord[t0 + i];
        w->xr[i] = s->xd + p * s->ldx + (size_t)k * C2;
        w->uu[i] = load_v(s->u + p * D + c0, cw);
    }
    scan_dt_chunk(w->xr, T, s->dtw + (size_t)k * R * D + c0, D, R, load_v(s->dtb + (size_t)k * D + c0, cw), cw, w->dl);
    float *dl = (float *)w->dl, *sgf = (float *)w->sg;
    const int TE = T * CB;
    if (sg) {
#pragma omp simd
        for (int e = 0; e < TE; e++) sgf[e] = dl[e] > 20.0f ? 1.0f : 1.0f / (1.0f + vm_expf(-dl[e]));
    }
    scan_delta_chunk(w->dl, w->du, w->uu, T); /* the forward's delta and delta u, bit for bit */
    for (int i = 0; i < T; i++)
        for (int n = 0; n < N; n++) w->ea[i * N + n] = w->dl[i] * w->A[n];
    float *ea = (float *)w->ea;
    const int NE = T * N * CB;
#pragma omp simd
    for (int e = 0; e < NE; e++) ea[e] = vm_expf_neg(ea[e]);
}

/* walk k over channels c0 .. c0+cw of one image: dxd (L, ldx) partial += the x_proj-output
 * gradients; w->pw = the parameter sums */
static SB_ALWAYS void sb_walk(const sb_args *s, int k, int c0, int cw, sb_ws *w, float *dxd) {
    const int R = s->R, N = s->N, D = s->D, C2 = R + 2 * N;
    const int64_t L = s->L, *ord = s->order + (size_t)k * L;
    for (int n = 0; n < N; n++) w->A[n] = load_v(s->A + ((size_t)k * N + n) * D + c0, cw);
    for (int r = 0; r < R; r++) w->W[r] = load_v(s->dtw + ((size_t)k * R + r) * D + c0, cw);
    for (int j = 0; j < R + N + 2; j++) w->pw[j] = (vf){0};
    const vf Dk = load_v(s->Ds + (size_t)k * D + c0, cw);
    vf *h = w->h, *dh = w->dh, *pw = w->pw;
    for (int n = 0; n < N; n++) h[n] = (vf){0}, dh[n] = (vf){0};
    int64_t t0 = 0;
    for (; t0 + SB_CH < L; t0 += SB_CH) { /* forward: the checkpoints (the last chunk's states are not needed) */
        memcpy(w->ck + (t0 / SB_CH) * N, h, (size_t)N * sizeof(vf));
        sb_chunk(s, k, c0, cw, t0, SB_CH, w, 0);
        for (int i = 0; i < SB_CH; i++)
            for (int n = 0; n < N; n++) h[n] = w->ea[i * N + n] * h[n] + w->du[i] * w->xr[i][R + n];
    }
    memcpy(w->ck + (t0 / SB_CH) * N, h, (size_t)N * sizeof(vf));
    for (; t0 >= 0; t0 -= SB_CH) {
        const int T = L - t0 < SB_CH ? (int)(L - t0) : SB_CH;
        sb_chunk(s, k, c0, cw, t0, T, w, 1);
        vf *hs = w->hs;
        memcpy(hs, w->ck + (t0 / SB_CH) * N, (size_t)N * sizeof(vf));
        for (int i = 0; i < T; i++) /* the chunk's states hs[i + 1] = h_(t0 + i) */
            for (int n = 0; n < N; n++)
                hs[(i + 1) * N + n] = w->ea[i * N + n] * hs[i * N + n] + w->du[i] * w->xr[i][R + n];
        for (int i = T - 1; i >= 0; i--) {
            const int64_t p = ord[t0 + i];
            const float *x = w->xr[i];
            float *dx = dxd + p * s->ldx + (size_t)k * C2;
            const vf uu = w->uu[i], d = w->dl[i], *hp = hs + i * N, *hc = hs + (i + 1) * N;
            vf g = load_v(s->dy + p * D + c0, cw);
            if (s->z) { /* out = y SiLU(z): dz = dy y SiLU'(z), dy_y = dy SiLU(z) */
                const vf zz = load_v(s->z + p * s->ldz + c0, cw);
                vf sz = {0};
#pragma omp simd
                for (int j = 0; j < CB; j++) sz[j] = 1.0f / (1.0f + vm_expf(-zz[j]));
                vf y = Dk * uu;
                for (int n = 0; n < N; n++) y += x[R + N + n] * hc[n];
                if (s->dz) sb_store(s->dz + p * s->ldz + c0, g * y * sz * (1.0f + zz * (1.0f - sz)), cw, 1);
                g *= zz * sz;
            }
            vf ddl = {0}, duu = g * Dk;
            pw[R + N + 1] += g * uu; /* dDs */
            for (int n = 0; n < N; n++) {
                const vf An = w->A[n], a = w->ea[i * N + n];
                const vf dhn = dh[n] + g * x[R + N + n]; /* dh_t: carried + from y_t */
                dx[R + N + n] += sb_hsum(g * hc[n]);     /* dC */
                dx[R + n] += sb_hsum(dhn * d * uu);      /* dB */
                ddl += dhn * (a * An * hp[n] + x[R + n] * uu);
                pw[R + n] += dhn * a * d * hp[n] * An; /* dA_logs = dA * A */
                duu += dhn * d * x[R + n];
                dh[n] = dhn * a;
            }
            if (s->du) sb_store(s->du + p * D + c0, duu, cw, 1);
            const vf ddt = ddl * w->sg[i];
            pw[R + N] += ddt; /* ddt_b */
            for (int r = 0; r < R; r++) {
                pw[r] += ddt * x[r];             /* ddt_w */
                dx[r] += sb_hsum(ddt * w->W[r]); /* d dt_r */
            }
        }
    }
}

/* task (images b .. b+nb, block blk): image i's partial at part + i nblk np (L, ldx; written
 * whole) and the images' parameter sums ppar (K, R+N+2, D) at the block's columns (written,
 * the images added in order) */
static SB_ALWAYS void sb_task_impl(const sb_args *s0, int b, int nb, int blk, int nblk, vf *wsm, float *part,
                                   float *ppar) {
    const int R = s0->R, N = s0->N, D = s0->D, c0 = blk * CB, cw = D - c0 < CB ? D - c0 : CB;
    const size_t LD = (size_t)s0->L * D, np = (size_t)s0->L * s0->ldx;
    sb_ws w;
    sb_ws_place(&w, wsm, s0->L, R, N);
    for (int i = 0; i < nb; i++) {
        sb_args s = *s0;
        const size_t bi = (size_t)b + i;
        s.u += bi * LD, s.dy += bi * LD, s.xd += bi * np;
        if (s.z) s.z += bi * s.L * s.ldz;
        if (s.dz) s.dz += bi * s.L * s.ldz;
        if (s.du) s.du += bi * LD;
        float *pi = part + (size_t)i * nblk * np;
        memset(pi, 0, np * sizeof(float));
        for (int k = 0; k < s.K; k++) {
            sb_walk(&s, k, c0, cw, &w, pi);
            float *q = ppar + (size_t)k * (R + N + 2) * D + c0;
            for (int j = 0; j < R + N + 2; j++) sb_store(q + (size_t)j * D, w.pw[j], cw, i > 0);
        }
    }
}

/* the task of this instruction set: the entry point of this file's variant (cpu_ops.h) */
void VSSM_ISA_FN(vssm_cpu_scan_bwd_task)(const sb_args *s, int b, int nb, int blk, int nblk, vf *wsm, float *part,
                                         float *ppar);
void VSSM_ISA_FN(vssm_cpu_scan_bwd_task)(const sb_args *s, int b, int nb, int blk, int nblk, vf *wsm, float *part,
                                         float *ppar) {
    sb_task_impl(s, b, nb, blk, nblk, wsm, part, ppar);
}

#ifdef VSSM_ISA_BASE /* the driver: once */
typedef void (*sb_task_fn)(const sb_args *s, int b, int nb, int blk, int nblk, vf *wsm, float *part, float *ppar);
#if defined(__x86_64__) || defined(__i386__)
void vssm_cpu_scan_bwd_task_avx512(const sb_args *s, int b, int nb, int blk, int nblk, vf *wsm, float *part,
                                   float *ppar);
void vssm_cpu_scan_bwd_task_avx2(const sb_args *s, int b, int nb, int blk, int nblk, vf *wsm, float *part, float *ppar);
#endif

static sb_task_fn sb_pick(const vssm_ctx *ctx) {
#if defined(__x86_64__) || defined(__i386__)
    const char *isa = ctx->cpu_isa ? ctx->cpu_isa->name : "base";
    if (!strcmp(isa, "avx512")) return vssm_cpu_scan_bwd_task_avx512;
    if (!strcmp(isa, "avx2")) return vssm_cpu_scan_bwd_task_avx2;
#else
    (void)ctx;
#endif
    return vssm_cpu_scan_bwd_task_base;
}

/* all B images: dxd (B, L, ldx) += the x_proj-output gradients (NULL: not wanted); pacc
 * (K, R+N+2, D) += the parameter gradients, summed over the images in order */
static void sb_run(vssm_ctx *ctx, const sb_args *s, int B, float *dxd, float *pacc) {
    const int nblk = (s->D + CB - 1) / CB, nt = ctx->threads_now;
    const size_t np = (size_t)s->L * s->ldx, npp = (size_t)s->K * (s->R + s->N + 2) * s->D;
    const size_t nws = sb_ws_vecs(s->L, s->R, s->N);
    int G = (int)(SB_BUDGET / ((size_t)nblk * np + npp));
    G = G < 1 ? 1 : G > B ? B : G;
    float *part = vssm_cpu_bwd_alloc(ctx, "scan backward", (size_t)G * (nblk * np + npp));
    vf *wsm = aligned_alloc(64, (size_t)nt * nws * sizeof(vf));
    if (!part || !wsm) {
        if (part && !wsm) vssm_cpu_bwd_fail(ctx, "op scan backward: out of memory");
        free(part);
        free(wsm);
        return;
    }
    float *ppar = part + (size_t)G * nblk * np;
    const sb_task_fn task = sb_pick(ctx);
    for (int b0 = 0; b0 < B; b0 += G) {
        const int g1 = B - b0 < G ? B - b0 : G, nq = (g1 + SB_IMGS - 1) / SB_IMGS;
#pragma omp parallel num_threads(nt)
        {
            vf *my = wsm + (size_t)omp_get_thread_num() * nws;
#pragma omp for schedule(dynamic, 1)
            for (int i = 0; i < nq * nblk; i++) {
                const int q = i / nblk, blk = i % nblk, nb = g1 - q * SB_IMGS < SB_IMGS ? g1 - q * SB_IMGS : SB_IMGS;
                task(s, b0 + q * SB_IMGS, nb, blk, nblk, my, part + ((size_t)q * SB_IMGS * nblk + blk) * np,
                     ppar + (size_t)q * npp);
            }
            if (dxd) { /* image g's sum over its blocks, in block order */
#pragma omp for schedule(static)
                for (int64_t e = 0; e < (int64_t)g1 * (int64_t)np; e++) {
                    const int64_t g = e / (int64_t)np, j = e - g * (int64_t)np;
                    const float *q = part + (size_t)g * nblk * np + j;
                    float acc = 0;
                    for (int k = 0; k < nblk; k++) acc += q[(size_t)k * np];
                    dxd[(size_t)b0 * np + e] += acc;
                }
            }
#pragma omp for schedule(static)
            for (int64_t j = 0; j < (int64_t)npp; j++) {
                float acc = pacc[j];
                for (int q = 0; q < nq; q++) acc += ppar[(size_t)q * npp + j];
                pacc[j] = acc;
            }
        }
    }
    free(part);
    free(wsm);
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
    const int D = a->D, R = a->R, N = a->N, C2 = R + 2 * N;
    const int64_t L = a->L;
    int64_t *order = malloc((size_t)L * sizeof(int64_t));
    float *pacc = vssm_cpu_bwd_alloc(ctx, "scan1d_bwd", (size_t)(R + N + 2) * D);
    if (!order || !pacc) {
        if (!order && pacc) vssm_cpu_bwd_fail(ctx, "op scan1d_bwd: out of memory");
        free(order);
        free(pacc);
        return;
    }
    memset(pacc, 0, (size_t)(R + N + 2) * D * sizeof(float));
    for (int64_t t = 0; t < L; t++) order[t] = a->reverse ? L - 1 - t : t;
    sb_args s = {L,  D,  R,      N,       1,       order, a->u,  a->xdbl, a->z,
                 dy, C2, a->ldz, a->dt_w, a->dt_b, a->A,  a->Ds, g->du,   a->z ? g->dz : NULL};
    sb_run(ctx, &s, a->B, g->dxdbl, pacc);
    sb_params(pacc, 1, R, N, D, g->ddt_w, g->dA_logs, g->ddt_b, g->dDs);
    free(pacc);
    free(order);
}

void vssm_cpu_ss2d_scan_bwd(vssm_ctx *ctx, const vssm_scan_args *a, const float *dy, const vssm_scan_grads *g) {
    const int B = a->B, H = a->H, W = a->W, D = a->D, R = a->R, N = a->N, K = VSSM_SCAN_K;
    const int KC2 = K * (R + 2 * N);
    const int64_t L = (int64_t)H * W, BL = B * L;
    const size_t nx = (size_t)BL * KC2, npacc = (size_t)K * (R + N + 2) * D;
    int64_t *order = malloc((size_t)K * L * sizeof(int64_t));
    float *xdbl = vssm_cpu_bwd_alloc(ctx, "ss2d_scan_bwd", 2 * nx + npacc);
    if (!order || !xdbl) {
        if (!order && xdbl) vssm_cpu_bwd_fail(ctx, "op ss2d_scan_bwd: out of memory");
        free(order);
        free(xdbl);
        return;
    }
    float *dxdbl = xdbl + nx, *pacc = dxdbl + nx;
    memset(dxdbl, 0, nx * sizeof(float));
    memset(pacc, 0, npacc * sizeof(float));
    for (int k = 0; k < K; k++) /* k0 row-major, k1 column-major, k2, k3 their reverses (scan.c) */
        for (int64_t t = 0; t < L; t++) {
            const int64_t q = k >= 2 ? L - 1 - t : t;
            order[(size_t)k * L + t] = k & 1 ? (q % H) * W + q / H : q;
        }
    vssm_cpu_linear(ctx, a->u, BL, D, a->x_proj, NULL, KC2, VSSM_ACT_NONE, 0, xdbl); /* the forward's x_proj */
    sb_args s = {L, D, R, N, K, order, a->u, xdbl, NULL, dy, KC2, 0, a->dt_w, a->dt_b, a->A, a->Ds, g->du, NULL};
    sb_run(ctx, &s, B, dxdbl, pacc);
    sb_params(pacc, K, R, N, D, g->ddt_w, g->dA_logs, g->ddt_b, g->dDs);
    /* through x_proj: du += dxdbl . x_proj, dx_proj += dxdbl^T . u */
    vssm_cpu_bwd_products(ctx, a->u, BL, D, a->x_proj, KC2, dxdbl, g->du, g->dx_proj);
    free(xdbl);
    free(order);
}
#endif /* VSSM_ISA_BASE */
