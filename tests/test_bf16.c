/* test_bf16: --precision bf16 on the CPU (kernels/cpu/sgemm_bf16.c), each of its two
 * kernels in turn (VSSM_CPU_BF16=avx512bf16, then amx; a kernel this CPU lacks is skipped,
 * the whole test when it has neither):
 *
 *   products  packed products against a double reference computed from the inputs rounded
 *             to bf16 (round to nearest even): |y - ref| <= 8 sqrt(K + 2) 2^-24 (sum |x w| +
 *             |b| + |y0|) (the fp32 sums' rounding as a random walk, ~25 standard
 *             deviations; the worst-case (K + 2) 2^-24 would not see the inputs' rounding at
 *             K = 2100) times 1.2 under GELU/SiLU (their slope) + 2^-21 |ref| (the
 *             activation's own error). Measured: the worst error is 0.09-0.10 of the bound.
 *             The reference from the unrounded inputs must fall outside the bound on every
 *             product with K >= 40 (so the check sees a missing or wrong rounding: weights
 *             truncated instead of rounded fail 690 checks, x truncated 348); the packed
 *             weight read back element by element is the rounded weight
 *   bits      each row of an M-row product equals the row computed alone and at another
 *             offset, at 1 and 2 threads; a small VMamba classifier gives an image the same
 *             logits alone and inside a batch
 *   model     the same classifier in fp32 and bf16: logits within 5% of the largest
 *   refusals  bf16 with the avx2 instruction set, an unknown bf16 kernel name, an unknown
 *             precision, bf16 on CUDA, training on a bf16 context: each refused with a
 *             message saying why */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/cpu/cpu_ops.h"
#include "testutil.h"
#include "vssm/backbone.h"
#include "vssm/classifier.h"
#include "vssm/vssm.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;
static float frand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

/* fp32 -> bf16 -> fp32, round to nearest even (finite inputs) */
static double bf16r(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u = (u + 0x7fffu + ((u >> 16) & 1)) & 0xffff0000u;
    memcpy(&f, &u, 4);
    return f;
}

static vssm_status new_ctx(vssm_ctx **ctx, int threads, vssm_precision p, const char *isa, vssm_err *err) {
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = threads;
    o.precision = p;
    o.cpu_isa = isa;
    return vssm_ctx_new(ctx, &o, err);
}

static double act_d(double v, vssm_act act) {
    if (act == VSSM_ACT_GELU) return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
    if (act == VSSM_ACT_SILU) return v / (1.0 + exp(-v));
    return v;
}

static int n_rounding_seen; /* products where the unrounded reference falls outside the bound */
static double worst_seen;   /* the largest error seen, as a fraction of the bound */

static void check_product(vssm_ctx *c1, vssm_ctx *c2, const char *kind, int M, int K, int N, int bias, vssm_act act,
                          int acc) {
    const size_t nx = ((size_t)M + 1) * (K ? K : 1), ny = ((size_t)M + 1) * N;
    float *x = malloc(nx * sizeof(float)), *w = malloc((size_t)N * (K ? K : 1) * sizeof(float));
    float *b = malloc((size_t)N * sizeof(float)), *y0 = malloc(ny * sizeof(float));
    float *y = malloc(ny * sizeof(float)), *y2 = malloc(ny * sizeof(float));
    for (size_t i = 0; i < nx; i++) x[i] = 4 * frand();
    for (size_t i = 0; i < (size_t)N * K; i++) w[i] = frand() / 8;
    for (int i = 0; i < N; i++) b[i] = frand();
    for (size_t i = 0; i < ny; i++) y0[i] = frand();
    const size_t pn = vssm_op_linear_pack_numel(c1, N, K);
    float *wp = malloc((pn ? pn : 1) * sizeof(float));
    vssm_op_linear_pack(c1, w, N, K, wp);
    int bad_get = 0;
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            bad_get += vssm_cpu_linear_packed_get(c1, wp, N, K, n, k) != (float)bf16r(w[(size_t)n * K + k]);
    TEST_CHECK(!bad_get, "%s N %d K %d: %d packed weights read back differ from the bf16-rounded ones", kind, N, K,
               bad_get);

#define RUN(ctx, xp, m, yp) vssm_op_linear_packed(ctx, xp, m, K, wp, bias ? b : NULL, N, act, acc, yp)
    memcpy(y, y0, ny * sizeof(float));
    RUN(c1, x, M, y);
    TEST_REQUIRE(vssm_op_sync(c1) == 0, "%s: the product ran", kind);
    const double u = ldexp(1.0, -24), slope = act == VSSM_ACT_NONE ? 1.0 : 1.2;
    int bad = 0, outside32 = 0;
    double worst = 0;
    for (int i = 0; i < M; i++)
        for (int n = 0; n < N; n++) {
            double s = 0, s32 = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                const double p = bf16r(x[(size_t)i * K + k]) * bf16r(w[(size_t)n * K + k]);
                s += p, mag += fabs(p);
                s32 += (double)x[(size_t)i * K + k] * w[(size_t)n * K + k];
            }
            const double add = (acc ? y0[(size_t)i * N + n] : 0) + (bias ? b[n] : 0);
            const double ref = act_d(s + add, act), ref32 = act_d(s32 + add, act);
            const double tol = 8 * sqrt(K + 2.0) * u * (mag + fabs(add)) * slope + ldexp(fabs(ref), -21);
            const double e = fabs(y[(size_t)i * N + n] - ref);
            bad += !(e <= tol);
            outside32 += fabs(y[(size_t)i * N + n] - ref32) > tol;
            if (tol > 0 && e / tol > worst) worst = e / tol;
        }
    if (worst > worst_seen) worst_seen = worst;
    TEST_CHECK(!bad, "%s M %d K %d N %d bias %d act %d acc %d: %d of %d outputs outside the bound (worst %.2f x it)",
               kind, M, K, N, bias, (int)act, acc, bad, M * N, worst);
    n_rounding_seen += K >= 40 && M * N >= 20 && outside32 > 0;

    /* bits: the same product at 2 threads, each row alone, rows 1.. at offset 0 */
    memcpy(y2, y0, ny * sizeof(float));
    RUN(c2, x, M, y2);
    const int bad_thr = memcmp(y, y2, (size_t)M * N * sizeof(float)) != 0;
    int bad_alone = 0, bad_shift = 0;
    for (int r = 0; r < M; r++) {
        memcpy(y2, y0 + (size_t)r * N, (size_t)N * sizeof(float));
        RUN(r % 2 ? c2 : c1, x + (size_t)r * K, 1, y2);
        bad_alone += memcmp(y2, y + (size_t)r * N, (size_t)N * sizeof(float)) != 0;
    }
    if (M > 1) {
        memcpy(y2, y0 + N, (size_t)(M - 1) * N * sizeof(float));
        RUN(c2, x + K, M - 1, y2);
        bad_shift = memcmp(y2, y + N, (size_t)(M - 1) * N * sizeof(float)) != 0;
    }
#undef RUN
    TEST_CHECK(!bad_thr && !bad_alone && !bad_shift,
               "%s M %d K %d N %d: threads differ %d, rows differing from alone %d, shifted differs %d", kind, M, K, N,
               bad_thr, bad_alone, bad_shift);
    free(x), free(w), free(b), free(y0), free(y), free(y2), free(wp);
}

/* The fused forms (sgemm_bf16.c, VDPBF16PS: LayerNorm + product, the MLP, conv.c's im2col +
 * product) against the ops one after the other on the same context: the same bits. The
 * shapes meet the fusion's conditions (at least 2 blocks of 28 rows a thread, weights under
 * 3/4 of a 1 MB L2, the conv's column matrix over 2 MB) or are too large for it (the
 * panel-major forms), and have a partial last block. */
static float *rnd(size_t n, float s) {
    float *v = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = s * frand();
    return v;
}
static float *packed(vssm_ctx *c, const float *w, int N, int K) {
    float *wp = malloc(vssm_op_linear_pack_numel(c, N, K) * sizeof(float));
    vssm_op_linear_pack(c, w, N, K, wp);
    return wp;
}

static void check_fused_norm_proj(vssm_ctx *c, const char *kind, int M, int K, int N, vssm_act act, int acc, int gate) {
    float *x = rnd((size_t)M * K, 3), *g = rnd(K, 1), *be = rnd(K, 1), *w = rnd((size_t)N * K, 0.2f), *b = rnd(N, 1);
    float *z = gate ? rnd((size_t)M * 2 * K, 2) : NULL, *y0 = rnd((size_t)M * N, 1);
    float *y1 = malloc((size_t)M * N * sizeof(float)), *y2 = malloc((size_t)M * N * sizeof(float));
    float *xn = malloc((size_t)M * K * sizeof(float)), *wp = packed(c, w, N, K);
    memcpy(y1, y0, (size_t)M * N * sizeof(float)), memcpy(y2, y0, (size_t)M * N * sizeof(float));
    const vssm_norm_proj_args a = {.x = x,
                                   .M = M,
                                   .K = K,
                                   .gamma = g,
                                   .beta = be,
                                   .eps = 1e-5f,
                                   .z = z,
                                   .ldz = 2 * K,
                                   .xn = xn,
                                   .wp = wp,
                                   .b = b,
                                   .N = N,
                                   .act = act,
                                   .accumulate = acc,
                                   .y = y1};
    vssm_op_norm_proj(c, &a);
    if (gate)
        vssm_op_layernorm_gate(c, x, M, K, g, be, 1e-5f, z, 2 * K, xn);
    else
        vssm_op_layernorm(c, x, M, K, g, be, 1e-5f, VSSM_ACT_NONE, xn);
    vssm_op_linear_packed(c, xn, M, K, wp, b, N, act, acc, y2);
    TEST_REQUIRE(vssm_op_sync(c) == 0, "%s: norm_proj ran", kind);
    TEST_CHECK(!memcmp(y1, y2, (size_t)M * N * sizeof(float)),
               "%s: norm_proj M %d K %d N %d act %d acc %d gate %d differs from layernorm + linear_packed", kind, M, K,
               N, (int)act, acc, gate);
    free(x), free(g), free(be), free(w), free(b), free(z), free(y0), free(y1), free(y2), free(xn), free(wp);
}

static void check_fused_mlp(vssm_ctx *c, const char *kind, int M, int K, int N) {
    float *x1 = rnd((size_t)M * K, 3), *g = rnd(K, 1), *be = rnd(K, 1), *w1 = rnd((size_t)N * K, 0.2f);
    float *w2 = rnd((size_t)K * N, 0.1f), *b1 = rnd(N, 1), *b2 = rnd(K, 1);
    float *x2 = malloc((size_t)M * K * sizeof(float)), *xn = malloc((size_t)M * K * sizeof(float));
    float *h = malloc((size_t)M * N * sizeof(float)), *w1p = packed(c, w1, N, K), *w2p = packed(c, w2, K, N);
    memcpy(x2, x1, (size_t)M * K * sizeof(float));
    const vssm_mlp_args a = {.x = x1,
                             .M = M,
                             .K = K,
                             .gamma = g,
                             .beta = be,
                             .eps = 1e-5f,
                             .w1p = w1p,
                             .b1 = b1,
                             .N = N,
                             .act = VSSM_ACT_GELU,
                             .w2p = w2p,
                             .b2 = b2,
                             .xn = xn,
                             .h = h};
    vssm_op_mlp(c, &a);
    vssm_op_layernorm(c, x2, M, K, g, be, 1e-5f, VSSM_ACT_NONE, xn);
    vssm_op_linear_packed(c, xn, M, K, w1p, b1, N, VSSM_ACT_GELU, 0, h);
    vssm_op_linear_packed(c, h, M, N, w2p, b2, K, VSSM_ACT_NONE, 1, x2);
    TEST_REQUIRE(vssm_op_sync(c) == 0, "%s: mlp ran", kind);
    TEST_CHECK(!memcmp(x1, x2, (size_t)M * K * sizeof(float)),
               "%s: mlp M %d K %d N %d differs from layernorm + two linear_packed", kind, M, K, N);
    free(x1), free(x2), free(g), free(be), free(w1), free(w2), free(b1), free(b2), free(xn), free(h), free(w1p),
        free(w2p);
}

static void check_fused_conv(vssm_ctx *c, const char *kind, int H, int W, int Cin, int Cout) {
    const int Ho = (H + 1) / 2, Wo = (W + 1) / 2, K = 9 * Cin, M = Ho * Wo;
    float *x = rnd((size_t)H * W * Cin, 2), *w = rnd((size_t)Cout * K, 0.1f), *b = rnd(Cout, 1);
    float *col = calloc((size_t)M * K, sizeof(float)), *wp = packed(c, w, Cout, K);
    float *y1 = malloc((size_t)M * Cout * sizeof(float)), *y2 = malloc((size_t)M * Cout * sizeof(float));
    void *ws = malloc(vssm_op_conv3x3s2_workspace(c, 1, H, W, Cin));
    for (int oh = 0; oh < Ho; oh++)
        for (int ow = 0; ow < Wo; ow++)
            for (int t = 0; t < 9; t++) {
                const int ih = 2 * oh - 1 + t / 3, iw = 2 * ow - 1 + t % 3;
                if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                    memcpy(col + ((size_t)oh * Wo + ow) * K + t * Cin, x + ((size_t)ih * W + iw) * Cin,
                           (size_t)Cin * sizeof(float));
            }
    vssm_op_conv3x3s2(c, x, 1, H, W, Cin, wp, b, Cout, y1, ws);
    vssm_op_linear_packed(c, col, M, K, wp, b, Cout, VSSM_ACT_NONE, 0, y2);
    TEST_REQUIRE(vssm_op_sync(c) == 0, "%s: conv3x3s2 ran", kind);
    TEST_CHECK(!memcmp(y1, y2, (size_t)M * Cout * sizeof(float)),
               "%s: conv3x3s2 %dx%dx%d -> %d differs from im2col + linear_packed", kind, H, W, Cin, Cout);
    free(x), free(w), free(b), free(col), free(wp), free(y1), free(y2), free(ws);
}

static void check_fused(vssm_ctx *c, const char *kind) {
    check_fused_norm_proj(c, kind, 3136, 96, 96, VSSM_ACT_NONE, 0, 0);  /* VMamba-T stage 1 in_proj */
    check_fused_norm_proj(c, kind, 201, 40, 70, VSSM_ACT_NONE, 1, 0);   /* accumulate, 5-row last block */
    check_fused_norm_proj(c, kind, 150, 48, 33, VSSM_ACT_SILU, 0, 1);   /* v0's gate */
    check_fused_norm_proj(c, kind, 200, 300, 100, VSSM_ACT_GELU, 0, 0); /* long rows */
    check_fused_mlp(c, kind, 3136, 96, 384);                            /* stage 1 */
    check_fused_mlp(c, kind, 201, 40, 70);                              /* K and N not multiples of 32 */
    check_fused_mlp(c, kind, 392, 6, 24); /* hidden rows narrower than a panel (the parity files' stage 1) */
    /* weights over 3/4 of any L2 up to 4 MB (the panel-major forms), rows in two chunks */
    check_fused_norm_proj(c, kind, 1700, 1280, 1312, VSSM_ACT_GELU, 0, 0);
    check_fused_norm_proj(c, kind, 90, 1280, 1312, VSSM_ACT_NONE, 1, 1);
    check_fused_mlp(c, kind, 720, 320, 2600);
    check_fused_conv(c, kind, 56, 56, 96, 192);  /* stage 1's downsample, K = 864 */
    check_fused_conv(c, kind, 110, 109, 20, 45); /* K = 180: padded to 192 */
    check_fused_conv(c, kind, 484, 484, 1, 70);  /* K = 9: a padded bf16 row (32) is over an fp32 one */
}

/* One value of {-1, -0.5, 0, 0.5, 1} times s */
static float *steps(size_t n, float s) {
    float *v = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = s * (float)((int)((frand() + 1.0f) * 2.5f) - 2) * 0.5f;
    return v;
}

/* The 2D scan's dt projection from bf16 pairs (dt_w2, scan_bf16.c) against the fp32 one on
 * the same numbers: dt_w rounded to bf16 beforehand, u and x_proj's dt rows on a grid of
 * 1/8 (dt_r = x_proj(u) then holds <= 7 significant bits: bf16 exactly), B and C rows
 * general. The two runs then differ by the order of the dt sums' roundings only:
 * max |y - y_fp32| / max |y_fp32| <= 1e-5 (measured 0 - 6e-8). The fp32 path from the
 * unrounded dt_w must fall outside that (so the check sees the pairs used, and rounded). R odd
 * (a padded pair), D not a multiple of 16 (a partial channel block) and L not a multiple of
 * the dt blocks (8) or chunks (32); 1 and 2 threads give the same bits. */
static void check_scan_dt(vssm_ctx *c1, vssm_ctx *c2, const char *kind, int H, int W, int D, int R, int N) {
    const int K = VSSM_SCAN_K, RN = R + 2 * N;
    const size_t L = (size_t)H * W;
    float *u = steps(L * D, 1.0f), *xp = rnd((size_t)K * RN * D, 0.5f), *dtw = rnd((size_t)K * R * D, 0.3f);
    float *dtb = rnd((size_t)K * D, 0.5f), *A = rnd((size_t)K * N * D, 1.0f), *Ds = rnd((size_t)K * D, 1.0f);
    for (int k = 0; k < K; k++) /* the dt rows of direction k on the grid */
        for (int r = 0; r < R; r++)
            for (int d = 0; d < D; d++)
                xp[((size_t)k * RN + r) * D + d] = 0.5f * (float)((int)((frand() + 1.0f) * 1.5f) - 1) * 0.5f;
    float *dtw_raw = malloc((size_t)K * R * D * sizeof(float));
    memcpy(dtw_raw, dtw, (size_t)K * R * D * sizeof(float));
    for (size_t i = 0; i < (size_t)K * R * D; i++) dtw[i] = (float)bf16r(dtw[i]);
    for (size_t i = 0; i < (size_t)K * N * D; i++) A[i] = -0.2f - fabsf(A[i]);
    const size_t n2 = vssm_op_dt_pack_numel(c1, K, R, D);
    TEST_REQUIRE(n2 == (size_t)K * ((R + 1) / 2) * D, "%s: dt pack of %zu floats (want %d)", kind, n2,
                 K * ((R + 1) / 2) * D);
    float *dt2 = malloc(n2 * sizeof(float)), *xpp = packed(c1, xp, K * RN, D);
    vssm_op_dt_pack(c1, dtw, K, R, D, dt2);
    /* y[0] fp32 dt, y[1] bf16 pairs, y[2] the same at 2 threads, y[3] fp32 from the unrounded dt_w */
    float *y[4], *ws = malloc(vssm_op_scan_workspace(c1, 1, H, W, D, R, N));
    for (int v = 0; v < 4; v++) {
        y[v] = malloc(L * D * sizeof(float));
        vssm_scan_args a = {
            1, H, W, D, R, N, u, xpp, v == 3 ? dtw_raw : dtw, dtb, A, Ds, y[v], v == 1 || v == 2 ? dt2 : NULL};
        vssm_op_ss2d_scan(v == 2 ? c2 : c1, &a, ws);
    }
    const double rel = test_rel_err(y[1], y[0], L * D), raw = test_rel_err(y[3], y[0], L * D);
    printf("%s: scan dt from bf16 pairs (H %d W %d D %d R %d N %d) vs fp32: %.3g (unrounded dt_w: %.3g)\n", kind, H, W,
           D, R, N, rel, raw);
    TEST_CHECK(rel <= 1e-5 && raw > 1e-5,
               "%s: scan H %d W %d D %d R %d N %d: dt from bf16 pairs %.3g from the fp32 one (want <= 1e-5), "
               "from unrounded dt_w %.3g (want > 1e-5)",
               kind, H, W, D, R, N, rel, raw);
    TEST_CHECK(!memcmp(y[1], y[2], L * D * sizeof(float)), "%s: scan D %d R %d: 1 and 2 threads differ", kind, D, R);
    for (int v = 0; v < 4; v++) free(y[v]);
    free(u), free(xp), free(dtw), free(dtw_raw), free(dtb), free(A), free(Ds), free(dt2), free(xpp), free(ws);
}

static vssm_classifier *small_vmamba(vssm_ctx *ctx) {
    vssm_err err = {0};
    vssm_vmamba_config vc;
    TEST_REQUIRE(vssm_vmamba_config_preset(&vc, "vmamba-tiny", &err) == VSSM_OK, "%s", err.msg);
    static const int dims[4] = {32, 64, 128, 256}, depths[4] = {1, 1, 2, 1}; /* a small VMamba-T */
    strcpy(vc.arch, "custom");
    memcpy(vc.dims, dims, sizeof dims), memcpy(vc.depths, depths, sizeof depths), vc.num_classes = 10;
    vssm_source *src = vssm_random_source_new(11);
    vssm_backbone *bb = NULL;
    vssm_classifier *c = NULL;
    TEST_REQUIRE(vssm_backbone_from_vmamba_config(&bb, ctx, &vc, src, "", &err) == VSSM_OK &&
                     vssm_classifier_from_backbone(&c, bb, src, &err) == VSSM_OK,
                 "vmamba: %s", err.msg);
    vssm_random_source_free(src);
    return c;
}

/* the same random classifier in fp32 and in bf16; bf16: an image alone and inside a batch */
static void check_model(vssm_ctx *f32, vssm_ctx *bf, const char *kind) {
    enum { H = 64, W = 56, NB = 3, NC = 10 };
    const size_t img = (size_t)H * W * 3;
    float *batch = malloc(NB * img * sizeof(float)), lb[NB * NC], l1[NC], lf[NB * NC];
    for (size_t i = 0; i < NB * img; i++) batch[i] = frand();
    vssm_classifier *cf = small_vmamba(f32), *cb = small_vmamba(bf);
    vssm_err err = {0};
    TEST_REQUIRE(vssm_classifier_forward(cf, batch, NB, H, W, lf, &err) == VSSM_OK, "f32: %s", err.msg);
    TEST_REQUIRE(vssm_classifier_forward(cb, batch, NB, H, W, lb, &err) == VSSM_OK, "bf16: %s", err.msg);
    TEST_REQUIRE(vssm_classifier_forward(cb, batch + 2 * img, 1, H, W, l1, &err) == VSSM_OK, "bf16: %s", err.msg);
    TEST_CHECK(!memcmp(l1, lb + 2 * NC, sizeof l1), "%s: image 2 alone differs from image 2 in a batch of 3", kind);
    const double rel = test_rel_err(lb, lf, NB * NC);
    printf("%s: small VMamba logits bf16 vs fp32: max |diff| / max |fp32| = %.3g\n", kind, rel);
    TEST_CHECK(rel < 0.05 && memcmp(lb, lf, sizeof lb) != 0, "%s: bf16 logits %.3g from fp32 (want < 0.05, not 0)",
               kind, rel);
    vssm_classifier_free(cf), vssm_classifier_free(cb);
    free(batch);
}

static void check_refused(vssm_precision p, const char *isa, vssm_device dev, vssm_status want, const char *says) {
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.precision = p, o.cpu_isa = isa, o.device = dev;
    vssm_ctx *ctx = NULL;
    vssm_err err = {0};
    const vssm_status s = vssm_ctx_new(&ctx, &o, &err);
    TEST_CHECK(s == want && !ctx && strstr(err.msg, says),
               "precision %d isa %s device %d: status %d '%s' (want %d, '%s')", (int)p, isa ? isa : "-", (int)dev,
               (int)s, err.msg, (int)want, says);
    vssm_ctx_free(ctx);
}

int main(void) {
    check_refused(VSSM_PRECISION_BF16, "avx2", VSSM_DEVICE_CPU, VSSM_ERR_UNSUPPORTED, "bf16 needs the avx512");
    check_refused((vssm_precision)7, NULL, VSSM_DEVICE_CPU, VSSM_ERR_INVALID_ARG, "unknown precision 7");
    check_refused(VSSM_PRECISION_BF16, NULL, VSSM_DEVICE_CUDA, VSSM_ERR_UNSUPPORTED, "CPU only");
    setenv("VSSM_CPU_BF16", "tiles", 1);
    check_refused(VSSM_PRECISION_BF16, NULL, VSSM_DEVICE_CPU, VSSM_ERR_INVALID_ARG, "not a bf16 kernel");

    static const char *kinds[] = {"avx512bf16", "amx"};
    int ran = 0;
    char why[VSSM_ERR_MSG_MAX] = "this CPU has no avx512_bf16";
    for (int v = 0; v < 2; v++) {
        setenv("VSSM_CPU_BF16", kinds[v], 1);
        vssm_ctx *c1 = NULL, *c2 = NULL, *f32 = NULL;
        vssm_err err = {0};
        if (new_ctx(&c1, 1, VSSM_PRECISION_BF16, NULL, &err) != VSSM_OK) {
            /* VDPBF16PS must run wherever the CPU has it: a build whose kernels were compiled
             * out (a compiler's other macro names) refused it while this test skipped */
            TEST_CHECK(v != 0 || !test_cpu_runs_bf16(), "%s: this CPU has avx512_bf16, yet refused: %s", kinds[v],
                       err.msg);
            printf("%s: skipped (%s)\n", kinds[v], err.msg);
            if (v == 0) snprintf(why, sizeof why, "%s", err.msg);
            continue;
        }
        ran++;
        TEST_REQUIRE(new_ctx(&c2, 2, VSSM_PRECISION_BF16, NULL, &err) == VSSM_OK, "%s", err.msg);
        TEST_REQUIRE(new_ctx(&f32, 2, VSSM_PRECISION_F32, NULL, &err) == VSSM_OK, "%s", err.msg);
        printf("%s: %s\n", kinds[v], vssm_ctx_describe(c1));
        TEST_CHECK(vssm_op_training_supported(c1, &err) == VSSM_ERR_UNSUPPORTED &&
                       strstr(err.msg, "training runs in fp32"),
                   "%s: training on a bf16 context is refused: '%s'", kinds[v], err.msg);
        static const int Ms[] = {1, 5, 14, 31, 32, 33, 70};
        static const int Ks[] = {0, 1, 19, 40, 96, 600};
        static const int Ns[] = {1, 23, 32, 45, 96};
        n_rounding_seen = 0, worst_seen = 0;
        int n_checked = 0;
        for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
            for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
                for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++) {
                    const int e = (int)(mi + ki + ni) % 4; /* vary the epilogue across shapes */
                    check_product(c1, c2, kinds[v], Ms[mi], Ks[ki], Ns[ni], e != 0,
                                  e == 2   ? VSSM_ACT_GELU
                                  : e == 3 ? VSSM_ACT_SILU
                                           : VSSM_ACT_NONE,
                                  e == 0);
                    n_checked += Ks[ki] >= 40 && Ms[mi] * Ns[ni] >= 20;
                }
        /* a weight over 1 MB (the panel-major order) and an x over one 4 MB chunk of its
         * bf16 copy (992 rows of K = 2100): rows in two chunks */
        check_product(c1, c2, kinds[v], 1000, 2100, 260, 1, VSSM_ACT_GELU, 0);
        printf("%s: largest product error %.3f of the bound\n", kinds[v], worst_seen);
        TEST_CHECK(n_rounding_seen >= n_checked,
                   "%s: the fp32 reference was inside the bound in %d of %d products "
                   "with K >= 40 (the check would not see missing bf16 rounding)",
                   kinds[v], n_checked - n_rounding_seen, n_checked);
        check_fused(c1, kinds[v]);
        check_fused(c2, kinds[v]);
        check_scan_dt(c1, c2, kinds[v], 7, 9, 20, 3, 1);    /* odd R, 4-channel tail, L = 63 */
        check_scan_dt(c1, c2, kinds[v], 14, 14, 48, 24, 1); /* VMamba-T stage 3's R, d_state 1 */
        check_scan_dt(c1, c2, kinds[v], 5, 11, 32, 6, 4);   /* d_state 4 */
        check_model(f32, c2, kinds[v]);
        vssm_ctx_free(c1), vssm_ctx_free(c2), vssm_ctx_free(f32);
    }
    if (!ran && !test_n_fail) test_skip(why);
    return test_finish("test_bf16");
}
