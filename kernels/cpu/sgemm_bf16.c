/* kernels/cpu/sgemm_bf16.c - the products of --precision bf16 (vssm_ctx_opts.precision):
 *
 *   y (M, N) = act(x (M, K) . w (N, K)^T + b [+ y]), w and x rounded to bf16, sums in fp32
 *
 * The weights are rounded to bf16 (round to nearest even) once, when they are packed at
 * load; x is rounded per call into a scratch copy (ctx->bf16_scratch). A product of two bf16
 * numbers is exact in fp32, so the only roundings besides the inputs' are the fp32 sums.
 * Everything around the products (bias, activation, the scan, the norms) stays fp32.
 *
 * Two kernels, chosen per context (isa.c, ctx->cpu_bf16):
 *  - AMX (Sapphire Rapids and later Intel): 32 x 32 blocks of y held in four 16 x 16 fp32
 *    tiles, TDPBF16PS over 32 k at a time (two x tiles, two weight tiles);
 *  - VDPBF16PS (avx512_bf16 without AMX: Zen 4 / Zen 5, Cooper Lake): 14 x 32 register
 *    tiles, one VDPBF16PS per pair of k and 16 columns.
 * Each output element is one sum in k order that does not depend on its row, M, or the
 * thread count (rows past M are computed on zero rows and thrown away, the same tile
 * operations run on a partial block through a copy), so within one kernel an image gives
 * the same bits at any batch position (tests/test_bf16.c). The two kernels round their
 * sums differently (AMX and VDPBF16PS add a pair's two products in another order) and do
 * not agree bit for bit.
 *
 * Layout (the same for both kernels): K padded with zeros to Kp, a multiple of 32 (an AMX
 * tile's depth); w cut into panels of 32 output columns; panel q holds, for each pair
 * p = 0..Kp/2-1, the 32 columns' pairs (w[n][2p], w[n][2p+1]) contiguously: 128 bytes, a
 * VDPBF16PS operand for 16 columns in each half, and 16 rows of an AMX weight tile (row
 * stride 128 bytes) per 16 pairs. Zero past N. Stored in the float buffer the op table
 * hands out: vssm_cpu_bf16_pack_numel floats (half the bf16 count).
 *
 * With VDPBF16PS the ops around the products are fused with them where that saves passes
 * over memory (LayerNorm + product, the MLP, conv.c's im2col: "fused" below), with the same
 * bits as the ops apart.
 *
 * This file is compiled with the AVX-512, AVX512_BF16 and AMX flags (CMakeLists.txt); its
 * kernels run only on a context whose CPU has them (isa.c). A compiler without them builds
 * the packing and an empty product (isa.c then never picks bf16). */
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/rows_chunk.h"
#include "kernels/cpu/vmath.h"
/* GCC spells the AMX macros __AMX_BF16__ / __AMX_TILE__, clang (14) __AMXBF16__ / __AMXTILE__ */
#if defined(__AMX_BF16__) || defined(__AMXBF16__)
#define VSSM_HAS_AMX_BF16 1
#endif
#if defined(__AMX_TILE__) || defined(__AMXTILE__)
#define VSSM_HAS_AMX_TILE 1
#endif
#if defined(__x86_64__) && defined(__AVX512BF16__) && defined(VSSM_HAS_AMX_BF16) && defined(VSSM_HAS_AMX_TILE)
#include <immintrin.h>
#include "kernels/cpu/bf16_bcast.h"
#define HAVE_KERNELS 1
#ifdef __linux__
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif

#define PNR 32 /* a panel's columns */
#define KB 32  /* K is padded to a multiple of this: one AMX tile's depth (16 pairs) */
#define RB 32  /* rows of x per block (two AMX tiles) */
#define FRB 28 /* the same with VDPBF16PS: two 14-row kernels */
/* x rounded to bf16 is made in chunks of rows of at most this many bytes (all of
 * VMamba-T's products fit in one chunk) */
#define X_CHUNK_BYTES (4 << 20)

static inline int kpad(int K) { return (K + KB - 1) / KB * KB; }

size_t vssm_cpu_bf16_pack_numel(int N, int K) { return (size_t)((N + PNR - 1) / PNR) * PNR * (size_t)kpad(K) / 2; }

static inline size_t pack_index(int Kp, int n, int k) {
    return (size_t)(n / PNR) * Kp * PNR + (size_t)(k / 2) * 2 * PNR + 2 * (n % PNR) + (k & 1);
}

void vssm_cpu_bf16_pack(const float *w, int N, int K, float *out) {
    const int np = (N + PNR - 1) / PNR, Kp = kpad(K);
    uint16_t *o = (uint16_t *)out;
    for (int n = 0; n < np * PNR; n++)
        for (int k = 0; k < Kp; k++) o[pack_index(Kp, n, k)] = n < N && k < K ? vm_bf16_round(w[(size_t)n * K + k]) : 0;
}

float vssm_cpu_bf16_packed_get(const float *wp, int N, int K, int n, int k) {
    const uint32_t u = (uint32_t)((const uint16_t *)wp)[pack_index(kpad(K), n, k)] << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

int vssm_cpu_bf16_built(void) {
#ifdef HAVE_KERNELS
    return 1;
#else
    return 0;
#endif
}

#ifdef HAVE_KERNELS
/* ---- which kernel this CPU and OS run (cpuid; AMX also needs the kernel's permission) */
int vssm_cpu_bf16_probe(int want_amx) {
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    if (a < 7) return VSSM_CPU_BF16_NONE;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    if (!(c & (1u << 27))) return VSSM_CPU_BF16_NONE; /* OSXSAVE */
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    if ((xlo & 0xe6) != 0xe6) return VSSM_CPU_BF16_NONE; /* the OS saves the AVX-512 state */
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    const int amx = (d >> 22 & 1) && (d >> 24 & 1) && ((xlo >> 17 & 3) == 3); /* AMX-BF16, AMX-TILE, XTILE* */
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(1));
    const int dp = a >> 5 & 1; /* AVX512_BF16 */
    if (!dp) return VSSM_CPU_BF16_NONE;
#ifdef __linux__
    /* Linux hands the 8 KB tile state to a process that asks (ARCH_REQ_XCOMP_PERM,
     * XFEATURE_XTILEDATA); granted once, for every thread of the process. */
    if (want_amx && amx && syscall(SYS_arch_prctl, 0x1023, 18) == 0) return VSSM_CPU_BF16_AMX;
#endif
    return VSSM_CPU_BF16_DP;
}

/* row i of x (row stride K) rounded to bf16 into row i of xb (row stride Kp, zero past K;
 * a row at or past `rows`: all zero) */
static void x_to_bf16(const float *x, int64_t rows, int K, int Kp, int64_t i, uint16_t *xb) {
    uint16_t *o = xb + (size_t)i * Kp;
    if (i >= rows) {
        memset(o, 0, (size_t)Kp * 2);
        return;
    }
    vm_bf16_round_row(x + i * K, K, Kp, o);
}

/* ---- AMX: a 32 x 32 block of y (row stride ldc floats) += the rows of a (32 rows, stride
 * Kp) times a panel; load: the block starts from c, else from 0 */
typedef struct tilecfg {
    uint8_t palette, start_row, rsv[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tilecfg;

static void amx_config(void) {
    tilecfg t __attribute__((aligned(64)));
    memset(&t, 0, sizeof t);
    t.palette = 1;
    for (int i = 0; i < 8; i++) t.rows[i] = 16, t.colsb[i] = 64; /* 16 x 16 fp32 or 16 x 32 bf16 */
    _tile_loadconfig(&t);
}

static void amx_block(const uint16_t *a, int Kp, const uint16_t *p, float *c, int64_t ldc, int load) {
    const int64_t sa = (int64_t)Kp * 2, sc = ldc * 4;
    if (load) {
        _tile_loadd(0, c, sc);
        _tile_loadd(1, c + 16, sc);
        _tile_loadd(2, c + 16 * ldc, sc);
        _tile_loadd(3, c + 16 * ldc + 16, sc);
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    for (int k = 0; k < Kp; k += KB) {
        const uint16_t *pk = p + (size_t)k * PNR; /* 16 pairs x 32 columns x 2 */
        _tile_loadd(4, a + k, sa);
        _tile_loadd(5, a + 16 * (size_t)Kp + k, sa);
        _tile_loadd(6, pk, 2 * PNR * 2);
        _tile_loadd(7, pk + 32, 2 * PNR * 2);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, c, sc);
    _tile_stored(1, c + 16, sc);
    _tile_stored(2, c + 16 * ldc, sc);
    _tile_stored(3, c + 16 * ldc + 16, sc);
}

/* a block of `rows` <= 32 rows and nc <= 32 columns of y (row stride ldy): a full one in
 * place, a partial one through a 32 x 32 copy (the same tile operations, so the same bits) */
static void amx_tile(const uint16_t *a, int Kp, const uint16_t *p, float *y, int64_t ldy, int rows, int nc, int load) {
    if (rows == RB && nc == PNR) {
        amx_block(a, Kp, p, y, ldy, load);
        return;
    }
    float t[RB * PNR] __attribute__((aligned(64)));
    if (load) {
        memset(t, 0, sizeof t);
        for (int i = 0; i < rows; i++) memcpy(t + i * PNR, y + i * ldy, (size_t)nc * 4);
    }
    amx_block(a, Kp, p, t, PNR, load);
    for (int i = 0; i < rows; i++) memcpy(y + i * ldy, t + i * PNR, (size_t)nc * 4);
}

/* ---- VDPBF16PS: R rows x 32 columns (masks m0, m1 for the two halves), every pair of k */
static inline __attribute__((always_inline)) void dp_kernel(const int R, const uint16_t *a, int Kp, const uint16_t *p,
                                                            float *y, int64_t ldy, int load, __mmask16 m0, __mmask16 m1,
                                                            const float *bias, vssm_act act, uint16_t *yb,
                                                            int64_t ldyb) {
    __m512 c0[14], c1[14];
#pragma GCC unroll 14
    for (int i = 0; i < R; i++) {
        c0[i] = load ? _mm512_maskz_loadu_ps(m0, y + i * ldy) : _mm512_setzero_ps();
        c1[i] = load ? _mm512_maskz_loadu_ps(m1, y + i * ldy + 16) : _mm512_setzero_ps();
    }
#pragma GCC unroll 2
    for (int k = 0; k < Kp; k += 2) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(p + (size_t)k * PNR);
        const __m512bh b1 = (__m512bh)_mm512_loadu_si512(p + (size_t)k * PNR + 32);
#pragma GCC unroll 14
        for (int i = 0; i < R; i++) {
            int32_t pair;
            memcpy(&pair, a + (size_t)i * Kp + k, 4);
            const __m512bh av = vm_bf16_pair_bcast(pair);
            c0[i] = _mm512_dpbf16_ps(c0[i], av, b0);
            c1[i] = _mm512_dpbf16_ps(c1[i], av, b1);
        }
    }
    /* bias and GELU on the sums in registers (the epilogue's operations: the same bits) */
    if (bias) {
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, bias), b1 = _mm512_maskz_loadu_ps(m1, bias + 16);
#pragma GCC unroll 14
        for (int i = 0; i < R; i++) c0[i] = _mm512_add_ps(c0[i], b0), c1[i] = _mm512_add_ps(c1[i], b1);
    }
    if (act == VSSM_ACT_GELU) {
#pragma GCC unroll 14
        for (int i = 0; i < R; i++) c0[i] = vm_gelu16(c0[i]), c1[i] = vm_gelu16(c1[i]);
    }
    if (yb) { /* rounded to bf16 as vm_bf16_round_row does, all 32 columns (zero past nc) */
#pragma GCC unroll 14
        for (int i = 0; i < R; i++) {
            _mm256_storeu_si256((__m256i *)(yb + i * ldyb),
                                (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_mov_ps(m0, c0[i])));
            _mm256_storeu_si256((__m256i *)(yb + i * ldyb + 16),
                                (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_mov_ps(m1, c1[i])));
        }
        return;
    }
#pragma GCC unroll 14
    for (int i = 0; i < R; i++) {
        _mm512_mask_storeu_ps(y + i * ldy, m0, c0[i]);
        _mm512_mask_storeu_ps(y + i * ldy + 16, m1, c1[i]);
    }
}

/* rows x nc of y (row stride ldy) = [y +] a . panel, then bias (NULL: none) and act (GELU or
 * none; others: the caller's epilogue) */
static void dp_tile_to(const uint16_t *a, int Kp, const uint16_t *p, float *y, int64_t ldy, int rows, int nc, int load,
                       const float *bias, vssm_act act, uint16_t *yb, int64_t ldyb) {
    const __mmask16 m0 = nc >= 16 ? 0xffff : (__mmask16)((1u << nc) - 1);
    const __mmask16 m1 = nc >= 32 ? 0xffff : nc > 16 ? (__mmask16)((1u << (nc - 16)) - 1) : 0;
    int r = 0;
    for (; rows - r >= 14; r += 14)
        dp_kernel(14, a + (size_t)r * Kp, Kp, p, y ? y + r * ldy : NULL, ldy, load, m0, m1, bias, act,
                  yb ? yb + r * ldyb : NULL, ldyb);
    /* the rest in one call of its own height: 4 + 1 + 1 + 1 rows ran the 1-row kernel, two
     * dependent VDPBF16PS chains (6 cycles each), at a third of the rate (VMamba-T's stage 4, M = 49) */
    const uint16_t *ar = a + (size_t)r * Kp;
    float *yr = y ? y + r * ldy : NULL;
    uint16_t *ybr = yb ? yb + r * ldyb : NULL;
#define DP_(R) dp_kernel(R, ar, Kp, p, yr, ldy, load, m0, m1, bias, act, ybr, ldyb)
    switch (rows - r) {
    case 1: DP_(1); break;
    case 2: DP_(2); break;
    case 3: DP_(3); break;
    case 4: DP_(4); break;
    case 5: DP_(5); break;
    case 6: DP_(6); break;
    case 7: DP_(7); break;
    case 8: DP_(8); break;
    case 9: DP_(9); break;
    case 10: DP_(10); break;
    case 11: DP_(11); break;
    case 12: DP_(12); break;
    case 13: DP_(13); break;
    default: break;
    }
#undef DP_
}
/* the same into fp32 rows of y, any activation (SiLU through the epilogue after the store) */
static void dp_tile(const uint16_t *a, int Kp, const uint16_t *p, float *y, int64_t ldy, int rows, int nc, int load,
                    const float *bias, vssm_act act) {
    if (act == VSSM_ACT_SILU) {
        dp_tile_to(a, Kp, p, y, ldy, rows, nc, load, NULL, VSSM_ACT_NONE, NULL, 0);
        vssm_cpu_gemm_epilogue_avx512(y, rows, nc, ldy, bias, act);
        return;
    }
    dp_tile_to(a, Kp, p, y, ldy, rows, nc, load, bias, act, NULL, 0);
}

/* the tile (row block r0 of `rows`, panel q) of a product, then its bias and activation */
static void one_tile(int amx, int rb, const uint16_t *a, int Kp, const uint16_t *w, int q, float *y, int64_t r0,
                     int64_t rows, int N, const float *b, vssm_act act, int accumulate) {
    const int nr = rows - r0 < rb ? (int)(rows - r0) : rb;
    const int n0 = q * PNR, nc = N - n0 < PNR ? N - n0 : PNR;
    const uint16_t *p = w + (size_t)q * Kp * PNR;
    float *yt = y + r0 * N + n0;
    if (!amx) {
        dp_tile(a, Kp, p, yt, N, nr, nc, accumulate, b ? b + n0 : NULL, act);
        return;
    }
    amx_tile(a, Kp, p, yt, N, nr, nc, accumulate);
    if (b || act != VSSM_ACT_NONE) vssm_cpu_gemm_epilogue_avx512(yt, nr, nc, N, b ? b + n0 : NULL, act);
}

/* the context's scratch, at least `need` bytes; NULL (and the context's error) without memory */
static uint16_t *scratch(vssm_ctx *ctx, size_t need) {
    if (ctx->bf16_scratch_bytes < need) {
        free(ctx->bf16_scratch);
        ctx->bf16_scratch = aligned_alloc(64, (need + 63) & ~(size_t)63);
        ctx->bf16_scratch_bytes = ctx->bf16_scratch ? need : 0;
        if (!ctx->bf16_scratch && !ctx->op_error[0])
            strcpy(ctx->op_error, "out of memory for the bf16 copy of a product's input");
    }
    return ctx->bf16_scratch;
}

/* rows of a chunk of x's bf16 copy: a multiple of rb, at least rb, at most what M needs, within
 * X_CHUNK_BYTES at row_bytes a row */
static int64_t chunk_rows(size_t row_bytes, int64_t M, int rb) {
    int64_t rc = (int64_t)(X_CHUNK_BYTES / row_bytes) / rb * rb;
    const int64_t all = (M + rb - 1) / rb * rb;
    if (rc < rb) rc = rb;
    return rc > all ? all : rc;
}

/* Two orders of the tiles. A weight that fits in L2 with room to spare (and enough row
 * blocks to share): each thread takes row blocks, rounds the block's rows of x (32 for AMX,
 * 28 for VDPBF16PS) into its own buffer and sweeps every panel over it (y written in whole rows, x read once, from
 * L1). A larger weight: x rounded once into the scratch (in chunks), then the tiles panel
 * by panel (each panel read once). VMamba-T's products, AMX, 1 thread: 3.66x the fp32 time
 * with the first order where it applies, 3.16x with the second everywhere. */
void vssm_cpu_linear_packed_bf16(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *wp, const float *b,
                                 int N, vssm_act act, int accumulate, float *y) {
    if (M <= 0 || N <= 0) return;
    const int Kp = kpad(K), np = (N + PNR - 1) / PNR, amx = ctx->cpu_bf16 == VSSM_CPU_BF16_AMX;
    const int nt = ctx->threads_now > 0 ? ctx->threads_now : 1;
    const uint16_t *w = (const uint16_t *)wp;
    const size_t row_bytes = (size_t)(Kp ? Kp : 1) * 2;
    /* rows per block: two AMX tiles, or two 14-row VDPBF16PS kernels (32 left a 4-row call per
     * block and M = 196 a block of 4 rows) */
    const int rb = amx ? RB : FRB;
    const int64_t nrb_all = (M + rb - 1) / rb;
    if ((size_t)np * PNR * Kp * 2 <= (size_t)1 << 20 && nrb_all >= 2 * nt) {
        uint16_t *xs = scratch(ctx, (size_t)nt * RB * row_bytes);
        if (!xs) return;
#pragma omp parallel num_threads(nt)
        {
            uint16_t *xb = xs + (size_t)omp_get_thread_num() * RB * (row_bytes / 2);
            if (amx) amx_config();
#pragma omp for schedule(dynamic, 1)
            for (int64_t r = 0; r < nrb_all; r++) {
                for (int i = 0; i < rb; i++) x_to_bf16(x + r * rb * K, M - r * rb, K, Kp, i, xb);
                for (int q = 0; q < np; q++)
                    one_tile(amx, rb, xb, Kp, w, q, y + r * rb * N, 0, M - r * rb, N, b, act, accumulate);
            }
            if (amx) _tile_release();
        }
        return;
    }
    const int64_t rc = chunk_rows(row_bytes, M, rb);
    uint16_t *xb = scratch(ctx, (size_t)rc * row_bytes);
    if (!xb) return;
    for (int64_t m0 = 0; m0 < M; m0 += rc) {
        const int64_t rows = M - m0 < rc ? M - m0 : rc, nrb = (rows + rb - 1) / rb, tiles = nrb * np;
        const int chunk = (int)(tiles / (8 * nt)) > 1 ? (int)(tiles / (8 * nt)) : 1;
#pragma omp parallel num_threads(nt)
        {
#pragma omp for schedule(static)
            for (int64_t i = 0; i < nrb * rb; i++) x_to_bf16(x + m0 * K, rows, K, Kp, i, xb);
            if (amx) amx_config();
#pragma omp for schedule(dynamic, chunk)
            for (int64_t t = 0; t < tiles; t++) { /* panel-major: a thread keeps its panel */
                const int64_t r0 = (t % nrb) * rb;
                one_tile(amx, rb, xb + (size_t)r0 * Kp, Kp, w, (int)(t / nrb), y + m0 * N, r0, rows, N, b, act,
                         accumulate);
            }
            if (amx) _tile_release();
        }
    }
}

/* ---- VDPBF16PS: the ops around a product fused with it, a block of rows at a time on one
 * thread. The unfused form wrote the normalised rows (or the column matrix, or the MLP's
 * hidden rows) in fp32 to memory, read them back to round them into the scratch and read
 * that again per panel; here a block of FRB rows is normalised (or gathered), rounded into
 * the thread's buffer and swept over every panel while it is in L1, the output's rows
 * written once. The same operations per element in the same order (the norm's block
 * function, the product's sums in k order from 0 or from y, then bias and activation): the
 * same bits as the ops one after the other (tests/test_bf16.c). On AMX contexts the ops
 * stay apart (not measured there: no AMX machine in the session that wrote this). */

int vssm_cpu_bf16_kpad(int K) { return kpad(K); }

void vssm_cpu_bf16_round(const float *x, int n, int to, uint16_t *o) { vm_bf16_round_row(x, n, to, o); }

void vssm_cpu_bf16_rows(const uint16_t *xb, int rows, int K, const float *wp, const float *b, int N, vssm_act act,
                        int accumulate, float *y, int64_t ldy) {
    const int Kp = kpad(K), np = (N + PNR - 1) / PNR;
    const uint16_t *w = (const uint16_t *)wp;
    for (int q = 0; q < np; q++) {
        const int n0 = q * PNR, nc = N - n0 < PNR ? N - n0 : PNR;
        dp_tile(xb, Kp, w + (size_t)q * Kp * PNR, y + n0, ldy, rows, nc, accumulate, b ? b + n0 : NULL, act);
    }
}

/* the same for GELU or no activation, the outputs rounded to bf16 into rows of yb (row stride
 * kpad(N), zeros past N): the next product's input (the MLP's hidden rows) */
static void rows_to_bf16(const uint16_t *xb, int rows, int K, const float *wp, const float *b, int N, vssm_act act,
                         uint16_t *yb) {
    const int Kp = kpad(K), Np = kpad(N), np = (N + PNR - 1) / PNR;
    const uint16_t *w = (const uint16_t *)wp;
    for (int q = 0; q < np; q++) {
        const int n0 = q * PNR, nc = N - n0 < PNR ? N - n0 : PNR;
        dp_tile_to(xb, Kp, w + (size_t)q * Kp * PNR, NULL, 0, rows, nc, 0, b ? b + n0 : NULL, act, yb + n0, Np);
    }
}

/* rows of x (row stride K) normalised (+ gate) as the LayerNorm op does, into xn (rows x K),
 * then rounded into xb (row stride kpad(K)) */
static void norm_round(const float *x, int rows, int K, const float *gamma, const float *beta, float eps,
                       const float *z, int64_t ldz, float *xn, uint16_t *xb) {
    const int Kp = kpad(K);
    vssm_cpu_layernorm_block_avx512(x, rows, K, gamma, beta, eps, VSSM_ACT_NONE, z, ldz, xn, K);
    for (int i = 0; i < rows; i++) vm_bf16_round_row(xn + (size_t)i * K, K, Kp, xb + (size_t)i * Kp);
}


/* the context's bf16 scratch as nt per-thread parts of `per` bytes (a multiple of 64) */
static uint8_t *thread_parts(vssm_ctx *ctx, int nt, size_t per) { return (uint8_t *)scratch(ctx, (size_t)nt * per); }
static size_t up64(size_t n) { return (n + 63) & ~(size_t)63; }

/* the fused forms take products whose weights fit in 3/4 of a core's L2 (every thread
 * sweeps all of them per block) with at least two blocks per thread */
static int fuse_ok(const vssm_ctx *ctx, int nt, int64_t M, double wbytes) {
    return ctx->cpu_bf16 == VSSM_CPU_BF16_DP && M >= (int64_t)2 * FRB * nt && wbytes <= 0.75 * (double)ctx->cpu_l2;
}
/* rows of a fused form's block: FRB, or one 14-row kernel's where that leaves under 4 blocks a
 * thread (VMamba-T's stage 3, 196 rows: 7 blocks of 28 split 4 : 3 over 2 threads, its
 * in/out_proj 1.76-1.89x faster at 2 threads than at 1; 14 blocks of 14 split evenly) */
static int block_rows(int64_t M, int nt) { return (M + FRB - 1) / FRB >= 4 * nt ? FRB : 14; }
static double wbytes_of(int N, int K) { return (double)vssm_cpu_bf16_pack_numel(N, K) * 4.0; }

/* LayerNorm (+ gate) and a product whose weight does not fit the L2 (VMamba-T's stage-4
 * in/out_proj with a 1 MB L2) in one parallel region a chunk of rows: the rows normalised
 * and rounded into the bf16 copy of x (not written in fp32 and read back), then the tiles
 * panel-major as linear_packed_bf16's. The same bits as the ops apart. */
static int norm_proj_bf16_panels(vssm_ctx *ctx, const vssm_norm_proj_args *a) {
    const int nt = ctx->threads_now > 0 ? ctx->threads_now : 1, K = a->K, N = a->N, Kp = kpad(K);
    const int64_t M = a->M;
    const size_t row_b = (size_t)Kp * 2, xn_b = up64((size_t)FRB * K * 4);
    const int64_t rc = chunk_rows(row_b, M, FRB);
    uint8_t *buf = (uint8_t *)scratch(ctx, up64((size_t)rc * row_b) + (size_t)nt * xn_b);
    if (!buf) return 0;
    uint16_t *X = (uint16_t *)buf;
    float *xns = (float *)(buf + up64((size_t)rc * row_b));
    const uint16_t *w = (const uint16_t *)a->wp;
    const int np = (N + PNR - 1) / PNR;
    for (int64_t m0 = 0; m0 < M; m0 += rc) {
        const int64_t rows = M - m0 < rc ? M - m0 : rc, nrb = (rows + FRB - 1) / FRB, tiles = nrb * np;
        const int chunk = (int)(tiles / (8 * nt)) > 1 ? (int)(tiles / (8 * nt)) : 1;
#pragma omp parallel num_threads(nt)
        {
            float *xn = (float *)((uint8_t *)xns + (size_t)omp_get_thread_num() * xn_b);
#pragma omp for schedule(static)
            for (int64_t blk = 0; blk < nrb; blk++) {
                const int64_t r = m0 + blk * FRB;
                const int nr = rows - blk * FRB < FRB ? (int)(rows - blk * FRB) : FRB;
                norm_round(a->x + r * K, nr, K, a->gamma, a->beta, a->eps, a->z ? a->z + r * a->ldz : NULL, a->ldz, xn,
                           X + (size_t)blk * FRB * Kp);
            }
#pragma omp for schedule(dynamic, chunk)
            for (int64_t t = 0; t < tiles; t++) {
                const int q = (int)(t / nrb);
                const int64_t r0 = t % nrb * FRB;
                const int nr = rows - r0 < FRB ? (int)(rows - r0) : FRB, nc = N - q * PNR < PNR ? N - q * PNR : PNR;
                dp_tile(X + r0 * Kp, Kp, w + (size_t)q * Kp * PNR, a->y + (m0 + r0) * N + q * PNR, N, nr, nc,
                        a->accumulate, a->b ? a->b + q * PNR : NULL, a->act);
            }
        }
    }
    return 1;
}

/* LayerNorm (+ gate) then the product (ops.h vssm_norm_proj_args); 0 where it does not fuse */
int vssm_cpu_norm_proj_bf16(vssm_ctx *ctx, const vssm_norm_proj_args *a) {
    const int nt = ctx->threads_now > 0 ? ctx->threads_now : 1, K = a->K, Kp = kpad(K);
    const int64_t M = a->M;
    if (!fuse_ok(ctx, nt, M, wbytes_of(a->N, K)))
        return ctx->cpu_bf16 == VSSM_CPU_BF16_DP ? norm_proj_bf16_panels(ctx, a) : 0;
    const size_t xn_b = up64((size_t)FRB * K * 4), per = xn_b + up64((size_t)FRB * Kp * 2);
    uint8_t *buf = thread_parts(ctx, nt, per);
    if (!buf) return 0;
    const int rb = block_rows(M, nt);
    const int64_t nblk = (M + rb - 1) / rb;
    vssm_cpu_range *rg = ctx->cpu_ranges; /* a thread keeps its rows from call to call */
    vssm_cpu_ranges_init(rg, nt, nblk);
#pragma omp parallel num_threads(nt)
    {
        float *xn = (float *)(buf + (size_t)omp_get_thread_num() * per);
        uint16_t *xb = (uint16_t *)((uint8_t *)xn + xn_b);
        int v = 0;
        int64_t b0, b1;
        while (vssm_cpu_ranges_next(rg, nt, 1, &v, &b0, &b1)) {
            const int64_t m0 = b0 * rb;
            const int rows = M - m0 < rb ? (int)(M - m0) : rb;
            norm_round(a->x + m0 * K, rows, K, a->gamma, a->beta, a->eps, a->z ? a->z + m0 * a->ldz : NULL, a->ldz, xn,
                       xb);
            vssm_cpu_bf16_rows(xb, rows, K, a->wp, a->b, a->N, a->act, a->accumulate, a->y + m0 * a->N, a->N);
        }
    }
    return 1;
}

/* An MLP whose weights do not fit the L2 (VMamba-T's stages 3-4 with a 1 MB L2) in one
 * parallel region a chunk of rows: LayerNorm and rounding of the rows into a bf16 copy of
 * x, fc1 tile by tile (panel-major, a thread keeps its panel) with bias, GELU and the
 * rounding in registers into a bf16 copy of the hidden rows, then fc2 from that copy added
 * into x. The ops apart ran five regions (norm, rounding, fc1, rounding, fc2) and wrote the
 * hidden rows to memory in fp32 and read them back twice. The same operations per element:
 * the same bits. 0 (nothing done) for other activations. */
static int mlp_bf16_panels(vssm_ctx *ctx, const vssm_mlp_args *a) {
    const int nt = ctx->threads_now > 0 ? ctx->threads_now : 1, K = a->K, N = a->N, Kp = kpad(K), Np = kpad(N);
    const int64_t M = a->M;
    if (a->act != VSSM_ACT_GELU && a->act != VSSM_ACT_NONE) return 0;
    const size_t row_b = ((size_t)Kp + Np) * 2, xn_b = up64((size_t)FRB * K * 4);
    const int64_t rc = chunk_rows(row_b, M, FRB);
    uint8_t *buf = (uint8_t *)scratch(ctx, up64((size_t)rc * row_b) + (size_t)nt * xn_b);
    if (!buf) return 0;
    uint16_t *X = (uint16_t *)buf, *H = X + (size_t)rc * Kp;
    float *xns = (float *)(buf + up64((size_t)rc * row_b));
    const uint16_t *w1 = (const uint16_t *)a->w1p, *w2 = (const uint16_t *)a->w2p;
    const int np1 = Np / PNR, np2 = (K + PNR - 1) / PNR;
    for (int64_t m0 = 0; m0 < M; m0 += rc) {
        const int64_t rows = M - m0 < rc ? M - m0 : rc, nrb = (rows + FRB - 1) / FRB;
        const int64_t t1 = nrb * np1, t2 = nrb * np2;
        const int c1 = (int)(t1 / (8 * nt)) > 1 ? (int)(t1 / (8 * nt)) : 1;
        const int c2 = (int)(t2 / (8 * nt)) > 1 ? (int)(t2 / (8 * nt)) : 1;
        float *x = a->x + m0 * K;
#pragma omp parallel num_threads(nt)
        {
            float *xn = (float *)((uint8_t *)xns + (size_t)omp_get_thread_num() * xn_b);
#pragma omp for schedule(static)
            for (int64_t blk = 0; blk < nrb; blk++) {
                const int nr = rows - blk * FRB < FRB ? (int)(rows - blk * FRB) : FRB;
                norm_round(x + blk * FRB * K, nr, K, a->gamma, a->beta, a->eps, NULL, 0, xn,
                           X + (size_t)blk * FRB * Kp);
            }
#pragma omp for schedule(dynamic, c1)
            for (int64_t t = 0; t < t1; t++) {
                const int q = (int)(t / nrb);
                const int64_t r0 = t % nrb * FRB;
                const int nr = rows - r0 < FRB ? (int)(rows - r0) : FRB, nc = N - q * PNR < PNR ? N - q * PNR : PNR;
                dp_tile_to(X + r0 * Kp, Kp, w1 + (size_t)q * Kp * PNR, NULL, 0, nr, nc, 0,
                           a->b1 ? a->b1 + q * PNR : NULL, a->act, H + r0 * Np + q * PNR, Np);
            }
#pragma omp for schedule(dynamic, c2)
            for (int64_t t = 0; t < t2; t++) {
                const int q = (int)(t / nrb);
                const int64_t r0 = t % nrb * FRB;
                const int nr = rows - r0 < FRB ? (int)(rows - r0) : FRB, nc = K - q * PNR < PNR ? K - q * PNR : PNR;
                dp_tile(H + r0 * Np, Np, w2 + (size_t)q * Np * PNR, x + r0 * K + q * PNR, K, nr, nc, 1,
                        a->b2 ? a->b2 + q * PNR : NULL, VSSM_ACT_NONE);
            }
        }
    }
    return 1;
}

/* LayerNorm, fc1 + activation, fc2 added into x (ops.h vssm_mlp_args); 0 where it does not fuse */
int vssm_cpu_mlp_bf16(vssm_ctx *ctx, const vssm_mlp_args *a) {
    const int nt = ctx->threads_now > 0 ? ctx->threads_now : 1, K = a->K, N = a->N, Kp = kpad(K), Np = kpad(N);
    const int64_t M = a->M;
    if (!fuse_ok(ctx, nt, M, wbytes_of(N, K) + wbytes_of(K, N)))
        return ctx->cpu_bf16 == VSSM_CPU_BF16_DP ? mlp_bf16_panels(ctx, a) : 0;
    const size_t xn_b = up64((size_t)FRB * K * 4), xb_b = up64((size_t)FRB * Kp * 2);
    /* h: fc1's fp32 rows where its activation is not done in registers (SiLU) */
    const size_t h_b = up64((size_t)FRB * N * 4), per = xn_b + xb_b + h_b + up64((size_t)FRB * Np * 2);
    uint8_t *buf = thread_parts(ctx, nt, per);
    if (!buf) return 0;
    const int rb = block_rows(M, nt);
    const int64_t nblk = (M + rb - 1) / rb;
    vssm_cpu_range *rg = ctx->cpu_ranges;
    vssm_cpu_ranges_init(rg, nt, nblk);
#pragma omp parallel num_threads(nt)
    {
        uint8_t *t = buf + (size_t)omp_get_thread_num() * per;
        float *xn = (float *)t, *h = (float *)(t + xn_b + xb_b);
        uint16_t *xb = (uint16_t *)(t + xn_b), *hb = (uint16_t *)(t + xn_b + xb_b + h_b);
        int v = 0;
        int64_t b0, b1;
        while (vssm_cpu_ranges_next(rg, nt, 1, &v, &b0, &b1)) {
            const int64_t m0 = b0 * rb;
            const int rows = M - m0 < rb ? (int)(M - m0) : rb;
            float *xr = a->x + m0 * K;
            norm_round(xr, rows, K, a->gamma, a->beta, a->eps, NULL, 0, xn, xb);
            if (a->act == VSSM_ACT_GELU || a->act == VSSM_ACT_NONE) {
                rows_to_bf16(xb, rows, K, a->w1p, a->b1, N, a->act, hb); /* bias, GELU, rounding in registers */
            } else {
                vssm_cpu_bf16_rows(xb, rows, K, a->w1p, a->b1, N, a->act, 0, h, N);
                for (int i = 0; i < rows; i++) vm_bf16_round_row(h + (size_t)i * N, N, Np, hb + (size_t)i * Np);
            }
            vssm_cpu_bf16_rows(hb, rows, N, a->w2p, a->b2, K, VSSM_ACT_NONE, 1, xr, K);
        }
    }
    return 1;
}
#else
int vssm_cpu_bf16_probe(int want_amx) { return VSSM_CPU_BF16_NONE; }
int vssm_cpu_bf16_kpad(int K) { return K; }
void vssm_cpu_bf16_round(const float *x, int n, int to, uint16_t *o) {}
void vssm_cpu_bf16_rows(const uint16_t *xb, int rows, int K, const float *wp, const float *b, int N, vssm_act act,
                        int accumulate, float *y, int64_t ldy) {}
int vssm_cpu_norm_proj_bf16(vssm_ctx *ctx, const vssm_norm_proj_args *a) { return 0; }
int vssm_cpu_mlp_bf16(vssm_ctx *ctx, const vssm_mlp_args *a) { return 0; }
void vssm_cpu_linear_packed_bf16(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *wp, const float *b,
                                 int N, vssm_act act, int accumulate, float *y) {}
#endif
