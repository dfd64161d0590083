/* kernels/cpu/conv.c - the two convolutions VMamba has: 3x3 stride 2 (patch embed,
 * downsample) as im2col + GEMM, and depthwise 3x3 stride 1 (+SiLU) vectorised over
 * channels. NHWC throughout; zero padding of 1.
 * Threads take output rows one at a time (dynamic): a thread whose core is taken by another
 * process does less of the work instead of holding every other thread at the region's end
 * (kernels/cpu/README.md, under load). Every row is computed alone: the same bits.
 * conv3x3s2 is compiled once per instruction set (conv_avx2.c, conv_avx512.c; cpu_ops.h):
 * the RGB stem's direct convolution is vector work (the im2col path's product is the GEMM,
 * dispatched on its own). So is stem_v2, VMamba v2's two stem convs and their LayerNorms in
 * one region (below). */
#if defined(__AVX512F__) && !defined(__clang__) /* clang: -mprefer-vector-width=512 (CMakeLists.txt) */
/* one zmm per 16 floats in the omp simd loops (same operations per lane, so the same bits) */
#pragma GCC target("prefer-vector-width=512")
#endif
#include <omp.h>
#include <string.h>
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/rows_chunk.h"
#include "kernels/cpu/vmath.h"

static inline int out_size(int n) { return (n + 1) / 2; }

#ifdef VSSM_ISA_BASE
size_t vssm_cpu_conv3x3s2_workspace(int B, int H, int W, int Cin) {
    return (size_t)B * out_size(H) * out_size(W) * 9 * Cin * sizeof(float);
}
#endif

/* Few input channels (an RGB stem): a direct convolution, vectorised over the output
 * channels, beats im2col + GEMM (K = 27 is far too short for a GEMM to reach speed, and
 * the column matrix is 9x the input). The weights are transposed to (3, 3, Cin, Cout) on
 * the stack once per call, Cout padded with zeros. Interior pixels (all
 * nine taps inside) run DP pixels at a time with their accumulators in registers (one
 * accumulator array on the stack, loaded and stored at every tap, ran VMamba-T's stem at
 * 72 GFLOP/s); border pixels one at a time, skipping the taps outside. Every output is the
 * bias, then tap (kh, kw, ci) by tap in that order, one a*b+c each: the same bits on both
 * paths and in every instruction set (FMA where the build has it, as the old loop). */
#define DIRECT_MAX_K 32 /* 9 * Cin */
#define DIRECT_MAX_COUT 64
#if defined(__AVX512F__)
#define DV 16 /* floats per vector */
#define DP 4  /* pixels per step: 4 x (up to 4) zmm accumulators */
#elif defined(__AVX__)
#define DV 8
#define DP 2
#else
#define DV 4
#define DP 1
#endif
#define DNV (DIRECT_MAX_COUT / DV)
typedef float dvf __attribute__((vector_size(DV * sizeof(float)), aligned(4), may_alias));

/* output pixels (oh, ow0 .. ow0 + np - 1) of image bi, np <= DP, NV vectors of channels:
 * interior (every tap inside) */
static inline __attribute__((always_inline)) void direct_pixels(const float *x, int H, int W, int Cin, const float *wt,
                                                                const float *bv, int ldw, int bi, int oh, int ow0,
                                                                const int np, const int NV, float *o, int Cout) {
    dvf acc[DP][DNV];
    for (int p = 0; p < np; p++)
        for (int v = 0; v < NV; v++) acc[p][v] = *(const dvf *)(bv + v * DV);
    for (int kh = 0; kh < 3; kh++) {
        const float *row = x + (((size_t)bi * H + 2 * oh - 1 + kh) * W + 2 * ow0 - 1) * Cin;
        for (int kw = 0; kw < 3; kw++)
            for (int ci = 0; ci < Cin; ci++) {
                const float *wk = wt + ((kh * 3 + kw) * Cin + ci) * ldw;
                dvf w[DNV];
                for (int v = 0; v < NV; v++) w[v] = *(const dvf *)(wk + v * DV);
                for (int p = 0; p < np; p++) {
                    const float a = row[(2 * p + kw) * Cin + ci];
                    for (int v = 0; v < NV; v++) acc[p][v] += a * w[v];
                }
            }
    }
    /* whole vectors stored as such; a partial last one through the stack (a memcpy of the whole
     * pixel each, ~190 B at VMamba's stem, was ~1/4 of the conv's time) */
    const int full = Cout / DV < NV ? Cout / DV : NV, rest = Cout - full * DV;
    for (int p = 0; p < np; p++) {
        float *op = o + (size_t)p * Cout;
        for (int v = 0; v < full; v++) *(dvf *)(op + v * DV) = acc[p][v];
        if (rest > 0) {
            float t[DV];
            *(dvf *)t = acc[p][full];
            memcpy(op + full * DV, t, (size_t)rest * sizeof(float));
        }
    }
}

/* one pixel with the taps outside skipped (the border) */
static void direct_border(const float *x, int H, int W, int Cin, const float *wt, const float *bv, int ldw, int bi,
                          int oh, int ow, float *o, int Cout) {
    float acc[DIRECT_MAX_COUT];
    for (int co = 0; co < Cout; co++) acc[co] = bv[co];
    for (int kh = 0; kh < 3; kh++) {
        const int ih = 2 * oh - 1 + kh;
        if (ih < 0 || ih >= H) continue;
        for (int kw = 0; kw < 3; kw++) {
            const int iw = 2 * ow - 1 + kw;
            if (iw < 0 || iw >= W) continue;
            const float *s = x + (((size_t)bi * H + ih) * W + iw) * Cin;
            const float *wk = wt + (kh * 3 + kw) * Cin * ldw;
            for (int ci = 0; ci < Cin; ci++) {
                const float v = s[ci];
#pragma omp simd
                for (int co = 0; co < Cout; co++) acc[co] += v * wk[ci * ldw + co];
            }
        }
    }
    memcpy(o, acc, (size_t)Cout * sizeof(float));
}

/* a row of output pixels: the border ones alone, the interior DP at a time */
static inline __attribute__((always_inline)) void direct_row(const float *x, int H, int W, int Cin, const float *wt,
                                                             const float *bv, int ldw, int bi, int oh, int Wo,
                                                             const int NV, float *orow, int Cout) {
    const int inner_h = oh >= 1 && 2 * oh + 1 < H;
    /* interior columns: 2 ow - 1 >= 0 and 2 ow + 1 < W */
    const int c0 = inner_h ? 1 : Wo, c1 = inner_h ? (W - 2) / 2 + 1 : Wo; /* [c0, c1) */
    int ow = 0;
    for (; ow < c0 && ow < Wo; ow++)
        direct_border(x, H, W, Cin, wt, bv, ldw, bi, oh, ow, orow + (size_t)ow * Cout, Cout);
    for (; ow + DP <= c1; ow += DP)
        direct_pixels(x, H, W, Cin, wt, bv, ldw, bi, oh, ow, DP, NV, orow + (size_t)ow * Cout, Cout);
    for (; ow < c1; ow++) direct_pixels(x, H, W, Cin, wt, bv, ldw, bi, oh, ow, 1, NV, orow + (size_t)ow * Cout, Cout);
    for (; ow < Wo; ow++) direct_border(x, H, W, Cin, wt, bv, ldw, bi, oh, ow, orow + (size_t)ow * Cout, Cout);
}

/* the weights transposed to (3, 3, Cin, DIRECT_MAX_COUT), Cout padded with zeros, and the bias
 * likewise: rows of DIRECT_MAX_COUT, so a count of vectors past NV reads zeros */
static void direct_weights(const vssm_ctx *ctx, const float *w, const float *b, int Cin, int Cout, float *wt,
                           float *bv) {
    const int K = 9 * Cin, ldw = DIRECT_MAX_COUT;
    memset(wt, 0, sizeof(float) * DIRECT_MAX_K * DIRECT_MAX_COUT);
    memset(bv, 0, sizeof(float) * DIRECT_MAX_COUT);
    for (int co = 0; co < Cout; co++) { /* w is laid out for the packed GEMM (ops.h) */
        for (int t = 0; t < K; t++) wt[t * ldw + co] = vssm_cpu_linear_packed_get(ctx, w, Cout, K, co, t);
        bv[co] = b ? b[co] : 0.0f;
    }
}

/* output row oh of image bi into orow; NV a constant in each call: the accumulators stay in
 * registers */
static void direct_row_any(const float *x, int H, int W, int Cin, const float *wt, const float *bv, int bi, int oh,
                           int Wo, float *orow, int Cout) {
    const int NV = (Cout + DV - 1) / DV, ldw = DIRECT_MAX_COUT;
    if (NV == 1)
        direct_row(x, H, W, Cin, wt, bv, ldw, bi, oh, Wo, 1, orow, Cout);
    else if (NV == 2)
        direct_row(x, H, W, Cin, wt, bv, ldw, bi, oh, Wo, 2, orow, Cout);
    else if (NV == 3)
        direct_row(x, H, W, Cin, wt, bv, ldw, bi, oh, Wo, 3, orow, Cout);
    else
        direct_row(x, H, W, Cin, wt, bv, ldw, bi, oh, Wo, DNV, orow, Cout);
}

static void conv3x3s2_direct(vssm_ctx *ctx, const float *x, int B, int H, int W, int Cin, const float *w,
                             const float *b, int Cout, float *y) {
    const int Ho = out_size(H), Wo = out_size(W);
    float wt[DIRECT_MAX_K * DIRECT_MAX_COUT] __attribute__((aligned(64)));
    float bv[DIRECT_MAX_COUT] __attribute__((aligned(64)));
    direct_weights(ctx, w, b, Cin, Cout, wt, bv);
#pragma omp parallel for collapse(2) num_threads(ctx->threads_now) schedule(dynamic, 1)
    for (int bi = 0; bi < B; bi++)
        for (int oh = 0; oh < Ho; oh++)
            direct_row_any(x, H, W, Cin, wt, bv, bi, oh, Wo, y + ((size_t)bi * Ho + oh) * Wo * Cout, Cout);
}

/* the input pixel under tap t = 3 kh + kw of output pixel (bi, oh, ow), NULL outside */
static inline const float *tap(const float *x, int H, int W, int Cin, int bi, int oh, int ow, int t) {
    const int ih = 2 * oh - 1 + t / 3, iw = 2 * ow - 1 + t % 3;
    return ih < 0 || ih >= H || iw < 0 || iw >= W ? NULL : x + (((size_t)bi * H + ih) * W + iw) * Cin;
}

/* output pixel (bi, oh, ow)'s row of the column matrix: (3, 3, Cin), zeros outside */
static inline void im2col_pixel(const float *x, int H, int W, int Cin, int bi, int oh, int ow, float *dst) {
    for (int t = 0; t < 9; t++) {
        const float *s = tap(x, H, W, Cin, bi, oh, ow, t);
        if (s)
            memcpy(dst + t * Cin, s, (size_t)Cin * sizeof(float));
        else
            memset(dst + t * Cin, 0, (size_t)Cin * sizeof(float));
    }
}

/* the same row rounded to bf16, zeros from K to Kp */
static inline void im2col_pixel_bf16(const float *x, int H, int W, int Cin, int bi, int oh, int ow, int K, int Kp,
                                     uint16_t *dst) {
    for (int t = 0; t < 9; t++) {
        const float *s = tap(x, H, W, Cin, bi, oh, ow, t);
        if (s)
            vssm_cpu_bf16_round(s, Cin, Cin, dst + t * Cin);
        else
            memset(dst + t * Cin, 0, (size_t)Cin * sizeof(uint16_t));
    }
    if (Kp > K) memset(dst + K, 0, (size_t)(Kp - K) * sizeof(uint16_t));
}

/* Output rows per task of the fused im2col + product, where the column matrix is larger than
 * FUSE_MIN_BYTES (VMamba-T's stem 48 -> 96: 5.4 MB, stage 1's downsample 2.7 MB): each task
 * writes its rows' columns into its thread's part of the workspace (56 x K floats, in L2) and
 * runs every panel over them at once, instead of the whole matrix written to memory and read
 * back (1 thread: the stem's conv took 1.70 ms where its product alone took 1.19). */
#define CONV_RB 56
#define FUSE_MIN_BYTES (2 << 20)

void VSSM_ISA_FN(vssm_cpu_conv3x3s2)(vssm_ctx *ctx, const float *x, int B, int H, int W, int Cin, const float *w,
                                     const float *b, int Cout, float *y, void *ws) {
    if (9 * Cin <= DIRECT_MAX_K && Cout <= DIRECT_MAX_COUT) {
        conv3x3s2_direct(ctx, x, B, H, W, Cin, w, b, Cout, y);
        return;
    }
    const int Ho = out_size(H), Wo = out_size(W), K = 9 * Cin;
    const int64_t M = (int64_t)B * Ho * Wo;
    float *col = ws; /* (B*Ho*Wo, 3, 3, Cin): the row order matches w (Cout, 3, 3, Cin) */
    /* fused: fp32 weights, or bf16 ones (VDPBF16PS) that fit in 3/4 of a core's L2, each
     * block's columns then gathered straight into bf16 (a padded bf16 row must fit in the fp32
     * row's part of the workspace; rounding per element: the bits of im2col + the bf16
     * product); the workspace (M x K floats) holds a CONV_RB-row block for each of the
     * context's threads */
    const int nt = ctx->opts.n_threads > 1 ? ctx->opts.n_threads : 1, Kp = vssm_cpu_bf16_kpad(K);
    const int bf = ctx->cpu_bf16 == VSSM_CPU_BF16_DP && Kp <= 2 * K &&
                   (double)vssm_cpu_linear_pack_numel(ctx, Cout, K) * sizeof(float) <= 0.75 * (double)ctx->cpu_l2;
    if ((!ctx->cpu_bf16 || bf) && (double)M * K * sizeof(float) > FUSE_MIN_BYTES && M >= (int64_t)CONV_RB * nt) {
        const int64_t nblk = (M + CONV_RB - 1) / CONV_RB;
#pragma omp parallel num_threads(ctx->threads_now)
        {
            float *buf = col + (size_t)omp_get_thread_num() * CONV_RB * K;
#pragma omp for schedule(dynamic, 1)
            for (int64_t blk = 0; blk < nblk; blk++) {
                const int64_t m0 = blk * CONV_RB;
                const int rows = M - m0 < CONV_RB ? (int)(M - m0) : CONV_RB;
                for (int i = 0; i < rows; i++) {
                    const int64_t m = m0 + i, pix = m % ((int64_t)Ho * Wo);
                    const int bi = (int)(m / ((int64_t)Ho * Wo)), oh = (int)(pix / Wo), ow = (int)(pix % Wo);
                    if (bf)
                        im2col_pixel_bf16(x, H, W, Cin, bi, oh, ow, K, Kp, (uint16_t *)buf + (size_t)i * Kp);
                    else
                        im2col_pixel(x, H, W, Cin, bi, oh, ow, buf + (size_t)i * K);
                }
                if (bf)
                    vssm_cpu_bf16_rows((uint16_t *)buf, rows, K, w, b, Cout, VSSM_ACT_NONE, 0, y + m0 * Cout, Cout);
                else
                    VSSM_ISA_FN(vssm_cpu_gemm_rows)(ctx, buf, rows, K, w, b, Cout, y + m0 * Cout);
            }
        }
        return;
    }
#pragma omp parallel for collapse(2) num_threads(ctx->threads_now) schedule(dynamic, 1)
    for (int bi = 0; bi < B; bi++)
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++)
                im2col_pixel(x, H, W, Cin, bi, oh, ow, col + (((size_t)bi * Ho + oh) * Wo + ow) * K);
    vssm_cpu_linear_packed(ctx, col, M, K, w, b, Cout, VSSM_ACT_NONE, 0, y);
}

/* n floats from src to dst (zeros where src is NULL), 16 at a time: the stem's columns are
 * rows of 48 floats, where a memcpy call each took ~8 ns */
typedef float cf16 __attribute__((vector_size(64), aligned(4), may_alias));
static inline void copy_floats(float *dst, const float *src, int n) {
    int j = 0;
    if (src)
        for (; j + 16 <= n; j += 16) *(cf16 *)(dst + j) = *(const cf16 *)(src + j);
    else
        for (; j + 16 <= n; j += 16) *(cf16 *)(dst + j) = (cf16){0};
    if (j < n) {
        if (src)
            memcpy(dst + j, src + j, (size_t)(n - j) * sizeof(float));
        else
            memset(dst + j, 0, (size_t)(n - j) * sizeof(float));
    }
}

/* VMamba v2's stem (ops.h vssm_stem_args) in one region. A thread walks a range of the
 * second conv's output rows (ranges with stealing, rows_chunk.h); output row oh needs the
 * first conv's rows 2 oh - 1 .. 2 oh + 1, normalised: those live in a ring of three rows in
 * the thread's part of ws (row r in slot r mod 3), so walking on computes two new ones per
 * output row and the first conv's 2.4 MB map (VMamba-T at 224) is never written to memory and
 * read back; then the output row's columns from the ring, its product and its LayerNorm, while
 * the row is in L1/L2. Measured on the Intel VM (2 threads, alternated; kernels/cpu/README.md
 * "Session 22"). Each value is computed by the operations of the four ops (direct_row,
 * layernorm_block, gemm_rows, each row alone): the same bits. Elsewhere (bf16 contexts,
 * first convs that are not direct, a workspace too small for the threads' rings) the four
 * ops run one after another. */
#ifdef VSSM_ISA_BASE
size_t vssm_cpu_stem_ring_floats(int W, int Cmid) { /* a thread's part of ws */
    const size_t W1 = (size_t)out_size(W), W2 = (size_t)out_size(out_size(W));
    return 3 * W1 * (size_t)Cmid + W2 * 9 * (size_t)Cmid;
}
#endif
void VSSM_ISA_FN(vssm_cpu_stem_v2)(vssm_ctx *ctx, const vssm_stem_args *a) {
    const int B = a->B, H1 = out_size(a->H), W1 = out_size(a->W), H2 = out_size(H1), W2 = out_size(W1);
    const int Cmid = a->Cmid, Cout = a->Cout, K2 = 9 * Cmid, nt = ctx->threads_now > 1 ? ctx->threads_now : 1;
    const size_t per = vssm_cpu_stem_ring_floats(a->W, Cmid);
    const size_t have_ws = vssm_cpu_conv3x3s2_workspace(B, H1, W1, Cmid) / sizeof(float);
    if (ctx->cpu_bf16 || 9 * a->Cin > DIRECT_MAX_K || Cmid > DIRECT_MAX_COUT || !a->ws || (size_t)nt * per > have_ws) {
        vssm_stem_v2_by_ops(ctx, a); /* the table's ops: this variant's, as here */
        return;
    }
    float wt[DIRECT_MAX_K * DIRECT_MAX_COUT] __attribute__((aligned(64)));
    float bv[DIRECT_MAX_COUT] __attribute__((aligned(64)));
    direct_weights(ctx, a->w1, a->b1, a->Cin, Cmid, wt, bv);
    vssm_cpu_range *rg = ctx->cpu_ranges;
    vssm_cpu_ranges_init(rg, nt, (int64_t)B * H2);
#pragma omp parallel num_threads(nt)
    {
        float *ring = (float *)a->ws + (size_t)omp_get_thread_num() * per, *col = ring + (size_t)3 * W1 * Cmid;
        int64_t held[3] = {-1, -1, -1}; /* image * H1 + row of the first conv in each slot */
        int v = 0;
        int64_t t0 = 0, t1 = 0;
        while (vssm_cpu_ranges_next(rg, nt, 1, &v, &t0, &t1))
            for (int64_t t = t0; t < t1; t++) {
                const int bi = (int)(t / H2), oh = (int)(t % H2);
                for (int r = 2 * oh - 1; r <= 2 * oh + 1; r++) {
                    if (r < 0 || r >= H1 || held[r % 3] == (int64_t)bi * H1 + r) continue;
                    float *o = ring + (size_t)(r % 3) * W1 * Cmid;
                    direct_row_any(a->x, a->H, a->W, a->Cin, wt, bv, bi, r, W1, o, Cmid);
                    VSSM_ISA_FN(vssm_cpu_layernorm_block)
                    (o, W1, Cmid, a->g1, a->be1, a->eps, VSSM_ACT_GELU, NULL, 0, o, Cmid);
                    held[r % 3] = (int64_t)bi * H1 + r;
                }
                for (int ow = 0; ow < W2; ow++)
                    for (int tp = 0; tp < 9; tp++) {
                        const int ih = 2 * oh - 1 + tp / 3, iw = 2 * ow - 1 + tp % 3;
                        const int in = ih >= 0 && ih < H1 && iw >= 0 && iw < W1;
                        copy_floats(col + (size_t)ow * K2 + tp * Cmid,
                                    in ? ring + ((size_t)(ih % 3) * W1 + iw) * Cmid : NULL, Cmid);
                    }
                float *yr = a->y + (size_t)t * W2 * Cout;
                VSSM_ISA_FN(vssm_cpu_gemm_rows)(ctx, col, W2, K2, a->w2, a->b2, Cout, yr);
                VSSM_ISA_FN(vssm_cpu_layernorm_block)
                (yr, W2, Cout, a->g2, a->be2, a->eps, VSSM_ACT_NONE, NULL, 0, yr, Cout);
            }
    }
}

#ifdef VSSM_ISA_BASE
void vssm_cpu_dwconv3x3(vssm_ctx *ctx, const float *x, int B, int H, int W, int C, const float *w, vssm_act act,
                        float *y) {
    vssm_cpu_dwconv3x3_bias(ctx, x, C, B, H, W, C, w, NULL, act, y);
}
#endif
