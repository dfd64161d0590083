/* kernels/cpu/scan.c - the fused 2D cross-scan selective scan (SS2D core, v05_noz).
 *
 * For every (batch b, direction k, channel c) the recurrence
 *     h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t,   y_t = C_t . h_t + D u_t
 * runs along direction k's walk over the token grid, and y_t is added straight into the
 * merged output at the token's grid position: k0 row-major, k1 column-major, k2 = k0
 * reversed, k3 = k1 reversed. u and y are not reordered; x_proj's output is (below).
 *
 * Work split: one task = (b, 1-4 blocks of CB channels, scan_blocks); a task runs the four
 * directions one after another, so it alone writes its slice of y (no atomics, deterministic
 * sums; the same bits whatever the blocks per task; with several threads through a compact
 * array per task, below).
 * Inside a task the CB channels are one SIMD vector; delta is computed on the fly from the
 * per-token dt_r (R values) instead of being stored. The recurrence of a chunk of tokens is
 * scan_simd.h's scan_chunk, shared with the 1D scan (scan1d.c).
 *
 * x_proj (dt_r, B, C for all four directions) is one GEMM over the token grid before
 * the scans: it is per token, so the order does not matter. Its rows are then copied out per
 * direction in that direction's order (the workspace holds both: 2 B L K (R+2N) floats).
 *
 * Compiled once per instruction set (scan_avx2.c, scan_avx512.c; cpu_ops.h). */
#if defined(__AVX512F__) && !defined(__clang__) /* clang: -mprefer-vector-width=512 (CMakeLists.txt) */
/* one zmm per 16 floats in the omp simd loops too (GCC's default is ymm; same operations per
 * lane, so the same bits) */
#pragma GCC target("prefer-vector-width=512")
#endif
#include <string.h>
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/rows_chunk.h"
#include "kernels/cpu/scan_simd.h"

#ifdef VSSM_ISA_BASE
size_t vssm_cpu_scan_workspace(int B, int H, int W, int D, int R, int N) {
    return (2 * (size_t)B * H * W * VSSM_SCAN_K * (R + 2 * N) + (size_t)B * H * W * D) * sizeof(float);
}
#endif

/* Walks direction k's token order without a division per step: yields the row-major
 * position of steps t0, t0+1, ... */
typedef struct {
    int k, H, W;
    int64_t L, t;
    int64_t h, w;
} scan_iter;

static inline void iter_init(scan_iter *it, int k, int H, int W, int64_t t0) {
    it->k = k;
    it->H = H;
    it->W = W;
    it->L = (int64_t)H * W;
    it->t = t0;
    int64_t q = k >= 2 ? it->L - 1 - t0 : t0; /* index in the forward walk */
    if (k & 1) {
        it->w = q / H;
        it->h = q - it->w * H;
    } /* column-major: q = w*H + h */
    else {
        it->h = q / W;
        it->w = q - it->h * W;
    }
}

static inline int64_t iter_next(scan_iter *it) {
    int64_t p = it->h * it->W + it->w;
    if (it->k == 0) {
        if (++it->w == it->W) {
            it->w = 0;
            it->h++;
        }
    } else if (it->k == 2) {
        if (--it->w < 0) {
            it->w = it->W - 1;
            it->h--;
        }
    } else if (it->k == 1) {
        if (++it->h == it->H) {
            it->h = 0;
            it->w++;
        }
    } else {
        if (--it->h < 0) {
            it->h = it->H - 1;
            it->w--;
        }
    }
    return p;
}

/* One direction over nb (<= SCAN_GROUP_MAX) consecutive channel blocks from c0, the last of
 * width cw <= CB, the others CB, chunk by chunk in lockstep (scan_group_chunk). The token at
 * row-major position p has its output at yb + p * ldy (the block's first channel). first:
 * write y, else add. */
static void scan_blocks(const vssm_scan_args *a, const float *xk, int b, int k, int c0, int nb, int cw, int first,
                        float *yb, int64_t ldy) {
    const int H = a->H, W = a->W, D = a->D, R = a->R, N = a->N;
    const int64_t L = (int64_t)H * W;
    const int RN = R + 2 * N;
    /* direction k's row of step t: xd0 + t * xs (k2, k3: k0's, k1's order backwards) */
    const int64_t xs = k >= 2 ? -RN : RN;
    const float *xd0 = xk + ((size_t)b * VSSM_SCAN_K + k) * L * RN + (k >= 2 ? (L - 1) * RN : 0);
    scan_state s[SCAN_GROUP_MAX];
    if (nb < 1 || nb > SCAN_GROUP_MAX) return; /* the caller splits the channels so: never */
    for (int g = 0; g < nb; g++) {
        const int cg = c0 + g * CB;
        scan_state_init(&s[g], a->A + (size_t)k * N * D + cg, D, a->dt_w + (size_t)k * R * D + cg, D,
                        a->dt_b + (size_t)k * D + cg, a->Ds + (size_t)k * D + cg, R, N, g == nb - 1 ? cw : CB);
        if (a->dt_w2) s[g].dtw2 = (const uint32_t *)a->dt_w2 + (size_t)k * ((R + 1) / 2) * D + cg;
    }
    if (k + 1 < VSSM_SCAN_K) /* the next direction's rows */
        scan_prefetch_rows(a->A + (size_t)(k + 1) * N * D, a->dt_w + (size_t)(k + 1) * R * D, D, c0, nb, N, R);

    scan_iter it;
    iter_init(&it, k, H, W, 0);
    const size_t off = (size_t)b * L * D + c0;
    for (int64_t t0 = 0; t0 < L; t0 += TC) {
        const int T = L - t0 < TC ? (int)(L - t0) : TC;
        int64_t pos[TC], ypos[TC];
        const float *xr[TC]; /* the token's x_proj row */
        for (int i = 0; i < T; i++) {
            const int64_t p = iter_next(&it);
            pos[i] = p * D, ypos[i] = p * ldy;
            xr[i] = xd0 + (t0 + i) * xs;
        }
        scan_group_chunk(s, nb, xr, T, pos, a->u + off, NULL, NULL, NULL, 0, yb, ypos, !first);
    }
}

void VSSM_ISA_FN(vssm_cpu_ss2d_scan)(vssm_ctx *ctx, const vssm_scan_args *a, void *ws) {
    const int B = a->B, D = a->D;
    const int64_t L = (int64_t)a->H * a->W;
    const int KC2 = VSSM_SCAN_K * (a->R + 2 * a->N);
    VSSM_KERNEL_REQUIRE(ctx, a->N >= 1 && a->N <= VSSM_SCAN_MAX_STATE && a->R >= 1 && D >= 1 && a->H >= 1 && a->W >= 1);
    float *xdbl = ws; /* (B*L, K*(R+2N)) */
    vssm_cpu_linear_packed(ctx, a->u, (int64_t)B * L, D, a->x_proj, NULL, KC2, VSSM_ACT_NONE, 0, xdbl);

    /* each direction's rows [dt_r; B; C] copied out, in one pass over xdbl, into a compact
     * array of its own (xk: (B, K, L, R+2N)), k0's and k2's in row-major order, k1's and k3's
     * in column-major order: every channel block then reads a quarter of the bytes, in
     * sequence (k2, k3 backwards), where it read a quarter of each KC2-float row and the
     * column-major walks stepped W rows a token. With dt_w2 (bf16 contexts) a row's dt_r is
     * rounded on the way into ceil(R/2) bf16 pairs at its start (scan_bf16.c), B and C as
     * they were. */
    float *xk = xdbl + (size_t)B * L * KC2;
    const int RN = a->R + 2 * a->N, H = a->H, W = a->W, bf16 = a->dt_w2 != NULL;
#pragma omp parallel for collapse(2) num_threads(ctx->threads_now)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++) {
                const size_t p = (size_t)h * W + w, q = (size_t)w * H + h;
                const float *src = xdbl + ((size_t)b * L + p) * KC2;
                float *dst = xk + (size_t)b * VSSM_SCAN_K * L * RN, *d[VSSM_SCAN_K];
                for (int k = 0; k < VSSM_SCAN_K; k++) d[k] = dst + ((size_t)k * L + (k & 1 ? q : p)) * RN;
                if (bf16) {
                    vssm_cpu_bf16_xk_token(src, a->R, a->N, d);
                    continue;
                }
                for (int k = 0; k < VSSM_SCAN_K; k++)
                    for (int j = 0; j < RN; j++) d[k][j] = src[k * RN + j];
            }
    const int grp_n = scan_group_size(B, D, ctx->threads_now);
    const int gc = grp_n * CB, ngrp = (D + gc - 1) / gc;
    /* With several threads, a task's outputs go to a compact (L, cn) array of its own, copied
     * into y after all tasks: written in place, the tasks' column strips of y's rows lie
     * side by side, and each core's prefetchers pull the lines next to its own, which the other
     * core is writing; the lines then move between the cores at every one of the four passes
     * (bench_scan, 2 threads: VMamba-T stage 1 0.97 -> 0.68 ms a call, stage 2 0.47 -> 0.39;
     * the same bits). */
    float *yown = ctx->threads_now > 1 && (int64_t)B * ngrp > 1 ? xk + (size_t)B * VSSM_SCAN_K * L * RN : NULL;
    /* tasks (b, grp) in that order, a range per thread with stealing (rows_chunk.h): on a quiet
     * machine thread t scans the images whose rows of xk it copied above (and whose rows of u
     * the ops before wrote), where schedule(dynamic) dealt them out in turn */
    const int nt = ctx->threads_now > 1 ? ctx->threads_now : 1;
    vssm_cpu_range *rg = ctx->cpu_ranges;
    vssm_cpu_ranges_init(rg, nt, (int64_t)B * ngrp);
#pragma omp parallel num_threads(nt)
    {
        int v = 0;
        int64_t t0 = 0, t1 = 0;
        while (vssm_cpu_ranges_next(rg, nt, 1, &v, &t0, &t1))
            for (int64_t t = t0; t < t1; t++) {
                const scan_task tk = scan_task_at(t, ngrp, gc, D);
                float *yb = yown ? yown + (size_t)tk.b * L * D + (size_t)tk.c0 * L
                                 : a->y + (size_t)tk.b * L * D + tk.c0;
                for (int k = 0; k < VSSM_SCAN_K; k++)
                    scan_blocks(a, xk, tk.b, k, tk.c0, tk.nb, tk.cw, k == 0, yb, yown ? tk.cn : D);
            }
#pragma omp barrier
        if (yown) /* each thread copies whole rows of y: its writes are contiguous */
#pragma omp for schedule(static)
            for (int64_t r = 0; r < (int64_t)B * L; r++) {
                const int64_t b = r / L, t = r - b * L;
                for (int grp = 0; grp < ngrp; grp++) {
                    const int c0 = grp * gc, cn = D - c0 < gc ? D - c0 : gc;
                    memcpy(a->y + r * D + c0, yown + (size_t)b * L * D + (size_t)c0 * L + t * cn,
                           (size_t)cn * sizeof(float));
                }
            }
    }
}
