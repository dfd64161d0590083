/* tests/test_chunked_scan.c - the CUDA backend's chunked scan decomposition, run on the
 * host, equals the CPU op.
 *
 * kernels/cuda/scan_chunked.cuh is the code the GPU kernels run (pass 1: chunk-local
 * end states and delta sums; pass 2: prefix over chunks; pass 3: rerun each chunk from
 * its incoming state, directions merged in pairs). Compiled here as plain C, it is
 * driven exactly like the kernels drive it (same passes, same launch order, same chunk
 * layout) and compared with vssm_op_ss2d_scan on a CPU context, for chunk lengths
 * 1, 7, 32 and L on sizes where L is not a multiple of the chunk, odd H and W,
 * d_state > 1 (16 as VMamba v0), batch > 1. Also: the result does not depend on the chunk length beyond
 * rounding, and the chunk bookkeeping covers every token exactly once per direction.
 * Needs no GPU: this keeps the GPU algorithm covered in CI. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/cuda/scan_chunked.cuh"
#include "testutil.h"

#define TOL 1e-5

static uint64_t rng = 0x9E3779B97F4A7C15ull;
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

/* The kernels' launch sequence (scan.cu: launch<NS>) on the host. xdbl is the x_proj
 * GEMM (done here naively in float). */
static void chunked_scan(const vssm_scan_args *in, int T, float *y) {
    const int B = in->B, D = in->D, R = in->R, N = in->N, KC2 = SC_K * (R + 2 * N);
    const int64_t L = (int64_t)in->H * in->W;
    float *xdbl = malloc((size_t)B * L * KC2 * sizeof(float));
    for (int64_t t = 0; t < B * L; t++)
        for (int j = 0; j < KC2; j++) {
            float s = 0;
            for (int c = 0; c < D; c++) s += in->u[t * D + c] * in->x_proj[(size_t)j * D + c];
            xdbl[t * KC2 + j] = s;
        }
    sc_args a;
    memset(&a, 0, sizeof a);
    a.B = B;
    a.H = in->H;
    a.W = in->W;
    a.D = D;
    a.R = R;
    a.N = N;
    a.L = L;
    a.T = T;
    a.nc = sc_chunks(L, T);
    a.u = in->u;
    a.xdbl = xdbl;
    a.dt_w = in->dt_w;
    a.dt_b = in->dt_b;
    a.A = in->A;
    a.Ds = in->Ds;
    a.y = y;
    a.hc = malloc((size_t)B * SC_K * a.nc * N * D * sizeof(float));
    a.sd = malloc((size_t)B * SC_K * a.nc * D * sizeof(float));
    const int carry = a.nc > 1, NS = SC_NMAX;
    if (carry) {
        for (int b = 0; b < B; b++)
            for (int k = 0; k < SC_K; k++)
                for (int j = 0; j < a.nc; j++)
                    for (int c = 0; c < D; c++) sc_pass1(&a, NS, b, k, c, j);
        for (int b = 0; b < B; b++)
            for (int k = 0; k < SC_K; k++)
                for (int n = 0; n < N; n++)
                    for (int c = 0; c < D; c++) sc_pass2(&a, b, k, n, c);
    }
    for (int pair = 0; pair < 2; pair++) /* two launches: pair 1 only after pair 0 */
        for (int b = 0; b < B; b++)
            for (int j = a.nc - 1; j >= 0; j--) /* any order within a launch */
                for (int c = 0; c < D; c++) sc_pass3(&a, NS, b, pair, c, j, carry);
    free(xdbl);
    free(a.hc);
    free(a.sd);
}

/* every token is visited exactly once per direction, in the direction's order */
static void check_walk(int H, int W, int T) {
    const int64_t L = (int64_t)H * W;
    sc_args a;
    memset(&a, 0, sizeof a);
    a.H = H;
    a.W = W;
    a.L = L;
    a.T = T;
    a.nc = sc_chunks(L, T);
    int64_t *seen = malloc((size_t)L * sizeof(int64_t));
    for (int k = 0; k < SC_K; k++) {
        int64_t step = 0, bad = 0;
        for (int s = 0; s < a.nc; s++) {
            const int j = k < 2 ? s : a.nc - 1 - s; /* pass 2's chunk order */
            sc_walk it;
            const int n = sc_chunk_begin(&a, k, j, &it);
            for (int i = 0; i < n; i++) seen[step++] = sc_walk_next(&it);
        }
        for (int64_t t = 0; t < L && step == L; t++) { /* the official cross-scan order */
            const int64_t q = k >= 2 ? L - 1 - t : t;
            const int64_t p = k & 1 ? (q % H) * W + q / H : q;
            bad += seen[t] != p;
        }
        TEST_CHECK(step == L && bad == 0, "walk %dx%d T=%d k=%d: %lld steps of %lld, %lld out of order", H, W, T, k,
                   (long long)step, (long long)L, (long long)bad);
    }
    free(seen);
}

static void check(vssm_ctx *cpu, int B, int H, int W, int D, int R, int N) {
    const int K = SC_K, C2 = R + 2 * N;
    const int64_t L = (int64_t)H * W;
    const size_t nu = (size_t)B * L * D;
    float *u = rand_vec(nu, 1), *xp = rand_vec((size_t)K * C2 * D, 0.5f), *dtw = rand_vec((size_t)K * R * D, 0.5f);
    float *dtb = rand_vec((size_t)K * D, 2), *A = rand_vec((size_t)K * N * D, 1), *Ds = rand_vec((size_t)K * D, 1);
    for (int i = 0; i < K * D; i++) dtb[i] -= 3.0f;                    /* softplus ~ 0.05, as trained models */
    for (size_t i = 0; i < (size_t)K * N * D; i++) A[i] = -expf(A[i]); /* A = -exp(A_logs) */
    if (D > 1) dtb[1] = 25.0f;                                         /* above the softplus threshold */
    vssm_scan_args a = {B, H, W, D, R, N, u, xp, dtw, dtb, A, Ds, NULL, NULL};

    /* the CPU op takes x_proj laid out by its backend; the decomposition below the plain one */
    float *xpp = malloc(vssm_op_linear_pack_numel(cpu, K * C2, D) * sizeof(float));
    vssm_op_linear_pack(cpu, xp, K * C2, D, xpp);
    float *ref = malloc(nu * sizeof(float));
    void *ws = malloc(vssm_op_scan_workspace(cpu, B, H, W, D, R, N));
    a.y = ref;
    a.x_proj = xpp;
    vssm_op_ss2d_scan(cpu, &a, ws);
    a.x_proj = xp;
    free(ws);
    free(xpp);

    const int Ts[] = {1, 7, 32, (int)L, SC_TMIN, (int)((L + 2) / 3)};
    float *y = malloc(nu * sizeof(float)), *y_first = malloc(nu * sizeof(float));
    for (size_t t = 0; t < sizeof Ts / sizeof Ts[0]; t++) {
        const int T = Ts[t] < 1 ? 1 : Ts[t];
        for (size_t i = 0; i < nu; i++) y[i] = NAN; /* pass 3 must write every element */
        chunked_scan(&a, T, y);
        double e = test_rel_err(y, ref, nu);
        TEST_CHECK(e <= TOL, "chunked scan B=%d %dx%d D=%d R=%d N=%d T=%d (nc=%d): rel err %.3g > %.0e vs the CPU op",
                   B, H, W, D, R, N, T, sc_chunks(L, T), e, TOL);
        if (t == 0)
            memcpy(y_first, y, nu * sizeof(float));
        else {
            double ec = test_rel_err(y, y_first, nu);
            TEST_CHECK(ec <= TOL, "chunked scan %dx%d: T=%d differs from T=1 by %.3g", H, W, T, ec);
        }
        check_walk(H, W, T);
    }
    /* the same chunk length twice: bit-identical (no order dependence in the merge) */
    chunked_scan(&a, 7, y);
    chunked_scan(&a, 7, y_first);
    TEST_CHECK(!memcmp(y, y_first, nu * sizeof(float)), "chunked scan %dx%d T=7: two runs differ", H, W);
    free(u);
    free(xp);
    free(dtw);
    free(dtb);
    free(A);
    free(Ds);
    free(ref);
    free(y);
    free(y_first);
}

int main(void) {
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = 2;
    vssm_ctx *cpu = NULL;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_ctx_new(&cpu, &o, &err) == VSSM_OK, "cpu ctx: %s", err.msg);
    check(cpu, 1, 5, 7, 16, 1, 1);    /* L = 35: no chunk length divides it */
    check(cpu, 2, 7, 5, 19, 2, 1);    /* batch 2, channels not a multiple of 16 */
    check(cpu, 1, 9, 11, 37, 3, 2);   /* L = 99, d_state 2 */
    check(cpu, 1, 1, 1, 5, 1, 4);     /* a single token */
    check(cpu, 1, 3, 40, 8, 2, 3);    /* wide, short: L = 120 */
    check(cpu, 1, 13, 1, 6, 1, 1);    /* a column: W = 1 */
    check(cpu, 2, 14, 14, 24, 2, 1);  /* L = 196, a stage-3-like grid at 224/16 */
    check(cpu, 2, 9, 11, 37, 3, 16);  /* d_state 16 (VMamba v0), batch 2, L = 99 */
    check(cpu, 1, 14, 14, 20, 2, 16); /* d_state 16 on a stage-3-like grid */
    vssm_ctx_free(cpu);
    return test_finish("test_chunked_scan");
}
