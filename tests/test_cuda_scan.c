/* tests/test_cuda_scan.c - the CUDA ops at VMamba's real sizes equal the CPU ops, and
 * run to run the CUDA results are bit-identical (the scan merges its four directions
 * without atomics; cuDNN/cuBLAS are asked for FMA math).
 *
 * test_ops.c covers awkward small shapes against double references; this covers the
 * shapes where the CUDA code takes other paths: many chunks per sequence (L = 3136 at
 * batch 1), a single chunk (batch 64), long dt ranks, the cuDNN algorithm picked for
 * 224x224 inputs. Exits 77 without a GPU. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/ops.h"
#include "testutil.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float frand(void) {
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

static vssm_ctx *cpu, *gpu;

static void *up(vssm_ctx *c, const float *h, size_t n) {
    void *d = vssm_op_alloc(c, n * sizeof(float));
    TEST_REQUIRE(d, "alloc %zu floats on %s", n, vssm_ctx_describe(c));
    vssm_op_upload(c, d, h, n * sizeof(float));
    return d;
}
static float *down(vssm_ctx *c, const void *d, size_t n) {
    float *h = malloc(n * sizeof(float));
    TEST_CHECK(vssm_op_sync(c) == 0 && vssm_op_download(c, h, d, n * sizeof(float)) == 0, "device error on %s",
               vssm_ctx_describe(c));
    return h;
}

/* a linear-like weight (N, K) laid out for ctx c (vssm_op_linear_pack), on c's device */
static void *up_packed(vssm_ctx *c, const float *w, int N, int K) {
    const size_t n = vssm_op_linear_pack_numel(c, N, K);
    float *p = malloc(n * sizeof(float));
    TEST_REQUIRE(p, "out of memory");
    vssm_op_linear_pack(c, w, N, K, p);
    void *d = up(c, p, n);
    free(p);
    return d;
}

/* runs the scan on ctx c; returns y on the host */
static float *run_scan(vssm_ctx *c, const float *const *in, const size_t *len, int B, int H, int W, int D, int R,
                       int N) {
    void *d[6];
    for (int i = 0; i < 6; i++) d[i] = i == 1 ? up_packed(c, in[1], 4 * (R + 2 * N), D) : up(c, in[i], len[i]);
    const size_t ny = (size_t)B * H * W * D;
    void *y = vssm_op_alloc(c, ny * sizeof(float));
    void *ws = vssm_op_alloc(c, vssm_op_scan_workspace(c, B, H, W, D, R, N));
    vssm_scan_args a = {B, H, W, D, R, N, d[0], d[1], d[2], d[3], d[4], d[5], y, NULL};
    vssm_op_ss2d_scan(c, &a, ws);
    float *h = down(c, y, ny);
    for (int i = 0; i < 6; i++) vssm_op_free(c, d[i]);
    vssm_op_free(c, y);
    vssm_op_free(c, ws);
    return h;
}

static void test_scan(int B, int H, int W, int D, int R, int N) {
    const int K = 4, C2 = R + 2 * N;
    const size_t len[6] = {(size_t)B * H * W * D, (size_t)K * C2 * D, (size_t)K * R * D,
                           (size_t)K * D,         (size_t)K * N * D,  (size_t)K * D};
    float *in[6];
    const float scale[6] = {1, 0.5f, 0.5f, 1, 1, 1};
    for (int i = 0; i < 6; i++) in[i] = rand_vec(len[i], scale[i]);
    for (size_t i = 0; i < len[3]; i++) in[3][i] -= 4.0f;           /* dt bias */
    for (size_t i = 0; i < len[4]; i++) in[4][i] = -expf(in[4][i]); /* A */
    float *ref = run_scan(cpu, (const float *const *)in, len, B, H, W, D, R, N);
    float *g1 = run_scan(gpu, (const float *const *)in, len, B, H, W, D, R, N);
    float *g2 = run_scan(gpu, (const float *const *)in, len, B, H, W, D, R, N);
    const size_t ny = len[0];
    double e = test_rel_err(g1, ref, ny);
    TEST_CHECK(e <= 1e-5, "scan B=%d %dx%d D=%d R=%d N=%d: cuda vs cpu rel err %.3g > 1e-5", B, H, W, D, R, N, e);
    TEST_CHECK(!memcmp(g1, g2, ny * sizeof(float)), "scan B=%d %dx%d D=%d: two CUDA runs differ", B, H, W, D);
    printf("  scan B=%-3d %3dx%-3d D=%-4d R=%-2d N=%d  rel err %.2e\n", B, H, W, D, R, N, e);
    for (int i = 0; i < 6; i++) free(in[i]);
    free(ref);
    free(g1);
    free(g2);
}

static float *run_conv(vssm_ctx *c, const float *x, const float *w, const float *b, int B, int H, int W, int Ci,
                       int Co) {
    const size_t nx = (size_t)B * H * W * Ci, ny = (size_t)B * ((H + 1) / 2) * ((W + 1) / 2) * Co;
    void *dx = up(c, x, nx), *dw = up_packed(c, w, Co, 9 * Ci), *db = up(c, b, Co);
    void *dy = vssm_op_alloc(c, ny * sizeof(float));
    void *ws = vssm_op_alloc(c, vssm_op_conv3x3s2_workspace(c, B, H, W, Ci) + 1);
    vssm_op_conv3x3s2(c, dx, B, H, W, Ci, dw, db, Co, dy, ws);
    float *h = down(c, dy, ny);
    vssm_op_free(c, dx);
    vssm_op_free(c, dw);
    vssm_op_free(c, db);
    vssm_op_free(c, dy);
    vssm_op_free(c, ws);
    return h;
}

static void test_conv(int B, int H, int W, int Ci, int Co) {
    float *x = rand_vec((size_t)B * H * W * Ci, 1), *w = rand_vec((size_t)Co * 9 * Ci, 0.2f), *b = rand_vec(Co, 1);
    const size_t ny = (size_t)B * ((H + 1) / 2) * ((W + 1) / 2) * Co;
    float *ref = run_conv(cpu, x, w, b, B, H, W, Ci, Co), *g1 = run_conv(gpu, x, w, b, B, H, W, Ci, Co);
    float *g2 = run_conv(gpu, x, w, b, B, H, W, Ci, Co);
    double e = test_rel_err(g1, ref, ny);
    TEST_CHECK(e <= 1e-5, "conv B=%d %dx%d %d->%d: cuda vs cpu rel err %.3g > 1e-5", B, H, W, Ci, Co, e);
    TEST_CHECK(!memcmp(g1, g2, ny * sizeof(float)), "conv B=%d %dx%d %d->%d: two CUDA runs differ", B, H, W, Ci, Co);
    printf("  conv B=%-3d %3dx%-3d %d->%d  rel err %.2e\n", B, H, W, Ci, Co, e);
    free(x);
    free(w);
    free(b);
    free(ref);
    free(g1);
    free(g2);
}

int main(void) {
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.device = VSSM_DEVICE_CUDA;
    vssm_err err = {0};
    if (vssm_ctx_new(&gpu, &o, &err) != VSSM_OK) test_skip(err.msg);
    o = vssm_ctx_default_opts();
    TEST_REQUIRE(vssm_ctx_new(&cpu, &o, &err) == VSSM_OK, "cpu ctx: %s", err.msg);
    printf("  %s\n", vssm_ctx_describe(gpu));
    test_scan(1, 56, 56, 96, 6, 1);   /* VMamba-T stage 0 at 224: ~200 chunks of 16 */
    test_scan(2, 28, 28, 192, 12, 1); /* stage 1 */
    test_scan(1, 7, 7, 768, 48, 1);   /* stage 3: L = 49, long dt rank */
    test_scan(3, 14, 15, 96, 6, 4);   /* odd grid, d_state 4 */
    test_scan(64, 7, 7, 96, 6, 1);    /* large batch: one chunk, passes 1-2 skipped */
    test_scan(1, 9, 9, 40, 3, 20);    /* d_state above 16: the 64-state build */
    test_conv(2, 224, 224, 3, 48);    /* patch embed */
    test_conv(2, 112, 112, 48, 96);
    test_conv(4, 56, 56, 96, 192); /* downsample */
    test_conv(1, 15, 13, 384, 768);
    vssm_ctx_free(gpu);
    vssm_ctx_free(cpu);
    return test_finish("test_cuda_scan");
}
