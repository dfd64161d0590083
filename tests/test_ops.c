/* tests/test_ops.c - every op of kernels/ops.h against a naive double-precision
 * reference, on random inputs of awkward sizes (odd H and W, channel counts that are not
 * a multiple of the SIMD width, d_state > 1), through the backend-neutral op wrappers.
 * Checks: max|a-b|/max|b| within the op's tolerance, no NaN/Inf, and guard values
 * after every output buffer left untouched.
 *
 * Usage: test_ops [cpu|cuda]   (cuda exits 77 when no GPU or no CUDA build) */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kernels/ops.h"
#include "testutil.h"

#define GUARD 64
#define GUARD_VAL 1234.5f

static uint64_t rng = 88172645463325252ull;
static float frand(void) { /* uniform [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}
static float *rand_vec(size_t n, float scale) {
    float *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = scale * frand();
    return v;
}

/* device buffer helpers */
static vssm_ctx *ctx;
/* Coverage: every compute op of VSSM_COMPUTE_OPS (kernels/ops.h) must have a case here;
 * each test function records the op it exercises, main checks the list is complete. */
static const char *covered[64];
static int n_covered;
static void covered_by(const char *op) {
    for (int i = 0; i < n_covered; i++)
        if (!strcmp(covered[i], op)) return;
    if (n_covered < 64) covered[n_covered++] = op;
}
static int is_covered(const char *op) {
    for (int i = 0; i < n_covered; i++)
        if (!strcmp(covered[i], op)) return 1;
    return 0;
}

static void *dev_from(const float *host, size_t n) {
    void *d = vssm_op_alloc(ctx, n * sizeof(float));
    vssm_op_upload(ctx, d, host, n * sizeof(float));
    return d;
}
static void *dev_out(size_t n) { /* output + guard */
    float *h = malloc((n + GUARD) * sizeof(float));
    for (size_t i = 0; i < n + GUARD; i++) h[i] = i < n ? NAN : GUARD_VAL; /* poison outputs */
    void *d = dev_from(h, n + GUARD);
    free(h);
    return d;
}
/* a linear-like weight (N, K) laid out by the backend (vssm_op_linear_pack), on the device */
static void *dev_packed(const float *w, int N, int K) {
    const size_t n = vssm_op_linear_pack_numel(ctx, N, K);
    TEST_CHECK(n >= (size_t)N * K, "packed size %zu >= %zu", n, (size_t)N * K);
    float *p = malloc((n ? n : 1) * sizeof(float));
    vssm_op_linear_pack(ctx, w, N, K, p);
    void *d = dev_from(p, n);
    free(p);
    return d;
}
static float *host_of(const void *d, size_t n, const char *what) {
    float *h = malloc((n + GUARD) * sizeof(float));
    vssm_op_sync(ctx);
    vssm_op_download(ctx, h, d, (n + GUARD) * sizeof(float));
    int guard_ok = 1;
    for (size_t i = n; i < n + GUARD; i++) guard_ok &= h[i] == GUARD_VAL;
    TEST_CHECK(guard_ok, "%s: wrote past the end of its output", what);
    return h;
}
static double rel_err_d(const float *a, const double *b, size_t n) {
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i])) return INFINITY;
        md = fmax(md, fabs(a[i] - b[i]));
        mb = fmax(mb, fabs(b[i]));
    }
    return mb > 0 ? md / mb : md;
}
static void expect(const char *what, const float *got, const double *ref, size_t n, double tol) {
    double e = rel_err_d(got, ref, n);
    TEST_CHECK(e <= tol, "%s: rel err %.3g > %.0e", what, e, tol);
}
static double gelu_d(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }
static double silu_d(double x) { return x / (1 + exp(-x)); }
static double softplus_d(double x) { return x > 20 ? x : log1p(exp(x)); }

/* packed: the weight is first laid out on the host by the backend (vssm_op_linear_pack)
 * and multiplied by vssm_op_linear_packed; the packed cases cover the row tails 7/4/2/1,
 * a partial 32-column panel, K over one K block, accumulate, bias and both activations */
static void test_linear_any(int64_t M, int K, int N, vssm_act act, int acc, int bias, int packed) {
    covered_by("linear");
    float *x = rand_vec((size_t)M * K, 1), *w = rand_vec((size_t)N * K, 0.3f), *b = rand_vec(N, 1),
          *y0 = rand_vec((size_t)M * N, 1);
    void *dx = dev_from(x, (size_t)M * K), *dw = packed ? dev_packed(w, N, K) : dev_from(w, (size_t)N * K),
         *db = dev_from(b, N), *dy = dev_out((size_t)M * N);
    if (acc) vssm_op_upload(ctx, dy, y0, (size_t)M * N * sizeof(float));
    if (packed)
        vssm_op_linear_packed(ctx, dx, M, K, dw, bias ? db : NULL, N, act, acc, dy);
    else
        vssm_op_linear(ctx, dx, M, K, dw, bias ? db : NULL, N, act, acc, dy);
    double *ref = malloc((size_t)M * N * sizeof(double));
    for (int64_t i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = bias ? b[j] : 0;
            for (int k = 0; k < K; k++) s += (double)x[i * K + k] * w[(size_t)j * K + k];
            if (acc) s += y0[i * N + j];
            ref[i * N + j] = act == VSSM_ACT_GELU ? gelu_d(s) : act == VSSM_ACT_SILU ? silu_d(s) : s;
        }
    char what[112];
    snprintf(what, sizeof what, "linear%s M=%lld K=%d N=%d act=%d acc=%d bias=%d", packed ? "_packed" : "",
             (long long)M, K, N, act, acc, bias);
    float *got = host_of(dy, (size_t)M * N, what);
    /* a float sum of K terms in k order: its rounding grows about as sqrt(K) (K = 6144: 2.3e-6
     * of the largest output with one draw of the data, under 2e-6 with the draw before) */
    expect(what, got, ref, (size_t)M * N, 2e-6 * (K > 1024 ? sqrt(K / 1024.0) : 1.0));
    free(x);
    free(w);
    free(b);
    free(y0);
    free(ref);
    free(got);
    vssm_op_free(ctx, dx);
    vssm_op_free(ctx, dw);
    vssm_op_free(ctx, db);
    vssm_op_free(ctx, dy);
}
static void test_linear(int64_t M, int K, int N, vssm_act act, int acc, int bias) {
    test_linear_any(M, K, N, act, acc, bias, 0);
}
static void test_linear_packed(int64_t M, int K, int N, vssm_act act, int acc, int bias) {
    test_linear_any(M, K, N, act, acc, bias, 1);
}

/* a 3x3 stride-2 conv in double (w in the official (Co, Ci, 3, 3) layout), pad 1 */
static double *conv_ref_d(const double *x, int B, int H, int W, int Ci, const float *w, const float *b, int Co) {
    const int Ho = (H + 1) / 2, Wo = (W + 1) / 2;
    double *y = malloc((size_t)B * Ho * Wo * Co * sizeof(double));
    for (int bi = 0; bi < B; bi++)
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++)
                for (int o = 0; o < Co; o++) {
                    double s = b[o];
                    for (int kh = 0; kh < 3; kh++)
                        for (int kw = 0; kw < 3; kw++) {
                            const int ih = 2 * oh - 1 + kh, iw = 2 * ow - 1 + kw;
                            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                            for (int i = 0; i < Ci; i++)
                                s += x[(((size_t)bi * H + ih) * W + iw) * Ci + i] *
                                     w[(((size_t)o * Ci + i) * 3 + kh) * 3 + kw];
                        }
                    y[(((size_t)bi * Ho + oh) * Wo + ow) * Co + o] = s;
                }
    return y;
}
static void test_conv(int B, int H, int W, int Ci, int Co) {
    covered_by("conv3x3s2");
    const int Ho = (H + 1) / 2, Wo = (W + 1) / 2;
    size_t nx = (size_t)B * H * W * Ci, ny = (size_t)B * Ho * Wo * Co;
    float *x = rand_vec(nx, 1), *w = rand_vec((size_t)Co * Ci * 9, 0.3f), *b = rand_vec(Co, 1);
    float *wl = malloc((size_t)Co * Ci * 9 * sizeof(float));
    vssm_conv_weight_layout(w, Co, Ci, wl); /* official (Co, Ci, 3, 3) -> (Co, 3, 3, Ci) */
    void *dx = dev_from(x, nx), *dw = dev_packed(wl, Co, 9 * Ci), *db = dev_from(b, Co), *dy = dev_out(ny);
    size_t wsb = vssm_op_conv3x3s2_workspace(ctx, B, H, W, Ci);
    void *ws = vssm_op_alloc(ctx, wsb ? wsb : 1);
    vssm_op_conv3x3s2(ctx, dx, B, H, W, Ci, dw, db, Co, dy, ws);
    double *xd = malloc(nx * sizeof(double));
    for (size_t i = 0; i < nx; i++) xd[i] = x[i];
    double *ref = conv_ref_d(xd, B, H, W, Ci, w, b, Co);
    free(xd);
    char what[96];
    snprintf(what, sizeof what, "conv3x3s2 B=%d %dx%d %d->%d", B, H, W, Ci, Co);
    float *got = host_of(dy, ny, what);
    expect(what, got, ref, ny, 2e-6);
    free(x);
    free(w);
    free(wl);
    free(b);
    free(ref);
    free(got);
    vssm_op_free(ctx, dx);
    vssm_op_free(ctx, dw);
    vssm_op_free(ctx, db);
    vssm_op_free(ctx, dy);
    vssm_op_free(ctx, ws);
}

/* ldx > C or bias: dwconv3x3_bias (x pixel p at x[p*ldx], the x half of an in_proj output) */
static void test_dwconv_any(int B, int H, int W, int C, vssm_act act, int ldx, int bias) {
    const int plain = ldx == C && !bias;
    covered_by(plain ? "dwconv3x3" : "dwconv3x3_bias");
    size_t n = (size_t)B * H * W * C, nx = (size_t)B * H * W * ldx;
    float *x = rand_vec(nx, 1), *w = rand_vec((size_t)9 * C, 0.5f), *bv = rand_vec(C, 1); /* w (3, 3, C) */
    void *dx = dev_from(x, nx), *dw = dev_from(w, (size_t)9 * C), *db = dev_from(bv, C), *dy = dev_out(n);
    if (plain)
        vssm_op_dwconv3x3(ctx, dx, B, H, W, C, dw, act, dy);
    else
        vssm_op_dwconv3x3_bias(ctx, dx, ldx, B, H, W, C, dw, bias ? db : NULL, act, dy);
    double *ref = malloc(n * sizeof(double));
    for (int bi = 0; bi < B; bi++)
        for (int h = 0; h < H; h++)
            for (int ww = 0; ww < W; ww++)
                for (int c = 0; c < C; c++) {
                    double s = bias ? bv[c] : 0;
                    for (int kh = 0; kh < 3; kh++)
                        for (int kw = 0; kw < 3; kw++) {
                            int ih = h - 1 + kh, iw = ww - 1 + kw;
                            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                            s += (double)x[(((size_t)bi * H + ih) * W + iw) * ldx + c] * w[(kh * 3 + kw) * C + c];
                        }
                    ref[(((size_t)bi * H + h) * W + ww) * C + c] = act == VSSM_ACT_SILU   ? silu_d(s)
                                                                   : act == VSSM_ACT_GELU ? gelu_d(s)
                                                                                          : s;
                }
    char what[112];
    snprintf(what, sizeof what, "%s B=%d %dx%d C=%d ldx=%d bias=%d act=%d", plain ? "dwconv3x3" : "dwconv3x3_bias", B,
             H, W, C, ldx, bias, act);
    float *got = host_of(dy, n, what);
    expect(what, got, ref, n, 2e-6);
    free(x);
    free(w);
    free(bv);
    free(ref);
    free(got);
    vssm_op_free(ctx, dx);
    vssm_op_free(ctx, dw);
    vssm_op_free(ctx, db);
    vssm_op_free(ctx, dy);
}
static void test_dwconv(int B, int H, int W, int C, vssm_act act) { test_dwconv_any(B, H, W, C, act, C, 0); }

/* y (rows, C) *= SiLU(z), z rows ldz apart (the gate half of an in_proj output) */
static void test_mul_silu(int64_t rows, int C, int ldz) {
    covered_by("mul_silu");
    size_t n = (size_t)rows * C, nz = (size_t)rows * ldz;
    float *y = rand_vec(n, 2), *z = rand_vec(nz, 4);
    void *dy = dev_out(n), *dz = dev_from(z, nz);
    vssm_op_upload(ctx, dy, y, n * sizeof(float));
    vssm_op_mul_silu(ctx, dy, rows, C, dz, ldz);
    double *ref = malloc(n * sizeof(double));
    for (int64_t r = 0; r < rows; r++)
        for (int c = 0; c < C; c++) ref[r * C + c] = (double)y[r * C + c] * silu_d(z[r * ldz + c]);
    char what[64];
    snprintf(what, sizeof what, "mul_silu rows=%lld C=%d ldz=%d", (long long)rows, C, ldz);
    float *got = host_of(dy, n, what);
    expect(what, got, ref, n, 2e-6);
    free(y);
    free(z);
    free(ref);
    free(got);
    vssm_op_free(ctx, dy);
    vssm_op_free(ctx, dz);
}

/* PatchMerging2D's gather: cell (oh, ow) = pixels (2oh, 2ow), (2oh+1, 2ow), (2oh, 2ow+1),
 * (2oh+1, 2ow+1), 0 past an odd edge; exact */
static void test_patch_merge(int B, int H, int W, int C) {
    covered_by("patch_merge");
    const int Ho = (H + 1) / 2, Wo = (W + 1) / 2;
    size_t nx = (size_t)B * H * W * C, ny = (size_t)B * Ho * Wo * 4 * C;
    float *x = rand_vec(nx, 1);
    void *dx = dev_from(x, nx), *dy = dev_out(ny);
    vssm_op_patch_merge(ctx, dx, B, H, W, C, dy);
    double *ref = malloc(ny * sizeof(double));
    const int dyx[4][2] = {{0, 0}, {1, 0}, {0, 1}, {1, 1}};
    for (int b = 0; b < B; b++)
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++)
                for (int q = 0; q < 4; q++)
                    for (int c = 0; c < C; c++) {
                        const int ih = 2 * oh + dyx[q][0], iw = 2 * ow + dyx[q][1];
                        ref[((((size_t)b * Ho + oh) * Wo + ow) * 4 + q) * C + c] =
                            ih < H && iw < W ? x[(((size_t)b * H + ih) * W + iw) * C + c] : 0.0;
                    }
    char what[64];
    snprintf(what, sizeof what, "patch_merge B=%d %dx%d C=%d", B, H, W, C);
    float *got = host_of(dy, ny, what);
    expect(what, got, ref, ny, 0);
    free(x);
    free(ref);
    free(got);
    vssm_op_free(ctx, dx);
    vssm_op_free(ctx, dy);
}

/* LayerNorm of x's rows in double (eps 1e-5), gamma g, beta b; malloc'd */
static double *layernorm_ref(const float *x, int64_t rows, int C, const float *g, const float *b) {
    double *ref = malloc((size_t)rows * C * sizeof(double));
    for (int64_t r = 0; r < rows; r++) {
        double m = 0, v = 0;
        for (int c = 0; c < C; c++) m += x[r * C + c];
        m /= C;
        for (int c = 0; c < C; c++) v += (x[r * C + c] - m) * (x[r * C + c] - m);
        v /= C;
        for (int c = 0; c < C; c++) ref[r * C + c] = (x[r * C + c] - m) / sqrt(v + 1e-5) * g[c] + b[c];
    }
    return ref;
}

static void test_layernorm(int64_t rows, int C, vssm_act act, float offset) {
    covered_by("layernorm");
    size_t n = (size_t)rows * C;
    float *x = rand_vec(n, 3), *g = rand_vec(C, 1), *b = rand_vec(C, 1);
    for (size_t i = 0; i < n; i++) x[i] += offset; /* a large mean: two-pass variance must not cancel */
    void *dx = dev_from(x, n), *dg = dev_from(g, C), *db = dev_from(b, C), *dy = dev_out(n);
    vssm_op_layernorm(ctx, dx, rows, C, dg, db, 1e-5f, act, dy);
    double *ref = layernorm_ref(x, rows, C, g, b);
    if (act == VSSM_ACT_GELU)
        for (size_t i = 0; i < n; i++) ref[i] = gelu_d(ref[i]);
    char what[96];
    snprintf(what, sizeof what, "layernorm rows=%lld C=%d act=%d offset=%g", (long long)rows, C, act, offset);
    float *got = host_of(dy, n, what);
    expect(what, got, ref, n, 5e-6);
    free(x);
    free(g);
    free(b);
    free(ref);
    free(got);
    vssm_op_free(ctx, dx);
    vssm_op_free(ctx, dg);
    vssm_op_free(ctx, db);
    vssm_op_free(ctx, dy);
}

/* the stem's steps in double: LayerNorm (+ GELU) in place (the conv: conv_ref_d) */
static void ln_ref_d(double *x, int64_t rows, int C, const float *g, const float *b, int gelu) {
    for (int64_t r = 0; r < rows; r++) {
        double *v = x + r * C, m = 0, q = 0;
        for (int c = 0; c < C; c++) m += v[c];
        m /= C;
        for (int c = 0; c < C; c++) q += (v[c] - m) * (v[c] - m);
        const double inv = 1.0 / sqrt(q / C + 1e-5);
        for (int c = 0; c < C; c++) {
            const double t = (v[c] - m) * inv * g[c] + b[c];
            v[c] = gelu ? gelu_d(t) : t;
        }
    }
}

/* VMamba v2's stem (stem_v2): against the four steps in double, and bit for bit against the
 * four ops run one after another on the same backend (the CPU's fused path, ring by ring,
 * must give their bits) */
static void test_stem(int B, int H, int W, int Ci, int Cm, int Co) {
    covered_by("stem_v2");
    const int H1 = (H + 1) / 2, W1 = (W + 1) / 2, H2 = (H1 + 1) / 2, W2 = (W1 + 1) / 2;
    const size_t nx = (size_t)B * H * W * Ci, n1 = (size_t)B * H1 * W1 * Cm, n2 = (size_t)B * H2 * W2 * Co;
    float *x = rand_vec(nx, 1), *w1 = rand_vec((size_t)Cm * Ci * 9, 0.3f), *b1 = rand_vec(Cm, 0.5f);
    float *g1 = rand_vec(Cm, 1), *be1 = rand_vec(Cm, 1), *w2 = rand_vec((size_t)Co * Cm * 9, 0.2f);
    float *b2 = rand_vec(Co, 0.5f), *g2 = rand_vec(Co, 1), *be2 = rand_vec(Co, 1);
    float *wl1 = malloc((size_t)Cm * Ci * 9 * sizeof(float)), *wl2 = malloc((size_t)Co * Cm * 9 * sizeof(float));
    vssm_conv_weight_layout(w1, Cm, Ci, wl1);
    vssm_conv_weight_layout(w2, Co, Cm, wl2);
    void *dx = dev_from(x, nx), *dw1 = dev_packed(wl1, Cm, 9 * Ci), *db1 = dev_from(b1, Cm), *dg1 = dev_from(g1, Cm);
    void *dbe1 = dev_from(be1, Cm), *dw2 = dev_packed(wl2, Co, 9 * Cm), *db2 = dev_from(b2, Co);
    void *dg2 = dev_from(g2, Co), *dbe2 = dev_from(be2, Co);
    void *dmid = dev_out(n1), *dy = dev_out(n2), *dmid2 = dev_out(n1), *dy2 = dev_out(n2);
    size_t wsb = vssm_op_conv3x3s2_workspace(ctx, B, H, W, Ci), w2b = vssm_op_conv3x3s2_workspace(ctx, B, H1, W1, Cm);
    if (w2b > wsb) wsb = w2b;
    void *ws = vssm_op_alloc(ctx, wsb ? wsb : 1);
    const vssm_stem_args a = {B, H, W, Ci, Cm, Co, dx, dw1, db1, dg1, dbe1, dw2, db2, dg2, dbe2, 1e-5f, dmid, dy, ws};
    vssm_op_stem_v2(ctx, &a);
    char what[96];
    snprintf(what, sizeof what, "stem_v2 B=%d %dx%d %d->%d->%d", B, H, W, Ci, Cm, Co);
    float *got = host_of(dy, n2, what);
    double *xd = malloc(nx * sizeof(double));
    for (size_t i = 0; i < nx; i++) xd[i] = x[i];
    double *mid = conv_ref_d(xd, B, H, W, Ci, w1, b1, Cm);
    ln_ref_d(mid, (int64_t)B * H1 * W1, Cm, g1, be1, 1);
    double *ref = conv_ref_d(mid, B, H1, W1, Cm, w2, b2, Co);
    ln_ref_d(ref, (int64_t)B * H2 * W2, Co, g2, be2, 0);
    expect(what, got, ref, n2, 2e-5);
    vssm_op_conv3x3s2(ctx, dx, B, H, W, Ci, dw1, db1, Cm, dmid2, ws);
    vssm_op_layernorm(ctx, dmid2, (int64_t)B * H1 * W1, Cm, dg1, dbe1, 1e-5f, VSSM_ACT_GELU, dmid2);
    vssm_op_conv3x3s2(ctx, dmid2, B, H1, W1, Cm, dw2, db2, Co, dy2, ws);
    vssm_op_layernorm(ctx, dy2, (int64_t)B * H2 * W2, Co, dg2, dbe2, 1e-5f, VSSM_ACT_NONE, dy2);
    float *got2 = host_of(dy2, n2, what);
    TEST_CHECK(!memcmp(got, got2, n2 * sizeof(float)), "%s: the bits of the four ops run one by one", what);
    float *fs[] = {x, w1, b1, g1, be1, w2, b2, g2, be2, wl1, wl2, got, got2};
    for (size_t i = 0; i < sizeof fs / sizeof *fs; i++) free(fs[i]);
    free(xd), free(mid), free(ref);
    void *ds[] = {dx, dw1, db1, dg1, dbe1, dw2, db2, dg2, dbe2, dmid, dy, dmid2, dy2, ws};
    for (size_t i = 0; i < sizeof ds / sizeof *ds; i++) vssm_op_free(ctx, ds[i]);
}

/* LayerNorm, then times SiLU(z) with z's rows ldz apart; in place (y = x) as v0 calls it */
static void test_layernorm_gate(int64_t rows, int C, int ldz, int inplace) {
    covered_by("layernorm_gate");
    size_t n = (size_t)rows * C, nz = (size_t)rows * ldz;
    float *x = rand_vec(n, 3), *g = rand_vec(C, 1), *b = rand_vec(C, 1), *z = rand_vec(nz, 4);
    void *dy = dev_out(n), *dg = dev_from(g, C), *db = dev_from(b, C), *dz = dev_from(z, nz);
    void *dx = inplace ? dy : dev_from(x, n);
    if (inplace) vssm_op_upload(ctx, dx, x, n * sizeof(float));
    vssm_op_layernorm_gate(ctx, dx, rows, C, dg, db, 1e-5f, dz, ldz, dy);
    double *ref = layernorm_ref(x, rows, C, g, b);
    for (int64_t r = 0; r < rows; r++)
        for (int c = 0; c < C; c++) ref[r * C + c] *= silu_d(z[r * ldz + c]);
    char what[96];
    snprintf(what, sizeof what, "layernorm_gate rows=%lld C=%d ldz=%d inplace=%d", (long long)rows, C, ldz, inplace);
    float *got = host_of(dy, n, what);
    expect(what, got, ref, n, 5e-6);
    free(x);
    free(g);
    free(b);
    free(z);
    free(ref);
    free(got);
    vssm_op_free(ctx, dy);
    vssm_op_free(ctx, dg);
    vssm_op_free(ctx, db);
    vssm_op_free(ctx, dz);
    if (!inplace) vssm_op_free(ctx, dx);
}

static void test_avgpool(int B, int64_t L, int C) {
    covered_by("avgpool");
    size_t n = (size_t)B * L * C;
    float *x = rand_vec(n, 1);
    void *dx = dev_from(x, n), *dy = dev_out((size_t)B * C);
    vssm_op_avgpool(ctx, dx, B, L, C, dy);
    double *ref = calloc((size_t)B * C, sizeof(double));
    for (int b = 0; b < B; b++)
        for (int64_t l = 0; l < L; l++)
            for (int c = 0; c < C; c++) ref[b * C + c] += x[((size_t)b * L + l) * C + c] / (double)L;
    char what[64];
    snprintf(what, sizeof what, "avgpool B=%d L=%lld C=%d", B, (long long)L, C);
    float *got = host_of(dy, (size_t)B * C, what);
    expect(what, got, ref, (size_t)B * C, 2e-6);
    free(x);
    free(ref);
    free(got);
    vssm_op_free(ctx, dx);
    vssm_op_free(ctx, dy);
}

/* The scan reference materialises the four sequences exactly as the official
 * cross_scan / selective_scan / cross_merge do (VMAMBA.md steps 3-8). */
static void test_scan(int B, int H, int W, int D, int R, int N) {
    covered_by("ss2d_scan");
    const int K = 4, C2 = R + 2 * N;
    const int64_t L = (int64_t)H * W;
    size_t nu = (size_t)B * L * D;
    float *u = rand_vec(nu, 1), *xp = rand_vec((size_t)K * C2 * D, 0.5f), *dtw = rand_vec((size_t)K * D * R, 0.5f);
    float *dtb = rand_vec((size_t)K * D, 2), *Alog = rand_vec((size_t)K * D * N, 1), *Ds = rand_vec((size_t)K * D, 1);
    for (int i = 0; i < K * D; i++) dtb[i] -= 3.0f; /* typical dt bias: softplus ~ 0.05 */
    dtb[0] = 25.0f;                                 /* one channel above the softplus threshold */
    if (D > 1) dtb[1] = 60.0f; /* delta A below -124 in its block: the clamped decays (scan_exp2_mul_safe) */
    /* op layouts: dt_w (K, R, D), A = -exp(A_logs) as (K, N, D) */
    float *dtw_t = malloc((size_t)K * R * D * sizeof(float)), *A = malloc((size_t)K * N * D * sizeof(float));
    for (int k = 0; k < K; k++)
        for (int c = 0; c < D; c++) {
            for (int r = 0; r < R; r++) dtw_t[((size_t)k * R + r) * D + c] = dtw[((size_t)k * D + c) * R + r];
            for (int n = 0; n < N; n++) A[((size_t)k * N + n) * D + c] = -expf(Alog[((size_t)k * D + c) * N + n]);
        }
    void *du = dev_from(u, nu), *dxp = dev_packed(xp, K * C2, D), *ddw = dev_from(dtw_t, (size_t)K * R * D);
    void *ddb = dev_from(dtb, (size_t)K * D), *dA = dev_from(A, (size_t)K * N * D), *dDs = dev_from(Ds, (size_t)K * D);
    void *dy = dev_out(nu);
    size_t wsb = vssm_op_scan_workspace(ctx, B, H, W, D, R, N);
    void *ws = vssm_op_alloc(ctx, wsb ? wsb : 1);
    vssm_scan_args a = {B, H, W, D, R, N, du, dxp, ddw, ddb, dA, dDs, dy, NULL};
    vssm_op_ss2d_scan(ctx, &a, ws);

    double *ref = calloc(nu, sizeof(double)), *h = malloc((size_t)N * sizeof(double));
    double *xd = malloc((size_t)C2 * sizeof(double));
    for (int b = 0; b < B; b++)
        for (int k = 0; k < K; k++)
            for (int c = 0; c < D; c++) {
                for (int n = 0; n < N; n++) h[n] = 0;
                for (int64_t t = 0; t < L; t++) {
                    int64_t q = k >= 2 ? L - 1 - t : t, p;
                    if (k & 1)
                        p = (q % H) * W + q / H; /* column-major: q = w*H + h */
                    else
                        p = q;
                    const float *up = u + ((size_t)b * L + p) * D;
                    for (int j = 0; j < C2; j++) {
                        double s = 0;
                        for (int cc = 0; cc < D; cc++) s += (double)xp[((size_t)k * C2 + j) * D + cc] * up[cc];
                        xd[j] = s;
                    }
                    double dt = dtb[k * D + c];
                    for (int r = 0; r < R; r++) dt += dtw[((size_t)k * D + c) * R + r] * xd[r];
                    double delta = softplus_d(dt), uu = up[c], y = Ds[k * D + c] * uu;
                    for (int n = 0; n < N; n++) {
                        double Ad = -exp((double)Alog[((size_t)k * D + c) * N + n]);
                        h[n] = exp(delta * Ad) * h[n] + delta * xd[R + n] * uu;
                        y += xd[R + N + n] * h[n];
                    }
                    ref[((size_t)b * L + p) * D + c] += y;
                }
            }
    char what[96];
    snprintf(what, sizeof what, "ss2d_scan B=%d %dx%d D=%d R=%d N=%d", B, H, W, D, R, N);
    float *got = host_of(dy, nu, what);
    expect(what, got, ref, nu, 1e-5);
    free(u);
    free(xp);
    free(dtw);
    free(dtb);
    free(Alog);
    free(Ds);
    free(dtw_t);
    free(A);
    free(ref);
    free(h);
    free(xd);
    free(got);
    void *bufs[] = {du, dxp, ddw, ddb, dA, dDs, dy, ws};
    for (int i = 0; i < 8; i++) vssm_op_free(ctx, bufs[i]);
}

/* ---- Vision Mamba ops ---- */

static void test_rmsnorm(int64_t rows, int C) {
    covered_by("rmsnorm");
    float *x = rand_vec((size_t)rows * C, 3), *w = rand_vec(C, 1);
    void *dx = dev_from(x, (size_t)rows * C), *dw = dev_from(w, C), *dy = dev_out((size_t)rows * C);
    vssm_op_rmsnorm(ctx, dx, rows, C, dw, 1e-5f, dy);
    double *ref = malloc((size_t)rows * C * sizeof(double));
    for (int64_t i = 0; i < rows; i++) {
        double s = 0;
        for (int c = 0; c < C; c++) s += (double)x[i * C + c] * x[i * C + c];
        double inv = 1 / sqrt(s / C + 1e-5);
        for (int c = 0; c < C; c++) ref[i * C + c] = x[i * C + c] * inv * w[c];
    }
    char what[64];
    snprintf(what, sizeof what, "rmsnorm %lldx%d", (long long)rows, C);
    float *got = host_of(dy, (size_t)rows * C, what);
    expect(what, got, ref, (size_t)rows * C, 1e-5);
    free(x);
    free(w);
    free(ref);
    free(got);
    vssm_op_free(ctx, dx);
    vssm_op_free(ctx, dw);
    vssm_op_free(ctx, dy);
}

/* x read with a row stride ldx > C (the x half of in_proj's (x, z) output) */
static void test_conv1d(int B, int64_t L, int C, int ldx, int K, int reverse, vssm_act act) {
    covered_by("conv1d");
    size_t nx = (size_t)B * L * ldx, ny = (size_t)B * L * C;
    float *x = rand_vec(nx, 1), *w = rand_vec((size_t)K * C, 0.7f), *b = rand_vec(C, 0.5f);
    void *dx = dev_from(x, nx), *dw = dev_from(w, (size_t)K * C), *db = dev_from(b, C), *dy = dev_out(ny);
    vssm_op_conv1d(ctx, dx, ldx, B, L, C, dw, db, K, reverse, act, dy);
    double *ref = malloc(ny * sizeof(double));
    for (int bi = 0; bi < B; bi++)
        for (int64_t t = 0; t < L; t++)
            for (int c = 0; c < C; c++) {
                /* the official form: conv1d with padding K-1 on the (flipped) sequence, first L outputs */
                double s = b[c];
                int64_t tf = reverse ? L - 1 - t : t; /* position in the walked order */
                for (int k = 0; k < K; k++) {
                    int64_t q = tf - (K - 1) + k; /* walked-order source */
                    if (q < 0) continue;
                    int64_t src = reverse ? L - 1 - q : q;
                    s += (double)w[(size_t)k * C + c] * x[((size_t)bi * L + src) * ldx + c];
                }
                ref[((size_t)bi * L + t) * C + c] = act == VSSM_ACT_SILU   ? silu_d(s)
                                                    : act == VSSM_ACT_GELU ? gelu_d(s)
                                                                           : s;
            }
    char what[96];
    snprintf(what, sizeof what, "conv1d B=%d L=%lld C=%d K=%d %s", B, (long long)L, C, K,
             reverse ? "reverse" : "causal");
    float *got = host_of(dy, ny, what);
    expect(what, got, ref, ny, 1e-5);
    free(x);
    free(w);
    free(b);
    free(ref);
    free(got);
    vssm_op_free(ctx, dx);
    vssm_op_free(ctx, dw);
    vssm_op_free(ctx, db);
    vssm_op_free(ctx, dy);
}

/* The reference walks the flipped sequence for reverse, as the official backward branch. */
static void test_scan1d(int B, int64_t L, int D, int R, int N, int reverse, int gate, int accumulate) {
    covered_by("scan1d");
    const int C2 = R + 2 * N;
    size_t nu = (size_t)B * L * D, nx = (size_t)B * L * C2, ldz = (size_t)D + 3;
    float *u = rand_vec(nu, 1), *xd = rand_vec(nx, 1), *z = rand_vec((size_t)B * L * ldz, 2), *y0 = rand_vec(nu, 1);
    float *dtw = rand_vec((size_t)D * R, 0.5f), *dtb = rand_vec(D, 2), *Alog = rand_vec((size_t)D * N, 1),
          *Ds = rand_vec(D, 1);
    for (int c = 0; c < D; c++) dtb[c] -= 3.0f;
    dtb[0] = 25.0f; /* above the softplus threshold */
    float *dtw_t = malloc((size_t)R * D * sizeof(float)), *A = malloc((size_t)N * D * sizeof(float));
    for (int c = 0; c < D; c++) {
        for (int r = 0; r < R; r++) dtw_t[(size_t)r * D + c] = dtw[(size_t)c * R + r];
        for (int n = 0; n < N; n++) A[(size_t)n * D + c] = -expf(Alog[(size_t)c * N + n]);
    }
    void *du = dev_from(u, nu), *dxd = dev_from(xd, nx), *dz = dev_from(z, (size_t)B * L * ldz);
    void *ddw = dev_from(dtw_t, (size_t)R * D), *ddb = dev_from(dtb, D), *dA = dev_from(A, (size_t)N * D),
         *dDs = dev_from(Ds, D);
    void *dy = dev_out(nu);
    if (accumulate) vssm_op_upload(ctx, dy, y0, nu * sizeof(float));
    vssm_scan1d_args a = {B,   D,   R,  N,   L,  reverse, accumulate, du, dxd, gate ? dz : NULL, (int64_t)ldz,
                          ddw, ddb, dA, dDs, dy, NULL,    NULL};
    vssm_op_scan1d(ctx, &a);
    double *ref = malloc(nu * sizeof(double)), *h = malloc((size_t)N * sizeof(double));
    for (int b = 0; b < B; b++)
        for (int c = 0; c < D; c++) {
            for (int n = 0; n < N; n++) h[n] = 0;
            for (int64_t s = 0; s < L; s++) {
                const int64_t t = reverse ? L - 1 - s : s;
                const float *x = xd + ((size_t)b * L + t) * C2;
                double dt = dtb[c];
                for (int r = 0; r < R; r++) dt += (double)dtw[(size_t)c * R + r] * x[r];
                double delta = softplus_d(dt), uu = u[((size_t)b * L + t) * D + c], yy = Ds[c] * uu;
                for (int n = 0; n < N; n++) {
                    h[n] = exp(delta * -exp((double)Alog[(size_t)c * N + n])) * h[n] + delta * x[R + n] * uu;
                    yy += x[R + N + n] * h[n];
                }
                if (gate) yy *= silu_d(z[((size_t)b * L + t) * ldz + c]);
                const size_t i = ((size_t)b * L + t) * D + c;
                ref[i] = accumulate ? y0[i] + yy : yy;
            }
        }
    char what[128];
    snprintf(what, sizeof what, "scan1d B=%d L=%lld D=%d R=%d N=%d%s%s%s", B, (long long)L, D, R, N,
             reverse ? " reverse" : "", gate ? " gated" : "", accumulate ? " accumulate" : "");
    float *got = host_of(dy, nu, what);
    expect(what, got, ref, nu, 1e-5);
    free(u);
    free(xd);
    free(z);
    free(y0);
    free(dtw);
    free(dtb);
    free(Alog);
    free(Ds);
    free(dtw_t);
    free(A);
    free(ref);
    free(h);
    free(got);
    void *bufs[] = {du, dxd, dz, ddw, ddb, dA, dDs, dy};
    for (int i = 0; i < 8; i++) vssm_op_free(ctx, bufs[i]);
}

/* patch extraction vs an explicit P x P stride-S convolution's im2col, with a skipped row */
static void test_patchify(int B, int H, int W, int C, int P, int S, int skip, int extra_rows) {
    covered_by("patchify");
    const int gh = (H - P) / S + 1, gw = (W - P) / S + 1;
    const int64_t M = (int64_t)gh * gw, rows = M + (skip >= 0) + extra_rows, KC = (int64_t)C * P * P;
    size_t nx = (size_t)B * H * W * C, nc = (size_t)B * rows * KC;
    float *x = rand_vec(nx, 1);
    void *dx = dev_from(x, nx), *dc = dev_out(nc);
    vssm_patch_args a = {B, H, W, C, P, S, rows, extra_rows, skip, dx, dc};
    vssm_op_patchify(ctx, &a);
    char what[96];
    snprintf(what, sizeof what, "patchify B=%d %dx%d C=%d P=%d S=%d skip=%d", B, H, W, C, P, S, skip);
    float *got = host_of(dc, nc, what);
    int ok = 1;
    for (int b = 0; b < B; b++)
        for (int64_t r = 0; r < rows; r++) {
            int64_t m = r - extra_rows;
            if (skip >= 0 && m == skip)
                m = -1; /* the untouched class row */
            else if (skip >= 0 && m > skip)
                m--;
            for (int64_t k = 0; k < KC; k++) {
                const float g = got[((size_t)b * rows + r) * KC + k];
                if (m < 0 || m >= M) {
                    ok &= isnan(g);
                    continue;
                } /* still the poison value */
                const int c = (int)(k / (P * P)), ky = (int)(k % (P * P)) / P, kx = (int)(k % P);
                const int yy = (int)(m / gw) * S + ky, xx = (int)(m % gw) * S + kx;
                ok &= g == x[(((size_t)b * H + yy) * W + xx) * C + c];
            }
        }
    TEST_CHECK(ok, "%s: wrong patch values or rows", what);
    free(x);
    free(got);
    vssm_op_free(ctx, dx);
    vssm_op_free(ctx, dc);
}

static void test_rows_add(int B, int64_t L, int C, int64_t row) {
    covered_by("rows_add");
    size_t n = (size_t)B * L * C;
    float *x = rand_vec(n, 1), *add = rand_vec((size_t)L * C, 1), *rv = rand_vec(C, 1);
    void *dx = dev_out(n), *da = dev_from(add, (size_t)L * C), *dr = dev_from(rv, C);
    vssm_op_upload(ctx, dx, x, n * sizeof(float));
    vssm_op_rows_add(ctx, dx, B, L, C, da, row, dr);
    double *ref = malloc(n * sizeof(double));
    for (int b = 0; b < B; b++)
        for (int64_t t = 0; t < L; t++)
            for (int c = 0; c < C; c++) {
                size_t i = ((size_t)b * L + t) * C + c;
                ref[i] = (double)(t == row ? rv[c] : x[i]) + add[(size_t)t * C + c];
            }
    char what[64];
    snprintf(what, sizeof what, "rows_add B=%d L=%lld C=%d row=%lld", B, (long long)L, C, (long long)row);
    float *got = host_of(dx, n, what);
    expect(what, got, ref, n, 1e-7);
    free(x);
    free(add);
    free(rv);
    free(ref);
    free(got);
    vssm_op_free(ctx, dx);
    vssm_op_free(ctx, da);
    vssm_op_free(ctx, dr);
}

/* The cases, one group per op of VSSM_COMPUTE_OPS (linear includes the packed product). */
static void cases_linear(void) {
    for (int act = 0; act < 3; act++) test_linear(37, 19, 23, (vssm_act)act, 0, 1);
    test_linear(64, 48, 96, VSSM_ACT_NONE, 1, 1);
    test_linear(5, 7, 3, VSSM_ACT_NONE, 1, 0);
    test_linear(1, 1, 1, VSSM_ACT_GELU, 0, 1);
    test_linear(100, 33, 77, VSSM_ACT_GELU, 1, 1); /* short: column slices per thread */
    test_linear(600, 40, 70, VSSM_ACT_SILU, 0, 1); /* tall: one threaded sgemm */
    for (int act = 0; act < 3; act++) test_linear_packed(29, 19, 23, (vssm_act)act, 0, 1); /* 14 + 14 + 1 rows */
    test_linear_packed(49, 40, 96, VSSM_ACT_NONE, 1, 1);  /* 14*3 + 7: residual accumulate */
    test_linear_packed(13, 600, 33, VSSM_ACT_GELU, 0, 1); /* 7 + 4 + 2 rows, K over 512, 32 + 1 columns */
    test_linear_packed(70, 5, 64, VSSM_ACT_NONE, 1, 0);
    test_linear_packed(400, 300, 40, VSSM_ACT_NONE, 1, 1); /* row-major: a band in one or several row tiles */
    /* row-major, a band's rows of x over a quarter of an L2 up to 8 MB: several row tiles */
    test_linear_packed(1100, 1024, 40, VSSM_ACT_NONE, 0, 1);
    test_linear_packed(1, 1, 1, VSSM_ACT_SILU, 0, 1);
    test_linear_packed(3, 0, 40, VSSM_ACT_NONE, 0, 1);     /* K = 0: y = bias */
    test_linear_packed(40, 6144, 70, VSSM_ACT_GELU, 1, 1); /* tall tiles (a 1-2 MB L2): copied K blocks */
}
static void cases_stem_v2(void) {
    test_stem(1, 64, 60, 3, 16, 24);   /* the CPU's fused rings */
    test_stem(3, 21, 19, 3, 48, 40);   /* ranges across images */
    test_stem(1, 150, 150, 3, 48, 96); /* the four ops' second conv in 56-row blocks (columns over 2 MB) */
    test_stem(1, 2, 1, 3, 8, 8);       /* too small for a ring a thread: the four ops */
    test_stem(2, 17, 12, 4, 8, 16);    /* 9 Cin > 32: no direct first conv, the four ops */
}
static void cases_conv3x3s2(void) {
    test_conv(2, 9, 7, 3, 5);
    test_conv(1, 1, 1, 4, 6);
    test_conv(3, 16, 15, 8, 16);
    test_conv(1, 17, 12, 3, 48); /* the RGB stem: the direct path */
    test_conv(2, 5, 6, 2, 64);
    test_conv(2, 66, 63, 40, 37); /* columns 3 MB: im2col fused in 56-row blocks, a partial last one */
    cases_stem_v2();              /* the stem: two of these with LayerNorms (ops.h vssm_stem_args) */
}
static void cases_dwconv3x3(void) {
    test_dwconv(2, 5, 7, 19, VSSM_ACT_SILU);
    test_dwconv(1, 1, 1, 33, VSSM_ACT_NONE);
    test_dwconv(1, 6, 3, 40, VSSM_ACT_GELU);
    test_dwconv(1, 1, 9, 20, VSSM_ACT_SILU); /* one input row per output row (the CPU's sliding window, one tap row) */
}
static void cases_layernorm(void) {
    test_layernorm(13, 7, VSSM_ACT_NONE, 0);
    test_layernorm(9, 96, VSSM_ACT_GELU, 0);
    test_layernorm(5, 48, VSSM_ACT_NONE, 1000.0f);
}
/* norm_proj (ops.h): LayerNorm [* SiLU(z)] then a packed product in one call gives the bits
 * of the two ops; shapes fused on the CPU (short rows, a row block per thread) and not
 * (long rows, few rows), with bias + GELU, accumulate, the gate. */
static void test_norm_proj(int64_t M, int K, int N, vssm_act act, int acc, int bias, int gate) {
    covered_by("layernorm");
    const size_t nx = (size_t)M * K, ny = (size_t)M * N, ldz = (size_t)K + 5;
    float *x = rand_vec(nx, 2), *g = rand_vec(K, 1), *be = rand_vec(K, 0.5f), *w = rand_vec((size_t)N * K, 0.3f),
          *b = rand_vec(N, 0.5f), *z = rand_vec(M * ldz, 2), *y0 = rand_vec(ny + GUARD, 1);
    for (size_t i = 0; i < nx; i++) x[i] += 3.0f;               /* an offset mean */
    for (size_t i = ny; i < ny + GUARD; i++) y0[i] = GUARD_VAL; /* y's start values (accumulate), then the guard */
    void *dx = dev_from(x, nx), *dg = dev_from(g, K), *dbe = dev_from(be, K), *dw = dev_packed(w, N, K),
         *db = dev_from(b, N), *dz = dev_from(z, M * ldz), *xn = dev_out(nx), *y = dev_from(y0, ny + GUARD),
         *ry = dev_from(y0, ny + GUARD), *rn = dev_out(nx);
    const vssm_norm_proj_args a = {
        dx, M, K, dg, dbe, 1e-5f, gate ? dz : NULL, (int64_t)ldz, xn, dw, bias ? db : NULL, N, act, acc, y};
    vssm_op_norm_proj(ctx, &a);
    if (gate)
        vssm_op_layernorm_gate(ctx, dx, M, K, dg, dbe, 1e-5f, dz, (int64_t)ldz, rn);
    else
        vssm_op_layernorm(ctx, dx, M, K, dg, dbe, 1e-5f, VSSM_ACT_NONE, rn);
    vssm_op_linear_packed(ctx, rn, M, K, dw, bias ? db : NULL, N, act, acc, ry);
    char what[112];
    snprintf(what, sizeof what, "norm_proj M=%lld K=%d N=%d act=%d acc=%d bias=%d gate=%d", (long long)M, K, N,
             (int)act, acc, bias, gate);
    float *got = host_of(y, ny, what), *ref = host_of(ry, ny, what);
    TEST_CHECK(!memcmp(got, ref, ny * sizeof(float)), "%s: differs from layernorm%s + linear_packed", what,
               gate ? "_gate" : "");
    vssm_err e = {0};
    TEST_CHECK(vssm_op_status(ctx, what, &e) == VSSM_OK, "%s: %s", what, e.msg);
    free(x), free(g), free(be), free(w), free(b), free(z), free(y0), free(got), free(ref);
    void *d[] = {dx, dg, dbe, dw, db, dz, xn, y, ry, rn};
    for (size_t i = 0; i < sizeof d / sizeof *d; i++) vssm_op_free(ctx, d[i]);
}

/* mlp (ops.h): x += fc2(act(fc1(LayerNorm(x)))) in one call gives the bits of norm_proj then
 * linear_packed (accumulate); shapes fused on the CPU (short rows, weights within its L2, a
 * row block per thread: VMamba-T's stages 1 and 2, a partial last block) and not (long rows,
 * few rows), with and without the biases. */
static void test_mlp(int64_t M, int K, int N, vssm_act act, int bias) {
    covered_by("layernorm");
    const size_t nx = (size_t)M * K, nh = (size_t)M * N;
    float *x0 = rand_vec(nx + GUARD, 2), *g = rand_vec(K, 1), *be = rand_vec(K, 0.5f),
          *w1 = rand_vec((size_t)N * K, 0.3f), *b1 = rand_vec(N, 0.5f), *w2 = rand_vec((size_t)K * N, 0.1f),
          *b2 = rand_vec(K, 0.5f);
    for (size_t i = 0; i < nx; i++) x0[i] += 3.0f; /* an offset mean */
    for (size_t i = nx; i < nx + GUARD; i++) x0[i] = GUARD_VAL;
    void *x = dev_from(x0, nx + GUARD), *rx = dev_from(x0, nx + GUARD), *dg = dev_from(g, K), *dbe = dev_from(be, K),
         *dw1 = dev_packed(w1, N, K), *db1 = dev_from(b1, N), *dw2 = dev_packed(w2, K, N), *db2 = dev_from(b2, K),
         *xn = dev_out(nx), *h = dev_out(nh), *rn = dev_out(nx), *rh = dev_out(nh);
    const vssm_mlp_args a = {x, M, K, dg, dbe, 1e-5f, dw1, bias ? db1 : NULL, N, act, dw2, bias ? db2 : NULL, xn, h};
    vssm_op_mlp(ctx, &a);
    const vssm_norm_proj_args n = {rx, M, K, dg, dbe, 1e-5f, NULL, 0, rn, dw1, bias ? db1 : NULL, N, act, 0, rh};
    vssm_op_norm_proj(ctx, &n);
    vssm_op_linear_packed(ctx, rh, M, N, dw2, bias ? db2 : NULL, K, VSSM_ACT_NONE, 1, rx);
    char what[96];
    snprintf(what, sizeof what, "mlp M=%lld K=%d N=%d act=%d bias=%d", (long long)M, K, N, (int)act, bias);
    float *got = host_of(x, nx, what), *ref = host_of(rx, nx, what);
    TEST_CHECK(!memcmp(got, ref, nx * sizeof(float)), "%s: differs from norm_proj + linear_packed", what);
    vssm_err e = {0};
    TEST_CHECK(vssm_op_status(ctx, what, &e) == VSSM_OK, "%s: %s", what, e.msg);
    free(x0), free(g), free(be), free(w1), free(b1), free(w2), free(b2), free(got), free(ref);
    void *d[] = {x, rx, dg, dbe, dw1, db1, dw2, db2, xn, h, rn, rh};
    for (size_t i = 0; i < sizeof d / sizeof *d; i++) vssm_op_free(ctx, d[i]);
}

/* VMamba-T's own sizes (stages 1 and 2) are left out with VSSM_TEST_SHORT (testutil.h): under
 * QEMU's Haswell they took ~85 of test_ops' 133 s (45 s without them); the small fused cases
 * keep every fused form covered there */
static int full_size_cases(void) {
    static int said;
    if (!test_short()) return 1;
    if (!said) printf("VSSM_TEST_SHORT: norm_proj and mlp at VMamba-T's stage 1 and 2 sizes left out\n");
    said = 1;
    return 0;
}

static void cases_mlp(void) {
    if (full_size_cases()) {
        test_mlp(3136, 96, 384, VSSM_ACT_GELU, 1); /* VMamba-T stage 1: fused */
        test_mlp(784, 192, 768, VSSM_ACT_GELU, 1); /* stage 2: fused where the L2 holds 1.2 MB of weights */
    }
    test_mlp(201, 40, 70, VSSM_ACT_NONE, 0);  /* a last block of 33 rows, no biases: fused */
    test_mlp(201, 40, 70, VSSM_ACT_GELU, 1);  /* the same with stage 1's GELU and biases */
    test_mlp(100, 96, 33, VSSM_ACT_GELU, 1);  /* fewer rows than 2 blocks: the two ops */
    test_mlp(150, 384, 50, VSSM_ACT_GELU, 1); /* long rows: the two ops */
}

static void cases_layernorm_gate(void) {
    test_layernorm_gate(13, 7, 14, 0);
    test_layernorm_gate(9, 192, 384, 1); /* v0's call: in place, z the second half of in_proj's rows */
    if (full_size_cases()) {
        test_norm_proj(3136, 96, 384, VSSM_ACT_GELU, 0, 1, 0); /* VMamba-T stage 1 fc1: fused */
        test_norm_proj(784, 192, 192, VSSM_ACT_NONE, 1, 0, 0); /* stage 2 out_proj (accumulate): fused */
    }
    test_norm_proj(201, 40, 70, VSSM_ACT_NONE, 0, 1, 1);  /* the gate, a last block of 33 rows: fused */
    test_norm_proj(201, 40, 70, VSSM_ACT_GELU, 0, 1, 0);  /* stage 1 fc1's form, small: fused */
    test_norm_proj(201, 40, 70, VSSM_ACT_NONE, 1, 0, 0);  /* out_proj's form (accumulate), small: fused */
    test_norm_proj(100, 96, 33, VSSM_ACT_SILU, 0, 1, 0);  /* fewer rows than 2 blocks: the two ops */
    test_norm_proj(150, 384, 50, VSSM_ACT_NONE, 1, 1, 0); /* long rows: the two ops */
    cases_mlp();
}
static void cases_avgpool(void) { test_avgpool(3, 13, 21); }
static void cases_ss2d_scan(void) {
    test_scan(1, 5, 7, 16, 1, 1);   /* one full SIMD block */
    test_scan(2, 7, 5, 19, 2, 1);   /* a tail block, batch 2 */
    test_scan(1, 9, 11, 37, 3, 2);  /* L = 99: chunks of 32 plus a partial one; d_state 2 */
    test_scan(1, 1, 1, 5, 1, 4);    /* a single token */
    test_scan(1, 3, 40, 8, 2, 3);   /* wide, short */
    test_scan(2, 9, 11, 37, 3, 1);  /* d_state 1 fused pass: partial chunk, full and tail blocks */
    test_scan(1, 4, 9, 149, 2, 16); /* 10 blocks: 2 per task at 2 threads, the last pair with a tail */
}
static void cases_rmsnorm(void) {
    test_rmsnorm(13, 7);
    test_rmsnorm(5, 192);
}
static void cases_conv1d(void) {
    test_conv1d(2, 37, 19, 40, 4, 0, VSSM_ACT_SILU);
    test_conv1d(2, 37, 19, 40, 4, 1, VSSM_ACT_SILU);
    test_conv1d(1, 3, 33, 33, 4, 1, VSSM_ACT_NONE); /* L < K */
    test_conv1d(1, 1, 5, 8, 2, 0, VSSM_ACT_GELU);
    /* C = 100: the CPU's sliding window in blocks of vectors, then single vectors, then the tail */
    test_conv1d(1, 23, 100, 200, 4, 0, VSSM_ACT_SILU);
    test_conv1d(1, 23, 100, 200, 4, 1, VSSM_ACT_NONE);
    test_conv1d(2, 5, 120, 120, 4, 1, VSSM_ACT_SILU); /* one token with every tap inside per image */
}
/* Both directions in one call (a.next, Vim's forward) give the bits of two calls, the second
 * accumulating; a next that would write elsewhere or overwrite is refused. */
static void test_scan1d_pair(int B, int64_t L, int D, int R, int N) {
    covered_by("scan1d");
    const int C2 = R + 2 * N;
    const size_t nu = (size_t)B * L * D, nx = (size_t)B * L * C2, ldz = (size_t)D + 3;
    void *dev[2][7];
    for (int d = 0; d < 2; d++) {
        float *h[7] = {rand_vec(nu, 1),
                       rand_vec(nx, 1),
                       rand_vec((size_t)B * L * ldz, 2),
                       rand_vec((size_t)R * D, 0.5f),
                       rand_vec(D, 2),
                       rand_vec((size_t)N * D, 1),
                       rand_vec(D, 1)};
        for (int c = 0; c < D; c++) h[4][c] -= 3.0f;
        for (size_t i = 0; i < (size_t)N * D; i++) h[5][i] = -expf(h[5][i]);
        const size_t n[7] = {nu, nx, (size_t)B * L * ldz, (size_t)R * D, D, (size_t)N * D, D};
        for (int k = 0; k < 7; k++) dev[d][k] = dev_from(h[k], n[k]), free(h[k]);
    }
    void *y2 = dev_out(nu), *y1 = dev_out(nu);
    vssm_scan1d_args a[2];
    for (int d = 0; d < 2; d++)
        a[d] = (vssm_scan1d_args){
            B,         D,         R,         N,         L,  d,    d,   dev[d][0], dev[d][1], dev[d][2], (int64_t)ldz,
            dev[d][3], dev[d][4], dev[d][5], dev[d][6], y2, NULL, NULL};
    vssm_op_scan1d(ctx, &a[0]), vssm_op_scan1d(ctx, &a[1]); /* two calls */
    a[0].y = a[1].y = y1, a[0].next = &a[1];
    vssm_op_scan1d(ctx, &a[0]); /* one */
    char what[96];
    snprintf(what, sizeof what, "scan1d pair B=%d L=%lld D=%d R=%d N=%d", B, (long long)L, D, R, N);
    float *two = host_of(y2, nu, what), *one = host_of(y1, nu, what);
    TEST_CHECK(!memcmp(one, two, nu * sizeof(float)), "%s: one call differs from two calls", what);
    /* a shared gate with SiLU(z) kept in place (zs = z, Vim's forward) against two calls on a
     * copy of that gate: the same bits */
    const size_t nz = (size_t)B * L * ldz;
    float *zh = malloc(nz * sizeof(float)); /* an input: no guard to read */
    vssm_op_sync(ctx);
    vssm_op_download(ctx, zh, dev[0][2], nz * sizeof(float));
    void *zc = dev_from(zh, nz), *y3 = dev_out(nu);
    a[0].next = NULL, a[0].y = a[1].y = y3, a[0].z = a[1].z = zc;
    vssm_op_scan1d(ctx, &a[0]), vssm_op_scan1d(ctx, &a[1]);
    float *ref = host_of(y3, nu, what);
    a[0].y = a[1].y = y1, a[0].z = a[1].z = dev[0][2], a[0].next = &a[1], a[0].zs = dev[0][2];
    vssm_op_scan1d(ctx, &a[0]);
    float *got = host_of(y1, nu, what);
    TEST_CHECK(!memcmp(got, ref, nu * sizeof(float)), "%s: the gate kept in zs changes the bits", what);
    /* zs without a next, or with a next gated by another z, is refused */
    {
        vssm_err e0 = {0};
        a[0].next = NULL;
        vssm_op_scan1d(ctx, &a[0]);
        TEST_CHECK(vssm_op_status(ctx, "zs", &e0) != VSSM_OK, "%s: zs without a next is refused", what);
        a[0].next = &a[1], a[1].z = zc;
        vssm_op_scan1d(ctx, &a[0]);
        TEST_CHECK(vssm_op_status(ctx, "zs", &e0) != VSSM_OK, "%s: zs with another z in next is refused", what);
        a[1].z = a[0].z, a[0].zs = NULL;
    }
    free(zh), free(ref), free(got);
    vssm_op_free(ctx, zc), vssm_op_free(ctx, y3);
    /* a next writing another y, or not accumulating, breaks the precondition: refused */
    vssm_err err = {0};
    a[1].y = y2;
    vssm_op_scan1d(ctx, &a[0]);
    TEST_CHECK(vssm_op_status(ctx, "pair", &err) != VSSM_OK && strstr(err.msg, "scan1d"),
               "%s: a next with another y is refused (%s)", what, err.msg);
    a[1].y = y1, a[1].accumulate = 0;
    vssm_op_scan1d(ctx, &a[0]);
    TEST_CHECK(vssm_op_status(ctx, "pair", &err) != VSSM_OK, "%s: a next that overwrites is refused", what);
    free(one), free(two);
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < 7; k++) vssm_op_free(ctx, dev[d][k]);
    vssm_op_free(ctx, y1), vssm_op_free(ctx, y2);
}

static void cases_scan1d(void) {
    test_scan1d(2, 37, 19, 2, 16, 0, 1, 0);  /* d_state 16, a tail block, gated */
    test_scan1d(2, 37, 19, 2, 16, 1, 1, 1);  /* the backward branch: reverse + accumulate */
    test_scan1d(1, 70, 32, 3, 5, 1, 0, 0);   /* chunks of 32 plus a partial one, d_state 5 */
    test_scan1d(1, 1, 7, 1, 16, 0, 1, 1);    /* a single token */
    test_scan1d(3, 9, 48, 20, 64, 0, 1, 0);  /* the largest d_state, R > 16 lanes */
    test_scan1d(1, 45, 149, 2, 16, 1, 1, 1); /* 10 blocks: 2 per task at 2 threads, a tail in the last pair */
    test_scan1d_pair(2, 45, 149, 3, 16);     /* both directions in one call */
}
static void cases_patchify(void) {
    test_patchify(2, 35, 21, 3, 16, 16, -1, 0); /* 2x1 grid, remainders dropped */
    test_patchify(2, 40, 48, 3, 16, 8, 5, 0);   /* stride 8 (overlap), class row after patch 4 */
    test_patchify(1, 24, 16, 2, 8, 8, -1, 3);   /* rows offset (one-stream search part) */
    test_patchify(1, 24, 40, 3, 8, 8, -1, 0);   /* RGB, patches other than 16 x 16 */
}
static void cases_rows_add(void) {
    test_rows_add(2, 7, 5, 3);
    test_rows_add(1, 4, 33, -1);
}

static void cases_dwconv3x3_bias(void) {
    test_dwconv_any(2, 5, 7, 19, VSSM_ACT_SILU, 38, 1); /* the x half of a (.., 2C) in_proj output */
    test_dwconv_any(1, 1, 1, 33, VSSM_ACT_NONE, 33, 1);
    test_dwconv_any(3, 6, 3, 40, VSSM_ACT_GELU, 45, 0);
    test_dwconv_any(1, 2, 6, 17, VSSM_ACT_NONE, 20, 1); /* two tap rows everywhere, bias, ldx > C */
}
static void cases_mul_silu(void) {
    test_mul_silu(37, 19, 38);
    test_mul_silu(3, 64, 64);
}
static void cases_patch_merge(void) {
    test_patch_merge(3, 7, 5, 6); /* odd H and W: zero-padded last row and column */
    test_patch_merge(1, 8, 6, 33);
    test_patch_merge(2, 1, 1, 3);
}

static const struct {
    const char *op;
    void (*run)(void);
} cases[] = {
    {"linear", cases_linear},       {"conv3x3s2", cases_conv3x3s2},     {"dwconv3x3", cases_dwconv3x3},
    {"layernorm", cases_layernorm}, {"avgpool", cases_avgpool},         {"ss2d_scan", cases_ss2d_scan},
    {"rmsnorm", cases_rmsnorm},     {"conv1d", cases_conv1d},           {"scan1d", cases_scan1d},
    {"patchify", cases_patchify},   {"rows_add", cases_rows_add},       {"dwconv3x3_bias", cases_dwconv3x3_bias},
    {"mul_silu", cases_mul_silu},   {"patch_merge", cases_patch_merge}, {"layernorm_gate", cases_layernorm_gate},
};

/* Shape preconditions hold in every build (Release too): a broken call is skipped, leaves
 * its output alone, and is reported once, by name, by the next status check. */
static void check_preconditions(void) {
    vssm_err err = {0};
    TEST_CHECK(vssm_op_status(ctx, "nothing", &err) == VSSM_OK, "no error pending: %s", err.msg);
    float *x = vssm_op_alloc(ctx, 64 * sizeof(float)), *y = vssm_op_alloc(ctx, 64 * sizeof(float));
    float host[64], back[64];
    for (int i = 0; i < 64; i++) host[i] = 7.0f;
    TEST_REQUIRE(x && y && vssm_op_upload(ctx, y, host, sizeof host) == 0, "buffers");
    vssm_op_linear(ctx, x, 4, 3, x, NULL, 0, VSSM_ACT_NONE, 0, y); /* N = 0 */
    vssm_op_avgpool(ctx, x, 2, 0, 4, y);                           /* L = 0: the second is not recorded */
    TEST_CHECK(vssm_op_sync(ctx) != 0, "sync reports a refused op");
    vssm_status s = vssm_op_status(ctx, "test", &err);
    TEST_CHECK(s == VSSM_ERR_INVALID_ARG && strstr(err.msg, "op linear") && strstr(err.msg, "N >= 1"),
               "the first refused op is named with its precondition: %s", err.msg);
    TEST_CHECK(vssm_op_status(ctx, "test", &err) == VSSM_OK && vssm_op_sync(ctx) == 0,
               "the record is cleared once reported");
    TEST_REQUIRE(vssm_op_download(ctx, back, y, sizeof back) == 0, "download");
    TEST_CHECK(back[0] == 7.0f && back[63] == 7.0f, "a refused op leaves its output alone");
    vssm_op_rows_add(ctx, x, 1, 4, 4, x, 4, x); /* row 4 of 4 rows */
    vssm_tensor t = {0};
    t.data = y, t.dtype = VSSM_DTYPE_F32, t.ndim = 1, t.shape[0] = 64, t.device = vssm_ctx_device(ctx);
    TEST_CHECK(vssm_tensor_to_host(ctx, &t, back, &err) == VSSM_ERR_INVALID_ARG && strstr(err.msg, "op rows_add"),
               "copying a result out reports the refused op: %s", err.msg);
    vssm_op_free(ctx, x);
    vssm_op_free(ctx, y);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* test_ops [-b cpu|cuda] [-o OP] [-p N]
 *   -b  the backend (cuda: exit 77 without a GPU); a bare "cuda" argument is the same
 *   -o  only the cases of this op (a name of VSSM_COMPUTE_OPS)
 *   -p  perf mode: each selected group runs N more times after the checked run and its
 *       best wall time is printed (ms per group; a smoke check of speed, not a benchmark) */
int main(int argc, char **argv) {
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = 2;
    const char *only = NULL;
    int perf = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "cuda"))
            o.device = VSSM_DEVICE_CUDA;
        else if (!strcmp(argv[i], "-b") && i + 1 < argc) {
            const char *b = argv[++i];
            if (!strcmp(b, "cuda"))
                o.device = VSSM_DEVICE_CUDA;
            else if (strcmp(b, "cpu") != 0) {
                fprintf(stderr, "test_ops: unknown backend '%s'\n", b);
                return 2;
            }
        } else if (!strcmp(argv[i], "-o") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "-p") && i + 1 < argc)
            perf = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: test_ops [-b cpu|cuda] [-o OP] [-p N]\n");
            return 2;
        }
    }
    if (only) {
        int known = 0;
#define KNOWN_(name, kind, params, args, check) known |= !strcmp(only, #name);
        VSSM_COMPUTE_OPS(KNOWN_)
#undef KNOWN_
        if (!known) {
            fprintf(stderr, "test_ops: no op '%s' in VSSM_COMPUTE_OPS\n", only);
            return 2;
        }
    }
    vssm_err err = {0};
    if (vssm_ctx_new(&ctx, &o, &err) != VSSM_OK) {
        if (o.device == VSSM_DEVICE_CUDA) test_skip(err.msg);
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        if (only && strcmp(only, cases[c].op) != 0) continue;
        cases[c].run();
        if (perf > 0) {
            double best = 1e30;
            for (int r = 0; r < perf; r++) {
                double t = now_s();
                cases[c].run();
                vssm_op_sync(ctx);
                t = now_s() - t;
                if (t < best) best = t;
            }
            printf("  perf %-10s %8.3f ms per group of cases (best of %d, %s)\n", cases[c].op, best * 1e3, perf,
                   vssm_ctx_describe(ctx));
        }
    }
    if (!only) {
#define COVERED_(name, kind, params, args, check) \
    TEST_CHECK(is_covered(#name), "op '%s' has no case in test_ops", #name);
        VSSM_COMPUTE_OPS(COVERED_)
#undef COVERED_
        /* the table check vssm_ctx_new runs: complete here; an emptied slot is named */
        TEST_CHECK(vssm_ops_missing(vssm_ops_of(ctx)) == NULL, "the %s table is complete", vssm_ops_of(ctx)->name);
        vssm_ops t = *vssm_ops_of(ctx);
        t.scan1d = NULL;
        const char *miss = vssm_ops_missing(&t);
        TEST_CHECK(miss && !strcmp(miss, "scan1d"), "an empty slot is named (got %s)", miss ? miss : "none");
        t = *vssm_ops_of(ctx);
        t.scan_workspace = NULL;
        miss = vssm_ops_missing(&t);
        TEST_CHECK(miss && !strcmp(miss, "scan_workspace"), "an empty workspace query is named (got %s)",
                   miss ? miss : "none");
        check_preconditions();
    }
    vssm_ctx_free(ctx);
    return test_finish("test_ops");
}
