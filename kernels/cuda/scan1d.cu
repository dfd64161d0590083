/* kernels/cuda/scan1d.cu - the Vision Mamba (Vim) ops on CUDA: the gated 1D selective
 * scan, the causal depthwise conv1d (+ SiLU), RMSNorm, patch extraction and the
 * class-token insert + position add. Each is checked against its CPU twin
 * (kernels/cpu/scan1d.c, conv1d.c) by `test_ops cuda` and `test_vim_parity cuda`.
 *
 * Scan layout: a group of 16 lanes (half a warp) owns one (batch, channel); lane j holds
 * the states n = j, j+16, j+32, j+48 in registers, so d_state 16 is one state per lane.
 * Per token: the dt dot product (R terms) and the C.h sum are split over the 16 lanes and
 * reduced with shuffles inside the half-warp; the walk over L is sequential (forward or
 * reverse), B*D*16 threads in flight. */
#include "kernels/cuda/cuda_internal.cuh"

#define S1D_LANES 16
#define S1D_PER_LANE (VSSM_SCAN_MAX_STATE / S1D_LANES)
#define S1D_BLOCK 128
#define S1D_G 4 /* steps whose loads all issue before the group's stores */
#define EW_BLOCK 256

static unsigned ew_grid(int64_t n) {
    unsigned g = cuda_blocks(n, EW_BLOCK);
    return g > (1u << 20) ? (1u << 20) : g;
}

__device__ __forceinline__ float d_silu(float x) { return x / (1.0f + expf(-x)); }
__device__ __forceinline__ float d_softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }
__device__ __forceinline__ float d_act(float x, int act) {
    if (act == VSSM_ACT_SILU) return d_silu(x);
    if (act == VSSM_ACT_GELU) return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    return x;
}
__device__ __forceinline__ float half_warp_sum(float v) {
    for (int o = S1D_LANES / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* ======================================================================= scan */

static __global__ void k_scan1d(vssm_scan1d_args a) {
    const int64_t gid = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / S1D_LANES;
    const int lane = threadIdx.x % S1D_LANES;
    const int D = a.D, R = a.R, N = a.N, C2 = R + 2 * N;
    /* the whole warp stays alive through the shuffles; groups past the end compute on clamped indices */
    const int valid = gid < (int64_t)a.B * D;
    const int64_t g = valid ? gid : 0;
    const int b = (int)(g / D), c = (int)(g % D);
    const int64_t L = a.L;
    float h[S1D_PER_LANE], A[S1D_PER_LANE];
#pragma unroll
    for (int i = 0; i < S1D_PER_LANE; i++) {
        const int n = lane + i * S1D_LANES;
        h[i] = 0.0f;
        A[i] = n < N ? a.A[(size_t)n * D + c] : 0.0f;
    }
    const float bias = a.dt_b[c], dsk = a.Ds[c];
    const float *xd0 = a.xdbl + (size_t)b * L * C2;
    const float *u = a.u + (size_t)b * L * D + c;
    float *y = a.y + (size_t)b * L * D + c;
    /* S1D_G steps at a time: all of the group's loads (delta's dot product, u, z, B and C,
     * the y being added to) before any of its stores, since a load after a store to y
     * cannot be moved above it (the pointers may alias) and each step then waited out a
     * cache miss (H200: Vim-T batch 1, the scan was 80% of the forward). Same arithmetic. */
    for (int64_t s0 = 0; s0 < L; s0 += S1D_G) {
        const int m = L - s0 < S1D_G ? (int)(L - s0) : S1D_G;
        int64_t tt[S1D_G];
        float dl[S1D_G], uv[S1D_G], zv[S1D_G], yo[S1D_G], bv[S1D_G][S1D_PER_LANE], cv[S1D_G][S1D_PER_LANE];
#pragma unroll
        for (int q = 0; q < S1D_G; q++)
            if (q < m) { /* m is the same for the whole warp: the shuffles stay converged */
                const int64_t t = a.reverse ? L - 1 - (s0 + q) : s0 + q;
                tt[q] = t;
                const float *xd = xd0 + t * C2;
                float part = 0.0f;
                for (int r = lane; r < R; r += S1D_LANES) part += xd[r] * a.dt_w[(size_t)r * D + c];
                dl[q] = d_softplus(half_warp_sum(part) + bias);
                uv[q] = u[t * D];
                zv[q] = a.z ? a.z[((size_t)b * L + t) * a.ldz + c] : 0.0f;
                yo[q] = a.accumulate && lane == 0 && valid ? y[t * D] : 0.0f;
#pragma unroll
                for (int i = 0; i < S1D_PER_LANE; i++) {
                    const int n = lane + i * S1D_LANES;
                    bv[q][i] = n < N ? xd[R + n] : 0.0f;
                    cv[q][i] = n < N ? xd[R + N + n] : 0.0f;
                }
            }
#pragma unroll
        for (int q = 0; q < S1D_G; q++)
            if (q < m) {
                const float delta = dl[q], uu = uv[q];
                float acc = 0.0f;
#pragma unroll
                for (int i = 0; i < S1D_PER_LANE; i++) {
                    const int n = lane + i * S1D_LANES;
                    if (n < N) {
                        h[i] = expf(delta * A[i]) * h[i] + delta * bv[q][i] * uu;
                        acc += cv[q][i] * h[i];
                    }
                }
                acc = half_warp_sum(acc);
                if (lane == 0 && valid) {
                    float o = acc + dsk * uu;
                    if (a.z) o *= d_silu(zv[q]);
                    y[tt[q] * D] = a.accumulate ? yo[q] + o : o;
                }
            }
    }
}

void vssm_cuda_scan1d(vssm_ctx *ctx, const vssm_scan1d_args *a) {
    cuda_state *s = cuda_st(ctx);
    CUDA_CHECK(s, cudaSetDevice(s->device));
    const int64_t threads = (int64_t)a->B * a->D * S1D_LANES;
    if (threads <= 0 || a->L <= 0) return;
    for (const vssm_scan1d_args *p = a; p; p = p->next) { /* the second adds to y after the first (stream order) */
        k_scan1d<<<cuda_blocks(threads, S1D_BLOCK), S1D_BLOCK, 0, s->stream>>>(*p);
        CUDA_CHECK_LAUNCH(s, "k_scan1d");
    }
}

/* ======================================================================= conv1d */

static __global__ void k_conv1d(const float *__restrict__ x, int64_t ldx, int B, int64_t L, int C,
                                const float *__restrict__ w, const float *__restrict__ bias, int K, int reverse,
                                int act, float *__restrict__ y) {
    const int64_t n = (int64_t)B * L * C;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int c = (int)(i % C);
        const int64_t bt = i / C, t = bt % L, b = bt / L;
        float acc = bias ? bias[c] : 0.0f;
        for (int k = 0; k < K; k++) {
            const int64_t src = reverse ? t + (K - 1) - k : t - (K - 1) + k;
            if (src >= 0 && src < L) acc += w[(size_t)k * C + c] * x[(b * L + src) * ldx + c];
        }
        y[i] = d_act(acc, act);
    }
}

void vssm_cuda_conv1d(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int64_t L, int C, const float *w,
                      const float *bias, int K, int reverse, vssm_act act, float *y) {
    cuda_state *s = cuda_st(ctx);
    CUDA_CHECK(s, cudaSetDevice(s->device));
    const int64_t n = (int64_t)B * L * C;
    if (n <= 0) return;
    k_conv1d<<<ew_grid(n), EW_BLOCK, 0, s->stream>>>(x, ldx, B, L, C, w, bias, K, reverse, (int)act, y);
    CUDA_CHECK_LAUNCH(s, "k_conv1d");
}

/* ======================================================================= rmsnorm */

#define RMS_WARPS 8
static __global__ void k_rmsnorm(const float *x, int64_t rows, int C, const float *__restrict__ w, float eps,
                                 float *y) {
    const int lane = threadIdx.x & 31;
    const int64_t row = (int64_t)blockIdx.x * RMS_WARPS + (threadIdx.x >> 5);
    if (row >= rows) return;
    const float *r = x + row * C;
    float *o = y + row * C;
    float s = 0.0f;
    for (int c = lane; c < C; c += 32) s += r[c] * r[c];
    for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
    const float inv = 1.0f / sqrtf(s / (float)C + eps);
    for (int c = lane; c < C; c += 32) o[c] = r[c] * inv * w[c];
}

void vssm_cuda_rmsnorm(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *w, float eps, float *y) {
    cuda_state *s = cuda_st(ctx);
    CUDA_CHECK(s, cudaSetDevice(s->device));
    if (rows <= 0 || C <= 0) return;
    k_rmsnorm<<<cuda_blocks(rows, RMS_WARPS), RMS_WARPS * 32, 0, s->stream>>>(x, rows, C, w, eps, y);
    CUDA_CHECK_LAUNCH(s, "k_rmsnorm");
}

/* ======================================================================= patchify, rows_add */

static __global__ void k_patchify(vssm_patch_args a, int gw, int64_t M) {
    const int P = a.P, PP = P * P;
    const int64_t KC = (int64_t)a.C * PP, n = (int64_t)a.B * M * KC;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t col = i % KC, bm = i / KC, m = bm % M, b = bm / M;
        const int c = (int)(col / PP), ky = (int)(col % PP) / P, kx = (int)(col % P);
        const int py = (int)(m / gw), px = (int)(m % gw);
        const int64_t row = a.row0 + m + (a.skip >= 0 && m >= a.skip);
        a.cols[((size_t)b * a.rows + row) * KC + col] =
            a.x[(((size_t)b * a.H + (size_t)py * a.S + ky) * a.W + (size_t)px * a.S + kx) * a.C + c];
    }
}

void vssm_cuda_patchify(vssm_ctx *ctx, const vssm_patch_args *a) {
    cuda_state *s = cuda_st(ctx);
    CUDA_CHECK(s, cudaSetDevice(s->device));
    if (a->H < a->P || a->W < a->P) return;
    const int gh = (a->H - a->P) / a->S + 1, gw = (a->W - a->P) / a->S + 1;
    const int64_t M = (int64_t)gh * gw, n = (int64_t)a->B * M * a->C * a->P * a->P;
    if (n <= 0) return;
    k_patchify<<<ew_grid(n), EW_BLOCK, 0, s->stream>>>(*a, gw, M);
    CUDA_CHECK_LAUNCH(s, "k_patchify");
}

static __global__ void k_rows_add(float *x, int B, int64_t L, int C, const float *__restrict__ add, int64_t row,
                                  const float *__restrict__ rowval) {
    const int64_t n = (int64_t)B * L * C;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t tc = i % (L * C), t = tc / C;
        const int c = (int)(tc % C);
        x[i] = (t == row ? rowval[c] : x[i]) + add[tc];
    }
}

void vssm_cuda_rows_add(vssm_ctx *ctx, float *x, int B, int64_t L, int C, const float *add, int64_t row,
                        const float *rowval) {
    cuda_state *s = cuda_st(ctx);
    CUDA_CHECK(s, cudaSetDevice(s->device));
    const int64_t n = (int64_t)B * L * C;
    if (n <= 0) return;
    k_rows_add<<<ew_grid(n), EW_BLOCK, 0, s->stream>>>(x, B, L, C, add, row, rowval);
    CUDA_CHECK_LAUNCH(s, "k_rows_add");
}
