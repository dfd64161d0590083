/* tests/test_ops_bwd.c - every backward op of kernels/ops.h (VSSM_BACKWARD_OPS) against
 * central finite differences of a double-precision forward written here, on random inputs
 * of awkward sizes, through the backend-neutral op wrappers.
 *
 * A case names the forward's inputs (host floats) and which of them get gradients; the
 * op's gradient buffers start at random values (the ops accumulate) with guard values
 * after them. Checks, for every gradient:
 *   - max|got - start - fd| / max|fd| within the case's tolerance, fd = (f(p+h) - f(p-h)) / 2h
 *     of f = sum(dy * forward(p)) in double (h = 1e-4: truncation ~1e-9 relative);
 *     the start values are of the gradient's size, so the float add keeps its bits;
 *   - the same bits with 1, 2 and 3 threads (every sum runs over fixed blocks);
 *   - nothing written past the end, no NaN/Inf.
 * Also: every backward op has a case, every forward op has its backward (or is listed as
 * pending below), a table without backward ops is named, a bad label is reported.
 *
 * Usage: test_ops_bwd [-o OP]   (OP: a name of VSSM_BACKWARD_OPS) */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/ops.h"
#include "vssm/weights.h"
#include "testutil.h"

#define GUARD 16
#define GUARD_VAL 1234.5f
#define NT 3 /* thread counts 1..NT */
#define MAXP 8

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* uniform [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}
static float *rand_vec(size_t n, float scale) {
    float *v = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = scale * frand();
    return v;
}

static vssm_ctx *ctxs[NT];

/* Coverage: each case group marks its op; main checks every op of VSSM_BACKWARD_OPS is marked */
enum {
#define OP_ID_(name, kind, params, args, check) OP_##name,
    VSSM_BACKWARD_OPS(OP_ID_)
#undef OP_ID_
        OP_COUNT
};
static int op_covered[OP_COUNT];

static double gelu_d(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }
static double silu_d(double x) { return x / (1 + exp(-x)); }
static double act_d(double x, int act) {
    return act == VSSM_ACT_GELU ? gelu_d(x) : act == VSSM_ACT_SILU ? silu_d(x) : x;
}

/* A case: the forward's inputs p[0..np) (host floats, gradient wanted where grad[i]), the
 * output gradient dy, shape integers s[] and floats f[]; run() calls the backward op with
 * device pointers (dg[i] NULL where no gradient is wanted); fwd() is the double forward,
 * returning sum(dy * y). */
typedef struct bcase bcase;
struct bcase {
    char what[128];
    int np;
    const char *pname[MAXP];
    float *val[MAXP];
    size_t n[MAXP];
    int grad[MAXP];
    float *dy;
    size_t ny;
    int s[16];
    float f[4];
    int32_t *labels;
    double tol;
    void (*run)(const bcase *c, vssm_ctx *ctx, void *const *dv, void *const *dg, const void *ddy);
    double (*fwd)(const bcase *c, const double *const *p);
};

static void *dev_from(vssm_ctx *ctx, const void *host, size_t bytes) {
    void *d = vssm_op_alloc(ctx, bytes ? bytes : 1);
    if (bytes) vssm_op_upload(ctx, d, host, bytes);
    return d;
}

static void add_param(bcase *c, const char *name, float *v, size_t n, int grad) {
    c->pname[c->np] = name, c->val[c->np] = v, c->n[c->np] = n, c->grad[c->np] = grad;
    c->np++;
}

/* runs the op on context t: returns the gradients (host, start values included) */
static void run_on(const bcase *c, vssm_ctx *ctx, float *const *start, float **got) {
    void *dv[MAXP] = {0}, *dg[MAXP] = {0};
    for (int i = 0; i < c->np; i++) {
        dv[i] = dev_from(ctx, c->val[i], c->n[i] * sizeof(float));
        if (!c->grad[i]) continue;
        float *h = malloc((c->n[i] + GUARD) * sizeof(float));
        memcpy(h, start[i], c->n[i] * sizeof(float));
        for (int g = 0; g < GUARD; g++) h[c->n[i] + g] = GUARD_VAL;
        dg[i] = dev_from(ctx, h, (c->n[i] + GUARD) * sizeof(float));
        free(h);
    }
    void *ddy = dev_from(ctx, c->dy, c->ny * sizeof(float));
    c->run(c, ctx, dv, dg, ddy);
    vssm_err err = {0};
    TEST_CHECK(vssm_op_status(ctx, c->what, &err) == VSSM_OK, "%s: %s", c->what, err.msg);
    for (int i = 0; i < c->np; i++) {
        if (c->grad[i]) {
            got[i] = malloc((c->n[i] + GUARD) * sizeof(float));
            vssm_op_download(ctx, got[i], dg[i], (c->n[i] + GUARD) * sizeof(float));
            int ok = 1;
            for (int g = 0; g < GUARD; g++) ok &= got[i][c->n[i] + g] == GUARD_VAL;
            TEST_CHECK(ok, "%s: d%s written past its end", c->what, c->pname[i]);
            vssm_op_free(ctx, dg[i]);
        }
        vssm_op_free(ctx, dv[i]);
    }
    vssm_op_free(ctx, ddy);
}

/* the finite-difference gradient of fwd with respect to p[i] */
static double *fd_grad(const bcase *c, double **p, int i) {
    double *g = malloc((c->n[i] ? c->n[i] : 1) * sizeof(double));
    for (size_t j = 0; j < c->n[i]; j++) {
        const double v = p[i][j], h = 1e-4;
        p[i][j] = v + h;
        const double fp = c->fwd(c, (const double *const *)p);
        p[i][j] = v - h;
        const double fm = c->fwd(c, (const double *const *)p);
        p[i][j] = v;
        g[j] = (fp - fm) / (2 * h);
    }
    return g;
}

static void check_case(bcase *c) {
    float *start[MAXP] = {0}, *got[NT][MAXP] = {{0}};
    double *p[MAXP], *fd[MAXP] = {0}, fmx[MAXP] = {0};
    for (int i = 0; i < c->np; i++) {
        p[i] = malloc((c->n[i] ? c->n[i] : 1) * sizeof(double));
        for (size_t j = 0; j < c->n[i]; j++) p[i][j] = c->val[i][j];
    }
    for (int i = 0; i < c->np; i++) {
        if (!c->grad[i]) continue;
        fd[i] = fd_grad(c, p, i);
        for (size_t j = 0; j < c->n[i]; j++) fmx[i] = fmax(fmx[i], fabs(fd[i][j]));
        start[i] = rand_vec(c->n[i], (float)fmx[i]);
    }
    for (int t = 0; t < NT; t++) run_on(c, ctxs[t], start, got[t]);
    for (int i = 0; i < c->np; i++) {
        if (!c->grad[i]) continue;
        for (int t = 1; t < NT; t++)
            TEST_CHECK(!memcmp(got[0][i], got[t][i], c->n[i] * sizeof(float)), "%s: d%s differs with %d threads",
                       c->what, c->pname[i], t + 1);
        double md = 0;
        for (size_t j = 0; j < c->n[i]; j++) {
            const double d = isfinite(got[0][i][j]) ? fabs((double)got[0][i][j] - start[i][j] - fd[i][j]) : INFINITY;
            md = fmax(md, d);
        }
        const double e = fmx[i] > 0 ? md / fmx[i] : md;
        TEST_CHECK(e <= c->tol, "%s: d%s rel err %.3g > %.0e (max |grad| %.3g)", c->what, c->pname[i], e, c->tol,
                   fmx[i]);
    }
    for (int i = 0; i < c->np; i++) {
        free(p[i]);
        free(fd[i]);
        free(start[i]);
        free(c->val[i]);
        for (int t = 0; t < NT; t++) free(got[t][i]);
    }
    free(c->dy);
    free(c->labels);
}

/* ================================================================ linear */

static double fwd_linear(const bcase *c, const double *const *p) {
    const int M = c->s[0], K = c->s[1], N = c->s[2], act = c->s[3], bias = c->s[4];
    double L = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = bias ? p[2][j] : 0;
            for (int k = 0; k < K; k++) s += p[0][(size_t)i * K + k] * p[1][(size_t)j * K + k];
            L += c->dy[(size_t)i * N + j] * act_d(s, act);
        }
    return L;
}
static void run_linear(const bcase *c, vssm_ctx *ctx, void *const *dv, void *const *dg, const void *ddy) {
    vssm_op_linear_bwd(ctx, dv[0], c->s[0], c->s[1], dv[1], c->s[4] ? dv[2] : NULL, c->s[2], (vssm_act)c->s[3], ddy,
                       dg[0], dg[1], dg[2]);
}
/* wx, ww, wb: which gradients are wanted */
static void test_linear(int M, int K, int N, vssm_act act, int bias, int wx, int ww, int wb) {
    op_covered[OP_linear_bwd] = 1;
    bcase c = {.tol = 1e-5, .run = run_linear, .fwd = fwd_linear};
    snprintf(c.what, sizeof c.what, "linear_bwd M=%d K=%d N=%d act=%d bias=%d wants %d%d%d", M, K, N, act, bias, wx, ww,
             wb);
    add_param(&c, "x", rand_vec((size_t)M * K, 1), (size_t)M * K, wx);
    add_param(&c, "w", rand_vec((size_t)N * K, 0.3f), (size_t)N * K, ww);
    add_param(&c, "b", rand_vec(N, 1), N, wb && bias);
    c.dy = rand_vec((size_t)M * N, 1), c.ny = (size_t)M * N;
    c.s[0] = M, c.s[1] = K, c.s[2] = N, c.s[3] = act, c.s[4] = bias;
    check_case(&c);
}
static void cases_linear(void) {
    for (int act = 0; act < 3; act++) test_linear(37, 19, 23, (vssm_act)act, 1, 1, 1, 1);
    test_linear(5, 7, 3, VSSM_ACT_NONE, 0, 1, 1, 0);     /* few rows: the GEMM's direct path */
    test_linear(70, 40, 33, VSSM_ACT_GELU, 1, 0, 1, 1);  /* frozen input: no dx */
    test_linear(13, 600, 17, VSSM_ACT_SILU, 1, 1, 0, 0); /* K over one K block, only dx */
    test_linear(4100, 3, 2, VSSM_ACT_NONE, 1, 0, 1, 1);  /* dw over two row blocks of 4096 */
    test_linear(1, 1, 1, VSSM_ACT_GELU, 1, 1, 1, 1);
}

/* ================================================================ depthwise 3x3 */

static double fwd_dwconv(const bcase *c, const double *const *p) {
    const int B = c->s[0], H = c->s[1], W = c->s[2], C = c->s[3], act = c->s[4];
    double L = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int q = 0; q < W; q++)
                for (int k = 0; k < C; k++) {
                    double s = 0;
                    for (int kh = 0; kh < 3; kh++)
                        for (int kw = 0; kw < 3; kw++) {
                            const int ih = h - 1 + kh, iw = q - 1 + kw;
                            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                            s += p[0][(((size_t)b * H + ih) * W + iw) * C + k] * p[1][(kh * 3 + kw) * C + k];
                        }
                    L += c->dy[(((size_t)b * H + h) * W + q) * C + k] * act_d(s, act);
                }
    return L;
}
static void run_dwconv(const bcase *c, vssm_ctx *ctx, void *const *dv, void *const *dg, const void *ddy) {
    vssm_op_dwconv3x3_bwd(ctx, dv[0], c->s[0], c->s[1], c->s[2], c->s[3], dv[1], (vssm_act)c->s[4], ddy, dg[0], dg[1]);
}
static void test_dwconv(int B, int H, int W, int C, vssm_act act) {
    op_covered[OP_dwconv3x3_bwd] = 1;
    bcase c = {.tol = 1e-5, .run = run_dwconv, .fwd = fwd_dwconv};
    snprintf(c.what, sizeof c.what, "dwconv3x3_bwd B=%d %dx%d C=%d act=%d", B, H, W, C, act);
    const size_t n = (size_t)B * H * W * C;
    add_param(&c, "x", rand_vec(n, 1), n, 1);
    add_param(&c, "w", rand_vec((size_t)9 * C, 0.5f), (size_t)9 * C, 1);
    c.dy = rand_vec(n, 1), c.ny = n;
    c.s[0] = B, c.s[1] = H, c.s[2] = W, c.s[3] = C, c.s[4] = act;
    check_case(&c);
}
static void cases_dwconv3x3(void) {
    test_dwconv(2, 5, 7, 19, VSSM_ACT_SILU);
    test_dwconv(1, 1, 1, 33, VSSM_ACT_NONE);
    test_dwconv(1, 6, 3, 40, VSSM_ACT_GELU);
    test_dwconv(1, 2, 9, 3, VSSM_ACT_NONE);
}

/* ================================================================ 3x3 stride 2 */

static double fwd_conv(const bcase *c, const double *const *p) {
    const int B = c->s[0], H = c->s[1], W = c->s[2], Ci = c->s[3], Co = c->s[4], Ho = (H + 1) / 2, Wo = (W + 1) / 2;
    double L = 0;
    for (int b = 0; b < B; b++)
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++)
                for (int o = 0; o < Co; o++) {
                    double s = p[2][o];
                    for (int kh = 0; kh < 3; kh++)
                        for (int kw = 0; kw < 3; kw++) {
                            const int ih = 2 * oh - 1 + kh, iw = 2 * ow - 1 + kw;
                            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                            for (int i = 0; i < Ci; i++)
                                s += p[0][(((size_t)b * H + ih) * W + iw) * Ci + i] *
                                     p[1][(((size_t)o * 3 + kh) * 3 + kw) * Ci + i];
                        }
                    L += c->dy[(((size_t)b * Ho + oh) * Wo + ow) * Co + o] * s;
                }
    return L;
}
static void run_conv(const bcase *c, vssm_ctx *ctx, void *const *dv, void *const *dg, const void *ddy) {
    vssm_op_conv3x3s2_bwd(ctx, dv[0], c->s[0], c->s[1], c->s[2], c->s[3], dv[1], c->s[4], ddy, dg[0], dg[1], dg[2]);
}
/* w in the op's plain layout (Cout, 3, 3, Cin) */
static void test_conv(int B, int H, int W, int Ci, int Co, int wx) {
    op_covered[OP_conv3x3s2_bwd] = 1;
    bcase c = {.tol = 1e-5, .run = run_conv, .fwd = fwd_conv};
    snprintf(c.what, sizeof c.what, "conv3x3s2_bwd B=%d %dx%d %d->%d%s", B, H, W, Ci, Co, wx ? "" : " no dx");
    const size_t nx = (size_t)B * H * W * Ci, ny = (size_t)B * ((H + 1) / 2) * ((W + 1) / 2) * Co;
    add_param(&c, "x", rand_vec(nx, 1), nx, wx);
    add_param(&c, "w", rand_vec((size_t)Co * 9 * Ci, 0.3f), (size_t)Co * 9 * Ci, 1);
    add_param(&c, "b", rand_vec(Co, 1), Co, 1);
    c.dy = rand_vec(ny, 1), c.ny = ny;
    c.s[0] = B, c.s[1] = H, c.s[2] = W, c.s[3] = Ci, c.s[4] = Co;
    check_case(&c);
}
static void cases_conv3x3s2(void) {
    test_conv(2, 9, 7, 3, 5, 1);
    test_conv(1, 1, 1, 4, 6, 1);
    test_conv(1, 8, 6, 8, 16, 1);
    test_conv(1, 5, 11, 3, 48, 0); /* the RGB stem: no input gradient */
}

/* ================================================================ causal conv1d */

static double fwd_conv1d(const bcase *c, const double *const *p) {
    const int B = c->s[0], L = c->s[1], C = c->s[2], K = c->s[3], rev = c->s[4], act = c->s[5], ldx = c->s[6];
    double tot = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++)
            for (int k = 0; k < C; k++) {
                double s = p[2][k];
                for (int j = 0; j < K; j++) {
                    const int src = rev ? t + (K - 1) - j : t - (K - 1) + j;
                    if (src >= 0 && src < L) s += p[1][(size_t)j * C + k] * p[0][((size_t)b * L + src) * ldx + k];
                }
                tot += c->dy[((size_t)b * L + t) * C + k] * act_d(s, act);
            }
    return tot;
}
static void run_conv1d(const bcase *c, vssm_ctx *ctx, void *const *dv, void *const *dg, const void *ddy) {
    vssm_op_conv1d_bwd(ctx, dv[0], c->s[6], c->s[0], c->s[1], c->s[2], dv[1], dv[2], c->s[3], c->s[4],
                       (vssm_act)c->s[5], ddy, dg[0], dg[1], dg[2]);
}
static void test_conv1d(int B, int L, int C, int ldx, int K, int reverse, vssm_act act) {
    op_covered[OP_conv1d_bwd] = 1;
    bcase c = {.tol = 1e-5, .run = run_conv1d, .fwd = fwd_conv1d};
    snprintf(c.what, sizeof c.what, "conv1d_bwd B=%d L=%d C=%d ldx=%d K=%d reverse=%d act=%d", B, L, C, ldx, K, reverse,
             act);
    add_param(&c, "x", rand_vec((size_t)B * L * ldx, 1), (size_t)B * L * ldx, 1);
    add_param(&c, "w", rand_vec((size_t)K * C, 0.5f), (size_t)K * C, 1);
    add_param(&c, "bias", rand_vec(C, 1), C, 1);
    c.dy = rand_vec((size_t)B * L * C, 1), c.ny = (size_t)B * L * C;
    c.s[0] = B, c.s[1] = L, c.s[2] = C, c.s[3] = K, c.s[4] = reverse, c.s[5] = act, c.s[6] = ldx;
    check_case(&c);
}
static void cases_conv1d(void) {
    test_conv1d(2, 37, 19, 40, 4, 0, VSSM_ACT_SILU);
    test_conv1d(2, 70, 19, 19, 4, 1, VSSM_ACT_SILU); /* two token blocks */
    test_conv1d(1, 3, 33, 33, 4, 1, VSSM_ACT_NONE);  /* L < K */
    test_conv1d(1, 1, 5, 8, 2, 0, VSSM_ACT_GELU);
}

/* ================================================================ patch extraction */

static double fwd_patchify(const bcase *c, const double *const *p) {
    const int B = c->s[0], H = c->s[1], W = c->s[2], C = c->s[3], P = c->s[4], S = c->s[5], skip = c->s[6];
    const int rows = c->s[7], row0 = c->s[8], gh = (H - P) / S + 1, gw = (W - P) / S + 1, KC = C * P * P;
    double L = 0;
    for (int b = 0; b < B; b++)
        for (int m = 0; m < gh * gw; m++) {
            const int row = row0 + m + (skip >= 0 && m >= skip);
            for (int k = 0; k < KC; k++) {
                const int ch = k / (P * P), ky = k % (P * P) / P, kx = k % P;
                const int yy = m / gw * S + ky, xx = m % gw * S + kx;
                L += c->dy[((size_t)b * rows + row) * KC + k] * p[0][(((size_t)b * H + yy) * W + xx) * C + ch];
            }
        }
    return L;
}
static void run_patchify(const bcase *c, vssm_ctx *ctx, void *const *dv, void *const *dg, const void *ddy) {
    vssm_patch_args a = {c->s[0], c->s[1], c->s[2], c->s[3], c->s[4], c->s[5], c->s[7], c->s[8], c->s[6], NULL, NULL};
    vssm_op_patchify_bwd(ctx, &a, ddy, dg[0]);
}
static void test_patchify(int B, int H, int W, int C, int P, int S, int skip, int row0) {
    op_covered[OP_patchify_bwd] = 1;
    bcase c = {.tol = 1e-6, .run = run_patchify, .fwd = fwd_patchify};
    snprintf(c.what, sizeof c.what, "patchify_bwd B=%d %dx%d C=%d P=%d S=%d skip=%d", B, H, W, C, P, S, skip);
    const int gh = (H - P) / S + 1, gw = (W - P) / S + 1, rows = gh * gw + (skip >= 0) + row0;
    add_param(&c, "x", rand_vec((size_t)B * H * W * C, 1), (size_t)B * H * W * C, 1);
    c.ny = (size_t)B * rows * C * P * P, c.dy = rand_vec(c.ny, 1);
    c.s[0] = B, c.s[1] = H, c.s[2] = W, c.s[3] = C, c.s[4] = P, c.s[5] = S, c.s[6] = skip, c.s[7] = rows;
    c.s[8] = row0;
    check_case(&c);
}
static void cases_patchify(void) {
    test_patchify(2, 35, 21, 3, 16, 16, -1, 0); /* 2x1 grid, remainders get no gradient */
    test_patchify(1, 40, 30, 2, 16, 8, 5, 0);   /* stride 8: overlapping patches, class row after patch 4 */
    test_patchify(1, 13, 11, 3, 5, 3, -1, 3);   /* stride 3 of 5, rows offset */
}

/* ================================================================ selective scans */

static double softplus_d(double x) { return x > 20 ? x : log1p(exp(x)); }

/* A = -exp(A_logs) for the op (the loader's transform); the gradient is the A_logs one */
static void *dev_neg_exp(vssm_ctx *ctx, const float *alog, size_t n) {
    float *h = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) h[i] = -expf(alog[i]);
    void *d = dev_from(ctx, h, n * sizeof(float));
    free(h);
    return d;
}

/* params: u (B,H,W,D), x_proj (K*C2, D) plain, dt_w (K,R,D), dt_b (K,D), A_logs (K,N,D), Ds (K,D) */
static double fwd_ss2d(const bcase *c, const double *const *p) {
    const int B = c->s[0], H = c->s[1], W = c->s[2], D = c->s[3], R = c->s[4], N = c->s[5], K = 4, C2 = R + 2 * N;
    const int L = H * W;
    double *xd = malloc((size_t)L * K * C2 * sizeof(double)), tot = 0;
    for (int b = 0; b < B; b++) {
        const double *u = p[0] + (size_t)b * L * D;
        for (int q = 0; q < L; q++)
            for (int j = 0; j < K * C2; j++) {
                double s = 0;
                for (int e = 0; e < D; e++) s += p[1][(size_t)j * D + e] * u[(size_t)q * D + e];
                xd[(size_t)q * K * C2 + j] = s;
            }
        for (int k = 0; k < K; k++)
            for (int ch = 0; ch < D; ch++) {
                double h[VSSM_SCAN_MAX_STATE] = {0};
                for (int t = 0; t < L; t++) {
                    const int q = k >= 2 ? L - 1 - t : t, pos = k & 1 ? (q % H) * W + q / H : q;
                    const double *x = xd + (size_t)pos * K * C2 + (size_t)k * C2, uu = u[(size_t)pos * D + ch];
                    double dt = p[3][k * D + ch];
                    for (int r = 0; r < R; r++) dt += p[2][((size_t)k * R + r) * D + ch] * x[r];
                    const double dl = softplus_d(dt);
                    double y = p[5][k * D + ch] * uu;
                    for (int n = 0; n < N; n++) {
                        h[n] = exp(dl * -exp(p[4][((size_t)k * N + n) * D + ch])) * h[n] + dl * x[R + n] * uu;
                        y += x[R + N + n] * h[n];
                    }
                    tot += c->dy[((size_t)b * L + pos) * D + ch] * y;
                }
            }
    }
    free(xd);
    return tot;
}
static void run_ss2d(const bcase *c, vssm_ctx *ctx, void *const *dv, void *const *dg, const void *ddy) {
    void *A = dev_neg_exp(ctx, c->val[4], c->n[4]);
    vssm_scan_args a = {c->s[0], c->s[1], c->s[2], c->s[3], c->s[4], c->s[5], dv[0],
                        dv[1],   dv[2],   dv[3],   A,       dv[5],   NULL,    NULL};
    vssm_scan_grads g = {dg[0], dg[1], dg[2], dg[3], dg[4], dg[5]};
    vssm_op_ss2d_scan_bwd(ctx, &a, ddy, &g);
    vssm_op_free(ctx, A);
}
static void test_ss2d(int B, int H, int W, int D, int R, int N, int wu) {
    op_covered[OP_ss2d_scan_bwd] = 1;
    const int K = 4, C2 = R + 2 * N;
    const size_t nu = (size_t)B * H * W * D;
    bcase c = {.tol = 1e-5, .run = run_ss2d, .fwd = fwd_ss2d};
    snprintf(c.what, sizeof c.what, "ss2d_scan_bwd B=%d %dx%d D=%d R=%d N=%d%s", B, H, W, D, R, N, wu ? "" : " no du");
    add_param(&c, "u", rand_vec(nu, 1), nu, wu);
    add_param(&c, "x_proj", rand_vec((size_t)K * C2 * D, 0.5f), (size_t)K * C2 * D, 1);
    add_param(&c, "dt_w", rand_vec((size_t)K * R * D, 0.5f), (size_t)K * R * D, 1);
    float *dtb = rand_vec((size_t)K * D, 1);
    for (int i = 0; i < K * D; i++) dtb[i] -= 2.0f; /* softplus ~ 0.1: states carry across many steps */
    dtb[1] = 25.0f;                                 /* one channel above the softplus threshold */
    dtb[2] = 5.0f; /* one between: softplus' derivative sigmoid(dt) ~ 0.993, not 1 (a cut at 2 went unseen) */
    add_param(&c, "dt_b", dtb, (size_t)K * D, 1);
    add_param(&c, "A_logs", rand_vec((size_t)K * N * D, 1), (size_t)K * N * D, 1);
    add_param(&c, "Ds", rand_vec((size_t)K * D, 1), (size_t)K * D, 1);
    c.dy = rand_vec(nu, 1), c.ny = nu;
    c.s[0] = B, c.s[1] = H, c.s[2] = W, c.s[3] = D, c.s[4] = R, c.s[5] = N;
    check_case(&c);
}
/* ---- the same ops against PyTorch autograd through the float64 reference scans of
 * vmamba_ref.py / vim_ref.py (tests/reference/gen_scan_grad_vectors.py): inputs, dy and
 * gradients in the op's layouts; gradients from zero, each within 1e-5 of autograd's */

static vssm_weights *wf; /* opened on first use, closed by main */
static vssm_weights *grad_vectors(void) {
    if (!wf) {
        char *path = test_data_path("train/scan_grads.safetensors");
        vssm_err err = {0};
        TEST_REQUIRE(vssm_weights_open(&wf, path, NULL, &err) == VSSM_OK, "%s: %s", path, err.msg);
        free(path);
    }
    return wf;
}
static int vec_meta(const char *k) {
    const char *v = vssm_weights_meta(grad_vectors(), k);
    TEST_REQUIRE(v != NULL, "scan_grads.safetensors: no metadata '%s'", k);
    return atoi(v);
}
/* tensor name (n floats) on the host (caller frees) */
static float *vec_get(const char *prefix, const char *name, size_t n) {
    char full[96];
    snprintf(full, sizeof full, "%s.%s", prefix, name);
    vssm_tensor t;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_weights_get(grad_vectors(), full, &t, &err) == VSSM_OK, "%s: %s", full, err.msg);
    TEST_REQUIRE((size_t)vssm_tensor_numel(&t) == n, "%s: %lld elements, %zu expected", full,
                 (long long)vssm_tensor_numel(&t), n);
    float *h = malloc(n * sizeof(float));
    TEST_REQUIRE(h && vssm_tensor_to_f32(&t, h, &err) == VSSM_OK, "%s: %s", full, err.msg);
    return h;
}
typedef struct vgrad {
    const char *name;
    size_t n;
    float *val, *dev, *dgrad; /* host input, its device copy, the device gradient (zeroed) */
} vgrad;
static void vgrads_load(vssm_ctx *ctx, const char *prefix, vgrad *v, int nv) {
    for (int i = 0; i < nv; i++) {
        v[i].val = vec_get(prefix, v[i].name, v[i].n);
        v[i].dev = dev_from(ctx, v[i].val, v[i].n * sizeof(float));
        float *z = calloc(v[i].n, sizeof(float));
        v[i].dgrad = dev_from(ctx, z, v[i].n * sizeof(float));
        free(z);
    }
}
/* each gradient against the stored one; frees everything */
static void vgrads_check(vssm_ctx *ctx, const char *prefix, vgrad *v, int nv, const char *what) {
    vssm_err err = {0};
    TEST_CHECK(vssm_op_status(ctx, what, &err) == VSSM_OK, "%s: %s", what, err.msg);
    for (int i = 0; i < nv; i++) {
        char gname[64];
        snprintf(gname, sizeof gname, "grad.%s", v[i].name);
        float *want = vec_get(prefix, gname, v[i].n), *got = malloc(v[i].n * sizeof(float));
        vssm_op_download(ctx, got, v[i].dgrad, v[i].n * sizeof(float));
        const double e = test_rel_err(got, want, v[i].n);
        TEST_CHECK(e <= 1e-5, "%s: d%s vs PyTorch autograd: rel err %.3g > 1e-5", what, v[i].name, e);
        printf("%s: d%s rel err %.2e\n", what, v[i].name, e);
        free(want), free(got), free(v[i].val);
        vssm_op_free(ctx, v[i].dev), vssm_op_free(ctx, v[i].dgrad);
    }
}

static void test_ss2d_autograd(void) {
    const int B = vec_meta("ss2d_B"), H = vec_meta("ss2d_H"), W = vec_meta("ss2d_W"), D = vec_meta("ss2d_D");
    const int R = vec_meta("ss2d_R"), N = vec_meta("ss2d_N"), K = 4;
    const size_t nu = (size_t)B * H * W * D;
    vssm_ctx *ctx = ctxs[NT - 1];
#define VG(nm, count) {.name = nm, .n = (size_t)(count)}
    vgrad v[] = {VG("u", nu),       VG("x_proj", K * (R + 2 * N) * D), VG("dt_w", K * R * D),
                 VG("dt_b", K * D), VG("A_logs", K * N * D),           VG("Ds", K * D)};
    vgrads_load(ctx, "ss2d", v, 6);
    float *dy = vec_get("ss2d", "dy", nu);
    void *ddy = dev_from(ctx, dy, nu * sizeof(float)), *A = dev_neg_exp(ctx, v[4].val, v[4].n);
    vssm_scan_args a = {B, H, W, D, R, N, v[0].dev, v[1].dev, v[2].dev, v[3].dev, A, v[5].dev, NULL, NULL};
    vssm_scan_grads g = {v[0].dgrad, v[1].dgrad, v[2].dgrad, v[3].dgrad, v[4].dgrad, v[5].dgrad};
    vssm_op_ss2d_scan_bwd(ctx, &a, ddy, &g);
    vgrads_check(ctx, "ss2d", v, 6, "ss2d_scan_bwd vs autograd (vmamba_ref SS2D.ssm)");
    vssm_op_free(ctx, ddy), vssm_op_free(ctx, A), free(dy);
}

static void test_scan1d_autograd(const char *prefix, int reverse) {
    const int B = vec_meta("s1_B"), L = vec_meta("s1_L"), D = vec_meta("s1_D"), R = vec_meta("s1_R");
    const int N = vec_meta("s1_N");
    const size_t nu = (size_t)B * L * D;
    vssm_ctx *ctx = ctxs[NT - 1];
    vgrad v[] = {VG("u", nu),   VG("xdbl", (size_t)B * L * (R + 2 * N)),
                 VG("z", nu),   VG("dt_w", R * D),
                 VG("dt_b", D), VG("A_logs", N * D),
                 VG("Ds", D)};
    vgrads_load(ctx, prefix, v, 7);
    float *dy = vec_get(prefix, "dy", nu);
    void *ddy = dev_from(ctx, dy, nu * sizeof(float)), *A = dev_neg_exp(ctx, v[5].val, v[5].n);
    vssm_scan1d_args a = {B,        D, R,        N,        L, reverse,  0,    v[0].dev, v[1].dev,
                          v[2].dev, D, v[3].dev, v[4].dev, A, v[6].dev, NULL, NULL,     NULL};
    vssm_scan1d_grads g = {v[0].dgrad, v[1].dgrad, v[2].dgrad, v[3].dgrad, v[4].dgrad, v[5].dgrad, v[6].dgrad};
    vssm_op_scan1d_bwd(ctx, &a, ddy, &g);
    vgrads_check(ctx, prefix, v, 7,
                 reverse ? "scan1d_bwd reverse vs autograd (vim_ref, flipped branch)"
                         : "scan1d_bwd vs autograd (vim_ref selective_scan_seq)");
    vssm_op_free(ctx, ddy), vssm_op_free(ctx, A), free(dy);
}

static void cases_ss2d_scan(void) {
    test_ss2d(1, 3, 5, 5, 2, 3, 1);
    test_ss2d(2, 9, 8, 19, 3, 1, 1); /* L = 72: two checkpoint chunks; two channel blocks, batch 2 */
    test_ss2d(1, 1, 1, 4, 1, 2, 0);  /* a single token, no du */
    test_ss2d_autograd();
}

/* params: u (B,L,D), xdbl (B,L,C2), z (B,L,ldz), dt_w (R,D), dt_b (D), A_logs (N,D), Ds (D) */
static double fwd_scan1d(const bcase *c, const double *const *p) {
    const int B = c->s[0], L = c->s[1], D = c->s[2], R = c->s[3], N = c->s[4], rev = c->s[5], gate = c->s[6];
    const int ldz = c->s[7], C2 = R + 2 * N;
    double tot = 0;
    for (int b = 0; b < B; b++)
        for (int ch = 0; ch < D; ch++) {
            double h[VSSM_SCAN_MAX_STATE] = {0};
            for (int s = 0; s < L; s++) {
                const int t = rev ? L - 1 - s : s;
                const double *x = p[1] + ((size_t)b * L + t) * C2, uu = p[0][((size_t)b * L + t) * D + ch];
                double dt = p[4][ch];
                for (int r = 0; r < R; r++) dt += p[3][(size_t)r * D + ch] * x[r];
                const double dl = softplus_d(dt);
                double y = p[6][ch] * uu;
                for (int n = 0; n < N; n++) {
                    h[n] = exp(dl * -exp(p[5][(size_t)n * D + ch])) * h[n] + dl * x[R + n] * uu;
                    y += x[R + N + n] * h[n];
                }
                if (gate) y *= silu_d(p[2][((size_t)b * L + t) * ldz + ch]);
                tot += c->dy[((size_t)b * L + t) * D + ch] * y;
            }
        }
    return tot;
}
static void run_scan1d(const bcase *c, vssm_ctx *ctx, void *const *dv, void *const *dg, const void *ddy) {
    void *A = dev_neg_exp(ctx, c->val[5], c->n[5]);
    vssm_scan1d_args a = {
        c->s[0], c->s[2], c->s[3], c->s[4], c->s[1], c->s[5], 0,    dv[0], dv[1], c->s[6] ? dv[2] : NULL,
        c->s[7], dv[3],   dv[4],   A,       dv[6],   NULL,    NULL, NULL};
    vssm_scan1d_grads g = {dg[0], dg[1], dg[2], dg[3], dg[4], dg[5], dg[6]};
    vssm_op_scan1d_bwd(ctx, &a, ddy, &g);
    vssm_op_free(ctx, A);
}
static void test_scan1d(int B, int L, int D, int R, int N, int reverse, int gate) {
    op_covered[OP_scan1d_bwd] = 1;
    const int C2 = R + 2 * N, ldz = D + 3;
    bcase c = {.tol = 1e-5, .run = run_scan1d, .fwd = fwd_scan1d};
    snprintf(c.what, sizeof c.what, "scan1d_bwd B=%d L=%d D=%d R=%d N=%d%s%s", B, L, D, R, N, reverse ? " reverse" : "",
             gate ? " gated" : "");
    add_param(&c, "u", rand_vec((size_t)B * L * D, 1), (size_t)B * L * D, 1);
    add_param(&c, "xdbl", rand_vec((size_t)B * L * C2, 1), (size_t)B * L * C2, 1);
    add_param(&c, "z", rand_vec((size_t)B * L * ldz, 2), (size_t)B * L * ldz, gate);
    add_param(&c, "dt_w", rand_vec((size_t)R * D, 0.5f), (size_t)R * D, 1);
    float *dtb = rand_vec(D, 1);
    for (int i = 0; i < D; i++) dtb[i] -= 2.0f;
    dtb[0] = 25.0f;
    dtb[D - 1] = 5.0f; /* as test_ss2d's: between 0 and the softplus threshold */
    add_param(&c, "dt_b", dtb, D, 1);
    add_param(&c, "A_logs", rand_vec((size_t)N * D, 1), (size_t)N * D, 1);
    add_param(&c, "Ds", rand_vec(D, 1), D, 1);
    c.dy = rand_vec((size_t)B * L * D, 1), c.ny = (size_t)B * L * D;
    c.s[0] = B, c.s[1] = L, c.s[2] = D, c.s[3] = R, c.s[4] = N, c.s[5] = reverse, c.s[6] = gate, c.s[7] = ldz;
    check_case(&c);
}
static void cases_scan1d(void) {
    test_scan1d(2, 37, 19, 2, 16, 0, 1); /* d_state 16, a tail block, gated */
    test_scan1d(1, 70, 17, 3, 5, 1, 1);  /* the backward branch: two checkpoint chunks */
    test_scan1d(1, 9, 8, 1, 2, 0, 0);    /* no gate */
    test_scan1d(1, 1, 7, 1, 4, 1, 1);    /* a single token */
    test_scan1d_autograd("s1f", 0);
    test_scan1d_autograd("s1r", 1);
}

/* ================================================================ layernorm */

static double fwd_layernorm(const bcase *c, const double *const *p) {
    const int rows = c->s[0], C = c->s[1], act = c->s[2];
    double L = 0;
    for (int r = 0; r < rows; r++) {
        const double *x = p[0] + (size_t)r * C;
        double m = 0, v = 0;
        for (int k = 0; k < C; k++) m += x[k];
        m /= C;
        for (int k = 0; k < C; k++) v += (x[k] - m) * (x[k] - m);
        v /= C;
        for (int k = 0; k < C; k++)
            L += c->dy[(size_t)r * C + k] * act_d((x[k] - m) / sqrt(v + c->f[0]) * p[1][k] + p[2][k], act);
    }
    return L;
}
static void run_layernorm(const bcase *c, vssm_ctx *ctx, void *const *dv, void *const *dg, const void *ddy) {
    vssm_op_layernorm_bwd(ctx, dv[0], c->s[0], c->s[1], dv[1], dv[2], c->f[0], (vssm_act)c->s[2], ddy, dg[0], dg[1],
                          dg[2]);
}
static void test_layernorm(int rows, int C, vssm_act act, float offset) {
    op_covered[OP_layernorm_bwd] = 1;
    bcase c = {.tol = 1e-5, .run = run_layernorm, .fwd = fwd_layernorm};
    snprintf(c.what, sizeof c.what, "layernorm_bwd rows=%d C=%d act=%d offset=%g", rows, C, act, offset);
    float *x = rand_vec((size_t)rows * C, 3);
    for (size_t i = 0; i < (size_t)rows * C; i++) x[i] += offset;
    add_param(&c, "x", x, (size_t)rows * C, 1);
    add_param(&c, "gamma", rand_vec(C, 1), C, 1);
    add_param(&c, "beta", rand_vec(C, 1), C, 1);
    c.dy = rand_vec((size_t)rows * C, 1), c.ny = (size_t)rows * C;
    c.s[0] = rows, c.s[1] = C, c.s[2] = act, c.f[0] = 1e-5f;
    if (offset != 0) c.tol = 1e-4; /* x ~ 1000 +- 3: the float input's own precision */
    check_case(&c);
}
static void cases_layernorm(void) {
    test_layernorm(13, 7, VSSM_ACT_NONE, 0);
    test_layernorm(9, 96, VSSM_ACT_GELU, 0);
    test_layernorm(150, 5, VSSM_ACT_GELU, 0); /* three row blocks, the last partial */
    test_layernorm(5, 48, VSSM_ACT_NONE, 100.0f);
}

/* ================================================================ rmsnorm */

static double fwd_rmsnorm(const bcase *c, const double *const *p) {
    const int rows = c->s[0], C = c->s[1];
    double L = 0;
    for (int r = 0; r < rows; r++) {
        const double *x = p[0] + (size_t)r * C;
        double s = 0;
        for (int k = 0; k < C; k++) s += x[k] * x[k];
        const double inv = 1 / sqrt(s / C + c->f[0]);
        for (int k = 0; k < C; k++) L += c->dy[(size_t)r * C + k] * x[k] * inv * p[1][k];
    }
    return L;
}
static void run_rmsnorm(const bcase *c, vssm_ctx *ctx, void *const *dv, void *const *dg, const void *ddy) {
    vssm_op_rmsnorm_bwd(ctx, dv[0], c->s[0], c->s[1], dv[1], c->f[0], ddy, dg[0], dg[1]);
}
static void test_rmsnorm(int rows, int C, int wx) {
    op_covered[OP_rmsnorm_bwd] = 1;
    bcase c = {.tol = 1e-5, .run = run_rmsnorm, .fwd = fwd_rmsnorm};
    snprintf(c.what, sizeof c.what, "rmsnorm_bwd rows=%d C=%d%s", rows, C, wx ? "" : " no dx");
    add_param(&c, "x", rand_vec((size_t)rows * C, 3), (size_t)rows * C, wx);
    add_param(&c, "w", rand_vec(C, 1), C, 1);
    c.dy = rand_vec((size_t)rows * C, 1), c.ny = (size_t)rows * C;
    c.s[0] = rows, c.s[1] = C, c.f[0] = 1e-5f;
    check_case(&c);
}
static void cases_rmsnorm(void) {
    test_rmsnorm(13, 7, 1);
    test_rmsnorm(70, 33, 1);
    test_rmsnorm(5, 192, 0);
}

/* ================================================================ avgpool */

static double fwd_avgpool(const bcase *c, const double *const *p) {
    const int B = c->s[0], L = c->s[1], C = c->s[2];
    double s = 0;
    for (int b = 0; b < B; b++)
        for (int l = 0; l < L; l++)
            for (int k = 0; k < C; k++) s += c->dy[(size_t)b * C + k] * p[0][((size_t)b * L + l) * C + k] / L;
    return s;
}
static void run_avgpool(const bcase *c, vssm_ctx *ctx, void *const *dv, void *const *dg, const void *ddy) {
    vssm_op_avgpool_bwd(ctx, c->s[0], c->s[1], c->s[2], ddy, dg[0]);
}
static void cases_avgpool(void) {
    op_covered[OP_avgpool_bwd] = 1;
    const int B = 3, L = 13, C = 21;
    bcase c = {.tol = 1e-6, .run = run_avgpool, .fwd = fwd_avgpool};
    snprintf(c.what, sizeof c.what, "avgpool_bwd B=%d L=%d C=%d", B, L, C);
    add_param(&c, "x", rand_vec((size_t)B * L * C, 1), (size_t)B * L * C, 1);
    c.dy = rand_vec((size_t)B * C, 1), c.ny = (size_t)B * C;
    c.s[0] = B, c.s[1] = L, c.s[2] = C;
    check_case(&c);
}

/* ================================================================ softmax cross-entropy */

/* PyTorch's CrossEntropyLoss(label_smoothing=s), mean over the batch */
static double fwd_xent(const bcase *c, const double *const *p) {
    const int B = c->s[0], n = c->s[1];
    const double s = c->f[0];
    double tot = 0;
    for (int b = 0; b < B; b++) {
        const double *z = p[0] + (size_t)b * n;
        double se = 0;
        for (int j = 0; j < n; j++) se += exp(z[j]);
        const double lse = log(se);
        double sm = 0;
        for (int j = 0; j < n; j++) sm -= z[j] - lse;
        tot += (1 - s) * -(z[c->labels[b]] - lse) + s * sm / n;
    }
    return tot / B;
}
static float xent_loss[NT];
static int xent_run;
static void run_xent(const bcase *c, vssm_ctx *ctx, void *const *dv, void *const *dg, const void *ddy) {
    void *dl = dev_from(ctx, c->labels, (size_t)c->s[0] * sizeof(int32_t)), *loss = vssm_op_alloc(ctx, sizeof(float));
    vssm_op_softmax_xent(ctx, dv[0], c->s[0], c->s[1], dl, c->f[0], loss, dg[0]);
    vssm_op_download(ctx, &xent_loss[xent_run++ % NT], loss, sizeof(float));
    vssm_op_free(ctx, dl);
    vssm_op_free(ctx, loss);
}
static void test_xent(int B, int ncls, float smoothing, float scale) {
    op_covered[OP_softmax_xent] = 1;
    bcase c = {.tol = 1e-6, .run = run_xent, .fwd = fwd_xent};
    snprintf(c.what, sizeof c.what, "softmax_xent B=%d classes=%d smoothing=%g scale=%g", B, ncls, smoothing, scale);
    add_param(&c, "logits", rand_vec((size_t)B * ncls, scale), (size_t)B * ncls, 1);
    c.labels = malloc((size_t)B * sizeof(int32_t));
    for (int b = 0; b < B; b++) c.labels[b] = (int32_t)((frand() + 1) * 0.5f * ncls) % ncls;
    c.dy = rand_vec(1, 1), c.ny = 1; /* unused: the loss starts the backward */
    c.s[0] = B, c.s[1] = ncls, c.f[0] = smoothing;
    double *p0 = malloc((size_t)B * ncls * sizeof(double));
    for (int i = 0; i < B * ncls; i++) p0[i] = c.val[0][i];
    const double *pp[1] = {p0};
    const double ref = fwd_xent(&c, pp);
    free(p0);
    xent_run = 0;
    char what[128];
    memcpy(what, c.what, sizeof what);
    check_case(&c);
    TEST_CHECK(fabs(xent_loss[0] - ref) <= 1e-6 * fmax(1, fabs(ref)), "%s: loss %.9g, reference %.9g", what,
               xent_loss[0], ref);
    TEST_CHECK(xent_loss[1] == xent_loss[0] && xent_loss[2] == xent_loss[0], "%s: the loss depends on the threads",
               what);
}
static void cases_xent(void) {
    test_xent(7, 10, 0.1f, 3);
    test_xent(3, 1000, 0.0f, 5);
    test_xent(64, 3, 1.0f, 1);
    test_xent(2, 5, 0.3f, 60); /* logits far from 0: the max shift */
    /* a label outside [0, ncls) is bad input from a dataset: reported by name, not a crash */
    vssm_ctx *ctx = ctxs[0];
    float z[4] = {0};
    int32_t lab[2] = {1, 4};
    void *dz = dev_from(ctx, z, sizeof z), *dl = dev_from(ctx, lab, sizeof lab), *loss = vssm_op_alloc(ctx, 4);
    vssm_op_softmax_xent(ctx, dz, 2, 2, dl, 0, loss, NULL);
    vssm_err err = {0};
    TEST_CHECK(vssm_op_status(ctx, "test", &err) == VSSM_ERR_INVALID_ARG && strstr(err.msg, "label 4 of sample 1"),
               "a bad label is reported: %s", err.msg);
    vssm_op_free(ctx, dz);
    vssm_op_free(ctx, dl);
    vssm_op_free(ctx, loss);
}

/* ================================================================ the v0 ops */

/* dwconv3x3_bias: x (B*H*W, ldx) read in its first C columns, w (9, C), bias (C) */
static double fwd_dwconv_bias(const bcase *c, const double *const *p) {
    const int B = c->s[0], H = c->s[1], W = c->s[2], C = c->s[3], act = c->s[4], ldx = c->s[5];
    double L = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int q = 0; q < W; q++)
                for (int k = 0; k < C; k++) {
                    double s = p[2][k];
                    for (int kh = 0; kh < 3; kh++)
                        for (int kw = 0; kw < 3; kw++) {
                            const int ih = h - 1 + kh, iw = q - 1 + kw;
                            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                            s += p[0][(((size_t)b * H + ih) * W + iw) * ldx + k] * p[1][(kh * 3 + kw) * C + k];
                        }
                    L += c->dy[(((size_t)b * H + h) * W + q) * C + k] * act_d(s, act);
                }
    return L;
}
static void run_dwconv_bias(const bcase *c, vssm_ctx *ctx, void *const *dv, void *const *dg, const void *ddy) {
    vssm_op_dwconv3x3_bias_bwd(ctx, dv[0], c->s[5], c->s[0], c->s[1], c->s[2], c->s[3], dv[1], dv[2], (vssm_act)c->s[4],
                               ddy, dg[0], dg[1], dg[2]);
}
/* the columns of x past C are read by no output: their gradient (fd 0) must stay as it started */
static void test_dwconv_bias(int B, int H, int W, int C, int ldx, vssm_act act) {
    op_covered[OP_dwconv3x3_bias_bwd] = 1;
    bcase c = {.tol = 1e-5, .run = run_dwconv_bias, .fwd = fwd_dwconv_bias};
    snprintf(c.what, sizeof c.what, "dwconv3x3_bias_bwd B=%d %dx%d C=%d ldx=%d act=%d", B, H, W, C, ldx, act);
    const size_t nx = (size_t)B * H * W * ldx, n = (size_t)B * H * W * C;
    add_param(&c, "x", rand_vec(nx, 1), nx, 1);
    add_param(&c, "w", rand_vec((size_t)9 * C, 0.5f), (size_t)9 * C, 1);
    add_param(&c, "bias", rand_vec(C, 0.5f), C, 1);
    c.dy = rand_vec(n, 1), c.ny = n;
    c.s[0] = B, c.s[1] = H, c.s[2] = W, c.s[3] = C, c.s[4] = act, c.s[5] = ldx;
    check_case(&c);
}
static void cases_dwconv3x3_bias(void) {
    test_dwconv_bias(2, 5, 7, 19, 38, VSSM_ACT_SILU); /* v0's in_proj output: x half of (M, 2 Di) */
    test_dwconv_bias(1, 1, 1, 33, 33, VSSM_ACT_NONE);
    test_dwconv_bias(1, 6, 3, 40, 41, VSSM_ACT_GELU);
    test_dwconv_bias(1, 66, 2, 3, 6, VSSM_ACT_SILU); /* B H = 66 image rows: two blocks of the bias sum */
}

/* mul_silu: x (rows, C) is y before the gate, z (rows, ldz) read in its first C columns */
static double fwd_mul_silu(const bcase *c, const double *const *p) {
    const int rows = c->s[0], C = c->s[1], ldz = c->s[2];
    double L = 0;
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < C; k++)
            L += c->dy[(size_t)r * C + k] * p[0][(size_t)r * C + k] * silu_d(p[1][(size_t)r * ldz + k]);
    return L;
}
static void run_mul_silu(const bcase *c, vssm_ctx *ctx, void *const *dv, void *const *dg, const void *ddy) {
    vssm_op_mul_silu_bwd(ctx, dv[0], c->s[0], c->s[1], dv[1], c->s[2], ddy, dg[0], dg[1]);
}
static void test_mul_silu(int rows, int C, int ldz, int wx) {
    op_covered[OP_mul_silu_bwd] = 1;
    bcase c = {.tol = 1e-5, .run = run_mul_silu, .fwd = fwd_mul_silu};
    snprintf(c.what, sizeof c.what, "mul_silu_bwd rows=%d C=%d ldz=%d%s", rows, C, ldz, wx ? "" : " no dx");
    add_param(&c, "x", rand_vec((size_t)rows * C, 1), (size_t)rows * C, wx);
    add_param(&c, "z", rand_vec((size_t)rows * ldz, 4), (size_t)rows * ldz, 1);
    c.dy = rand_vec((size_t)rows * C, 1), c.ny = (size_t)rows * C;
    c.s[0] = rows, c.s[1] = C, c.s[2] = ldz;
    check_case(&c);
}
static void cases_mul_silu(void) {
    test_mul_silu(37, 19, 38, 1);
    test_mul_silu(5, 33, 33, 1);
    test_mul_silu(3, 7, 9, 0);
}

/* patch_merge: y (B, Ho, Wo, 4C), the cell's pixels (0,0), (1,0), (0,1), (1,1) */
static double fwd_patch_merge(const bcase *c, const double *const *p) {
    const int B = c->s[0], H = c->s[1], W = c->s[2], C = c->s[3], Ho = (H + 1) / 2, Wo = (W + 1) / 2;
    static const int oy[4] = {0, 1, 0, 1}, ox[4] = {0, 0, 1, 1};
    double L = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < Ho; i++)
            for (int j = 0; j < Wo; j++)
                for (int q = 0; q < 4; q++) {
                    const int ih = 2 * i + oy[q], iw = 2 * j + ox[q];
                    if (ih >= H || iw >= W) continue;
                    for (int k = 0; k < C; k++)
                        L += c->dy[((((size_t)b * Ho + i) * Wo + j) * 4 + q) * C + k] *
                             p[0][(((size_t)b * H + ih) * W + iw) * C + k];
                }
    return L;
}
static void run_patch_merge(const bcase *c, vssm_ctx *ctx, void *const *dv, void *const *dg, const void *ddy) {
    vssm_op_patch_merge_bwd(ctx, c->s[0], c->s[1], c->s[2], c->s[3], ddy, dg[0]);
}
static void test_patch_merge(int B, int H, int W, int C) {
    op_covered[OP_patch_merge_bwd] = 1;
    bcase c = {.tol = 1e-6, .run = run_patch_merge, .fwd = fwd_patch_merge};
    snprintf(c.what, sizeof c.what, "patch_merge_bwd B=%d %dx%d C=%d", B, H, W, C);
    const size_t nx = (size_t)B * H * W * C, ny = (size_t)B * ((H + 1) / 2) * ((W + 1) / 2) * 4 * C;
    add_param(&c, "x", rand_vec(nx, 1), nx, 1);
    c.dy = rand_vec(ny, 1), c.ny = ny;
    c.s[0] = B, c.s[1] = H, c.s[2] = W, c.s[3] = C;
    check_case(&c);
}
static void cases_patch_merge(void) {
    test_patch_merge(2, 5, 7, 3); /* odd edges: the zero pad */
    test_patch_merge(1, 6, 4, 17);
    test_patch_merge(1, 1, 1, 5);
}

/* ================================================================ the table */

static const struct {
    const char *op;
    void (*run)(void);
} cases[] = {
    {"linear_bwd", cases_linear},       {"conv3x3s2_bwd", cases_conv3x3s2},
    {"dwconv3x3_bwd", cases_dwconv3x3}, {"conv1d_bwd", cases_conv1d},
    {"patchify_bwd", cases_patchify},   {"ss2d_scan_bwd", cases_ss2d_scan},
    {"scan1d_bwd", cases_scan1d},       {"layernorm_bwd", cases_layernorm},
    {"avgpool_bwd", cases_avgpool},     {"rmsnorm_bwd", cases_rmsnorm},
    {"softmax_xent", cases_xent},       {"dwconv3x3_bias_bwd", cases_dwconv3x3_bias},
    {"mul_silu_bwd", cases_mul_silu},   {"patch_merge_bwd", cases_patch_merge},
};

/* forward ops without a backward op: rows_add's is a column sum and a row copy, done by its
 * trainer; layernorm_gate is inference's fusion of layernorm and mul_silu, which the trainer
 * runs apart (it keeps the norm's output) and differentiates with their backward ops */
static const char *const pending[] = {"rows_add", "layernorm_gate"};

static int has_backward(const char *fwd) {
    char want[64];
    snprintf(want, sizeof want, "%s_bwd", fwd);
#define IS_(name, kind, params, args, check) \
    if (!strcmp(want, #name)) return 1;
    VSSM_BACKWARD_OPS(IS_)
#undef IS_
    for (size_t i = 0; i < sizeof pending / sizeof *pending; i++)
        if (!strcmp(fwd, pending[i])) return 1;
    return 0;
}

static void check_table(void) {
#define COVERED_(name, kind, params, args, check) TEST_CHECK(op_covered[OP_##name], "op '%s' has no case", #name);
    VSSM_BACKWARD_OPS(COVERED_)
#undef COVERED_
#define HAS_BWD_(name, kind, params, args, check) \
    TEST_CHECK(has_backward(#name), "forward op '%s' has no %s_bwd (nor a pending entry)", #name, #name);
    VSSM_COMPUTE_OPS(HAS_BWD_)
#undef HAS_BWD_
    vssm_ctx *ctx = ctxs[0];
    vssm_err err = {0};
    TEST_CHECK(vssm_op_training_supported(ctx, &err) == VSSM_OK, "the CPU trains: %s", err.msg);
    vssm_ops t = *vssm_ops_of(ctx);
    t.rmsnorm_bwd = NULL;
    const char *miss = vssm_ops_missing_backward(&t);
    TEST_CHECK(miss && !strcmp(miss, "rmsnorm_bwd"), "an empty backward slot is named (got %s)", miss ? miss : "none");
    TEST_CHECK(vssm_ops_missing(&t) == NULL, "a context needs no backward ops");
}

int main(int argc, char **argv) {
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr, "usage: test_ops_bwd [-o OP]\n");
            return 2;
        }
    }
    if (only) {
        int known = 0;
#define KNOWN_(name, kind, params, args, check) known |= !strcmp(only, #name);
        VSSM_BACKWARD_OPS(KNOWN_)
#undef KNOWN_
        if (!known) {
            fprintf(stderr, "test_ops_bwd: no op '%s' in VSSM_BACKWARD_OPS\n", only);
            return 2;
        }
    }
    for (int t = 0; t < NT; t++) {
        vssm_ctx_opts o = vssm_ctx_default_opts();
        o.n_threads = t + 1;
        vssm_err err = {0};
        TEST_REQUIRE(vssm_ctx_new(&ctxs[t], &o, &err) == VSSM_OK, "context: %s", err.msg);
    }
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        if (!only || !strcmp(only, cases[c].op)) cases[c].run();
    if (!only) check_table();
    for (int t = 0; t < NT; t++) vssm_ctx_free(ctxs[t]);
    vssm_weights_close(wf);
    return test_finish("test_ops_bwd");
}
