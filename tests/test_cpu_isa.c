/* test_cpu_isa: the CPU kernels' instruction set is chosen at run time, per context
 * (kernels/cpu/isa.c), and every variant this CPU runs computes the same model.
 *
 *   choice    vssm_ctx_opts.cpu_isa runs the named variant (the context says which: AVX-512,
 *             AVX2, the baseline), an unknown name is refused by name, and a variant the
 *             CPU lacks is refused as unsupported (never run: it would die on SIGILL)
 *   same      AVX-512 and AVX2 both sum every product as one FMA chain in k order, so their
 *             products and a random VMamba's and Vim's logits agree bit for bit; the
 *             baseline (no FMA in a build without -march=native) agrees to 1e-5 relative
 *   eltwise   the element-wise ops compiled per instruction set (conv.c, conv1d.c, norm.c,
 *             v0_ops.c): every dispatched op on shapes with a partial last vector, and SiLU
 *             and GELU (vmath.h) on a grid over [-100, 100]: AVX-512 and AVX2 agree bit for
 *             bit (same operations per element, the norms' sums in one order: rowsum.h);
 *             the baseline to 1e-5 relative (without FMA the polynomials round twice a
 *             step: the ulps it differs by are printed)
 *   L2        $VSSM_CPU_L2 sets the L2 size the products' order follows (panel-major, row-major,
 *             copied K blocks, tall tiles): the same bits whatever it says; non-sizes refused
 *   backward  the backward ops compiled per instruction set (norm_bwd.c, conv_bwd.c,
 *             v0_bwd.c, linear_bwd.c's activation gradient), every gradient they write, on
 *             shapes with partial vectors and more than one block of 64 rows, and SiLU' and
 *             GELU' on the grid: AVX-512 and AVX2 agree bit for bit (the norms' row sums in
 *             rowsum.h's order: an omp simd reduction there makes this fail); the baseline to
 *             1e-5 relative
 *
 * The reference checks and batch invariance of each variant: test_ops and
 * test_batch_invariance run once per variant (tests/cpu_isa.cmake, VSSM_CPU_ISA). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/ops.h"
#include "testutil.h"
#include "vssm/classifier.h"
#include "vssm/vssm.h"

static const char *const isas[] = {"avx512", "avx2", "base"};
static const char *const marks[] = {"AVX-512", "AVX2", "baseline"};
#define N_ISA 3

static uint64_t rng = 0x2545f4914f6cdd1dull;
static float frand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

/* a context on `isa` (NULL when this CPU lacks it) */
static vssm_ctx *isa_ctx(const char *isa, int threads) {
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = threads;
    o.cpu_isa = isa;
    vssm_ctx *ctx = NULL;
    vssm_err err = {0};
    vssm_status s = vssm_ctx_new(&ctx, &o, &err);
    if (s == VSSM_ERR_UNSUPPORTED) {
        TEST_CHECK(strstr(err.msg, isa) != NULL, "the refusal names the instruction set: '%s'", err.msg);
        printf("  %s: not on this CPU (%s)\n", isa, err.msg);
        return NULL;
    }
    TEST_REQUIRE(s == VSSM_OK, "ctx on %s: %s", isa, err.msg);
    return ctx;
}

static double rel_err(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num = fmax(num, fabs((double)a[i] - b[i]));
        den = fmax(den, fabs((double)b[i]));
    }
    return den > 0 ? num / den : num;
}

/* y = gelu(x w^T + b) for a packed and a plain weight, shapes that cross the K block, the
 * AVX2 half panels and the row blocks of every variant */
static void products(vssm_ctx *ctx, float *out, size_t *n_out) {
    static const int shapes[][3] = {{1, 7, 5}, {5, 300, 17}, {15, 177, 33}, {29, 700, 96}, {100, 96, 45}};
    size_t at = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K), *b = malloc(sizeof(float) * N);
        rng = 0x2545f4914f6cdd1dull + s;
        for (int i = 0; i < M * K; i++) x[i] = frand();
        for (int i = 0; i < N * K; i++) w[i] = frand();
        for (int i = 0; i < N; i++) b[i] = frand();
        const size_t pn = vssm_op_linear_pack_numel(ctx, N, K);
        float *wp = malloc(pn * sizeof(float));
        vssm_op_linear_pack(ctx, w, N, K, wp);
        vssm_op_linear_packed(ctx, x, M, K, wp, b, N, VSSM_ACT_GELU, 0, out + at);
        at += (size_t)M * N;
        vssm_op_linear(ctx, x, M, K, w, NULL, N, VSSM_ACT_NONE, 0, out + at);
        at += (size_t)M * N;
        free(x), free(w), free(b), free(wp);
    }
    *n_out = at;
}

/* buffer of n random floats in [lo, hi) */
static float *rand_buf(size_t n, float lo, float hi) {
    float *b = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) b[i] = lo + (hi - lo) * 0.5f * (frand() + 1.0f);
    return b;
}

/* a buffer of n copies of v */
static float *fill_buf(size_t n, float v) {
    float *b = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) b[i] = v;
    return b;
}

#define GRID 40001 /* SiLU and GELU at -100, -99.995, ..., 100 */

/* every op the element-wise files dispatch per instruction set, appended to out: the
 * channel counts leave a partial last vector of 16 (and of 8, 4), the conv1d crosses its
 * block of 64 tokens, the conv3x3s2 takes both paths (direct for the RGB stem, im2col), and the
 * v2 stem its fused one */
static void eltwise(vssm_ctx *ctx, float *out, size_t *n_out) {
    size_t at = 0;
    rng = 0x9e3779b97f4a7c15ull;
    /* act(x) on the grid: conv1d with one tap of weight 1 and no bias (bias 0 + 1 x = x
     * exactly), and mul_silu of ones */
    float *g = malloc(GRID * sizeof(float)), *one = malloc(GRID * sizeof(float));
    for (int i = 0; i < GRID; i++) g[i] = -100.0f + 0.005f * (float)i, one[i] = 1.0f;
    vssm_op_conv1d(ctx, g, GRID, 1, 1, GRID, one, NULL, 1, 0, VSSM_ACT_SILU, out + at), at += GRID;
    vssm_op_conv1d(ctx, g, GRID, 1, 1, GRID, one, NULL, 1, 0, VSSM_ACT_GELU, out + at), at += GRID;
    memcpy(out + at, one, GRID * sizeof(float));
    vssm_op_mul_silu(ctx, out + at, 1, GRID, g, GRID), at += GRID;
    free(g), free(one);

    static const int cs[] = {37, 96, 200};
    for (int k = 0; k < 3; k++) {
        const int C = cs[k], rows = 9, ldz = C + 5;
        float *x = rand_buf((size_t)rows * C, -3, 5), *gm = rand_buf(C, 0.5f, 1.5f), *bt = rand_buf(C, -1, 1);
        float *z = rand_buf((size_t)rows * ldz, -8, 8);
        for (int r = 0; r < rows; r++) x[(size_t)r * C] += 40.0f; /* a first value far from the mean */
        vssm_op_layernorm(ctx, x, rows, C, gm, bt, 1e-6f, VSSM_ACT_NONE, out + at), at += (size_t)rows * C;
        vssm_op_layernorm(ctx, x, rows, C, gm, bt, 1e-6f, VSSM_ACT_GELU, out + at), at += (size_t)rows * C;
        vssm_op_layernorm_gate(ctx, x, rows, C, gm, bt, 1e-6f, z, ldz, out + at), at += (size_t)rows * C;
        vssm_op_rmsnorm(ctx, x, rows, C, gm, 1e-5f, out + at), at += (size_t)rows * C;
        memcpy(out + at, x, (size_t)rows * C * sizeof(float));
        vssm_op_mul_silu(ctx, out + at, rows, C, z, ldz), at += (size_t)rows * C;
        free(x), free(gm), free(bt), free(z);
    }
    { /* conv1d: B 2, L 70, C 37 read at ldx 74 (the x half of in_proj), K 4, both directions */
        const int B = 2, L = 70, C = 37, K = 4, ldx = 2 * C;
        float *x = rand_buf((size_t)B * L * ldx, -4, 4), *w = rand_buf((size_t)K * C, -1, 1), *b = rand_buf(C, -1, 1);
        static const vssm_act acts[3] = {VSSM_ACT_SILU, VSSM_ACT_NONE, VSSM_ACT_GELU};
        for (int a = 0; a < 3; a++)
            for (int rev = 0; rev < 2; rev++)
                vssm_op_conv1d(ctx, x, ldx, B, L, C, w, a == 1 ? NULL : b, K, rev, acts[a], out + at),
                    at += (size_t)B * L * C;
        free(x), free(w), free(b);
    }
    { /* dwconv3x3 (+ bias, read at ldx): C 37 and 96 on a 5 x 7 image */
        for (int k = 0; k < 2; k++) {
            const int B = 2, H = 5, W = 7, C = k ? 96 : 37, ldx = 2 * C + 3;
            float *x = rand_buf((size_t)B * H * W * ldx, -4, 4), *w = rand_buf(9 * C, -1, 1);
            float *b = rand_buf(C, -1, 1);
            const size_t n = (size_t)B * H * W * C;
            vssm_op_dwconv3x3_bias(ctx, x, ldx, B, H, W, C, w, b, VSSM_ACT_SILU, out + at), at += n;
            vssm_op_dwconv3x3_bias(ctx, x, ldx, B, H, W, C, w, NULL, VSSM_ACT_GELU, out + at), at += n;
            vssm_op_dwconv3x3(ctx, x, B, H, W, C, w, VSSM_ACT_NONE, out + at), at += n;
            free(x), free(w), free(b);
        }
    }
    /* conv3x3s2: the RGB stem (direct) and 8 -> 20 channels (im2col + GEMM), odd sizes */
    static const int cio[2][2] = {{3, 24}, {8, 20}};
    for (int k = 0; k < 2; k++) {
        const int B = 2, H = 9, W = 11, Cin = cio[k][0], Cout = cio[k][1], K = 9 * Cin;
        float *x = rand_buf((size_t)B * H * W * Cin, -1, 1), *w = rand_buf((size_t)Cout * K, -1, 1);
        float *b = rand_buf(Cout, -1, 1), *wl = malloc((size_t)Cout * K * sizeof(float));
        vssm_conv_weight_layout(w, Cout, Cin, wl);
        float *wp = malloc(vssm_op_linear_pack_numel(ctx, Cout, K) * sizeof(float));
        vssm_op_linear_pack(ctx, wl, Cout, K, wp);
        void *ws = malloc(vssm_op_conv3x3s2_workspace(ctx, B, H, W, Cin));
        vssm_op_conv3x3s2(ctx, x, B, H, W, Cin, wp, b, Cout, out + at, ws);
        at += (size_t)B * ((H + 1) / 2) * ((W + 1) / 2) * Cout;
        free(x), free(w), free(b), free(wl), free(wp), free(ws);
    }
    { /* the v2 stem (stem_v2: the CPU's rings of the first conv's rows): 3 -> 24 -> 20 channels */
        const int B = 2, H = 23, W = 21, Ci = 3, Cm = 24, Co = 20, H1 = (H + 1) / 2, W1 = (W + 1) / 2;
        float *x = rand_buf((size_t)B * H * W * Ci, -1, 1), *w1 = rand_buf((size_t)Cm * 9 * Ci, -1, 1);
        float *w2 = rand_buf((size_t)Co * 9 * Cm, -0.3f, 0.3f), *b1 = rand_buf(Cm, -1, 1), *b2 = rand_buf(Co, -1, 1);
        float *g1 = rand_buf(Cm, 0.5f, 1.5f), *be1 = rand_buf(Cm, -1, 1), *g2 = rand_buf(Co, 0.5f, 1.5f);
        float *be2 = rand_buf(Co, -1, 1), *mid = malloc((size_t)B * H1 * W1 * Cm * sizeof(float));
        float *wp1 = malloc(vssm_op_linear_pack_numel(ctx, Cm, 9 * Ci) * sizeof(float));
        float *wp2 = malloc(vssm_op_linear_pack_numel(ctx, Co, 9 * Cm) * sizeof(float));
        vssm_op_linear_pack(ctx, w1, Cm, 9 * Ci, wp1), vssm_op_linear_pack(ctx, w2, Co, 9 * Cm, wp2);
        size_t wsb = vssm_op_conv3x3s2_workspace(ctx, B, H, W, Ci),
               w2b = vssm_op_conv3x3s2_workspace(ctx, B, H1, W1, Cm);
        void *ws = malloc(wsb > w2b ? wsb : w2b);
        const vssm_stem_args a = {B, H, W, Ci, Cm, Co, x, wp1, b1, g1, be1, wp2, b2, g2, be2, 1e-6f, mid, out + at, ws};
        vssm_op_stem_v2(ctx, &a);
        at += (size_t)B * ((H1 + 1) / 2) * ((W1 + 1) / 2) * Co;
        free(x), free(w1), free(w2), free(b1), free(b2), free(g1), free(be1), free(g2), free(be2), free(mid);
        free(wp1), free(wp2), free(ws);
    }
    { /* GELU in a product's epilogue (AVX-512: vmath.h vm_gelu16): x = -100, -99.915, ..., 100
       * (M x 1) times a weight of 1 in 17 columns (a partial vector), then with a bias of 0.5 */
        enum { M = (GRID - 1) / 17 + 1 };
        float *g = malloc(M * sizeof(float)), *w = fill_buf(17, 1.0f), *b = fill_buf(17, 0.5f);
        for (int i = 0; i < M; i++) g[i] = -100.0f + 0.085f * (float)i;
        float *wp = malloc(vssm_op_linear_pack_numel(ctx, 17, 1) * sizeof(float));
        vssm_op_linear_pack(ctx, w, 17, 1, wp);
        vssm_op_linear_packed(ctx, g, M, 1, wp, NULL, 17, VSSM_ACT_GELU, 0, out + at), at += (size_t)M * 17;
        vssm_op_linear_packed(ctx, g, M, 1, wp, b, 17, VSSM_ACT_GELU, 0, out + at), at += (size_t)M * 17;
        free(g), free(w), free(b), free(wp);
    }
    *n_out = at;
}

/* the backward ops compiled per instruction set, every gradient appended to out; gradients
 * start from nonzero values (they accumulate) */
static void backward(vssm_ctx *ctx, float *out, size_t *n_out) {
    size_t at = 0;
    rng = 0x3c6ef372fe94f82bull;
    { /* SiLU' and GELU' on the grid: conv1d_bwd with one tap of weight 1, no bias, dy 1: dx = act'(x) */
        float *g = malloc(GRID * sizeof(float)), *one = fill_buf(GRID, 1.0f);
        for (int i = 0; i < GRID; i++) g[i] = -100.0f + 0.005f * (float)i;
        for (int a = 0; a < 2; a++) {
            memset(out + at, 0, GRID * sizeof(float));
            vssm_op_conv1d_bwd(ctx, g, GRID, 1, 1, GRID, one, NULL, 1, 0, a ? VSSM_ACT_GELU : VSSM_ACT_SILU, one,
                               out + at, NULL, NULL);
            at += GRID;
        }
        free(g), free(one);
    }
    static const int cs[] = {37, 96, 200};
    for (int k = 0; k < 3; k++) { /* the norms: 70 rows (two blocks of 64) */
        const int C = cs[k], rows = 70, ldz = C + 5;
        const size_t n = (size_t)rows * C;
        float *x = rand_buf(n, -3, 5), *gm = rand_buf(C, 0.5f, 1.5f), *bt = rand_buf(C, -1, 1);
        float *dy = rand_buf(n, -1, 1), *z = rand_buf((size_t)rows * ldz, -8, 8);
        for (int r = 0; r < rows; r++) x[(size_t)r * C] += 40.0f; /* a first value far from the mean */
        for (int a = 0; a < 2; a++) {
            float *dx = out + at, *dg = dx + n, *db = dg + C;
            for (size_t i = 0; i < n + 2 * C; i++) dx[i] = 0.25f;
            vssm_op_layernorm_bwd(ctx, x, rows, C, gm, bt, 1e-6f, a ? VSSM_ACT_GELU : VSSM_ACT_NONE, dy, dx, dg, db);
            at += n + 2 * C;
        }
        float *dx = out + at, *dw = dx + n;
        for (size_t i = 0; i < n + C; i++) dx[i] = -0.5f;
        vssm_op_rmsnorm_bwd(ctx, x, rows, C, gm, 1e-5f, dy, dx, dw), at += n + C;
        float *mx = out + at, *mz = mx + n; /* mul_silu_bwd: dz in z's layout */
        for (size_t i = 0; i < n + (size_t)rows * ldz; i++) mx[i] = 0.125f;
        vssm_op_mul_silu_bwd(ctx, x, rows, C, z, ldz, dy, mx, mz), at += n + (size_t)rows * ldz;
        free(x), free(gm), free(bt), free(dy), free(z);
    }
    { /* conv1d: B 2, L 70, C 37 read at ldx 74, K 4, both directions */
        const int B = 2, L = 70, C = 37, K = 4, ldx = 2 * C;
        float *x = rand_buf((size_t)B * L * ldx, -4, 4), *w = rand_buf((size_t)K * C, -1, 1), *b = rand_buf(C, -1, 1);
        float *dy = rand_buf((size_t)B * L * C, -1, 1);
        static const vssm_act acts[3] = {VSSM_ACT_SILU, VSSM_ACT_NONE, VSSM_ACT_GELU};
        for (int a = 0; a < 3; a++)
            for (int rev = 0; rev < 2; rev++) {
                const size_t nx = (size_t)B * L * ldx;
                float *dx = out + at, *dw = dx + nx, *db = dw + (size_t)K * C;
                for (size_t i = 0; i < nx + (size_t)(K + 1) * C; i++) dx[i] = 0.75f;
                vssm_op_conv1d_bwd(ctx, x, ldx, B, L, C, w, a == 1 ? NULL : b, K, rev, acts[a], dy, dx, dw, db);
                at += nx + (size_t)(K + 1) * C;
            }
        free(x), free(w), free(b), free(dy);
    }
    for (int k = 0; k < 2; k++) { /* dwconv3x3 (+ bias, read at ldx): C 37 and 96 on a 5 x 7 image */
        const int B = 2, H = 5, W = 7, C = k ? 96 : 37, ldx = 2 * C + 3;
        const size_t nx = (size_t)B * H * W * ldx;
        float *x = rand_buf(nx, -4, 4), *w = rand_buf(9 * C, -1, 1), *b = rand_buf(C, -1, 1);
        float *dy = rand_buf((size_t)B * H * W * C, -1, 1);
        static const vssm_act acts[3] = {VSSM_ACT_SILU, VSSM_ACT_GELU, VSSM_ACT_NONE};
        for (int a = 0; a < 3; a++) {
            float *dx = out + at, *dw = dx + nx, *db = dw + 9 * C;
            for (size_t i = 0; i < nx + 10 * (size_t)C; i++) dx[i] = 0.5f;
            vssm_op_dwconv3x3_bias_bwd(ctx, x, ldx, B, H, W, C, w, a == 1 ? NULL : b, acts[a], dy, dx, dw, db);
            at += nx + 10 * (size_t)C;
        }
        free(x), free(w), free(b), free(dy);
    }
    { /* linear_bwd's activation gradient: M 70, K 37, N 45 */
        const int M = 70, K = 37, N = 45;
        float *x = rand_buf((size_t)M * K, -1, 1), *w = rand_buf((size_t)N * K, -1, 1), *b = rand_buf(N, -1, 1);
        float *dy = rand_buf((size_t)M * N, -1, 1);
        for (int a = 0; a < 2; a++) {
            float *dx = out + at, *dw = dx + (size_t)M * K, *db = dw + (size_t)N * K;
            memset(dx, 0, ((size_t)M * K + (size_t)N * K + N) * sizeof(float));
            vssm_op_linear_bwd(ctx, x, M, K, w, b, N, a ? VSSM_ACT_GELU : VSSM_ACT_SILU, dy, dx, dw, db);
            at += (size_t)M * K + (size_t)N * K + N;
        }
        free(x), free(w), free(b), free(dy);
    }
    vssm_err err = {0};
    TEST_CHECK(vssm_op_status(ctx, "backward", &err) == VSSM_OK, "the backward ops: %s", err.msg);
    *n_out = at;
}

/* the most units in the last place a and b differ by (same signs; 0 and -0 alike) */
static long max_ulps(const float *a, const float *b, size_t n) {
    long m = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t ia, ib;
        memcpy(&ia, &a[i], 4), memcpy(&ib, &b[i], 4);
        if (ia < 0) ia = INT32_MIN - ia;
        if (ib < 0) ib = INT32_MIN - ib;
        const long d = labs((long)ia - (long)ib);
        m = d > m ? d : m;
    }
    return m;
}

static double max_abs(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* logits of a small random VMamba (scan.c) or Vim (scan1d.c) for one fixed image */
static void logits(vssm_ctx *ctx, int vim, float *out, int *classes) {
    vssm_err err = {0};
    vssm_classifier *c = test_small_classifier(ctx, vim, 11);
    const int H = 64, W = 48;
    float *img = malloc(sizeof(float) * H * W * 3);
    rng = 99;
    for (int i = 0; i < H * W * 3; i++) img[i] = frand();
    *classes = vssm_classifier_classes(c);
    TEST_REQUIRE(vssm_classifier_forward(c, img, 1, H, W, out, &err) == VSSM_OK, "forward: %s", err.msg);
    free(img);
    vssm_classifier_free(c);
}

/* $VSSM_CPU_L2 (kernels/cpu/isa.c): the L2 size the products' order follows. Told 64 KB, the
 * products below go panel-major and the long-K one in copied K blocks with tall tiles; told 256
 * KB, the 400-row one goes row-major in bands of several row tiles; told 1024 MB, every product
 * with more than one panel goes row-major, a band one tile: the same bits every way (each sum
 * over k stays one chain in k order). Sizes that are not sizes are refused by name. */
static void l2_what_if(void) {
    static const int shapes[][3] = {{29, 700, 96}, {150, 200, 100}, {60, 2100, 70}, {400, 300, 40}};
    const char *sizes[3] = {"64K", "256K", "1024M"};
    float *out[3] = {0};
    size_t n = 0;
    for (int v = 0; v < 3; v++) {
        setenv("VSSM_CPU_L2", sizes[v], 1);
        vssm_ctx_opts o = vssm_ctx_default_opts();
        o.n_threads = 2;
        vssm_ctx *ctx = NULL;
        vssm_err err = {0};
        TEST_REQUIRE(vssm_ctx_new(&ctx, &o, &err) == VSSM_OK, "VSSM_CPU_L2=%s: %s", sizes[v], err.msg);
        char want[32];
        snprintf(want, sizeof want, "(VSSM_CPU_L2 %s)", sizes[v]);
        TEST_CHECK(strstr(vssm_ctx_describe(ctx), want) != NULL, "the description says %s: '%s'", want,
                   vssm_ctx_describe(ctx));
        size_t at = 0;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) at += (size_t)shapes[s][0] * shapes[s][2];
        out[v] = malloc(at * sizeof(float));
        at = 0;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            const int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
            float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K),
                  *b = malloc(sizeof(float) * N);
            rng = 0x9e3779b97f4a7c15ull + s;
            for (int i = 0; i < M * K; i++) x[i] = frand();
            for (int i = 0; i < N * K; i++) w[i] = frand();
            for (int i = 0; i < N; i++) b[i] = frand();
            float *wp = malloc(vssm_op_linear_pack_numel(ctx, N, K) * sizeof(float));
            vssm_op_linear_pack(ctx, w, N, K, wp);
            vssm_op_linear_packed(ctx, x, M, K, wp, b, N, VSSM_ACT_NONE, 0, out[v] + at);
            at += (size_t)M * N;
            free(x), free(w), free(b), free(wp);
        }
        n = at;
        vssm_ctx_free(ctx);
    }
    for (int v = 1; v < 3; v++)
        TEST_CHECK(!memcmp(out[0], out[v], n * sizeof(float)), "products told a 64K and a %s L2 differ: rel %.3g",
                   sizes[v], rel_err(out[v], out[0], n));
    free(out[0]), free(out[1]), free(out[2]);
    static const char *const bad[] = {"12Q", "-1M", "1M5", "32K", "2048M", "M", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        setenv("VSSM_CPU_L2", bad[i], 1);
        vssm_ctx_opts o = vssm_ctx_default_opts();
        vssm_ctx *ctx = NULL;
        vssm_err err = {0};
        const vssm_status st = vssm_ctx_new(&ctx, &o, &err);
        TEST_CHECK(st == VSSM_ERR_INVALID_ARG && strstr(err.msg, "VSSM_CPU_L2") && strstr(err.msg, bad[i]),
                   "VSSM_CPU_L2=%s is refused by name: status %d '%s'", bad[i], (int)st, err.msg);
        if (st == VSSM_OK) vssm_ctx_free(ctx);
    }
    unsetenv("VSSM_CPU_L2");
}

int main(void) {
    /* an unknown name is refused, naming it */
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.cpu_isa = "avx1024";
    vssm_ctx *bad = NULL;
    vssm_err err = {0};
    TEST_CHECK(vssm_ctx_new(&bad, &o, &err) == VSSM_ERR_INVALID_ARG && strstr(err.msg, "avx1024"),
               "an unknown instruction set is refused by name: '%s'", err.msg);

    l2_what_if();

    const size_t cap = 1 << 20;
    float *prod[N_ISA] = {0}, *lv[N_ISA] = {0}, *lm[N_ISA] = {0}, *ew[N_ISA] = {0}, *bw[N_ISA] = {0};
    size_t n_prod = 0, n_ew = 0, n_bw = 0;
    int ran = 0, nv = 0, nm = 0;
    for (int i = 0; i < N_ISA; i++) {
        vssm_ctx *ctx = isa_ctx(isas[i], 2);
        if (!ctx) continue;
        ran++;
        const char *d = vssm_ctx_describe(ctx);
        printf("  %s: %s\n", isas[i], d);
        TEST_CHECK(strstr(d, marks[i]) && (i == 2) == !!strstr(d, "baseline"), "cpu_isa %s runs the %s kernels: '%s'",
                   isas[i], marks[i], d);
        prod[i] = malloc(cap * sizeof(float));
        lv[i] = malloc(1000 * sizeof(float));
        lm[i] = malloc(1000 * sizeof(float));
        products(ctx, prod[i], &n_prod);
        ew[i] = malloc(cap * sizeof(float));
        eltwise(ctx, ew[i], &n_ew);
        TEST_REQUIRE(n_ew <= cap, "eltwise: %zu floats", n_ew);
        bw[i] = malloc(cap * sizeof(float));
        backward(ctx, bw[i], &n_bw);
        TEST_REQUIRE(n_bw <= cap, "backward: %zu floats", n_bw);
        logits(ctx, 1, lv[i], &nv);
        logits(ctx, 0, lm[i], &nm);
        vssm_ctx_free(ctx);
    }
    TEST_CHECK(ran >= 1, "the baseline always runs");
    if (prod[0] && prod[1]) {
        TEST_CHECK(!memcmp(prod[0], prod[1], n_prod * sizeof(float)), "AVX-512 and AVX2 products differ: rel %.3g",
                   rel_err(prod[1], prod[0], n_prod));
        TEST_CHECK(!memcmp(lm[0], lm[1], nm * sizeof(float)), "AVX-512 and AVX2 VMamba logits differ: rel %.3g",
                   rel_err(lm[1], lm[0], nm));
        TEST_CHECK(!memcmp(lv[0], lv[1], nv * sizeof(float)), "AVX-512 and AVX2 Vim logits differ: rel %.3g",
                   rel_err(lv[1], lv[0], nv));
        TEST_CHECK(
            !memcmp(ew[0], ew[1], n_ew * sizeof(float)),
            "AVX-512 and AVX2 element-wise ops differ: rel %.3g (on the grid: SiLU %ld ulps, GELU %.3g absolute)",
            rel_err(ew[1], ew[0], n_ew), max_ulps(ew[1], ew[0], GRID), max_abs(ew[1] + GRID, ew[0] + GRID, GRID));
    }
    if (bw[0] && bw[1])
        TEST_CHECK(!memcmp(bw[0], bw[1], n_bw * sizeof(float)),
                   "AVX-512 and AVX2 backward ops differ: rel %.3g (on the grid: SiLU' %ld ulps, GELU' %ld ulps)",
                   rel_err(bw[1], bw[0], n_bw), max_ulps(bw[1], bw[0], GRID),
                   max_ulps(bw[1] + GRID, bw[0] + GRID, GRID));
    for (int i = 0; i < 2; i++)
        if (bw[i] && bw[2]) {
            const double e = rel_err(bw[2] + 2 * GRID, bw[i] + 2 * GRID, n_bw - 2 * GRID); /* the ops */
            const double ea = rel_err(bw[2], bw[i], 2 * GRID);
            printf("  base vs %s: backward ops %.3g (on the grid, absolute: SiLU' %.3g, GELU' %.3g)\n", isas[i], e,
                   max_abs(bw[2], bw[i], GRID), max_abs(bw[2] + GRID, bw[i] + GRID, GRID));
            TEST_CHECK(e <= 1e-5 && ea <= 1e-5, "base vs %s: backward ops rel %.3g, SiLU'/GELU' rel %.3g > 1e-5",
                       isas[i], e, ea);
        }
    for (int i = 0; i < 2; i++)
        if (ew[i] && ew[2]) {
            const double e = rel_err(ew[2] + 3 * GRID, ew[i] + 3 * GRID, n_ew - 3 * GRID); /* the ops */
            printf("  base vs %s: element-wise ops %.3g (on the grid: SiLU %ld ulps, GELU %.3g absolute, mul_silu %ld "
                   "ulps)\n",
                   isas[i], e, max_ulps(ew[2], ew[i], GRID), max_abs(ew[2] + GRID, ew[i] + GRID, GRID),
                   max_ulps(ew[2] + 2 * GRID, ew[i] + 2 * GRID, GRID));
            TEST_CHECK(e <= 1e-5 && max_ulps(ew[2], ew[i], GRID) <= 4 &&
                           max_abs(ew[2] + GRID, ew[i] + GRID, GRID) <= 2e-6,
                       "base vs %s: element-wise ops rel %.3g > 1e-5, or SiLU, GELU apart", isas[i], e);
        }
    for (int i = 0; i < 2; i++)
        if (prod[i] && prod[2]) {
            const double ep = rel_err(prod[2], prod[i], n_prod), em = rel_err(lm[2], lm[i], nm);
            const double ev = rel_err(lv[2], lv[i], nv);
            printf("  base vs %s: products %.3g, VMamba logits %.3g, Vim logits %.3g\n", isas[i], ep, em, ev);
            TEST_CHECK(ep <= 1e-5 && em <= 1e-5 && ev <= 1e-5, "base vs %s: rel %.3g %.3g %.3g > 1e-5", isas[i], ep, em,
                       ev);
        }
    for (int i = 0; i < N_ISA; i++) free(prod[i]), free(lv[i]), free(lm[i]), free(ew[i]), free(bw[i]);
    return test_finish("test_cpu_isa");
}
