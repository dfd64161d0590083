/* kernels/cpu/sgemm.c - our own fp32 GEMM: every product of the CPU backend runs here.
 *
 *   y (M, N) = act(x (M, K) . w (N, K)^T + b [+ y])
 *
 * Why not BLAS: the products of a VMamba at batch 1 are short or thin (M = 49..3136,
 * K = 96..3072) and OpenBLAS re-packs the weight matrix on every call and splits such
 * shapes poorly across two threads; on the development machine (Zen 4, 2 cores) it runs
 * VMamba-T's linear layers at 150-200 GFLOP/s where this kernel runs them at 200-230
 * (bench: `vssm bench`, op share "gemm"). The weights never change, so packing them once
 * costs nothing per call.
 *
 * Batch invariance: every output element is one sequential sum over k (k = 0, 1, ..., K-1,
 * a*b added into one accumulator, contracted to FMA exactly where the build has FMA),
 * whatever its row, its column, the row count M or the thread count. So an image gives
 * bit-identical results at any position of any batch, on any x86-64 (OpenBLAS picks its
 * kernel per CPU, OPENBLAS_CORETYPE, and its edge kernels sum in another order: the same
 * image at two batch positions came out 1-2 ulp apart). Products from plain (N, K)
 * weights (heads, Vim's patch embedding, the segmentation convs) are packed per call into
 * a temporary buffer and run through the same kernel (vssm_cpu_linear).
 *
 * Layout: w is cut into panels of PNR = 32 output columns; panel q holds, for k = 0..K-1,
 * the 32 weights w[q*32 + j][k] contiguously (zero past N). The layout is the same for
 * every instruction set (weights are packed once, at load, before any kernel runs; conv.c
 * and scan.c read it too). A micro-kernel keeps an MR x NR tile of y in 2*MR vector
 * registers and for each k broadcasts x[i][k] of its MR rows against two vectors of the
 * panel: with AVX-512 NR = 32 (the whole panel), MR = 14 (28 accumulators); with AVX2,
 * NR = 16 (half a panel, the halves one after the other), MR = 6; with SSE, NR = 8, MR = 6.
 * Rows that do not fill MR use smaller variants (7/4/2/1 or 4/2/1). Where x is copied in
 * blocks (large x) K is walked in blocks of kc (ctx->gemm_kc, from the L1d size: isa.c) so
 * the block of the panel and the rows of x being read stay in L1; the tile is stored
 * between blocks (the sum over k stays sequential). With x read in place a tile walks its
 * whole K in one go (AVX-512; kc blocks where NR < PNR), and the bias is added to the
 * finished sum in registers before the store; in the copied order it is added in a pass over
 * the finished tile. Either way sum over k, then + b: the same bits. An activation is
 * applied to the finished tile in L1.
 *
 * This file is compiled once per instruction set (cpu_ops.h, VSSM_ISA_FN): as it is for the
 * build's baseline, and through sgemm_avx2.c / sgemm_avx512.c. Within one set the bits do
 * not depend on M or the thread count; AVX2 and AVX-512 (both FMA, same order) agree too.
 *
 * Threads take (panel, row block) tiles, panel-major so a thread reuses its panel across
 * consecutive row blocks, in chunks handed out from one contiguous range per thread, then
 * from the others' (rows_chunk.h): a thread that is descheduled (a busy machine) holds up one
 * chunk, not a static half of the product, and on a quiet machine each thread gets the same
 * tiles at every call. */
#if defined(__AVX512F__) && !defined(__clang__) /* clang: -mprefer-vector-width=512 (CMakeLists.txt) */
/* one zmm per 16 floats in the epilogue's omp simd loops (GCC's default under -march=native is
 * ymm: GELU 0.33 against 0.25 ns an element); the same operations per lane, the same bits */
#pragma GCC target("prefer-vector-width=512")
#endif
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/rows_chunk.h"
#include "kernels/cpu/transpose.h"
#include "kernels/cpu/vmath.h"

/* MR16: the rows of a kernel with 16 vector registers, 2 x MR accumulators. Clang 14 issues a
 * step's MR broadcasts before the second column's FMAs, so 6 rows need 20 registers and spill
 * (8 spills and reloads per k); 4 rows fit */
#ifdef __clang__
#define MR16 4
#else
#define MR16 6
#endif
#if defined(__AVX512F__)
#define VW 16
/* clang 16 spills 12 of 14 rows' 28 accumulators every k however the loops are unrolled
 * (VMamba-T's products 1.48x GCC's time); 8 rows do not spill (0.94-1.01x). Clang 14 and 19
 * keep 14 rows in registers (19: 1.6% faster than at 8). 17 and 18 not measured: 8 rows. */
#if defined(__clang__) && __clang_major__ >= 15 && __clang_major__ < 19
#define MR 8
#else
#define MR 14
#endif
#define ISA_DESC "AVX-512"
#elif defined(__AVX__)
#define VW 8
#define MR MR16
#ifdef __AVX2__
#define ISA_DESC "AVX2"
#else
#define ISA_DESC "AVX"
#endif
#else
#define VW 4
#define MR MR16
#define ISA_DESC "SSE2"
#endif
#define NR (2 * VW) /* the micro-kernel's columns */
#define PNR 32      /* a packed panel's columns (every instruction set) */

#ifdef VSSM_ISA_BASE
const char VSSM_ISA_FN(vssm_cpu_isa_name)[] = "baseline " ISA_DESC;
#else
const char VSSM_ISA_FN(vssm_cpu_isa_name)[] = ISA_DESC;
#endif

#ifdef VSSM_ISA_BASE /* the layout: once, for all variants */
size_t vssm_cpu_f32_pack_numel(int N, int K) { return (size_t)((N + PNR - 1) / PNR) * PNR * (size_t)K; }

void vssm_cpu_f32_pack(const float *w, int N, int K, float *out) {
    const int np = (N + PNR - 1) / PNR;
    /* in blocks of 256 k: a 32 KB block of the panel that stays in L1, transposed in 4 x 4
     * tiles (transpose.h; the scalar loop it replaces was ~10% of `vssm train` on the demo
     * model, which packs every weight after each step); rows past N zero */
    for (int q = 0; q < np; q++) {
        const int nv = N - q * PNR < PNR ? N - q * PNR : PNR;
        float *o = out + (size_t)q * K * PNR;
        for (int k0 = 0; k0 < K; k0 += 256) {
            const int kc = K - k0 < 256 ? K - k0 : 256;
            vssm_transpose_block(w + (size_t)q * PNR * K + k0, K, nv, kc, o + (size_t)k0 * PNR, PNR);
            if (nv < PNR)
                for (int k = k0; k < k0 + kc; k++)
                    for (int j = nv; j < PNR; j++) o[(size_t)k * PNR + j] = 0.0f;
        }
    }
}

void vssm_cpu_f32_pack_t(const float *w, int N, int K, float *out) {
    /* the layout of vssm_cpu_f32_pack(w^T, K, N): panel q's row k holds w[k][q*PNR ..], 32
     * consecutive floats of w's row k (zeros past K) */
    const int np = (K + PNR - 1) / PNR;
    for (int q = 0; q < np; q++) {
        const int nv = K - q * PNR < PNR ? K - q * PNR : PNR;
        for (int k = 0; k < N; k++) {
            float *o = out + ((size_t)q * N + k) * PNR;
            const float *r = w + (size_t)k * K + (size_t)q * PNR;
            if (nv == PNR) { /* a constant size: inline moves, not a call per 128 bytes */
                memcpy(o, r, PNR * sizeof(float));
                continue;
            }
            memcpy(o, r, (size_t)nv * sizeof(float));
            for (int j = nv; j < PNR; j++) o[j] = 0.0f;
        }
    }
}

float vssm_cpu_f32_packed_get(const float *wp, int N, int K, int n, int k) {
    (void)N;
    return wp[((size_t)(n / PNR) * K + k) * PNR + n % PNR];
}
#endif

typedef float vf __attribute__((vector_size(VW * sizeof(float)), aligned(VW * sizeof(float)), may_alias));
typedef float vfu __attribute__((vector_size(VW * sizeof(float)), aligned(4), may_alias));

/* The panel is prefetched PF_K k-steps (4 KB) ahead. A panel's first tile reads it from
 * memory: VMamba-T's stage-3 and stage-4 weights (48 + 47 MB a forward) do not stay in the
 * caches between forwards, and the hardware's prefetch left those products 15-45% slower
 * than with their weights read beforehand (stage 4's fc1 / fc2, 49 rows: 0.93 ms against
 * 0.65 ms at 2 threads). Prefetching only moves lines: the same sums, the same bits. */
#define PF_K 32

/* the kernel's loops over its R rows, R a constant: unrolled, so its accumulators are registers.
 * Clang 14 takes `GCC unroll 14` as a count: with 16 registers (MR16 rows) it left the loops
 * rolled and the accumulators on the stack (the AVX2 products 2.5x slower than GCC's); full
 * unrolling there. With AVX-512 clang 14's count gives 28 accumulators in registers, its full
 * unrolling 24 spills per k; clang 16 and 19 need full unrolling (the count left rows < 14
 * rolled) and do not spill with it at their MR. */
#if defined(__clang__) && (!defined(__AVX512F__) || __clang_major__ >= 15)
#define ROWS_UNROLLED _Pragma("clang loop unroll(full)")
#else
#define ROWS_UNROLLED _Pragma("GCC unroll 14")
#endif

/* y[R rows][0..nc) (row stride ldy) = (load ? y : 0) + x[R rows][0..kc) . p[0..kc)[0..NR) (k stride PNR)
 * [+ bias[0..nc), added to the finished sum in registers: the last K block's store] */
static inline __attribute__((always_inline)) void kernel(const int R, const int H, const int PN, int kc, const float *x,
                                                         int64_t ldx, const float *p, float *y, int64_t ldy, int load,
                                                         int nc, const float *bias, uintptr_t pn, int pstep) {
    vf c0[MR], c1[MR];
    ROWS_UNROLLED
    for (int i = 0; i < R; i++) {
        if (!load) {
            c0[i] = (vf){0};
            c1[i] = (vf){0};
        } else if (nc == NR) {
            c0[i] = *(const vfu *)(y + i * ldy);
            if (!H) c1[i] = *(const vfu *)(y + i * ldy + VW);
        } else {
            float t[NR] = {0};
            memcpy(t, y + i * ldy, (size_t)nc * sizeof(float));
            c0[i] = *(const vfu *)t;
            c1[i] = *(const vfu *)(t + VW);
        }
    }
#ifdef __clang__
    /* clang 14 unrolled by four keeps the broadcasts of four k live at once and spills the 28
     * accumulators (150 spills and reloads in the loop: the products 1.75x slower); one k per
     * iteration it allocates all 31 registers */
#pragma clang loop unroll(disable)
#else
#pragma GCC unroll 4 /* four k per iteration: ~1.5% over two, ~5% over one (README.md) */
#endif
    for (int k = 0; k < kc; k++) {
        const vf b0 = *(const vfu *)(p + (size_t)k * PNR), b1 = H ? b0 : (vf) * (const vfu *)(p + (size_t)k * PNR + VW);
        /* the two lines PF_K steps ahead (above), past the tile's end too: the next panel */
        const uintptr_t pf = (uintptr_t)(p + (size_t)k * PNR) + PF_K * PNR * sizeof(float);
        __builtin_prefetch((const void *)pf);
        __builtin_prefetch((const void *)(pf + 64));
        if (PN) __builtin_prefetch((const void *)(pn + (uintptr_t)k * pstep)); /* the next panel's share */
        ROWS_UNROLLED
        for (int i = 0; i < R; i++) {
            const float a = x[i * ldx + k];
            c0[i] += a * b0;
            if (!H) c1[i] += a * b1;
        }
    }
    if (bias) {
        vf b0, b1;
        if (nc == NR) {
            b0 = *(const vfu *)bias;
            b1 = *(const vfu *)(bias + VW);
        } else {
            float t[NR] = {0};
            memcpy(t, bias, (size_t)nc * sizeof(float));
            b0 = *(const vfu *)t;
            b1 = *(const vfu *)(t + VW);
        }
        ROWS_UNROLLED
        for (int i = 0; i < R; i++) {
            c0[i] += b0;
            if (!H) c1[i] += b1;
        }
    }
    ROWS_UNROLLED
    for (int i = 0; i < R; i++) {
        if (nc == NR) {
            *(vfu *)(y + i * ldy) = c0[i];
            *(vfu *)(y + i * ldy + VW) = c1[i];
        } else if (H && nc == VW) {
            *(vfu *)(y + i * ldy) = c0[i];
        } else {
            float t[NR];
            *(vfu *)t = c0[i];
            if (!H) *(vfu *)(t + VW) = c1[i];
            memcpy(y + i * ldy, t, (size_t)nc * sizeof(float));
        }
    }
}

/* rows of a tile: MR at a time, then the smaller fully unrolled variants; nc <= NR. H: nc <=
 * VW, one vector of columns (the other's products were zeros, discarded: x_proj's last panel,
 * N = 44 = 32 + 12 at Vim-T, 104 = 3 x 32 + 8 at VMamba-T's stage 3) */
static inline __attribute__((always_inline)) void tile_rows_h(const int H, const int PN, int rows, int kc,
                                                              const float *x, int64_t ldx, const float *p, float *y,
                                                              int64_t ldy, int load, int nc, const float *bias,
                                                              uintptr_t pn, int pstep) {
    const uintptr_t pcall = (uintptr_t)kc * pstep; /* each kernel call prefetches its own part */
    int r = 0;
    for (; rows - r >= MR; r += MR)
        kernel(MR, H, PN, kc, x + r * ldx, ldx, p, y + r * ldy, ldy, load, nc, bias, pn, pstep), pn += pcall;
#if MR > 7
    if (rows - r >= 7) {
        kernel(7, H, PN, kc, x + r * ldx, ldx, p, y + r * ldy, ldy, load, nc, bias, pn, pstep), pn += pcall;
        r += 7;
    }
#endif
    if (rows - r >= 4) {
        kernel(4, H, PN, kc, x + r * ldx, ldx, p, y + r * ldy, ldy, load, nc, bias, pn, pstep), pn += pcall;
        r += 4;
    }
    if (rows - r >= 2) {
        kernel(2, H, PN, kc, x + r * ldx, ldx, p, y + r * ldy, ldy, load, nc, bias, pn, pstep), pn += pcall;
        r += 2;
    }
    if (rows - r >= 1)
        kernel(1, H, PN, kc, x + r * ldx, ldx, p, y + r * ldy, ldy, load, nc, bias, pn, pstep), pn += pcall;
}
static void tile_rows_nr(int rows, int kc, const float *x, int64_t ldx, const float *p, float *y, int64_t ldy, int load,
                         int nc, const float *bias, uintptr_t pn, int pstep) {
    /* PN: the next panel's prefetch only where a caller asked for one (pstep > 0). Most tiles
     * have none, and their kernel prefetched the panel's first line again at every k-step: the
     * 14 x 32 kernel alone in L1 (K = 256, Intel 6/167) ran at 62-66% of the core's FMA peak
     * with it, 69-70% without; VMamba-T's products at 1 thread (bench_linear ... cpu 0
     * vmamba, weighted by their count, 4 alternated rounds) 53.7-54.6 -> 52.8-53.6 ms */
    if (nc <= VW) {
        if (pstep)
            tile_rows_h(1, 1, rows, kc, x, ldx, p, y, ldy, load, nc, bias, pn, pstep);
        else
            tile_rows_h(1, 0, rows, kc, x, ldx, p, y, ldy, load, nc, bias, pn, 0);
    } else if (pstep)
        tile_rows_h(0, 1, rows, kc, x, ldx, p, y, ldy, load, nc, bias, pn, pstep);
    else
        tile_rows_h(0, 0, rows, kc, x, ldx, p, y, ldy, load, nc, bias, pn, 0);
}

/* a tile of one panel (nc <= PNR columns): its NR-column parts one after the other */
static void tile_rows(int rows, int kc, const float *x, int64_t ldx, const float *p, float *y, int64_t ldy, int load,
                      int nc, const float *bias, uintptr_t pn, int pstep) {
    for (int j = 0; j < nc; j += NR)
        tile_rows_nr(rows, kc, x, ldx, p + j, y + j, ldy, load, nc - j < NR ? nc - j : NR, bias ? bias + j : NULL, pn,
                     pstep);
}

/* bias + activation on a finished tile (rows x nc, row stride ldy); sgemm_bf16.c's too */
void VSSM_ISA_FN(vssm_cpu_gemm_epilogue)(float *yt, int rows, int nc, int64_t ldy, const float *bq, vssm_act act) {
#ifdef __AVX512F__
    if (act != VSSM_ACT_SILU) { /* bias and GELU in one pass of masked vectors (vmath.h vm_gelu16) */
        for (int i = 0; i < rows; i++) {
            float *r = yt + (int64_t)i * ldy;
            for (int j = 0; j < nc; j += 16) {
                const __mmask16 m = nc - j >= 16 ? 0xffff : (__mmask16)((1u << (nc - j)) - 1);
                __m512 v = _mm512_maskz_loadu_ps(m, r + j);
                if (bq) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bq + j));
                if (act == VSSM_ACT_GELU) v = vm_gelu16(v);
                _mm512_mask_storeu_ps(r + j, m, v);
            }
        }
        return;
    }
#endif
    for (int i = 0; i < rows; i++) {
        float *r = yt + (int64_t)i * ldy;
        if (bq) {
#pragma omp simd
            for (int j = 0; j < nc; j++) r[j] += bq[j];
        }
        if (act == VSSM_ACT_GELU) {
#pragma omp simd
            for (int j = 0; j < nc; j++) r[j] = vm_geluf(r[j]);
        } else if (act == VSSM_ACT_SILU) {
#pragma omp simd
            for (int j = 0; j < nc; j++) r[j] = vm_siluf(r[j]);
        }
    }
}

/* y (rows x N, row stride N) = x (rows x K, row stride K) . w^T + b over every panel, on the
 * calling thread (a task of the caller's parallel region: conv.c's fused im2col): the
 * in-place order's sums (below), so the same bits as vssm_cpu_linear_packed. fp32 weights. */
void VSSM_ISA_FN(vssm_cpu_gemm_rows)(const vssm_ctx *ctx, const float *x, int rows, int K, const float *wp,
                                     const float *b, int N, float *y) {
    const int np = (N + PNR - 1) / PNR, KCI = NR == PNR ? K : ctx->gemm_kc > 0 ? ctx->gemm_kc : 256;
    for (int q = 0; q < np; q++) {
        const int n0 = q * PNR, nc = N - n0 < PNR ? N - n0 : PNR;
        const float *pq = wp + (size_t)q * K * PNR;
        int k0 = 0;
        do {
            const int kc = K - k0 < KCI ? K - k0 : KCI;
            tile_rows(rows, kc, x + k0, K, pq + (size_t)k0 * PNR, y + n0, N, k0 > 0, nc,
                      k0 + kc >= K && b ? b + n0 : NULL, (uintptr_t)pq, 0);
            k0 += kc;
        } while (k0 < K);
    }
}

/* Products whose x is larger than BIG_X_BYTES, that have more than one panel and either
 * short rows (K < SHORT_K) or an x over HUGE_X_BYTES walk K outermost with x copied in
 * blocks (below); the others keep a whole tile's K loop together, x read in place. One panel
 * reads each copy once, so the copy was pure cost there (VMamba-T's stage-1 x_proj, N = 32:
 * 25-34% of its time against libxsmm, bench/libxsmm). Short rows gain from the copy's
 * block-major order (a block of x reused by every panel in L2; VMamba-T's stage-1 in_proj,
 * out_proj and fc1, K = 96: 5-15% slower in place); VMamba-T's other products over 1 MB (K
 * 384-1536, x 1.2-4.8 MB) ran 6-11% faster in place, where their tiles are not stored and
 * reloaded per K block (kernels/cpu/README.md). The segmentation convs (x 8.4-75 MB) keep the
 * copy: K = 18432 in place re-streamed 2.4 MB panels per row block, 1.45x the time. Without
 * memory for the copies, the in-place order (same sums, same bits). */
#ifndef BIG_X_BYTES
#define BIG_X_BYTES (1 << 20)
#endif
#define HUGE_X_BYTES (8 << 20)
#define SHORT_K 256
#define MC (16 * MR)

/* the context's per-thread x buffers (MC rows of ldp floats each, ldp = the K block + 16), made
 * at the first product that needs them and kept: linear_packed's copies, norm_proj's and
 * mlp's normalised rows (and mlp's hidden rows); NULL when out of memory */
static float *gemm_scratch(vssm_ctx *ctx, int ldp) {
    if (!ctx->gemm_scratch)
        ctx->gemm_scratch = aligned_alloc(64, (size_t)ctx->opts.n_threads * MC * ldp * sizeof(float));
    return ctx->gemm_scratch;
}

/* The prefetch of a copied-order tile (below): kb floats-deep K block of panel q from K offset
 * ko, spread over the tile's k-steps (rows in MR-row kernel calls, kc k-steps each): its start
 * in *pn and bytes a k-step in *pstep */
static inline void block_prefetch(const float *wp, int K, int64_t rows, int kc, int q, int ko, int kb, uintptr_t *pn,
                                  int *pstep) {
    const int64_t steps = (rows + MR - 1) / MR * kc;
    *pn = (uintptr_t)(wp + ((size_t)q * K + ko) * PNR);
    *pstep = (int)(((int64_t)kb * PNR * (int64_t)sizeof(float) + steps - 1) / steps);
}

/* One tile of the copied order (linear_packed, below): tile t = (row chunk t / np, panel t % np)
 * over the K block [k0, k0 + kc) of x, copied into the thread's buffer xb unless it holds that
 * chunk's block already (*have); the bias and activation at the last K block. The tile's
 * kernel calls prefetch pstep bytes a k-step from pn (0: none). */
static void copied_tile(const float *x, int64_t M, int K, const float *wp, const float *b, int N, vssm_act act,
                        int accumulate, float *y, int np, float *xb, int ldp, int64_t *have, int64_t t, int k0, int kc,
                        int last, uintptr_t pn, int pstep) {
    const int64_t c = t / np, m0 = c * MC;
    const int q = (int)(t % np);
    const int rows = M - m0 < MC ? (int)(M - m0) : MC;
    const int n0 = q * PNR, nc = N - n0 < PNR ? N - n0 : PNR;
    if (c != *have) {
        for (int i = 0; i < rows; i++) memcpy(xb + (size_t)i * ldp, x + (m0 + i) * K + k0, (size_t)kc * sizeof(float));
        *have = c;
    }
    float *yt = y + m0 * N + n0;
    tile_rows(rows, kc, xb, ldp, wp + ((size_t)q * K + k0) * PNR, yt, N, k0 > 0 || accumulate, nc, NULL, pn, pstep);
    /* the bias here in the pass, not in registers: with it in registers this order ran
     * VMamba-T's s1 fc1 at 1.3-1.6x libxsmm's time instead of 1.1-1.2 when run between the
     * libraries (bench/libxsmm; caches holding their outputs), though not slower alone; cause
     * not found (README.md) */
    if (last && (b || act != VSSM_ACT_NONE))
        VSSM_ISA_FN(vssm_cpu_gemm_epilogue)(yt, rows, nc, N, b ? b + n0 : NULL, act);
}

void VSSM_ISA_FN(vssm_cpu_linear_packed)(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *wp,
                                         const float *b, int N, vssm_act act, int accumulate, float *y) {
    if (M <= 0 || N <= 0) return;
    const int np = (N + PNR - 1) / PNR;
    const int nt = ctx->threads_now > 0 ? ctx->threads_now : 1;
    const int KC = ctx->gemm_kc > 0 ? ctx->gemm_kc : 256;
    const int ldp = KC + 16; /* padded: rows of the copy fall in different L1 sets */
    /* A tile is g row blocks of MR rows, g about 2048 / K (at most 16): with short K a call
     * per 14 rows cost its set-up several % (VMamba-T's stage 1, K = 96). Fewer row blocks
     * per tile where that would leave under 8 tiles a thread. */
    const int64_t nmb = (M + MR - 1) / MR;
    int g = K >= 2048 ? 1 : K > 128 ? (2048 + K - 1) / K : 16;
    if (g > 16) g = 16;
    if (g > nmb) g = (int)nmb;
    while (g > 1 && np * ((nmb + g - 1) / g) < 8 * nt) g /= 2;
    /* the copies' buffer: made once per context, at its first large product (a context is
     * used by one thread at a time), not per call: these products run every forward */
    float *xbuf = NULL;
    const double xbytes = (double)M * K * sizeof(float);
    /* Tall tiles: where a tile's rows of x and its panel take over half the L2 and K is long (a
     * 1 MB L2: VMamba-T's stage-4 fc2, 14 rows and a panel of K = 3072, 565 KB, x 602 KB; its
     * 14 rows 12 KB apart also share one L1 set), the copied order below, each next panel's K
     * block prefetched while the tile computes (stage 4's weights come from memory; without
     * the prefetch this order lost 0.4-2.8% a forward). Zen 4, that product alone 2.55-2.73 ->
     * 2.25 ms at 1 thread; the forward (alternated per forward in one process) 0.978 / 0.986 of
     * the time at 1 thread, 0.99-1.01 at 2. */
    const int tall = K > 4 * KC && ((double)g * MR + PNR) * K * sizeof(float) > 0.5 * (double)ctx->cpu_l2;
    if (np > 1 && ((xbytes > BIG_X_BYTES && (K < SHORT_K || xbytes > HUGE_X_BYTES)) || tall)) {
        /* for the context's most threads: a pass may run at fewer (vssm_tuner_begin) */
        xbuf = gemm_scratch(ctx, ldp);
    }
    if (xbuf) {
        /* Large x (the segmentation convs: M x K up to 16384 x 18432): the K blocks go in
         * order, one parallel pass each (so each sum stays sequential); in a pass a thread
         * copies a KC-column block of MC rows of x into its own buffer (x's rows are K
         * floats apart, often a multiple of 4 KB: read in place they would all fall in one
         * L1 set) and runs every panel over it while it is in L2 (chunk-major tiles). */
        const int64_t nmc = (M + MC - 1) / MC, tiles = nmc * np;
        /* a whole row block's panels per chunk where there are row blocks enough (4 per
         * thread): a thread copies each of its blocks once (chunks that straddled blocks made
         * both threads copy them: VMamba-T's K = 96 products 20-80% slower at 2 threads).
         * Fewer row blocks: chunks of about an eighth of a thread's share, down to one tile;
         * a row block per chunk left M <= MC products (VMamba-T's stage-3 fc2: M = 196, 12
         * panels) to one thread. A thread copies a block it has not got yet. */
        const int64_t share = tiles / (8 * nt);
        const int chunk = nmc >= 4 * nt || share >= np ? np : share > 1 ? (int)share : 1;
        /* Tall tiles of one row chunk (M <= MC: VMamba-T's stage-4 fc2 up to batch 4) go by
         * contiguous ranges of panels (rows_chunk.h: the same panels per thread at every pass
         * where the threads keep pace, stealing where not), one tile at a time,
         * and a tile prefetches the K block its thread runs next: the next tile of its range,
         * or after the range's last, the range's first tile's next K block. Handed out
         * dynamically (as the large-x order still is), the next panel was the other thread's
         * (tile q + 1 went to it), so each thread's prefetches filled its own caches with the
         * other's weights and the tiles read their panels from memory. VMamba-T's stage-4 fc2 (49
         * rows, K = 3072, 9.4 MB; tall with a 1 MB L2: Zen 4, Zen 5), 2 threads, on Intel 6/167
         * with the L2 taken as 1 MB (bench_linear ... cold, VSSM_BENCH_L2=1048576), 6 rounds
         * alternated: weights from the caches 0.82-0.94 -> 0.73-0.83 ms, from memory 1.06-1.18
         * -> 0.82-0.91; 1 thread unchanged. The same tiles, sums and bits.
         * Several row chunks keep the dynamic order: contiguous ranges would give a thread the
         * short last chunk (the segmentation convs, M = 256: 224 rows and 32). */
        const int ranged = tall && nmc == 1;
        vssm_cpu_range *rg = ctx->cpu_ranges;
        int k0 = 0;
        do {
            const int kc = K - k0 < KC ? K - k0 : KC;
            const int last = k0 + kc >= K;
            const int kn = last ? 0 : K - k0 - kc < KC ? K - k0 - kc : KC; /* the next pass's K block */
            if (ranged) vssm_cpu_ranges_init(rg, nt, tiles);
#pragma omp parallel num_threads(nt)
            {
                float *xb = xbuf + (size_t)omp_get_thread_num() * MC * ldp;
                int64_t have = -1;
                int v = 0;
                int64_t t0 = 0, t1 = 0;
                const vssm_cpu_range *r = NULL;
                /* the dynamic order's tiles, or the calling thread's next chunk (ranged) */
#pragma omp for schedule(dynamic, chunk) nowait
                for (int64_t t = 0; t < (ranged ? 0 : tiles); t++) {
                    const int q = (int)(t % np);
                    uintptr_t pn = (uintptr_t)wp;
                    int pstep = 0;
                    if (tall && q + 1 < np) { /* the next panel's K block (this thread's next tile at 1 thread) */
                        const int64_t m0 = t / np * MC;
                        block_prefetch(wp, K, M - m0 < MC ? M - m0 : MC, kc, q + 1, k0, kc, &pn, &pstep);
                    }
                    copied_tile(x, M, K, wp, b, N, act, accumulate, y, np, xb, ldp, &have, t, k0, kc, last, pn, pstep);
                }
                while (ranged && (r = vssm_cpu_ranges_next(rg, nt, 1, &v, &t0, &t1)))
                    for (int64_t t = t0; t < t1; t++) {
                        /* the tile this thread runs next and its K block: (tile, k0) or (range start, k0 + kc) */
                        const int64_t tn = t + 1 < r->end ? t + 1 : kn ? r->begin : -1;
                        const int kb = t + 1 < r->end ? kc : kn, ko = t + 1 < r->end ? k0 : k0 + kc;
                        uintptr_t pn = (uintptr_t)wp;
                        int pstep = 0;
                        if (tn >= 0) /* one row chunk: its M rows */
                            block_prefetch(wp, K, M, kc, (int)(tn % np), ko, kb, &pn, &pstep);
                        copied_tile(x, M, K, wp, b, N, act, accumulate, y, np, xb, ldp, &have, t, k0, kc, last, pn,
                                    pstep);
                    }
            }
            k0 += kc;
        } while (k0 < K);
        return;
    }
    /* Here a tile walks its whole K before the next tile: a K block of the panel is not
     * reused by another tile in L1, so blocking K only stores and reloads the tile. With
     * NR < PNR (AVX2, SSE) the halves of the panel read the same rows of x: KC keeps them. */
    const int KCI = NR == PNR ? K : KC;
    vssm_cpu_range *rg = ctx->cpu_ranges;
    /* one range (plain dynamic chunks) below two panels a thread: Vim's x_proj (a panel of 32
     * columns and one of 12) split 1 : 1 left the thread of the narrow panel stealing from the
     * other's range every call (~1 us a call slower than dynamic, alternated per forward) */
    /* Small weights (<= 1/3 of the L2: every thread reads all of them at little cost) go row
     * tile by row tile instead, every panel of a row tile together: a thread's range is then
     * a band of x's rows, the rows the ops before it (conv1d, the norms: static row shares)
     * wrote on the same core, and the band of y the ops after it read. Alternated per forward
     * in one process at 2 threads, three runs each: Vim's x_proj (67 KB) row-major, Vim-T's
     * products 0.23 / 0.40 / 0.24 ms faster a forward; then up to 1/3 of the L2 (Vim's
     * in_proj, 590 KB, whose rows conv1d reads next): Vim-T's forward 0.13 / 0.30 / 0.45 ms
     * faster again; VMamba-T unchanged by either (its x_projs, stage 3's in/out_proj). */
    /* A band whose rows of x take at most a quarter of the L2 is one row tile (each panel then
     * visits the band once; the x rows are read from L2 by every panel either way): VMamba-T's
     * stage-3 in/out_proj and x_proj, Vim-T's out_proj and x_proj (98-99-row bands where g MR is
     * 84). 2 threads, 6 rounds alternated in one binary: VMamba-T 45.41-46.14 -> 44.68-45.61 ms
     * (faster in all 6), Vim-T 19.14-19.99 -> 19.14-19.62 (4 of 6); with the L2 taken as 1 MB,
     * where stage 3's in/out_proj (590 KB) then goes row-major by the rule below, VMamba-T
     * 45.33-48.18 -> 44.79-47.11 (all 6); 1 thread and Vim-T at batch 4 the same or faster,
     * VMamba-S and Vim-S (VMamba-S's 1.2 MB stage-3 in_proj and Vim-S's out_proj turn
     * row-major on 2 MB by the rule below) faster in 3 of 4 rounds, slower in 1. */
    const int64_t bmax = (M + nt - 1) / nt, rbg = (int64_t)g * MR;
    const int64_t ntb1 = (double)bmax * K * sizeof(float) <= 0.25 * (double)ctx->cpu_l2 ? 1 : (bmax + rbg - 1) / rbg;
    /* A band of one row tile meets each panel once: the panels need not stay in the L2, and
     * what row-major costs is each thread reading all the weights once (from L3), for at least
     * 4 MR rows. There up to 5/8 of the L2. Vim-T's in_proj (590 KB, 99-row bands at 2 threads)
     * is row-major on a 2 MB L2 by the 1/3 rule, and was not on a 1 MB one (Zen 4, Zen 5): with
     * the L2 taken as 1 MB, Vim-T at 2 threads, 6 rounds alternated, medians 20.55-21.54 ->
     * 19.75-20.62 ms. */
    const double wbytes = (double)np * PNR * K * sizeof(float);
    const int rowmaj = np > 1 && (wbytes <= (double)ctx->cpu_l2 / 3 ||
                                  (ntb1 == 1 && bmax >= 4 * MR && wbytes <= 0.625 * (double)ctx->cpu_l2));
    const int nr = rowmaj || np >= 2 * nt ? nt : 1;
    /* Row-major: thread t's range is the band of rows [M t / nt, M (t + 1) / nt) - the rows
     * that the norms, conv1d and the row-split ops write and read on its core
     * (vssm_cpu_rows_share) - in ntb row tiles of RB rows or fewer. Tiles of g MR rows from
     * row 0 cut Vim-T's 197 rows at 154 (K = 192: g = 11), so that one thread's range was
     * rows 0-153 and the other's 154-196: the latter stole the former's panels in chunks of
     * three 154-row tiles (~35 us of work each) and each read the other's rows of x. */
    int64_t ntm, RB, ntb = 1;
    if (rowmaj) {
        ntb = ntb1;
        RB = ((bmax + ntb - 1) / ntb + MR - 1) / MR * MR;
        ntm = (int64_t)nt * ntb;
    } else {
        ntm = (nmb + g - 1) / g;
        RB = (int64_t)g * MR;
    }
    const int64_t tiles = np * ntm;
    /* chunks of about an eighth of a thread's share: few enough to cost nothing, small
     * enough that a descheduled thread holds up little; taken from one contiguous range of
     * tiles per thread first (rows_chunk.h), so on a quiet machine a thread gets the same panels
     * and rows of y at every call (VMamba-T b1, 2 threads, the two schedules alternated per
     * forward in one process: the forward's products 26.9 / 26.3 / 27.0 -> 26.3 / 26.0 / 26.2 ms
     * in three runs; schedule(dynamic) moved each call's panels and y lines between the cores) */
    const int chunk = (int)(tiles / (8 * nt)) > 1 ? (int)(tiles / (8 * nt)) : 1;
    vssm_cpu_ranges_init(rg, nr, tiles);
#pragma omp parallel num_threads(nt)
    {
        int v = 0;
        int64_t c0 = 0, c1 = 0;
        const vssm_cpu_range *r;
        while ((r = vssm_cpu_ranges_next(rg, nr, chunk, &v, &c0, &c1))) {
            for (int64_t t = c0; t < c1; t++) {
                const int q = rowmaj ? (int)(t % np) : (int)(t / ntm);
                int64_t m0, mend = M;
                if (rowmaj) {
                    const int64_t rt = t / np, band = rt / ntb;
                    mend = M * (band + 1) / nt;
                    m0 = M * band / nt + rt % ntb * RB;
                    if (m0 >= mend) continue;
                } else
                    m0 = t % ntm * RB;
                const int rows = mend - m0 < RB ? (int)(mend - m0) : (int)RB;
                const int n0 = q * PNR, nc = N - n0 < PNR ? N - n0 : PNR;
                const float *xt = x + m0 * K;
                float *yt = y + m0 * N + n0;
                const float *pq = wp + (size_t)q * K * PNR;
                /* The next panel (t + ntm) is in the range this chunk came from, so this thread
                 * will likely take it too (on a quiet machine it takes its whole range): row
                 * tile i of ntm prefetches the i-th part of that panel, spread over its kernel
                 * calls and k-steps, so the panel streams from memory while this one computes
                 * (the first row block of a panel read from memory ran ~2.3x slower than the
                 * others). Bounded by the chunk's end, as before the ranges, VMamba-T's stage-3
                 * and -4 products (chunks of 2-3 tiles, under a panel) prefetched nothing; by the
                 * range's end their products run 0.6-0.8 ms faster a forward at 2 threads
                 * (alternated per forward in one process, two runs of 20 forwards each) */
                uintptr_t pn = (uintptr_t)pq;
                int pstep = 0;
                const int64_t calls = (rows + MR - 1) / MR;
                if (!rowmaj && t + ntm < r->end) {
                    const int64_t S = (int64_t)K * PNR * (int64_t)sizeof(float) / ntm;
                    pn = (uintptr_t)(pq + (size_t)K * PNR) + (uintptr_t)((t % ntm) * S);
                    pstep = K > 0 ? (int)((S + calls * K - 1) / (calls * K)) : 0;
                } else if (rowmaj && t - r->begin < np && q + 1 < np && t + 1 < r->end) {
                    /* row bands: the range's first row tile meets every panel once, cold, so each
                     * of its tiles prefetches all of the next panel (the later row tiles find the
                     * panels in L2). Vim-T's products 0.18-0.23 ms faster a forward, VMamba-T's
                     * 0.46-0.53 (stage 3's in/out_proj), alternated per forward in one process */
                    const int64_t S = (int64_t)K * PNR * (int64_t)sizeof(float);
                    pn = (uintptr_t)(pq + (size_t)K * PNR);
                    pstep = K > 0 ? (int)((S + calls * K - 1) / (calls * K)) : 0;
                }
                int k0 = 0;
                do { /* at least once, so K = 0 still writes the tile */
                    const int kc = K - k0 < KCI ? K - k0 : KCI;
                    tile_rows(rows, kc, xt + k0, K, pq + (size_t)k0 * PNR, yt, N, k0 > 0 || accumulate, nc,
                              k0 + kc >= K && b ? b + n0 : NULL, pn + (uintptr_t)k0 * pstep, pstep);
                    k0 += kc;
                } while (k0 < K);
                if (act != VSSM_ACT_NONE) VSSM_ISA_FN(vssm_cpu_gemm_epilogue)(yt, rows, nc, N, NULL, act);
            }
        }
    }
}

/* LayerNorm + product (ops.h, vssm_norm_proj_args) in one region where the rows are short
 * (K < SHORT_K, VMamba's stages 1-2: the norm is a large part of the pair) and there are row
 * blocks for every thread. A task is a block of NP_RB rows, normalised by its thread into
 * the thread's buffer (vssm_cpu_layernorm_block: the op's operations, the same bits) and run
 * through every panel while it is in L1/L2 (the copied order's tiles and epilogue: the same
 * sums, the same bits), so the normalised rows never go to memory and the two ops' regions
 * are one. Elsewhere it returns 0 having done nothing: the caller runs the two ops. */
#define NP_RB 56
int VSSM_ISA_FN(vssm_cpu_norm_proj)(vssm_ctx *ctx, const vssm_norm_proj_args *a) {
    const int nt = ctx->threads_now > 0 ? ctx->threads_now : 1;
    const int K = a->K, N = a->N, np = (N + PNR - 1) / PNR;
    const int64_t M = a->M;
    const int KC = ctx->gemm_kc > 0 ? ctx->gemm_kc : 256, ldp = KC + 16;
    if (K >= SHORT_K || K > KC || M < (int64_t)NP_RB * nt) return 0;
    if (!gemm_scratch(ctx, ldp)) return 0;
    const int64_t nblk = (M + NP_RB - 1) / NP_RB;
    vssm_cpu_range *rg = ctx->cpu_ranges; /* row blocks: a thread keeps its rows from call to call */
    vssm_cpu_ranges_init(rg, nt, nblk);
#pragma omp parallel num_threads(nt)
    {
        float *xb = ctx->gemm_scratch + (size_t)omp_get_thread_num() * MC * ldp;
        int v = 0;
        int64_t b0, b1;
        while (vssm_cpu_ranges_next(rg, nt, 1, &v, &b0, &b1)) {
            const int64_t blk = b0;
            const int64_t m0 = blk * NP_RB;
            const int rows = M - m0 < NP_RB ? (int)(M - m0) : NP_RB;
            VSSM_ISA_FN(vssm_cpu_layernorm_block)
            (a->x + m0 * K, rows, K, a->gamma, a->beta, a->eps, VSSM_ACT_NONE, a->z ? a->z + m0 * a->ldz : NULL, a->ldz,
             xb, ldp);
            for (int q = 0; q < np; q++) {
                const int n0 = q * PNR, nc = N - n0 < PNR ? N - n0 : PNR;
                float *yt = a->y + m0 * N + n0;
                tile_rows(rows, K, xb, ldp, a->wp + (size_t)q * K * PNR, yt, N, a->accumulate, nc, NULL,
                          (uintptr_t)a->wp, 0);
                if (a->b || a->act != VSSM_ACT_NONE)
                    VSSM_ISA_FN(vssm_cpu_gemm_epilogue)(yt, rows, nc, N, a->b ? a->b + n0 : NULL, a->act);
            }
        }
    }
    return 1;
}

/* A LayerNorm-MLP on the residual stream x (ops.h vssm_mlp_args) in one region where the rows
 * are short (K < SHORT_K, as norm_proj) and both weights fit in 3/4 of a core's L2 (VMamba-T
 * with a 2 MB L2: stage 1, K = 96, N = 384, 0.3 MB, and stage 2, 1.2 MB; with 1 MB only stage
 * 1): a task is a block of NP_RB rows, normalised into its thread's buffer, run through every
 * panel of w1 into the thread's hidden rows (bias and activation per panel, as norm_proj
 * does), then through every panel of w2 added into x's rows, as the in-place order of
 * linear_packed with accumulate: the same sums in the same order, the same bits as the two
 * ops. The hidden rows (NP_RB x N floats) stay in the thread's L1/L2 where the two ops wrote
 * and read back M x N floats (4.8 MB at stage 1) through memory, and a row of x is read and
 * written by one thread. Per call, the two forms alternated in one process (VMamba-T b1):
 * stage 1 1.52 -> 1.32 ms at 2 threads, 2.98 -> 2.61 at 1; stage 2 1.27 -> 1.21, 2.52 ->
 * 2.38. Elsewhere it returns 0 having done nothing: the caller runs the ops. */
int VSSM_ISA_FN(vssm_cpu_mlp)(vssm_ctx *ctx, const vssm_mlp_args *a) {
    const int nt = ctx->threads_now > 0 ? ctx->threads_now : 1;
    const int K = a->K, N = a->N, np1 = (N + PNR - 1) / PNR, np2 = (K + PNR - 1) / PNR;
    const int64_t M = a->M;
    const int KC = ctx->gemm_kc > 0 ? ctx->gemm_kc : 256, ldp = KC + 16;
    const double wbytes = ((double)np1 * K + (double)np2 * N) * PNR * sizeof(float);
    if (K >= SHORT_K || K > KC || M < (int64_t)NP_RB * nt || (size_t)NP_RB * ((size_t)ldp + N) > (size_t)MC * ldp ||
        wbytes > 0.75 * (double)ctx->cpu_l2)
        return 0;
    if (!gemm_scratch(ctx, ldp)) return 0;
    /* fc2's K blocks as the in-place order takes them (the whole K with AVX-512) */
    const int KCI = NR == PNR ? N : KC;
    const int64_t nblk = (M + NP_RB - 1) / NP_RB;
    vssm_cpu_range *rg = ctx->cpu_ranges; /* row blocks, as norm_proj: the same rows per thread */
    vssm_cpu_ranges_init(rg, nt, nblk);
#pragma omp parallel num_threads(nt)
    {
        float *xb = ctx->gemm_scratch + (size_t)omp_get_thread_num() * MC * ldp, *hb = xb + (size_t)NP_RB * ldp;
        int v = 0;
        int64_t b0, b1;
        while (vssm_cpu_ranges_next(rg, nt, 1, &v, &b0, &b1)) {
            const int64_t blk = b0;
            const int64_t m0 = blk * NP_RB;
            const int rows = M - m0 < NP_RB ? (int)(M - m0) : NP_RB;
            float *xr = a->x + m0 * K;
            VSSM_ISA_FN(vssm_cpu_layernorm_block)
            (xr, rows, K, a->gamma, a->beta, a->eps, VSSM_ACT_NONE, NULL, 0, xb, ldp);
            for (int q = 0; q < np1; q++) {
                const int n0 = q * PNR, nc = N - n0 < PNR ? N - n0 : PNR;
                tile_rows(rows, K, xb, ldp, a->w1p + (size_t)q * K * PNR, hb + n0, N, 0, nc, NULL, (uintptr_t)a->w1p,
                          0);
                if (a->b1 || a->act != VSSM_ACT_NONE)
                    VSSM_ISA_FN(vssm_cpu_gemm_epilogue)(hb + n0, rows, nc, N, a->b1 ? a->b1 + n0 : NULL, a->act);
            }
            for (int q = 0; q < np2; q++) {
                const int n0 = q * PNR, nc = K - n0 < PNR ? K - n0 : PNR;
                const float *pq = a->w2p + (size_t)q * N * PNR;
                int k0 = 0;
                do {
                    const int kc = N - k0 < KCI ? N - k0 : KCI;
                    tile_rows(rows, kc, hb + k0, N, pq + (size_t)k0 * PNR, xr + n0, K, 1, nc,
                              k0 + kc >= N && a->b2 ? a->b2 + n0 : NULL, (uintptr_t)pq, 0);
                    k0 += kc;
                } while (k0 < N);
            }
        }
    }
    return 1;
}

/* The plain-weight product. Few rows (a classifier head at a small batch): each output is
 * the same sequential sum over k as in the kernel above, computed straight from the (N, K)
 * rows, eight columns at a time (packing N*K floats would cost more than the product). More
 * rows: the weight is packed per call (N*K floats, against M*N*K multiply-adds) and runs
 * through the kernel above; without memory for the packed copy, the direct path. Both paths
 * give the same bits (the sums and the epilogue are the same operations in the same order),
 * so the row count chooses the speed, never the result (test_batch_invariance). */
/* a*b + c rounded as the kernel's vector c += a*b is: one FMA where the build has FMA (GCC
 * contracts the vector form; the scalar form it may leave as mul + add, so it is spelled
 * out), mul + add where it has none. */
#ifdef __FMA__
#define MADD(a, b, c) fmaf(a, b, c)
#else
#define MADD(a, b, c) ((a) * (b) + (c))
#endif

static void direct_rows(const float *x, int64_t M, int K, const float *w, const float *b, int n0, int n1, vssm_act act,
                        int accumulate, float *y, int N) {
    for (int64_t i = 0; i < M; i++) {
        const float *xi = x + i * K;
        float *yi = y + i * N;
        for (int n = n0; n < n1; n += 8) {
            const int c = n1 - n < 8 ? n1 - n : 8;
            float acc[8];
            const float *wr[8];
            for (int j = 0; j < 8; j++) {
                acc[j] = 0.0f;
                wr[j] = w + (size_t)(n + (j < c ? j : 0)) * K;
            }
            /* y, the bias and the result move by memcpy of the c columns, and the lane loops
             * run over all 8 lanes: a loop over j < c (or `if (b) v += b[n + j]` inside one)
             * may become masked loads (VMASKMOVPS: GCC did from NULL + n + j, clang 16 vectorises
             * `j < c` loops so) whose masked-off lanes name addresses past the row
             * (test_masked_loads); lanes past c repeat column n's sums and are not stored */
            if (accumulate) memcpy(acc, yi + n, (size_t)c * sizeof(float));
            for (int k = 0; k < K; k++) {
                const float a = xi[k];
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++) acc[j] = MADD(a, wr[j][k], acc[j]);
            }
            if (b) {
                float bb[8] = {0};
                memcpy(bb, b + n, (size_t)c * sizeof(float));
                for (int j = 0; j < 8; j++) acc[j] += bb[j];
            }
            if (act == VSSM_ACT_GELU)
                for (int j = 0; j < 8; j++) acc[j] = vm_geluf(acc[j]);
            else if (act == VSSM_ACT_SILU)
                for (int j = 0; j < 8; j++) acc[j] = vm_siluf(acc[j]);
            memcpy(yi + n, acc, (size_t)c * sizeof(float));
        }
    }
}

void VSSM_ISA_FN(vssm_cpu_linear)(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *w, const float *b,
                                  int N, vssm_act act, int accumulate, float *y) {
    if (M <= 0 || N <= 0) return;
    const size_t n = vssm_cpu_f32_pack_numel(N, K);
    float *wp = M > VSSM_CPU_DIRECT_MAX_M && n ? aligned_alloc(64, (n * sizeof(float) + 63) & ~(size_t)63) : NULL;
    if (wp) {
        vssm_cpu_f32_pack(w, N, K, wp);
        VSSM_ISA_FN(vssm_cpu_linear_packed)(ctx, x, M, K, wp, b, N, act, accumulate, y);
        free(wp);
        return;
    }
    /* column slices on 16-float boundaries, one per thread */
#pragma omp parallel num_threads(ctx->threads_now)
    {
        const int t = omp_get_thread_num(), T = omp_get_num_threads();
        const int c0 = t == 0 ? 0 : (int)((int64_t)N * t / T) & ~15;
        const int c1 = t == T - 1 ? N : (int)((int64_t)N * (t + 1) / T) & ~15;
        if (c1 > c0) direct_rows(x, M, K, w, b, c0, c1, act, accumulate, y, N);
    }
}
